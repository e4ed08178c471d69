"""The lab's front door: what HAProxy and PgBouncer cost per request (docs/benchmarks.md, "The
lab's front door").

    .venv/bin/python benchmarks/bench_lab.py [--cpu-limit 0.5] [--seconds 8] [--rounds 3]
                                             [--clients 8] [--path /territories]

In one run, on one lab PostgreSQL made for it: instance A behind HAProxy, connecting through
PgBouncer (transaction mode), and instance B reached directly, connecting to PostgreSQL
directly, each in a CPU group with the same limit on the service core. The same closed loop of
``--clients`` threads (keep-alive, on the load core) requests ``GET --path`` from each in
turn for ``--seconds``, ``--rounds`` times (A, B, A, B, ...). Per path: requests/s, the
instance's CPU per request (its group's counter), and for A the CPU HAProxy's and PgBouncer's
processes used per request (``/proc/<pid>/stat``), as a share of the instance's. Medians of
the rounds. Needs root (or delegated cgroups), haproxy, pgbouncer and the PostgreSQL server
binaries, and Redis (``$REDIS_URL``) for the instances' shared state.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from harness.lab.cgroups import CpuGroup, CpuLimit  # noqa: E402
from harness.lab.pgbouncer import PoolSizing  # noqa: E402
from harness.lab.topology import LabTopology  # noqa: E402
from harness.run.lab_plan import LabPlan  # noqa: E402
from harness.run.lab_target import LabService  # noqa: E402
from harness.run.service import BundledService, ServiceConfig, profile_environment  # noqa: E402
from models.profile import load_profile  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Rate limits no benchmark client reaches: the figure is the proxies', not the limiter's.
UNLIMITED = {"anonymous": 10**7, "authenticated": 10**7, "pro": 10**7, "operator": 10**7}


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class Round:
    requests: int
    errors: int
    seconds: float
    service_cpu_s: float
    proxies_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def service_ms(self) -> float:
        return 1000 * self.service_cpu_s / max(self.requests, 1)

    @property
    def proxies_ms(self) -> float:
        return 1000 * self.proxies_cpu_s / max(self.requests, 1)


def hammer(url: str, clients: int, seconds: float) -> tuple[int, int, float]:
    """``clients`` threads requesting ``url`` back to back for ``seconds``: (ok, errors, s)."""
    counts = [[0, 0] for _ in range(clients)]
    stop = threading.Event()

    def loop(slot: list[int]) -> None:
        with httpx.Client(timeout=10.0) as client:
            while not stop.is_set():
                try:
                    ok = client.get(url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                slot[0 if ok else 1] += 1

    threads = [threading.Thread(target=loop, args=(slot,)) for slot in counts]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(c[0] for c in counts), sum(c[1] for c in counts), time.perf_counter() - started


def measure(url: str, group: CpuGroup, proxies: list[int], clients: int, seconds: float) -> Round:
    before, proxies_before = group.usage(), sum(process_cpu_s(pid) for pid in proxies)
    ok, errors, elapsed = hammer(url, clients, seconds)
    used = group.usage().since(before)
    proxies_cpu = sum(process_cpu_s(pid) for pid in proxies) - proxies_before
    return Round(ok, errors, elapsed, used.usage_s, proxies_cpu)


def start_lab(cpu_limit: float, work: Path) -> tuple[LabService, BundledService, CpuGroup]:
    """Instance A behind HAProxy and PgBouncer (the lab), and instance B in a group of its own
    with the same limit, connecting to the lab's PostgreSQL directly."""
    profile = load_profile(overrides={"infrastructure": {"rate_limits": UNLIMITED}})
    db = profile.infrastructure.database
    topology = LabTopology(
        instances=1,
        cpu_limit=cpu_limit,
        pool_per_worker=db.worker_pool_size,
        pooler=True,
        pooler_sizing=PoolSizing(default_pool_size=20, max_client_conn=100),
        postgres_max_connections=60,
        cache=False,
    )
    plan = LabPlan(topology, None, own_postgres=True, database_name="labrun_bench")
    config = ServiceConfig(environment=profile_environment(profile))
    lab = LabService(config, plan, profile, work)
    lab.launch().wait_until_ready()
    assert lab.ledger is not None and lab.direct_database_url is not None
    group = CpuGroup(f"{lab.ledger.path.stem}-direct")
    lab.ledger.record_cgroup(group.directories)
    group.create(CpuLimit(cpu_limit, frozenset(topology.service_cores)))
    metrics = work / "metrics-direct"
    metrics.mkdir()
    environment = {
        **lab.instance_environment(),
        "DB_POOLER": "0",
        "INSTANCE_NAME": "direct",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }
    direct = BundledService(
        ServiceConfig(
            database_url=lab.direct_database_url,
            seed=False,
            environment=tuple(sorted(environment.items())),
        ),
        work / "direct.log",
        preexec=lambda: group.add(os.getpid()),
    ).start()
    return lab, direct, group


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-limit", type=float, default=0.5)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--path", default="/territories")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lab-") as scratch:
        work = Path(scratch)
        lab, direct, group = start_lab(args.cpu_limit, work)
        try:
            assert lab.balancer is not None and lab.balancer.process is not None
            assert lab.pooler is not None and lab.pooler.process is not None
            proxies = [lab.balancer.process.pid, lab.pooler.process.pid]
            front, front_group = lab.url + args.path, lab.instances[0].group
            back = direct.url + args.path
            hammer(front, args.clients, 2.0)  # warm both: pools filled, code paths loaded
            hammer(back, args.clients, 2.0)
            a: list[Round] = []
            b: list[Round] = []
            for _ in range(args.rounds):
                a.append(measure(front, front_group, proxies, args.clients, args.seconds))
                b.append(measure(back, group, [], args.clients, args.seconds))
        finally:
            direct.stop()
            lab.stop()
    report(args, a, b)
    return 0


def report(args: argparse.Namespace, a: list[Round], b: list[Round]) -> None:
    def med(rounds: list[Round], key: str) -> float:
        return float(statistics.median(getattr(r, key) for r in rounds))

    print(
        f"GET {args.path}, {args.clients} clients, {args.seconds:g} s x {args.rounds} rounds, "
        f"CPU limit {args.cpu_limit:g} core per instance (medians)"
    )
    print("path                         req/s   service CPU ms/req  proxies CPU ms/req  errors")
    print(
        f"HAProxy + PgBouncer (A)  {med(a, 'rps'):9.1f}   {med(a, 'service_ms'):18.3f}  "
        f"{med(a, 'proxies_ms'):18.3f}  {sum(r.errors for r in a)}"
    )
    print(
        f"direct (B)               {med(b, 'rps'):9.1f}   {med(b, 'service_ms'):18.3f}  "
        f"{'-':>18}  {sum(r.errors for r in b)}"
    )
    share = [r.proxies_ms / r.service_ms for r in a if r.service_ms > 0]
    print(
        f"proxies per request / service per request (A): {statistics.median(share):.1%} "
        f"(goal: under 10%); throughput A / B: {med(a, 'rps') / med(b, 'rps'):.3f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
