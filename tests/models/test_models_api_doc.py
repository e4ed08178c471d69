"""docs/models-api.md runs: its examples are doctests, executed in order in one namespace
(a later block may use what an earlier one defined), so the page cannot drift from the code."""

from __future__ import annotations

import doctest
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "models-api.md"


def test_every_example_of_the_models_api_page_runs() -> None:
    result = doctest.testfile(
        str(PAGE), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False
    )
    assert result.attempted >= 30, f"only {result.attempted} examples found in {PAGE.name}"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"


def test_each_example_block_is_a_doctest() -> None:
    # A ```python block without >>> prompts would be shown but never run.
    blocks = PAGE.read_text("utf-8").split("```python")[1:]
    assert blocks, "no python blocks"
    for block in blocks:
        assert block.lstrip().startswith(">>> "), block[:80]
