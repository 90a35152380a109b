"""The Do 2020 recipes beyond the registry smoke run: Table I rows, eq. 4 at compile, balanced sampling,
the shuffled-label control, the SynthAffect deviations, and the Fusion recipe's members."""

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfaffect import published
from tfaffect.errors import ConfigError, MissingResourceError
from tfaffect.losses import CCCLoss, MaskedMSE, MaskedSparseCategoricalCrossentropy
from tfaffect.models.stat_lstm import TABLE_I
from tfaffect.training import registry
from tfaffect.training.stat_lstm import StatLSTMRecipe, add_five_vector_target

RECIPES = registry.discover(registry.recipes_dir(None))
TABLE = RECIPES["stat_lstm"]
FUSION = RECIPES["stat_lstm_fusion"]


@pytest.mark.parametrize("number", range(1, 7))
def test_rows_are_the_table_i_models_and_name_their_table_ii_row(number):
    recipe = TABLE.from_args(["--row", f"model {number}", "--data", "shards"])
    assert recipe.model == number and recipe.published_keys() == (("do2020", "Table II", str(number)),)
    row = published.lookup(*recipe.published_keys()[0])
    # Table I's names, as typed from the paper into published.py: "VA" = multi-task, "Frame" = temporal
    assert ("VA" in row.note) == TABLE_I[number]["va"] == recipe.multitask
    assert ("Frame" in row.note) == (TABLE_I[number]["temporal"] != "none") == recipe.temporal
    assert ("LSTM" in row.note) == (TABLE_I[number]["temporal"] == "stat_lstm")
    assert ("ccc_arousal" in row.metrics) == recipe.multitask


def test_the_default_row_is_model_4():
    assert TABLE.from_args(["--data", "shards"]).model == 4


@pytest.mark.parametrize("number", [3, 4])
def test_eq4_weights_and_section_iii_a_optimizer_reach_compile(number):
    recipe = TABLE.from_args(["--row", f"model {number}", "--data", "shards"])
    args = recipe.compile_args(recipe.learning_rate)
    assert isinstance(args["optimizer"], keras.optimizers.Adam)
    assert float(args["optimizer"].learning_rate) == pytest.approx(1e-4)  # section III.A
    assert isinstance(args["loss"]["expression"], MaskedSparseCategoricalCrossentropy)
    if number == 3:  # expression only: the cross-entropy alone
        assert args["loss_weights"] == {"expression": 1.0}
        return
    # eq. 4: 1.0 CE + 0.4 CCC(arousal) + 0.4 CCC(valence) + 0.2 MSE(5-vector)
    assert args["loss_weights"] == {"expression": 1.0, "va": 1.0, "va_aux": 0.2}
    assert isinstance(args["loss"]["va"], CCCLoss) and args["loss"]["va"].dim_weights == (0.4, 0.4)
    assert isinstance(args["loss"]["va_aux"], MaskedMSE) and args["loss"]["va_aux"].columns == "sum"  # eq. 3: a sum
    assert isinstance(TABLE.from_args(["--data", "shards", "--optimizer", "sgd"]).compile_args(1e-4)["optimizer"],
                      keras.optimizers.SGD)


def _fake_make_dataset(calls, clip=20):
    """A make_dataset stand-in that records its arguments and tags the labels with the stream's seed."""

    def make_dataset(data_dir, split, **kwargs):
        calls.append((split, kwargs))
        tag = float(kwargs.get("seed", 0))
        shape = (2, clip)
        x = {"image": tf.fill(shape + (8, 8, 3), tf.constant(int(tag) % 256, tf.uint8))}
        y = {"va": tf.fill(shape + (2,), tag), "expression": tf.zeros(shape, tf.int32)}
        w = {"va": tf.ones(shape), "expression": tf.ones(shape)}
        return tf.data.Dataset.from_tensors((x, y, w))

    return make_dataset


def test_training_balances_expressions_and_the_control_shuffles_labels(monkeypatch, tmp_path):
    import tfaffect.data.pipeline as pipeline

    calls = []
    monkeypatch.setattr(pipeline, "make_dataset", _fake_make_dataset(calls))
    monkeypatch.setattr(StatLSTMRecipe, "data_dir", lambda self: (tmp_path, True))
    recipe = TABLE.from_args(["--data", "shards", "--clip-length", "20", "--seed", "3"])
    train, val = recipe.datasets()
    (split, kwargs), (val_split, val_kwargs) = calls
    assert (split, kwargs["balance"], kwargs["training"]) == ("train", "expression", True)  # section I
    assert kwargs["flip"] is True and kwargs["mode"] == "windows" and kwargs["seq_len"] == 20
    assert val_split == "validation" and "balance" not in val_kwargs and val_kwargs["training"] is False
    x, y, w = next(iter(train))
    # partial windows carry no loss: frames 0..14 of a clip of 20 see fewer than s = 16 real frames
    np.testing.assert_array_equal(w["va"][0], [0.0] * 15 + [1.0] * 5)
    np.testing.assert_array_equal(w["va_aux"][0], w["va"][0])
    assert y["va_aux"].shape == (2, 20, 5)

    calls.clear()
    control = TABLE.from_args(["--data", "shards", "--clip-length", "20", "--seed", "3", "--label-control", "shuffled"])
    train, _ = control.datasets()
    assert [c[1]["seed"] for c in calls if c[0] == "train"] == [3, 3 + 7919]
    x, y, _ = next(iter(train))
    # the images of one stream, the labels of the other
    assert int(x["image"][0, 0, 0, 0, 0]) == 3 and float(y["va"][0, 0, 0]) == 3 + 7919


def test_synthaffect_deviations_are_recorded_and_data_runs_use_the_published_values():
    recipe = TABLE.from_args([])
    deviations = recipe.deviations()
    released, paper, chosen = "released code", "paper", "chosen (paper silent)"
    for field, (published_value, used, source) in {
            "image_size": (224, 64, released), "trainable_stages": (1, 5, paper), "bn_momentum": (None, 0.9, released),
            "epochs": (10, 4, chosen), "feature_stats": (["max", "min", "mean"], [], paper),
            "face_pretrain": (None, 2, paper)}.items():
        assert deviations[field] == {"published": published_value, "used": used, "source": source}, field
    # 32 is the default clip length; the face model starts from a face pretraining stage, not VGGFace2
    assert deviations.keys() == recipe.synthetic_overrides().keys() - {"clip_length"} | {"initial_weights"}
    assert deviations["initial_weights"]["used"].startswith("Table I model 2 trained first on this data")
    with_data = TABLE.from_args(["--data", "shards"])
    assert with_data.image_size == 224 and with_data.bn_momentum is None
    assert with_data.deviations() == {"initial_weights": {  # the published values, but random initial weights
        "published": "face model: VGGFace2 ResNet-50 fine-tuned on AffectNet and RAF-DB (section III.A)",
        "used": "random initialisation", "source": "paper"}}
    assert TABLE.from_args(["--data", "shards", "--face-weights", "face.weights.h5"]).deviations() == {}
    # an explicit option wins over the SynthAffect default
    assert TABLE.from_args(["--bn-momentum", "none"]).bn_momentum is None
    # image models have no face to pretrain and read 32 frames per step; model 3 pretrains model 1's face
    image = TABLE.from_args(["--row", "model 2"])
    assert image.face_pretrain is None and image.batch_size == 32 and image.feature_stats == ("max", "min", "mean")
    assert TABLE.from_args(["--row", "model 3"]).face_pretrain == 1


def test_face_pretraining_is_the_image_model_on_its_own_budget():
    recipe = TABLE.from_args(["--label-control", "shuffled"])
    face = recipe.face_pretrain_recipe()
    # SynthAffect: 16 epochs of 100 steps of 32 frames (face_pretrain_budget), against model 4's 4 x 25 x (2 x 32)
    assert (face.model, face.face_pretrain, face.face_pretrain_budget) == (2, None, ())
    assert (face.epochs, face.max_steps_per_epoch, face.batch_size) == (16, 100, 32)
    assert (recipe.epochs, recipe.max_steps_per_epoch, recipe.batch_size) == (4, 25, 2)
    assert not face.temporal and face.multitask
    # everything else is the temporal run's: data, optimizer, image size, and the control's shuffled labels
    same = ("data", "learning_rate", "image_size", "bn_momentum", "label_control", "max_validation_steps")
    assert all(getattr(face, name) == getattr(recipe, name) for name in same)
    # without a face budget: the temporal run's budget and frames per step (the learning test's configuration)
    default = TABLE.from_args(["--face-pretrain-budget"]).face_pretrain_recipe()
    assert (default.epochs, default.max_steps_per_epoch, default.batch_size) == (4, 25, 2 * 32)
    with pytest.raises(ConfigError, match="face_pretrain_budget"):
        TABLE.from_args(["--face-pretrain-budget", "16", "100"])
    with pytest.raises(ConfigError, match="face_pretrain"):
        TABLE.from_args(["--row", "model 2", "--face-pretrain", "1"])  # an image model has no temporal part
    with pytest.raises(ConfigError, match="face_pretrain"):
        TABLE.from_args(["--face-pretrain", "4"])
    with pytest.raises(ConfigError, match="face_pretrain"):
        TABLE.from_args(["--face-weights", "face.weights.h5"])  # a given face file excludes pretraining


# --------------------------------------------------------------------------------------------------
# Fusion


def test_fusion_trains_the_track1_models_with_the_shared_fields_and_their_own_budget():
    fusion = FUSION.from_args([])
    assert fusion.published_keys() == (("do2020", "Table II", "Fusion"),) and fusion.member_models == (2, 4, 6)
    assert fusion.epochs == 1 and fusion.max_steps_per_epoch == 1  # nothing to train
    members = fusion.member_recipes()
    assert [m.model for m in members] == [2, 4, 6]
    for member in members:
        standalone = TABLE.from_args(["--row", f"model {member.model}"])
        # the demo budget of recipes/stat_lstm.py; the image model gets the fusion's STAT setting, unused there
        assert member.to_dict() == dataclasses.replace(standalone, feature_stats=fusion.feature_stats).to_dict()
    assert members[0].batch_size == 32 and members[1].batch_size == 2  # frames vs clips
    custom = FUSION.from_args(["--image-size", "96", "--label-control", "shuffled"]).member_recipes()
    assert {(m.image_size, m.label_control) for m in custom} == {(96, "shuffled")}


def _member_run(root, name, model, image_size=64, window=16):
    folder = root / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"fields": {"model": model, "image_size": image_size,
                                                               "window": window}}))
    return str(folder)


def test_fusion_reads_given_members_and_checks_them(tmp_path):
    runs = [_member_run(tmp_path, "a", 2), _member_run(tmp_path, "b", 3)]
    fusion = FUSION.from_args(["--members", *runs])
    assert fusion.member_numbers() == [2, 3]
    assert fusion.temporal and fusion.multitask  # model 3 takes clips, model 2 predicts valence/arousal
    with pytest.raises(MissingResourceError, match="model.keras"):
        fusion.build_model()  # config.json alone: not a finished run
    other = _member_run(tmp_path, "c", 4, image_size=96)
    with pytest.raises(ConfigError, match="image_size"):
        FUSION.from_args(["--members", other, runs[0]]).build_model()
    with pytest.raises(MissingResourceError, match="config.json"):
        FUSION.from_args(["--members", runs[0], str(tmp_path / "missing")]).member_numbers()
    with pytest.raises(ConfigError, match="two or more"):
        FUSION.from_args(["--members", runs[0]])
    with pytest.raises(ConfigError, match="two or more"):
        FUSION.from_args(["--member-models", "4", "4"])


def test_add_five_vector_target_in_tf_data():
    x = {"image": np.zeros((2, 4, 4, 3), np.uint8)}
    y = {"va": np.array([[0.5, -0.3], [0.0, 0.0]], np.float32), "expression": np.array([1, 0], np.int32)}
    sw = {"va": np.array([1.0, 0.0], np.float32), "expression": np.array([1.0, 1.0], np.float32)}
    dataset = tf.data.Dataset.from_tensor_slices((x, y, sw)).batch(2).map(add_five_vector_target)
    _, y_out, sw_out = next(iter(dataset))
    np.testing.assert_allclose(y_out["va_aux"].numpy(), [[-0.3, 0.5, 0.1, 0.4, 0.4], [0, 0, 0, 0, 0]], atol=1e-7)
    np.testing.assert_array_equal(sw_out["va_aux"].numpy(), sw["va"])
    np.testing.assert_array_equal(y_out["va"].numpy(), y["va"])


@pytest.mark.parametrize("face_features", ["end_to_end", "cached"])
def test_temporal_evaluation_runs_whole_videos_with_real_history(face_features):
    """Issue #13: a temporal model's evaluation (clips of 4 frames, a tail clip, two videos) equals one call
    of the model on each whole video (1e-5), so each frame's window holds its real previous frames."""
    from tfaffect.models.stat_lstm import StatLSTMNet, with_frame_input

    tiny = {"image_size": 32, "feature_units": 6, "lstm_units": 4, "class_units": (5,), "regression_units": (5, 4)}
    image_model = StatLSTMNet("stat_lstm", va=True, window=3, **tiny)
    model = image_model if face_features == "end_to_end" else with_frame_input(image_model, "features")
    face = image_model.get_layer("face")
    recipe = TABLE(model=6, face_features=face_features)
    rng = np.random.default_rng(0)
    videos = {"a": rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8),
              "b": rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)}

    def inputs(images):  # what the model (or, cached, the feature cache) gives for these frames
        if face_features == "end_to_end":
            return {"image": images}
        out = face.predict_on_batch({"image": images.reshape(-1, 32, 32, 3)})
        return {"features": np.asarray(out["features"]).reshape(*images.shape[:2], -1),
                "scores": np.asarray(out["expression"]).reshape(*images.shape[:2], -1)}

    batches = []
    for name, images in videos.items():  # windows mode, stride = length: 0, 4, tail 6 (a), 0, tail 1 (b)
        n = len(images)
        starts = list(range(0, n - 4 + 1, 4))
        starts += [n - 4] if starts[-1] + 4 < n else []
        frames = np.stack([np.arange(s, s + 4) for s in starts])
        batches.append((inputs(images[frames]), {"va": np.zeros((len(starts), 4, 2), np.float32)},
                        {"va": np.ones((len(starts), 4), np.float32)},
                        {"video_id": np.array([name.encode()] * len(starts)), "frame": frames,
                         "has_face": np.ones((len(starts), 4), np.int32)}))
    predict, per_video = recipe.predictor(model, iter(batches))
    seen = []
    for x, y, weight, index in per_video:
        name = str(index["video_id"][0])
        expected = model.predict_on_batch(inputs(videos[name][None]))
        got = predict(x)
        for key in ("expression", "va", "va_aux"):
            np.testing.assert_allclose(got[key], expected[key], atol=1e-5, err_msg=key)
        np.testing.assert_array_equal(index["frame"][0], np.arange(len(videos[name])))
        seen.append(name)
    assert seen == ["a", "b"]
    # the clip-by-clip scoring this replaces differs after the first clip (frame 4 sees frames 2-3 only whole)
    clipwise = model.predict_on_batch(batches[0][0])["va"][1, 0]
    whole = model.predict_on_batch(inputs(videos["a"][None]))["va"][0, 4]
    assert np.abs(clipwise - whole).max() > 1e-6


def test_both_label_kinds_keeps_only_frames_with_valence_arousal_and_an_expression(monkeypatch):
    """Do 2020 section III.A: the VA data are the videos with both label kinds; label_frames='both' keeps a
    frame's labels only where it has both (read() applies it to training and evaluation), 'any' the union."""
    from tfaffect.data import pipeline

    nan = np.nan
    x = {"image": np.zeros((4, 2, 2, 3), np.uint8)}
    y = {"va": np.array([[0.5, -0.3], [nan, nan], [0.1, 0.2], [nan, nan]], np.float32),
         "expression": np.array([1, 2, -1, -1], np.int32)}
    weight = {"va": np.array([1, 0, 1, 0], np.float32), "expression": np.array([1, 1, 0, 0], np.float32)}
    index = {"video_id": np.array([b"v"] * 4), "frame": np.arange(4), "has_face": np.ones(4, np.int32)}
    monkeypatch.setattr(pipeline, "make_dataset",
                        lambda data, split, **kw: tf.data.Dataset.from_tensor_slices((x, y, weight, index)).batch(4))
    monkeypatch.setattr(StatLSTMRecipe, "data_dir", lambda self: ("shards", False))
    for label_frames, va_kept, expression_kept in (("both", [1, 0, 0, 0], [1, 0, 0, 0]),
                                                  ("any", [1, 0, 1, 0], [1, 1, 0, 0])):
        recipe = TABLE(data="shards", model=4, label_frames=label_frames)
        _, y_out, w_out, index_out = next(iter(recipe.read("train", batch_size=4, training=True)))
        np.testing.assert_array_equal(w_out["va"].numpy(), va_kept)
        np.testing.assert_array_equal(w_out["expression"].numpy(), expression_kept)
        np.testing.assert_array_equal(np.isfinite(y_out["va"].numpy()).all(-1), np.array(va_kept, bool))
        np.testing.assert_array_equal(y_out["expression"].numpy() >= 0, np.array(expression_kept, bool))
        assert index_out["frame"].numpy().tolist() == [0, 1, 2, 3]
    assert TABLE(data="shards", model=4).label_frames == "both"  # the paper's
    expression_only = TABLE(data="shards", model=3)  # one label kind: nothing to intersect
    _, _, w_out, _ = next(iter(expression_only.read("train", batch_size=4, training=True)))
    np.testing.assert_array_equal(w_out["expression"].numpy(), weight["expression"])


def test_zero_output_init_starts_the_valence_arousal_outputs_at_zero():
    """output_init='zeros': the tanh outputs of the three regression branches are exactly tanh(0) = 0 on any input
    before training (zero kernel, zero bias), the expression branch keeps its random layer; 'glorot' does not."""
    tiny = {"data": "shards", "image_size": 32, "window": 3, "clip_length": 4, "head_units": (5,)}
    clip = {"image": np.random.default_rng(0).integers(0, 256, (1, 4, 32, 32, 3), dtype=np.uint8)}
    zeros = StatLSTMRecipe(model=4, output_init="zeros", **tiny).build_model().predict_on_batch(clip)
    for key in ("va", "va_aux"):
        np.testing.assert_array_equal(zeros[key], 0.0, err_msg=key)
    assert np.ptp(zeros["expression"]) > 0  # not uniform: the classification branch is left alone
    glorot = StatLSTMRecipe(model=4, **tiny).build_model().predict_on_batch(clip)
    assert np.abs(glorot["va"]).max() > 0 and np.abs(glorot["va_aux"]).max() > 0
