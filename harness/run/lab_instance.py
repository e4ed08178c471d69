"""One service instance of the lab: its process, its CPU group, and where it keeps its
counters.

Each instance runs with a metrics directory of its own (``PROMETHEUS_MULTIPROC_DIR``): its
counters are files there, written as they grow. A scrape reads ``/metrics`` while the instance
answers, and the files once it does not (a chaos run killed it), so a sum over the instances
keeps what a dead one counted.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from harness.lab.cgroups import CpuGroup
from harness.run.service import BundledService


@dataclass
class LabInstance:
    """One service instance of the lab."""

    name: str
    group: CpuGroup
    service: BundledService
    metrics_dir: Path

    def scrape_text(self, timeout_s: float) -> str:
        """Its metrics: from ``/metrics`` while it answers, else from its metrics directory
        (what it counted until it died)."""
        if self.service.alive():
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(
                    f"{self.service.url}/metrics",
                    timeout=timeout_s,
                    headers=self.service.admin_headers,
                )
                response.raise_for_status()
                return response.text
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.metrics_dir))  # type: ignore[no-untyped-call]
        return generate_latest(registry).decode()
