"""The lab's flags, shared by ``harness run`` and ``harness serve`` (docs/lab.md).

``--instances K --cpu-limit CORES [--pooler] [--read-replicas R] [--cache]`` ask for the lab
topology; ``--lab`` takes all of them from the profile's ``[lab]`` section (a flag given beside
it wins). Without any, the service runs as one process, as always.
"""

from __future__ import annotations

import argparse

from harness.errors import UsageError
from harness.run.lab_plan import LabRequest
from models.profile import Profile

LAB_FLAGS = ("instances", "cpu_limit", "pooler", "read_replicas", "cache")


def add_lab_arguments(parser: argparse.ArgumentParser) -> None:
    """The lab's flags (module docstring)."""
    group = parser.add_argument_group("the lab (docs/lab.md)")
    group.add_argument(
        "--lab",
        action="store_true",
        help="run the service as the profile's [lab] topology (instances behind HAProxy, ...)",
    )
    group.add_argument(
        "--instances", type=int, metavar="K", help="service instances behind HAProxy"
    )
    group.add_argument(
        "--cpu-limit",
        type=float,
        metavar="CORES",
        help="CPU limit of each instance (CFS quota over 100 ms; default: 1 core)",
    )
    group.add_argument(
        "--pooler",
        action="store_true",
        default=None,
        help="PgBouncer in transaction mode between the instances and PostgreSQL",
    )
    group.add_argument(
        "--read-replicas",
        type=int,
        metavar="R",
        help="streaming replicas of the lab's own PostgreSQL serving the lag-tolerant reads",
    )
    group.add_argument(
        "--cache",
        action="store_true",
        default=None,
        help="cache the hot reads in Redis (TTL from infrastructure.cache.ttl_s)",
    )


def lab_request(
    args: argparse.Namespace, profile: Profile, workers_per_instance: int
) -> LabRequest | None:
    """The lab the flags ask for, or None (the service alone)."""
    given = {name: getattr(args, name) for name in LAB_FLAGS if getattr(args, name) is not None}
    if not args.lab and not given:
        return None
    if args.lab:
        base = LabRequest.from_profile(profile)
    else:
        if "instances" not in given:
            flags = ", ".join(f"--{name.replace('_', '-')}" for name in given)
            raise UsageError(
                f"{flags} without --instances: the lab needs its instance count; pass "
                "--instances K (or --lab for the profile's [lab] section)"
            )
        base = LabRequest(instances=1, cpu_limit=1.0, workers_per_instance=workers_per_instance)
    values = {
        "instances": given.get("instances", base.instances),
        "cpu_limit": given.get("cpu_limit", base.cpu_limit),
        "pooler": bool(given.get("pooler", base.pooler)),
        "read_replicas": given.get("read_replicas", base.read_replicas),
        "cache": bool(given.get("cache", base.cache)),
    }
    return LabRequest(**values, workers_per_instance=base.workers_per_instance)
