"""Test hosts on one machine: network namespaces joined by a bridge.

Each :class:`Host` is a network namespace with one veth interface on a private bridge and its
own address, so processes started in it (``host.command([...])``) reach the others over a
real interface, not loopback: a swarm across "machines" without leaving this one. Needs root
and the ``ip`` tool (iproute2); :func:`unavailable` says why not, so a test can skip (or fail
under CI).

Everything is named after the owning process (``hsw<pid>...``), and :func:`remove_leftovers`
deletes what an earlier, killed, test process left, so a crash never strands a namespace.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

PREFIX = "hsw"
"""Every namespace, bridge and veth this module makes starts with this, then the owner pid."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


def unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "the `ip` tool (iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"{PREFIX}{os.getpid()}probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    _ip("netns", "delete", probe, check=False)
    return None


def remove_leftovers() -> list[str]:
    """Delete namespaces and links of test processes that are gone; returns their names."""
    removed = []
    owner = re.compile(rf"^{PREFIX}(\d+)")
    namespaces = _ip("netns", "list", check=False).stdout.split()
    links = re.findall(r"^\d+: ([^:@]+)", _ip("-o", "link", "show", check=False).stdout, re.M)
    for name in [*namespaces, *links]:
        match = owner.match(name)
        if match is None or psutil.pid_exists(int(match.group(1))):
            continue
        kind = ("netns", "delete", name) if name in namespaces else ("link", "delete", name)
        if _ip(*kind, check=False).returncode == 0:
            removed.append(name)
    return removed


@dataclass(frozen=True)
class Host:
    """One namespace: its name, its address on the bridge, and the host side of its link."""

    namespace: str
    address: str
    link: str

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def cut_off(self) -> None:
        """Take this host off the network (its link down), as a pulled cable would."""
        _ip("link", "set", self.link, "down")


@contextmanager
def hosts(roles: Sequence[str]) -> Iterator[dict[str, Host]]:
    """One :class:`Host` per role on a fresh bridge (10.213.X.0/24), removed afterwards."""
    remove_leftovers()
    pid = os.getpid()
    bridge = f"{PREFIX}{pid}br"
    subnet = f"10.213.{pid % 250}"
    made: dict[str, Host] = {}
    try:
        _ip("link", "add", bridge, "type", "bridge")
        _ip("link", "set", bridge, "up")
        for index, role in enumerate(roles, start=2):
            host = Host(f"{PREFIX}{pid}{role}", f"{subnet}.{index}", f"{PREFIX}{pid}v{index}")
            _ip("netns", "add", host.namespace)
            made[role] = host
            inside = f"{PREFIX}{pid}i{index}"
            _ip("link", "add", host.link, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", host.namespace)
            _ip("link", "set", host.link, "master", bridge, "up")
            for args in (
                ("addr", "add", f"{host.address}/24", "dev", inside),
                ("link", "set", inside, "up"),
                ("link", "set", "lo", "up"),
            ):
                _ip("-n", host.namespace, *args)
        yield made
    finally:
        for host in made.values():
            _ip("netns", "delete", host.namespace, check=False)  # takes its veth pair along
            _ip("link", "delete", host.link, check=False)
        _ip("link", "delete", bridge, check=False)
