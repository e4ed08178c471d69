"""CPU groups: a busy loop under a quarter-core quota on the real (v1) cgroups of this
machine, the v2 file formats on a fake mount, and the error without permission."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.lab.cgroups import (
    PARENT_GROUP,
    CgroupLayout,
    CgroupUnavailable,
    CgroupVersion,
    CpuGroup,
    CpuLimit,
    CpuUsage,
    detect_layout,
)
from tests.harness.lab.conftest import require_cgroups

BUSY_LOOP = [sys.executable, "-c", "while True: pass"]


@pytest.mark.slow
def test_a_busy_loop_under_a_quarter_core_quota_gets_a_quarter_and_is_throttled() -> None:
    require_cgroups()
    group = CpuGroup(f"test-quota-{os.getpid()}")
    process = subprocess.Popen(BUSY_LOOP)
    try:
        group.create(CpuLimit(0.25, cpus=frozenset({max(os.sched_getaffinity(0))})))
        group.add(process.pid)
        assert group.pids() == [process.pid]
        before, started = group.usage(), time.monotonic()
        time.sleep(2.0)
        used = group.usage().since(before)
        elapsed = time.monotonic() - started
    finally:
        group.remove(kill_members=True)
        process.wait(timeout=10)
    share = used.usage_s / elapsed
    # 25 ms of every 100 ms; less when the shared machine is busy, never much more.
    assert 0.12 <= share <= 0.30, used
    assert used.periods >= 15, used
    assert used.throttled_share > 0.5, used
    assert used.throttled_s > 0, used
    assert not any(directory.exists() for directory in group.directories)


@pytest.mark.slow
def test_removing_a_group_moves_its_members_out_unless_told_to_kill_them() -> None:
    require_cgroups()
    group = CpuGroup(f"test-move-{os.getpid()}").create(CpuLimit(0.5))
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        group.add(process.pid)
        group.remove()
        assert process.poll() is None, "moved out, still running"
        assert not any(directory.exists() for directory in group.directories)
    finally:
        process.kill()
        process.wait(timeout=10)


def test_this_machine_mounts_cgroup_v1_with_separate_cpu_cpuacct_and_cpuset() -> None:
    if not Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").is_file():
        pytest.skip("not the v1 machine the lab was built on")
    layout = detect_layout()
    assert layout.version is CgroupVersion.V1
    assert (layout.cpuacct / "cpuacct.usage").is_file()
    assert (layout.cpuset / "cpuset.cpus").is_file()


def fake_v2(root: Path) -> CgroupLayout:
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    return detect_layout(root)


def test_v2_writes_cpu_max_and_cpuset_and_enables_the_controllers(tmp_path: Path) -> None:
    layout = fake_v2(tmp_path)
    assert layout.version is CgroupVersion.V2
    group = CpuGroup("instance_1", layout).create(CpuLimit(0.5, cpus=frozenset({1, 0})))
    directory = tmp_path / PARENT_GROUP / "instance_1"
    assert group.directories == (directory,)
    assert (directory / "cpu.max").read_text() == "50000 100000"
    assert (directory / "cpuset.cpus").read_text() == "0,1"
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu +cpuset"
    assert (tmp_path / PARENT_GROUP / "cgroup.subtree_control").read_text() == "+cpu +cpuset"
    group.add(4242)
    assert (directory / "cgroup.procs").read_text() == "4242"
    assert group.pids() == [4242]


def test_v2_reads_usage_and_throttling_in_microseconds(tmp_path: Path) -> None:
    group = CpuGroup("instance_1", fake_v2(tmp_path)).create(CpuLimit(0.25))
    (tmp_path / PARENT_GROUP / "instance_1" / "cpu.stat").write_text(
        "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"
        "nr_periods 100\nnr_throttled 80\nthrottled_usec 6000000\n"
    )
    assert group.usage() == CpuUsage(2.5, 100, 80, 6.0)
    assert group.usage().throttled_share == 0.8


def test_v2_without_the_cpu_controller_says_which_are_missing(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("io memory pids\n")
    with pytest.raises(CgroupUnavailable, match=r"without \['cpu', 'cpuset'\]"):
        detect_layout(tmp_path)


def test_no_controller_mounted_names_the_root(tmp_path: Path) -> None:
    with pytest.raises(CgroupUnavailable, match=f"under {tmp_path}"):
        detect_layout(tmp_path)


def test_without_permission_the_error_names_the_path_and_both_fixes() -> None:
    # sysfs refuses new directories to everyone, root included: a real permission refusal.
    kernel = Path("/sys/kernel")
    layout = CgroupLayout(CgroupVersion.V1, kernel, kernel, kernel)
    with pytest.raises(CgroupUnavailable) as raised:
        CpuGroup("instance_1", layout).create(CpuLimit(1.0))
    message = str(raised.value)
    assert f"cannot write {kernel / PARENT_GROUP}" in message
    assert "run the harness as root" in message
    assert f"sudo chown -R $USER {kernel / PARENT_GROUP}" in message
    assert "Delegate=yes" in message


@pytest.mark.parametrize(
    ("cores", "match"),
    [(0, "0 cores; expected more than 0"), (0.005, "at least 1000 us")],
)
def test_a_limit_the_kernel_cannot_take_is_refused(cores: float, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        CpuLimit(cores)


def test_usage_since_an_earlier_reading_is_the_difference() -> None:
    later, earlier = CpuUsage(3.0, 30, 20, 1.5), CpuUsage(1.0, 10, 5, 0.5)
    assert later.since(earlier) == CpuUsage(2.0, 20, 15, 1.0)
    assert CpuUsage(0, 0, 0, 0).throttled_share == 0.0
