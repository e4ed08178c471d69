"""Work no user waits for: the outbox's deliveries, payment retries and photo uploads.

Beside the screens' API calls the service does work of its own, and it takes the same CPU and
the same primary:

* **Outbox deliveries.** A bid, an award and a message each write a notification into the
  outbox in the write's transaction; a background worker in the service's process claims it,
  calls the SMS or e-mail provider and marks it sent (``target_app/resilience/outbox.py``):
  ``background.deliveries_per_notification`` deliveries per notifying write.
* **Payment retries.** An award whose payment hold could not be placed is retried every
  ``retries.payment_retry_s`` until it holds: ``background.payment_retries_per_award``.
* **Photo uploads.** A homeowner attaches photos to a job posted (``POST
  /jobs/{job_id}/photos``, which the journeys do not play): ``background.photos_per_job``.

Each is a stream whose rate is proportional to the writes, so to the API calls:
``events per call = Σ_e share_e · rate`` over the endpoints e it follows. The model adds their
CPU to the app instances' utilization and their database time to the primary's
(:mod:`models.sizing`); the simulation sends them as streams of their own, which hold a
worker and a connection but are not users' requests (no latency, no error counted).

>>> from models.profile import load_profile
>>> profile = load_profile(overrides={"background": {"photos_per_job": 2.0}})
>>> streams = background_streams(profile, {"POST /jobs": 0.01, "POST /jobs/{job_id}/bids": 0.05})
>>> [(s.name, round(s.per_call, 4)) for s in streams]
[('outbox', 0.05), ('payment_retries', 0.0), ('uploads', 0.02)]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from models.profile import Profile

__all__ = ["NOTIFYING_WRITES", "BackgroundStream", "background_streams"]

NOTIFYING_WRITES = (
    "POST /jobs/{job_id}/bids",
    "POST /jobs/{job_id}/award",
    "POST /threads/{thread_id}/messages",
)
"""The writes that put a notification in the outbox (a bid to the homeowner, an award to the
contractor, a message to the other party)."""

AWARD = "POST /jobs/{job_id}/award"
POST_JOB = "POST /jobs"


@dataclass(frozen=True, slots=True)
class BackgroundStream:
    """One kind of background work: events per user API call and the demand of one event."""

    name: str
    per_call: float
    cpu_s: float
    """CPU of one event at full speed (one core)."""
    db_s: float
    """Primary connection time of one event."""

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "per_call": round(self.per_call, 6),
            "cpu_ms": round(self.cpu_s * 1e3, 4),
            "db_ms": round(self.db_s * 1e3, 4),
        }


def background_streams(
    profile: Profile, call_shares: Mapping[str, float]
) -> tuple[BackgroundStream, ...]:
    """The three streams for a mix whose calls go to endpoint e with share ``call_shares[e]``."""
    b = profile.background
    notifying = sum(call_shares.get(e, 0.0) for e in NOTIFYING_WRITES)
    return (
        BackgroundStream(
            "outbox",
            notifying * b.deliveries_per_notification,
            b.outbox_cpu_ms / 1e3,
            b.outbox_db_ms / 1e3,
        ),
        BackgroundStream(
            "payment_retries",
            call_shares.get(AWARD, 0.0) * b.payment_retries_per_award,
            b.payment_retry_cpu_ms / 1e3,
            b.payment_retry_db_ms / 1e3,
        ),
        BackgroundStream(
            "uploads",
            call_shares.get(POST_JOB, 0.0) * b.photos_per_job,
            b.upload_cpu_ms / 1e3,
            b.upload_db_ms / 1e3,
        ),
    )
