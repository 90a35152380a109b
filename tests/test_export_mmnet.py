"""MM-Net (issue #15 item 7): the BDLSTM trained on cached CRU-Net features, with its CNN in front
(:func:`tfaffect.models.mmnet.image_model`), exported: ``serve`` on uint8 frames [B, T, S, S, 3] equals the two
parts run separately (the CNN's ``"features"`` on every frame, then the features model, stride-1 window
averaging inside). Tiny CRU-Net (32 px, widths / 16), C=4, L=3."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from export_helpers import face_crops, write_face_video
from tfaffect.export import export_model
from tfaffect.models import mmnet as net

CNN = {"variant": "tiny", "image_size": 32, "width_divisor": 16, "units": [1, 1, 2, 1]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(5)
    cnn = net.CRUNet(**CNN, heads=("va",))
    width = cnn.get_layer("features").output.shape[-1]
    memory = net.MemoryNetwork(memory=4, window=3, feature_units=width, frame_input="features", **CNN)
    out = export_model(net.image_model(cnn, memory), tmp_path_factory.mktemp("export") / "mmnet", metadata={},
                       tflite=False)
    return cnn, memory, out, tf.saved_model.load(str(out))


def _reference(cnn, memory, frames):
    pooled = keras.Model(cnn.input, cnn.get_layer("features").output)
    batch, time = frames.shape[:2]
    features = np.asarray(pooled.predict_on_batch({"image": frames.reshape(batch * time, *frames.shape[2:])}))
    return np.asarray(memory.predict_on_batch({"features": features.reshape(batch, time, -1)})["va"])


def test_export_serve_equals_the_two_parts(exported):
    cnn, memory, out, loaded = exported
    metadata = json.loads((out / "metadata.json").read_text())
    assert "serve" in metadata["signatures"] and "step" not in metadata["signatures"]
    assert "bidirectional" in metadata["step_unavailable"]  # why there is no one-frame step
    frames = np.random.default_rng(1).integers(0, 256, (2, 6, 32, 32, 3), dtype=np.uint8)
    expected = _reference(cnn, memory, frames)
    served = loaded.serve(frames)
    got = np.stack([served["valence"].numpy(), served["arousal"].numpy()], axis=-1)
    assert got.shape == (2, 6, 2) and np.ptp(expected) > 1e-3
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_predict_on_a_video_equals_the_model_on_all_its_crops(tmp_path, detector, head):
    """`tfaffect predict` with an MM-Net image model: per-frame valence/arousal equal the model on all the face's
    aligned faces in one call (the centre crop cut inside, the stride-1 window averaging over the whole sequence)."""
    from tfaffect.predict import predict_video

    keras.utils.set_random_seed(7)
    cnn = net.CRUNet(**CNN, heads=("va",))
    width = cnn.get_layer("features").output.shape[-1]
    memory = net.MemoryNetwork(memory=4, window=3, feature_units=width, frame_input="features", **CNN)
    model_path = tmp_path / "mmnet.keras"
    face = CNN["image_size"] + 8  # whole faces in: predict must align to the model's input side, not the crop's
    net.image_model(cnn, memory, face_size=face).save(model_path)
    video = write_face_video(tmp_path / "face.avi", head)
    table = predict_video(video, model_path, out_dir=tmp_path / "out", batch_size=4, window=3, progress=False,
                          detector=detector)
    crops = face_crops(video, face, detector)
    assert len(crops) == 7 and table["face_found"].all()
    whole = np.asarray(keras.saving.load_model(model_path).predict_on_batch({"image": np.stack(crops)[None]})["va"])[0]
    np.testing.assert_allclose(table[["valence", "arousal"]].to_numpy(), whole, rtol=0, atol=1e-5)
