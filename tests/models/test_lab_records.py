"""run.json's ``lab`` record is read back exactly as written, and a malformed one is refused
with the key's path."""

from __future__ import annotations

import json

import pytest

from models.json_fields import JsonFields, RecordError
from models.lab_records import (
    BalancerSummary,
    CacheSummary,
    InstanceSummary,
    LabReconciliation,
    LabRecord,
    PoolerSummary,
    ReplicaSummary,
)

RECORD = LabRecord(
    topology={"instances": 2, "cpu_limit_cores": 0.25, "pooler": True},
    placement={"service_cores": [0], "load_cores": [1]},
    instances=(
        InstanceSummary("instance_1", 0.25, 1.5, 0.05, 300, 2, 0.04, True),
        InstanceSummary("instance_2", 0.25, 1.2, 0.04, 280, 0, 0.0, False),
    ),
    balancer=(BalancerSummary("instance_1", 80, 3, 0, 500, 0, "UP"),),
    pooler=PoolerSummary(15, 0, 12, 20, 0.0, 594),
    replicas=(
        ReplicaSummary("replica_1", 0, 0.0079, 24),
        ReplicaSummary("replica_2", None, None, 0),
    ),
    cache=CacheSummary(0, 0, None, "the service exposes no cache_requests_total metric"),
    reconciliation=LabReconciliation(59, 82, 82, True, "probes too"),
    samples=168,
    sample_errors=("1.0 OperationalError: restarting",),
)


def test_the_lab_record_reads_back_as_written_through_json() -> None:
    written = json.loads(json.dumps(RECORD.to_json()))
    again = LabRecord.from_json(JsonFields(written))
    assert again == RECORD
    assert again.to_json() == written


def test_a_lab_without_pooler_or_cache_reads_back_with_none() -> None:
    bare = LabRecord({}, {}, (), (), None, (), None, None, 0)
    assert LabRecord.from_json(JsonFields(bare.to_json())) == bare


def test_a_malformed_lab_record_names_the_key() -> None:
    written = RECORD.to_json()
    written["instances"][0]["periods"] = "many"  # type: ignore[index]
    with pytest.raises(RecordError, match=r"periods = 'many': expected an integer"):
        LabRecord.from_json(JsonFields(written))
