"""The trainer in-process: run-directory contents, metrics against an independent evaluation,
re-runs, configuration clashes, precision/XLA/strategy options, provenance helpers.

In-process runs use deterministic=False: op determinism is process-wide in TensorFlow and would leak
into other test files (the resume test, which needs it, runs in subprocesses).
"""

import csv
import dataclasses
import json
import re
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfaffect.errors import ConfigError
from tfaffect.training import train
from tfaffect.training.trainer import default_run_dir, git_info
from tiny_recipe import TinyRecipe


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 2-epoch run (2 steps each) with a piecewise schedule that drops the rate after epoch 1."""
    recipe = TinyRecipe(deterministic=False, epochs=2, max_steps_per_epoch=2, lr_schedule="piecewise",
                        lr_boundaries=(1,), lr_values=(0.001,))
    run_dir = tmp_path_factory.mktemp("run") / "tiny"
    metrics = train(recipe, run_dir, verbose=0)
    return recipe, run_dir, metrics


def test_run_directory_contents(finished_run):
    recipe, run_dir, metrics = finished_run
    for name in ("config.json", "provenance.json", "train.log", "training_log.csv", "history.csv",
                 "metrics.json", "model.keras", "plots/learning_curve.png"):
        assert (run_dir / name).is_file(), name
    # by default the best epoch's checkpoint and the last one
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {
        f"epoch_{metrics['best_epoch']:03d}.weights.h5", "epoch_002.weights.h5"}
    assert not (run_dir / "backup").exists()  # removed once the run finished
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert not [p for p in run_dir.rglob("*") if "tmp" in p.name]  # no temporary files left

    config = json.loads((run_dir / "config.json").read_text())
    assert config["recipe"] == "tiny" and config["class"] == "TinyRecipe"
    assert config["fields"] == json.loads(recipe.to_json())
    # 5 batches capped at 2 steps; boundary after epoch 1 = step 2 * 1 - 1
    # every field the fixture set away from TinyRecipe's defaults is listed as a deviation
    # (labelled "chosen": TinyRecipe's and the base's run settings cite no paper)
    chosen = {"source": "chosen (paper silent)"}
    deviations = {"deterministic": {"published": True, "used": False, **chosen},
                  "epochs": {"published": 4, "used": 2, **chosen},
                  "max_steps_per_epoch": {"published": None, "used": 2, **chosen},
                  "lr_schedule": {"published": "constant", "used": "piecewise", **chosen},
                  "lr_boundaries": {"published": [], "used": [1.0], **chosen},
                  "lr_values": {"published": [], "used": [0.001], **chosen}}
    assert config["derived"] == {"steps_per_epoch": 2, "lr_boundary_steps": [1], "deviations": deviations}

    session, = json.loads((run_dir / "provenance.json").read_text())["sessions"]
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", session["git"]["sha"])
    assert session["git"]["dirty"] in (True, False, None)
    assert session["environment"]["tensorflow"] == tf.__version__
    assert session["environment"]["keras"] == keras.__version__
    assert session["resuming"] is False

    log_text = (run_dir / "train.log").read_text()
    assert "epoch 1/2: loss=" in log_text and "epoch 2/2: loss=" in log_text


def test_history_and_learning_rate_per_epoch(finished_run):
    _, run_dir, metrics = finished_run
    history = read_csv(run_dir / "history.csv")
    assert [int(r["epoch"]) for r in history] == [1, 2]
    # the piecewise schedule: 0.01 for epoch 1, 0.001 from the first step of epoch 2
    np.testing.assert_allclose([float(r["lr"]) for r in history], [0.01, 0.001], rtol=1e-6)
    assert [float(r["train_frames"]) for r in history] == [16.0, 16.0]  # 2 steps x 8 images
    raw = read_csv(run_dir / "training_log.csv")
    assert [int(r["epoch"]) for r in raw] == [0, 1]  # Keras's own 0-based log


def test_metrics_match_an_independent_evaluation_of_the_saved_model(finished_run):
    recipe, run_dir, metrics = finished_run
    assert metrics == {**json.loads((run_dir / "metrics.json").read_text()), "run_dir": str(run_dir)}
    model = keras.saving.load_model(run_dir / "model.keras")
    images, va, weights = recipe.make_split(16, 2)  # the validation split of TinyRecipe.datasets
    pred = model.predict({"image": images}, verbose=0)["va"]
    per_frame = ((pred - va) ** 2).mean(axis=1)
    expected_mse = float((weights * per_frame).sum() / weights.sum())
    assert metrics["final"]["val_mse"] == pytest.approx(expected_mse, rel=1e-5)

    history = read_csv(run_dir / "history.csv")
    val_loss = [float(r["val_loss"]) for r in history]
    assert metrics["best_epoch"] == 1 + int(np.argmin(val_loss))
    assert metrics["best_checkpoint"] == f"checkpoints/epoch_{metrics['best_epoch']:03d}.weights.h5"
    assert metrics["epochs"] == 2 and metrics["sessions"] == 1
    assert metrics["train_frames_per_s"] > 0 and metrics["wall_time_s"] > 0


def test_rerun_of_a_finished_run_returns_its_metrics_without_training(finished_run):
    recipe, run_dir, metrics = finished_run
    log_before = (run_dir / "training_log.csv").read_text()
    again = train(recipe, run_dir, verbose=0)
    assert again == metrics
    assert (run_dir / "training_log.csv").read_text() == log_before
    assert len(json.loads((run_dir / "provenance.json").read_text())["sessions"]) == 1


def test_run_directory_of_another_config_is_refused(finished_run):
    recipe, run_dir, _ = finished_run
    with pytest.raises(ConfigError, match=r"another configuration \(epochs: 2 -> 3\)"):
        train(TinyRecipe(**{**recipe.to_dict(), "epochs": 3}), run_dir, verbose=0)


def test_the_best_and_the_last_checkpoint_are_kept_by_default(tmp_path):
    # the rate drops after epoch 1, so monitoring the highest rate makes epoch 1 the best
    recipe = TinyRecipe(deterministic=False, epochs=3, max_steps_per_epoch=1, max_validation_steps=1,
                        lr_schedule="piecewise", lr_boundaries=(1,), lr_values=(0.001,), monitor="lr",
                        monitor_mode="max")
    metrics = train(recipe, tmp_path / "run", verbose=0)
    assert metrics["best_epoch"] == 1
    assert metrics["best_checkpoint"] == "checkpoints/epoch_001.weights.h5"
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "epoch_001.weights.h5", "epoch_003.weights.h5"]


def test_keep_checkpoints_prunes_old_epochs(tmp_path):
    recipe = TinyRecipe(deterministic=False, epochs=3, max_steps_per_epoch=1, max_validation_steps=1,
                        keep_checkpoints=1)
    train(recipe, tmp_path / "run", verbose=0)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["epoch_003.weights.h5"]


def test_mixed_precision_and_xla(tmp_path):
    recipe = TinyRecipe.from_args(["--smoke", "--no-deterministic", "--mixed-precision", "--jit-compile"])
    train(recipe, tmp_path / "run", verbose=0)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert {layer.dtype_policy.name for layer in dense} == {"mixed_bfloat16"}
    session, = json.loads((tmp_path / "run" / "provenance.json").read_text())["sessions"]
    assert session["environment"]["dtype_policy"] == "mixed_bfloat16"


def test_mirrored_strategy(tmp_path):
    recipe = TinyRecipe.from_args(["--smoke", "--no-deterministic", "--distribute", "mirrored"])
    metrics = train(recipe, tmp_path / "run", verbose=0)
    session, = json.loads((tmp_path / "run" / "provenance.json").read_text())["sessions"]
    assert session["environment"]["replicas"] >= 1
    assert np.isfinite(metrics["final"]["val_loss"])


def test_infinite_training_stream_needs_a_step_count(tmp_path):
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Endless(TinyRecipe):
        def datasets(self):
            train_ds, val_ds = super().datasets()
            return train_ds.repeat(), val_ds

    with pytest.raises(ConfigError, match="the training dataset is infinite"):
        train(Endless(deterministic=False), tmp_path / "run", verbose=0)
    # with a step count it trains; fit keeps one iterator across the epochs
    metrics = train(Endless(deterministic=False, epochs=2, max_steps_per_epoch=3), tmp_path / "run2",
                    verbose=0)
    assert [float(r["train_frames"]) for r in read_csv(tmp_path / "run2" / "history.csv")] == [24.0, 24.0]
    assert metrics["epochs"] == 2


def test_git_info_outside_a_checkout(tmp_path):
    assert git_info(tmp_path) == {"sha": "unknown", "dirty": None}


def test_default_run_dir_is_fresh(tmp_path):
    first = default_run_dir(TinyRecipe(), root=tmp_path)
    assert first.parent == tmp_path / "tiny"
    assert re.fullmatch(r"\d{8}T\d{6}Z", first.name)
    first.mkdir(parents=True)
    second = default_run_dir(TinyRecipe(), root=tmp_path)
    assert second != first and not second.exists()


@dataclasses.dataclass(frozen=True)
class UnknownLengthValidation(TinyRecipe):
    """TinyRecipe whose validation batches come through a filter (unknown cardinality, as the pipeline's)."""

    def datasets(self):
        train_ds, val_ds = super().datasets()
        return train_ds, val_ds.filter(lambda *batch: True)


@pytest.mark.parametrize("cap,validation", [(None, {"batches": 2, "capped": False}),
                                            (1, {"batches": 1, "capped": True})])
def test_validation_of_unknown_length_runs_without_the_ran_out_of_data_warning(tmp_path, cap, validation):
    recipe = UnknownLengthValidation(deterministic=False, epochs=2, max_steps_per_epoch=1, max_validation_steps=cap)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = train(recipe, tmp_path / "run", verbose=0)
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    assert metrics["validation"] == validation
    # the same figures as Keras's own evaluate over the same batches
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    val_ds = recipe.datasets()[1]
    expected = model.evaluate(val_ds, steps=validation["batches"], verbose=0, return_dict=True)
    assert metrics["final"]["val_loss"] == pytest.approx(expected["loss"], rel=1e-5)
