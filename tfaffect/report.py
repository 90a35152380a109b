"""``tfaffect report``: the papers' tables with the published numbers beside ours.

Ours come from run directories (``metrics.json`` written by the trainer; its ``evaluation`` part
names the published row the run reproduces and whether the data were synthetic). Results obtained
on SynthAffect are marked *synthetic* in every row: they show the code learns, not how the model
does on the paper's data, and are not comparable with the published numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Iterable

import pandas as pd

from tfaffect import EXPRESSIONS_7, published
from tfaffect.errors import ConfigError, MissingResourceError
from tfaffect.io import check_output_file, write_text_atomic

log = logging.getLogger(__name__)

DEFAULT_RUNS = "runs"
"""Where recipes put their run directories by default (``runs/<recipe>/<timestamp>``)."""

METRICS = ("ccc_valence", "ccc_arousal", "mse_valence", "mse_arousal", "mse_train", "mse_validation", "pcc_valence",
           "pcc_arousal", "rmse_valence", "rmse_arousal", "rmse_mean", "pcc_mean", "icc_valence", "icc_arousal",
           "icc_mean", "ccc_mean", "va_score", *(f"accuracy_{name.lower()}" for name in EXPRESSIONS_7),
           "train_accuracy", "accuracy", "test_accuracy", "f1_macro", "expression_score")
"""Columns a report can show, in this order; a table shows those its published rows or runs have.

Kollias 2019: CCC, MSE and PCC per dimension, accuracy per class and in total (Table 18). Do 2020 (Tables II, III): accuracy,
macro F1, expression score ``0.67 F1 + 0.33 Acc`` (eq. 5), CCC per dimension (eq. 6) and VA score =
their mean (eq. 7). Aspandi 2021 (Table 1): RMSE, COR (Pearson) and ICC per dimension and their mean
(AVG); (Table 2, SEWA): RMSE, COR and CCC per dimension and their mean (AVG). Li 2017 (Tables 2, 3, 5): the mean
of the valence and arousal MSEs on the training and on the validation set. Kahou 2015 (Tables 1, 2): clip accuracy
on Train, Val and Test."""
ALL_FRAMES_ROW = "-ALL"
"""The suffix of Li 2017's rows scored on every frame, missing faces interpolated (Tables 4, 6-8): a run names the
FACE row and this one, and the ALL row takes the run's ``all_``-prefixed scores (the "all" protocol of
:func:`tfaffect.evaluation.score_va`)."""
PAPER_ONLY = ("ccc_mean", "mse_train", "mse_validation", "train_accuracy", "test_accuracy")
"""Columns shown only in a table whose published rows have them (Aspandi 2021 Table 2's CCC AVG, Li 2017's mean
MSEs, Kahou 2015's Train and Test accuracies): most runs record a CCC mean, which Kollias 2019's and Do 2020's tables
do not print; every MM-Net run records ``mse_validation``, which Li 2017's Tables 4 and 6-8 do not print."""


def _all_frames(row) -> bool:
    """Whether a published row is scored on every frame (missing faces interpolated): Li 2017's rows ending in
    :data:`ALL_FRAMES_ROW` and those noted "all frames" (Table 9: "The testing results are calculated over all
    the frames in videos", section 3.3)."""
    if row[2].endswith(ALL_FRAMES_ROW):
        return True
    try:
        return published.lookup(*row).note == "all frames"
    except KeyError:  # a row of a table the package does not know: the run's FACE scores
        return False


def collect_runs(roots: Iterable[str | os.PathLike], unpublished: list | None = None) -> list[dict]:
    """Every finished run under ``roots`` that names a published row: a dict per run.

    A ``metrics.json`` that is unreadable or not shaped as the trainer writes it is skipped with a
    warning naming it (one broken run does not hide the others); a root that does not exist is a
    :class:`MissingResourceError`. Runs that name no published row are appended to ``unpublished`` (when
    given) as ``{"run_dir", "recipe", "metrics"}``: the report says so instead of leaving them out silently.
    """
    runs = []
    for root in roots:
        if not Path(root).exists():
            raise MissingResourceError(f"{root}: no such run directory or folder of runs; pass the folders "
                                       "that hold run directories (default: runs)")
        for path in sorted(Path(root).rglob("metrics.json")):
            try:
                metrics = json.loads(path.read_bytes().decode("utf-8"))
            except (OSError, ValueError, RecursionError) as exc:  # JSON and UTF-8 errors are ValueErrors
                log.warning("skipping %s: unreadable (%s)", path, str(exc)[:120])
                continue
            evaluation = metrics.get("evaluation") if isinstance(metrics, dict) else None
            evaluation = evaluation or {}
            if not isinstance(evaluation, dict):
                log.warning("skipping %s: its 'evaluation' is not an object", path)
                continue
            # one published row ("published_row"), or several that one evaluation reproduces at once
            # (e.g. AFEW-VA cross-validation: Pearson CC in Table 16, CCC in Table 17)
            rows = evaluation.get("published_rows") or (
                [evaluation["published_row"]] if evaluation.get("published_row") else [])
            if not isinstance(rows, list) or not all(
                    isinstance(row, list) and len(row) == 3 and all(isinstance(x, str) for x in row) for row in rows):
                log.warning("skipping %s: published_row(s) must be [paper, table, row] names", path)
                continue
            values = {k: evaluation[k] for k in METRICS if _is_number(evaluation.get(k))}
            if not rows and unpublished is not None:
                final = metrics.get("final") if isinstance(metrics.get("final"), dict) else {}
                unpublished.append({"run_dir": str(path.parent), "recipe": metrics.get("recipe"),
                                    "metrics": values or {k: v for k, v in final.items() if _is_number(v)}})
            odd = [k for k in METRICS if k in evaluation and k not in values and evaluation[k] is not None]
            if odd:
                log.warning("%s: %s not a number; left empty", path, ", ".join(odd))
            for row in rows:
                scores, frames = values, evaluation.get("frames")
                if _all_frames(row):  # Li 2017's ALL rows and test rows: the run's all_* scores
                    scores = {k: evaluation[f"all_{k}"] for k in METRICS if _is_number(evaluation.get(f"all_{k}"))}
                    frames = evaluation.get("all_frames", frames)
                runs.append({"paper": row[0], "table": row[1], "row": row[2], "run_dir": str(path.parent),
                             "synthetic": bool(evaluation.get("synthetic")), "data": evaluation.get("data"),
                             "frames": frames, **scores})
    return runs


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table_frame(paper: str, table_name: str, runs: list[dict]) -> pd.DataFrame:
    """One row per published row (in the paper's order), then one row per run of that table.

    Columns: the :data:`METRICS` the published rows or the runs have, those of the published rows
    first in the paper's column order (e.g. Do 2020: Acc., F1, Expr. Score, Aro., Val., VA Score).
    """
    lines = []
    results = published.table(paper, table_name)
    for result in results:
        lines.append({"row": result.row, "source": f"published ({result.dataset})", **result.metrics})
        for run in runs:
            if (run["paper"], run["table"], run["row"]) == (paper, table_name, result.row):
                where = "ours, SynthAffect (synthetic)" if run["synthetic"] else f"ours ({run['data']})"
                lines.append({"row": result.row, "source": where,
                              **{k: run[k] for k in METRICS if k in run}, "run": run["run_dir"]})
    frame = pd.DataFrame(lines)
    # the paper's column order: that of its fullest row (rows with "-" cells lack keys), then the others'
    fullest = sorted(results, key=lambda result: -len(result.metrics))
    paper_order = list(dict.fromkeys(k for result in fullest for k in result.metrics if k in METRICS))
    order = paper_order + [m for m in METRICS if m not in paper_order and m not in PAPER_ONLY]
    columns = ["row", "source"] + [m for m in order if m in frame] + (["run"] if "run" in frame else [])
    return frame[columns]


def to_markdown(frame: pd.DataFrame, title: str) -> str:
    """A GitHub-flavoured markdown table (no extra dependency)."""
    header = list(frame.columns)
    cells = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    if frame["source"].str.contains("synthetic").any():
        lines += ["", "*synthetic*: measured on SynthAffect, the embedded generated dataset; not comparable "
                      "with the published numbers (different data, random initialisation, demo budget)."]
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.3f}"
    return "" if value is None else str(value)


def unpublished_note(unpublished: list[dict], paper_runs: int) -> str:
    """What the report says about runs that name no published row (``""`` when there are none)."""
    if not unpublished:
        return ""
    count = len(unpublished)
    lines = [f"Note: {count} run{'s' if count > 1 else ''} reproduce{'' if count > 1 else 's'} no published "
             f"row, so no table shows {'them' if count > 1 else 'it'}"
             + ("" if paper_runs else "; the tables hold the published numbers only") + ":"]
    for run in unpublished:
        shown = ", ".join(f"{k} {v:.3f}" for k, v in list(run["metrics"].items())[:6]) or "no metrics"
        lines.append(f"- {run['run_dir']} (recipe {run['recipe'] or '?'}): {shown}")
    return "\n".join(lines)


def report(paper: str, tables: Iterable[str] | None, roots: Iterable[str | os.PathLike]) -> str:
    """Markdown of the chosen tables (default: every table of ``paper`` with a run, else all), after a note
    naming the runs that reproduce no published row."""
    unpublished: list[dict] = []
    runs = collect_runs(roots, unpublished)
    names = list(dict.fromkeys(r.table for r in published.RESULTS if r.paper == paper))
    if tables:
        unknown = [t for t in tables if t not in names]
        if unknown:
            raise ConfigError(f"--table {', '.join(map(repr, unknown))}: {paper} has no such table; its tables: "
                              f"{', '.join(names)}")
        names = list(tables)
    elif any(r["paper"] == paper for r in runs):
        names = [n for n in names if any(r["table"] == n and r["paper"] == paper for r in runs)]
    note = unpublished_note(unpublished, sum(r["paper"] == paper for r in runs))
    return "\n\n".join(([note] if note else []) + [
        to_markdown(table_frame(paper, n, runs), f"{published.PAPERS[paper]} -- {n}") for n in names])


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", default=[],
                        help="run directories or folders holding them (searched recursively for metrics.json); "
                             "default: runs/ if it exists")
    parser.add_argument("--paper", default="kollias2019", choices=sorted(published.PAPERS),
                        help="which paper's tables")
    parser.add_argument("--table", action="append", dest="tables", metavar="NAME",
                        help='a table to print, e.g. "Table 12" (repeatable); default: the tables that '
                             "have runs, or all")
    parser.add_argument("--out", metavar="FILE.md", help="also write the report to this markdown file")


def cli_main(args: argparse.Namespace) -> int:
    """``tfaffect report``. Errors go to the command line's error boundary (:mod:`tfaffect.boundary`)."""
    if args.out:
        check_output_file(args.out)
    roots = args.runs or ([DEFAULT_RUNS] if Path(DEFAULT_RUNS).is_dir() else [])
    if not roots:
        log.warning("no %s/ folder here and no run directory given: the published numbers only", DEFAULT_RUNS)
    text = report(args.paper, args.tables, roots)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out, text + "\n")
        print(f"\nwritten to {out}")
    return 0
