"""The one error boundary (tfaffect.boundary) of every command and recipe, and the bad inputs of issue #12.

A tfaffect error is one line on stderr naming the file and line/frame and saying what to do (exit 1; 2 for a bad
command line); output paths are checked before any work; anything else is reported as a bug with the file its
traceback went to (exit 70). Commands run in-process through ``tfaffect.cli.main``.
"""

from __future__ import annotations

import json
import re
import shutil
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
    """Log records (INFO/WARNING of the logging module, TensorFlow's C++ log) and tqdm progress bars are not the
    error line."""
    return bool(re.match(r"(INFO|WARNING|DEBUG) |[IWE]\d{4} |WARNING:|[\w -]+: +(\d+%\||\d+\w* \[)", line))


# ----------------------------------------------------------------------------- the boundary itself


def test_tfaffect_error_is_one_line_with_file_line_and_what_to_do(capsys):
    def main():
        raise AnnotationError("not a number: 'x'\nsecond line", "ann/v1.txt", line=7)

    assert boundary.run_guarded("tfaffect prepare", main) == 1
    line = one_error_line(capsys, "tfaffect prepare")
    assert line == ("tfaffect prepare: error: ann/v1.txt, line 7: not a number: 'x' second line (what to do: fix that "
                    "line of the annotation file, or leave the video out)")


def test_the_hint_is_not_repeated_when_the_message_says_what_to_do():
    from tfaffect.errors import ShardError

    line = boundary.format_error("p", ShardError("SHA-256 differs; prepare the dataset again", "s.tfrecord"))
    assert line == "p: error: s.tfrecord: SHA-256 differs; prepare the dataset again"


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
    # a recipe file's own entry point (launch.main) goes through the same boundary
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

        def run_cli(cls, argv):
            raise ZeroDivisionError("inside training")

        raise SystemExit(run_recipe(Broken, ["--epochs", "1"], run_cli))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, boundary.LOG_DIR_VAR: str(log_dir)})
    assert result.returncode == 70
    assert result.stderr.count("\n") == 1 and "broken: internal error" in result.stderr
    (written,) = log_dir.iterdir()
    assert "ZeroDivisionError: inside training" in written.read_text()


# ----------------------------------------------------------------------------- tfaffect evaluate

@pytest.fixture(scope="module")
def evaluation_inputs(tmp_path_factory):
    """A prepared dataset (2 videos x 5 frames of 8 px face crops, split validation) and tiny .keras models: one
    following the data contract, one holding a Lambda layer, one keras.Sequential, and a garbage file."""
    import cv2
    import keras

    from tfaffect.data.formats.base import VideoRecord
    from tfaffect.data.prepare import prepare_records

    root = tmp_path_factory.mktemp("evaluate")
    records = []
    for v in range(2):
        paths = []
        for i in range(5):
            path = root / "crops" / f"v{v}" / f"{i:05d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), np.full((8, 8, 3), 20 * i + 50 * v, np.uint8))
            paths.append(str(path))
        records.append(VideoRecord(video_id=f"v{v}", split="validation", num_frames=5, frame_paths=paths,
                                   valence=np.linspace(-0.5, 0.5, 5), arousal=np.linspace(0.4, -0.4, 5)))
    prepare_records(records, root / "data", dataset="affwild2", size=8, frames_per_shard=5, progress=False)
    image = keras.Input((8, 8, 3), name="image")
    flat = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(image))
    model = keras.Model({"image": image}, {"va": keras.layers.Dense(2, name="va")(flat)})
    model.save(root / "model.keras")
    lambda_model = keras.Model({"image": image}, {"va": keras.layers.Lambda(lambda x: x[:, 0, 0, :2])(image)})
    lambda_model.save(root / "lambda.keras")
    keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2)]).save(root / "seq.keras")
    (root / "garbage.keras").write_bytes(b"PK\x03\x04 not really a zip archive" * 10)
    return root


def _shard(data: Path, split: str = "validation") -> tuple[Path, dict, dict]:
    manifest = json.loads((data / "manifest.json").read_text())
    entry = next(s for s in manifest["shards"] if s["split"] == split)
    return data / entry["file"], entry, manifest


def evaluate_case(inputs: Path, tmp_path: Path, case: str) -> tuple[list[str], str | Path]:
    """``(argv, the file or option the error line must name)`` for one of the 16 bad inputs of issue #12."""
    import hashlib

    data = tmp_path / "data"
    shutil.copytree(inputs / "data", data)
    model = inputs / "model.keras"
    args = {"--model": str(model), "--data": str(data), "--out": str(tmp_path / "out")}
    named: str | Path = ""
    if case == "missing model":
        args["--model"] = named = str(tmp_path / "missing.keras")
    elif case == "model is a folder":
        args["--model"] = named = str(tmp_path)
    elif case == "garbage model":
        args["--model"] = named = str(inputs / "garbage.keras")
    elif case == "empty model":
        (tmp_path / "empty.keras").write_bytes(b"")
        args["--model"] = named = str(tmp_path / "empty.keras")
    elif case == "Lambda model":
        args["--model"] = named = str(inputs / "lambda.keras")
    elif case == "Sequential model":
        args["--model"] = named = str(inputs / "seq.keras")
    elif case == "missing data":
        args["--data"] = named = str(tmp_path / "nowhere")
    elif case == "data without manifest":
        (data / "manifest.json").unlink()
        named = data / "manifest.json"
    elif case == "garbage manifest":
        (data / "manifest.json").write_bytes(b"\xff{not json")
        named = data / "manifest.json"
    elif case == "split bogus":
        args["--split"], named = "bogus", "bogus"
    elif case == "seq-len 0":
        args["--seq-len"], named = "0", "--seq-len"
    elif case == "batch-size 0":
        args["--batch-size"], named = "0", "--batch-size"
    elif case == "truncated shard":
        shard, _, _ = _shard(data)
        shard.write_bytes(shard.read_bytes()[:-40])
        named = shard
    elif case == "missing shard":
        shard, _, _ = _shard(data)
        shard.unlink()
        named = shard
    elif case == "changed byte in a shard":
        shard, _, _ = _shard(data)
        raw = bytearray(shard.read_bytes())
        raw[len(raw) // 2] ^= 0x55
        shard.write_bytes(bytes(raw))
        named = shard
    elif case == "corrupt record passing the manifest check":
        shard, entry, manifest = _shard(data)
        raw = bytearray(shard.read_bytes())
        raw[len(raw) // 2] ^= 0x55
        shard.write_bytes(bytes(raw))
        entry["sha256"] = hashlib.sha256(raw).hexdigest()
        (data / "manifest.json").write_text(json.dumps(manifest))
        named = shard
    else:
        raise AssertionError(case)
    argv = ["evaluate"] + [x for item in args.items() for x in item]
    return argv, named


EVALUATE_CASES = {  # case -> exit status (1: bad input / missing resource, 2: bad command line or configuration)
    "missing model": 1, "model is a folder": 1, "garbage model": 1, "empty model": 1, "Lambda model": 1,
    "Sequential model": 2, "missing data": 1, "data without manifest": 1, "garbage manifest": 1, "split bogus": 2,
    "seq-len 0": 2, "batch-size 0": 2, "truncated shard": 1, "missing shard": 1, "changed byte in a shard": 1,
    "corrupt record passing the manifest check": 1,
}


@pytest.mark.parametrize("case", sorted(EVALUATE_CASES))
def test_evaluate_bad_inputs_are_one_line_errors(evaluation_inputs, tmp_path, capsys, case):
    """Issue #12: all 16 bad-input cases of `tfaffect evaluate` ended in a traceback, even tfaffect's ShardError."""
    argv, named = evaluate_case(evaluation_inputs, tmp_path, case)
    assert cli.main(argv) == EVALUATE_CASES[case]
    line = one_error_line(capsys, "tfaffect evaluate")
    assert "error: " in line and "internal error" not in line and str(named) in line
    if case == "Lambda model":
        assert "Lambda layer" in line
    if case in ("garbage model", "empty model"):
        assert "not a .keras archive" in line
    assert not (tmp_path / "out").exists()  # nothing written


def test_evaluate_still_works_and_writes_its_outputs(evaluation_inputs, tmp_path, capsys):
    shutil.copytree(evaluation_inputs / "data", tmp_path / "data")
    assert cli.main(["evaluate", "--model", str(evaluation_inputs / "model.keras"), "--data", str(tmp_path / "data"),
                     "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["evaluation.csv", "evaluation.json", "frames.csv",
                                                                    "per_video.csv"]
    assert json.loads((tmp_path / "out" / "evaluation.json").read_text())["frames"] == 10
    # issue #14: the progress bar has a total (batches from the manifest), and it is right: it ends at N/N
    done = re.findall(r"evaluate: +100%\|.*\| (\d+)/(\d+) ", capsys.readouterr().err)
    assert done and done[-1][0] == done[-1][1]


# ----------------------------------------------------------------------------- export, predict

def test_export_of_a_plain_sequential_model_is_a_config_error(evaluation_inputs, tmp_path, capsys):
    """Issue #12: `tfaffect export` of a plain keras.Sequential ended in an AttributeError traceback."""
    assert cli.main(["export", "--model", str(evaluation_inputs / "seq.keras"), "--out", str(tmp_path / "x"),
                     "--no-tflite"]) == 2
    line = one_error_line(capsys, "tfaffect export")
    assert "dict input with key 'image'" in line and "Sequential" in line
    assert list(tmp_path.iterdir()) == []


def test_export_names_from_data_never_leave_the_output_folder(evaluation_inputs, tmp_path, capsys, monkeypatch):
    """A run directory's config.json names the export folder and its metrics.json the best checkpoint: data, so
    a name with ../ must not write or read outside (issue #12, item 2)."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(evaluation_inputs / "model.keras", run / "model.keras")
    (run / "config.json").write_text(json.dumps({"recipe": "../../escaped", "fields": {}}))
    (run / "metrics.json").write_text(json.dumps({"best_checkpoint": "../../outside.weights.h5"}))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["export", "--run-dir", str(run), "--weights", "best", "--no-tflite"]) == 1
    line = one_error_line(capsys, "tfaffect export")
    assert "best_checkpoint" in line and str(run / "metrics.json") in line
    assert cli.main(["export", "--run-dir", str(run), "--no-tflite"]) == 0
    capsys.readouterr()
    (exported,) = (tmp_path / "saved_models").iterdir()
    assert exported.name.startswith("_.._escaped-") and (exported / "saved_model.pb").is_file()
    assert not (tmp_path.parent / "escaped").exists()
    assert cli.main(["export", "--model", str(run / "model.keras"), "--name", "../up", "--no-tflite"]) == 2
    assert "--name" in one_error_line(capsys, "tfaffect export")


def test_killed_export_leaves_a_temporary_folder_the_next_export_removes(evaluation_inputs, tmp_path):
    """Issue #12, item 5: killed exports left a hidden ~149 MB .NAME.tmp-<pid>/ that was never removed."""
    code = textwrap.dedent(f"""
        import os, signal
        import tfaffect.export.signatures as signatures
        def die(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        signatures.write_json_atomic = die  # killed after the SavedModel is written, before it is renamed
        from tfaffect import cli
        cli.main(["export", "--model", {str(evaluation_inputs / 'model.keras')!r}, "--out",
                  {str(tmp_path / 'saved' / 'first')!r}, "--no-tflite"])
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == -9, result.stderr
    (left,) = (tmp_path / "saved").iterdir()
    assert left.name.startswith(".first.tmp-") and (left / "saved_model.pb").is_file()
    assert cli.main(["export", "--model", str(evaluation_inputs / "model.keras"), "--out",
                     str(tmp_path / "saved" / "second"), "--no-tflite"]) == 0
    assert [p.name for p in (tmp_path / "saved").iterdir()] == ["second"]


@pytest.mark.parametrize("option", ["--batch-size", "--window"])
def test_predict_refuses_a_zero_batch_or_window(evaluation_inputs, tmp_path, capsys, option):
    """Issue #12: `--batch-size 0` / `--window 0` ended in a traceback."""
    import cv2

    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (32, 24))
    for _ in range(3):
        writer.write(np.zeros((24, 32, 3), np.uint8))
    writer.release()
    assert cli.main(["predict", str(video), "--model", str(evaluation_inputs / "model.keras"), "--out",
                     str(tmp_path / "out"), option, "0", "--no-progress"]) == 2
    assert option in one_error_line(capsys, "tfaffect predict")
    assert not (tmp_path / "out").exists()


def test_predict_on_a_video_without_frames_is_a_video_error(evaluation_inputs, tmp_path, capsys):
    """Issue #12, item 4: a zero-frame AVI gave `predict` exit 0 and an empty CSV."""
    import cv2

    video = tmp_path / "empty.avi"
    cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (32, 24)).release()
    assert cli.main(["predict", str(video), "--model", str(evaluation_inputs / "model.keras"), "--out",
                     str(tmp_path / "out"), "--no-progress"]) == 1
    line = one_error_line(capsys, "tfaffect predict")
    assert str(video) in line and "frame 0" in line and "not a single frame" in line
    assert not (tmp_path / "out").exists()


def test_predict_default_output_folder_is_a_safe_name(evaluation_inputs, tmp_path, capsys, monkeypatch):
    """`predict ..` is the parent folder now (inputs may be folders): without media there it is a one-line
    error, and nothing is written, least of all into the parent of predictions/."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    model = str(evaluation_inputs / "model.keras")
    assert cli.main(["predict", "..", "--model", model]) == 2
    assert "no video or image in this folder" in one_error_line(capsys, "tfaffect predict")
    assert cli.main(["predict", "no_such_clip.mp4", "--model", model]) == 1
    assert "no such video, image, folder" in one_error_line(capsys, "tfaffect predict")
    assert cli.main(["predict", "..", "--model", "m.keras"]) == 1  # the model is checked first
    assert "no such model file" in one_error_line(capsys, "tfaffect predict")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"] and not list(work.iterdir())
