"""STAT + LSTM temporal models trained on cached per-frame face features (face_features="cached"): the stages
it declares, what it reads, its validation, and a smoke-sized run through the runner that trains, evaluates
and gives back an image-input model."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from tfaffect.errors import ConfigError
from tfaffect.models.saving import load_model
from tfaffect.models.stat_lstm import FaceFeatureModel
from tfaffect.training import registry, runner
from tfaffect.training.features import FeatureStage
from tfaffect.training.stat_lstm import FaceModelFile, StatLSTMRecipe

TABLE = registry.discover(registry.recipes_dir(None))["stat_lstm"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFAFFECT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cached_features_come_from_the_face_stage_and_are_read_without_image_augmentation(cache, monkeypatch):
    recipe = TABLE.from_args(["--smoke", "--face-features", "cached"])  # SynthAffect: face_pretrain 2
    stages = recipe.requires()
    assert set(stages) == {"face", "features"} and isinstance(stages["features"], FeatureStage)
    assert stages["features"].source == stages["face"]
    assert stages["features"].outputs == {"features": "face:features", "scores": "face:expression"}
    assert stages["features"].splits == ("train", "validation")
    assert stages["features"].crop == round(0.875 * 32) and stages["features"].image_size == 32  # the evaluation's cut
    assert recipe.face_pretrain_recipe().face_features == "end_to_end"  # the same face stage as end_to_end runs
    assert recipe.deviations()["face_features"] == {"published": "end_to_end", "used": "cached",
                                                     "source": "paper"}  # section II.C

    import tfaffect.data.pipeline as pipeline

    calls = []
    monkeypatch.setattr(StatLSTMRecipe, "stage_dir", lambda self, name: f"<{name}>")
    monkeypatch.setattr(pipeline, "make_feature_dataset", lambda folder, split, **kw: calls.append((folder, kw)))
    dataclasses.replace(recipe, label_frames="any").read("train", **recipe.training_args(0))  # no map on the fake
    folder, kwargs = calls[0]
    assert folder == "<features>" and kwargs["mode"] == "windows" and kwargs["seq_len"] == 5
    assert not {"flip", "crop", "image_size"} & set(kwargs)  # nothing to crop, flip or resize in features


def test_cached_needs_a_temporal_model_and_a_trained_face(cache):
    with pytest.raises(ConfigError, match="image model"):
        TABLE.from_args(["--row", "model 2", "--face-features", "cached"])
    with pytest.raises(ConfigError, match="face_pretrain .* or face_weights"):
        TABLE.from_args(["--data", "shards", "--face-features", "cached"]).requires()
    assert TABLE.from_args(["--data", "shards"]).face_features == "end_to_end"  # the paper's, the default


def test_a_cached_smoke_run_trains_evaluates_and_gives_an_image_input_model(cache, tmp_path):
    keras.utils.set_random_seed(0)
    face = FaceFeatureModel(image_size=32)
    face.save_weights(tmp_path / "face.weights.h5")
    recipe = TABLE.from_args(["--smoke", "--face-features", "cached", "--face-pretrain", "none",
                              "--face-weights", str(tmp_path / "face.weights.h5")])
    stages = recipe.requires()
    assert set(stages) == {"face_model", "features"} and isinstance(stages["face_model"], FaceModelFile)
    keras.backend.clear_session()
    metrics = runner.run(recipe, tmp_path / "run", verbose=0)
    evaluation = json.loads((tmp_path / "run" / "metrics.json").read_text())["evaluation"]
    assert metrics["final"] and evaluation["frames"] > 0 and -1 <= evaluation["ccc_valence"] <= 1
    assert recipe.stage_dir("features").parent == cache / "stat_lstm_features"
    x, _, _ = next(iter(recipe.read("train", **recipe.training_args(0))))
    assert set(x) == {"features", "scores"} and x["features"].shape == (2, 5, 2048)

    saved = load_model(tmp_path / "run" / "model.keras")
    assert set(saved.input) == {"features", "scores"}
    image_model = recipe.image_model(tmp_path / "run")
    clip = np.random.default_rng(3).integers(0, 256, size=(1, 5, 32, 32, 3), dtype=np.uint8)
    per_frame = face.predict_on_batch({"image": clip[0]})
    expected = saved.predict_on_batch({"features": per_frame["features"][None], "scores": per_frame["expression"][None]})
    for key, value in image_model.predict_on_batch({"image": clip}).items():
        np.testing.assert_allclose(value, expected[key], rtol=0, atol=1e-5, err_msg=key)
