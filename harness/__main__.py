"""``python -m harness`` is the same as the ``harness`` console script."""

import gc

from harness.cli import main

code = main()
# Exit without the interpreter's last full garbage collection, which walks every object of
# scipy, matplotlib and SQLAlchemy once more (most of a second after a run; docs/benchmarks.md,
# "Test suite"). Only that collection is skipped: atexit handlers, the flush of stdout and
# stderr and the modules' teardown still run.
gc.freeze()
raise SystemExit(code)
