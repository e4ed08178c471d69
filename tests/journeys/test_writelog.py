"""The write log: JSONL through to the file, or buffered and shipped from a worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from journeys.writelog import WriteLog, WriteRecord, read_write_log
from models.catalogue import WriteKind


def _record(i: int, kind: WriteKind = WriteKind.BID) -> WriteRecord:
    return WriteRecord(kind=kind, id=i, persona="contractor", account=f"contractor{i}@seed.example",
                       parent_id=100 + i, stage=1, at=1_764_342_000.0 + i, worker=2)  # fmt: skip


def test_local_log_writes_through_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "stats" / "writes.jsonl"
    log = WriteLog(path)
    assert path.exists() and path.read_text() == ""  # an empty log is still a log
    log.append(_record(1, WriteKind.JOB))
    log.add_many([_record(2), _record(3, WriteKind.MESSAGE)])
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0])["kind"] == "job"
    assert read_write_log(path) == [
        _record(1, WriteKind.JOB),
        _record(2),
        _record(3, WriteKind.MESSAGE),
    ]
    assert log.count == 3 and log.records == read_write_log(path)


def test_worker_log_buffers_until_drained(tmp_path: Path) -> None:
    path = tmp_path / "writes.jsonl"
    worker = WriteLog(path, ship=True)
    worker.add_many([_record(1), _record(2)])
    assert not path.exists()  # a worker never writes the file; the master does
    shipped = worker.drain()
    assert worker.drain() == []
    master = WriteLog(path)
    master.add_many(WriteRecord.from_json(r) for r in shipped)
    assert read_write_log(path) == [_record(1), _record(2)]


def test_a_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "writes.jsonl"
    path.write_text(json.dumps(_record(1).to_json()) + '\n{"kind": "bid"}\n')
    with pytest.raises(ValueError, match=r"writes.jsonl:2"):
        read_write_log(path)
