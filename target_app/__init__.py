"""The bundled marketplace service: FastAPI on uvicorn, SQLAlchemy on SQLite or PostgreSQL.

It imports nothing else of the project and is configured only by environment variables
(``core/config.py``). Entry points: ``create_app`` (the uvicorn factory), ``python -m
target_app serve|seed``, `target_app.server.run` and `target_app.seed.seed_database`.
"""
