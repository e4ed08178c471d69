"""The one derivation of the workload that the journeys and the model share."""

from __future__ import annotations

import pytest

from models.catalogue import (
    LOGIN_CALLS,
    PERSONAS,
    STEPS,
    WriteKind,
    endpoints,
    split_endpoint,
    step,
)
from models.profile import Profile, ProfileError, load_profile
from models.workload import (
    business_write_fraction,
    peak_rps,
    request_rate,
    step_probabilities,
    visit_ratios,
    workloads,
)


@pytest.fixture(scope="module")
def default() -> Profile:
    return load_profile()


def expected_writes_per_second(profile: Profile, kind: WriteKind, users: float) -> float:
    """Writes of ``kind`` per second from ``users`` in the mix, straight from the definitions."""
    total = 0.0
    for name, work in workloads(profile).items():
        screens_per_s = users * work.share / work.think_time_s
        for s in STEPS[name]:
            if s.writes == kind:
                total += screens_per_s * work.step_probabilities[s.name]
    return total


def test_probabilities_sum_to_one(default: Profile) -> None:
    for persona in PERSONAS:
        assert sum(step_probabilities(default, persona).values()) == pytest.approx(1.0, abs=1e-12)


def test_jobs_bids_messages_are_one_five_ten(default: Profile) -> None:
    jobs = expected_writes_per_second(default, WriteKind.JOB, 1000)
    bids = expected_writes_per_second(default, WriteKind.BID, 1000)
    messages = expected_writes_per_second(default, WriteKind.MESSAGE, 1000)
    assert bids / jobs == pytest.approx(5.0, rel=1e-9)
    assert messages / jobs == pytest.approx(10.0, rel=1e-9)


def test_write_fraction_is_what_the_profile_says(default: Profile) -> None:
    users = 1000.0
    screens = sum(users * w.share / w.think_time_s for w in workloads(default).values())
    core = sum(
        expected_writes_per_second(default, k, users)
        for k in (WriteKind.JOB, WriteKind.BID, WriteKind.MESSAGE)
    )
    assert core / screens == pytest.approx(default.business.write_fraction, rel=1e-9)


def test_awards_and_withdrawals_follow_their_ratios(default: Profile) -> None:
    jobs = expected_writes_per_second(default, WriteKind.JOB, 1000)
    bids = expected_writes_per_second(default, WriteKind.BID, 1000)
    awards = expected_writes_per_second(default, WriteKind.AWARD, 1000)
    withdrawals = expected_writes_per_second(default, WriteKind.WITHDRAWAL, 1000)
    assert awards / jobs == pytest.approx(default.business.awards_per_job)
    assert withdrawals / bids == pytest.approx(default.business.withdrawals_per_bid)


def test_read_screens_keep_the_profile_weights(default: Profile) -> None:
    probabilities = step_probabilities(default, "homeowner")
    weights = default.personas.get("homeowner").steps
    ratio = probabilities["dashboard"] / probabilities["search_jobs"]
    assert ratio == pytest.approx(weights["dashboard"] / weights["search_jobs"])


def test_operators_never_write(default: Profile) -> None:
    assert all(not s.is_write for s in STEPS["operator"])


def test_too_many_writes_is_a_profile_error() -> None:
    profile = load_profile(overrides={"business": {"write_fraction": 0.95}})
    with pytest.raises(ProfileError, match="business.write_fraction = 0.95"):
        step_probabilities(profile, "homeowner")


def test_bids_without_contractors_is_a_profile_error() -> None:
    profile = load_profile(
        overrides={"personas": {"contractor": {"share": 0.0}, "homeowner": {"share": 0.95}}}
    )
    with pytest.raises(ProfileError, match="bid writes need a persona"):
        step_probabilities(profile, "homeowner")


def test_no_writes_when_write_fraction_is_zero() -> None:
    profile = load_profile(overrides={"business": {"write_fraction": 0.0}})
    probabilities = step_probabilities(profile, "contractor")
    assert probabilities["place_bid"] == 0.0
    assert sum(probabilities.values()) == pytest.approx(1.0)


def test_visit_ratios_cover_the_catalogue(default: Profile) -> None:
    ratios = visit_ratios(default)
    assert set(ratios) <= set(endpoints())
    assert all(v > 0 for v in ratios.values())
    steady = set(endpoints()) - set(LOGIN_CALLS)
    assert steady - {"GET /me"} <= set(ratios)


def test_request_rate_is_linear_and_matches_the_peak(default: Profile) -> None:
    assert request_rate(default, 0) == 0
    assert request_rate(default, 2000) == pytest.approx(request_rate(default, 1000) * 2)
    assert peak_rps(default) == pytest.approx(request_rate(default, 20_000))
    # 20,000 users: 12,000 homeowners at 2.14 calls per 30 s screen, 7,000 contractors at
    # 1.30 calls per 20 s, 1,000 operators at 1 call per 45 s: about 1,333 requests/s.
    assert peak_rps(default) == pytest.approx(1333, rel=0.01)
    assert request_rate(default, 1000, response_time_s=1.0) < request_rate(default, 1000)
    with pytest.raises(ValueError, match="-1"):
        request_rate(default, -1)


def test_business_volumes_imply_a_tiny_write_fraction(default: Profile) -> None:
    assert 0 < business_write_fraction(default) < default.business.write_fraction


def test_catalogue_lookup_and_endpoint_names() -> None:
    assert step("contractor", "place_bid").writes is WriteKind.BID
    with pytest.raises(KeyError, match="known: "):
        step("operator", "place_bid")
    assert split_endpoint("GET /jobs/{job_id}") == ("GET", "/jobs/{job_id}")
    with pytest.raises(ValueError, match="METHOD /path"):
        split_endpoint("jobs")


def test_replica_and_cache_endpoints_are_catalogue_reads() -> None:
    from models.catalogue import CACHEABLE_ENDPOINTS, READ_REPLICA_ENDPOINTS, endpoints

    known = set(endpoints())
    for group in (READ_REPLICA_ENDPOINTS, CACHEABLE_ENDPOINTS):
        assert group <= known
        assert all(name.startswith("GET ") for name in group)  # only reads
    # A cached read is one that tolerates staleness, so it tolerates a replica's lag too.
    assert CACHEABLE_ENDPOINTS <= READ_REPLICA_ENDPOINTS
