"""The Kollias recipes' evaluation helpers: whole-video recurrent evaluation, landmark statistics,
the learning warning. Expected values come from one plain call of the model on the whole video, or
from numpy by hand."""

import json

import numpy as np
import pytest

from tfaffect.data.pipeline import known_length
from tfaffect.models import AffWildNet
from tfaffect.training import registry
from tfaffect.training.affwild import whole_videos
from tfaffect.training.task import LEARNING_FLOOR, learning_warnings


def windowed_batches(images, points, labels, video, window, batch):
    """What make_dataset(training=False, mode='windows', stride=window) gives for one video: windows at
    0, W, 2W, ... plus a tail window aligned to the end, ``batch`` windows per batch (the last short)."""
    n = len(images)
    starts = list(range(0, n - window + 1, window))
    if starts[-1] + window < n:
        starts.append(n - window)
    elements = []
    for s in starts:
        frames = np.arange(s, s + window)
        elements.append(({"image": images[frames], "landmarks": points[frames]}, {"va": labels[frames]},
                         {"va": np.ones(window, np.float32)}, frames))
    for i in range(0, len(elements), batch):
        part = elements[i:i + batch]
        yield ({k: np.stack([e[0][k] for e in part]) for k in ("image", "landmarks")},
               {"va": np.stack([e[1]["va"] for e in part])}, {"va": np.stack([e[2]["va"] for e in part])},
               {"video_id": np.array([video.encode()] * len(part)), "frame": np.stack([e[3] for e in part]),
                "has_face": np.ones((len(part), window), np.int32)})


def test_whole_video_evaluation_equals_one_call_on_the_whole_video():
    rng = np.random.default_rng(0)
    model = AffWildNet(image_size=32, units=8, fc_units=(16,), landmarks=True, dropout=0.5,
                       landmark_stats=[rng.uniform(0.2, 0.8, 136).tolist(), rng.uniform(0.01, 0.1, 136).tolist()])
    videos = {}
    for name, n in (("a", 23), ("b", 10)):
        videos[name] = (rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                        rng.uniform(0, 1, (n, 68, 2)).astype(np.float32),
                        rng.uniform(-1, 1, (n, 2)).astype(np.float32))
    batches = [b for name, v in videos.items() for b in windowed_batches(*v, name, window=4, batch=3)]
    predict, per_video = whole_videos(model, iter(batches))
    seen = []
    for x, y, weight, index in per_video:
        name = index["video_id"][0]
        images, points, labels = videos[name]
        expected = model.predict_on_batch({"image": images[None], "landmarks": points[None]})["va"]
        np.testing.assert_allclose(predict(x)["va"], expected, atol=1e-5)
        np.testing.assert_array_equal(index["frame"][0], np.arange(len(images)))  # every frame once, in order
        np.testing.assert_array_equal(y["va"][0], labels)
        seen.append(name)
    assert seen == ["a", "b"]
    # the windowed model restarts its state at every window start: different from the whole-video run
    first = batches[0]
    windowed = model.predict_on_batch(first[0])["va"][1]  # the window starting at frame 4
    whole = model.predict_on_batch({"image": videos["a"][0][None], "landmarks": videos["a"][1][None]})["va"][0, 4:8]
    assert np.abs(windowed - whole).max() > 1e-4


def test_whole_video_evaluation_of_the_emotiw_model_equals_one_call():
    """The transfer recipes (Kollias 2019 section 5) score whole videos too, the EmotiW model (its 7-unit
    softmax after the last GRU, section 5.2.1) included."""
    from tfaffect.training.transfer import with_expression_head

    rng = np.random.default_rng(1)
    model = with_expression_head(AffWildNet(image_size=32, units=8, fc_units=(16,), landmarks=True, dropout=0.5))
    images = rng.integers(0, 256, (11, 32, 32, 3), dtype=np.uint8)
    points = rng.uniform(0, 1, (11, 68, 2)).astype(np.float32)
    batches = [(x, {"expression": np.zeros(w["va"].shape, np.int32)}, {"expression": w["va"]}, index)
               for x, _, w, index in windowed_batches(images, points, np.zeros((11, 2), np.float32), "c",
                                                       window=4, batch=2)]
    predict, per_video = whole_videos(model, iter(batches))
    (x, y, weight, index), = list(per_video)
    expected = model.predict_on_batch({"image": images[None], "landmarks": points[None]})["expression"]
    np.testing.assert_allclose(predict(x)["expression"], expected, atol=1e-5)
    assert y["expression"].shape == (1, 11)


def test_learning_warnings_flag_each_score_below_the_floor():
    assert learning_warnings({"ccc_valence": 0.6, "ccc_arousal": 0.5}) == []
    lines = learning_warnings({"ccc_valence": 0.002, "ccc_arousal": 0.7, "mse_valence": 5.0})
    assert len(lines) == 1 and "ccc valence = 0.002" in lines[0] and f"below {LEARNING_FLOOR}" in lines[0]
    assert len(learning_warnings({"ccc_valence": float("nan"), "ccc_arousal": -0.1})) == 2


def test_split_option_scores_another_split_and_is_checked_before_training():
    """--split names the split the final evaluation scores (the published Aff-Wild numbers are test-set
    numbers); in-training validation stays on the validation split; an unknown split fails before training."""
    import pytest

    from tfaffect.errors import ConfigError
    from tfaffect.training import registry

    cls = registry.find("affwild_cnn")
    assert cls.configure({"smoke": True}).final_split() == "validation"
    recipe = cls.configure({"smoke": True, "split": "test"})
    assert (recipe.final_split(), recipe.evaluation_split()) == ("test", "validation")
    assert "split" not in recipe.deviations()  # an input of the run, not a hyperparameter
    # SynthAffect generates its labelled test split for --split test (tfaffect/data/synth.py): the run reads it
    data = recipe.data_dir()[0]
    assert "test" in json.loads((data / "manifest.json").read_text())["splits"]
    recipe.datasets()
    # a split the data does not have fails before training, naming the splits there are
    with pytest.raises(ConfigError, match="holdout.*train.*validation"):
        cls.configure({"smoke": True, "split": "holdout"}).datasets()


@pytest.mark.parametrize("name", ["affwildnet", "cnn_m_baseline"])  # windows (whole-video predictor), frames
def test_the_evaluation_progress_bar_counts_to_the_batches_read(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TFAFFECT_CACHE", str(tmp_path))  # the smoke SynthAffect, generated here
    recipe = registry.discover(registry.recipes_dir(None))[name].from_args(["--smoke"])
    split = recipe.final_split()
    batches = recipe.read(split, batch_size=recipe.batch_size, training=False,
                          **{**recipe.dataset_args(False), "with_index": True})
    read = sum(1 for _ in batches)
    assert read > 1
    assert known_length(batches) == read  # the total evaluation_frames gives its progress bar
