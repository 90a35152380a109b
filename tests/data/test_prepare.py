"""`tfaffect prepare` (tfaffect.data.prepare): importer -> face images -> shards; kill and resume.

Expected values come from the files the tests write (read back here with numpy/cv2), typed by hand,
or from the fixture writers' hand-typed truth (tests/data/fixtures.py).
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fixtures import write_afew, write_afew_va, write_affwild2, write_text
from tfaffect import EXPRESSIONS_7
from tfaffect.cli import main as cli
from tfaffect.data.faces import FaceCrop
from tfaffect.data.formats import get_format
from tfaffect.data.pipeline import make_dataset
from tfaffect.data.prepare import parse_option, prepare, prepare_records
from tfaffect.data.tfrecord import MANIFEST_NAME, load_manifest, read_shard

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def examples_of(out):
    manifest = load_manifest(out)
    return [ex for entry in manifest["shards"] for ex in read_shard(os.path.join(out, entry["file"]))]


def write_affwild2_layout(root, videos=30, frames=60, size=32):
    """A larger Aff-Wild2 (ABAW1) layout than the fixture: textured JPEG crops and VA files.

    Returns {video: num_frames}."""
    import cv2

    rng = np.random.default_rng(0)
    truth = {}
    for k in range(videos):
        video = f"vid{k:02d}"
        for i in range(frames):
            texture = cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (5, 5), 1)
            path = os.path.join(root, "cropped_aligned", video, f"{i + 1:05d}.jpg")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            cv2.imwrite(path, texture)
        rows = "\n".join(f"{v:.3f},{a:.3f}" for v, a in rng.uniform(-1, 1, (frames, 2)))
        write_text(os.path.join(root, "annotations", "VA_Set", "Training_Set", f"{video}.txt"),
                   "valence,arousal\n" + rows + "\n")
        truth[video] = frames
    return truth


def prepare_command(root, out):
    return [sys.executable, "-m", "tfaffect", "prepare", "--dataset", "affwild2", "--root", str(root),
            "--out", str(out), "--size", "24", "--frames-per-shard", "60"]


def test_killed_prepare_resumes_to_the_same_result(tmp_path):
    truth = write_affwild2_layout(tmp_path / "raw")
    reference = prepare("affwild2", tmp_path / "raw", tmp_path / "reference", size=24, frames_per_shard=60,
                        progress=False)
    assert len(reference["shards"]) == 30
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}
    out = tmp_path / "out"

    process = subprocess.Popen(prepare_command(tmp_path / "raw", out), cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not glob.glob(str(out / "*.tfrecord")):
        assert process.poll() is None and time.monotonic() < deadline, "prepare ended before its first shard"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()

    # Interrupted: no manifest, so readers see nothing; the shards present are complete ones.
    assert not (out / MANIFEST_NAME).exists()
    finished = sorted(os.path.basename(p) for p in glob.glob(str(out / "*.tfrecord")))
    assert 0 < len(finished) < 30
    checksums = {s["file"]: s["sha256"] for s in reference["shards"]}
    for name in finished:
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == checksums[name]

    result = subprocess.run(prepare_command(tmp_path / "raw", out), cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "train: 1800 frames, 30 videos, 30 shards" in result.stdout
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest == reference  # checksums included
    assert sorted(os.listdir(out)) == sorted([MANIFEST_NAME] + list(checksums))  # no temporary file left
    frames = [(ex["video_id"].decode(), int(ex["frame"])) for ex in examples_of(out)]
    assert sorted(frames) == sorted((video, i) for video, n in truth.items() for i in range(n))
    assert len(frames) == len(set(frames))


def test_affwild2_fixture_end_to_end(tmp_path):
    truth = write_affwild2(tmp_path / "raw")
    manifest = prepare("affwild2", tmp_path / "raw", tmp_path / "out", size=12, frames_per_shard=8, progress=False)
    assert manifest["num_aus"] == 8 and manifest["splits"]["train"]["videos"] == 4
    seen = {}
    for ex in examples_of(tmp_path / "out"):
        seen[ex["split"].decode(), ex["video_id"].decode(), int(ex["frame"])] = ex
    assert len(seen) == sum(t["num_frames"] for t in truth.values())
    for (split, video), t in truth.items():
        for i in range(t["num_frames"]):
            ex = seen[split, video, i]
            assert ex["has_face"] == t["images"][i]
            if "valence" in t:
                assert ex["va_valid"] == (not math.isnan(t["valence"][i]))
                if ex["va_valid"]:
                    assert math.isclose(ex["valence"], t["valence"][i], abs_tol=1e-6)
                    assert math.isclose(ex["arousal"], t["arousal"][i], abs_tol=1e-6)
            assert ex["expression"] == (t["expression"][i] if "expression" in t else -1)
            assert ex["aus"].tolist() == (t["aus"][i] if "aus" in t else [-1] * 8)
    # Landmarks of 1-30-640x360 (16x16 images resized to 12): (x + 0.5) * 12 / 16 - 0.5, over 12.
    points = truth["train", "1-30-640x360"]["landmarks"]
    for i in (0, 3):
        ex = seen["train", "1-30-640x360", i]
        np.testing.assert_allclose(ex["landmarks"], ((points[i] + 0.5) * 12 / 16 - 0.5) / 12, atol=1e-5)
    assert seen["train", "1-30-640x360", 1]["landmarks_valid"] == 0


def test_synthaffect_through_prepare_and_pipeline(tmp_path):
    from tfaffect.data.synth import generate

    root = generate(tmp_path / "synth", num_train_videos=1, num_val_videos=1, frames_per_video=40, size=32,
                    workers=1, progress=False)
    prepare("affwild2", root, tmp_path / "out", size=16, progress=False)
    video = "synth_val_001"
    lines = (root / "landmarks" / f"{video}.txt").read_text().split("\n")[1:41]
    points = np.array([[float(v) for v in line.split(",")] for line in lines]).reshape(40, 68, 2)
    va_lines = (root / "annotations" / "VA_Set" / "Validation_Set" / f"{video}.txt").read_text().split("\n")[1:41]
    va = np.array([[float(v) for v in line.split(",")] for line in va_lines])
    ds = make_dataset(tmp_path / "out", "validation", batch_size=8, training=False, landmarks=True, with_index=True)
    count = 0
    for x, y, weight, index in ds.as_numpy_iterator():
        for b, i in enumerate(index["frame"]):
            count += 1
            face = (points[i] >= 0).all()
            assert index["has_face"][b] == face == x["image"][b].any()
            if face:  # 32 px synth crops stored at 16: (x + 0.5) * 16 / 32 - 0.5, over 16
                np.testing.assert_allclose(x["landmarks"][b], ((points[i] + 0.5) / 2 - 0.5) / 16, atol=1e-4)
                np.testing.assert_allclose(y["va"][b], va[i], atol=1e-6)
            else:
                assert not x["landmarks"][b].any() and weight["va"][b] == 0 and (va[i] == -5).all()
    assert count == 40


class StubFaces:
    """Stands in for FacePipeline: frame i's face is a grey square of level 10 * i; frame 1 has none."""

    size = 8

    def process(self, frames, landmarks68=None):
        for index, rgb in frames:
            assert rgb.ndim == 3
            image = None if index == 1 else np.full((8, 8, 3), 10 * index, np.uint8)
            yield FaceCrop(frame=index, image=image, box=None, score=0.0 if image is None else 1.0)


def test_videos_go_through_the_face_pipeline_with_timestamps(tmp_path):
    import cv2

    truth = write_afew(tmp_path / "raw")
    records = list(get_format("afew").iter_records(tmp_path / "raw", split="train"))
    prepare_records(records, tmp_path / "out", dataset="afew", size=8, faces=StubFaces(), progress=False)
    for ex in examples_of(tmp_path / "out"):
        name, n = truth["train", ex["video_id"].decode()]
        i = int(ex["frame"])
        assert ex["num_frames"] == n and ex["clip_label"] == EXPRESSIONS_7.index(name)
        assert math.isclose(ex["timestamp"], i / 25.0, abs_tol=1e-3)  # the fixture videos are 25 fps
        assert ex["has_face"] == (i != 1)
        if i != 1:
            grey = cv2.imdecode(np.frombuffer(ex["image"], np.uint8), cv2.IMREAD_COLOR)
            assert np.abs(grey.astype(int) - 10 * i).max() <= 2


class NoFaceDetector:
    """An MTCNN stand-in that never finds a face (only frames with dataset landmarks get one)."""

    def detect_faces(self, images, **kwargs):
        return np.zeros((0, 16))


def test_whole_frames_with_dataset_landmarks_go_through_the_real_face_pipeline(tmp_path):
    from tfaffect.data.faces import FacePipeline

    truth = write_afew_va(tmp_path / "raw")
    records = list(get_format("afew_va").iter_records(tmp_path / "raw"))
    faces = FacePipeline(16, detector=NoFaceDetector())
    manifest = prepare_records(records, tmp_path / "out", dataset="afew_va", size=16, faces=faces, progress=False)
    assert manifest["options"]["faces"] == "FacePipeline"
    for ex in examples_of(tmp_path / "out"):
        t = truth[ex["video_id"].decode()]
        i = int(ex["frame"])
        # A face exactly where the frame has an image and the dataset gives its 68 landmarks.
        has_landmarks = bool(t["images"][i]) and bool(np.isfinite(t["landmarks"][i]).all())
        assert ex["has_face"] == ex["landmarks_valid"] == has_landmarks
        if has_landmarks:
            assert np.isfinite(ex["landmarks"]).all() and ex["landmarks"].any()


def test_cli_reports_a_bad_root_without_a_traceback(tmp_path, capsys):
    code = cli(["prepare", "--dataset", "affwild2", "--root", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert code == 1
    assert "tfaffect prepare: error:" in capsys.readouterr().err
    assert not (tmp_path / "o" / MANIFEST_NAME).exists()


@pytest.mark.parametrize("option, value", [("fold=2", 2), ("videos=some/dir", "some/dir"),
                                           ('ids=["a", "b"]', ["a", "b"])])
def test_importer_options_parse_as_json_or_text(option, value):
    assert parse_option(option) == (option.split("=")[0], value)
