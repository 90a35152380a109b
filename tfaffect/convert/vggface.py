"""`tfaffect convert vggface-h5`: VGG-Face conv weights from a keras-vggface VGG16 file (:func:`load_vggface_h5`).

The widely used keras-vggface VGG16 file is a Keras 2 HDF5 weight file with layers ``conv1_1`` ..
``conv5_3`` (read with :mod:`tfaffect.models.keras2_h5`); its conv weights are copied into the VGG
backbone, and the command saves them atomically as a ``vggface.weights.h5`` (+ ``metadata.json``
recording the source and the layer map) that ``backbone_weights=`` accepts.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from tfaffect import __version__
from tfaffect._lazy import lazy_module
from tfaffect.convert.writing import save_converted
from tfaffect.errors import ConfigError, DataError, MissingResourceError

# Imported on first use, so that `tfaffect convert --help` does not load TensorFlow (tfaffect._lazy).
keras = lazy_module("keras")
_affwild = lazy_module("tfaffect.models.affwild")
_backbones = lazy_module("tfaffect.models.backbones")
_keras2_h5 = lazy_module("tfaffect.models.keras2_h5")

logger = logging.getLogger(__name__)

VGG_CONV_LAYERS = tuple(f"block{block}_conv{index}"
                        for block, count in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
                        for index in range(1, count + 1))
"""The 13 conv layers of VGG-16 "D" / VGG-Face (Kollias 2019, Table 7, blocks 1-5) as ``keras.applications.VGG16`` names them."""

VGGFACE_H5_LAYERS = tuple(f"conv{block}_{index}"
                          for block, count in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
                          for index in range(1, count + 1))
"""The same layers in keras-vggface's VGG16 weight files (``conv1_1`` .. ``conv5_3``)."""

VGGFACE_WEIGHTS_FILE = "vggface.weights.h5"
"""What ``tfaffect convert vggface-h5 FILE --out DIR`` writes into DIR."""


def _vgg_conv_part(model):
    """The (sub)model of ``model`` that holds ``block1_conv1`` .. ``block5_conv3``."""
    names = {layer.name for layer in model.layers}
    if VGG_CONV_LAYERS[0] in names:
        return model
    for name in ("vggface", "vgg16"):
        if name in names and isinstance(model.get_layer(name), keras.Model):
            return model.get_layer(name)
    raise ConfigError(f"model {model.name!r} has no VGG backbone (no layer {VGG_CONV_LAYERS[0]!r}, 'vggface' "
                      "or 'vgg16'); build it with backbone='vggface'")


def _kernel_and_bias(root, layer: str, path: str) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, bias) of the layer group ``root[layer]`` of a Keras 2 HDF5 weight file."""
    weights = _keras2_h5.group_weights(root, layer, path)
    found = {}
    for name, value in weights.items():
        leaf = name.split("/")[-1].split(":")[0]
        if leaf in ("kernel", "bias"):
            if leaf in found:
                raise DataError(f"layer {layer} has more than one {leaf}", path)
            found[leaf] = value
    for leaf in ("kernel", "bias"):
        if leaf not in found:
            raise DataError(f"layer {layer} has no {leaf} (weights found: {', '.join(weights) or 'none'})", path)
    return found["kernel"], found["bias"]


def load_vggface_h5(model, path: str | os.PathLike, *, bgr_input: bool = True) -> dict[str, str]:
    """Load VGG-Face conv weights from a keras-vggface VGG16 HDF5 file into ``model``'s VGG backbone.

    The file is a Keras 2 HDF5 weight file (``save_weights``, or ``save`` with its ``model_weights``
    group) whose layer groups ``conv1_1`` .. ``conv5_3`` hold a kernel ``[3, 3, in, out]`` and a
    bias ``[out]`` (their ``weight_names`` attribute names them, e.g. ``conv1_1/kernel:0``); other
    layers (pooling, the classifier) are ignored. Each goes to ``block1_conv1`` .. ``block5_conv3``.

    Args:
        model: an :class:`~tfaffect.models.AffWildNet` / :class:`~tfaffect.models.AffWildCNN` with
            a VGG backbone, or the backbone itself (:func:`~tfaffect.models.build_backbone`).
        path: the HDF5 file.
        bgr_input: the keras-vggface networks take BGR input (their ``preprocess_input`` reverses
            RGB to BGR, then subtracts the mean), while tfaffect's models take RGB. ``True``
            reverses the input-channel axis of ``conv1_1``'s kernel so an RGB frame meets the
            filters the network learnt for that colour; ``False`` copies it verbatim. The mean
            subtraction differs either way (tfaffect scales ``(x - 128) / 128``); the paper
            fine-tunes after initialising (Kollias 2019, section 4.2).

    Returns:
        ``{h5 layer name: tfaffect layer name}`` for the 13 layers loaded.

    Raises:
        MissingResourceError: no file at ``path``.
        DataError: not an HDF5 file, a conv layer or its kernel/bias missing, or a shape mismatch
            (the message names the file and the layer).
        ConfigError: ``model`` has no VGG backbone.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingResourceError(f"VGG-Face weight file not found: {path}; pass the keras-vggface VGG16 .h5 file "
                                   "(layers conv1_1 .. conv5_3)")
    conv_part = _vgg_conv_part(model)
    values = []
    with _keras2_h5.weights_root(path) as root:
        for h5_name, layer_name in zip(VGGFACE_H5_LAYERS, VGG_CONV_LAYERS):
            if h5_name not in root:
                raise DataError(f"layer {h5_name} not found (layers here: {', '.join(list(root)[:30])}); "
                                "expected the keras-vggface VGG16 layout conv1_1 .. conv5_3", path)
            kernel, bias = _kernel_and_bias(root, h5_name, path)
            layer = conv_part.get_layer(layer_name)
            for leaf, value, weight in (("kernel", kernel, layer.kernel), ("bias", bias, layer.bias)):
                if tuple(value.shape) != tuple(weight.shape):
                    raise DataError(f"layer {h5_name} {leaf} has shape {list(value.shape)}, {layer_name} expects "
                                    f"{list(weight.shape)} (a Theano-ordered file needs converting first)", path)
            if bgr_input and h5_name == VGGFACE_H5_LAYERS[0]:
                kernel = kernel[:, :, ::-1, :]
            values.append((layer, kernel.astype(np.float32), bias.astype(np.float32)))
    for layer, kernel, bias in values:  # assign only once every layer has been checked
        layer.set_weights([kernel, bias])
    logger.info("loaded VGG-Face conv weights from %s (%s input)", path, "BGR->RGB" if bgr_input else "verbatim")
    return dict(zip(VGGFACE_H5_LAYERS, VGG_CONV_LAYERS))


def convert_vggface_h5(path: str | os.PathLike, out: str | os.PathLike, *, bgr_input: bool = True) -> str:
    """Write ``<out>/vggface.weights.h5`` (+ ``metadata.json``) from a keras-vggface VGG16 file; return its path.

    The result is what ``backbone_weights=`` of :class:`~tfaffect.models.AffWildNet` /
    :class:`~tfaffect.models.AffWildCNN` (``backbone="vggface"``) loads (any image size).
    """
    backbone = _backbones.build_backbone("vggface", _affwild.DEFAULT_IMAGE_SIZE)  # conv weights fit any size
    layer_map = load_vggface_h5(backbone, path, bgr_input=bgr_input)
    metadata = {
        "tfaffect_version": __version__,
        "source": {"kind": "vggface-h5", "file": os.fspath(path)},
        "layer_map": layer_map,
        "bgr_input_reversed_to_rgb": bool(bgr_input),
        "use": "backbone_weights=PATH with backbone='vggface'",
    }
    return save_converted(out, backbone, VGGFACE_WEIGHTS_FILE, metadata)


__all__ = ["VGGFACE_H5_LAYERS", "VGGFACE_WEIGHTS_FILE", "VGG_CONV_LAYERS", "convert_vggface_h5", "load_vggface_h5"]
