"""Persona journeys for Locust: ``locust -f journeys/locustfile.py --host URL``.

Works on its own, with Locust's web UI or headless, against the bundled service or any host
that speaks its API (seeded with the same account pattern)::

    locust -f journeys/locustfile.py --host http://127.0.0.1:8000             # web UI
    locust -f journeys/locustfile.py --host URL --headless -u 20 -r 5 -t 1m  # fixed users
    JOURNEYS_SCENARIO=smoke locust -f journeys/locustfile.py --host URL --headless  # a shape

Options beyond Locust's own (``--journeys-profile``, ``--journeys-seed-scale``,
``--journeys-write-log``, ...) and their ``JOURNEYS_*`` environment variables are listed in
:mod:`journeys.settings` and docs/journeys.md. ``JOURNEYS_SCENARIO`` is read when this file is
imported, because Locust looks for a shape class right then; without it, ``-u/-r/-t`` apply.

This file is only the entry point: the personas, screens, shapes and measurements live in the
modules of the ``journeys`` package.
"""

from __future__ import annotations

import os
from typing import Any

from locust import events

from journeys import settings as _settings
from journeys.personas import ContractorUser, HomeownerUser, OperatorUser, user_classes
from journeys.run import install
from journeys.shapes import shape_class_for

__all__ = ["ContractorUser", "HomeownerUser", "OperatorUser"]


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _add_options(parser: Any, **_: Any) -> None:
    _settings.add_arguments(parser)


@events.init.add_listener  # type: ignore[untyped-decorator]
def _install(environment: Any, **_: Any) -> None:
    settings = _settings.from_options(environment.parsed_options)
    user_classes(settings.load_profile())  # persona weights from the profile's shares
    install(environment, settings)


if _scenario := os.environ.get("JOURNEYS_SCENARIO"):
    ScenarioShape = shape_class_for(_scenario)
