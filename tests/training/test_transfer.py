"""The transfer recipes' shared parts (Kollias 2019, section 5): folds, aggregation, initial weights."""

import json
import logging
import os
import zipfile

import keras
import numpy as np
import pandas as pd
import pytest

from tfaffect.errors import ConfigError, MissingResourceError
from tfaffect.training import registry
from tfaffect.training.transfer import (aggregate_folds, clip_predictions, clip_scores, newest_flagship_run,
                                        resolve_init, with_expression_head)

ARCH = {"backbone": "vggface", "cell": "gru", "num_layers": 2, "units": 128, "landmarks": True, "image_size": 32}


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFAFFECT_CACHE", str(tmp_path / "cache"))


def fake_keras_file(path, **config):
    """A zip holding only the config.json a .keras file starts with (enough for the resolution)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps({"class_name": "AffWildNet", "config": {**ARCH, **config}}))
    return path


def fake_run(root, name, mtime, **config):
    run = root / "affwildnet" / name
    fake_keras_file(run / "model.keras", **config)
    (run / "metrics.json").write_text("{}")
    os.utime(run / "metrics.json", (mtime, mtime))
    return run


# ---- folds ---------------------------------------------------------------------------------------

def test_each_fold_trains_on_the_other_four_and_scores_its_own():
    cls = registry.find("affwildnet_afew_va")
    held_out = []
    for k in range(5):
        recipe = cls.from_args(["--fold", str(k)])
        train, test = set(recipe.train_splits()), recipe.evaluation_split()
        assert test == f"fold{k}" and test not in train
        assert train | {test} == {f"fold{j}" for j in range(5)}
        held_out.append(test)
    assert len(set(held_out)) == 5
    with pytest.raises(ConfigError, match="fold=None"):
        cls.from_args([]).train_splits()
    with pytest.raises(ConfigError, match="fold"):
        cls.from_args(["--fold", "5"]).validate()


def test_synthetic_afew_va_folds_are_disjoint_by_clip_and_identity_and_an_epoch_is_the_training_folds(
        private_cache):
    from tfaffect.data.synth_layouts import SUBJECTS_FILE, layout_path
    from tfaffect.data.tfrecord import load_manifest

    recipe = registry.find("affwildnet_afew_va").from_args(["--smoke", "--fold", "2"])
    data, synthetic = recipe.data_dir()
    assert synthetic
    manifest = load_manifest(data)
    clips = {split: {v for s in manifest["shards"] if s["split"] == split for v, _ in s["videos"]}
             for split in manifest["splits"]}
    assert sorted(clips) == [f"fold{k}" for k in range(5)]
    everything = [c for split in clips.values() for c in split]
    assert len(everything) == len(set(everything))
    layout = layout_path(data.parent.parent / data.name.split("-afew_va-")[0], "afew_va")
    subject = dict(line.split(",") for line in (layout / SUBJECTS_FILE).read_text().split()[1:])
    identities = [{subject[c] for c in split} for split in clips.values()]
    assert sum(len(i) for i in identities) == len(set().union(*identities))
    # one epoch = the training folds' windows (length 4, stride 2; a clip of n frames gives
    # (n - 4) // 2 + 1), in whole batches of 4
    windows = sum((n - 4) // 2 + 1 for s in manifest["shards"] if s["split"] != "fold2" for _, n in s["videos"])
    train, val = recipe.datasets()
    assert int(train.cardinality()) == windows // 4
    assert sum(int(x["image"].shape[0]) for x, _, _ in val) == sum(
        -(-n // 4) if n % 4 else n // 4 for s in manifest["shards"] if s["split"] == "fold2" for _, n in s["videos"])


# ---- aggregation ---------------------------------------------------------------------------------

def test_folds_are_averaged():
    folds = [{"pcc_valence": 0.1, "ccc_valence": 0.5, "frames": 10},
             {"pcc_valence": 0.3, "ccc_valence": 0.1, "frames": 5},
             {"pcc_valence": 0.5, "ccc_valence": 0.3, "frames": 1}]
    out = aggregate_folds(folds)
    assert out["folds"] == 3 and out["frames"] == 16
    assert out["pcc_valence"] == pytest.approx(0.3) and out["ccc_valence"] == pytest.approx(0.3)
    assert out["pcc_valence_std"] == pytest.approx(np.sqrt((0.04 + 0 + 0.04) / 3))
    assert "pcc_arousal" not in out
    with pytest.raises(ConfigError):
        aggregate_folds([])


def test_clip_prediction_averages_the_probabilities_of_the_frames_with_a_face():
    p = {"a": [[0.6, 0.4, 0, 0, 0, 0, 0], [0.2, 0.8, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0]],
         "b": [[0.1, 0, 0, 0, 0.9, 0, 0], [0.5, 0, 0, 0, 0.5, 0, 0]],
         "c": [[0.3, 0, 0, 0, 0, 0, 0.7]]}
    face = {"a": [True, True, False], "b": [True, True], "c": [False]}
    rows = [{"video_id": v, "frame": i, "has_face": face[v][i], **{f"p_{k}": q for k, q in enumerate(probs)}}
            for v in p for i, probs in enumerate(p[v])]
    clips = clip_predictions(pd.DataFrame(rows), {"a": 1, "b": 0, "c": 6})
    # a: mean of its two face frames (0.4, 0.6) -> class 1; the face-less frame voting class 2 is ignored
    np.testing.assert_allclose(clips.loc["a", ["p_0", "p_1", "p_2"]].to_numpy(float), [0.4, 0.6, 0.0])
    assert clips["predicted"].to_dict() == {"a": 1, "b": 4, "c": 6}  # c: no face frame -> all its frames
    assert clips["frames"].to_dict() == {"a": 2, "b": 2, "c": 1}
    scores = clip_scores(clips)
    assert scores["accuracy"] == pytest.approx(2 / 3) and scores["clips"] == 3
    assert scores["accuracy_anger"] == 1.0 and scores["accuracy_neutral"] == 0.0
    assert scores["accuracy_surprise"] == 1.0 and scores["accuracy_fear"] is None
    with pytest.raises(ConfigError, match="no clip label"):
        clip_predictions(pd.DataFrame(rows), {"a": 1})


# ---- initial weights -----------------------------------------------------------------------------

def test_no_flagship_run_means_random_init_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="tfaffect"):
        init = resolve_init(None, ARCH, runs_root=tmp_path / "runs")
    assert init.source == "random" and init.path is None
    assert "random initialisation" in caplog.text and "random initialisation" in init.note


def test_newest_matching_finished_flagship_run_is_the_default(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "20260101T000000Z", 1000)
    newest_match = fake_run(runs, "20260102T000000Z", 2000)
    fake_run(runs, "20260103T000000Z", 3000, image_size=96)  # newer, other architecture: skipped
    unfinished = runs / "affwildnet" / "20260104T000000Z"
    fake_keras_file(unfinished / "model.keras")  # no metrics.json: not finished
    assert newest_flagship_run(ARCH, runs) == newest_match
    init = resolve_init(None, ARCH, runs_root=runs)
    assert init.source == "flagship" and init.path == str(newest_match / "model.keras")
    assert init.model_config["image_size"] == 32


def test_on_synthaffect_the_flagship_is_a_stage_trained_on_other_synthetic_people(private_cache, tmp_path,
                                                                                   monkeypatch):
    from tfaffect.data.synth import cache_path
    from tfaffect.training import transfer
    from tfaffect.training.data import SMOKE_LAYOUT_SYNTH, SMOKE_SYNTH, synth_params

    monkeypatch.chdir(tmp_path)
    fake_run(tmp_path / "runs", "20260101T000000Z", 1000, image_size=32)  # a user's flagship run: not used here
    recipe = registry.find("affwildnet_afew_va").from_args(["--smoke", "--seed", "3", "--label-control", "shuffled",
                                                            "--fold", "0"])
    stage = recipe.requires()["flagship"]
    flagship = stage.recipe
    assert type(flagship).recipe_name() == "affwildnet" and stage.folder == "transfer_flagship"
    assert flagship.synthaffect_seed == transfer.FLAGSHIP_SYNTH_SEED != recipe.synthaffect_seed == 0
    for key in (*transfer.ARCHITECTURE_KEYS, "seed", "smoke", "label_control"):
        assert getattr(flagship, key) == getattr(recipe, key), key
    # the stage's SynthAffect is another generated set (other seed, other people) than the recipe's layout's
    assert cache_path(**synth_params(True, 1, SMOKE_SYNTH)) != cache_path(**synth_params(True, 0, SMOKE_LAYOUT_SYNTH))
    assert synth_params(True, 1, SMOKE_SYNTH) == {**SMOKE_SYNTH, "seed": 1}
    # before the stage has run the recipe cannot start: a typed error naming it, nothing trains
    with pytest.raises(MissingResourceError, match="flagship"):
        recipe.initial_weights  # noqa: B018
    # an explicit init, real data or a comparison network: no stage
    assert "flagship" not in registry.find("affwildnet_afew_va").from_args(
        ["--smoke", "--init", str(tmp_path / "runs" / "affwildnet" / "20260101T000000Z")]).requires()
    assert "flagship" not in registry.find("affwildnet_recola").from_args(
        ["--smoke", "--data", str(tmp_path)]).requires()
    assert registry.find("resnet_gru_recola").from_args(["--smoke"]).requires() == {}


def test_the_flagship_stage_is_what_the_transfer_starts_from(private_cache, tmp_path, monkeypatch):
    recipe = registry.find("affwildnet_recola").from_args(["--smoke"])
    stage_dir = tmp_path / "stage"
    fake_keras_file(stage_dir / "model.keras", image_size=recipe.image_size)
    monkeypatch.setattr(type(recipe), "stage_dir", lambda self, name: stage_dir if name == "flagship" else None)
    init = recipe.initial_weights
    assert init.source == "flagship_stage" and init.path == str(stage_dir / "model.keras")
    deviation = recipe.deviations()["initial_weights"]
    assert "Aff-Wild" in deviation["published"] and "seed 1" in deviation["used"]


def test_explicit_init_paths(tmp_path):
    model = fake_keras_file(tmp_path / "conv" / "model.keras", landmarks=False, reset_after=False)
    with pytest.raises(ConfigError, match="landmarks"):  # the released weights take no landmarks
        resolve_init(str(tmp_path / "conv"), ARCH)
    init = resolve_init(str(tmp_path / "conv"), {**ARCH, "landmarks": False})
    assert init.source == "explicit" and init.path == str(model) and init.model_config["reset_after"] is False
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"")
    assert resolve_init(str(weights), ARCH).model_config is None
    run = tmp_path / "unfinished"
    run.mkdir()
    (run / "config.json").write_text("{}")
    with pytest.raises(MissingResourceError, match="unfinished"):
        resolve_init(str(run), ARCH)
    with pytest.raises(MissingResourceError):
        resolve_init(str(tmp_path / "absent.keras"), ARCH)
    (tmp_path / "x.h5").write_bytes(b"")
    with pytest.raises(ConfigError, match="expected"):
        resolve_init(str(tmp_path / "x.h5"), ARCH)
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="not a readable"):
        resolve_init(str(tmp_path / "bad.keras"), ARCH)


def test_init_weights_are_loaded_and_the_emotiw_head_replaces_the_output(tmp_path):
    from tfaffect.models import AffWildNet

    keras.utils.set_random_seed(1)
    source = AffWildNet(landmarks=False, image_size=32, reset_after=False)
    source.save(tmp_path / "model.keras")
    x = {"image": np.random.default_rng(0).integers(0, 256, (1, 3, 32, 32, 3), dtype=np.uint8)}
    expected = source.predict_on_batch(x)["va"]

    recipe = registry.find("affwildnet_recola").from_args(
        ["--smoke", "--init", str(tmp_path), "--no-landmarks"])
    assert recipe.initial_weights.source == "explicit"
    assert recipe.derived(2)["init"]["path"] == str(tmp_path / "model.keras")
    keras.utils.set_random_seed(2)  # a fresh model differs from the source until the weights are copied
    model = recipe.build_model()
    assert model.get_layer("rnn1").get_config()["reset_after"] is False  # adopted from the source
    np.testing.assert_allclose(model.predict_on_batch(x)["va"], expected, rtol=1e-5, atol=1e-6)

    emotiw = registry.find("affwildnet_emotiw").from_args(["--smoke", "--init", str(tmp_path), "--no-landmarks",
                                                           "--head-probe-steps", "0"])
    classifier = emotiw.build_model()
    probs = classifier.predict_on_batch(x)["expression"]
    assert set(classifier.output) == {"expression"} and probs.shape == (1, 3, 7)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(classifier.get_layer("rnn2").get_weights()[0],
                                  source.get_layer("rnn2").get_weights()[0])
    assert with_expression_head(source, 3).output["expression"].shape[-1] == 3
    # --freeze applies to a fine-tuned AffWildNet too (section 4.2: the pretrained part frozen)
    frozen = registry.find("affwildnet_recola").from_args(
        ["--smoke", "--init", str(tmp_path), "--no-landmarks", "--freeze", "backbone"]).build_model()
    assert not frozen.get_layer("vggface").trainable and frozen.get_layer("rnn1").trainable
    np.testing.assert_allclose(frozen.predict_on_batch(x)["va"], expected, rtol=1e-5, atol=1e-6)


def test_the_head_probe_is_the_regularised_logistic_regression_on_the_frozen_features(tmp_path, monkeypatch):
    import tensorflow as tf

    from tfaffect.models import AffWildNet

    keras.utils.set_random_seed(5)
    AffWildNet(landmarks=False, image_size=32, units=8, fc_units=(16,)).save(tmp_path / "model.keras")
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (3, 2, 4, 32, 32, 3), dtype=np.uint8)  # 3 batches of 2 windows of 4 frames
    labels = rng.integers(0, 3, (3, 2, 4)).astype(np.int32)  # classes 0-2 only
    weights = (rng.random((3, 2, 4)) < 0.8).astype(np.float32)
    labels[weights == 0] = 6  # a class seen only on frames without weight: it must not be fitted
    stream = tf.data.Dataset.from_tensor_slices(({"image": images}, {"expression": labels}, {"expression": weights}))
    recipe = registry.find("affwildnet_emotiw").from_args(
        ["--smoke", "--init", str(tmp_path / "model.keras"), "--no-landmarks", "--units", "8", "--head-probe-steps",
         "2"])
    monkeypatch.setattr(type(recipe), "datasets", lambda self: (stream, None))
    model = recipe.build_model()
    kernel, bias = model.get_layer("expression").get_weights()
    assert not kernel[:, 3:].any() and np.all(bias[3:] == -20)  # classes without a weighted frame
    # optimality of scikit-learn's objective, C * sum(cross-entropy) + |W|^2 / 2 (C = 1), on the weighted frames
    # of the first 2 batches: the gradient, computed here by hand, vanishes at the probe's weights
    encoder = keras.Model(model.inputs, model.get_layer("expression").input)
    keep = weights[:2] > 0
    x = np.concatenate([np.asarray(encoder.predict_on_batch({"image": images[k]}))[keep[k]] for k in range(2)])
    y = np.eye(3)[labels[:2][keep]]
    logits = x.astype(np.float64) @ kernel[:, :3] + bias[:3]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    gradient = x.T @ (p - y) + kernel[:, :3]
    assert np.abs(gradient).max() < 1e-3 * np.abs(x.T @ y).max() + 1e-4
    assert np.abs((p - y).sum(0)).max() < 1e-3 * len(y)
    assert np.abs(kernel[:, :3]).max() > 1e-3  # something was fitted

    with pytest.raises(ConfigError, match="head_probe_steps"):
        registry.find("affwildnet_recola").from_args(["--smoke", "--head-probe-steps", "2"])


# ---- the comparison networks (start="backbone") ----------------------------------------------------

def test_a_comparison_network_starts_from_its_backbone_and_never_looks_for_a_flagship_run(
        private_cache, tmp_path, monkeypatch):
    from tfaffect.training import transfer

    monkeypatch.chdir(tmp_path)
    fake_run(tmp_path / "runs", "20260101T000000Z", 1000,  # a finished flagship run, of the recipe's architecture
             backbone="resnet50", landmarks=False, image_size=32)

    def no_lookup(*args, **kwargs):
        raise AssertionError("start='backbone' looked for initial AffWildNet weights")

    monkeypatch.setattr(transfer, "resolve_init", no_lookup)
    monkeypatch.setattr(transfer, "newest_flagship_run", no_lookup)
    recipe = registry.find("resnet_gru_recola").from_args(["--smoke"])
    assert recipe.start == "backbone"
    init = recipe.initial_weights
    assert init.source == "backbone" and init.path is None
    deviation = recipe.deviations()["initial_weights"]  # no --backbone-weights: random, recorded
    assert deviation["used"] == "random initialisation" and "ResNet-50" in deviation["published"]
    model = recipe.build_model()
    # section 5.1.1 / the released ResNet-GRU: the pooled ResNet-50 features go straight into the GRU
    assert "fc1" not in [layer.name for layer in model.layers]
    assert model.get_layer("rnn1").input.shape[-1] == 2048
    with_fc = registry.find("resnet_gru_recola").from_args(["--smoke", "--fc-before-rnn"]).build_model()
    assert with_fc.get_layer("fc1").units == 1500  # Table 8, ResNet-50 variant

    with pytest.raises(ConfigError, match="init"):
        registry.find("resnet_gru_recola").from_args(["--smoke", "--init", str(tmp_path / "runs")])


def test_a_cnn_is_a_comparison_network_only():
    cls = registry.find("affwildnet_recola")
    with pytest.raises(ConfigError, match="start='backbone'"):
        cls.from_args(["--smoke", "--architecture", "cnn"])
    assert cls.from_args(["--smoke", "--architecture", "cnn", "--start", "backbone"]).architecture == "cnn"
    with pytest.raises(ConfigError, match="cnn_pretrain"):  # a fine-tuning starts from init
        cls.from_args(["--smoke", "--cnn-pretrain"])
    with pytest.raises(ConfigError, match="cnn_pretrain"):  # a CNN has no CNN stage
        cls.from_args(["--smoke", "--architecture", "cnn", "--start", "backbone", "--cnn-pretrain"])


def test_a_cnn_rnn_from_its_backbone_may_start_from_a_cnn_stage_on_the_same_clips(private_cache, tmp_path):
    from tfaffect.models.saving import load_model
    from tfaffect.training import runner

    recipe = registry.find("emotiw_cnn_rnn").from_args(["--smoke", "--cnn-pretrain"])
    stage = recipe.requires()["cnn"].recipe
    # the section 4.2 CNN on single frames of the same clips and task, batches of 50, cnn_pretrain_steps steps
    assert (stage.architecture, stage.start, stage.task, stage.layout) == ("cnn", "backbone", "expression", "afew")
    assert (stage.batch_size, stage.epochs, stage.max_steps_per_epoch) == (50, 1, recipe.cnn_pretrain_steps)
    assert stage.data_dir() == recipe.data_dir() and not stage.requires()
    runner.run(recipe, tmp_path / "run", verbose=0)
    cnn = load_model(recipe.stage_dir("cnn") / "model.keras")
    model = recipe.build_model()
    for name in (recipe.backbone, "fc1"):  # the CNN-RNN's conv part and FC 1 start as the stage's
        for got, expected in zip(model.get_layer(name).get_weights(), cnn.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, expected)
    assert recipe.deviations()["initial_weights"]["used"].startswith("the CNN stage trained first on this data")
    assert recipe.initial_weights.note.startswith("conv part and FC 1 from the CNN stage")
    assert set(model.output) == {"expression"}


def test_the_cnn_expression_head_is_a_7_way_softmax_on_the_last_fc_layer():
    from tfaffect.models import AffWildCNN

    keras.utils.set_random_seed(3)
    cnn = AffWildCNN(backbone="vgg16", image_size=32, fc_units=(16, 8))
    classifier = with_expression_head(cnn)
    assert set(classifier.output) == {"expression"}
    x = {"image": np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)}
    probs = np.asarray(classifier.predict_on_batch(x)["expression"], np.float64)
    assert probs.shape == (4, 7)
    # by hand: softmax(fc2 @ W + b), fc2 = the last hidden FC layer (8 units), read from the same weights
    fc2 = np.asarray(keras.Model(cnn.input, cnn.get_layer("fc2").output).predict_on_batch(x), np.float64)
    kernel, bias = classifier.get_layer("expression").get_weights()
    assert kernel.shape == (8, 7)
    logits = fc2 @ kernel + bias
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(probs, expected / expected.sum(-1, keepdims=True), rtol=1e-4, atol=1e-6)
    assert classifier.get_layer("fc2") is cnn.get_layer("fc2")  # the CNN's layers, shared (its weights)


def test_a_frame_cnn_on_emotiw_labels_every_frame_with_its_clips_label(private_cache):
    from tfaffect.data.pipeline import make_dataset
    from tfaffect.training.transfer import _with_clip_labels, clip_labels

    recipe = registry.find("emotiw_cnn").from_args(["--smoke"])
    assert not recipe.windows
    data, _ = recipe.data_dir()
    split = recipe.evaluation_split()
    labels = clip_labels(data, split)
    assert len(set(labels.values())) > 1  # the check below could not tell clips apart otherwise
    batches = make_dataset(data, split, batch_size=8, training=False, **recipe.dataset_args(False))
    seen = 0
    for x, y, weight, index in _with_clip_labels(batches, labels, True).as_numpy_iterator():
        assert x["image"].ndim == 4 and y["expression"].shape == (len(x["image"]),)  # frames: [B]
        expected = [labels[v.decode()] for v in index["video_id"]]
        np.testing.assert_array_equal(y["expression"], expected)
        np.testing.assert_array_equal(weight["expression"], index["has_face"].astype(np.float32))
        seen += len(expected)
    assert seen > 0
    model = recipe.build_model()
    assert model.output["expression"].shape[1:] == (7,)
    assert model.get_layer("expression").input is model.get_layer("fc2").output


def test_the_emotiw_shuffled_label_control_pairs_each_image_with_another_frames_clip_label(private_cache):
    """--label-control shuffled on an EmotiW recipe: the training stream carries the frames' index (clip labels are
    read from it), so the control must take the index with the labels (it crashed: the index was dropped). The
    control sees the learner's images with labels that do not go with them."""
    learner = registry.find("emotiw_cnn").from_args(["--smoke"])
    control = registry.find("emotiw_cnn").from_args(["--smoke", "--label-control", "shuffled"])
    (train, _), (shuffled, _) = learner.datasets(), control.datasets()
    differ = 0
    for (x, y, w), (cx, cy, cw) in zip(train.take(4).as_numpy_iterator(), shuffled.take(4).as_numpy_iterator()):
        np.testing.assert_array_equal(cx["image"], x["image"])
        assert cy["expression"].shape == y["expression"].shape and cw["expression"].shape == w["expression"].shape
        differ += int((cy["expression"] != y["expression"]).sum())
    assert differ > 0
