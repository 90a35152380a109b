"""Every recipe's docstring header states the published numbers of the rows it reproduces, and they equal
tfaffect.published (typed in from the papers' tables): a number changed in one place but not the other fails.

The header is the part of the module docstring from ``Table/row:`` to ``Runtime:`` (``Published:`` between).
Checked: every published number of every row the recipe can reproduce (each of its ``rows``) appears there,
and every decimal number there is a published number of that paper.
"""

import re

import pytest

from tfaffect import published
from tfaffect.training import registry

RECIPES = sorted(registry.discover(registry.checkout_recipes_dir()).items())


def header(cls) -> str:
    import sys

    doc = sys.modules[cls.__module__].__doc__ or ""
    assert "\nTable/row:" in doc and "\nRuntime:" in doc, f"{cls.__module__}: no Table/row: ... Runtime: header"
    return doc.split("\nTable/row:", 1)[1].split("\nRuntime:", 1)[0]


def decimals(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"(?<![\w.])\d+\.\d+(?!\w|\.\d)", text)]


def reproduced_keys(cls) -> set[tuple[str, str, str]]:
    """The (paper, table, row) keys of every configuration the recipe file offers (each of its rows)."""
    rows = list(cls.rows) or [None]
    keys = set()
    for row in rows:
        recipe = cls.configure({"data": "real-data", **({"row": row} if row else {})})  # the published values
        keys.update(recipe.published_keys())
    return keys


@pytest.mark.parametrize("name, cls", RECIPES, ids=[name for name, _ in RECIPES])
def test_the_docstring_states_the_published_numbers(name, cls):
    keys = reproduced_keys(cls)
    text = header(cls)
    stated = decimals(text)
    if not keys:
        assert not stated, f"{name} reproduces no published row, yet its header states {stated}"
        return
    for key in keys:
        for metric, value in published.lookup(*key).metrics.items():
            assert any(abs(value - x) < 1e-9 for x in stated), f"{name}: {key} {metric} = {value} not in its docstring"
    papers = {paper for paper, _, _ in keys}
    known = {v for r in published.RESULTS if r.paper in papers for v in r.metrics.values()}
    stray = [x for x in stated if not any(abs(x - v) < 1e-9 for v in known)]
    assert not stray, f"{name}: its docstring states {stray}, which no published row of {sorted(papers)} has"


def test_the_check_reads_numbers_as_written():
    assert decimals("CCC 0.57 / 0.43; 5 folds, 96x96, v2.1a, 1.2.3; MSE 0.06.") == [0.57, 0.43, 0.06]
