"""Persona journeys and load shapes: Locust users that produce the profile's workload.

Standalone: ``locust -f journeys/locustfile.py --host URL`` (see docs/journeys.md).

Programmatic API (what ``harness run`` uses)
--------------------------------------------
In-process, one Locust ``Environment``::

    from locust.env import Environment
    import journeys

    settings = journeys.JourneySettings(
        profile_path=None,                  # the shipped default profile
        accounts={"homeowner": 2400, "contractor": 1400, "operator": 200},  # SeedPlan counts
        write_log_path=run_dir / "stats" / "writes.jsonl",
        hdr_out_path=run_dir / "stats" / "hdr.json",
    )
    profile = settings.load_profile()
    shape = journeys.shape_for("smoke", journeys.scaled_stages(profile, "smoke", scale=0.5))
    env = Environment(user_classes=journeys.user_classes(profile), shape_class=shape,
                      host=url, events=locust.events)
    env.create_local_runner()               # or create_master_runner(...)
    run = journeys.install(env, settings)   # after the runner exists
    env.runner.start_shape(); env.runner.shape_greenlet.join(); env.runner.quit()

    run.histograms      # HistogramSet: exact HDR per (stage, method, name), merged from workers
    run.write_log.records, run.completeness(), run.skipped, shape.stages, shape.current_stage

As subprocesses (``locust -f journeys/locustfile.py ...``, master and ``--worker``\\s): pass
``settings.to_env()`` plus ``JOURNEYS_SCENARIO`` in the environment, then read the files::

    histograms, meta = journeys.read_histograms(settings.hdr_out_path)   # meta: completeness
    records = journeys.read_write_log(settings.write_log_path)

Names are exported lazily so that ``journeys.hdr`` and ``journeys.writelog`` can be used
without importing Locust (which monkey-patches the standard library with gevent).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "JourneySettings": "journeys.settings",
    "SettingsError": "journeys.settings",
    "from_env": "journeys.settings",
    "from_options": "journeys.settings",
    "HistogramSet": "journeys.hdr",
    "Summary": "journeys.hdr",
    "WriteRecord": "journeys.writelog",
    "read_write_log": "journeys.writelog",
    "JourneyRun": "journeys.run",
    "install": "journeys.run",
    "run_for": "journeys.run",
    "read_histograms": "journeys.run",
    "StagedShape": "journeys.shapes",
    "SHAPES": "journeys.shapes",
    "shape_for": "journeys.shapes",
    "shape_class_for": "journeys.shapes",
    "scaled_stages": "journeys.stages",
    "StageTable": "journeys.stages",
    "HomeownerUser": "journeys.personas",
    "ContractorUser": "journeys.personas",
    "OperatorUser": "journeys.personas",
    "user_classes": "journeys.personas",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'journeys' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
