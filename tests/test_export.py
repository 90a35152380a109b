"""SavedModel export: outputs in a fresh TensorFlow-only process equal the Keras model's, streaming
``step`` equals ``serve``, TFLite, metadata, the CLI and atomic writes.

References are computed independently in this process: the Keras model run on crops resized with
``tf.image.resize`` (bilinear, antialias, rounded to uint8, as the training pipeline does), landmarks
moved to the resized grid by the hand-derived formula below. The exports are loaded in a fresh
process by ``export_load_check.py``, which refuses to import tfaffect or keras.
"""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from export_helpers import load_in_fresh_process, spread_weights
from tfaffect import cli
from tfaffect.errors import ConfigError
from tfaffect.export import export_model, inference_copy
from tfaffect.models import build_model
from tfaffect.models.layers import FoldTime, UnfoldTime
from tfaffect.models.stat_lstm import CausalWindows, WindowStats
from tfaffect.training.registry import load_recipe_file
from tfaffect.training.trainer import train

HERE = Path(__file__).parent
TOLERANCE = 1e-5  # issue #5, "Must show": same outputs as the Keras model
CROP = (40, 45)  # (H, W) of the test crops: not the tiny models' 32, and not square
SIZE = 32  # the registry's tiny image size
CASES = {"t1": (2, 1), "t5": (2, 5), "t80": (1, 80)}  # case -> (batch, time); T = 1, 5, 80 (issue #5)
UNITS = 8  # the registry's tiny recurrent width



def tiny_models():
    """name -> (model, tflite?) for the five exports the fixture makes."""
    keras.utils.set_random_seed(0)
    models = {
        "gru": (build_model("affwildnet_vggface_gru", tiny=True), True),
        "lstm": (build_model("affwildnet_vggface_lstm", tiny=True), False),  # peephole LSTM by default
        "cnn": (build_model("vggface_cnn", tiny=True), True),
        "landmarks": (build_model("affwildnet_vggface_gru", tiny=True, landmarks=True), False),
        # Do 2020 Table I model 6 (STAT of scores and features + 2 BiLSTM layers over the score window, VA
        # heads): tiny, window s = 3, so T = 1 and 2 are shorter than a window and T = 5, 80 longer.
        "stat": (build_model("stat_lstm_model6", tiny=True), False),
    }
    return {name: (spread_weights(model, seed), tflite)
            for seed, (name, (model, tflite)) in enumerate(models.items())}


def make_inputs(seed, landmarks):
    rng = np.random.default_rng(seed)
    inputs = {}
    for case, (batch, time) in CASES.items():
        inputs[f"frames_{case}"] = rng.integers(0, 256, (batch, time) + CROP + (3,), dtype=np.uint8)
        if landmarks:
            points = rng.uniform(0.05, 0.95, (batch, time, 68, 2)).astype(np.float32)
            points[0, -1] = 0.0  # unknown landmarks (all zero) in one frame
            inputs[f"landmarks_{case}"] = points
    inputs["frames_native"] = rng.integers(0, 256, (2, 3, SIZE, SIZE, 3), dtype=np.uint8)
    if landmarks:
        inputs["landmarks_native"] = rng.uniform(0.05, 0.95, (2, 3, 68, 2)).astype(np.float32)
    return inputs


def resized_uint8(frames, size):
    """Independent reference of the export's resize: tf.image.resize (antialias), round, clip, uint8."""
    lead, (height, width) = frames.shape[:-3], frames.shape[-3:-1]
    flat = frames.reshape((-1, height, width, 3))
    if (height, width) != (size, size):
        flat = np.clip(np.round(tf.image.resize(flat, [size, size], antialias=True).numpy()), 0, 255)
    return flat.astype(np.uint8).reshape(lead + (size, size, 3))


def moved_landmarks(points, height, width, size):
    """Points in units of an H x W crop -> units of the crop resized to size x size, by hand.

    Pixel x in the crop is x_px = p * W; resizing maps pixel centres onto pixel centres, so
    x'_px = (x_px + 0.5) * size / W - 0.5, and x' = x'_px / size = p + 0.5 / W - 0.5 / size
    (y likewise with H). All-zero frames mean "unknown" and stay zero.
    """
    moved = points + np.array([0.5 / width, 0.5 / height], np.float32) - 0.5 / size
    unknown = np.all(points == 0, axis=(-2, -1), keepdims=True)
    return np.where(unknown, 0.0, moved).astype(np.float32)


def keras_reference(model, frames, landmarks=None):
    """``(valence, arousal)`` ``[B, T]`` of the Keras model on the resized crops."""
    batch, time, height, width = frames.shape[:4]
    sequence = len(model.input["image"].shape) == 5
    images = resized_uint8(frames, SIZE)
    x = {"image": images if sequence else images.reshape((-1, SIZE, SIZE, 3))}
    if landmarks is not None:
        points = moved_landmarks(landmarks, height, width, SIZE)
        x["landmarks"] = points if sequence else points.reshape((-1, 68, 2))
    va = keras.ops.convert_to_numpy(model(x, training=False)["va"]).reshape((batch, time, 2))
    return va[..., 0], va[..., 1]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """The four tiny models exported, then run once in a fresh TensorFlow-only process."""
    root = tmp_path_factory.mktemp("exports")
    jobs, results = [], {}
    for index, (name, (model, tflite)) in enumerate(tiny_models().items()):
        out = export_model(model, root / name, metadata={"training_data": "none (random weights)"},
                           tflite=tflite)
        inputs = make_inputs(index, landmarks=name == "landmarks")
        np.savez(root / f"{name}_in.npz", **inputs)
        jobs.append({"saved_model": str(out), "inputs": str(root / f"{name}_in.npz"),
                     "outputs": str(root / f"{name}_out.npz")})
        results[name] = {"model": model, "dir": out, "inputs": inputs}
    report = load_in_fresh_process(root, jobs)
    for name, job in zip(results, jobs):
        results[name]["outputs"] = dict(np.load(job["outputs"]))
        results[name]["signatures"] = report["signatures"][job["saved_model"]]
        results[name]["embedded"] = report["metadata"].get(job["saved_model"])
        results[name]["metadata"] = json.loads((results[name]["dir"] / "metadata.json").read_text())
    results["blocked_imports"] = report["blocked_imports"]
    return results


def check_against_keras(result, landmarks=False):
    """serve and step (from the fresh process) against the Keras model for every case."""
    model, inputs, outputs = result["model"], result["inputs"], result["outputs"]
    for case in list(CASES) + ["native"]:
        frames = inputs[f"frames_{case}"]
        valence, arousal = keras_reference(model, frames, inputs.get(f"landmarks_{case}"))
        for mode in ("serve", "step"):
            np.testing.assert_allclose(outputs[f"{mode}/{case}/valence"], valence, rtol=0, atol=TOLERANCE,
                                       err_msg=f"{mode} {case}")
            np.testing.assert_allclose(outputs[f"{mode}/{case}/arousal"], arousal, rtol=0, atol=TOLERANCE,
                                       err_msg=f"{mode} {case}")
        assert np.ptp(valence) > 100 * TOLERANCE  # the outputs vary: the comparison means something


def test_exports_need_only_tensorflow(exports):
    assert exports["blocked_imports"] == []
    for name in ("gru", "lstm", "cnn", "landmarks", "stat"):
        assert exports[name]["signatures"] == ["initial_state", "metadata", "per_frame", "serve", "serving_default",
                                               "step"], name


def test_exports_describe_themselves_in_metadata_json_and_inside_the_saved_model(exports):
    """Issue #14 item 5: the face crop the model expects (facts from tfaffect.data.faces), and the same facts
    readable from the SavedModel by TensorFlow alone (the `metadata` signature, run in the fresh process)."""
    from tfaffect.data.faces import ARCFACE_TEMPLATE_112, alignment_template

    for name in ("gru", "cnn", "stat"):
        metadata = exports[name]["metadata"]
        crop = metadata["face_crop"]
        assert crop["size"] == [SIZE, SIZE] and crop["colour_order"] == "RGB" and crop["margin"] == 0.0
        assert "MTCNN" in crop["detector"] and "Umeyama" in crop["alignment"]
        assert "nose tip" in crop["landmark_scheme"] and "36-41" in crop["landmark_scheme"]
        np.testing.assert_allclose(crop["template_points"], alignment_template(SIZE, 0.0), atol=1e-4)
        assert crop["template_points_112"] == ARCFACE_TEMPLATE_112.tolist()
        embedded = exports[name]["embedded"]
        assert embedded["face_crop"] == crop and embedded["training_data"] == "none (random weights)"
        assert embedded["tflite"] == "see metadata.json beside saved_model.pb"
        assert set(embedded) == set(metadata)
        for key in set(metadata) - {"tflite", "files"}:  # those two are completed after the SavedModel is written
            assert embedded[key] == metadata[key], key


def test_gru_affwildnet_matches_keras_for_t_1_5_80(exports):
    result = exports["gru"]
    check_against_keras(result)
    metadata = result["metadata"]
    assert metadata["state"]["size"] == 2 * UNITS  # two GRU layers, one state of `units` each
    assert [entry["layer"] for entry in metadata["state"]["layout"]] == ["rnn1", "rnn2"]
    assert metadata["input"]["image_size"] == [SIZE, SIZE]
    assert metadata["model"]["config"]["use_cudnn"] is False  # exported without cuDNN kernels
    assert metadata["training_data"] == "none (random weights)"  # the caller's metadata is kept
    assert metadata["outputs"] == ["valence", "arousal"]
    for name in ("saved_model.pb", "model.keras", "metadata.json", "per_frame.tflite"):
        assert (result["dir"] / name).is_file(), name


def test_peephole_lstm_affwildnet_matches_keras(exports):
    result = exports["lstm"]
    check_against_keras(result)
    layout = result["metadata"]["state"]["layout"]
    assert [(e["layer"], e["cell"], e["state"]) for e in layout] == [
        ("rnn1", "PeepholeLSTMCell", 0), ("rnn1", "PeepholeLSTMCell", 1),
        ("rnn2", "PeepholeLSTMCell", 0), ("rnn2", "PeepholeLSTMCell", 1)]  # (h, c) per layer
    assert result["metadata"]["state"]["size"] == 4 * UNITS
    assert result["metadata"]["tflite"]["file"] is None and not (result["dir"] / "per_frame.tflite").exists()


def test_cnn_only_model_matches_keras(exports):
    result = exports["cnn"]
    check_against_keras(result)
    assert result["metadata"]["state"]["size"] == 0
    assert result["metadata"]["input"]["sequence_model"] is False


def test_landmark_model_matches_keras(exports):
    result = exports["landmarks"]
    check_against_keras(result, landmarks=True)
    serve = result["metadata"]["signatures"]["serve"]["inputs"]
    assert set(serve) == {"frames", "landmarks"}
    assert set(result["metadata"]["signatures"]["step"]["inputs"]) == {"frame", "landmarks", "state"}


def test_stat_lstm_model_streams_with_a_window_buffer(exports):
    """Do 2020 model 6: ``step`` (one frame per call, a buffer of the last s per-frame vectors as state) equals
    ``serve`` on the whole sequence, which equals the Keras model, for every output and T = 1, 5, 80 (and 3
    at the model's size)."""
    result = exports["stat"]
    model, inputs, outputs = result["model"], result["inputs"], result["outputs"]
    window = model.get_config()["window"]
    for case in list(CASES) + ["native"]:
        frames = inputs[f"frames_{case}"]
        reference = model({"image": resized_uint8(frames, SIZE)}, training=False)
        expected = {"valence": reference["va"][..., 0], "arousal": reference["va"][..., 1],
                    "expression": reference["expression"], "va_aux": reference["va_aux"]}
        for key, value in expected.items():
            value = keras.ops.convert_to_numpy(value)
            np.testing.assert_allclose(outputs[f"serve/{case}/{key}"], value, rtol=0, atol=TOLERANCE,
                                       err_msg=f"serve {case} {key}")
            np.testing.assert_allclose(outputs[f"step/{case}/{key}"], outputs[f"serve/{case}/{key}"], rtol=0,
                                       atol=TOLERANCE, err_msg=f"step {case} {key}")
            assert np.ptp(value) > 100 * TOLERANCE, (case, key)
    metadata = result["metadata"]
    layout = metadata["state"]["layout"]
    features = model.get_config()["feature_units"]
    assert [(e["layer"], e["window"], e["vector_size"]) for e in layout[:-1]] == [
        ("score_windows", window, 7), ("feature_windows", window, features)]
    assert layout[-1]["kind"] == "started" and layout[-1]["offset"] == window * (7 + features)
    assert metadata["state"]["size"] == window * (7 + features) + 1
    assert metadata["step_check"]["frames"] == window + 2 and metadata["step_unavailable"] is None
    assert set(metadata["signatures"]["per_frame"]["outputs"]) == {"unfold_features", "unfold_scores"}


@pytest.mark.large  # full-size VGG-Face + FC 4096 + 2x GRU 128: ~30 s on 2 busy cores, ~400 MB written
def test_full_size_affwildnet_matches_keras_at_t_80(tmp_path):
    keras.utils.set_random_seed(0)
    model = spread_weights(build_model("affwildnet_vggface_gru"), 0)
    out = export_model(model, tmp_path / "affwildnet", metadata={})
    frames = np.random.default_rng(6).integers(0, 256, (1, 80, 112, 112, 3), dtype=np.uint8)  # 112 -> 96
    np.savez(tmp_path / "in.npz", frames_t80=frames)
    load_in_fresh_process(tmp_path, [{"saved_model": str(out), "inputs": str(tmp_path / "in.npz"),
                                      "outputs": str(tmp_path / "out.npz")}])
    outputs = np.load(tmp_path / "out.npz")
    images = resized_uint8(frames, 96)
    va = keras.ops.convert_to_numpy(model({"image": images}, training=False)["va"])
    for mode in ("serve", "step"):
        np.testing.assert_allclose(outputs[f"{mode}/t80/valence"], va[..., 0], rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(outputs[f"{mode}/t80/arousal"], va[..., 1], rtol=0, atol=TOLERANCE)
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["tflite"]["file"] == "per_frame.tflite", metadata["tflite"]


def tflite_outputs(path, **inputs):
    runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("per_frame")
    return runner(**inputs)


def test_tflite_per_frame_part(exports):
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)

    cnn = exports["cnn"]
    lite = tflite_outputs(cnn["dir"] / "per_frame.tflite", image=images)
    va = keras.ops.convert_to_numpy(cnn["model"]({"image": images}, training=False)["va"])
    np.testing.assert_allclose(lite["valence"], va[:, 0], rtol=0, atol=1e-4)
    np.testing.assert_allclose(lite["arousal"], va[:, 1], rtol=0, atol=1e-4)

    gru = exports["gru"]
    model = gru["model"]
    features = keras.Model(model.input, model.get_layer("rnn1").input)  # what enters the first GRU
    expected = keras.ops.convert_to_numpy(features({"image": images[:, None]}, training=False))[:, 0]
    lite = tflite_outputs(gru["dir"] / "per_frame.tflite", image=images)
    np.testing.assert_allclose(lite["features"], expected, rtol=0, atol=1e-4)
    assert gru["metadata"]["tflite"]["max_abs_diff_vs_tensorflow"] < 1e-4


# --------------------------------------------------------------------------------------------------
# Small functional models: what cannot stream, cuDNN, errors.

def small_sequence_model(temporal="gru", expression=False):
    """uint8 [B, T, 8, 8, 3] -> {"va": [B, T, 2]} (+ "expression" [B, T, 7] softmax) from plain Keras
    layers; ``temporal`` picks the layer that mixes frames: a GRU (causal), a bidirectional GRU or a
    'same'-padded Conv1D (both see later frames)."""
    keras.utils.set_random_seed(1)
    image = keras.Input((None, 8, 8, 3), dtype="uint8", name="image")
    x = keras.layers.Reshape((-1, 8 * 8 * 3))(image)
    x = keras.layers.Rescaling(1 / 128, offset=-1)(x)
    x = keras.layers.Dense(4, activation="tanh")(x)
    layer = {"gru": lambda: keras.layers.GRU(3, return_sequences=True, name="gru"),
             "bidirectional": lambda: keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True)),
             "conv": lambda: keras.layers.Conv1D(3, 3, padding="same")}[temporal]()
    x = layer(x)
    outputs = {"va": keras.layers.Dense(2, name="va")(x)}
    if expression:
        outputs["expression"] = keras.layers.Dense(7, activation="softmax", name="expression")(x)
    return keras.Model({"image": image}, outputs)


def test_inference_copy_turns_cudnn_off_and_keeps_outputs():
    model = small_sequence_model("gru")
    assert model.get_layer("gru").use_cudnn == "auto"
    copy = inference_copy(model)
    assert copy.get_layer("gru").use_cudnn is False
    assert model.get_layer("gru").use_cudnn == "auto"  # the caller's model is untouched
    x = {"image": np.random.default_rng(2).integers(0, 256, (2, 4, 8, 8, 3), dtype=np.uint8)}
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(copy(x)["va"]),
                                  keras.ops.convert_to_numpy(model(x)["va"]))
    affwildnet = inference_copy(build_model("affwildnet_vggface_gru", tiny=True))
    assert affwildnet.get_config()["use_cudnn"] is False
    assert {affwildnet.get_layer(name).use_cudnn for name in ("rnn1", "rnn2")} == {False}


def test_expression_output_in_serve_and_step(tmp_path):
    model = small_sequence_model("gru", expression=True)
    out = export_model(model, tmp_path / "export", metadata={}, tflite=False)
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["outputs"] == ["valence", "arousal", "expression"]
    assert metadata["expression_classes"] == ["Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness",
                                              "Surprise"]
    assert metadata["state"]["size"] == 3  # one GRU of 3 units
    frames = np.random.default_rng(5).integers(0, 256, (2, 6, 8, 8, 3), dtype=np.uint8)
    expected = keras.ops.convert_to_numpy(model({"image": frames})["expression"])
    loaded = tf.saved_model.load(str(out))
    served = loaded.serve(frames)["expression"].numpy()
    state, steps = loaded.initial_state(2)["state"], []
    for t in range(frames.shape[1]):
        result = loaded.step(frame=frames[:, t], state=state)
        state = result["state"]
        steps.append(result["expression"].numpy())
    np.testing.assert_allclose(served, expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(np.stack(steps, axis=1), expected, rtol=0, atol=TOLERANCE)
    assert served.shape == (2, 6, 7) and np.ptp(expected) > 100 * TOLERANCE


@pytest.mark.parametrize("temporal", ["bidirectional", "conv"])
def test_model_that_sees_later_frames_gets_no_step(tmp_path, temporal):
    model = small_sequence_model(temporal)
    out = export_model(model, tmp_path / "export", metadata={}, tflite=False)
    metadata = json.loads((out / "metadata.json").read_text())
    assert set(metadata["signatures"]) == {"serve", "serving_default", "metadata"}
    assert metadata["step_unavailable"]
    if temporal == "conv":  # found by the numerical check, not by the layer type
        assert metadata["step_check"]["max_abs_diff"] > metadata["step_check"]["tolerance"]
    loaded = tf.saved_model.load(str(out))
    assert "step" not in loaded.signatures
    frames = np.random.default_rng(3).integers(0, 256, (1, 6, 8, 8, 3), dtype=np.uint8)
    expected = keras.ops.convert_to_numpy(model({"image": frames})["va"])
    np.testing.assert_allclose(loaded.serve(frames)["valence"].numpy(), expected[..., 0], rtol=0, atol=TOLERANCE)


def small_windowed_model(feature_window=True, lstm=True, carried_gru=False):
    """uint8 [B, T, 8, 8, 3] -> per-frame features (Dense 4) and scores (Dense 3, softmax) -> the STAT
    structure of Do 2020 from the same layers as :class:`~tfaffect.models.StatLSTMNet`, window 3: max/min/mean
    of the score window, optionally the mean of a feature window and a BiLSTM over the score window, fused
    with the current features and scores -> "va" and "expression". ``carried_gru`` adds a GRU across the
    clip's frames (a state carried outside the windows)."""
    keras.utils.set_random_seed(2)
    image = keras.Input((None, 8, 8, 3), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1 / 128, offset=-1)(keras.layers.Reshape((-1, 8 * 8 * 3))(image))
    features = keras.layers.Dense(4, activation="tanh", name="features")(x)
    scores = keras.layers.Dense(3, activation="softmax", name="scores")(features)
    score_windows = CausalWindows(3, name="score_windows")(scores)
    parts = [WindowStats(name="score_stat")(score_windows), features, scores]
    if feature_window:
        parts.append(WindowStats(("mean",), name="feature_stat")(CausalWindows(3, name="feature_windows")(features)))
    if lstm:
        folded = keras.layers.Bidirectional(keras.layers.LSTM(2), name="bilstm")(FoldTime()(score_windows))
        parts.append(UnfoldTime()([folded, image]))
    if carried_gru:
        parts.append(keras.layers.GRU(2, return_sequences=True, name="gru")(features))
    fused = keras.layers.Concatenate()(parts)
    return keras.Model({"image": image}, {"va": keras.layers.Dense(2, name="va")(fused),
                                          "expression": keras.layers.Dense(7, activation="softmax",
                                                                           name="expression")(fused)})


@pytest.mark.parametrize("feature_window, lstm", [(True, True), (False, False)])
def test_windowed_model_step_equals_serve(tmp_path, feature_window, lstm):
    model = small_windowed_model(feature_window, lstm)
    out = export_model(model, tmp_path / "export", metadata={}, tflite=False)
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["state"]["size"] == 3 * 3 + (3 * 4 if feature_window else 0) + 1  # buffers + "started"
    loaded = tf.saved_model.load(str(out))
    rng = np.random.default_rng(8)
    for time in (2, 7):  # shorter than the window (all padding) and longer (the buffer shifts)
        frames = rng.integers(0, 256, (2, time, 8, 8, 3), dtype=np.uint8)
        expected = {key: keras.ops.convert_to_numpy(value) for key, value in model({"image": frames}).items()}
        served = loaded.serve(frames)
        state, steps = loaded.initial_state(2)["state"], []
        for t in range(time):
            result = loaded.step(frame=frames[:, t], state=state)
            state = result["state"]
            steps.append({key: value.numpy() for key, value in result.items()})
        for key, reference in (("valence", expected["va"][..., 0]), ("expression", expected["expression"])):
            np.testing.assert_allclose(served[key].numpy(), reference, rtol=0, atol=TOLERANCE)
            np.testing.assert_allclose(np.stack([s[key] for s in steps], axis=1), reference, rtol=0, atol=TOLERANCE)
        # The buffer holds the last three score vectors, oldest first (frame 0 repeated while fewer were seen).
        scores = keras.ops.convert_to_numpy(keras.Model(model.input, model.get_layer("scores").output)(
            {"image": frames}))[1]
        last = [scores[max(index, 0)] for index in range(time - 3, time)]
        np.testing.assert_allclose(steps[-1]["state"][1, :9], np.concatenate(last), rtol=0, atol=1e-6)
        assert steps[-1]["state"][1, -1] == 1.0
    assert np.ptp(expected["va"]) > 100 * TOLERANCE


def test_windowed_model_with_a_carried_state_gets_no_step(tmp_path):
    out = export_model(small_windowed_model(carried_gru=True), tmp_path / "export", metadata={}, tflite=False)
    metadata = json.loads((out / "metadata.json").read_text())
    assert set(metadata["signatures"]) == {"serve", "serving_default", "metadata"}
    assert "'gru' runs across frames outside the windows" in metadata["step_unavailable"]


def test_errors_leave_nothing_behind(tmp_path, monkeypatch):
    model = small_sequence_model("gru")
    with pytest.raises(ConfigError, match="JSON"):
        export_model(model, tmp_path / "a", metadata={"bad": object()})
    with pytest.raises(ConfigError, match="signatures"):
        export_model(model, tmp_path / "a", metadata={"signatures": "mine"}, tflite=False)
    with pytest.raises(ConfigError, match="dict input with key 'image'"):
        image = keras.Input((8, 8, 3), dtype="uint8")
        export_model(keras.Model(image, keras.layers.Flatten()(image)), tmp_path / "a", metadata={})
    assert list(tmp_path.iterdir()) == []

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "keep.txt").write_text("previous export")
    monkeypatch.setattr("tfaffect.export.signatures.write_json_atomic", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        export_model(model, tmp_path / "old", metadata={}, tflite=False, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]  # no temporary folder left
    assert (tmp_path / "old" / "keep.txt").read_text() == "previous export"  # the old export survives
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="exists"):
        export_model(model, tmp_path / "old", metadata={}, tflite=False)


# --------------------------------------------------------------------------------------------------
# The command line, on a real trainer run directory.

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished 2-epoch run of the trainer's tiny test recipe (frame model, 8x8 crops)."""
    (recipe_class,) = load_recipe_file(HERE / "training" / "tiny_recipe.py")
    run = tmp_path_factory.mktemp("run") / "tiny"
    # both epochs' checkpoints kept (the default keeps the best and the last: the test picks epoch 1 as "best")
    train(recipe_class(deterministic=False, epochs=2, max_steps_per_epoch=2, keep_checkpoints=2), run, verbose=0)
    return run


def test_cli_exports_best_checkpoint_of_a_run(run_dir, tmp_path, monkeypatch, capsys):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    checkpoint = "checkpoints/epoch_001.weights.h5"  # make the best epoch differ from the final model
    (run_dir / "metrics.json").write_text(json.dumps({**metrics, "best_checkpoint": checkpoint}))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["export", "--run-dir", str(run_dir), "--weights", "best", "--no-tflite"]) == 0
    out = tmp_path / "saved_models" / "tiny"  # default: saved_models/<recipe>
    assert "exported tiny" in capsys.readouterr().out

    final = keras.saving.load_model(run_dir / "model.keras", compile=False)
    best = keras.saving.load_model(run_dir / "model.keras", compile=False)
    best.load_weights(run_dir / checkpoint)
    frames = np.random.default_rng(4).integers(0, 256, (2, 3, 8, 8, 3), dtype=np.uint8)
    loaded = tf.saved_model.load(str(out))  # keep a reference: its variables die with it
    served = loaded.serve(frames)
    expected = keras.ops.convert_to_numpy(best({"image": frames.reshape(-1, 8, 8, 3)})["va"]).reshape(2, 3, 2)
    other = keras.ops.convert_to_numpy(final({"image": frames.reshape(-1, 8, 8, 3)})["va"]).reshape(2, 3, 2)
    np.testing.assert_allclose(served["valence"].numpy(), expected[..., 0], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(served["arousal"].numpy(), expected[..., 1], rtol=0, atol=TOLERANCE)
    assert np.abs(expected - other).max() > 100 * TOLERANCE  # epoch 1 is not the final model

    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["recipe"]["name"] == "tiny" and metadata["recipe"]["class"] == "TinyRecipe"
    # its `data` field is None and its metrics.json says nothing about the data (TinyRecipe has no evaluation)
    assert metadata["training_data"]["synthetic"] is None
    assert metadata["training_data"]["name"].startswith("the recipe's default dataset")
    assert metadata["metrics"]["final"] == metrics["final"]
    assert metadata["weights"]["file"] == checkpoint

    assert cli.main(["export", "--run-dir", str(run_dir), "--no-tflite"]) == 2  # exists, no --overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_export_of_a_synthaffect_run_names_its_training_data(run_dir, tmp_path, monkeypatch):
    """Issue #14 item 5: metadata.json names the training data from the run directory: SynthAffect (synthetic)
    where metrics.json's evaluation says so."""
    from tfaffect.export import SYNTHAFFECT, training_data

    metrics = json.loads((run_dir / "metrics.json").read_text())
    (run_dir / "metrics.json").write_text(json.dumps({**metrics, "evaluation": {"synthetic": True,
                                                                                 "data": "/cache/synthaffect"}}))
    try:
        monkeypatch.chdir(tmp_path)
        assert cli.main(["export", "--run-dir", str(run_dir), "--no-tflite", "--out", "synth"]) == 0
    finally:
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    data = json.loads((tmp_path / "synth" / "metadata.json").read_text())["training_data"]
    assert data["name"] == SYNTHAFFECT == "SynthAffect (synthetic)" and data["synthetic"] is True
    assert data["location"] == "/cache/synthaffect"
    real = training_data({"data": "/data/affwild2"}, {"evaluation": {"synthetic": False, "data": "/data/affwild2"}})
    assert real["synthetic"] is False and real["name"] == "the dataset at /data/affwild2"
    assert training_data({}, {})["synthetic"] is None


def test_cli_exports_a_keras_file_with_extra_metadata(run_dir, tmp_path, capsys):
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"metrics": {"ccc_valence": 0.5}}))
    out = tmp_path / "exported"
    assert cli.main(["export", "--model", str(run_dir / "model.keras"), "--out", str(out),
                     "--metadata", str(extra), "--no-tflite"]) == 0
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["metrics"] == {"ccc_valence": 0.5}
    assert metadata["step_unavailable"] is None and metadata["state"]["size"] == 0
    assert cli.main(["export", "--model", str(tmp_path / "missing.keras"), "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "missing.keras" in err and "--run-dir" in err
    assert cli.main(["export", "--model", str(run_dir / "model.keras"), "--weights", "best",
                     "--out", str(tmp_path / "x")]) == 2
    assert "needs --run-dir" in capsys.readouterr().err
    extra.write_text("{not json")
    assert cli.main(["export", "--model", str(run_dir / "model.keras"), "--metadata", str(extra),
                     "--out", str(tmp_path / "x")]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
