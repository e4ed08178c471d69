"""CPU limits the way a container gets them: a CFS quota over the 100 ms period Kubernetes uses
(``cpu: 500m`` is 50 ms of CPU time in every 100 ms), and cpuset pinning to given cores.

Each limited process gets a group of its own under a parent the harness owns
(``capacity-harness``), so its CPU use and throttling can be read alone. Both cgroup layouts
are supported, detected from the mount:

* **v1** (one hierarchy per controller): ``cpu/<group>/cpu.cfs_quota_us`` and
  ``cpu.cfs_period_us``; ``cpu.stat`` with ``nr_periods``, ``nr_throttled`` and
  ``throttled_time`` (ns); ``cpuacct/<group>/cpuacct.usage`` (ns, the ``cpu`` directory when
  ``cpu,cpuacct`` are mounted together); ``cpuset/<group>/cpuset.cpus`` and ``cpuset.mems``
  (an empty cpuset admits no process, so both are always written).
* **v2** (one unified tree): ``<group>/cpu.max`` (``"<quota> <period>"``), ``cpu.stat`` with
  ``usage_usec``, ``nr_periods``, ``nr_throttled`` and ``throttled_usec``, ``cpuset.cpus``;
  the ``cpu`` and ``cpuset`` controllers are enabled for the children of the root and of the
  parent through ``cgroup.subtree_control``.

Processes forked after a process joined a group are in it too, so a service is added before
it starts its workers. A group is removed with its members moved back to the root group, or
killed (the lab's cleanup kills: they are the lab's own). The parent stays: it is empty, and
another lab may be creating groups in it. Writing there needs root or a delegated subtree;
without it the error names the path and both fixes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from harness.errors import UsageError

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT_GROUP = "capacity-harness"
PERIOD_US = 100_000
"""The CFS period Kubernetes sets for every container's CPU limit."""
MIN_QUOTA_US = 1_000
"""The smallest quota the kernel accepts."""
REMOVE_TIMEOUT_S = 5.0


class CgroupVersion(StrEnum):
    V1 = "v1"
    V2 = "v2"


class CgroupUnavailable(UsageError):
    """The machine cannot give the lab CPU limits: no controller mounted, or no permission."""


@dataclass(frozen=True, slots=True)
class CgroupLayout:
    """Where the controllers are mounted. In v2 all three are the unified root."""

    version: CgroupVersion
    cpu: Path
    cpuacct: Path
    cpuset: Path

    def hierarchies(self) -> tuple[Path, ...]:
        """Each mounted hierarchy the lab's groups live in, once."""
        return tuple(dict.fromkeys((self.cpu, self.cpuacct, self.cpuset)))


def detect_layout(root: Path = CGROUP_ROOT) -> CgroupLayout:
    """The cgroup layout mounted at ``root`` (see the module docstring)."""
    controllers = root / "cgroup.controllers"
    if controllers.is_file():
        available = set(controllers.read_text().split())
        missing = {"cpu", "cpuset"} - available
        if missing:
            raise CgroupUnavailable(
                f"{controllers} lists {sorted(available)}, without {sorted(missing)}: the lab's "
                "CPU limits need the cpu and cpuset controllers of cgroup v2"
            )
        return CgroupLayout(CgroupVersion.V2, root, root, root)
    cpu = next(
        (
            path
            for path in (root / "cpu", root / "cpu,cpuacct")
            if (path / "cpu.cfs_quota_us").is_file()
        ),
        None,
    )
    cpuset = root / "cpuset"
    if cpu is None or not (cpuset / "cpuset.cpus").is_file():
        raise CgroupUnavailable(
            f"no cgroup cpu and cpuset controllers under {root} (neither v2's cgroup.controllers "
            "nor v1's cpu/cpu.cfs_quota_us and cpuset/cpuset.cpus): the lab's CPU limits need "
            "them; on a container, run it with --cgroupns=host or a writable /sys/fs/cgroup"
        )
    cpuacct = root / "cpuacct"
    if not (cpuacct / "cpuacct.usage").is_file():
        cpuacct = cpu
    return CgroupLayout(CgroupVersion.V1, cpu, cpuacct, cpuset)


@dataclass(frozen=True, slots=True)
class CpuLimit:
    """A container's CPU limit: ``cores`` of CPU time per period, on ``cpus`` (None: on the
    cores the parent allows)."""

    cores: float
    cpus: frozenset[int] | None = None
    period_us: int = PERIOD_US

    def __post_init__(self) -> None:
        if not self.cores > 0:
            raise UsageError(f"cpu limit: {self.cores} cores; expected more than 0")
        if self.quota_us < MIN_QUOTA_US:
            raise UsageError(
                f"cpu limit: {self.cores} cores is a quota of {self.quota_us} us per "
                f"{self.period_us} us period; the kernel needs at least {MIN_QUOTA_US} us"
            )

    @property
    def quota_us(self) -> int:
        return round(self.cores * self.period_us)


@dataclass(frozen=True, slots=True)
class CpuUsage:
    """A group's counters since it was created: CPU time used, CFS periods in which it had
    runnable work, how many of those hit the quota, and the time it waited for the next one."""

    usage_s: float
    periods: int
    throttled_periods: int
    throttled_s: float

    def since(self, earlier: CpuUsage) -> CpuUsage:
        return CpuUsage(
            self.usage_s - earlier.usage_s,
            self.periods - earlier.periods,
            self.throttled_periods - earlier.throttled_periods,
            self.throttled_s - earlier.throttled_s,
        )

    @property
    def throttled_share(self) -> float:
        """Of the periods with work, the share that ran out of quota (0 without periods)."""
        return self.throttled_periods / self.periods if self.periods else 0.0


def _permission_error(path: Path, exc: OSError) -> CgroupUnavailable:
    # The harness's parent group: the one to delegate (path is in it, or beside it).
    parent = next(
        (ancestor for ancestor in path.parents if ancestor.name == PARENT_GROUP),
        path.parent / PARENT_GROUP,
    )
    return CgroupUnavailable(
        f"cannot write {path}: {exc.strerror}. The lab sets CPU limits through cgroups and needs "
        f"write access there: run the harness as root, or delegate the group to your user once "
        f"(cgroup v1: sudo mkdir -p {parent} && sudo chown -R $USER {parent}; cgroup v2: run "
        "the harness inside systemd-run --user --scope -p Delegate=yes)"
    )


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise _permission_error(path, exc) from exc
        raise UsageError(f"cannot write {value!r} to {path}: {exc.strerror}") from exc


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(exist_ok=True)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise _permission_error(path, exc) from exc
        raise


def _stat(path: Path) -> dict[str, int]:
    pairs = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {key: int(value) for key, value in pairs}


def _cpu_list(cpus: frozenset[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


class CpuGroup:
    """One process's CPU limit (see the module docstring).

    ``CpuGroup(name)`` only names the group's directories (:attr:`directories`), so that they
    can be recorded before :meth:`create` makes them.
    """

    def __init__(self, name: str, layout: CgroupLayout | None = None) -> None:
        self.layout = layout or detect_layout()
        self.name = name
        self.directories = tuple(h / PARENT_GROUP / name for h in self.layout.hierarchies())

    def _in(self, hierarchy: Path) -> Path:
        return hierarchy / PARENT_GROUP / self.name

    def create(self, limit: CpuLimit) -> CpuGroup:
        """Make the group with ``limit``; CgroupUnavailable without permission."""
        layout = self.layout
        if layout.version is CgroupVersion.V2:
            root = layout.cpu
            _write(root / "cgroup.subtree_control", "+cpu +cpuset")
            _mkdir(root / PARENT_GROUP)
            _write(root / PARENT_GROUP / "cgroup.subtree_control", "+cpu +cpuset")
            _mkdir(self._in(root))
            _write(self._in(root) / "cpu.max", f"{limit.quota_us} {limit.period_us}")
            if limit.cpus:
                _write(self._in(root) / "cpuset.cpus", _cpu_list(limit.cpus))
            return self
        for hierarchy in layout.hierarchies():
            _mkdir(hierarchy / PARENT_GROUP)
        parent_cpuset = layout.cpuset / PARENT_GROUP
        for setting in ("cpuset.cpus", "cpuset.mems"):
            if not (parent_cpuset / setting).read_text().strip():
                _write(parent_cpuset / setting, (layout.cpuset / setting).read_text().strip())
        for directory in self.directories:
            _mkdir(directory)
        cpu = self._in(layout.cpu)
        _write(cpu / "cpu.cfs_period_us", str(limit.period_us))
        _write(cpu / "cpu.cfs_quota_us", str(limit.quota_us))
        cpuset = self._in(layout.cpuset)
        _write(cpuset / "cpuset.mems", (parent_cpuset / "cpuset.mems").read_text().strip())
        cpus = _cpu_list(limit.cpus) if limit.cpus else (parent_cpuset / "cpuset.cpus").read_text()
        _write(cpuset / "cpuset.cpus", cpus.strip())
        return self

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the group."""
        for hierarchy in self.layout.hierarchies():
            _write(self._in(hierarchy) / "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        return members(self.directories[0])

    def usage(self) -> CpuUsage:
        """The group's CPU counters now (see :class:`CpuUsage`)."""
        stat = _stat(self._in(self.layout.cpu) / "cpu.stat")
        if self.layout.version is CgroupVersion.V2:
            return CpuUsage(
                stat["usage_usec"] / 1e6,
                stat["nr_periods"],
                stat["nr_throttled"],
                stat["throttled_usec"] / 1e6,
            )
        used_ns = int((self._in(self.layout.cpuacct) / "cpuacct.usage").read_text())
        return CpuUsage(
            used_ns / 1e9, stat["nr_periods"], stat["nr_throttled"], stat["throttled_time"] / 1e9
        )

    def remove(self, kill_members: bool = False, timeout_s: float = REMOVE_TIMEOUT_S) -> None:
        """Remove the group: its members first moved to the root group, or killed."""
        remove_group(self.directories, kill_members, timeout_s)


def members(directory: Path) -> list[int]:
    """The pids in a group's directory (none when it does not exist)."""
    try:
        return [int(line) for line in (directory / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []


def remove_group(
    directories: tuple[Path, ...], kill_members: bool, timeout_s: float = REMOVE_TIMEOUT_S
) -> None:
    """Empty and remove a group's directories (one per hierarchy); missing ones are skipped.

    Members are moved to the root group of each hierarchy (two levels up), or SIGKILLed.
    The kernel refuses to remove a group while a process is in it, so the removal is retried
    until ``timeout_s``, then UsageError naming the group and who is still in it.
    """
    deadline = time.monotonic() + timeout_s
    for directory in directories:
        root_procs = directory.parent.parent / "cgroup.procs"
        while directory.exists():
            for pid in members(directory):
                with contextlib.suppress(ProcessLookupError, OSError):
                    if kill_members:
                        os.kill(pid, signal.SIGKILL)
                    else:
                        root_procs.write_text(str(pid))
            try:
                directory.rmdir()
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise _permission_error(directory, exc) from exc
                if time.monotonic() >= deadline:
                    raise UsageError(
                        f"cannot remove {directory} after {timeout_s:g} s ({exc.strerror}); "
                        f"still in it: {members(directory)}"
                    ) from exc
                time.sleep(0.05)
