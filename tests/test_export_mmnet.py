"""MM-Net (issue #15 item 7): the BDLSTM trained on cached CRU-Net features, with its CNN in front
(:func:`tfaffect.models.mmnet.image_model`), exported: ``serve`` on uint8 frames [B, T, S, S, 3] equals the two
parts run separately (the CNN's ``"features"`` on every frame, then the features model, stride-1 window
averaging inside), and ``step`` + ``flush`` give the same outputs L - 1 frames late. Tiny CRU-Net (32 px, widths / 16),
C=4, L=3."""

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
    assert {"serve", "step", "flush"} <= set(metadata["signatures"]) and metadata["step_unavailable"] is None
    assert metadata["delay"] == 2 and metadata["step_check"]["equal"]  # L - 1 = 2
    frames = np.random.default_rng(1).integers(0, 256, (2, 6, 32, 32, 3), dtype=np.uint8)
    expected = _reference(cnn, memory, frames)
    served = loaded.serve(frames)
    got = np.stack([served["valence"].numpy(), served["arousal"].numpy()], axis=-1)
    assert got.shape == (2, 6, 2) and np.ptp(expected) > 1e-3
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def _streamed(loaded, frames):
    """``step`` over each frame of ``frames [B, T, ...]`` from the initial state, its ready outputs, then ``flush``'s
    valid ones: ``[B, frames out, 2]`` and the number of ready steps."""
    state = loaded.initial_state(tf.constant(frames.shape[0], tf.int32))["state"]
    out, ready = [], 0
    for t in range(frames.shape[1]):
        step = loaded.step(frame=frames[:, t], state=state)
        state = step["state"]
        if step["ready"].numpy().all():
            ready += 1
            out.append(np.stack([step["valence"].numpy(), step["arousal"].numpy()], axis=-1)[:, None])
        else:
            assert not step["ready"].numpy().any()
    rest = loaded.flush(state=state)
    valid = rest["valid"].numpy()[0] > 0.5
    out.append(np.stack([rest["valence"].numpy(), rest["arousal"].numpy()], axis=-1)[:, valid])
    return np.concatenate(out, axis=1), ready


@pytest.mark.parametrize("time", [1, 2, 3, 4, 9])
def test_step_then_flush_equals_the_model_on_the_whole_clip_two_frames_late(exported, time):
    """The loaded SavedModel's ``step`` gives frame t - 2 at frame t (L = 3: a frame's windows end 2 frames after
    it), ``flush`` the last 2 frames: together the model on the whole clip, for clips shorter than the window (the
    model repeats the last frame), as long as it and longer than the buffer of 2L - 1 = 5 frames."""
    cnn, memory, _, loaded = exported
    frames = np.random.default_rng(time).integers(0, 256, (2, time, 32, 32, 3), dtype=np.uint8)
    got, ready = _streamed(loaded, frames)
    assert ready == max(time - 2, 0)
    np.testing.assert_allclose(got, _reference(cnn, memory, frames), rtol=0, atol=1e-5)


def test_step_starting_from_another_frame_differs(exported):
    """The check above can fail: a stream with one frame more at its start gives other outputs for the same frames
    (each frame's windows see other neighbours only at the start, frames 0-3 here), and the step's frame count in
    the state matters."""
    cnn, memory, _, loaded = exported
    frames = np.random.default_rng(3).integers(0, 256, (1, 7, 32, 32, 3), dtype=np.uint8)
    later, _ = _streamed(loaded, frames[:, 1:])
    whole = _reference(cnn, memory, frames)[:, 1:]
    assert np.abs(later - whole)[:, :3].max() > 1e-3
    np.testing.assert_allclose(later[:, 3:], whole[:, 3:], rtol=0, atol=1e-5)


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
