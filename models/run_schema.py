"""The contract of ``run.json`` shared by its writer (``harness``) and its reader (``reports``).

docs/artifacts.md describes every key. A key may be added; renaming or removing one bumps
:data:`RUN_SCHEMA_VERSION`, and the reader must then migrate older files.
"""

from __future__ import annotations

__all__ = ["RUN_KEYS", "RUN_SCHEMA_VERSION"]

RUN_SCHEMA_VERSION = 1

#: The keys every ``run.json`` has (docs/artifacts.md), in the order they are written.
RUN_KEYS: tuple[str, ...] = (
    "schema_version",
    "scenario",
    "started_at",
    "finished_at",
    "complete",
    "incomplete_reasons",
    "target",
    "load_generator",
    "stages",
    "endpoints",
    "persona_mix",
    "slo",
    "alerts",
    "integrity",
    "server_vs_client",
    "exit_code",
)
