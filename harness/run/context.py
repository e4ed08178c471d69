"""What one ``harness run`` hands from phase to phase, as two records.

:class:`RunContext` is the run as its load is about to start (the request, the stages, the run
directory, the target); :class:`Observed` is what watching the load left behind (the clocks,
the probes, the scrapes, the swarm, what went wrong). The orchestration (harness/run/
orchestrate.py) fills them; the conclusion (harness/run/outcome.py) reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from harness.run.integrity import Baseline
from harness.run.locust_runner import Swarm
from harness.run.model_outputs import ModelOutputsAhead
from harness.run.probe import Prober
from harness.run.run_request import RunRequest, RunState
from harness.run.scrape import Scrape, Scraper
from harness.run.service import BundledService
from models.profile import Stage, TargetConfig, TargetMetrics

BUNDLED_TARGET = TargetConfig()


@dataclass(frozen=True, slots=True)
class RunContext:
    """A run whose target is up: the request, its scaled stages, where its artifacts go."""

    request: RunRequest
    stages: tuple[Stage, ...]
    run_dir: Path
    started_at: datetime
    service: BundledService | None
    """The bundled service, or None for an external ``--host``."""
    ahead: ModelOutputsAhead | None = None
    """The model outputs, computed while the service started (harness/run/model_outputs.py)."""

    @property
    def host(self) -> str:
        """The target's base URL, without a trailing slash."""
        return self.service.url if self.service is not None else str(self.request.host).rstrip("/")

    @property
    def database_url(self) -> str | None:
        """The database as the audit and the drain check read it: always the direct URL, never
        a chaos run's fault proxy, so they read the truth (the lab's own PostgreSQL, when it
        runs one)."""
        direct = self.service.direct_database_url if self.service is not None else None
        if direct:
            return direct
        if self.request.database_url:
            return self.request.database_url
        return self.service.database_url if self.service is not None else None

    @property
    def target(self) -> TargetConfig:
        """What the target offers: the profile's ``[target]`` for a ``--host``; the bundled
        service's own (the defaults) when the harness started it."""
        return self.request.profile.target if self.service is None else BUNDLED_TARGET

    @property
    def metrics(self) -> TargetMetrics | None:
        """The target's metrics, or None when it has none."""
        return self.target.metrics if self.target.metrics.url else None

    @property
    def headers(self) -> dict[str, str]:
        """What the harness's scrapes of the target carry (the bundled service's admin token,
        when it has one)."""
        return self.service.admin_headers if self.service is not None else {}


@dataclass(frozen=True, slots=True)
class Observed:
    """What watching the load left for the conclusion."""

    t0: float
    """The run's clock origin (wall clock): every ``t_s`` is seconds since it."""
    state: RunState
    swarm: Swarm
    prober: Prober
    scraper: Scraper
    baseline: Baseline | None
    """The database before the load (None: the audit cannot run)."""
    before: Scrape | None
    """The service's counters just before the load (None: could not be scraped)."""
    after: Scrape | None
    """...and after it."""
