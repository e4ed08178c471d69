"""Reading one JSON object's keys with their types checked, for the records of a run directory.

Every run artifact is JSON written by one program and read by another (the report, a later
comparison, another machine). :class:`JsonFields` reads its keys one by one and raises
:class:`RecordError` naming the key's full path (``stages[1].p95_ms``), the value found and
what was expected, so a reader can say exactly what is wrong with a file instead of failing
somewhere later on a ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from models.errors import RecordError

__all__ = ["JsonFields", "RecordError"]


class JsonFields:
    """The keys of one JSON object, read with their types checked.

    ``where`` is the object's own path (``stages[1]``), prefixed to every key in errors.
    """

    def __init__(self, data: object, where: str = "") -> None:
        if not isinstance(data, Mapping):
            at = where or "top level"
            raise RecordError(where, f"{at}: expected an object, got {type(data).__name__}")
        self.data: Mapping[str, object] = data
        self.where = where

    def path(self, key: str) -> str:
        """The full path of ``key`` (for error messages)."""
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        """Whether ``key`` is present (even as null)."""
        return key in self.data

    def _fail(self, key: str, value: object, expected: str) -> RecordError:
        return RecordError(self.path(key), f"{self.path(key)} = {value!r}: expected {expected}")

    def raw(self, key: str) -> object:
        """The value of a required key, unchecked."""
        if key not in self.data:
            raise RecordError(self.path(key), f"required key {self.path(key)!r} is missing")
        return self.data[key]

    def number(self, key: str) -> float:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self._fail(key, value, "a number")
        return float(value)

    def opt_number(self, key: str) -> float | None:
        """A number, or None when the key is missing or null."""
        return None if self.data.get(key) is None else self.number(key)

    def amount(self, key: str) -> float:
        """A number as written: an integer stays an integer (a count reads back as a count,
        and is written back as one)."""
        value = self.raw(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return self.number(key)

    def opt_amount(self, key: str) -> float | None:
        """An :meth:`amount`, or None when the key is missing or null."""
        return None if self.data.get(key) is None else self.amount(key)

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, value, "an integer")
        return value

    def opt_integer(self, key: str) -> int | None:
        """An integer, or None when the key is missing or null."""
        return None if self.data.get(key) is None else self.integer(key)

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise self._fail(key, value, "a string")
        return value

    def opt_text(self, key: str) -> str | None:
        """A string, or None when the key is missing or null."""
        return None if self.data.get(key) is None else self.text(key)

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            raise self._fail(key, value, "true/false")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        """A required list of strings."""
        value = self.raw(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, value, "a list of strings")
        return tuple(value)

    def opt_texts(self, key: str) -> tuple[str, ...]:
        """A list of strings; an absent key is an empty list."""
        return self.texts(key) if key in self.data else ()

    def items(self, key: str) -> list[JsonFields]:
        """A required list of objects, each to be read in turn."""
        value = self.raw(key)
        if not isinstance(value, list):
            raise self._fail(key, value, "a list")
        return [JsonFields(v, f"{self.path(key)}[{i}]") for i, v in enumerate(value)]

    def opt_items(self, key: str) -> list[JsonFields]:
        """A list of objects; an absent key is an empty list."""
        return self.items(key) if key in self.data else []

    def child(self, key: str) -> JsonFields:
        """A required nested object."""
        return JsonFields(self.raw(key), self.path(key))

    def opt_child(self, key: str) -> JsonFields | None:
        """A nested object, or None when the key is missing or null."""
        return None if self.data.get(key) is None else self.child(key)

    def numbers(self) -> dict[str, float]:
        """This object as ``{key: number}``, every value checked."""
        return {str(key): self.number(str(key)) for key in self.data}

    def integers(self) -> dict[str, int]:
        """This object as ``{key: integer}``, every value checked."""
        return {str(key): self.integer(str(key)) for key in self.data}
