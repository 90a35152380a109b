"""`tfaffect convert stat-lstm-face`: the released face feature model of Do 2020 -> Keras 3 weights.

The released ``rafdb_affectnetweight_vggface2_resnes50_ft_*.h5`` (dntai/dntai_fg20_affwild2_challenges:
VGGFace2 ResNet-50 fine-tuned on AffectNet and RAF-DB, ``models/model_vggface2_ft.py``) is a Keras 2
HDF5 file (read with :mod:`tfaffect.models.keras2_h5`). :func:`convert_stat_lstm_face` copies it into a
:class:`~tfaffect.models.stat_lstm.FaceFeatureModel` (:func:`load_original_face_weights`) and saves
``<out>/face.weights.h5`` (+ ``metadata.json`` with the layer map), which ``FaceFeatureModel(weights_path=)``,
``StatLSTMNet(face_weights=)`` and the STAT + LSTM recipes' ``--face-weights`` load.
"""

from __future__ import annotations

import logging
import os
import re

import numpy as np

from tfaffect import __version__
from tfaffect._lazy import lazy_module
from tfaffect.convert.writing import save_converted
from tfaffect.errors import ConfigError, DataError, MissingResourceError

# Imported on first use, so that `tfaffect convert --help` does not load TensorFlow (tfaffect._lazy).
keras = lazy_module("keras")
_keras2_h5 = lazy_module("tfaffect.models.keras2_h5")
_stat_lstm = lazy_module("tfaffect.models.stat_lstm")

logger = logging.getLogger(__name__)

_ORIGINAL_UNIT_CONVS = {"0": "1x1_proj", "1": "1x1_reduce", "2": "3x3", "3": "1x1_increase"}
"""keras.applications conv index in a bottleneck unit -> the original VGGFace2 ResNet-50 layer suffix."""


def original_layer_name(name: str) -> str:
    """The layer of the original VGGFace2 ResNet-50 (``models/model_vggface2.py``) whose weights layer ``name`` takes.

    ``conv1_conv`` / ``conv1_bn`` -> ``conv1/7x7_s2`` / ``conv1/7x7_s2/bn``;
    ``conv{s}_block{b}_{i}_conv`` -> ``conv{s}_{b}_{1x1_proj | 1x1_reduce | 3x3 | 1x1_increase}`` for
    i = 0..3, ``..._bn`` -> the same + ``/bn``; ``features`` and ``predictions`` keep their names.
    """
    if name in ("features", "predictions"):
        return name
    if name in ("conv1_conv", "conv1_bn"):
        return "conv1/7x7_s2" + ("/bn" if name.endswith("_bn") else "")
    match = re.fullmatch(r"conv(\d)_block(\d)_(\d)_(conv|bn)", name)
    if match is None or match.group(3) not in _ORIGINAL_UNIT_CONVS:
        raise ConfigError(f"layer {name!r} has no counterpart in the original VGGFace2 ResNet-50")
    stage, unit, index, kind = match.groups()
    return f"conv{stage}_{unit}_{_ORIGINAL_UNIT_CONVS[index]}" + ("/bn" if kind == "bn" else "")


def _original_values(layer, stored: dict[str, np.ndarray], source: str, path: str) -> list[np.ndarray]:
    """The arrays for ``layer`` (in its weight order) from the original layer's ``stored`` variables."""
    if isinstance(layer, keras.layers.BatchNormalization):
        order = ["gamma", "beta", "moving_mean", "moving_variance"]
    elif isinstance(layer, keras.layers.Conv2D):
        order = ["kernel", "bias"]
    else:
        order = ["kernel", "bias"] if layer.use_bias else ["kernel"]
    values = []
    for variable, weight in zip(order, layer.weights):
        if variable in stored:
            value = stored[variable]
        elif variable == "bias" and isinstance(layer, keras.layers.Conv2D):
            value = np.zeros(weight.shape, np.float32)  # the original convs have no bias (use_bias=False)
        else:
            raise DataError(f"layer {source} has no {variable} (found: {', '.join(stored) or 'none'})", path)
        if tuple(value.shape) != tuple(weight.shape):
            raise DataError(f"layer {source} {variable} has shape {list(value.shape)}, {layer.name} expects "
                            f"{list(weight.shape)}", path)
        values.append(np.asarray(value, np.float32))
    return values


def _read_original(path: str) -> dict[str, dict[str, np.ndarray]]:
    if not os.path.isfile(path):
        raise MissingResourceError(f"original face feature weight file not found: {path}")
    return _keras2_h5.read_keras2_h5(path)


def load_original_face_weights(model, path: str | os.PathLike) -> dict[str, str]:
    """Copy the original face feature weights (Keras 2 HDF5) into ``model``; return ``{our layer: original layer}``.

    ``model`` is a :class:`~tfaffect.models.stat_lstm.FaceFeatureModel`. Layer names map by
    :func:`original_layer_name`; conv kernels (HWIO) and dense kernels are copied as they are (the
    model reverses RGB to BGR itself, so ``conv1``'s kernel keeps its BGR order), conv biases are set
    to 0 (the original convs have none), batch norm copies gamma, beta, moving mean and variance.
    Every layer is checked before any is assigned.

    The result is close to, not bit-identical with, the original network: ``keras.applications``
    pads the 7x7/2 stem conv by 3 on each side and the 3x3/2 max pool by 1 (56x56 after it), where
    the original uses 'same' (2 before, 3 after) and an unpadded pool (55x55); and its batch norm
    epsilon is 1.001e-5 against Keras 2's default 1e-3. Fine-tuning (as the paper does on Aff-Wild2)
    absorbs both.

    Raises:
        MissingResourceError: no file at ``path``.
        DataError: not a Keras 2 HDF5 file, a layer or variable missing, or a shape mismatch
            (the message names the file and the layer).
    """
    path = os.fspath(path)
    return _fill(model, _read_original(path), path)


def _fill(model, stored: dict[str, dict[str, np.ndarray]], path: str) -> dict[str, str]:
    backbone = model.get_layer("resnet50")
    layers = [layer for layer in backbone.layers if layer.weights]
    layers += [model.get_layer("features"), model.get_layer("predictions")]
    assignments, mapping = [], {}
    for layer in layers:
        source = original_layer_name(layer.name)
        if source not in stored:
            raise DataError(f"layer {source} (for {layer.name}) not found; layers with weights here: "
                            f"{', '.join(sorted(stored)[:20])}{', ...' if len(stored) > 20 else ''}", path)
        assignments.append((layer, _original_values(layer, stored[source], source, path)))
        mapping[layer.name] = source
    for layer, values in assignments:
        layer.set_weights(values)
    logger.info("loaded the original face feature weights from %s (%d layers)", path, len(assignments))
    return mapping


def convert_stat_lstm_face(path: str | os.PathLike, out: str | os.PathLike) -> str:
    """Write ``<out>/face.weights.h5`` (+ ``metadata.json``) from the released Keras 2 face model file; return its path.

    The face feature model is built with the file's feature width (its ``features`` kernel; 2048 in the
    release) and otherwise :class:`~tfaffect.models.stat_lstm.FaceFeatureModel`'s defaults; its weights
    do not depend on the input size.

    Raises:
        MissingResourceError, DataError: as :func:`load_original_face_weights`.
    """
    path = os.fspath(path)
    stored = _read_original(path)
    features = stored.get("features", {}).get("kernel")
    feature_units = _stat_lstm.FEATURE_UNITS if features is None else int(features.shape[-1])
    model = _stat_lstm.FaceFeatureModel(feature_units=feature_units)
    layer_map = _fill(model, stored, path)
    metadata = {
        "tfaffect_version": __version__,
        "source": {"kind": "stat-lstm-face", "file": path,
                   "original_code": "dntai/dntai_fg20_affwild2_challenges models/model_vggface2_ft.py"},
        "feature_units": feature_units,
        "layer_map": layer_map,
        "use": "FaceFeatureModel(weights_path=PATH), StatLSTMNet(face_weights=PATH), recipe --face-weights PATH",
    }
    return save_converted(out, model, _stat_lstm.CONVERTED_FILE, metadata)


__all__ = ["convert_stat_lstm_face", "load_original_face_weights", "original_layer_name"]
