"""The screens: each one performs exactly the API calls ``models.catalogue.STEPS`` lists for it.

A simulated person remembers what the screens showed (:class:`journeys.memory.Memory`: jobs
seen on the board, their own jobs, their threads, their active bids) and uses it the way a
person would: a contractor bids on a job they have seen, a homeowner awards a bid on their own
job. A screen that needs something the person has not seen yet (no job seen to bid on) is not
*ready* (``StepImpl.ready``); the persona then draws another screen, defers a write until it is
ready, and the run counts the skip (``JourneyRun.skipped``; see ``JourneyUser._draw``).

A screen whose data turns out stale (the job was awarded meanwhile, a 409) ends early and is
counted as ``incomplete``; the service's answer was right, nothing is a failure. Everything else
that is wrong (status, content, 429) is a failure of the call and of its page.

Each screen is one ``PAGE`` sample named ``<persona>.<step>``, timed from its first call's start
to its last call's end (there is no think time inside a screen).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from journeys.checks import CONFLICT, Caller, has_id, has_keys, has_status, is_page, items_of
from journeys.memory import Memory
from models.catalogue import PersonaName, WriteKind

PAGE = "PAGE"

_CATEGORIES = ("plumbing", "electrical", "roofing", "painting", "landscaping", "hvac",
               "carpentry", "cleaning", "flooring", "remodeling")  # fmt: skip
_SEARCH_WORDS = ("leak", "repair", "install", "replace", "kitchen", "bathroom", "roof", "paint",
                 "garden", "heater", "floor", "door", "window", "deck", "wiring")  # fmt: skip


class Incomplete(Exception):
    """The screen cannot go on with what the person knows (stale data); not a failure."""


class _Abort(Exception):
    """A call failed; the screen stops (the failure is already reported)."""


class StepFailed(Exception):
    """Reported as the PAGE sample's exception: the first failed call of the screen."""


class Journey:
    """One simulated person's session: the calls, the memory, the randomness, the write log."""

    def __init__(
        self,
        persona: PersonaName,
        caller: Caller,
        rng: random.Random,
        log_write: Callable[[WriteKind, int | None, int | None], None],
    ) -> None:
        self.persona = persona
        self.caller = caller
        self.rng = rng
        self.memory = Memory()
        self._log_write = log_write

    def call(
        self,
        endpoint: str,
        path: str,
        *,
        attempt: WriteKind | None = None,
        parent_id: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Make one call of the screen; ``attempt`` names the write it tries, if any."""
        body = self.caller.call(endpoint, path, **kwargs)
        if body is None and self.caller.failure is not None:
            status = self.caller.last_status
            if attempt is not None and (status == 0 or (status or 0) >= 500):
                self._log_write(attempt, None, parent_id)  # no verdict: maybe committed
            raise _Abort
        return body

    def wrote(self, kind: WriteKind, object_id: int, parent_id: int | None = None) -> None:
        self._log_write(kind, object_id, parent_id)

    def pick(self, values: list[Any]) -> Any:
        return values[self.rng.randrange(len(values))]


# --- homeowner -----------------------------------------------------------------------------


def _dashboard(j: Journey) -> None:
    j.call("GET /me", "/me", check=has_keys("id", "role"))
    j.memory.see_own_jobs(j.call("GET /jobs", "/jobs", query={"mine": True}, check=is_page))
    j.memory.see_threads(j.call("GET /threads", "/threads", check=is_page))


def _browse_jobs(j: Journey) -> None:
    board = j.memory.see_jobs(
        j.call("GET /jobs", "/jobs", query={"territory_id": j.memory.territory_id}, check=is_page)
    )
    if not board:
        raise Incomplete("no open job in the territory")
    _open_job(j, j.pick(board)["id"])


def _open_job(j: Journey, job_id: int) -> dict[str, Any]:
    job: dict[str, Any] = j.call("GET /jobs/{job_id}", f"/jobs/{job_id}", check=has_id)
    if job.get("status") != "open":
        j.memory.forget_job(job_id)
    return job


def _search_jobs(j: Journey) -> None:
    query: dict[str, str | int | bool] = {"q": j.pick(list(_SEARCH_WORDS))}
    if j.rng.random() < 0.5:
        query["category"] = j.pick(list(_CATEGORIES))
    j.memory.see_jobs(j.call("GET /jobs", "/jobs", query=query, check=is_page))


def _review_bids(j: Journey) -> None:
    own = j.memory.see_own_jobs(j.call("GET /jobs", "/jobs", query={"mine": True}, check=is_page))
    if not own:
        raise Incomplete("no job of their own")
    with_bids = [job for job in own if job.get("bid_count", 0) > 0] or own
    job_id = j.pick(with_bids)["id"]
    j.call("GET /jobs/{job_id}/bids", f"/jobs/{job_id}/bids", check=is_page)


def _read_messages(j: Journey) -> None:
    threads = j.memory.see_threads(j.call("GET /threads", "/threads", check=is_page))
    if not threads:
        raise Incomplete("no thread")
    thread_id = j.pick(threads)
    j.call("GET /threads/{thread_id}/messages", f"/threads/{thread_id}/messages", check=is_page)


def _post_job(j: Journey) -> None:
    category = j.pick(list(_CATEGORIES))
    body = {
        "title": f"{category.capitalize()} {j.pick(list(_SEARCH_WORDS))} needed",
        "description": f"Looking for help with {category}: {j.rng.randrange(1, 10**6)}.",
        "category": category,
        "budget": j.rng.randrange(100, 20_000),
        "urgent": j.rng.random() < 0.1,
    }
    job = j.call(
        "POST /jobs", "/jobs", json=body, expect=201, check=has_status("open"),
        attempt=WriteKind.JOB,
    )  # fmt: skip
    j.memory.own_jobs[job["id"]] = 0
    j.wrote(WriteKind.JOB, job["id"], None)


def _send_message(j: Journey) -> None:
    thread_id = j.pick(list(j.memory.threads))
    path = f"/threads/{thread_id}/messages"
    j.call("GET /threads/{thread_id}/messages", path, check=is_page)
    text = f"Message {j.rng.randrange(10**9)} from a {j.persona}."
    message = j.call(
        "POST /threads/{thread_id}/messages", path, json={"body": text}, expect=201,
        check=has_id, attempt=WriteKind.MESSAGE, parent_id=thread_id,
    )  # fmt: skip
    j.wrote(WriteKind.MESSAGE, message["id"], thread_id)


def _award_bid(j: Journey) -> None:
    candidates = [job for job, bids in j.memory.own_jobs.items() if bids > 0]
    job_id = j.pick(candidates)
    bids = items_of(j.call("GET /jobs/{job_id}/bids", f"/jobs/{job_id}/bids", check=is_page))
    active = [b["id"] for b in bids if isinstance(b, dict) and b.get("status") == "active"]
    if not active:
        j.memory.own_jobs[job_id] = 0
        raise Incomplete("no active bid on the job")
    bid_id = j.pick(active)
    result = j.call(
        "POST /jobs/{job_id}/award", f"/jobs/{job_id}/award", json={"bid_id": bid_id},
        check=_awarded(bid_id), allow_conflict=True, attempt=WriteKind.AWARD, parent_id=job_id,
    )  # fmt: skip
    j.memory.forget_job(job_id)
    if result is CONFLICT:
        raise Incomplete("job no longer open")
    j.wrote(WriteKind.AWARD, bid_id, job_id)


def _awarded(bid_id: int) -> Callable[[Any], str | None]:
    def check(body: Any) -> str | None:
        problem = has_status("awarded")(body)
        if problem is None and body.get("awarded_bid_id") != bid_id:
            return f"awarded_bid_id {body.get('awarded_bid_id')!r}, expected the bid awarded"
        return problem

    return check


# --- contractor ----------------------------------------------------------------------------


def _browse_open_jobs(j: Journey) -> None:
    query = {"territory_id": j.memory.territory_id}
    j.memory.see_jobs(j.call("GET /jobs", "/jobs", query=query, check=is_page))


def _view_job(j: Journey) -> None:
    _open_job(j, j.pick(list(j.memory.jobs)))


def _my_bids(j: Journey) -> None:
    j.memory.see_my_bids(j.call("GET /me/bids", "/me/bids", check=is_page))


def _find_work_nearby(j: Journey) -> None:
    # The wider area: the newest open jobs of every territory, not only the contractor's own.
    # Besides being what a contractor looking for more work does, it keeps small runs honest:
    # with a few users spread over 50 territories, a territory holds about one contractor, and
    # bids per job could never reach the profile's 5 if contractors saw only their own.
    j.memory.see_jobs(j.call("GET /jobs", "/jobs", check=is_page))
    contractors = {"territory_id": j.memory.territory_id, "available": True}
    j.call("GET /contractors", "/contractors", query=contractors, check=is_page)


def _biddable(memory: Memory) -> list[int]:
    taken = set(memory.active_bids.values())
    return [job for job in memory.jobs if job not in taken]


_FRESH = 5  # a bidder picks among the few open jobs seen most recently


def _place_bid(j: Journey) -> None:
    job_id = j.pick(_biddable(j.memory)[-_FRESH:])
    job = _open_job(j, job_id)
    if job.get("status") != "open":
        raise Incomplete("job no longer open")
    amount = max(50, int(job.get("budget", 1000) * j.rng.uniform(0.7, 1.1)))
    bid = j.call(
        "POST /jobs/{job_id}/bids", f"/jobs/{job_id}/bids",
        json={"amount": amount, "message": "Available this week."},
        expect=201, check=has_status("active"), allow_conflict=True,
        attempt=WriteKind.BID, parent_id=job_id,
    )  # fmt: skip
    if bid is CONFLICT:
        j.memory.forget_job(job_id)
        raise Incomplete("job closed or already bid on")
    j.memory.active_bids[bid["id"]] = job_id
    j.wrote(WriteKind.BID, bid["id"], job_id)


def _withdraw_bid(j: Journey) -> None:
    bids = j.memory.see_my_bids(
        j.call("GET /me/bids", "/me/bids", query={"status": "active"}, check=is_page)
    )
    active = [b for b in bids if b.get("status") == "active"]
    if not active:
        raise Incomplete("no active bid")
    bid = j.pick(active)
    result = j.call(
        "DELETE /bids/{bid_id}", f"/bids/{bid['id']}", check=has_status("withdrawn"),
        allow_conflict=True, attempt=WriteKind.WITHDRAWAL,
    )  # fmt: skip
    j.memory.active_bids.pop(bid["id"], None)
    if result is CONFLICT:
        raise Incomplete("job no longer open")
    j.wrote(WriteKind.WITHDRAWAL, bid["id"], int(bid.get("job_id", 0)) or None)


# --- operator ------------------------------------------------------------------------------


def _operator_dashboard(j: Journey) -> None:
    j.call("GET /operator/dashboard", "/operator/dashboard", check=has_keys("users_by_role"))


def _territory_metrics(j: Journey) -> None:
    territory = j.pick(j.memory.territories or [j.memory.territory_id])
    j.call(
        "GET /operator/territories/{territory_id}/metrics",
        f"/operator/territories/{territory}/metrics",
        check=has_keys("territory_id", "jobs_posted"),
    )


def _contractor_roster(j: Journey) -> None:
    territory = j.pick(j.memory.territories or [j.memory.territory_id])
    j.call("GET /contractors", "/contractors", query={"territory_id": territory}, check=is_page)


# --- the table -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepImpl:
    perform: Callable[[Journey], None]
    ready: Callable[[Memory], bool] = lambda memory: True


IMPLEMENTATIONS: dict[PersonaName, dict[str, StepImpl]] = {
    "homeowner": {
        "dashboard": StepImpl(_dashboard),
        "browse_jobs": StepImpl(_browse_jobs),
        "search_jobs": StepImpl(_search_jobs),
        "review_bids": StepImpl(_review_bids),
        "read_messages": StepImpl(_read_messages),
        "post_job": StepImpl(_post_job),
        "send_message": StepImpl(_send_message, lambda m: bool(m.threads)),
        "award_bid": StepImpl(_award_bid, lambda m: any(b > 0 for b in m.own_jobs.values())),
    },
    "contractor": {
        "browse_open_jobs": StepImpl(_browse_open_jobs),
        "view_job": StepImpl(_view_job, lambda m: bool(m.jobs)),
        "my_bids": StepImpl(_my_bids),
        "read_messages": StepImpl(_read_messages),
        "find_work_nearby": StepImpl(_find_work_nearby),
        "place_bid": StepImpl(_place_bid, lambda m: bool(_biddable(m))),
        "withdraw_bid": StepImpl(_withdraw_bid, lambda m: bool(m.active_bids)),
        "send_message": StepImpl(_send_message, lambda m: bool(m.threads)),
    },
    "operator": {
        "operator_dashboard": StepImpl(_operator_dashboard),
        "territory_metrics": StepImpl(_territory_metrics),
        "contractor_roster": StepImpl(_contractor_roster),
    },
}


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What one screen did: ``ok``, ``incomplete`` (stale data) or ``failed``."""

    persona: PersonaName
    step: str
    outcome: str
    calls: tuple[str, ...]
    elapsed_ms: float
    detail: str | None = None


def perform(journey: Journey, step: str, fire: Callable[..., None]) -> StepOutcome:
    """Run one screen and fire its PAGE sample through ``fire`` (Locust's request event)."""
    impl = IMPLEMENTATIONS[journey.persona][step]
    caller = journey.caller
    caller.reset()
    outcome, detail = "ok", None
    start = time.perf_counter()
    try:
        impl.perform(journey)
    except _Abort:
        outcome, detail = "failed", caller.failure
    except Incomplete as exc:
        outcome, detail = "incomplete", str(exc)
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    fire(
        request_type=PAGE,
        name=f"{journey.persona}.{step}",
        response_time=elapsed_ms,
        response_length=0,
        exception=StepFailed(detail) if outcome == "failed" else None,
        context={},
    )
    return StepOutcome(journey.persona, step, outcome, tuple(caller.calls), elapsed_ms, detail)
