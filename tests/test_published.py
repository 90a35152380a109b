"""The published numbers are checked against the paper texts themselves (../shared/papers)."""

import pathlib
import re

import pytest

from tfaffect import published

PAPER_FILES = {"kollias2019": "kollias2019_affwild_affwildnet.txt",
               "do2020": "do2020_stat_lstm_multitask.txt",
               "kahou2015": "kahou2015_cnn_irnn_emotiw.txt",
               "aspandi2021": "aspandi2021_anclaf_adversarial.txt",
               "li2017": "li2017_mmnet_multiple_memory_networks.txt"}
PAPERS_DIR = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "papers"


def _table_block(paper: str, table_name: str) -> list[str]:
    path = PAPERS_DIR / PAPER_FILES[paper]
    if not path.exists():
        pytest.skip(f"paper text not found at {path} (shared/ is beside the checkout in CI)")
    lines = path.read_text(encoding="utf-8").splitlines()
    if paper == "li2017":  # Li 2017: tab-separated rows, then the caption "Table N. ..." below them
        end = next(i for i, line in enumerate(lines) if line.startswith(f"{table_name}. "))
        block = []
        for line in reversed(lines[:end]):
            if "\t" in line:
                block.insert(0, line)
            elif line.strip():
                break
        return block
    # Kollias: "Table 12: caption" then "| .. |" rows; Do 2020: a line "TABLE II" then tab-separated rows;
    # Kahou 2015: " Table 1: caption" (indented) then tab-separated rows.
    start = next(i for i, line in enumerate(lines)
                 if line.lstrip().startswith(f"{table_name}:") or line.strip() == table_name.upper())
    block, seen_table = [], False
    for line in lines[start + 1:]:
        if line.startswith("|") or "\t" in line:
            block.append(line)
            seen_table = True
        elif seen_table and line.strip():
            break
    return block


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"(?<![\w.])\d*\.\d+|(?<![\w.])\d+(?![\w.])", text)]


PERCENT_TABLES = {("kahou2015", "Table 2")}
"""Tables printed in percent whose values published.py keeps as fractions."""


@pytest.mark.parametrize("result", published.RESULTS, ids=lambda r: f"{r.table}-{r.row}")
def test_every_published_value_is_in_the_papers_table(result):
    if result.table.startswith("Section"):  # a number of the text (Kahou 2015 section 6.2: "43.7%")
        text = (PAPERS_DIR / PAPER_FILES[result.paper]).read_text(encoding="utf-8")
        for key, value in result.metrics.items():
            assert f"{100 * value:.1f}%" in text, f"{result.table} {result.row}: {key}={value} not in the text"
        return
    block = _table_block(result.paper, result.table)
    scale = 100.0 if (result.paper, result.table) in PERCENT_TABLES else 1.0
    values = {round(v / scale, 10) for v in _numbers(" ".join(block))}
    for key, value in result.metrics.items():
        assert value in values, f"{result.table} {result.row}: {key}={value} not in the table"
    # Rows laid out as `| name | v | a | ... |` (or tab-separated) must match cell by cell, in order;
    # where a name is printed twice (Do 2020 Table II prints "3" for model 5) one of them must match.
    named = [[round(v / scale, 10) for v in _numbers(" ".join(cells[1:]))]
             for cells in map(_cells, block) if cells[0] == result.row]
    if named and scale != 1.0:  # Kahou Table 2: the numbers of the Method column ("submission 2") follow
        named = [row[:len(result.metrics)] for row in named]
    if named:
        assert list(result.metrics.values()) in named


def _cells(line: str) -> list[str]:
    separator = "|" if line.startswith("|") else "\t"
    return [c.strip() for c in line.strip("|").split(separator)]


def test_lookup_and_errors():
    row = published.lookup("kollias2019", "Table 12", "best CNN-GRU")
    assert row.metrics["ccc_valence"] == 0.57
    with pytest.raises(KeyError, match="rows:"):
        published.lookup("kollias2019", "Table 12", "no such row")
    with pytest.raises(KeyError, match="known tables"):
        published.table("kollias2019", "Table 99")
