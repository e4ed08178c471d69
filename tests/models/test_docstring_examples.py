"""The ``>>>`` examples in the model's docstrings run, so that none can drift from the code."""

from __future__ import annotations

import doctest
import importlib

import pytest

from tests.models.test_public_names import MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
