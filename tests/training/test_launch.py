"""The command line of training (tfaffect.launch): a finished run exports its SavedModel to
saved_models/<recipe>/ and says how to load it; --smoke runs and --no-export do not; a failed export
leaves the previous one in place."""

import json


from tfaffect import launch
from tfaffect.export import signatures
from tfaffect.training.options import argument_parser
from tiny_recipe import TinyRecipe

FAST = ["--epochs", "1", "--max-steps-per-epoch", "1", "--no-deterministic"]


def test_a_run_exports_its_model_and_says_how_to_load_it(tmp_path, monkeypatch, capsys):
    import tfaffect

    monkeypatch.chdir(tmp_path)
    assert launch.run_cli(TinyRecipe, [*FAST, "--run-dir", "run"]) == 0
    out = capsys.readouterr().out
    export = tmp_path / "saved_models" / "tiny"
    assert (export / "saved_model.pb").is_file()
    assert json.loads((export / "metadata.json").read_text())["recipe"]["name"] == "tiny"
    assert f"SavedModel: {export.relative_to(tmp_path)}" in out
    line = next(line for line in out.splitlines() if line.startswith("load it: "))
    assert "tfaffect.load_model('saved_models/tiny')" in line
    assert tfaffect.load_model("saved_models/tiny") is not None
    assert [p.name for p in (tmp_path / "saved_models").iterdir()] == ["tiny"]  # no temporary folder left


def test_smoke_and_no_export_runs_export_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert launch.run_cli(TinyRecipe, ["--smoke", "--no-deterministic", "--run-dir", "a"]) == 0
    assert "SavedModel: not exported (a --smoke run; pass --export to export it)" in capsys.readouterr().out
    assert launch.run_cli(TinyRecipe, [*FAST, "--no-export", "--run-dir", "b"]) == 0
    assert "SavedModel: not exported (--no-export)" in capsys.readouterr().out
    assert not (tmp_path / "saved_models").exists()


def test_a_failed_export_leaves_the_previous_one(tmp_path, monkeypatch, capsys):
    from tfaffect.errors import ConfigError

    previous = tmp_path / "models" / "mine"
    previous.mkdir(parents=True)
    (previous / "marker").write_text("the previous export")

    def fail(*args, **kwargs):
        raise ConfigError("simulated failure while writing metadata.json")

    monkeypatch.setattr(signatures, "write_json_atomic", fail)
    status = launch.run_cli(TinyRecipe, ["--smoke", "--no-deterministic", "--export", "--export-dir", str(previous),
                                         "--run-dir", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert status == 2
    assert "SavedModel: not exported: tiny: error: simulated failure" in out
    assert str(tmp_path / "run") in out  # the summary of the finished training still comes
    assert [p.name for p in previous.iterdir()] == ["marker"]
    assert [p.name for p in previous.parent.iterdir()] == ["mine"]


def test_help_names_the_export_options():
    text = argument_parser(TinyRecipe, run_options=launch.export_options).format_help()
    assert "--no-export" in text and "--export-dir DIR" in text and "--smoke runs skip it" in text


def test_tfaffect_train_checks_the_export_dir_before_training(tmp_path, capsys):
    from pathlib import Path

    from tfaffect import cli

    existing = tmp_path / "file.txt"
    existing.write_text("x")
    recipe = Path(__file__).with_name("tiny_recipe.py")
    assert cli.main(["train", str(recipe), "--export-dir", str(existing)]) == 2
    err = capsys.readouterr().err
    assert "--export-dir" in err and "a folder is expected" in err
    assert not (tmp_path / "run").exists()


def test_a_model_that_reads_no_frames_is_not_exported_and_the_run_still_succeeds(tmp_path):
    """Kahou's fusion and audio models read clip features or SVM probabilities: no SavedModel (it serves frames),
    a line saying why and how to use the run, no error status (their default runs exited with 2 before)."""
    import keras

    run = tmp_path / "run"
    run.mkdir()
    probabilities = keras.Input((7,), name="audio")
    keras.Model({"audio": probabilities}, {"expression": keras.layers.Softmax()(probabilities)}).save(run / "model.keras")
    (run / "config.json").write_text(json.dumps({"recipe": "fusion", "fields": {}}))
    (run / "metrics.json").write_text(json.dumps({"final": {}}))
    lines = launch.export_lines(run, tmp_path / "saved_models" / "fusion")
    assert len(lines) == 1 and lines[0].startswith("SavedModel: none (the model reads audio, not face frames")
    assert str(run / "model.keras") in lines[0]
    assert not (tmp_path / "saved_models").exists()
