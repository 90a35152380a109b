"""Per-frame feature shards (tfaffect.data.features) and reading them (pipeline.make_feature_dataset).

The source data are test_pipeline.identified_dataset's (labels and pixels identify video and frame); the
"model" is numpy arithmetic on the frames, so every expected feature is computed here from the frames the
image pipeline gives.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfaffect.data.features import load_feature_manifest, write_features
from tfaffect.data.pipeline import make_dataset, make_feature_dataset
from tfaffect.data.tfrecord import load_manifest
from tfaffect.errors import ConfigError, DataError, ShardError
from tfaffect.io import temp_path
from test_pipeline import identified_dataset

OUTPUTS = {"colour": [3], "grid": [2, 3]}


def extract(images: np.ndarray) -> dict[str, np.ndarray]:
    """Mean colour per frame (3) and a 2x3 output made from it."""
    colour = images.reshape(len(images), -1, 3).mean(axis=1).astype(np.float32) / 255.0
    return {"colour": colour, "grid": np.stack([colour, 1.0 - colour], axis=1)}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    # 3 shards of whole videos (5 frames each at most, video 2 alone); frame 2 of video 1 has no face
    return identified_dataset(root, (5, 4, 7), missing={1: (2,)}, frames_per_shard=5)


@pytest.fixture(scope="module")
def cached(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("cached") / "features"
    write_features(source, out, extract, outputs=OUTPUTS, producer={"model": "mean colour"}, batch_size=3,
                   progress=False)
    return str(out)


def batches(dataset):
    return list(dataset.as_numpy_iterator())


def test_shards_mirror_the_source_without_images_and_read_back_as_frames(source, cached):
    manifest, images = load_feature_manifest(cached), load_manifest(source)
    assert manifest["kind"] == "features" and manifest["outputs"] == OUTPUTS
    assert manifest["producer"] == {"model": "mean colour"} and manifest["splits"] == images["splits"]
    assert manifest["source"]["fingerprint"] == images["fingerprint"]
    assert [(s["file"], s["videos"], s["histogram"]) for s in manifest["shards"]] == \
        [(s["file"], s["videos"], s["histogram"]) for s in images["shards"]]
    record = tf.train.Example.FromString(next(iter(tf.data.TFRecordDataset(
        os.path.join(cached, manifest["shards"][0]["file"])))).numpy())
    assert "image" not in record.features.feature and "feature/grid" in record.features.feature

    kwargs = dict(split="train", batch_size=4, training=False, with_index=True)
    read, expected = batches(make_feature_dataset(cached, **kwargs)), batches(make_dataset(source, **kwargs))
    assert len(read) == len(expected) == 4  # 16 frames, the one without a face included
    for (x, y, w, index), (xi, yi, wi, index_i) in zip(read, expected):
        assert set(x) == {"colour", "grid"} and x["grid"].shape == (len(index["frame"]), 2, 3)
        for key in ("colour", "grid"):
            np.testing.assert_allclose(x[key], extract(xi["image"])[key], atol=1e-6)
        for got, want in ((y, yi), (w, wi), (index, index_i)):
            assert set(got) == set(want) and all(np.array_equal(got[k], want[k]) for k in got)


@pytest.mark.parametrize("args", [
    dict(training=False, mode="windows", seq_len=4, stride=1),                 # every window, tail, padding
    dict(training=True, mode="windows", seq_len=4, stride=2, repeat=False, seed=3),
    dict(training=True, repeat=False, seed=5, balance="expression"),           # frames with a face, balanced
], ids=["evaluation-windows", "training-windows", "balanced-frames"])
def test_features_come_in_the_same_elements_and_order_as_images(source, cached, args):
    args = dict(split="train", batch_size=3, with_index=True, **args)
    read, expected = batches(make_feature_dataset(cached, **args)), batches(make_dataset(source, **args))
    assert [b[3]["video_id"].tolist() for b in read] == [b[3]["video_id"].tolist() for b in expected]
    for (x, y, w, index), (xi, yi, wi, index_i) in zip(read, expected):
        np.testing.assert_array_equal(index["frame"], index_i["frame"])
        np.testing.assert_array_equal(y["va"], yi["va"])
        np.testing.assert_array_equal(w["expression"], wi["expression"])
        frames = xi["image"].reshape(-1, *xi["image"].shape[-3:])  # no crop, no flip: the stored frames
        np.testing.assert_allclose(x["colour"].reshape(-1, 3), extract(frames)["colour"], atol=1e-6)
    assert read[0][0]["colour"].ndim == (3 if args.get("mode") == "windows" else 2)


def test_an_interrupted_extraction_resumes_with_the_remaining_shards_only(source, cached, tmp_path):
    out = tmp_path / "features"
    seen = []

    def failing(images):
        if seen:
            raise KeyboardInterrupt  # the second shard dies half-way
        seen.append(len(images))
        return extract(images)

    with pytest.raises(KeyboardInterrupt):
        write_features(source, out, failing, outputs=OUTPUTS, producer={"model": "mean colour"}, batch_size=8,
                       progress=False)
    assert sorted(os.listdir(out)) == ["manifest.partial.json", "train-00000-of-00003.tfrecord"]
    orphan = temp_path(out / "train-00001-of-00003.tfrecord")
    orphan = orphan.with_name(orphan.name.rsplit("-", 1)[0] + "-999999999")  # a killed writer's leftover
    orphan.write_bytes(b"half")
    counted = []
    write_features(source, out, lambda images: counted.append(len(images)) or extract(images), outputs=OUTPUTS,
                   producer={"model": "mean colour"}, batch_size=8, progress=False)
    assert sum(counted) == 16 - 5  # the first shard (5 frames) was not extracted again
    assert sorted(os.listdir(out)) == sorted(os.listdir(cached))  # orphan and progress file gone
    for name in os.listdir(cached):
        assert (out / name).read_bytes() == open(os.path.join(cached, name), "rb").read(), name


def test_bad_outputs_and_wrong_directories_are_typed_errors_naming_the_place(source, cached, tmp_path):
    def nan_at_frame_3(images):
        values = extract(images)
        values["colour"][3] = np.nan
        return values

    with pytest.raises(DataError, match=r"train-00000-of-00003\.tfrecord, frame 3: output 'colour' is not finite "
                                        r"for video 'v000'"):
        write_features(source, tmp_path / "a", nan_at_frame_3, outputs=OUTPUTS, producer={}, progress=False)
    with pytest.raises(DataError, match=r"output 'grid' has shape \(5, 6\) for 5 frames, expected \(5, 2, 3\)"):
        write_features(source, tmp_path / "b", lambda im: {**extract(im), "grid": np.zeros((len(im), 6))},
                       outputs=OUTPUTS, producer={}, progress=False)
    with pytest.raises(ConfigError, match="not an identifier"):
        write_features(source, tmp_path / "c", extract, outputs={"a/b": [3]}, producer={})
    with pytest.raises(ConfigError, match="holds per-frame features, not images: read it with make_feature_dataset"):
        make_dataset(cached, "train", batch_size=2, training=False)
    with pytest.raises(ConfigError, match="holds prepared images, not per-frame features"):
        make_feature_dataset(source, "train", batch_size=2, training=False)
    with pytest.raises(ConfigError, match=r"outputs \['logits'\] not in"):
        make_feature_dataset(cached, "train", batch_size=2, training=False, outputs=["logits"])

    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in os.listdir(cached):
        (damaged / name).write_bytes(open(os.path.join(cached, name), "rb").read())
    manifest = json.loads((damaged / "manifest.json").read_text())
    (damaged / "manifest.json").write_text(json.dumps({**manifest, "outputs": {"colour": [0]}}))
    with pytest.raises(ShardError, match=r"manifest\.json: outputs: output 'colour' needs a shape of positive ints"):
        make_feature_dataset(damaged, "train", batch_size=2, training=False)
    (damaged / "manifest.json").write_text(json.dumps(manifest))
    shard = damaged / manifest["shards"][1]["file"]
    shard.write_bytes(shard.read_bytes()[:-7])
    with pytest.raises(ShardError, match=r"train-00001-of-00003\.tfrecord: .*truncated"):
        make_feature_dataset(damaged, "train", batch_size=2, training=False)
