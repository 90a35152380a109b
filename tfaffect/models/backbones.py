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
  (Converting the released slim checkpoint needs the slim layout: ``"resnet_v1_50"`` below.)
- ``"resnet_v1_50"``: TF-slim's ``resnet_v1_50`` layout exactly (:func:`build_slim_resnet_v1_50`),
  the conv part of the released AffWildNet ResNet-GRU (dkollias/Aff-Wild-models
  ``affwildnet/resnet-gru``), so that checkpoint's weights have a place to go
  (:func:`tfaffect.convert.affwildnet_tf1.convert_affwildnet_tf1`). Random init only (no ``"imagenet"``).

Weights (``weights=``): ``None`` (random init; VGG conv kernels He-normal, :func:`he_initialise_convs`), a local file path, or ``"imagenet"`` for VGG-16 /
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

import contextvars
import logging
import os

import keras

from tfaffect.errors import ConfigError, MissingResourceError

logger = logging.getLogger(__name__)

BACKBONES = ("vgg16", "vggface", "resnet50", "resnet_v1_50")
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


LOADING_SAVED = contextvars.ContextVar("tfaffect_loading_saved", default=False)
"""True while :func:`tfaffect.models.saving.load_model` rebuilds a saved model, whose file then overwrites every
weight: :func:`build_backbone` skips the He-normal re-draw of the VGG kernels (0.3-0.5 s of ``tfaffect
predict``'s start-up on 2 cores, for values never used)."""


def build_backbone(name: str, image_size: int, weights: str | os.PathLike | None = None) -> keras.Model:
    """The conv + pooling part named ``name`` for ``[N, image_size, image_size, 3]`` float inputs -> ``[N, F]``.

    The returned model is named ``name`` (so ``model.get_layer("vggface")`` finds it inside a full
    network). See the module docstring for the layer layouts and accepted ``weights``.
    """
    path = resolve_backbone_weights(name, weights)
    if int(image_size) < MIN_IMAGE_SIZE:
        raise ConfigError(f"image_size={image_size} is too small for {name}; it needs at least {MIN_IMAGE_SIZE}")
    input_shape = (int(image_size), int(image_size), 3)
    if name == "resnet_v1_50":
        model = build_slim_resnet_v1_50(int(image_size), name=name)
    elif name == "resnet50":
        model = keras.applications.ResNet50(include_top=False, weights=None, input_shape=input_shape,
                                            pooling="avg", name=name)
    else:
        conv = keras.applications.VGG16(include_top=False, weights=None, input_shape=input_shape, name=name)
        features = keras.layers.Flatten(name="flatten")(conv.output)
        model = keras.Model(conv.input, features, name=name)
        if path is None and not LOADING_SAVED.get():
            he_initialise_convs(model)
    if path is not None:
        try:
            model.load_weights(path)
        except (ValueError, OSError, KeyError) as error:
            raise ConfigError(f"{path}: cannot load {name} weights from this file: {error}") from error
        logger.info("loaded %s weights from %s", name, path)
    return model


def he_initialise_convs(model: keras.Model) -> None:
    """Re-draw the conv kernels of a VGG conv part from He-normal (biases stay 0): its random init.

    The paper never trains VGG from scratch (it fine-tunes VGG-Face / VGG-16 weights, Kollias 2019
    section 4.2), so it fixes no initialiser. ``keras.applications.VGG16`` draws Glorot-uniform
    kernels, which halve the activations' second moment at each of the 13 ReLU conv layers (no batch
    norm): measured on SynthAffect faces at 96 px, the flattened features then have std 0.0013 and a
    per-feature spread across faces of 0.0003, an image path that gives the FC layers nothing to
    learn from. He-normal (He et al. 2015, derived for deep ReLU nets; its section 4 trains VGG from
    scratch with it) keeps the scale: std 0.66, spread 0.19 across faces (chosen).
    """
    initializer = keras.initializers.HeNormal()
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layer.kernel.assign(initializer(layer.kernel.shape, dtype=layer.kernel.dtype))


# --------------------------------------------------------------------------------------------------
# TF-slim's resnet_v1_50 layout (the released AffWildNet ResNet-GRU).

SLIM_RESNET_V1_50_BLOCKS = ((64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1))
"""``(base_depth, num_units, stride)`` of ``block1`` .. ``block4``: slim ``resnet_v1.py``,
``resnet_v1_50`` (``resnet_v1_block('block1', base_depth=64, num_units=3, stride=2)``, ...). A unit
outputs ``4 * base_depth`` channels; the block's stride sits in its LAST unit (``resnet_v1_block``)."""
SLIM_BATCH_NORM_EPSILON = 1e-5  # slim resnet_utils.resnet_arg_scope(batch_norm_epsilon=1e-5)
SLIM_BATCH_NORM_DECAY = 0.997  # slim resnet_utils.resnet_arg_scope(batch_norm_decay=0.997); Keras's momentum
SLIM_ROOT_DEPTH = 64  # slim resnet_v1.resnet_v1: conv2d_same(net, 64, 7, stride=2, scope='conv1')


def slim_resnet_v1_50_convs() -> list[tuple[str, str]]:
    """Every conv + batch-norm pair of slim ``resnet_v1_50`` in graph order: ``(slim scope, Keras layer name)``.

    The slim scope is relative to ``resnet_v1_50/`` and holds ``weights`` (the conv kernel, HWIO, no
    bias) and ``BatchNorm/{beta, gamma, moving_mean, moving_variance}``; the Keras conv layer is
    named as given, its batch norm that name + ``"_bn"``. Per unit the order is ``shortcut`` (only
    where the unit changes the depth: the first unit of each block), ``conv1``, ``conv2``, ``conv3``.
    """
    convs = [("conv1", "conv1")]
    depth_in = SLIM_ROOT_DEPTH
    for block, (base_depth, units, _) in enumerate(SLIM_RESNET_V1_50_BLOCKS, start=1):
        for unit in range(1, units + 1):
            scope, name = f"block{block}/unit_{unit}/bottleneck_v1", f"block{block}_unit{unit}"
            if depth_in != 4 * base_depth:  # slim bottleneck: projection shortcut only when the depth changes
                convs.append((f"{scope}/shortcut", f"{name}_shortcut"))
            convs += [(f"{scope}/{conv}", f"{name}_{conv}") for conv in ("conv1", "conv2", "conv3")]
            depth_in = 4 * base_depth
    return convs


def _slim_conv_bn(x, filters: int, kernel: int, stride: int, name: str, relu: bool):
    """slim ``conv2d`` under ``resnet_arg_scope``: conv without bias -> batch norm -> ReLU (unless ``relu=False``).

    Stride 1: 'SAME' padding. Stride > 1: slim ``resnet_utils.conv2d_same``, explicit zero padding
    of ``(k - 1) // 2`` before and ``k - 1 - (k - 1) // 2`` after, then 'VALID', which differs from
    TensorFlow's 'SAME' (more padding after than before) for even inputs.
    """
    if stride > 1 and kernel > 1:
        before = (kernel - 1) // 2
        x = keras.layers.ZeroPadding2D(((before, kernel - 1 - before), (before, kernel - 1 - before)),
                                       name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(epsilon=SLIM_BATCH_NORM_EPSILON, momentum=SLIM_BATCH_NORM_DECAY,
                                        name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def build_slim_resnet_v1_50(image_size: int, name: str = "resnet_v1_50") -> keras.Model:
    """TF-slim ``resnet_v1_50(inputs, num_classes=None)`` as a Keras model ``[N, S, S, 3] -> [N, 2048]``.

    Layout, from slim's ``nets/resnet_v1.py`` and ``nets/resnet_utils.py`` (tensorflow/models
    ``research/slim`` and the identical ``tensorflow/contrib/slim/python/slim/nets`` that the
    released code imports):

    - root: ``conv2d_same(net, 64, 7, stride=2, scope='conv1')`` (pad 3 / 3, 'VALID'), then
      ``max_pool2d([3, 3], stride=2)`` with 'SAME' padding (``resnet_arg_scope`` sets it);
    - ``stack_blocks_dense``: blocks ``block1`` .. ``block4`` of 3, 4, 6, 3 bottleneck units
      (:data:`SLIM_RESNET_V1_50_BLOCKS`); unit ``bottleneck`` (v1): shortcut = 1x1 conv
      ``shortcut`` (+ BN, no ReLU) with the unit's stride when the depth changes, else
      ``subsample`` (1x1 max pool with the unit's stride); residual = 1x1 ``conv1`` (stride 1) ->
      3x3 ``conv2`` with the unit's stride (``conv2d_same``) -> 1x1 ``conv3`` (+ BN, no ReLU);
      output ``relu(shortcut + residual)``. The stride (2 in blocks 1-3) is in the LAST unit of a
      block, in ``conv2``;
    - every conv: no bias, batch norm (epsilon 1e-5, decay 0.997, with ``gamma``: ``scale=True``),
      ReLU (``resnet_arg_scope``); ``pool5``: mean over height and width.

    Layer names: :func:`slim_resnet_v1_50_convs` (conv) + ``"_bn"`` (batch norm). Differs from
    ``keras.applications.ResNet50`` (the ``"resnet50"`` backbone) in the stride position, the
    padding, conv biases and batch-norm epsilon, so the two cannot share weights.
    """
    image = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = _slim_conv_bn(image, SLIM_ROOT_DEPTH, 7, 2, "conv1", relu=True)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    depth_in = SLIM_ROOT_DEPTH
    for block, (base_depth, units, block_stride) in enumerate(SLIM_RESNET_V1_50_BLOCKS, start=1):
        depth = 4 * base_depth
        for unit in range(1, units + 1):
            stride = block_stride if unit == units else 1  # slim resnet_v1_block: stride in the last unit
            prefix = f"block{block}_unit{unit}"
            if depth == depth_in:
                shortcut = x if stride == 1 else keras.layers.MaxPooling2D(
                    1, strides=stride, name=f"{prefix}_subsample")(x)  # slim resnet_utils.subsample
            else:
                shortcut = _slim_conv_bn(x, depth, 1, stride, f"{prefix}_shortcut", relu=False)
            residual = _slim_conv_bn(x, base_depth, 1, 1, f"{prefix}_conv1", relu=True)
            residual = _slim_conv_bn(residual, base_depth, 3, stride, f"{prefix}_conv2", relu=True)
            residual = _slim_conv_bn(residual, depth, 1, 1, f"{prefix}_conv3", relu=False)
            x = keras.layers.Add(name=f"{prefix}_add")([shortcut, residual])
            x = keras.layers.ReLU(name=f"{prefix}_out")(x)
            depth_in = depth
    features = keras.layers.GlobalAveragePooling2D(name="pool5")(x)
    return keras.Model(image, features, name=name)
