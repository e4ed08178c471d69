"""Loaded by Locust beside a user's own locustfile, in place of the bundled journeys.

``harness run --locustfile FILE`` starts ``python -m locust -f
FILE,harness/run/own_users_plugin.py,harness/run/locust_plugin.py``. This file adds no users;
it gives the user's classes what the journeys give ours:

- the profile's scenario as the load shape (``JOURNEYS_SCENARIO``, as for the journeys);
- every request recorded into the exact HDR histograms, merged across workers, with the
  completeness bookkeeping (``journeys.install`` with ``own_users``: no personas, accounts or
  write log);
- a class with a ``persona`` attribute weighted by that persona's share in the profile (a
  share of 0 leaves the class out, as Locust cannot weigh a class 0).

The ``--journeys-*`` options the harness passes are registered here, since the journeys'
locustfile that would register them is not loaded.
"""

from __future__ import annotations

import os
from typing import Any

from locust import events

from journeys import settings as _settings
from journeys.run import install
from journeys.shapes import shape_class_for
from models.profile import Profile

WEIGHT_RESOLUTION = 1000  # a share of 1 is weight 1000 (Locust weights are integers)


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _add_options(parser: Any, **_: Any) -> None:
    _settings.add_arguments(parser)


@events.init.add_listener  # type: ignore[untyped-decorator]
def _install(environment: Any, **_: Any) -> None:
    settings = _settings.from_options(environment.parsed_options)
    _weigh_personas(environment, settings.load_profile())
    install(environment, settings, own_users=True)


def _weigh_personas(environment: Any, profile: Profile) -> None:
    """Weights from the profile's shares for classes that name a persona."""
    shares = dict((name, persona.share) for name, persona in profile.personas.items())
    kept = []
    for user_class in environment.user_classes:
        persona = getattr(user_class, "persona", None)
        if persona in shares:
            user_class.weight = round(shares[persona] * WEIGHT_RESOLUTION)
            if user_class.weight == 0 and not user_class.fixed_count:
                continue
        kept.append(user_class)
    environment.user_classes[:] = kept


if _scenario := os.environ.get("JOURNEYS_SCENARIO"):
    ScenarioShape = shape_class_for(_scenario)
