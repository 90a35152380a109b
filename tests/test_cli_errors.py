"""The one error boundary (tfaffect.boundary) of every command and recipe, and the bad inputs of issue #12.

A tfaffect error is one line on stderr naming the file and line/frame and saying what to do (exit 1; 2 for a bad
command line); output paths are checked before any work; anything else is reported as a bug with the file its
traceback went to (exit 70). Commands run in-process through ``tfaffect.cli.main``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tfaffect import boundary, cli
from tfaffect.errors import AnnotationError, ConfigError, MissingResourceError

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


@pytest.fixture(autouse=True)
def log_dir(tmp_path, monkeypatch):
    folder = tmp_path / "logs"
    monkeypatch.setenv(boundary.LOG_DIR_VAR, str(folder))
    return folder


def one_error_line(capsys, prog: str) -> str:
    """The command's stderr, which must be exactly one line starting with ``PROG: ``."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not _is_log_line(line)]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: "), lines[0]
    assert "Traceback" not in err
    return lines[0]


def _is_log_line(line: str) -> bool:
    """Log records (INFO/WARNING of the logging module, TensorFlow's C++ log) are not the error line."""
    return bool(re.match(r"(INFO|WARNING|DEBUG) |[IWE]\d{4} |WARNING:", line))


# ----------------------------------------------------------------------------- the boundary itself


def test_tfaffect_error_is_one_line_with_file_line_and_what_to_do(capsys):
    def main():
        raise AnnotationError("not a number: 'x'\nsecond line", "ann/v1.txt", line=7)

    assert boundary.run_guarded("tfaffect prepare", main) == 1
    line = one_error_line(capsys, "tfaffect prepare")
    assert line == ("tfaffect prepare: error: ann/v1.txt, line 7: not a number: 'x' second line (what to do: fix that "
                    "line of the annotation file, or leave the video out)")


def test_config_error_exits_2_and_missing_resource_1(capsys):
    assert boundary.run_guarded("p", lambda: (_ for _ in ()).throw(ConfigError("--seq-len must be >= 1"))) == 2
    assert "--seq-len must be >= 1" in one_error_line(capsys, "p")
    assert boundary.run_guarded("p", lambda: (_ for _ in ()).throw(MissingResourceError("x: pass --data"))) == 1
    assert one_error_line(capsys, "p") == "p: error: x: pass --data"


def test_unexpected_exception_is_a_bug_with_its_traceback_file(capsys, log_dir):
    def main():
        return {}["missing key"]

    assert boundary.run_guarded("tfaffect evaluate", main, argv=["evaluate", "--model", "m.keras"]) == 70
    line = one_error_line(capsys, "tfaffect evaluate")
    assert "internal error (a bug in tfaffect" in line and "KeyError" in line
    (written,) = log_dir.iterdir()
    assert str(written) in line
    text = written.read_text()
    assert "Traceback (most recent call last)" in text and "missing key" in text and "--model m.keras" in text


def test_outputs_are_checked_before_the_command_runs(tmp_path, capsys):
    existing = tmp_path / "results.txt"
    existing.write_text("not a folder")
    calls = []
    assert boundary.run_guarded("p", lambda: calls.append(1), output_dirs=[("--out", existing)]) == 2
    assert not calls
    line = one_error_line(capsys, "p")
    assert str(existing) in line and "a folder is expected" in line


def test_option_values_finds_output_options_before_parsing():
    argv = ["--epochs", "2", "--run-dir", "a", "--run_dir=b", "--smoke", "--run-dir=c", "--", "--run-dir", "d"]
    assert boundary.option_values(argv, "--run-dir") == ["a", "b", "c"]


@pytest.mark.parametrize("command", ["synth", "prepare", "evaluate", "export", "predict", "convert"])
def test_every_command_refuses_an_existing_file_as_out_before_any_work(command, tmp_path, capsys):
    """Issue #12: every command tracebacked when --out was an existing file (predict only after the whole video)."""
    existing = tmp_path / "existing.txt"
    existing.write_text("x")
    argv = {
        "synth": ["synth", "--out", str(existing)],
        "prepare": ["prepare", "--dataset", "affwild2", "--root", str(tmp_path / "raw"), "--out", str(existing)],
        "evaluate": ["evaluate", "--model", str(tmp_path / "m.keras"), "--data", str(tmp_path), "--out",
                     str(existing)],
        "export": ["export", "--model", str(tmp_path / "m.keras"), "--out", str(existing), "--overwrite"],
        "predict": ["predict", str(tmp_path / "v.mp4"), "--model", str(tmp_path / "m.keras"), "--out", str(existing)],
        "convert": ["convert", "vggface-h5", str(tmp_path / "w.h5"), "--out", str(existing)],
    }[command]
    assert cli.main(argv) == 2
    line = one_error_line(capsys, f"tfaffect {command}")
    assert str(existing) in line and "a folder is expected" in line
    assert existing.read_text() == "x"


def test_report_refuses_a_folder_as_out_file(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "a file is expected" in one_error_line(capsys, "tfaffect report")


def test_train_and_recipe_files_check_the_run_dir_first(tmp_path, capsys):
    existing = tmp_path / "run.txt"
    existing.write_text("x")
    recipes = REPO / "recipes"
    assert cli.main(["train", "--recipes-dir", str(recipes), "affwildnet", "--smoke", "--run-dir", str(existing)]) == 2
    assert "a folder is expected" in one_error_line(capsys, "tfaffect train")
    # a recipe file's own entry point (Recipe.main) goes through the same boundary
    result = subprocess.run([sys.executable, str(recipes / "affwildnet.py"), "--smoke", f"--run-dir={existing}"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not _is_log_line(line)]
    assert len(lines) == 1 and "a folder is expected" in lines[0] and str(existing) in lines[0]


def test_recipe_main_reports_an_unexpected_exception_as_a_bug(tmp_path, log_dir):
    code = textwrap.dedent("""
        from tfaffect.boundary import run_recipe

        class Broken:
            @classmethod
            def recipe_name(cls):
                return "broken"

            @classmethod
            def run_cli(cls, argv):
                raise ZeroDivisionError("inside training")

        raise SystemExit(run_recipe(Broken, ["--epochs", "1"]))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, boundary.LOG_DIR_VAR: str(log_dir)})
    assert result.returncode == 70
    assert result.stderr.count("\n") == 1 and "broken: internal error" in result.stderr
    (written,) = log_dir.iterdir()
    assert "ZeroDivisionError: inside training" in written.read_text()
