"""The errors the model raises, under one root so that a caller can catch them all at once.

::

    ModelError                          every error of models/ (catch this one to catch them all)
    ├── ParameterError   (ValueError)   an argument a function cannot use: the message names
    │   │                               the argument, its value and what was expected
    │   └── UnstableError               an open queue offered as much work as its servers can
    │                                   do, or more: it has no steady state
    ├── UnknownNameError (KeyError)     a scenario or screen name the profile or the catalogue
    │                                   does not know: the message lists the known ones
    ├── ProfileError     (ValueError)   a profile that fails validation, one line per bad key
    ├── CalibrationError (ValueError)   a run's metrics that calibration cannot use
    ├── RecordError      (ValueError)   an artifact's JSON record without a key, or with a value
    │                                   of the wrong type: names the key's path and the value
    └── ConvergenceError (RuntimeError) an iteration that reached its cap before its tolerance

The second base of each is the built-in exception the model raised before it had its own, so
code written against ``ValueError``, ``KeyError`` or ``RuntimeError`` keeps working.

The modules that raise them also export them (``models.profile.ProfileError``,
``models.calibration.CalibrationError``, ``models.mva.ConvergenceError``,
``models.json_fields.RecordError``); this module is their
one definition.
"""

from __future__ import annotations

__all__ = [
    "CalibrationError",
    "ConvergenceError",
    "ModelError",
    "ParameterError",
    "ProfileError",
    "RecordError",
    "UnknownNameError",
    "UnstableError",
]


class ModelError(Exception):
    """The root of every error the model raises."""


class ParameterError(ModelError, ValueError):
    """An argument a model function cannot use; the message names it, its value, what it
    accepts."""


class UnstableError(ParameterError):
    """An open queue whose offered load reaches its number of servers: no steady state."""


class UnknownNameError(ModelError, KeyError):
    """A name (scenario, screen) that is not defined; the message lists the known ones."""

    def __str__(self) -> str:
        # KeyError's own str() is the repr of its argument: quotes around the whole sentence.
        return str(self.args[0]) if self.args else ""


class ProfileError(ModelError, ValueError):
    """A profile that cannot be used. ``problems`` holds one line per bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {source}: {p}" for p in problems)
        super().__init__(f"invalid profile ({len(problems)} problem(s)):\n{lines}")


class CalibrationError(ModelError, ValueError):
    """Input a calibration cannot use; the message names the file and what is wrong."""


class ConvergenceError(ModelError, RuntimeError):
    """An iterative solution did not converge within its iteration cap.

    ``iterations`` is the cap that was reached, ``residual`` the last change measured.
    """

    def __init__(self, iterations: int, residual: float, tolerance: float) -> None:
        self.iterations = iterations
        self.residual = residual
        super().__init__(
            f"no convergence after {iterations} iterations: last change {residual:.3g} > "
            f"tolerance {tolerance:.3g} (raise max_iterations or loosen tolerance)"
        )


class RecordError(ModelError, ValueError):
    """A JSON record that lacks a key or holds a value of the wrong type.

    ``key`` is the key's path from the document's top (``stages[1].p95_ms``; empty for the
    document itself); the message names it with the value and what was expected.
    """

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(problem)
