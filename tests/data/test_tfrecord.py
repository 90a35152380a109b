"""TFRecord spec, sharded atomic writer, manifest, verifier (tfaffect.data.tfrecord).

Expected values are typed by hand or computed here with hashlib / collections, never by the code
under test. ``write_video_frames`` and ``prepare`` are reused by test_pipeline.py and test_prepare.py.
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import os

import cv2
import numpy as np
import pytest

from tfaffect.data.formats.base import VideoRecord
from tfaffect.data.prepare import prepare_records
from tfaffect.data.tfrecord import (FEATURE_SPEC, MANIFEST_NAME, SPEC_VERSION, encode_frame, load_manifest,
                                    parse_examples, plan_shards, read_shard, verify_shards, write_dataset)
from tfaffect.errors import DataError, MissingResourceError, ShardError, VideoError

nan = float("nan")


def frame_colour(video: int, frame: int) -> tuple[int, int, int]:
    """RGB of frame ``frame`` of video ``video``: multiples of 8 survive JPEG coding to within +-3."""
    return (8 * (frame % 32), 8 * (video % 32), 200)


def write_video_frames(root, video: int, num_frames: int, *, split: str = "train", size: int = 16,
                       missing=(), **labels) -> VideoRecord:
    """Write ``num_frames`` uniform JPEGs (:func:`frame_colour`) and return their VideoRecord.

    ``missing``: frames without an image (no face). ``labels``: VideoRecord fields (valence, ...).
    """
    paths = []
    for i in range(num_frames):
        if i in missing:
            paths.append(None)
            continue
        path = os.path.join(root, "raw", f"v{video:03d}", f"{i:05d}.jpg")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        rgb = np.zeros((size, size, 3), np.uint8) + np.array(frame_colour(video, i), np.uint8)
        assert cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return VideoRecord(f"v{video:03d}", split, num_frames, frame_paths=paths, **labels)


def prepare(records, out, **kwargs):
    """prepare_records for face crops, no progress bar."""
    kwargs.setdefault("size", 16)
    return prepare_records(records, out, dataset="test", cropped=True, progress=False, **kwargs)


def read_all(out) -> list[tuple[str, dict]]:
    """(shard file, example) for every example of every shard in the manifest, in file order."""
    manifest = load_manifest(out)
    return [(entry["file"], ex) for entry in manifest["shards"]
            for ex in read_shard(os.path.join(out, entry["file"]))]


# ----------------------------------------------------------------------------- encode / parse


def test_encode_parse_round_trip_with_invalid_markers():
    record = VideoRecord(
        "clip", "validation", 3, frame_paths=["a.jpg", "b.jpg", None], fps=25.0,
        valence=[0.5, nan, -0.25], arousal=[-0.75, 0.1, 1.0], expression=[3, -1, 6],
        aus=[[1, 0], [-1, -1], [0, 1]], au_names=("AU1", "AU2"),
        landmarks=np.stack([np.full((68, 2), 4.0), np.full((68, 2), nan), np.full((68, 2), 8.0)]),
        clip_label=2)
    points = np.arange(136, dtype=np.float32).reshape(68, 2) / 200.0
    parsed = [parse_examples(encode_frame(record, i, jpeg, landmarks=lm, timestamp=ts, num_aus=2))
              for i, jpeg, lm, ts in [(0, b"\xff\xd8jpeg", points, 0.0), (1, b"\xff\xd8x", None, 0.04),
                                      (2, b"", None, None)]]
    first, second, third = ({k: v.numpy() for k, v in p.items()} for p in parsed)
    assert first["image"] == b"\xff\xd8jpeg" and first["has_face"] == 1
    assert first["video_id"] == b"clip" and first["split"] == b"validation"
    assert (first["frame"], first["num_frames"]) == (0, 3)
    assert first["valence"] == 0.5 and first["arousal"] == -0.75 and first["va_valid"] == 1
    assert first["expression"] == 3 and first["clip_label"] == 2
    assert first["aus"].tolist() == [1.0, 0.0]
    np.testing.assert_allclose(first["landmarks"], points)
    assert first["landmarks"].shape == (68, 2) and first["landmarks_valid"] == 1
    # Invalid valence -> both 0 with va_valid 0; expression -1; AUs -1; no landmarks -> zeros, flag 0.
    assert (second["valence"], second["arousal"], second["va_valid"]) == (0.0, 0.0, 0)
    assert second["expression"] == -1 and second["aus"].tolist() == [-1.0, -1.0]
    assert second["landmarks_valid"] == 0 and not second["landmarks"].any()
    assert math.isclose(second["timestamp"], 0.04, rel_tol=1e-6)
    # No face: empty image, has_face 0; unknown timestamp -1.
    assert third["image"] == b"" and third["has_face"] == 0 and third["timestamp"] == -1.0


def test_labels_only_parse_has_no_image_and_batches():
    record = VideoRecord("v", "train", 2, valence=[0.1, 0.2], arousal=[0.3, 0.4])
    batch = [encode_frame(record, i, b"\xff\xd8" * 50) for i in range(2)]
    labels = parse_examples(np.array(batch, object), with_image=False)
    assert "image" not in labels and set(labels) == set(FEATURE_SPEC) - {"image"}
    np.testing.assert_allclose(labels["valence"].numpy(), [0.1, 0.2])
    assert labels["aus"].shape == (2, 0) and labels["landmarks"].shape == (2, 68, 2)


def test_encoding_is_deterministic():
    record = VideoRecord("v", "train", 1, valence=[0.1], arousal=[0.3], expression=[2])
    assert encode_frame(record, 0, b"abc") == encode_frame(record, 0, b"abc")


# ----------------------------------------------------------------------------- plan / write / manifest


def test_plan_keeps_videos_whole_and_in_order():
    lengths = [("train", 30), ("train", 5), ("train", 40), ("validation", 12), ("train", 100), ("train", 1),
               ("validation", 50)]
    records = [VideoRecord(f"v{k}", split, n) for k, (split, n) in enumerate(lengths)]
    plan = plan_shards(records, 40)
    # By hand: train 30+5 fit in 40, 40 alone, 100 alone (longer than a shard), 1 alone (100 was full);
    # validation 12, then 50 alone.
    assert [(p.file, p.records) for p in plan] == [
        ("train-00000-of-00004.tfrecord", (0, 1)), ("train-00001-of-00004.tfrecord", (2,)),
        ("train-00002-of-00004.tfrecord", (4,)), ("train-00003-of-00004.tfrecord", (5,)),
        ("validation-00000-of-00002.tfrecord", (3,)), ("validation-00001-of-00002.tfrecord", (6,))]


def _labelled_videos(root, lengths=(7, 3, 9, 4), split="train"):
    """Videos with hand-chosen labels: valence/arousal signs cycle through the quadrants."""
    records = []
    for k, n in enumerate(lengths):
        i = np.arange(n)
        valence = np.where(i % 2 == 0, 0.5, -0.5) + 0.01 * k
        arousal = np.where(i % 4 < 2, 0.25, -0.25)
        valence[i % 5 == 4] = nan
        expression = (i + k) % 8 - 1  # -1 .. 6
        records.append(write_video_frames(root, k, n, split=split, missing={1} if k == 2 else (),
                                          valence=valence, arousal=arousal, expression=expression, fps=10.0))
    return records


def test_every_frame_once_in_order_with_manifest_counts(tmp_path):
    records = _labelled_videos(tmp_path)
    manifest = prepare(records, tmp_path / "out", frames_per_shard=10)
    examples = read_all(tmp_path / "out")
    seen = [(ex["video_id"].decode(), int(ex["frame"])) for _, ex in examples]
    assert seen == [(f"v{k:03d}", i) for k, n in enumerate((7, 3, 9, 4)) for i in range(n)]
    shard_of = collections.defaultdict(set)
    for file, ex in examples:
        shard_of[ex["video_id"]].add(file)
    assert all(len(files) == 1 for files in shard_of.values())
    # Pixels went with their frame: decode and compare with the colour written.
    for _, ex in examples:
        k, i = int(ex["video_id"][1:]), int(ex["frame"])
        if ex["image"]:
            rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(ex["image"], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            assert np.abs(rgb.astype(int) - frame_colour(k, i)).max() <= 3
        else:
            assert (k, i) == (2, 1)
    # Manifest counts and histograms, recounted here from the labels written.
    expression = collections.Counter()
    quadrant = collections.Counter()
    va_invalid = 0
    for record in records:
        for i in range(record.num_frames):
            if record.expression[i] >= 0:
                expression[int(record.expression[i])] += 1
            if math.isnan(record.valence[i]):
                va_invalid += 1
            else:
                quadrant[("+" if record.valence[i] >= 0 else "-") + ("+" if record.arousal[i] >= 0 else "-")] += 1
    hist = manifest["splits"]["train"]["histogram"]
    assert hist["expression"] == [expression[c] for c in range(7)]
    assert hist["expression_invalid"] == sum(1 for r in records for e in r.expression if e < 0)
    assert hist["quadrant"] == [quadrant["++"], quadrant["-+"], quadrant["+-"], quadrant["--"]]
    assert hist["va_invalid"] == va_invalid and hist["no_face"] == 1
    assert manifest["splits"]["train"]["frames"] == 23 and manifest["splits"]["train"]["videos"] == 4
    # Shards: [7, 3] = 10, [9], [4]; sizes and checksums of the files as they are on disk.
    assert [(s["frames"], s["videos"]) for s in manifest["shards"]] == [
        (10, [["v000", 7], ["v001", 3]]), (9, [["v002", 9]]), (4, [["v003", 4]])]
    for entry in manifest["shards"]:
        data = (tmp_path / "out" / entry["file"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    on_disk = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())
    assert on_disk == manifest and on_disk["spec_version"] == SPEC_VERSION
    assert sorted(os.listdir(tmp_path / "out")) == sorted([MANIFEST_NAME] + [s["file"] for s in manifest["shards"]])


def test_truncated_shard_raises_shard_error_naming_it(tmp_path):
    from tfaffect.data.pipeline import make_dataset

    prepare(_labelled_videos(tmp_path), tmp_path / "out", frames_per_shard=10)
    shard = tmp_path / "out" / "train-00001-of-00003.tfrecord"
    data = shard.read_bytes()
    shard.write_bytes(data[:len(data) // 2])
    with pytest.raises(ShardError, match="train-00001-of-00003.tfrecord.*truncated") as info:
        verify_shards(tmp_path / "out")
    assert info.value.path == str(shard)
    # Reading it directly: TensorFlow's DataLossError (which names no file) comes out as ShardError.
    with pytest.raises(ShardError, match="train-00001-of-00003.tfrecord.*truncated or corrupt record"):
        list(read_shard(shard))
    with pytest.raises(ShardError, match="train-00001-of-00003.tfrecord"):
        make_dataset(tmp_path / "out", "train", batch_size=2, training=True)


def test_corrupt_byte_is_caught_by_checksum_and_by_reader(tmp_path):
    prepare(_labelled_videos(tmp_path), tmp_path / "out", frames_per_shard=10)
    shard = tmp_path / "out" / "train-00000-of-00003.tfrecord"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    verify_shards(tmp_path / "out", checksums=False)  # same size: only the checksum can tell
    with pytest.raises(ShardError, match="train-00000-of-00003.tfrecord.*SHA-256"):
        verify_shards(tmp_path / "out")
    with pytest.raises(ShardError, match="train-00000-of-00003.tfrecord"):
        list(read_shard(shard))


def test_missing_manifest_says_what_to_run(tmp_path):
    with pytest.raises(MissingResourceError, match="tfaffect prepare"):
        load_manifest(tmp_path)


def test_frame_count_mismatch_names_video_and_leaves_no_shard(tmp_path):
    records = _labelled_videos(tmp_path)

    def short_source(record):
        for i in range(record.num_frames - (1 if record.video_id == "v002" else 0)):
            yield b"", None, None

    with pytest.raises(VideoError, match="v002, frame 8: only 8 frames"):
        write_dataset(records, tmp_path / "out", short_source, dataset="t", image_size=16, frames_per_shard=10,
                      progress=False)
    # The first shard was finished; the failed one left neither a shard nor a temporary file.
    assert sorted(os.listdir(tmp_path / "out")) == ["manifest.partial.json", "train-00000-of-00003.tfrecord"]


def test_inconsistent_au_counts_are_an_error(tmp_path):
    records = [VideoRecord("a", "train", 1, aus=[[0, 1]]), VideoRecord("b", "train", 1, aus=[[0, 1, 1]])]
    with pytest.raises(DataError, match="AU counts"):
        write_dataset(records, tmp_path, lambda r: [(b"", None, None)], dataset="t", image_size=8,
                      frames_per_shard=4, progress=False)


def test_resume_skips_finished_shards_and_gives_the_same_manifest(tmp_path):
    from tfaffect.data.prepare import cropped_frames

    records = _labelled_videos(tmp_path, lengths=(5, 5, 5, 5, 5))
    reference = prepare(records, tmp_path / "ref", frames_per_shard=5)
    options = {"jpeg_quality": 95, "faces": "resized crops"}  # what prepare() records, so the plans match
    calls = []

    def source(record, fail_at=None):
        calls.append(record.video_id)
        if record.video_id == fail_at:
            raise KeyboardInterrupt  # an interruption while writing shard 3
        return cropped_frames(record, 16, 95)

    with pytest.raises(KeyboardInterrupt):
        write_dataset(records, tmp_path / "out", lambda r: source(r, "v003"), dataset="test", image_size=16,
                      frames_per_shard=5, options=options, progress=False)
    assert not (tmp_path / "out" / MANIFEST_NAME).exists()
    stamps = {f: os.stat(tmp_path / "out" / f).st_mtime_ns for f in os.listdir(tmp_path / "out")
              if f.endswith(".tfrecord")}
    assert len(stamps) == 3
    calls.clear()
    resumed = write_dataset(records, tmp_path / "out", source, dataset="test", image_size=16, frames_per_shard=5,
                            options=options, progress=False)
    assert calls == ["v003", "v004"]  # the three finished shards were not redone
    assert all(os.stat(tmp_path / "out" / f).st_mtime_ns == t for f, t in stamps.items())
    assert resumed == reference
    for entry in reference["shards"]:
        assert (tmp_path / "out" / entry["file"]).read_bytes() == (tmp_path / "ref" / entry["file"]).read_bytes()


def test_parse_selected_features_only():
    record = VideoRecord("v", "train", 2, valence=[0.1, 0.2], arousal=[0.3, 0.4], expression=[5, -1])
    batch = np.array([encode_frame(record, i, b"\xff\xd8" * (i + 1)) for i in range(2)], object)
    parsed = parse_examples(batch, keys=("expression", "image"))
    assert set(parsed) == {"expression", "image"}
    assert parsed["expression"].numpy().tolist() == [5, -1]
    assert parsed["image"].numpy().tolist() == [b"\xff\xd8", b"\xff\xd8\xff\xd8"]
    with pytest.raises(ValueError, match="unknown features"):
        parse_examples(batch, keys=("expresion",))
