"""The screens each persona opens, and the API calls each screen makes.

This catalogue is the contract between the journeys (which perform the screens) and the model
(which predicts them): a screen ("step") is one page for a person and a fixed sequence of API
calls. The profile chooses how often each read screen is opened; how often each write screen is
opened is derived from the business volumes (``models.workload``). A test checks that every
journey makes exactly the calls listed here, so the two sides cannot drift apart.

Endpoints are named ``"METHOD /route/{template}"`` with the service's own route templates, the
same names the service's ``/metrics`` labels and Locust's request names use.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from models.errors import ParameterError, UnknownNameError

__all__ = [
    "CACHEABLE_ENDPOINTS",
    "LOGIN_CALLS",
    "PERSONAS",
    "READ_REPLICA_ENDPOINTS",
    "STEPS",
    "Endpoint",
    "PersonaName",
    "Step",
    "WriteKind",
    "endpoints",
    "read_steps",
    "split_endpoint",
    "step",
]

PersonaName = Literal["homeowner", "contractor", "operator"]
PERSONAS: tuple[PersonaName, ...] = ("homeowner", "contractor", "operator")

Endpoint = str
"""``"METHOD /route/{template}"``, e.g. ``"GET /jobs/{job_id}"``."""


class WriteKind(StrEnum):
    """The business events a write screen creates (the integrity audit checks each one)."""

    JOB = "job"
    BID = "bid"
    MESSAGE = "message"
    AWARD = "award"
    WITHDRAWAL = "withdrawal"


@dataclass(frozen=True, slots=True)
class Step:
    """One screen: its name, the API calls it makes in order, and the write it performs."""

    name: str
    calls: tuple[Endpoint, ...]
    writes: WriteKind | None = None

    @property
    def is_write(self) -> bool:
        return self.writes is not None


# Calls made once when a simulated person signs in; not part of the steady-state screen mix.
LOGIN_CALLS: tuple[Endpoint, ...] = ("POST /auth/login", "GET /me", "GET /territories")

_HOMEOWNER = (
    Step("dashboard", ("GET /me", "GET /jobs", "GET /threads")),
    Step("browse_jobs", ("GET /jobs", "GET /jobs/{job_id}")),
    Step("search_jobs", ("GET /jobs",)),
    Step("review_bids", ("GET /jobs", "GET /jobs/{job_id}/bids")),
    Step("read_messages", ("GET /threads", "GET /threads/{thread_id}/messages")),
    Step("post_job", ("POST /jobs",), WriteKind.JOB),
    Step(
        "send_message",
        ("GET /threads/{thread_id}/messages", "POST /threads/{thread_id}/messages"),
        WriteKind.MESSAGE,
    ),
    Step("award_bid", ("GET /jobs/{job_id}/bids", "POST /jobs/{job_id}/award"), WriteKind.AWARD),
)

_CONTRACTOR = (
    Step("browse_open_jobs", ("GET /jobs",)),
    Step("view_job", ("GET /jobs/{job_id}",)),
    Step("my_bids", ("GET /me/bids",)),
    Step("read_messages", ("GET /threads", "GET /threads/{thread_id}/messages")),
    Step("find_work_nearby", ("GET /jobs", "GET /contractors")),
    Step("place_bid", ("GET /jobs/{job_id}", "POST /jobs/{job_id}/bids"), WriteKind.BID),
    Step("withdraw_bid", ("GET /me/bids", "DELETE /bids/{bid_id}"), WriteKind.WITHDRAWAL),
    Step(
        "send_message",
        ("GET /threads/{thread_id}/messages", "POST /threads/{thread_id}/messages"),
        WriteKind.MESSAGE,
    ),
)

_OPERATOR = (
    Step("operator_dashboard", ("GET /operator/dashboard",)),
    Step("territory_metrics", ("GET /operator/territories/{territory_id}/metrics",)),
    Step("contractor_roster", ("GET /contractors",)),
)

STEPS: dict[PersonaName, tuple[Step, ...]] = {
    "homeowner": _HOMEOWNER,
    "contractor": _CONTRACTOR,
    "operator": _OPERATOR,
}


#: Reads that tolerate replication lag: with read replicas they go to a replica, unless the user
#: wrote within ``infrastructure.database.read_your_writes_s`` (then the primary answers). The
#: job board, territory, thread and contractor listings, and the operators' dashboards.
READ_REPLICA_ENDPOINTS: frozenset[Endpoint] = frozenset(
    {
        "GET /jobs",
        "GET /territories",
        "GET /threads",
        "GET /contractors",
        "GET /operator/dashboard",
        "GET /operator/territories/{territory_id}/metrics",
    }
)

#: Reads the cache serves: the first page of a territory's board (per category and filter) and
#: the territories; the writes that change them (a new job, an award, a withdrawal) invalidate.
CACHEABLE_ENDPOINTS: frozenset[Endpoint] = frozenset({"GET /jobs", "GET /territories"})


def step(persona: PersonaName, name: str) -> Step:
    """The step called ``name`` of ``persona``; :class:`~models.errors.UnknownNameError` (a
    ``KeyError``) names the known steps."""
    for candidate in STEPS[persona]:
        if candidate.name == name:
            return candidate
    known = ", ".join(s.name for s in STEPS[persona])
    raise UnknownNameError(f"{persona} has no step {name!r} (known: {known})")


def read_steps(persona: PersonaName) -> tuple[str, ...]:
    """Names of the read screens, whose weights the profile sets."""
    return tuple(s.name for s in STEPS[persona] if not s.is_write)


def endpoints() -> tuple[Endpoint, ...]:
    """Every endpoint any screen or the login calls, in a stable order."""
    seen: dict[Endpoint, None] = dict.fromkeys(LOGIN_CALLS)
    for persona in PERSONAS:
        for s in STEPS[persona]:
            seen.update(dict.fromkeys(s.calls))
    return tuple(seen)


def split_endpoint(endpoint: Endpoint) -> tuple[str, str]:
    """``"GET /jobs/{job_id}"`` -> ``("GET", "/jobs/{job_id}")``."""
    method, _, path = endpoint.partition(" ")
    if not path.startswith("/") or method.upper() != method:
        raise ParameterError(f"endpoint {endpoint!r} is not of the form 'METHOD /path'")
    return method, path
