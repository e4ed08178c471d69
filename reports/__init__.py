"""HTML reports: a run's report (prediction beside measurement) and the planner's reports.

    render_run_report(run_dir, out=None, baseline_dir=None)      harness report / harness run
    render_capacity_report(sizing_json, profile, path)           harness model --report
    render_simulation_report(simulation, profile, path)          harness simulate --report
    simulation_verdict(simulation, profile)                      its verdict (the exit code)

Each writes one self-contained HTML file (inline CSS and SVG, no scripts, nothing fetched)
and returns its path. Bad artifacts raise :class:`ArtifactError` naming the file and key.
This package reads files and the model's plain results; it never imports harness, journeys or
target_app.
"""

from reports.load import ArtifactError, load_run
from reports.planner import (
    render_capacity_report,
    render_simulation_report,
    simulation_verdict,
)
from reports.render import render_run_report

__all__ = [
    "ArtifactError",
    "load_run",
    "render_capacity_report",
    "render_run_report",
    "render_simulation_report",
    "simulation_verdict",
]
