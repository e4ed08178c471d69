"""The three personas as Locust users: who they are, how they sign in, how they pick screens.

Every simulated user

1. takes a distinct seeded account of its persona (:mod:`journeys.accounts`) and signs in
   with the catalogue's login calls (``POST /auth/login``, ``GET /me``, ``GET /territories``),
   claiming its own client address in ``X-Forwarded-For``;
2. then, forever: draws a screen from ``models.workload.step_probabilities`` (the same numbers
   the model predicts with), performs it (:mod:`journeys.steps`), and thinks for a time drawn
   from the persona's think-time distribution.

The persona classes are weighted by the profile's shares (60/35/5 by default: with 20 users
Locust spawns 12 homeowners, 7 contractors and 1 operator). :func:`user_classes` sets the
weights from a profile; the locustfile does so when Locust starts.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, ClassVar

from locust import FastHttpUser, User, task

from journeys.accounts import Account
from journeys.checks import Caller, has_keys
from journeys.run import JourneyRun, run_for
from journeys.steps import IMPLEMENTATIONS, Journey, StepFailed, perform
from journeys.writelog import WriteRecord
from models.catalogue import LOGIN_CALLS, STEPS, PersonaName, WriteKind
from models.profile import Profile

MAX_DEFERRED = 25
"""Deferred writes kept per screen kind; more are dropped (and counted as ``:dropped``)."""

WEIGHT_RESOLUTION = 1000
"""Shares become integer weights out of this (0.60 -> 600): Locust wants integers."""


class JourneyUser(FastHttpUser):
    """A person of one persona using the marketplace; subclasses name the persona."""

    abstract = True
    persona: ClassVar[PersonaName]
    """Which persona of the profile this user is, e.g. ``"homeowner"``."""

    # FastHttpUser options: one connection per user (a browser would keep one or two), and fail
    # a call after 60 s rather than wait forever.
    concurrency = 1
    network_timeout = 60.0
    connection_timeout = 60.0
    insecure = False

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.journeys: JourneyRun = run_for(environment)
        self.account: Account | None = None
        self.rng = self.journeys.user_rng()
        self._fire = environment.events.request.fire
        self.journey: Journey | None = None
        self._deferred: Counter[str] = Counter()
        self._writes = {s.name for s in STEPS[self.persona] if s.is_write}

    def wait_time(self) -> float:
        """Think time: the persona's distribution and mean (exponential by default)."""
        return self.journeys.think[self.persona].sample(self.rng)

    def on_start(self) -> None:
        # A failed login is retried by calling this again (open_screen): the person tries
        # their own account again rather than taking the next one, which would leak a slot
        # per failure and, under sustained failures, wrap the pool onto accounts in use.
        if self.account is None:
            self.account = self.journeys.pools[self.persona].acquire()
        headers = {"Accept": "application/json"}
        if self.journeys.settings.forwarded_for:
            headers["X-Forwarded-For"] = self.account.address
        caller = Caller(self.client, headers)
        self.journey = Journey(self.persona, caller, self.rng, self._log_write)
        self._login()

    def on_stop(self) -> None:
        if self.account is not None:
            self.journeys.pools[self.persona].release(self.account)
            self.account = None

    def _login(self) -> None:
        """The login screen: exactly ``models.catalogue.LOGIN_CALLS``, timed as one PAGE."""
        assert self.journey is not None and self.account is not None
        journey, caller = self.journey, self.journey.caller
        caller.reset()
        start = time.perf_counter()
        login = caller.call(
            "POST /auth/login", "/auth/login",
            json={"email": self.account.email, "password": self.journeys.settings.password},
            check=has_keys("access_token", "user"),
        )  # fmt: skip
        if login is not None:
            caller.headers["Authorization"] = f"Bearer {login['access_token']}"
            user = login["user"]
            journey.memory.user_id = int(user.get("id", 0))
            journey.memory.territory_id = int(user.get("territory_id", 1))
            caller.call("GET /me", "/me", check=has_keys("id"))
        if caller.failure is None:
            territories = caller.call("GET /territories", "/territories")
            if isinstance(territories, list):
                journey.memory.territories = [
                    t["id"] for t in territories if isinstance(t, dict) and "id" in t
                ]
        assert caller.failure is not None or tuple(caller.calls) == LOGIN_CALLS
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        self._fire(
            request_type="PAGE",
            name=f"{self.persona}.login",
            response_time=elapsed_ms,
            response_length=0,
            exception=StepFailed(caller.failure) if caller.failure else None,
            context={},
        )
        self.journeys.trace(
            {"persona": self.persona, "step": "login", "outcome": "failed" if caller.failure
             else "ok", "calls": list(caller.calls), "account": self.account.email}
        )  # fmt: skip
        if caller.failure is not None:
            # Without a session there is nothing to do; try again after a think time.
            self.journey = None

    @task
    def open_screen(self) -> None:
        """Draw the next screen by the profile's probabilities and perform it."""
        if self.journey is None:
            self.on_start()
            return
        step = self._draw()
        if step is None:
            return
        outcome = perform(self.journey, step, self._fire)
        if outcome.outcome == "incomplete":
            self.journeys.skipped[f"{self.persona}.{step}:incomplete"] += 1
            if step in self._writes:
                self._defer(step)  # the person still means to do it: on a later screen
        if self.journeys.settings.trace_path is not None:
            assert self.account is not None
            self.journeys.trace(
                {"persona": self.persona, "step": step, "outcome": outcome.outcome,
                 "calls": list(outcome.calls), "detail": outcome.detail,
                 "account": self.account.email, "at": time.time(),
                 "elapsed_ms": round(outcome.elapsed_ms, 3)}
            )  # fmt: skip

    def _draw(self) -> str | None:
        """The next screen: a deferred write that is ready now, else one drawn by probability.

        A drawn screen that is not ready (nothing seen yet to act on) is redrawn, and also
        deferred (up to :data:`MAX_DEFERRED` of each kind) and performed on the first later
        screen where it is ready: the replacement now and the deferred screen later cancel out,
        so every screen, and every write, happens as often as the profile says even though a
        session opens with nothing seen (a contractor cannot view a job before the board).
        """
        assert self.journey is not None
        memory = self.journey.memory
        implementations = IMPLEMENTATIONS[self.persona]
        for step, count in self._deferred.items():
            if count and implementations[step].ready(memory):
                self._deferred[step] -= 1
                return step
        names, weights = self.journeys.steps[self.persona]
        for _ in range(20):
            step = self.rng.choices(names, weights)[0]
            if implementations[step].ready(memory):
                return step
            self.journeys.skipped[f"{self.persona}.{step}"] += 1
            self._defer(step)
        return None

    def _defer(self, step: str) -> None:
        if self._deferred[step] < MAX_DEFERRED:
            self._deferred[step] += 1
        else:
            self.journeys.skipped[f"{self.persona}.{step}:dropped"] += 1

    def _log_write(self, kind: WriteKind, object_id: int | None, parent_id: int | None) -> None:
        """Log a write: acknowledged with its id, or (``object_id`` None) with no verdict."""
        assert self.account is not None
        self.journeys.log_write(
            WriteRecord(
                kind=kind,
                id=object_id,
                persona=self.persona,
                account=self.account.email,
                parent_id=parent_id,
                stage=self.journeys.stage,
                at=time.time(),
                worker=self.journeys.worker_index,
                acknowledged=object_id is not None,
            )
        )


class HomeownerUser(JourneyUser):
    """Posts jobs, reviews and awards bids, messages contractors.

    Weight from ``personas.homeowner.share`` (0.60 -> 600 of 1000), e.g.::

        HomeownerUser.weight = 600
    """

    persona = "homeowner"
    weight = 600


class ContractorUser(JourneyUser):
    """Browses open jobs in their territory, bids and withdraws, answers messages.

    Weight from ``personas.contractor.share`` (0.35 -> 350 of 1000).
    """

    persona = "contractor"
    weight = 350


class OperatorUser(JourneyUser):
    """Watches the operator dashboard, territory metrics and contractor rosters.

    Weight from ``personas.operator.share`` (0.05 -> 50 of 1000).
    """

    persona = "operator"
    weight = 50


PERSONA_CLASSES: dict[PersonaName, type[JourneyUser]] = {
    "homeowner": HomeownerUser,
    "contractor": ContractorUser,
    "operator": OperatorUser,
}


def user_classes(profile: Profile) -> list[type[User]]:
    """The persona classes with weights from ``profile``'s shares; a zero share is left out."""
    classes: list[type[User]] = []
    for persona, spec in profile.personas.marketplace():
        cls = PERSONA_CLASSES[persona]
        cls.weight = round(spec.share * WEIGHT_RESOLUTION)
        if cls.weight > 0:
            classes.append(cls)
    return classes
