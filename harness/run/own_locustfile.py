"""A user's own locustfile (``harness run --locustfile FILE``), checked before any load.

The file is imported in a child process, the way Locust will import it (Locust's gevent
patching never reaches the harness), and must give at least one user class and no load shape
of its own (the profile's scenario is the shape). A user class may name a persona of the
profile with a ``persona`` attribute; the persona's share then becomes its weight, and a
persona the profile lacks is bad input. Every problem is a :class:`UsageError` (exit 2) naming
the file, before anything is started::

    class Buyer(HttpUser):
        persona = "buyer"          # optional: weight = the profile's share of buyer
        wait_time = between(1, 3)

        @task
        def browse(self) -> None:
            self.client.get("/items")

What the harness cannot do with users it did not write is listed in :data:`SKIPPED` and
recorded in run.json's ``skipped``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from models.profile import Profile

#: Checks that need the bundled journeys, and why they are skipped with your own users.
SKIPPED: dict[str, str] = {
    "integrity": (
        "the write log and the lost-write audit need the bundled journeys' write log; "
        "your own locustfile keeps none"
    ),
    "persona_mix": (
        "the persona mix check needs the bundled journeys' personas; your own user "
        "classes set their own weights"
    ),
    "model": (
        "a run's capacity plan and prediction come from the bundled journeys' screens; "
        "plan your own users from this run's metrics instead: harness calibrate RUN_DIR, "
        "then harness model --profile RUN_DIR/calibration.toml"
    ),
}

INSPECT_TIMEOUT_S = 60.0

# Runs in the child: import the file as Locust does and describe what it found.
_INSPECT = """
import json, sys
from locust.util.load_locustfile import load_locustfile
try:
    users, shapes = load_locustfile(sys.argv[1])
except BaseException as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
    raise SystemExit(0)
print(json.dumps({
    "classes": [
        {"name": name, "weight": getattr(c, "weight", 1),
         "fixed_count": getattr(c, "fixed_count", 0), "persona": getattr(c, "persona", None)}
        for name, c in sorted(users.items())
    ],
    "shapes": [type(s).__name__ for s in shapes],
}))
"""


@dataclass(frozen=True, slots=True)
class UserClass:
    """One user class of the file, as Locust will find it."""

    name: str
    weight: int
    fixed_count: int
    persona: str | None


@dataclass(frozen=True, slots=True)
class OwnLocustfile:
    """A checked locustfile: its absolute path and its user classes."""

    path: Path
    classes: tuple[UserClass, ...]


def check_locustfile(path: Path, profile: Profile, key: str = "--locustfile") -> OwnLocustfile:
    """Import ``path`` in a child process; a UsageError naming ``key`` and the file when it
    does not import, has no user class, brings a load shape or names a persona the profile
    lacks."""
    where = f"{key} = {str(path)!r}"
    if not path.is_file():
        raise UsageError(f"{where}: file not found (give the path of your locustfile)")
    found = _inspect(path.resolve(), where)
    if "error" in found:
        raise UsageError(f"{where}: does not import: {found['error']}")
    if found["shapes"]:
        raise UsageError(
            f"{where}: defines a load shape ({', '.join(found['shapes'])}); the profile's "
            "scenario shapes the load under harness run: remove the shape class"
        )
    classes = tuple(UserClass(**entry) for entry in found["classes"])
    if not classes:
        raise UsageError(
            f"{where}: has no Locust user class (a subclass of HttpUser or User with tasks)"
        )
    known = profile.personas.names()
    for user_class in classes:
        if user_class.persona is not None and user_class.persona not in known:
            raise UsageError(
                f"{where}: class {user_class.name} names persona {user_class.persona!r}, "
                f"which the profile lacks (its personas: {', '.join(known)}); add "
                f"[personas.{user_class.persona}] to the profile or change the class"
            )
    return OwnLocustfile(path.resolve(), classes)


def _inspect(path: Path, where: str) -> dict[str, Any]:
    try:
        done = subprocess.run(  # our own interpreter and script
            [sys.executable, "-c", _INSPECT, str(path)],
            capture_output=True,
            text=True,
            timeout=INSPECT_TIMEOUT_S,
            cwd=path.parent,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"{where}: importing it took over {INSPECT_TIMEOUT_S:g} s (does it run work at "
            "import time?)"
        ) from None
    lines = done.stdout.strip().splitlines()
    try:
        found: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"{where}: does not import: {detail}") from None
    return found
