"""Where the lab's programs are, and which OS user runs its servers.

HAProxy and PgBouncer live in ``/usr/sbin`` on Debian, which is not on every user's ``PATH``;
PostgreSQL's server binaries live in ``/usr/lib/postgresql/<version>/bin``. A missing program
is a usage error that says which package to install.

PostgreSQL (``initdb``, ``postgres``) and PgBouncer refuse to run as root. When the harness
runs as root, the lab runs them as the ``postgres`` OS user, with their directories owned by
it; otherwise as the harness's own user.
"""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError

#: Searched after ``PATH``: where Debian installs daemons.
SYSTEM_BIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")
POSTGRES_INSTALL_ROOT = Path("/usr/lib/postgresql")
SERVER_USER_NAME = "postgres"


@dataclass(frozen=True, slots=True)
class Program:
    name: str
    package: str
    """The Debian package that installs it."""


HAPROXY = Program("haproxy", "haproxy")
PGBOUNCER = Program("pgbouncer", "pgbouncer")
INITDB = Program("initdb", "postgresql")
REDIS_SERVER = Program("redis-server", "redis-server")


def _search_path() -> str:
    return os.pathsep.join([os.environ.get("PATH", ""), *SYSTEM_BIN_DIRS])


def find_program(program: Program) -> Path:
    """The program's executable; UsageError naming the package to install when it is missing."""
    if program is INITDB:
        return postgres_bindir() / INITDB.name
    found = shutil.which(program.name, path=_search_path())
    if found is None:
        raise _missing(program, f"PATH and {', '.join(SYSTEM_BIN_DIRS)}")
    return Path(found)


def postgres_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb``, else the directory
    of an ``initdb`` on the search path (the server binaries sit beside it)."""
    candidates = sorted(
        (path for path in POSTGRES_INSTALL_ROOT.glob("*/bin") if (path / "initdb").is_file()),
        key=lambda path: _version_key(path.parent.name),
    )
    if candidates:
        return candidates[-1]
    found = shutil.which(INITDB.name, path=_search_path())
    if found is None:
        raise _missing(INITDB, f"{POSTGRES_INSTALL_ROOT}/*/bin and PATH")
    return Path(found).parent


def _missing(program: Program, looked_in: str) -> UsageError:
    return UsageError(
        f"{program.name} is not installed (looked in {looked_in}); the lab needs it: "
        f"apt-get install {program.package}"
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


@dataclass(frozen=True, slots=True)
class ServerUser:
    """The OS user a server process runs as (see the module docstring)."""

    name: str
    uid: int
    gid: int


def server_user() -> ServerUser | None:
    """``postgres`` when the harness runs as root, None (the harness's own user) otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER_NAME)
    except KeyError:
        raise UsageError(
            f"running as root, the lab runs PostgreSQL and PgBouncer as the OS user "
            f"{SERVER_USER_NAME!r} (both refuse root), and that user does not exist; create it "
            f"(useradd --system --create-home {SERVER_USER_NAME}, or apt-get install postgresql) "
            "or run the harness as a user other than root"
        ) from None
    return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def hand_over(path: Path, user: ServerUser | None) -> None:
    """Make ``path`` (and what is in it) belong to ``user``; nothing to do for our own user."""
    if user is None:
        return
    os.chown(path, user.uid, user.gid)
    for child in path.rglob("*"):
        os.chown(child, user.uid, user.gid, follow_symlinks=False)
