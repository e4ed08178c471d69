"""Exit codes, the same for every command (README.md, "The command line"; docs/qa.md, "Read the
gates").

Scripts and CI gate on these numbers, so they never change meaning.
"""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Success: everything ran and every objective held."""
    BREACH = 1
    """A service-level objective or threshold was breached (artifacts are written)."""
    BAD_INPUT = 2
    """Bad usage, a bad profile or bad input; nothing was run."""
    UNREACHABLE = 3
    """The target could not be reached, or the run is incomplete (artifacts marked so)."""
