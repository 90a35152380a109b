"""The per-frame feature cache as a stage (tfaffect.training.features.FeatureStage, resolved by the runner):
extracted once per model, outputs and data, reused after (logged, files untouched), extracted anew when the
output layer or the data change, resumed after a SIGKILL with nothing duplicated, equal to the model's own
outputs; a recipe declares it in requires() and reads it with make_feature_dataset."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from tfaffect.data.pipeline import make_dataset, make_feature_dataset, num_elements
from tfaffect.errors import ConfigError, MissingResourceError
from tfaffect.training import hparam, runner, stages
from tfaffect.training.features import FeatureStage
from tiny_recipe import TinyRecipe

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_pipeline import identified_dataset  # noqa: E402  (tests/data: the pipeline tests' identified videos)

LENGTHS = (5, 4, 7)  # 3 shards of 5 frames at most; frame 2 of video 1 has no face


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFAFFECT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return identified_dataset(tmp_path_factory.mktemp("data"), LENGTHS, missing={1: (2,)}, frames_per_shard=5)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A tiny frame CNN on the data's 16 px frames (random weights: extraction does not care)."""
    keras.utils.set_random_seed(0)
    image = keras.Input((16, 16, 3), dtype="uint8", name="image")
    h = keras.layers.Rescaling(1 / 255)(image)
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(h)
    h = keras.layers.Dense(8, activation="relu", name="features")(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model({"image": image}, {"va": keras.layers.Dense(2, name="va")(h)})
    path = tmp_path_factory.mktemp("model") / "frame_cnn.keras"
    model.save(path)
    return path


def files(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir())}


def read_all(folder, output="fc"):
    """(index, features) of every frame of the train split, in order."""
    batches = list(make_feature_dataset(folder, "train", batch_size=8, training=False, with_index=True)
                   .as_numpy_iterator())
    index = [(v.decode(), int(f)) for _, _, _, i in batches for v, f in zip(i["video_id"], i["frame"])]
    return index, np.concatenate([x[output] for x, _, _, _ in batches])


def test_extracted_once_reused_after_and_extracted_anew_for_another_layer_or_data(cache, tmp_path, model_file,
                                                                                   caplog):
    data = identified_dataset(tmp_path / "data", LENGTHS, frames_per_shard=5)
    stage = FeatureStage(model_file, {"fc": "features"}, data=data, label="tiny")
    first = runner.resolve(stage)
    assert first.parent == cache / "features" and first.name.startswith("tiny-")
    written = files(first)
    assert "manifest.json" in written and len(written) == 4  # 3 shards + manifest, nothing else
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tfaffect"):
        assert runner.resolve(stage) == first
    assert any("reusing the finished stage" in r.getMessage() for r in caplog.records)
    assert files(first) == written  # nothing rewritten

    conv = runner.resolve(dataclasses.replace(stage, outputs={"fc": "conv"}))
    assert conv != first and read_all(conv)[1].shape == (16, 14 * 14 * 4)  # the conv maps, flattened
    identified_dataset(tmp_path / "data", (5, 4, 6), frames_per_shard=5)  # the data change (prepared again)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tfaffect"):
        changed = runner.resolve(stage)
    assert changed not in (first, conv) and any("running stage" in r.getMessage() for r in caplog.records)
    assert len(read_all(changed)[0]) == 15 and files(first) == written


def test_features_equal_the_models_own_outputs_on_the_same_frames(cache, data, model_file):
    folder = runner.resolve(FeatureStage(model_file, {"fc": "features", "va": "va"}, data=data, batch_size=4))
    index, fc = read_all(folder)
    model = keras.saving.load_model(model_file)
    cut = keras.Model(model.input, model.get_layer("features").output)
    frames = list(make_dataset(data, "train", batch_size=5, training=False, with_index=True).as_numpy_iterator())
    expected = np.concatenate([cut.predict_on_batch(x) for x, _, _, _ in frames])
    assert index == [(v.decode(), int(f)) for *_, i in frames for v, f in zip(i["video_id"], i["frame"])]
    np.testing.assert_allclose(fc, expected, atol=1e-5)
    assert np.ptp(fc, axis=0).max() > 0  # frames differ, so the equality says something
    windows = list(make_feature_dataset(folder, "train", batch_size=2, training=False, mode="windows", seq_len=4,
                                        stride=4, with_index=True).as_numpy_iterator())
    assert windows[0][0]["fc"].shape == (2, 4, 8) and windows[0][0]["va"].shape == (2, 4, 2)


def test_an_output_names_an_entry_of_a_nested_models_dict_output(cache, data, tmp_path):
    """'layer:key': an entry of a sub-model's dict output (the STAT + LSTM face model inside an image model)."""
    keras.utils.set_random_seed(1)
    inner_image = keras.Input((16, 16, 3), dtype="uint8", name="image")
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="tanh")(
        keras.layers.Rescaling(1 / 255)(inner_image)))
    features = keras.layers.Dense(6, name="features")(h)
    face = keras.Model({"image": inner_image}, {"features": features, "expression": keras.layers.Dense(
        7, activation="softmax", name="predictions")(features)}, name="face")
    image = keras.Input((16, 16, 3), dtype="uint8", name="image")
    outer = face({"image": image})
    model = keras.Model({"image": image}, {"va": keras.layers.Dense(2, name="va")(outer["features"])})
    model.save(tmp_path / "nested.keras")
    stage = FeatureStage(tmp_path / "nested.keras", {"f": "face:features", "s": "face:expression"}, data=data)
    folder = runner.resolve(stage)
    frames = list(make_dataset(data, "train", batch_size=5, training=False).as_numpy_iterator())
    expected = [face.predict_on_batch(x) for x, _, _ in frames]
    for name, key in (("f", "features"), ("s", "expression")):
        got = read_all(folder, name)[1]
        np.testing.assert_allclose(got, np.concatenate([e[key] for e in expected]), atol=1e-5)
        assert np.ptp(got, axis=0).max() > 0
    for spec, message in (("face:scores", "outputs expression, features, not 'scores'"),
                          ("va:features", "nested model's dict output")):
        with pytest.raises(ConfigError, match=message):
            FeatureStage(tmp_path / "nested.keras", {"x": spec}, data=data).extractor()


KILLED_EXTRACTION = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from tfaffect.data import features
    from tfaffect.training import runner
    from tfaffect.training.features import FeatureStage

    write_shard, calls = features._write_feature_shard, []

    def dies_in_the_second_shard(source_dir, out_dir, entry, extract, *args):
        calls.append(entry["file"])
        def extract_then_die(images):
            values = extract(images)
            if len(calls) == 2:  # one batch of the second shard extracted, then killed mid-write
                os.kill(os.getpid(), signal.SIGKILL)
            return values
        return write_shard(source_dir, out_dir, entry, extract_then_die, *args)

    features._write_feature_shard = dies_in_the_second_shard
    runner.resolve(FeatureStage(sys.argv[1], {"fc": "features"}, data=sys.argv[2], batch_size=2))
""")


def test_a_killed_extraction_resumes_with_the_remaining_shards_and_duplicates_nothing(cache, data, model_file,
                                                                                     tmp_path, monkeypatch, caplog):
    stage = FeatureStage(model_file, {"fc": "features"}, data=data, batch_size=2)
    killed = subprocess.run([sys.executable, "-c", KILLED_EXTRACTION, str(model_file), data], env=os.environ,
                            cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    folder = stages.stage_dir(stage)
    left = sorted(p.name for p in folder.iterdir())
    assert left[:2] == ["manifest.partial.json", "train-00000-of-00003.tfrecord"] and len(left) == 3, left
    assert ".tmp-" in left[2]  # the second shard, half written under its temporary name
    first_shard = (folder / left[1]).stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="tfaffect"):
        assert runner.resolve(stage) == folder
    assert any("complete from a previous run" in r.getMessage() for r in caplog.records)
    assert (folder / left[1]).stat().st_mtime_ns == first_shard
    assert sorted(files(folder)) == ["manifest.json"] + [f"train-0000{k}-of-00003.tfrecord" for k in range(3)]

    monkeypatch.setenv("TFAFFECT_CACHE", str(tmp_path / "uninterrupted"))
    index, fc = read_all(runner.resolve(stage))
    resumed_index, resumed = read_all(folder)
    assert resumed_index == index and len(set(index)) == len(index) == sum(LENGTHS)
    np.testing.assert_allclose(resumed, fc, atol=1e-6)


@dataclasses.dataclass(frozen=True)
class TemporalOnFeatures(TinyRecipe):
    """A recipe that trains an LSTM over 4-frame windows of a frame model's cached per-frame outputs."""

    data: str = hparam("", "test fixture: the prepared images the frame model's outputs are extracted from")

    def requires(self):
        frame_model = stages.RecipeStage(TinyRecipe(epochs=1, seed=self.seed), "feature_test", "frame_model")
        return {"frame_model": frame_model,
                "features": FeatureStage(frame_model, {"frame_va": "va"}, data=self.data, label="frame_va")}

    def build_model(self):
        frame_va = keras.Input((4, 2), name="frame_va")
        va = keras.layers.Dense(2, name="va")(keras.layers.LSTM(4, return_sequences=True)(frame_va))
        return keras.Model({"frame_va": frame_va}, {"va": va})

    def train_examples(self):
        return num_elements(self.stage_dir("features"), "train", mode="windows", seq_len=4, stride=2)

    def datasets(self):
        def windows(training):
            return make_feature_dataset(self.stage_dir("features"), "train", batch_size=self.batch_size,
                                        training=training, mode="windows", seq_len=4, stride=2, tasks=("va",))
        return windows(True), windows(False)


def test_a_recipe_declares_a_feature_stage_and_reads_it(cache, data, tmp_path):
    recipe = TemporalOnFeatures(epochs=1, batch_size=2, data=data)
    with pytest.raises(MissingResourceError, match="'features'.*has not been extracted yet"):
        recipe.stage_dir("features")
    metrics = runner.run(recipe, tmp_path / "run")
    assert metrics["run_dir"] == str(tmp_path / "run") and (tmp_path / "run" / "metrics.json").is_file()
    features = recipe.stage_dir("features")
    assert features.parent == cache / "features" and recipe.stage_dir("frame_model").parent == cache / "feature_test"
    assert read_all(features, "frame_va")[1].shape == (sum(LENGTHS), 2)  # the frame model's va, frame by frame
