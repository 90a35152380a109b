"""ANCLaF-SA's attention weights as an output (issue #17 item 8): the image-input model a sequence run exports equals
the model on cached ZQ, the SavedModel's ``attention`` equals :func:`attention_weights_model` of that model (rows
sum to 1, the softmax of eq. 6), ``tfaffect predict`` writes ``attention_n .. attention_1`` columns and
``attention.png`` for SA models only, and the Figures 3-4 style plot is written.

Tiny untrained models (32 px): the expectations come from the features-input model and the frame model's ZQ, a
path that does not go through the image-input model or the export under test.
"""

import json

import cv2
import keras
import numpy as np
import pytest
from skimage import data as skimage_data

from tfaffect.models import anclaf as net

TINY = {"image_size": 32, "g_dim": 2, "d_dim": 2, "d_layers": 5, "c_dim": 4}
SPAN, UNITS, FRAMES = 3, 6, 7


def spread(model, seed):
    """Weights redrawn at O(1) scale so that the attention differs between frames (Keras's initial weights give
    nearly uniform softmaxes on the tiny models; a comparison of uniform weights would mean little)."""
    rng = np.random.default_rng(seed)
    for variable in model.trainable_weights:
        shape = tuple(variable.shape)
        scale = np.sqrt(2.0 / np.prod(shape[:-1])) if len(shape) >= 2 else 0.5
        variable.assign(rng.normal(0.0, scale, shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def trained():
    """A frame model and S / SA models on its cached ZQ (``frame_input="features"``), weights spread."""
    keras.utils.set_random_seed(0)
    frame = spread(net.ANCLaFNet(**TINY), 1)
    models = {}
    for attention in (False, True):
        models[attention] = spread(net.ANCLaFSeqNet(attention=attention, attention_span=SPAN, frame_input="features",
                                                    lstm_units=UNITS, **TINY), 2)
    cell = models[True].get_layer("lstm").cell
    cell.attention_kernel.assign(10.0 * keras.ops.convert_to_numpy(cell.attention_kernel))  # peaked softmaxes
    return frame, models[False], models[True]


def cached_zq(frame, clip):
    """``[1, T, S, S, 3]`` uint8 -> the frame model's ZQ per frame, flattened as the feature cache stores it."""
    zq = keras.Model(frame.inputs, frame.get_layer("zq").output)
    values = keras.ops.convert_to_numpy(zq({"image": clip[0]}))
    return values.reshape(1, clip.shape[1], -1)


def clip_of(seed, frames=FRAMES):
    return np.random.default_rng(seed).integers(0, 256, (1, frames, 32, 32, 3), dtype=np.uint8)


def test_image_model_equals_the_cached_features_model_and_outputs_attention_for_sa_only(trained):
    frame, s_model, sa_model = trained
    clip = clip_of(3)
    zq = cached_zq(frame, clip)
    for model in (s_model, sa_model):
        image_model = net.image_sequence_model(model, frame)
        out = {k: keras.ops.convert_to_numpy(v) for k, v in image_model({"image": clip}).items()}
        np.testing.assert_allclose(out["va"], keras.ops.convert_to_numpy(model({"zq": zq})["va"]), atol=1e-5)
        if model is s_model:
            assert set(out) == {"va"}
        else:
            expected = keras.ops.convert_to_numpy(net.attention_weights_model(model)({"zq": zq}))
            np.testing.assert_allclose(out["attention"], expected, atol=1e-6)
    with pytest.raises(Exception, match="features"):
        net.image_sequence_model(net.image_sequence_model(sa_model, frame), frame)
    with pytest.raises(Exception, match="attention=True"):
        net.ANCLaFSeqNet(attention=False, attention_output=True, lstm_units=UNITS, **TINY)


def test_savedmodel_attention_equals_attention_weights_model_and_rows_sum_to_one(trained, tmp_path):
    import tensorflow as tf

    from tfaffect.export import export_model

    frame, _, sa_model = trained
    out = export_model(net.image_sequence_model(sa_model, frame), tmp_path / "sa", metadata={}, tflite=False)
    loaded = tf.saved_model.load(str(out))
    clip = clip_of(4)
    got = loaded.serve(frames=tf.constant(clip))
    expected = keras.ops.convert_to_numpy(net.attention_weights_model(sa_model)({"zq": cached_zq(frame, clip)}))
    attention = got["attention"].numpy()
    assert attention.shape == (1, FRAMES, SPAN)
    np.testing.assert_allclose(attention, expected, atol=1e-5)
    sums = attention.sum(-1)[0]
    np.testing.assert_allclose(sums[0], 0.0)  # no previous frame: all 0
    np.testing.assert_allclose(sums[1:], 1.0, atol=1e-5)  # eq. 6: a softmax over the previous states
    assert [int((row > 0).sum()) for row in attention[0]] == [min(t, SPAN) for t in range(FRAMES)]
    assert np.ptp(attention[0, SPAN:], axis=0).max() > 0.05  # the weights move from frame to frame
    metadata = json.loads((out / "metadata.json").read_text())
    assert "attention" in metadata["outputs"] and "oldest first" in metadata["signatures"]["serve"]["outputs"][
        "attention"]
    assert metadata["step_check"]["equal"] and "attention" in metadata["signatures"]["step"]["outputs"]


def test_a_run_exports_its_image_model_with_final_or_best_weights(trained, tmp_path):
    from tfaffect.export import load_run

    frame, _, sa_model = trained
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    sa_model.save(run / "model.keras")  # what the trainer writes: the model on cached ZQ
    net.image_sequence_model(sa_model, frame).save(run / "image_model.keras")  # what the evaluation adds
    best = keras.models.clone_model(sa_model)
    best.set_weights([2.0 * w for w in sa_model.get_weights()])  # an earlier epoch: other weights
    best.save_weights(run / "checkpoints" / "epoch_001.weights.h5")
    (run / "config.json").write_text(json.dumps({"recipe": "anclaf_sa_afew_va", "fields": {}}))
    (run / "metrics.json").write_text(json.dumps({"best_checkpoint": "checkpoints/epoch_001.weights.h5"}))
    model, metadata, name = load_run(run)
    assert metadata["weights"]["from_frames"].startswith("image_model.keras") and name == "anclaf_sa_afew_va"
    assert set(model.output) == {"va", "attention"} and "image" in model.input
    np.testing.assert_array_equal(model.get_layer("va").get_weights()[0], sa_model.get_layer("va").get_weights()[0])
    model, metadata, _ = load_run(run, "best")
    assert metadata["weights"]["file"] == "checkpoints/epoch_001.weights.h5"
    np.testing.assert_array_equal(model.get_layer("va").get_weights()[0], best.get_layer("va").get_weights()[0])
    np.testing.assert_array_equal(model.get_layer("generator").get_weights()[0],
                                  frame.get_layer("generator").get_weights()[0])  # G and D: the frame model's


def test_value_columns_name_the_previous_frames_for_sa_and_are_absent_for_s(trained):
    from tfaffect.predict import value_columns

    frame, s_model, sa_model = trained
    assert value_columns(net.image_sequence_model(s_model, frame)) == [("va", ["valence", "arousal"])]
    assert value_columns(net.image_sequence_model(sa_model, frame)) == [
        ("va", ["valence", "arousal"]), ("attention", ["attention_3", "attention_2", "attention_1"])]


def face_video(path, frames=8):
    head = cv2.resize(skimage_data.astronaut()[30:230, 140:310], (102, 120), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 180))
    for index in range(frames):
        image = np.full((180, 320, 3), 90, np.uint8)
        image[30:150, 100 + 2 * index:202 + 2 * index] = head
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_predict_writes_attention_columns_and_plot_for_sa_only(trained, tmp_path):
    """The one test that runs MTCNN (about 9 s measured under load). An S model's table has no attention columns
    (:func:`test_value_columns_name_the_previous_frames_for_sa_and_are_absent_for_s`: the table's value columns)."""
    import mtcnn

    from tfaffect.data.faces import FacePipeline
    from tfaffect.data.video import iter_frames
    from tfaffect.predict import predict_video

    frame, _, sa_model = trained
    video = face_video(tmp_path / "face.avi")
    detector = mtcnn.MTCNN()
    sa = net.image_sequence_model(sa_model, frame)
    table = predict_video(video, sa, out_dir=tmp_path / "sa", window=3, progress=False, detector=detector)
    columns = ["attention_3", "attention_2", "attention_1"]
    written = (tmp_path / "sa" / "frames.csv").read_text().splitlines()[0].split(",")
    assert all(name in written for name in columns) and (tmp_path / "sa" / "attention.png").is_file()
    # chunks of 3 crops with the state carried: the values of one call on all the crops, in the output's order
    pipeline = FacePipeline(32, batch_size=8, detect_every=5, detect_max_side=320, detector=detector)
    crops = [c.image for c in pipeline.process((i, f) for i, _, f in iter_frames(video)) if c.image is not None]
    assert len(crops) == len(table)
    whole = keras.ops.convert_to_numpy(sa({"image": np.stack(crops)[None]})["attention"])[0]
    np.testing.assert_allclose(table[columns].to_numpy(), whole, atol=1e-5)



def test_attention_plot_takes_missing_frames_and_one_weight(tmp_path):
    from tfaffect.plots import va_attention

    time, va = np.arange(6), np.zeros((6, 2))
    weights = np.array([[0.0], [1.0], [np.nan], [1.0], [1.0], [1.0]])  # a frame without weights (no clip) is blank
    path = va_attention(tmp_path / "a.png", time, va, weights, va + 0.1, title="n = 1")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
