"""Convolutional parts of the Kollias 2019 networks (VGG-16 / VGG-Face, ResNet-50) and their weight loading.

``build_backbone(name, image_size, weights)`` returns a functional model mapping float images in
[-1, 1] of shape ``[N, S, S, 3]`` to one feature vector per image ``[N, F]``:

- ``"vgg16"`` / ``"vggface"``: the 13 conv + 5 max-pool layers of Kollias 2019, Table 7 (blocks 1-5),
  flattened, as the original code feeds the last pooling output to the first FC layer
  (dkollias/Aff-Wild-models, ``affwildnet/vggface_gru.py``). VGG-Face has the VGG-16 "D"
  architecture (Parkhi 2015); the two differ only in their weights. F = (S/32)^2 * 512, 4608 at 96.
- ``"resnet50"``: ResNet-50 v1 without its classifier, global-average-pooled (the original
  ``resnet_v1_50(..., num_classes=None)`` pools globally by default), F = 2048.

Both conv parts are ``keras.applications`` models (``include_top=False``). Differences from the
original TF1 code, neither of which changes a layer's shape or the feature size:

- VGG: Keras pools with 'VALID' padding, the original with 'SAME'; identical when S is a multiple
  of 32 (96, 224).
- ResNet-50: Keras follows the original Caffe ResNet-50 v1 (stride 2 in the first 1x1 conv of the
  first unit of stages 3-5, conv biases before batch norm); the original used TF-slim
  ``resnet_v1_50`` (stride 2 in the 3x3 conv of the last unit of blocks 1-3, no conv biases).
  Both are the ResNet-50 v1 of He et al. 2016 with the same 32x downsampling; the paper fixes
  neither detail, and the Keras layout is the one whose ImageNet weights Keras ships, so it is
  the one for which the paper's "ImageNet pre-trained ResNet-50" initialisation is reproducible.
  (Converting the released slim checkpoint would need the slim layout.)

Weights (``weights=``): ``None`` (random init), a local file path, or ``"imagenet"`` for VGG-16 /
ResNet-50, which is read from Keras's download cache (``$KERAS_HOME/models``, default
``~/.keras/models``) and never downloaded: if the file is absent a
:class:`~tfaffect.errors.MissingResourceError` names it. A local file is either a Keras 3
``.weights.h5`` saved from a backbone built here (``model.get_layer(name).save_weights(...)``) or
a legacy ``.h5`` in ``keras.applications`` layout (what the Keras cache holds). There are no
public VGG-Face weights in Keras format; convert them to the VGG-16 layer layout first.
Note: the ImageNet weights were trained with Caffe-style BGR mean subtraction, while these
models scale inputs to [-1, 1] as the paper and the original code did; the paper fine-tunes
after such initialisation (Kollias 2019, section 4.2).
"""

from __future__ import annotations

import logging
import os

import keras

from tfaffect.errors import ConfigError, MissingResourceError

logger = logging.getLogger(__name__)

BACKBONES = ("vgg16", "vggface", "resnet50")
"""Backbone names accepted by :func:`build_backbone`."""

MIN_IMAGE_SIZE = 32
"""Smallest input side ``keras.applications`` accepts for VGG-16 and ResNet-50 (five 2x downsamplings)."""

_IMAGENET_NOTOP_FILES = {
    # File names keras.applications caches its ImageNet weights (include_top=False) under.
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
}


def keras_cache_dir() -> str:
    """Where ``keras.utils.get_file`` caches model files: ``$KERAS_HOME/models``, else ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models")


def resolve_backbone_weights(name: str, weights: str | os.PathLike | None) -> str | None:
    """Map a ``weights`` argument to an existing local file path (or ``None``), without any network access.

    Raises:
        ConfigError: unknown backbone, or ``"imagenet"`` for a backbone that has no ImageNet weights.
        MissingResourceError: the file (or Keras's cached ImageNet file) does not exist.
    """
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; expected one of {', '.join(BACKBONES)}")
    if weights is None:
        return None
    if isinstance(weights, str) and weights == "imagenet":
        if name not in _IMAGENET_NOTOP_FILES:
            raise ConfigError(f"backbone {name!r} has no ImageNet weights; pass backbone_weights=PATH "
                              "to a .weights.h5 file in the VGG-16 layer layout (e.g. converted VGG-Face weights)")
        path = os.path.join(keras_cache_dir(), _IMAGENET_NOTOP_FILES[name])
        if not os.path.isfile(path):
            raise MissingResourceError(
                f"ImageNet weights for {name} are not in the Keras cache ({path}); nothing is downloaded. "
                f"Put {_IMAGENET_NOTOP_FILES[name]} there or pass backbone_weights=PATH to a local weight file")
        return path
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise MissingResourceError(f"{name} weight file not found: {path}; pass backbone_weights=PATH to an "
                                   "existing .weights.h5 / .h5 file, 'imagenet' (Keras cache) or None")
    return path


def build_backbone(name: str, image_size: int, weights: str | os.PathLike | None = None) -> keras.Model:
    """The conv + pooling part named ``name`` for ``[N, image_size, image_size, 3]`` float inputs -> ``[N, F]``.

    The returned model is named ``name`` (so ``model.get_layer("vggface")`` finds it inside a full
    network). See the module docstring for the layer layouts and accepted ``weights``.
    """
    path = resolve_backbone_weights(name, weights)
    if int(image_size) < MIN_IMAGE_SIZE:
        raise ConfigError(f"image_size={image_size} is too small for {name}; it needs at least {MIN_IMAGE_SIZE}")
    input_shape = (int(image_size), int(image_size), 3)
    if name == "resnet50":
        model = keras.applications.ResNet50(include_top=False, weights=None, input_shape=input_shape,
                                            pooling="avg", name=name)
    else:
        conv = keras.applications.VGG16(include_top=False, weights=None, input_shape=input_shape, name=name)
        features = keras.layers.Flatten(name="flatten")(conv.output)
        model = keras.Model(conv.input, features, name=name)
    if path is not None:
        try:
            model.load_weights(path)
        except (ValueError, OSError, KeyError) as error:
            raise ConfigError(f"{path}: cannot load {name} weights from this file: {error}") from error
        logger.info("loaded %s weights from %s", name, path)
    return model
