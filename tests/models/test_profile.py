"""The workload profile: defaults match the launch plan (docs/source-figures.md), overrides
merge, every rule names its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from models.catalogue import endpoints, read_steps
from models.profile import Profile, ProfileError, load_profile, merge, validate_profile


@pytest.fixture(scope="module")
def default() -> Profile:
    return load_profile()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_source_document(default: Profile) -> None:
    assert default.population.users == 400_000
    assert default.population.dau_ratio == 0.40
    assert default.population.concurrency_ratio == 0.125
    shares = {name: p.share for name, p in default.personas.items()}
    assert shares == {"homeowner": 0.60, "contractor": 0.35, "operator": 0.05}
    b = default.business
    assert (b.jobs_per_day, b.bids_per_day, b.messages_per_day) == (1500, 7500, 15000)
    s = default.slo
    assert (s.page_p95_ms, s.api_p50_ms, s.api_p95_ms) == (1500, 150, 800)
    assert (s.error_rate, s.availability) == (0.01, 0.995)
    a = default.infrastructure.autoscaling
    assert (a.min_instances, a.max_instances) == (8, 50)
    assert (a.scale_up_cpu, a.scale_down_cpu, a.scale_up_p95_ms, a.cooldown_s) == (
        0.70, 0.30, 800, 180,
    )  # fmt: skip
    db = default.infrastructure.database
    assert (db.pool_min, db.pool_max) == (20, 100)
    r = default.infrastructure.rate_limits
    assert (r.anonymous, r.authenticated, r.pro, r.operator) == (60, 200, 500, 1000)
    breakers = default.infrastructure.breakers
    table = {
        name: (getattr(breakers, name).failures, getattr(breakers, name).timeout_s,
               getattr(breakers, name).reset_s)
        for name in type(breakers).model_fields
    }  # fmt: skip
    assert table == {
        "database": (5, 10, 30),
        "ai": (3, 30, 60),
        "payments": (5, 15, 30),
        "sms": (5, 10, 30),
        "email": (5, 10, 30),
        "storage": (5, 15, 30),
    }
    critical = {(r.metric, r.threshold) for r in default.alerts.critical}
    assert critical == {
        ("error_rate", 0.05), ("p95_ms", 2000), ("cpu", 0.90),
        ("db_connections", 95), ("memory", 0.90), ("disk", 0.95),
    }  # fmt: skip
    warning = {(r.metric, r.threshold) for r in default.alerts.warning}
    assert warning == {
        ("error_rate", 0.02), ("p95_ms", 1000), ("cpu", 0.70), ("db_connections", 80),
        ("memory", 0.75), ("disk", 0.80), ("cache_hit_ratio", 0.70),
    }  # fmt: skip
    assert default.cost.source_breakdown == {
        "compute": 4000, "database": 2500, "cache": 500, "storage_cdn": 1000, "monitoring": 500,
    }  # fmt: skip
    assert [(c.users, c.monthly_usd) for c in default.cost.claims] == [
        (400_000, 8500), (500_000, 10_000), (750_000, 14_000), (1_000_000, 18_000),
    ]  # fmt: skip


def test_scenarios_match_the_source_document(default: Profile) -> None:
    assert set(default.scenarios) >= {"smoke", "load", "stress", "day1", "spike", "soak", "step"}
    assert [s.users for s in default.scenario_stages("smoke")] == [10]
    assert max(s.users for s in default.scenario_stages("load")) == 100
    assert max(s.users for s in default.scenario_stages("stress")) == 500
    day1 = default.scenario_stages("day1")
    assert len(day1) == 24
    assert max(s.users for s in day1) == 2000
    assert sum(s.duration_s for s in day1) == pytest.approx(900.0)


def test_derived_quantities(default: Profile) -> None:
    assert default.dau() == pytest.approx(160_000)
    assert default.peak_concurrent() == pytest.approx(20_000)
    bigger = load_profile(overrides={"population": {"users": 1_000_000}})
    assert bigger.dau() == pytest.approx(400_000)
    assert bigger.peak_concurrent() == pytest.approx(50_000)


def test_scaled_stages_multiply_users(default: Profile) -> None:
    scaled = default.scenario_stages("stress", scale=0.1)
    assert [s.users for s in scaled] == [10, 20, 30, 40, 50]
    with pytest.raises(KeyError, match="unknown scenario 'nope'"):
        default.scenario_stages("nope")


def test_partial_file_overrides_key_by_key(tmp_path: Path, default: Profile) -> None:
    path = write(tmp_path, "[population]\nusers = 500000\n[slo]\napi_p95_ms = 600.0\n")
    profile = load_profile(path)
    assert profile.population.users == 500_000
    assert profile.population.dau_ratio == default.population.dau_ratio  # untouched sibling
    assert profile.slo.api_p95_ms == 600.0
    assert profile.slo.api_p50_ms == default.slo.api_p50_ms


def test_merge_replaces_lists_and_merges_tables() -> None:
    base = {"a": {"x": 1, "y": 2}, "l": [1, 2]}
    assert merge(base, {"a": {"y": 3}, "l": [9]}) == {"a": {"x": 1, "y": 3}, "l": [9]}
    assert base == {"a": {"x": 1, "y": 2}, "l": [1, 2]}  # inputs untouched


def test_round_trip_through_toml(tmp_path: Path, default: Profile) -> None:
    path = write(tmp_path, default.to_toml())
    assert load_profile(path) == default


def test_profile_is_immutable(default: Profile) -> None:
    with pytest.raises(ValueError, match="frozen"):
        default.population.users = 3


BAD_VALUES: list[tuple[str, str, str]] = [
    ("[population]\ndau_ratio = 1.4", "population.dau_ratio = 1.4", "between 0 and 1"),
    ("[population]\nconcurrency_ratio = -0.1", "population.concurrency_ratio", "between 0 and 1"),
    ("[population]\nusers = 0", "population.users = 0", ">= 1"),
    ("[population]\nusers = 1.5", "population.users = 1.5", "integer"),
    ("[population]\nusers = 'many'", "population.users = 'many'", "must be a number"),
    # pydantic's lax mode would read these as 1, 0.4 and 1.0 ms: typed TOML must stay typed
    ("[population]\nusers = true", "population.users = True", "not true/false"),
    ('[population]\ndau_ratio = "0.4"', "population.dau_ratio = '0.4'", "remove the quotes"),
    ("[slo]\napi_p95_ms = true", "slo.api_p95_ms = True", "not true/false"),
    ("[day_one]\nlaunch_hour = false", "day_one.launch_hour = False", "not true/false"),
    ('name = "  "', "name = '  '", "must not be empty"),
    ("[personas.homeowner]\nshare = 0.7", "shares must sum to 1", "sum to 1.1"),
    ("[personas.operator]\nthink_time_s = 0", "personas.operator.think_time_s = 0", "positive"),
    ("[personas.contractor]\nthink_time_distribution = 'pareto'", "think_time_distribution", ""),
    ("[personas.homeowner.steps]\nteleport = 5", "personas.homeowner.steps.teleport", "unknown"),
    ("[personas.homeowner.steps]\npost_job = 5", "personas.homeowner.steps.post_job", "derived"),
    ("[slo]\napi_p50_ms = 900.0", "slo.api_p50_ms = 900.0", "api_p95_ms"),
    ("[slo]\nerror_rate = 2", "slo.error_rate = 2", "between 0 and 1"),
    ("[business]\nwrite_fraction = 1.0", "business.write_fraction = 1.0", "below 1"),
    (
        "[infrastructure.autoscaling]\nmin_instances = 60",
        "infrastructure.autoscaling.min_instances = 60",
        "max_instances",
    ),
    (
        "[infrastructure.autoscaling]\nscale_down_cpu = 0.8",
        "infrastructure.autoscaling.scale_down_cpu = 0.8",
        "scale_up_cpu",
    ),
    (
        "[infrastructure.database]\npool_min = 200",
        "infrastructure.database.pool_min = 200",
        "pool_max",
    ),
    ("[infrastructure.breakers.ai]\nreset_s = -1", "infrastructure.breakers.ai.reset_s", ""),
    (
        "[infrastructure.database]\nmax_client_connections = 50",
        "infrastructure.database.pool_max = 100",
        "max_client_connections (50)",
    ),
    ("[infrastructure]\nload_balancer = 'roundrobin'", "infrastructure.load_balancer", "leastconn"),
    ("[infrastructure]\ninstance_vcpus = 0", "infrastructure.instance_vcpus = 0", "positive"),
    (
        "[infrastructure.cache]\nhit_ratio = 1.5",
        "infrastructure.cache.hit_ratio",
        "between 0 and 1",
    ),
    ("[lab]\ninstances = 0", "lab.instances = 0", ">= 1"),
    ("[lab]\ncpu_limit = -0.5", "lab.cpu_limit = -0.5", "positive"),
    ("[lab]\nread_replicas = -1", "lab.read_replicas = -1", ">= 0"),
    (
        "[infrastructure.autoscaling]\nevaluation_period_s = 0",
        "infrastructure.autoscaling.evaluation_period_s = 0",
        "positive",
    ),
    (
        "[infrastructure.database]\nacquire_timeout_s = 0.0",
        "infrastructure.database.acquire_timeout_s = 0.0",
        "positive",
    ),
    (
        "[scenarios.smoke]\nstages = [{ users = 10, duration_s = 0.0, spawn_rate = 5.0 }]",
        "scenarios.smoke.stages.0.duration_s = 0.0",
        "positive",
    ),
    (
        '[alerts]\ncritical = [{ metric = "cpuu", op = ">", threshold = 0.9 }]',
        "alerts.critical.0.metric = 'cpuu'",
        "'cpu'",
    ),
    ("[scenarios.teleport]\nstages = []", "scenarios.teleport", "unknown scenario"),
    (
        "[scenarios.smoke]\nstages = [{ users = 100, duration_s = 10.0, spawn_rate = 1.0 }]",
        "scenarios.smoke.stages[0].duration_s = 10.0",
        "must fit inside the stage",
    ),
    (
        "[scenarios.smoke]\nday_curve = { peak_users = 5, duration_s = 10.0, spawn_rate = 1.0 }",
        "scenarios.smoke",
        "exactly one",
    ),
    ("[day_one]\nhourly_fraction_of_peak = [0.5]", "day_one.hourly_fraction_of_peak", "24"),
    ("[day_one]\nlaunch_hour = 24", "day_one.launch_hour = 24", "0 to 23"),
    (
        '[service_demands]\n"GET /nowhere" = { cpu_ms = 1.0, db_ms = 1.0 }',
        "GET /nowhere",
        "unknown",
    ),
    ('[service_demands."GET /jobs"]\ncpu_ms = -2.0', "service_demands.GET /jobs.cpu_ms", ">= 0"),
    ("[cost]\ninstance_hourly_usd = -1.0", "cost.instance_hourly_usd = -1.0", ">= 0"),
    ("[population]\nusres = 3", "population.usres", "did you mean 'users'"),
    ("[slo]\np99_ms = 3.0", "slo.p99_ms", "unknown key"),
    ("[teleport]\nx = 1", "teleport", "unknown key"),
]


@pytest.mark.parametrize(("text", "where", "expected"), BAD_VALUES)
def test_bad_values_are_rejected_with_the_key_named(
    tmp_path: Path, text: str, where: str, expected: str
) -> None:
    path = write(tmp_path, text + "\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert str(path) in message
    assert where in message
    assert expected in message


def test_persona_shares_may_miss_1_by_float_noise_only(tmp_path: Path) -> None:
    """Shares must sum to 1 within 1e-9: rounding noise passes, a real shortfall does not."""
    noisy = "[personas.homeowner]\nshare = 0.6000000000001\n"  # sum 1 + 1e-13
    assert load_profile(write(tmp_path, noisy)).personas.get("homeowner").share == 0.6000000000001
    off = "[personas.homeowner]\nshare = 0.600001\n"  # sum 1 + 1e-6
    with pytest.raises(ProfileError, match=r"shares must sum to 1 \(they sum to 1.000001\)"):
        load_profile(write(tmp_path, off))


def test_missing_file_and_bad_syntax_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="file not found"):
        load_profile(tmp_path / "absent.toml")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(write(tmp_path, "[population\nusers = 1"))


def test_overrides_are_validated_too() -> None:
    with pytest.raises(ProfileError, match=r"command-line overrides: population.dau_ratio = 3.0"):
        load_profile(overrides={"population": {"dau_ratio": 3.0}})


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "[population]\ndau_ratio = 2.0\nconcurrency_ratio = 2.0\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert len(caught.value.problems) == 2


def test_missing_required_key_is_named() -> None:
    data: dict[str, Any] = load_profile().model_dump(mode="json")
    del data["population"]["users"]
    with pytest.raises(ProfileError, match="population.users: required key is missing"):
        validate_profile(data)


def test_the_lab_profile_is_the_lab_topology_as_infrastructure(default: Profile) -> None:
    lab = default.lab_profile()
    infra = lab.infrastructure
    assert infra.instance_vcpus == default.lab.cpu_limit == 0.25  # a fractional CPU limit
    assert infra.workers_per_instance == default.lab.workers_per_instance
    scaling = infra.autoscaling
    assert scaling.min_instances == scaling.max_instances == default.lab.instances  # fixed fleet
    assert infra.database.read_replicas == default.lab.read_replicas
    assert infra.database.pooler is default.lab.pooler
    assert infra.cache.enabled is default.lab.cache
    # Everything else is the launch profile's own.
    assert lab.population == default.population and lab.service_demands == default.service_demands
    assert infra.database.pool_max == default.infrastructure.database.pool_max


def test_default_demands_cover_every_catalogue_endpoint(default: Profile) -> None:
    assert set(default.service_demands) == set(endpoints())
    for name, persona in default.personas.marketplace():
        assert set(persona.steps) == set(read_steps(name))


# --- personas of your own ----------------------------------------------------------------------

OWN_PERSONAS = """
[personas.buyer]
share = 0.7
think_time_s = 5
[personas.seller]
share = 0.3
think_time_s = 8
think_time_distribution = "constant"
"""


def test_own_personas_replace_the_marketplaces(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, OWN_PERSONAS))
    assert profile.personas.names() == ("buyer", "seller")
    assert profile.personas.get("seller").think_time_distribution == "constant"
    assert not profile.personas.is_marketplace()
    with pytest.raises(ProfileError, match="know homeowner, contractor, operator only"):
        list(profile.personas.marketplace())
    # written and read back: the resolved profile keeps them
    again = load_profile(write(tmp_path, profile.to_toml()))
    assert again.personas.names() == ("buyer", "seller")


def test_marketplace_personas_still_merge_key_by_key(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "[personas.homeowner]\nthink_time_s = 9\n"))
    assert profile.personas.names() == ("homeowner", "contractor", "operator")
    assert profile.personas.get("homeowner").think_time_s == 9
    assert [name for name, _ in profile.personas.marketplace()] == list(profile.personas.names())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (OWN_PERSONAS.replace("0.3", "0.2"), "buyer=0.7, seller=0.2: shares must sum to 1"),
        (OWN_PERSONAS + "shar = 1\n", "personas.seller.shar: unknown key; did you mean 'share'?"),
        (OWN_PERSONAS + "steps = {browse = 1}\n", "personas.seller.steps: screens are the bundled"),
    ],
)
def test_own_personas_are_checked(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, text))
    assert expected in str(caught.value)


def test_own_personas_plan_from_the_measured_mix(tmp_path: Path) -> None:
    from models.workload import request_rate, visit_ratios

    mix = (
        '\n[endpoint_mix]\n"GET /a" = 0.75\n"GET /b" = 0.25\n'
        '[service_demands."GET /a"]\ncpu_ms = 2\ndb_ms = 0\n'
        '[service_demands."GET /b"]\ncpu_ms = 6\ndb_ms = 1\n'
    )
    profile = load_profile(write(tmp_path, OWN_PERSONAS + mix))
    # buyer: 0.7 / 5 s, seller: 0.3 / 8 s, one request per cycle each
    assert request_rate(profile, 1000) == pytest.approx(1000 * (0.7 / 5 + 0.3 / 8))
    assert visit_ratios(profile) == pytest.approx({"GET /a": 0.75, "GET /b": 0.25})
    with pytest.raises(ProfileError, match="endpoint_mix: empty"):
        visit_ratios(load_profile(write(tmp_path, OWN_PERSONAS)))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('\n[endpoint_mix]\n"GET /a" = 0.5\n', "endpoint_mix: shares must sum to 1"),
        ('\n[endpoint_mix]\n"GET /a" = 1.0\n', "missing a demand for 'GET /a'"),
    ],
)
def test_a_measured_mix_is_checked(tmp_path: Path, extra: str, expected: str) -> None:
    with pytest.raises(ProfileError, match=expected):
        load_profile(write(tmp_path, OWN_PERSONAS + extra))


def test_every_problem_in_one_pass(tmp_path: Path) -> None:
    text = "[population]\nuserz = 5\ndau_ratio = 1.4\n[personas.homeowner.steps]\nteleport = 5\n"
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, text))
    problems = caught.value.problems
    assert any(
        p.startswith("population.userz: unknown key; did you mean 'users'") for p in problems
    )
    assert any(p.startswith("population.dau_ratio = 1.4") for p in problems)
    # a rule across keys, found although other keys are malformed
    assert any(p.startswith("personas.homeowner.steps.teleport") for p in problems)
    assert len(problems) == 3


def _schema_keys(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A schema node with its $ref resolved."""
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _check_against_schema(schema: dict[str, Any], node: dict[str, Any], data: Any, at: str) -> None:
    node = _schema_keys(schema, node)
    if not isinstance(data, dict):
        return
    properties = node.get("properties")
    for key, value in data.items():
        if properties is not None:
            assert key in properties, f"{at}.{key} is not in the schema"
            _check_against_schema(schema, properties[key], value, f"{at}.{key}")
        elif isinstance(node.get("additionalProperties"), dict):
            _check_against_schema(schema, node["additionalProperties"], value, f"{at}.{key}")


def test_the_schema_knows_every_key_of_the_default_and_requires_none() -> None:
    import json
    import tomllib

    from models.profile import default_profile_text, profile_schema

    schema = profile_schema()
    text = json.dumps(schema)
    assert '"required"' not in text  # a file may be partial: the default fills the rest
    assert schema["additionalProperties"] is False  # unknown keys are errors, for editors too
    _check_against_schema(schema, schema, tomllib.loads(default_profile_text()), "profile")
    persona = _schema_keys(schema, schema["properties"]["personas"])
    assert _schema_keys(schema, persona["additionalProperties"])["additionalProperties"] is False
