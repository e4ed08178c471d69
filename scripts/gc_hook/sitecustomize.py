"""Times Python's garbage collector in the bundled service, for scripts/gc_cost.py.

Python imports ``sitecustomize`` at start-up from its path; scripts/gc_cost.py puts this
directory on ``PYTHONPATH`` for the runs it makes, so every Python process of those runs
imports it, and only the service (``python -m target_app``) acts on it: a ``gc.callbacks``
hook adds up each generation's collections and their thread CPU, and a daemon thread appends
the totals, with the wall clock, to the file ``GC_COST_LOG`` names, once a second.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _install(path: str) -> None:
    counts = [0, 0, 0]
    seconds = [0.0, 0.0, 0.0]
    started: dict[int, float] = {}

    def on_collection(phase: str, info: dict[str, Any]) -> None:
        generation = int(info["generation"])
        if phase == "start":
            started[generation] = time.thread_time()
            return
        counts[generation] += 1
        seconds[generation] += time.thread_time() - started.pop(generation, time.thread_time())

    def write() -> None:
        with Path(path).open("a", encoding="utf-8") as log:
            while True:
                record = {"wall": time.time(), "count": counts, "seconds": seconds}
                log.write(json.dumps(record) + "\n")
                log.flush()
                time.sleep(1.0)

    gc.callbacks.append(on_collection)
    threading.Thread(target=write, name="gc-cost-log", daemon=True).start()


if sys.orig_argv[1:3] == ["-m", "target_app"] and os.environ.get("GC_COST_LOG"):
    _install(f"{os.environ['GC_COST_LOG']}.{os.getpid()}")
