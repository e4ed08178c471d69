"""The bundled marketplace service: FastAPI on uvicorn, SQLAlchemy on SQLite or PostgreSQL.

It imports nothing else of the project and is configured only by environment variables
(`Settings`, ``core/config.py``). Entry points: ``create_app`` (the uvicorn factory), ``python -m
target_app serve|seed``, `target_app.server.run` and `target_app.seed.seed_database`.

Its parts stand in layers, lowest first. A module imports from its own layer and the layers
below, never from one above, and no modules import each other in a circle
(``tests/target_app/test_layers.py`` reads the line below and checks every import)::

    models, schemas < core < resilience, seed < middleware, api < main, server, cli, __main__

* ``models``, ``schemas``: the data, every table and every request and response body;
* ``core``: settings, errors, the database and its schema, security, metrics, problem details;
* ``resilience``: rate limits, circuit breakers, fakes, outbox, idempotent writes; ``seed``:
  the deterministic seeder (a peer of resilience: neither uses the other);
* ``middleware``: the ASGI middleware; ``api``: the routes and their dependencies;
* ``main``: the app factory, which assembles the layers below; ``server``, ``cli`` and
  ``__main__``: how the service is run.
"""
