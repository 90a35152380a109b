"""What users of video-affect tools expect from `tfaffect predict` (issue #14 items 2-6): several inputs, folders,
globs, images and cameras; several faces with stable ids; the Python API; formats, the annotated video, the
table's precision and provenance; the warning for a model trained on synthetic faces only.

Media are generated here: the astronaut's head from ``skimage.data.astronaut()`` (bundled in the scikit-image
wheel) pasted into small grey frames. A camera is a fake capture object (OpenCV's ``read``/``get``/``release``),
never a device. The model is the registry's tiny frame model (or tiny GRU AffWildNet), untrained: the tests
check the plumbing, not affect values.
"""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

import tfaffect
from tfaffect.errors import ConfigError, VideoError
from tfaffect.models.registry import build_model

WIDTH, HEIGHT, FPS = 320, 180, 25.0
GREY = 90


def _frame(*pastes):
    frame = np.full((HEIGHT, WIDTH, 3), GREY, np.uint8)
    for image, x, y in pastes:
        frame[y:y + image.shape[0], x:x + image.shape[1]] = image
    return frame


def _write_video(path: Path, frames) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _one_face_frames(head, count=8):
    return [_frame((head, 60 + 3 * i, 40)) for i in range(count)]


def _two_face_frames(head, count=8):
    return [_frame((head, 20 + 2 * i, 40), (head, 200 - 2 * i, 60)) for i in range(count)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory of a frame model 'trained on SynthAffect': model.keras, config.json, metrics.json."""
    folder = tmp_path_factory.mktemp("run") / "tiny_run"
    folder.mkdir()
    build_model("vggface_cnn", tiny=True, landmarks=False).save(folder / "model.keras")
    (folder / "config.json").write_text(json.dumps({"recipe": "demo_recipe", "fields": {"data": None}}))
    (folder / "metrics.json").write_text(json.dumps({"recipe": "demo_recipe", "evaluation": {
        "synthetic": True, "data": "/cache/synthaffect"}}))
    return folder


class FakeCapture:
    """A camera: ``read()`` hands out the frames (BGR, as OpenCV does) one by one, then no frame; ``on_read(i)``
    runs before frame ``i`` is handed out (a test raises KeyboardInterrupt there, as Ctrl-C would)."""

    def __init__(self, frames_rgb, fps=FPS, on_read=None):
        self.frames = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames_rgb]
        self.fps = fps
        self.on_read = on_read
        self.reads = 0
        self.released = False

    def read(self):
        index = self.reads
        self.reads += 1
        if self.on_read is not None:
            self.on_read(index)
        if index >= len(self.frames):
            return False, None
        return True, self.frames[index]

    def get(self, prop):
        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        self.released = True


# ----------------------------------------------------------------------------- several faces (item 3)

def test_several_faces_get_a_row_each_with_a_stable_face_id(tmp_path, run_dir, detector, head):
    video = _write_video(tmp_path / "two.avi", _two_face_frames(head))
    table = tfaffect.predict(video, model=run_dir, progress=False, detector=detector, batch_size=4)
    assert len(table) == 16 and table["face_found"].all()
    assert (table.groupby("frame")["face_id"].apply(sorted) == pd.Series([[0, 1]] * 8)).all()
    left = table[table["x0"] < 100]  # the head that starts on the left keeps one id
    assert left["face_id"].nunique() == 1 and len(left) == 8
    assert np.isfinite(table[["valence", "arousal"]].to_numpy()).all()
    # --max-faces 1: the main face only, one row per frame
    main = tfaffect.predict(video, model=run_dir, progress=False, detector=detector, max_faces=1, batch_size=4)
    assert main["frame"].tolist() == list(range(8)) and (main["face_id"] == 0).all()


def test_sequence_model_runs_each_face_as_its_own_sequence(tmp_path, detector, head):
    """Two faces through a GRU AffWildNet: each face's values equal one call of the model on that face's crops
    alone (its own carried state)."""
    from tfaffect.data.faces import FacePipeline
    from tfaffect.data.video import iter_frames

    model = build_model("affwildnet_vggface_gru", tiny=True, landmarks=False)
    video = _write_video(tmp_path / "two.avi", _two_face_frames(head))
    table = tfaffect.predict(video, model=model, progress=False, detector=detector, batch_size=4, window=3)
    pipeline = FacePipeline(32, batch_size=4, detect_every=5, detect_max_side=320, detector=detector)
    crops = {}
    for item in pipeline.process_faces((i, f) for i, _, f in iter_frames(video)):
        for crop in item.faces:
            crops.setdefault(crop.face_id, []).append(crop.image)
    for face_id, images in crops.items():
        whole = np.asarray(model.predict_on_batch({"image": np.stack(images)[None]})["va"])[0]
        got = table[table["face_id"] == face_id].sort_values("frame")[["valence", "arousal"]].to_numpy()
        np.testing.assert_allclose(got, whole, rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------- inputs (item 2)

def test_a_folder_recursively_several_files_and_a_glob_with_a_summary(tmp_path, run_dir, detector, head):
    media = tmp_path / "media"
    (media / "sub").mkdir(parents=True)
    _write_video(media / "a.avi", _one_face_frames(head, 6))
    _write_video(media / "sub" / "b.avi", [_frame()] * 4)  # no face
    cv2.imwrite(str(media / "sub" / "still.png"), cv2.cvtColor(_frame((head, 100, 40)), cv2.COLOR_RGB2BGR))
    (media / "notes.txt").write_text("not media")
    out = tmp_path / "out"
    table = tfaffect.predict(media, model=run_dir, out=out, progress=False, detector=detector, plots=False)
    assert list(dict.fromkeys(table["input"])) == ["a.avi", "sub/b.avi", "sub/still.png"]
    summary = pd.read_csv(out / "summary.csv")
    assert summary["input"].tolist() == ["a.avi", "sub/b.avi", "sub/still.png"]
    assert summary["frames"].tolist() == [6, 4, 1] and summary["frames_with_a_face"].tolist() == [6, 0, 1]
    assert summary["output"].str.slice(0, 9).tolist() == ["a.avi", "sub_b.avi", "sub_still"]  # safe names
    for name in summary["output"]:
        assert (out / name / "frames.csv").is_file() and (out / name / "predict.json").is_file()
    still = table[table["input"] == "sub/still.png"]
    assert still["frame"].tolist() == [0] and still["time_s"].tolist() == [0.0] and still["face_found"].all()
    # a glob, and two files given one by one (the same file twice counts once)
    by_glob = tfaffect.predict(str(media / "**" / "*.avi"), model=run_dir, progress=False, detector=detector)
    assert sorted(set(by_glob["input"])) == sorted([str(media / "a.avi"), str(media / "sub" / "b.avi")])
    two = tfaffect.predict([media / "a.avi", media / "sub" / "still.png", media / "a.avi"], model=run_dir,
                           progress=False, detector=detector)
    assert list(dict.fromkeys(two["input"])) == [str(media / "a.avi"), str(media / "sub" / "still.png")]


def test_a_bad_file_among_several_is_reported_and_the_others_are_written(tmp_path, run_dir, detector, head):
    media = tmp_path / "media"
    media.mkdir()
    _write_video(media / "good.avi", _one_face_frames(head, 4))
    (media / "broken.avi").write_bytes(b"not a video at all" * 10)
    out = tmp_path / "out"
    with pytest.raises(VideoError, match="1 of 2 inputs could not be read"):
        tfaffect.predict(media, model=run_dir, out=out, progress=False, detector=detector, plots=False)
    summary = pd.read_csv(out / "summary.csv")
    assert summary.set_index("input").loc["broken.avi", "error"].startswith(str(media / "broken.avi"))
    assert (out / "good.avi" / "frames.csv").is_file() and not (out / "broken.avi").exists()


def test_inputs_that_are_nothing_are_refused_before_any_work(tmp_path, run_dir):
    from tfaffect.data.video import resolve_inputs

    with pytest.raises(VideoError, match="no such video, image, folder, camera index or stream URL"):
        resolve_inputs(str(tmp_path / "missing.mp4"))
    with pytest.raises(ConfigError, match="no video or image matches"):
        resolve_inputs(str(tmp_path / "*.mp4"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no video or image in this folder"):
        resolve_inputs(tmp_path / "empty")
    kinds = [(s.kind, s.location, s.name) for s in resolve_inputs(["0", 2, "rtsp://cam.local/stream"])]
    assert kinds == [("camera", 0, "camera0"), ("camera", 2, "camera2"),
                     ("stream", "rtsp://cam.local/stream", "rtsp://cam.local/stream")]


def test_camera_rows_are_written_as_they_come_and_ctrl_c_leaves_a_complete_csv(tmp_path, run_dir, detector, head):
    out = tmp_path / "cam"
    lines_seen = []

    def on_read(index):
        partial = list(out.glob("frames.csv.tmp-*"))
        lines_seen.append(len(partial[0].read_text().splitlines()) if partial else 0)
        if index == 23:
            raise KeyboardInterrupt  # as Ctrl-C while the camera is read

    camera = FakeCapture([_frame((head, 60 + (i % 5), 40)) for i in range(40)], on_read=on_read)
    table = tfaffect.predict(camera, model=run_dir, out=out, progress=False, detector=detector, overlap=False,
                             video_out=True)
    # rows were in the temporary file while the camera was still being read
    assert max(lines_seen[:23]) > 5
    frames = table["frame"].tolist()
    assert frames == list(range(len(frames))) and 15 <= len(frames) <= 23  # every frame through detection
    assert table["face_found"].all() and not list(out.glob("*.tmp-*"))
    written = pd.read_csv(out / "frames.csv")
    assert len(written) == len(table) and written["frame"].tolist() == frames
    assert (written["fps"] == FPS).all() and (written["input"] == "stream").all()
    assert np.all(np.diff(written["time_s"].to_numpy()) >= 0)
    info = json.loads((out / "predict.json").read_text())
    assert info["interrupted"] is True and info["input"]["kind"] == "stream"
    video = cv2.VideoCapture(str(out / "annotated.mp4"))
    count = 0
    while video.read()[0]:
        count += 1
    assert count == len(frames)
    assert not camera.released  # a capture the caller opened stays the caller's


def test_camera_through_the_background_thread_and_the_stream_api(run_dir, detector, head):
    """Ctrl-C raised in the frame reader's thread reaches the caller; tfaffect.stream hands out one small table per
    frame as the frames come."""
    def interrupt(index):
        if index == 12:
            raise KeyboardInterrupt

    table = tfaffect.predict(FakeCapture([_frame((head, 60, 40))] * 30, on_read=interrupt), model=run_dir,
                             progress=False, detector=detector)
    assert 5 <= len(table) <= 12 and table["frame"].tolist() == list(range(len(table)))
    tables = list(tfaffect.stream(FakeCapture(_one_face_frames(head, 7)), model=run_dir, detector=detector))
    assert [t["frame"].tolist() for t in tables] == [[i] for i in range(7)]
    assert all(t["face_found"].all() and (t["fps"] == FPS).all() for t in tables)


# ----------------------------------------------------------------------------- outputs (item 6)

def test_annotated_video_has_the_inputs_frame_count_and_size(tmp_path, run_dir, detector, head):
    frames = _two_face_frames(head, 9)
    video = _write_video(tmp_path / "two.avi", frames)
    out = tmp_path / "out"
    table = tfaffect.predict(video, model=run_dir, out=out, video_out=True, progress=False, detector=detector)
    capture = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (WIDTH, HEIGHT)
    decoded = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(frame)
    capture.release()
    assert len(decoded) == len(frames)
    # the box of face 0 in frame 4 is drawn in green on its top edge
    row = table[(table["frame"] == 4) & (table["face_id"] == 0)].iloc[0]
    edge = cv2.cvtColor(decoded[4], cv2.COLOR_BGR2RGB)[int(round(row["y0"])), int(row["x0"]) + 5:int(row["x1"]) - 5]
    assert (edge[:, 1].astype(int) - edge[:, 0].astype(int)).mean() > 60
    # an image gets annotated.png
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
    tfaffect.predict(image, model=run_dir, out=tmp_path / "img", video_out=True, progress=False, detector=detector)
    assert cv2.imread(str(tmp_path / "img" / "annotated.png")).shape == (HEIGHT, WIDTH, 3)


def test_csv_precision_model_name_fps_and_the_other_formats(tmp_path, run_dir, detector, head, monkeypatch):
    video = _write_video(tmp_path / "one.avi", _one_face_frames(head, 5))
    out = tmp_path / "csv"
    table = tfaffect.predict(video, model=run_dir, out=out, progress=False, detector=detector, plots=False)
    text = (out / "frames.csv").read_text().splitlines()
    header = text[0].split(",")
    assert header[-3:] == ["input", "model", "fps"]
    for line in text[1:]:
        cells = dict(zip(header, line.split(",")))
        for key, digits in (("x0", 1), ("y1", 1), ("time_s", 4), ("confidence", 4)):
            assert len(cells[key].partition(".")[2]) <= digits, (key, cells[key])
        assert len(cells["valence"].replace("-", "").replace(".", "").lstrip("0")) <= 9  # float32 digits
        assert cells["model"] == "demo_recipe" and cells["fps"] == "25.0"
    np.testing.assert_allclose(pd.read_csv(out / "frames.csv")["valence"], table["valence"], rtol=1e-6)
    # json: the constant columns once, the rows as records
    tfaffect.predict(video, model=run_dir, out=tmp_path / "json", format="json", progress=False, detector=detector,
                     plots=False)
    document = json.loads((tmp_path / "json" / "frames.json").read_text())
    assert (document["input"], document["model"], document["fps"]) == (str(video), "demo_recipe", 25.0)
    assert len(document["rows"]) == 5 and set(document["rows"][0]) == set(document["columns"])
    assert "input" not in document["columns"]
    # parquet: written where pyarrow is installed; otherwise a clear error naming the extra, before any work
    import importlib.util

    if importlib.util.find_spec("pyarrow") is not None:
        tfaffect.predict(video, model=run_dir, out=tmp_path / "pq", format="parquet", progress=False,
                         detector=detector, plots=False)
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "pq" / "frames.parquet")[["frame", "face_id"]],
                                      table[["frame", "face_id"]])
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("pyarrow", "fastparquet") else real_find_spec(name, *a))
    with pytest.raises(ConfigError, match=r"pip install 'tfaffect\[parquet\]'"):
        tfaffect.predict(video, model=run_dir, out=tmp_path / "pq2", format="parquet", progress=False)
    assert not (tmp_path / "pq2").exists()


# ----------------------------------------------------------------------------- models (items 4, 5)

def test_synthetic_training_data_warns_once_and_is_recorded(tmp_path, run_dir, detector, head, caplog):
    from tfaffect import predict as predict_module

    predict_module._WARNED.clear()
    video = _write_video(tmp_path / "one.avi", _one_face_frames(head, 3))
    model = tfaffect.load_model(run_dir)
    info = tfaffect.model_info(model)
    assert (info.name, info.training_data, info.synthetic) == ("demo_recipe", "SynthAffect (synthetic)", True)
    with caplog.at_level(logging.WARNING, logger="tfaffect.predict"):
        tfaffect.predict([video, tmp_path / "one.avi"], model=model, progress=False, detector=detector)
        tfaffect.predict(video, model=run_dir / "model.keras", out=tmp_path / "out", progress=False,
                         detector=detector, plots=False)
    warnings = [r for r in caplog.records if "trained on SynthAffect (synthetic faces) only" in r.getMessage()]
    assert len(warnings) == 1
    recorded = json.loads((tmp_path / "out" / "predict.json").read_text())["model"]
    assert recorded["synthetic"] is True and recorded["training_data"] == "SynthAffect (synthetic)"
    assert recorded["mode"] == "frames"


def test_model_info_from_an_export_folder(tmp_path):
    from tfaffect.predict import read_model_info

    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "metadata.json").write_text(json.dumps({
        "recipe": {"name": "affwildnet"}, "training_data": {"name": "the dataset at /data/aw2", "synthetic": False},
        "face_crop": {"size": [96, 96]}}))
    info = read_model_info(folder)
    assert (info.name, info.synthetic, info.face_crop) == ("affwildnet", False, {"size": [96, 96]})
    (folder / "metadata.json").write_text(json.dumps({"training_data": "Aff-Wild, by the original authors"}))
    assert read_model_info(folder).synthetic is None and read_model_info(folder).name == "export"


# ----------------------------------------------------------------------------- the command (real process)

def test_cli_predict_several_inputs_to_one_folder_quietly(tmp_path, run_dir, head):
    media = tmp_path / "media"
    media.mkdir()
    _write_video(media / "a.avi", _two_face_frames(head, 5))
    cv2.imwrite(str(tmp_path / "still.jpg"), cv2.cvtColor(_frame((head, 100, 40)), cv2.COLOR_RGB2BGR))
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "tfaffect", "predict", str(media), str(tmp_path / "still.jpg"),
                             "--model", str(run_dir), "--out", str(tmp_path / "out"), "--format", "json",
                             "--no-progress", "--video-out"], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert "2 inputs, 6 frames, a face in 6, 3 faces, 11 rows" in result.stdout
    assert not [line for line in result.stderr.splitlines() if line.startswith(("I0000", "E0000", "W0000"))], \
        result.stderr
    assert "trained on SynthAffect (synthetic faces) only" in result.stderr
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summary["faces"].tolist() == [2, 1]
    assert (tmp_path / "out" / "a.avi" / "frames.json").is_file()
    assert (tmp_path / "out" / "a.avi" / "annotated.mp4").is_file()
    assert (tmp_path / "out" / "still.jpg" / "annotated.png").is_file()
