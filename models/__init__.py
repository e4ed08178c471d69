"""The capacity model: the workload profile, analytic queueing, the day simulation, cost.

Pure domain code: imports nothing of ``harness``, ``journeys``, ``target_app`` or ``reports``.
The package itself exports nothing: import from its modules (docs/models-api.md shows how).
"""

__all__: list[str] = []
