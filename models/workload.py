"""From the profile to the workload: how often each persona opens each screen, how many API
calls that makes per endpoint, and the request rate at any number of concurrent users.

This is the one place that derives the workload. The journeys draw their screens from
:func:`step_probabilities` and the model predicts from :func:`visit_ratios`, so a load test
and a prediction always describe the same traffic.

The derivation of the write screens
-----------------------------------
A user of persona *p* opens a screen, then thinks for a mean ``Z_p`` seconds, so the screens
per second per user are about ``1 / Z_p`` (the response time, tens of milliseconds against
think times of tens of seconds, shifts this by well under 1%). Per user of the population, the
screen rate of persona *p* is ``L_p = share_p / Z_p`` and the total ``L = sum(L_p)``.

A fraction ``f = business.write_fraction`` of all screens write. The writes split into jobs,
bids and messages as the business volumes do (1 : 5 : 10 by default)::

    W_jobs = f·L·jobs/(jobs+bids+messages)      posted by homeowners
    W_bids = f·L·bids/(jobs+bids+messages)      placed by contractors
    W_msgs = f·L·messages/(jobs+bids+messages)  sent by homeowners and contractors alike

so a homeowner opens ``post_job`` with probability ``W_jobs / L_h``, a contractor
``place_bid`` with ``W_bids / L_c``, and both ``send_message`` with ``W_msgs / (L_h + L_c)``.
Awards (``awards_per_job`` per job) and withdrawals (``withdrawals_per_bid`` per bid) follow
the same way. The read screens share what is left in proportion to the profile's weights.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from models.catalogue import PERSONAS, STEPS, Endpoint, PersonaName, WriteKind
from models.errors import ParameterError, ProfileError
from models.profile import Profile

__all__ = [
    "PersonaWorkload",
    "StepProbabilities",
    "business_write_fraction",
    "peak_rps",
    "persona_workload",
    "request_rate",
    "step_probabilities",
    "visit_ratios",
    "workloads",
    "write_probabilities",
]

StepProbabilities = dict[str, float]


@dataclass(frozen=True, slots=True)
class PersonaWorkload:
    """What one persona does per screen: screen probabilities and calls per endpoint."""

    persona: PersonaName
    share: float
    think_time_s: float
    step_probabilities: StepProbabilities
    visits: dict[Endpoint, float]
    """Mean calls to each endpoint per screen opened."""

    @property
    def calls_per_step(self) -> float:
        return sum(self.visits.values())


def _screen_rates(profile: Profile) -> dict[PersonaName, float]:
    """``L_p``: screens per second of persona p, per user of the whole population."""
    return {name: p.share / p.think_time_s for name, p in profile.personas.marketplace()}


def write_probabilities(profile: Profile) -> dict[PersonaName, dict[str, float]]:
    """Probability that a screen of each persona is each write screen (module docstring)."""
    business = profile.business
    rates = _screen_rates(profile)
    total_rate = sum(rates.values())
    volume = business.jobs_per_day + business.bids_per_day + business.messages_per_day
    writes: dict[PersonaName, dict[str, float]] = {name: {} for name in PERSONAS}
    if volume == 0 or business.write_fraction == 0:
        return writes

    per_kind = {
        WriteKind.JOB: business.write_fraction * total_rate * business.jobs_per_day / volume,
        WriteKind.BID: business.write_fraction * total_rate * business.bids_per_day / volume,
        WriteKind.MESSAGE: business.write_fraction
        * total_rate
        * business.messages_per_day
        / volume,
    }
    per_kind[WriteKind.AWARD] = per_kind[WriteKind.JOB] * business.awards_per_job
    per_kind[WriteKind.WITHDRAWAL] = per_kind[WriteKind.BID] * business.withdrawals_per_bid

    for kind, rate in per_kind.items():
        if rate == 0:
            continue
        writers = [n for n in PERSONAS if any(s.writes == kind for s in STEPS[n])]
        writer_rate = sum(rates[n] for n in writers)
        if writer_rate == 0:
            raise ProfileError(
                "profile",
                [f"business: {kind.value} writes need a persona that performs them "
                 f"({', '.join(writers)}), but their share is 0"],
            )  # fmt: skip
        for name in writers:
            step_name = next(s.name for s in STEPS[name] if s.writes == kind)
            writes[name][step_name] = rate / writer_rate

    for name, probabilities in writes.items():
        total = sum(probabilities.values())
        if total >= 1.0 and profile.personas.get(name).share > 0:
            raise ProfileError(
                "profile",
                [f"business.write_fraction = {business.write_fraction}: {name}s would have to "
                 f"write on {total:.0%} of their screens; lower it"],
            )  # fmt: skip
    return writes


def step_probabilities(profile: Profile, persona: PersonaName) -> StepProbabilities:
    """Probability of each screen of ``persona`` (writes derived, reads by weight); sums to 1."""
    writes = write_probabilities(profile)[persona]
    weights = profile.personas.get(persona).steps
    read_total = sum(weights.values())
    remaining = 1.0 - sum(writes.values())
    probabilities: StepProbabilities = {}
    for step in STEPS[persona]:
        if step.is_write:
            probabilities[step.name] = writes.get(step.name, 0.0)
        elif read_total > 0:
            probabilities[step.name] = remaining * weights.get(step.name, 0.0) / read_total
        else:
            probabilities[step.name] = 0.0
    return probabilities


def persona_workload(profile: Profile, persona: PersonaName) -> PersonaWorkload:
    probabilities = step_probabilities(profile, persona)
    visits: dict[Endpoint, float] = defaultdict(float)
    for step in STEPS[persona]:
        for call in step.calls:
            visits[call] += probabilities[step.name]
    settings = profile.personas.get(persona)
    return PersonaWorkload(
        persona=persona,
        share=settings.share,
        think_time_s=settings.think_time_s,
        step_probabilities=probabilities,
        visits=dict(visits),
    )


def workloads(profile: Profile) -> dict[PersonaName, PersonaWorkload]:
    """Every persona's workload, keyed by persona name."""
    return {name: persona_workload(profile, name) for name in PERSONAS}


def visit_ratios(profile: Profile) -> dict[Endpoint, float]:
    """Calls to each endpoint per screen opened, over the whole persona mix.

    Personas of your own have no screens: each user cycle (``requests_per_cycle`` requests,
    then a think time) calls the endpoints in the measured ``endpoint_mix``."""
    if not profile.personas.is_marketplace():
        return {e: share * _own_requests_per_cycle(profile) for e, share in _own_mix(profile)}
    rates = _screen_rates(profile)
    total = sum(rates.values())
    mix: dict[Endpoint, float] = defaultdict(float)
    for name, work in workloads(profile).items():
        for endpoint, visits in work.visits.items():
            mix[endpoint] += visits * rates[name] / total
    return dict(mix)


def request_rate(profile: Profile, concurrent_users: float, response_time_s: float = 0.0) -> float:
    """API requests per second from ``concurrent_users`` in the persona mix.

    Each user cycles through one screen (``calls_per_step`` requests taking about
    ``response_time_s`` in all) and one think time; ``response_time_s = 0`` gives the
    upper bound used for sizing.
    """
    if concurrent_users < 0:
        raise ParameterError(f"concurrent_users must be >= 0, got {concurrent_users}")
    if not profile.personas.is_marketplace():
        return sum(
            concurrent_users * p.share * p.requests_per_cycle / (p.think_time_s + response_time_s)
            for _, p in profile.personas.items()
        )
    rps = 0.0
    for work in workloads(profile).values():
        cycle_s = work.think_time_s + response_time_s
        rps += concurrent_users * work.share * work.calls_per_step / cycle_s
    return rps


def peak_rps(profile: Profile) -> float:
    """Request rate at the profile's peak concurrency (20,000 users by default)."""
    return request_rate(profile, profile.peak_concurrent())


def business_write_fraction(profile: Profile) -> float:
    """The write fraction the source's daily volumes imply over the day-one curve.

    Shown beside ``business.write_fraction`` so that readers see how much heavier than the
    business volume the load tests write.
    """
    rates = _screen_rates(profile)
    screens_per_user_s = sum(rates.values())
    mean_concurrency = (
        profile.peak_concurrent()
        * sum(profile.day_one.hourly_fraction_of_peak)
        / len(profile.day_one.hourly_fraction_of_peak)
    )
    screens_per_day = mean_concurrency * screens_per_user_s * 86_400
    b = profile.business
    writes = b.jobs_per_day + b.bids_per_day + b.messages_per_day
    return writes / screens_per_day if screens_per_day > 0 else 0.0


def _own_mix(profile: Profile) -> list[tuple[str, float]]:
    """The measured endpoint mix of personas of your own; a ProfileError naming the fix when
    there is none."""
    if not profile.endpoint_mix:
        raise ProfileError(
            "profile",
            [
                "endpoint_mix: empty, and personas of your own have no screens to derive it "
                "from: run harness calibrate on a run of your own users; its overlay holds "
                "the measured mix and demands"
            ],
        )
    return sorted(profile.endpoint_mix.items())


def _own_requests_per_cycle(profile: Profile) -> float:
    """Requests per user cycle, averaged over personas of your own by share."""
    return sum(p.share * p.requests_per_cycle for _, p in profile.personas.items())
