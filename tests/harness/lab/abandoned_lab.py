"""A lab that its test SIGKILLs: ``python abandoned_lab.py STATE_DIR WORK_DIR`` builds a
PostgreSQL primary and replica, PgBouncer, HAProxy and a CPU group with a process in it (that
process is recorded only through its group), prints ``ready`` and waits to be killed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from harness.lab.cgroups import CpuGroup, CpuLimit
from harness.lab.cleanup import LabLedger
from harness.lab.haproxy import HAProxy
from harness.lab.pgbouncer import PgBouncer
from harness.lab.postgres import LabPostgres, PostgresSettings
from harness.run.service import free_port


def main(state_dir: Path, work_dir: Path) -> None:
    ledger = LabLedger(state_dir, work_dir).open()
    database = LabPostgres(ledger, PostgresSettings(replicas=1)).start()
    assert database.primary is not None
    PgBouncer(ledger, database.primary.port).start()
    HAProxy(ledger, (free_port(),)).start()
    group = CpuGroup(f"abandoned-{os.getpid()}")
    ledger.record_cgroup(group.directories)
    group.create(CpuLimit(0.1))
    member = subprocess.Popen(["sleep", "600"], start_new_session=True)
    group.add(member.pid)
    print("ready", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
