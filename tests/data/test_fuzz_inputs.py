"""Property-based tests (hypothesis) of everything that reads outside input beyond the annotation parsers
(tests/data/test_formats_fuzz.py): image and video decoding, load_manifest, shard reading, run-directory JSON,
importer options and whole ``iter_records`` per format on damaged copies of the fixture datasets.

The property is the same everywhere: the reader returns a well-formed result or raises a typed tfaffect error
(a subclass of :class:`tfaffect.errors.TfaffectError`); no other exception escapes. Each test is bounded (small
``max_examples``, tiny files) so that this file runs in well under a minute on two cores.
"""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures import (frame_pixels, write_afew, write_afew_va, write_affwild, write_affwild2, write_recola,
                      write_sewa_avec2017, write_sewa_db, write_video)
from tfaffect.data.formats import FORMATS, get_format
from tfaffect.data.prepare import check_importer_options
from tfaffect.data.video import count_frames, iter_frames, probe_video, read_image
from tfaffect.errors import TfaffectError

SETTINGS = dict(deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def typed(call):
    """Run ``call``; a TfaffectError is an accepted outcome (returns None); anything else fails the test."""
    try:
        return call()
    except TfaffectError as exc:
        assert str(exc)
        return None


@st.composite
def damaged(draw, data: bytes, max_edits: int = 4) -> bytes:
    """``data`` with up to ``max_edits`` edits: flipped bytes, a zeroed run, inserted junk, or a cut."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, max_edits))):
        kind = draw(st.sampled_from(["flip", "zero", "insert", "cut", "junk-run"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "zero":
            data[position:position + draw(st.integers(1, 64))] = bytes(min(64, len(data) - position))
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "cut":
            del data[position:]
        else:
            run = draw(st.binary(min_size=1, max_size=32))
            data[position:position + len(run)] = run
    return bytes(data)


# ----------------------------------------------------------------------------- images

def _encoded(suffix: str) -> bytes:
    ok, data = cv2.imencode(suffix, frame_pixels(3, (12, 10), noise=True))
    assert ok
    return data.tobytes()


JPEG, PNG = _encoded(".jpg"), _encoded(".png")


@settings(max_examples=60, **SETTINGS)
@given(data=st.one_of(st.binary(max_size=200), damaged(JPEG), damaged(PNG)))
def test_read_image_returns_rgb_or_a_video_error(tmp_path, data):
    path = tmp_path / "frame.jpg"
    path.write_bytes(data)
    image = typed(lambda: read_image(path))
    if image is not None:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and image.size > 0


# ----------------------------------------------------------------------------- videos

@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    return {suffix: write_video(folder / f"v{suffix}", 6, size=(16, 16), noise=True).read_bytes()
            for suffix in (".avi", ".mp4")}


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
@settings(max_examples=20, **SETTINGS)
@given(data=st.data())
def test_video_decoding_yields_frames_or_a_video_error(tmp_path, videos, suffix, data):
    raw = data.draw(st.one_of(damaged(videos[suffix]), st.binary(max_size=300)), label="video bytes")
    path = tmp_path / f"clip{suffix}"
    path.write_bytes(raw)
    info = typed(lambda: probe_video(path))
    frames = typed(lambda: list(iter_frames(path)))
    if frames is not None:
        assert info is not None and [i for i, _, _ in frames] == list(range(len(frames))) and frames
        assert all(rgb.dtype == np.uint8 and rgb.ndim == 3 for _, _, rgb in frames)
        assert count_frames(path) == len(frames)


# ----------------------------------------------------------------------------- prepared data: manifest, shards

@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from tfaffect.data.prepare import prepare

    root = tmp_path_factory.mktemp("prepared")
    write_affwild2(root / "raw")
    prepare("affwild2", root / "raw", root / "data", size=8, frames_per_shard=6, progress=False)
    return root / "data"


JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 10**20), st.floats(allow_nan=False), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


@st.composite
def edited_json(draw, value):
    """``value`` (parsed JSON) with one node somewhere in it replaced by random JSON, or deleted."""
    value = json.loads(json.dumps(value))
    node, parent, key = value, None, None
    for _ in range(draw(st.integers(0, 5))):
        if isinstance(node, dict) and node:
            parent, key = node, draw(st.sampled_from(sorted(node)))
        elif isinstance(node, list) and node:
            parent, key = node, draw(st.integers(0, len(node) - 1))
        else:
            break
        node = parent[key]
    if parent is None:
        return draw(JSON_VALUE)
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[key]
    else:
        parent[key] = draw(JSON_VALUE)
    return value


@settings(max_examples=80, **SETTINGS)
@given(data=st.data())
def test_load_manifest_returns_a_checked_manifest_or_a_typed_error(prepared, tmp_path_factory, data):
    from tfaffect.data.tfrecord import MANIFEST_NAME, load_manifest, split_shards, verify_shards

    original = (prepared / MANIFEST_NAME).read_bytes()
    text = data.draw(st.one_of(edited_json(json.loads(original)).map(lambda v: json.dumps(v).encode()),
                               damaged(original), st.binary(max_size=100)), label="manifest")
    folder = tmp_path_factory.mktemp("manifest")
    for shard in prepared.glob("*.tfrecord"):
        (folder / shard.name).symlink_to(shard)
    (folder / MANIFEST_NAME).write_bytes(text)
    manifest = typed(lambda: load_manifest(folder))
    if manifest is not None:  # what the readers do with a manifest that loads must be typed too
        for split in list(manifest["splits"]) + [None]:
            typed(lambda: verify_shards(folder, split=split, manifest=manifest))
            typed(lambda: split_shards(manifest, split))
        for entry in manifest["shards"]:
            assert (folder / entry["file"]).parent == folder


@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_shard_reading_yields_examples_or_a_shard_error(prepared, tmp_path, data):
    import tensorflow as tf

    from tfaffect.data.tfrecord import find_bad_shard, read_shard

    shard = sorted(prepared.glob("*.tfrecord"))[0]
    kind = data.draw(st.sampled_from(["damaged", "records"]), label="kind")
    path = tmp_path / "train-00000-of-00001.tfrecord"
    if kind == "damaged":
        path.write_bytes(data.draw(damaged(shard.read_bytes()), label="shard bytes"))
    else:  # framing and CRCs valid, payloads arbitrary or edited examples
        examples = [example.SerializeToString() for example in _examples(shard)]
        payloads = data.draw(st.lists(st.one_of(st.binary(max_size=60), st.sampled_from(examples).flatmap(damaged)),
                                      min_size=1, max_size=4), label="records")
        with tf.io.TFRecordWriter(str(path)) as writer:
            for payload in payloads:
                writer.write(payload)
    examples = typed(lambda: list(read_shard(path)))
    if examples is not None:
        assert all(isinstance(bytes(ex["video_id"]), bytes) for ex in examples)
    # the same file behind a prepared dataset's manifest: find_bad_shard names it or finds nothing
    manifest = json.loads((prepared / "manifest.json").read_text())
    entry = next(e for e in manifest["shards"] if e["file"] == shard.name)
    dataset = tmp_path / "dataset"
    dataset.mkdir(exist_ok=True)
    shutil.copy(path, dataset / shard.name)
    one = {**manifest, "shards": [entry], "splits": {entry["split"]: manifest["splits"][entry["split"]]}}
    (dataset / "manifest.json").write_text(json.dumps(one))
    typed(lambda: find_bad_shard(dataset, entry["split"]))


def _examples(shard: Path):
    import tensorflow as tf

    return [tf.train.Example.FromString(record.numpy()) for record in tf.data.TFRecordDataset(str(shard))]


# ----------------------------------------------------------------------------- run-directory JSON

METRICS_JSON = {"final": {"ccc_valence": 0.1}, "best_epoch": 1, "best_checkpoint": "checkpoints/epoch_001.weights.h5",
                "evaluation": {"published_row": ["kollias2019", "Table 12", "best CNN-GRU"], "ccc_valence": 0.2,
                               "ccc_arousal": 0.3, "synthetic": True, "data": None}}
CONFIG_JSON = {"recipe": "affwildnet", "class": "AffWildNetRecipe", "fields": {"data": None, "epochs": 2}}


@settings(max_examples=60, **SETTINGS)
@given(metrics=st.one_of(edited_json(METRICS_JSON).map(lambda v: json.dumps(v).encode()),
                         damaged(json.dumps(METRICS_JSON).encode()), st.binary(max_size=60)),
       config=st.one_of(edited_json(CONFIG_JSON).map(lambda v: json.dumps(v).encode()),
                        damaged(json.dumps(CONFIG_JSON).encode())))
def test_run_directory_json_readers_give_results_or_typed_errors(tmp_path_factory, monkeypatch, metrics, config):
    from tfaffect import export, report

    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / "metrics.json").write_bytes(metrics)
    (run_dir / "config.json").write_bytes(config)
    (run_dir / "model.keras").write_bytes(b"")
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "epoch_001.weights.h5").write_bytes(b"")
    runs = typed(lambda: report.collect_runs([run_dir]))
    if runs:
        for paper in {r["paper"] for r in runs}:
            typed(lambda: report.report(paper, None, [run_dir]))

    class Model:
        def load_weights(self, path):
            assert Path(path).resolve().is_relative_to(run_dir.resolve())  # names from data stay inside

    monkeypatch.setattr("tfaffect.models.saving.load_model", lambda path: Model())
    for weights in ("final", "best"):
        loaded = typed(lambda: export.load_run(run_dir, weights))
        if loaded is not None:
            name = loaded[2]
            assert "/" not in name and name not in (".", "..") and name


# ----------------------------------------------------------------------------- importers: options, whole datasets

def _write_dataset(name: str, root: Path) -> dict:
    """A fixture dataset of format ``name`` under ``root``; returns the options that point to its parts."""
    if name == "affwild":
        write_affwild(root)
    elif name == "affwild2":
        write_affwild2(root)
    elif name == "afew_va":
        write_afew_va(root)
    elif name == "afew":
        write_afew(root)
    elif name == "sewa":
        write_sewa_avec2017(root / "avec", root / "videos")
        write_sewa_db(root / "db")
        return {"videos": str(root / "videos")}
    elif name == "recola":
        write_recola(root)
    return {}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    out = {}
    for name in FORMATS:
        root = tmp_path_factory.mktemp(f"ds-{name}")
        out[name] = (root, _write_dataset(name, root))
    return out


OPTION_NAMES = ("decode", "validation_ids", "tasks", "multitask", "fold", "num_folds", "subjects", "videos", "layout",
                "no_such_option")
OPTION_VALUES = st.one_of(JSON_VALUE, st.sampled_from(["VA", "EXPR", "train", "auto", "sewadb", "avec2017", ".", "..",
                                                       "/", "", "105", "fold0"]),
                          st.lists(st.sampled_from(["VA", "AU", "105", "212", "x"]), max_size=3),
                          st.integers(-2, 6), st.dictionaries(st.sampled_from(["train", "test", "bogus"]),
                                                              st.sampled_from(["mtl.txt", ".", "", 3]), max_size=2))


def _run_importer(name: str, root: Path, split, options: dict) -> list:
    importer = get_format(name)
    check_importer_options(name, importer, options)
    return list(importer.iter_records(root, split=split, **options))


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=25, **SETTINGS)
@given(options=st.dictionaries(st.sampled_from(OPTION_NAMES), OPTION_VALUES, max_size=3),
       split=st.sampled_from([None, "train", "validation", "test", "bogus", 3]))
def test_importer_options_give_records_or_typed_errors(datasets, name, options, split):
    root, base = datasets[name]
    if name == "sewa" and options.get("layout") == "sewadb":
        root, base = root / "db", {}
    elif name == "sewa":
        root = root / "avec"
    records = typed(lambda: _run_importer(name, root, split, {**base, **options}))
    for record in records or ():
        assert record.num_frames >= 0


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=15, **SETTINGS)
@given(data=st.data())
def test_whole_iter_records_on_a_damaged_dataset_gives_records_or_typed_errors(datasets, tmp_path_factory, name,
                                                                                data):
    """One file of a fixture dataset damaged, emptied, replaced by junk or removed, then every record read
    (``decode=True`` where the importer has it, so the videos are decoded too)."""
    source, base = datasets[name]
    root = tmp_path_factory.mktemp("damaged")
    shutil.copytree(source, root, dirs_exist_ok=True, symlinks=True)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    victim = data.draw(st.sampled_from(files), label="file")
    action = data.draw(st.sampled_from(["damage", "empty", "junk", "remove"]), label="action")
    if action == "damage":
        victim.write_bytes(data.draw(damaged(victim.read_bytes()), label="bytes"))
    elif action == "empty":
        victim.write_bytes(b"")
    elif action == "junk":
        victim.write_bytes(data.draw(st.binary(max_size=80), label="junk"))
    else:
        victim.unlink()
    options = dict(base)
    if name == "sewa":
        layout = data.draw(st.sampled_from(["avec", "db"]), label="layout")
        options = {"videos": str(root / "videos")} if layout == "avec" else {}
        root = root / layout
    if "decode" in inspect.signature(get_format(name).iter_records).parameters:
        options["decode"] = True
    records = typed(lambda: _run_importer(name, root, None, options))
    for record in records or ():
        assert record.num_frames >= 0 and "/" not in record.video_id
