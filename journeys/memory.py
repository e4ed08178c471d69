"""What a simulated person remembers between screens: the ids the screens showed.

The screens (:mod:`journeys.steps`) act on what was seen, as a person does: a contractor bids
on a job they saw on the board, a homeowner awards a bid on their own job, anyone answers in a
thread they have. Memory is bounded (the last :data:`REMEMBERED` ids of each kind) and refreshed
by every list a screen reads.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from journeys.checks import items_of

REMEMBERED = 50
"""Ids remembered per kind: enough variety, bounded memory per user."""


@dataclass
class Memory:
    """What one simulated person has seen so far."""

    user_id: int = 0
    territory_id: int = 1
    territories: list[int] = field(default_factory=list)
    jobs: deque[int] = field(default_factory=lambda: deque(maxlen=REMEMBERED))
    """Open jobs seen on the board (contractors bid on these)."""
    own_jobs: dict[int, int] = field(default_factory=dict)
    """The homeowner's own open jobs -> bid count last seen."""
    threads: deque[int] = field(default_factory=lambda: deque(maxlen=REMEMBERED))
    active_bids: dict[int, int] = field(default_factory=dict)
    """The contractor's active bids: bid id -> job id."""

    def see_jobs(self, body: Any) -> list[dict[str, Any]]:
        items = [j for j in items_of(body) if isinstance(j, dict) and isinstance(j.get("id"), int)]
        # Oldest first, so the end of the deque holds the jobs seen most recently (and most
        # likely still open: bidders pick from there).
        for job in reversed(items):
            if job.get("status", "open") != "open":
                continue
            if job["id"] in self.jobs:
                self.jobs.remove(job["id"])
            self.jobs.append(job["id"])
        return items

    def see_own_jobs(self, body: Any) -> list[dict[str, Any]]:
        items = [j for j in items_of(body) if isinstance(j, dict) and isinstance(j.get("id"), int)]
        for job in items:
            if job.get("status") == "open":
                self.own_jobs[job["id"]] = int(job.get("bid_count", 0))
            else:
                self.own_jobs.pop(job["id"], None)
        return items

    def see_threads(self, body: Any) -> list[int]:
        ids = [
            t["id"] for t in items_of(body) if isinstance(t, dict) and isinstance(t.get("id"), int)
        ]
        for thread_id in ids:
            if thread_id not in self.threads:
                self.threads.append(thread_id)
        return ids

    def see_my_bids(self, body: Any) -> list[dict[str, Any]]:
        bids = [b for b in items_of(body) if isinstance(b, dict) and isinstance(b.get("id"), int)]
        for bid in bids:
            if bid.get("status") == "active":
                self.active_bids[bid["id"]] = int(bid.get("job_id", 0))
            else:
                self.active_bids.pop(bid["id"], None)
        return bids

    def forget_job(self, job_id: int) -> None:
        if job_id in self.jobs:
            self.jobs.remove(job_id)
        self.own_jobs.pop(job_id, None)
