"""The users' logins in a measured window: how many, and the CPU their route took.

Every simulated user signs in once when it starts (``models.catalogue.LOGIN_CALLS``), and the
login's ``POST /auth/login`` hashes a password on purpose, in a worker thread: about 30 ms of
CPU on this machine, some thirty screen requests' worth. The model predicts the steady screen
mix, without logins, and a measure stage is meant to hold only that mix: the settle stage
before it lasts twice the arriving users' logins' CPU (harness/validate/plan.py). Past
saturation that may not be enough, since the logins then queue behind the backlog like every
other request; and a settle sized with a login cost below the real one is too short anywhere
near capacity. Measured on the bundled service (docs/benchmarks.md, "What a request costs
past capacity"): with the settle sized at the shipped profile's 6 ms a login, 400 users added to a
saturated service signed in over 10 to 35 seconds, 236 of them inside the 30 s measure window
after the 8 s settle, their route's CPU a fifth of the core there.

So each measured level records its window's logins (``logins``, from the client's histograms
of the stage) and the login route's CPU over the scrapes that bound the window (``login_cpu``,
cores): a window that held many says its CPU per request is not the screen mix's alone. They
are a diagnostic, not a correction: the figures the goals judge stay as measured. A saturated
service answers its metrics scrapes late, so the scrapes that bound a saturated window can
cover a fraction of it, and the logins' CPU over the client's whole window is not known.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from journeys.hdr import HistogramSet
from models.catalogue import LOGIN_CALLS

__all__ = ["LOGIN_ENDPOINT", "MEASURED_LOGIN_CPU_MS", "login_cpu", "window_logins"]

#: The call that signs a user in, as the service's routes and the client's requests name it.
LOGIN_ENDPOINT = LOGIN_CALLS[0]
#: What one login's route costs the bundled service on this machine, in CPU milliseconds
#: (27 to 48 over twelve runs, light and saturated, 2026-12-07): what the benchmark scripts
#: settle their levels on, having no calibration to measure it (``harness validate`` uses its
#: calibrated profile's).
MEASURED_LOGIN_CPU_MS = 30.0
_LOGIN_METHOD, _LOGIN_NAME = LOGIN_ENDPOINT.split(" ", 1)


def window_logins(run_dir: Path, index: int) -> int | None:
    """The logins the client counted in stage ``index`` (its ``stats/histograms/<index>.json``);
    None when the run wrote no histograms for it (an older run, or one that crashed first)."""
    path = run_dir / "stats" / "histograms" / f"{index}.json"
    if not path.exists():
        return None
    histograms = HistogramSet.decode(json.loads(path.read_text(encoding="utf-8")))
    keys = histograms.select(lambda key: key[1] == _LOGIN_METHOD and key[2] == _LOGIN_NAME)
    return histograms.summarize(keys).count if keys else 0


def login_cpu(first: Mapping[str, Any], last: Mapping[str, Any]) -> float:
    """The cores the login route's own CPU took between two service scrapes (0 when the
    scrapes carry no per-route figures, or no login ended between them)."""
    elapsed = float(last["t_s"]) - float(first["t_s"])
    if elapsed <= 0:
        return 0.0

    def cpu_seconds(scrape: Mapping[str, Any]) -> float:
        route = (scrape.get("routes") or {}).get(LOGIN_ENDPOINT) or {}
        return float(route.get("cpu_seconds") or 0.0)

    return max(0.0, (cpu_seconds(last) - cpu_seconds(first)) / elapsed)
