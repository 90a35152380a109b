"""Kahou 2015 CNN + IRNN (issue #16 item 9): the model from frames assembled from its two trained parts, its export
(``serve``, streaming ``step``, ``clip`` over padded clips with their lengths), a run directory exported through
``image_model.keras``, and ``tfaffect predict`` with running per-frame and per-clip probabilities.

References are computed another way in this process: the frame CNN's own ``relu2`` output on the centre crops cut
with NumPy, fed to the IRNN trained on features; each clip of a padded batch run alone. Tiny models (20x20 crops of
24x24 faces, 4-4-8 filters, 6 IRNN units) with weights spread so that outputs differ between inputs.
"""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from export_helpers import face_crops, spread_weights, write_face_video
from tfaffect import EXPRESSIONS_7
from tfaffect.errors import ConfigError, DataError
from tfaffect.export import export_model, load_run
from tfaffect.io import IMAGE_MODEL_FILE
from tfaffect.models import kahou as net

SIZE, FACE, FILTERS, UNITS = 20, 24, (4, 4, 8), 6



def _parts(seed=0):
    keras.utils.set_random_seed(seed)
    cnn = spread_weights(net.KahouFrameCNN(image_size=SIZE, filters=FILTERS), seed)
    rng = np.random.default_rng(seed)
    cnn.get_layer("standardize").set_statistics(rng.uniform(100, 150, (SIZE, SIZE, 1)),
                                                rng.uniform(40, 80, (SIZE, SIZE, 1)))
    irnn = spread_weights(net.KahouCNNIRNN(frame_input="features", image_size=SIZE, filters=FILTERS, units=UNITS), seed + 1)
    return cnn, irnn


def _frames(batch, time, seed=0, side=FACE):
    return np.random.default_rng(seed).integers(0, 256, (batch, time, side, side, 3), dtype=np.uint8)


def _reference(cnn, irnn, frames):
    """The cached-features path: the frame CNN's relu2 on the NumPy centre crops, flattened, then the IRNN."""
    margin = (FACE - SIZE) // 2
    crops = frames[:, :, margin:margin + SIZE, margin:margin + SIZE]
    relu2 = keras.Model(cnn.input, cnn.get_layer("relu2").output)
    batch, time = frames.shape[:2]
    features = np.asarray(relu2.predict_on_batch({"image": crops.reshape(-1, SIZE, SIZE, 3)}))
    return np.asarray(irnn.predict_on_batch({"conv2": features.reshape(batch, time, -1)})["expression"])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cnn, irnn = _parts()
    whole = net.clip_model(cnn, irnn, face_size=FACE)
    out = export_model(whole, tmp_path_factory.mktemp("export") / "kahou", metadata={}, tflite=False)
    return cnn, irnn, whole, out, tf.saved_model.load(str(out))


def test_clip_model_from_frames_equals_the_cached_features_path(exported):
    cnn, irnn, whole, _, _ = exported
    frames = _frames(2, 5)
    expected = _reference(cnn, irnn, frames)
    got = np.asarray(whole.predict_on_batch({"image": frames})["expression"])
    assert got.shape == (2, 5, 7) and np.ptp(expected[:, -1]) > 0.05  # outputs differ between clips
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_clip_model_refuses_parts_built_for_other_frames():
    cnn, _ = _parts()
    other = net.KahouCNNIRNN(frame_input="features", image_size=SIZE, filters=(4, 6, 8), units=UNITS)
    with pytest.raises(ConfigError, match="filters"):
        net.clip_model(cnn, other)


def test_export_serve_step_and_clip(exported):
    cnn, irnn, _, out, loaded = exported
    metadata = json.loads((out / "metadata.json").read_text())
    assert {"serve", "step", "initial_state", "clip"} <= set(metadata["signatures"])
    assert metadata["expression_classes"] == list(EXPRESSIONS_7)
    assert metadata["input"]["image_size"] == [FACE, FACE] and metadata["input"]["sequence_model"]
    assert "histogram equalisation" in metadata["preprocessing"]["scaling"]
    assert metadata["state"]["size"] == UNITS

    frames = _frames(2, 6, seed=1)
    serve = loaded.serve(frames)["expression"].numpy()
    np.testing.assert_allclose(serve, _reference(cnn, irnn, frames), rtol=0, atol=1e-5)
    state = loaded.initial_state(2)["state"]
    assert not np.any(state.numpy())  # zero initial state (section 2.2, released code)
    for t in range(frames.shape[1]):
        out_t = loaded.step(frame=frames[:, t], state=state)
        state = out_t["state"]
    np.testing.assert_allclose(out_t["expression"].numpy(), serve[:, -1], rtol=0, atol=1e-5)

    lengths = np.array([6, 3], np.int32)
    clip = loaded.clip(frames, lengths)["expression"].numpy()
    alone = _reference(cnn, irnn, frames[1:, :3])[0, -1]  # the short clip without its padding
    np.testing.assert_allclose(clip[0], serve[0, -1], rtol=0, atol=1e-5)
    np.testing.assert_allclose(clip[1], alone, rtol=0, atol=1e-5)
    assert np.abs(serve[1, -1] - alone).max() > 1e-3  # the padded frames would have changed it
    with pytest.raises(tf.errors.InvalidArgumentError, match="exceeds"):
        loaded.clip(frames, np.array([7, 3], np.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match=">= 1"):
        loaded.clip(frames, np.array([0, 3], np.int32))


def _run_dir(path, irnn, serving):
    path.mkdir()
    irnn.save(path / "model.keras")
    serving.save(path / IMAGE_MODEL_FILE)
    (path / "config.json").write_text(json.dumps({"recipe": "kahou_cnn_irnn", "fields": {}}))
    (path / "metrics.json").write_text(json.dumps({"evaluation": {"synthetic": True}}))
    return path


def test_run_exports_image_model_keras_with_the_trained_irnn(tmp_path):
    cnn, irnn = _parts()
    stale = net.clip_model(cnn, spread_weights(net.KahouCNNIRNN(frame_input="features", image_size=SIZE, filters=FILTERS,
                                                         units=UNITS), 7), face_size=FACE)
    model, metadata, name = load_run(_run_dir(tmp_path / "run", irnn, stale))
    assert name == "kahou_cnn_irnn" and metadata["weights"]["from_frames"].startswith(IMAGE_MODEL_FILE)
    assert model.input["image"].shape[1:] == (None, FACE, FACE, 3)
    frames = _frames(1, 4, seed=2)
    np.testing.assert_allclose(np.asarray(model.predict_on_batch({"image": frames})["expression"]),
                               _reference(cnn, irnn, frames), rtol=0, atol=1e-5)


def test_run_with_a_serving_model_of_other_layers_is_a_data_error(tmp_path):
    _, irnn = _parts()
    other = net.KahouFrameCNN(image_size=SIZE, filters=FILTERS)  # no layer named irnn / logits with its shapes
    with pytest.raises(DataError, match=IMAGE_MODEL_FILE):
        load_run(_run_dir(tmp_path / "run", irnn, other))


def test_predict_writes_running_frames_and_one_clip_row(tmp_path, detector, head):
    """`tfaffect predict` of a video with one face: per-frame running probabilities equal the model on all the
    face's crops in one call; clips.csv has one row, the probabilities after the last face frame."""
    from tfaffect.predict import predict_video

    cnn, irnn = _parts(seed=3)
    model_path = tmp_path / "kahou.keras"
    net.clip_model(cnn, irnn, face_size=FACE).save(model_path)
    video = write_face_video(tmp_path / "face.avi", head)
    out = tmp_path / "out"
    table = predict_video(video, model_path, out_dir=out, batch_size=4, window=3, progress=False,
                          detector=detector)
    columns = [f"p_{name}" for name in EXPRESSIONS_7]
    crops = face_crops(video, FACE, detector)
    assert len(crops) == 7 and table["face_found"].all()
    whole = np.asarray(keras.saving.load_model(model_path).predict_on_batch(
        {"image": np.stack(crops)[None]})["expression"])[0]
    np.testing.assert_allclose(table[columns].to_numpy(), whole, rtol=0, atol=1e-5)
    clips = pd.read_csv(out / "clips.csv")
    assert len(clips) == 1 and clips.loc[0, "frames"] == 7 and clips.loc[0, "last_frame"] == 6
    np.testing.assert_allclose(clips.loc[0, columns].to_numpy(float), whole[-1], rtol=0, atol=1e-5)
    assert clips.loc[0, "expression"] == EXPRESSIONS_7[int(whole[-1].argmax())]
    info = json.loads((out / "predict.json").read_text())
    assert info["model"]["mode"] == "carried" and info["clips"][0]["expression"] == clips.loc[0, "expression"]
