"""MM-Net, Li et al. 2017 ("Estimation of Affective Level in the Wild With Multiple Memory Networks"):
the CRU-Net-56-tiny face feature CNN (Table 1) and the BDLSTM memory networks over sliding windows
(section 2, Figs. 3-4; section 3.1.2). ``keras`` / ``keras.ops`` only (runs under ``KERAS_BACKEND=jax``).

:class:`CRUNet` (Table 1; section 2 "Deep Face Feature Learning")
    uint8 RGB faces ``[N, S, S, 3]`` -> ``(x - 128) / 128`` (chosen: the paper does not say how pixels are
    scaled; the house's Aff-Wild convention) -> conv1 7x7/64 stride 2, BN, ReLU -> 3x3 max pool stride 2 ->
    stages conv2..conv5 of pre-activation units -> BN, ReLU -> global average pool = ``"features"`` (512-d
    for the tiny net: "the extracted features are vectors with dimension 512", section 3.1.2) -> two heads:
    ``"expression"`` (7-way softmax, the FER2013 pre-training task, section 3.1.2) and ``"va"`` (2 linear
    units, valence then arousal: the fine-tuned baseline CNN of Table 2; its head is not described, linear as
    the BDLSTM's regression layer, section 3.1.2). The table's "1000-d fc, softmax" is the ImageNet head,
    replaced by these two.

    Units (facts about CRU units fixed by public CRU-Net code, cited in issue #15; no code copied):
    pre-activation BN -> ReLU -> conv everywhere, convolutions without bias. A residual stage's unit is
    ``[1x1 a, 3x3 a (groups R), 1x1 out]`` plus the shortcut: identity, or in a stage's first unit a 1x1
    projection (stride 2 from conv3 on; the stride sits on the 3x3, chosen) of the pre-activated input.
    A CRU stage (conv4) has ONE 1x1 conv (out -> a) and ONE depthwise 3x3 conv (R = a) shared by all its
    units (the same Keras layer objects called in every unit; each unit keeps its own batch norms),
    followed by the unit's own 1x1 (a -> mid) and 1x1 (mid -> out). In the stage's first unit the stride-2
    1x1 projection (in -> out) is shared between the input transform and the shortcut: its output is both
    the shortcut and the input of the shared 1x1, so the shared convolutions see ``out`` channels in every
    unit.

    Variants (Table 1): ``variant="tiny"`` (right column, the paper's network) and ``variant="full"``
    (CRU-Net-56, left column): :data:`ARCHITECTURES`. ``width_divisor`` and ``units`` shrink it for
    tests and CPU demos (chosen, not in the paper).

:class:`MemoryNetwork` (section 2 "Feature Aggregation with BDLSTM", Fig. 3; section 3.1.2)
    per-frame features ``[B, T, F]`` (or frames ``[B, T, S, S, 3]`` with the CNN inside) -> every
    stride-1 window of ``window`` = L frames (:class:`SlidingWindows`) -> a bidirectional LSTM with
    ``memory`` = C cells per direction, all L outputs (``"bdlstm"``, 2C per frame: the feature-level
    ensemble's per-window vectors, section 2) -> one fully connected layer with two linear outputs
    (``"va_fc"``: "one fully connected layer with two output units ... no activations", section 3.1.2)
    -> each frame's prediction = the mean over all windows containing it (:class:`OverlapAverage`,
    section 2: "The final prediction of one frame is the average prediction of all the sliding windows
    containing that frame"). On a window of exactly L frames (training, stride S = L // 2 in the data
    pipeline) it is the BDLSTM applied to that window. Bidirectional: a frame's output depends on the
    L - 1 frames after it, so it has no ``context_frames`` (that protocol is for causal windows).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from tfaffect import EXPRESSIONS_7
from tfaffect.errors import ConfigError
from tfaffect.models.layers import PACKAGE, ConfigurableModel, FoldTime, UnfoldTime, scale_uint8_to_unit_range
from tfaffect.models.registry import register_model

DEFAULT_IMAGE_SIZE = 224  # Table 1: conv1 output 112x112 (224 input; section 3.1.2 crops 112 of 128 px faces)
NUM_EXPRESSIONS = len(EXPRESSIONS_7)  # FER2013's 7 classes, section 3.1.2
STEM_CHANNELS = 64  # Table 1, conv1: 7x7, 64, stride 2
BN_MOMENTUM = 0.9  # chosen: the paper is silent; MXNet's BatchNorm default (CRU-Net's framework), and the
                   # house's short CPU demos need moving statistics faster than Keras's 0.99 (recipes/stat_lstm.py)
FEATURE_UNITS = 512  # section 3.1.2: "the extracted features are vectors with dimension 512"
MEMORIES = (250, 50, 25, 16)  # C, section 3.1.2 (Table 5)
WINDOWS = (11, 5)  # L, section 3.1.2 (Table 5)
MEMORY = 250  # C of the first BDLSTM, section 3.2.2 (Tables 3-4)
WINDOW = 11  # L of the first BDLSTM, section 3.2.2 (Tables 3-4)

HEADS = ("expression", "va")
"""CRU-Net heads: 7-way softmax (FER2013 pre-training, section 3.1.2), 2 linear units (fine-tuning, Table 2)."""

ARCHITECTURES = {
    # stage name: (kind, units, a = 1x1/3x3 width, out = stage output width, R = groups of the 3x3, mid)
    "tiny": (  # Table 1, right column (CRU-Net-56-tiny), 12.4 x 10^6 parameters with the 1000-d fc
        ("conv2", "res", 3, 256, 256, 32, None),
        ("conv3", "res", 4, 512, 256, 32, None),  # the thin shortcut: 256 out (section 2)
        ("conv4", "cru", 6, 512, 256, 512, 1024),  # [1x1 512, 3x3 512 R=512, 1x1 1024, 1x1 256] x 6
        ("conv5", "res", 4, 1024, 512, 32, None),
    ),
    "full": (  # Table 1, left column (CRU-Net-56), 25.5 x 10^6 parameters with the 1000-d fc
        ("conv2", "res", 3, 128, 256, 32, None),
        ("conv3", "res", 4, 256, 512, 32, None),
        ("conv4", "cru", 6, 640, 1024, 640, 640),  # [1x1 640, 3x3 640 R=640, 1x1 640, 1x1 1024] x 6
        ("conv5", "res", 3, 1024, 2048, 32, None),
    ),
}
"""Table 1 per variant: conv2..conv5 as ``(name, kind, units, a, out, R, mid)``; ``kind`` "res" = residual
bottleneck ``[1x1 a, 3x3 a R, 1x1 out]``, "cru" = CRU unit ``[1x1 a shared, 3x3 a R=a shared, 1x1 mid, 1x1 out]``."""


# --------------------------------------------------------------------------------------------------
# CRU-Net


def _bn_relu(x, name: str, momentum: float):
    x = keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _conv(filters: int, kernel: int, name: str, stride: int = 1, groups: int = 1):
    return keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", groups=groups, use_bias=False,
                               name=name)


def _groups(channels: int, groups: int) -> int:
    """Groups of a 3x3 conv of ``channels``: R, or (a narrowed net) the largest divisor of both."""
    return math.gcd(channels, groups)


def _residual_stage(x, name, units, a, out, groups, stride, momentum):
    """A pre-activation ResNeXt-style stage: ``units`` x [1x1 a, 3x3 a (groups), 1x1 out]; projection in unit 1."""
    for unit in range(1, units + 1):
        prefix = f"{name}_{unit}"
        first = unit == 1
        pre = _bn_relu(x, f"{prefix}_pre", momentum)
        shortcut = _conv(out, 1, f"{prefix}_proj", stride)(pre) if first else x
        y = _conv(a, 1, f"{prefix}_1x1a")(pre)
        y = _bn_relu(y, f"{prefix}_3x3", momentum)
        y = _conv(a, 3, f"{prefix}_3x3", stride if first else 1, _groups(a, groups))(y)
        y = _bn_relu(y, f"{prefix}_1x1b", momentum)
        y = _conv(out, 1, f"{prefix}_1x1b")(y)
        x = keras.layers.Add(name=f"{prefix}_add")([shortcut, y])
    return x


def _cru_stage(x, name, units, a, out, mid, stride, momentum):
    """A CRU stage: one shared 1x1 (out -> a) and one shared depthwise 3x3 (a) for all ``units``; unit 1's
    stride-2 projection feeds both its shortcut and the shared 1x1 (module docstring)."""
    shared_1x1 = _conv(a, 1, f"{name}_shared_1x1")
    shared_3x3 = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_shared_3x3")
    for unit in range(1, units + 1):
        prefix = f"{name}_{unit}"
        if unit == 1:
            x = _conv(out, 1, f"{prefix}_proj", stride)(_bn_relu(x, f"{prefix}_pre", momentum))
        y = shared_1x1(_bn_relu(x, f"{prefix}_in", momentum))
        y = shared_3x3(_bn_relu(y, f"{prefix}_3x3", momentum))
        y = _conv(mid, 1, f"{prefix}_1x1b")(_bn_relu(y, f"{prefix}_1x1b", momentum))
        y = _conv(out, 1, f"{prefix}_1x1c")(_bn_relu(y, f"{prefix}_1x1c", momentum))
        x = keras.layers.Add(name=f"{prefix}_add")([x, y])
    return x


def stage_specs(variant: str = "tiny", width_divisor: int = 1, units=None) -> list[tuple]:
    """:data:`ARCHITECTURES` of ``variant``, every width divided by ``width_divisor`` and, where given, the
    units per stage replaced by ``units`` (4 ints)."""
    if variant not in ARCHITECTURES:
        raise ConfigError(f"unknown CRU-Net variant {variant!r}; expected one of {', '.join(ARCHITECTURES)}")
    specs = ARCHITECTURES[variant]
    if units is not None and (len(units) != len(specs) or min(units) < 1):
        raise ConfigError(f"units must give {len(specs)} positive unit counts (conv2..conv5), got {list(units)}")
    out = []
    for k, (name, kind, n, a, width, groups, mid) in enumerate(specs):
        if any(w % width_divisor for w in (a, width, mid or a)):
            raise ConfigError(f"width_divisor {width_divisor} does not divide the widths of {name} of {variant!r}")
        out.append((name, kind, int(units[k]) if units is not None else n, a // width_divisor,
                    width // width_divisor, groups, None if mid is None else mid // width_divisor))
    return out


@keras.saving.register_keras_serializable(package=PACKAGE)
class CRUNet(ConfigurableModel):
    """CRU-Net-56-tiny / CRU-Net-56 (Li 2017, Table 1): ``{"image": uint8 [N, S, S, 3]}`` ->
    ``{"expression": [N, 7] softmax, "va": [N, 2] linear}`` (those of ``heads``); layer ``"features"`` is the
    pooled feature.

    Args:
        variant: "tiny" (CRU-Net-56-tiny, the paper's) or "full" (CRU-Net-56).
        image_size: input side S (224, Table 1). Parameter counts do not depend on it.
        width_divisor: every channel width divided by this (1 = Table 1; chosen for tests and demos).
        units: units per stage conv2..conv5 (``None`` = Table 1).
        bn_momentum: momentum of every batch norm's moving statistics (0.9, chosen: :data:`BN_MOMENTUM`).
        heads: the output heads, a subset of :data:`HEADS` (the expression pre-training trains "expression",
            the fine-tuning "va"; the layers up to ``"features"`` are the same).
    """

    def __init__(self, variant: str = "tiny", image_size: int = DEFAULT_IMAGE_SIZE, width_divisor: int = 1,
                 units=None, bn_momentum: float = BN_MOMENTUM, heads=HEADS, **kwargs):
        image_size, width_divisor = int(image_size), int(width_divisor)
        if width_divisor < 1 or image_size < 32:
            raise ConfigError(f"width_divisor >= 1 and image_size >= 32 needed (5 halvings), got {width_divisor}, "
                              f"{image_size}")
        units = None if units is None else [int(u) for u in units]
        heads = tuple(heads)
        if not heads or len(set(heads)) != len(heads) or not set(heads) <= set(HEADS):
            raise ConfigError(f"heads must be distinct names from {', '.join(HEADS)}, got {list(heads)}")
        specs = stage_specs(variant, width_divisor, units)
        momentum = float(bn_momentum)
        image = keras.Input(shape=(image_size, image_size, 3), dtype="uint8", name="image")
        x = scale_uint8_to_unit_range()(image)
        x = _conv(STEM_CHANNELS // width_divisor, 7, "conv1", 2)(x)  # Table 1, conv1
        x = _bn_relu(x, "conv1", momentum)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)  # Table 1, conv2: max pool
        for index, (name, kind, n, a, out, groups, mid) in enumerate(specs):
            stride = 1 if index == 0 else 2  # Table 1: 56 -> 28 -> 14 -> 7
            if kind == "res":
                x = _residual_stage(x, name, n, a, out, groups, stride, momentum)
            else:
                x = _cru_stage(x, name, n, a, out, mid, stride, momentum)
        x = _bn_relu(x, "post", momentum)  # pre-activation nets end with BN, ReLU before the pool
        features = keras.layers.GlobalAveragePooling2D(name="features")(x)
        layers = {"expression": lambda: keras.layers.Dense(NUM_EXPRESSIONS, activation="softmax", name="expression"),
                  "va": lambda: keras.layers.Dense(2, name="va")}
        outputs = {head: layers[head]()(features) for head in heads}
        kwargs.setdefault("name", f"cru_net_56{'_tiny' if variant == 'tiny' else ''}")
        config = {"variant": variant, "image_size": image_size, "width_divisor": width_divisor, "units": units,
                  "bn_momentum": momentum, "heads": list(heads)}
        super().__init__({"image": image}, outputs, config, **kwargs)


# --------------------------------------------------------------------------------------------------
# Sliding windows


def window_indices(time_steps, window: int):
    """``[N, L]`` int32 frame indices of every stride-1 window, ``N = max(T - L + 1, 1)``: row n = ``n .. n+L-1``,
    clamped to ``T - 1`` (a sequence shorter than L repeats its last frame). ``time_steps`` may be traced."""
    if isinstance(time_steps, int):  # a static length (JAX traces with static shapes: arange needs a Python int)
        count = max(time_steps - window + 1, 1)
    else:
        count = ops.maximum(time_steps - window + 1, 1)
    rows = ops.expand_dims(ops.arange(count, dtype="int32"), 1) + ops.expand_dims(ops.arange(window, dtype="int32"), 0)
    return ops.minimum(rows, time_steps - 1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SlidingWindows(keras.layers.Layer):
    """``[B, T, D] -> [B, N, L, D]``: every stride-1 window of L frames (the test-time scan, Li 2017 section 2)."""

    def __init__(self, window: int, **kwargs):
        super().__init__(**kwargs)
        self.window = int(window)

    def call(self, inputs):
        return ops.take(inputs, window_indices(ops.shape(inputs)[1], self.window), axis=1)

    def compute_output_shape(self, input_shape):
        time = input_shape[1]
        count = None if time is None else max(time - self.window + 1, 1)
        return (input_shape[0], count, self.window) + tuple(input_shape[2:])

    def get_config(self) -> dict:
        return {**super().get_config(), "window": self.window}


def overlap_average(windows, time_steps):
    """``[B, N, L, D]`` per-window outputs of the stride-1 windows -> ``[B, T, D]``: frame t = the mean of the
    outputs for frame t of every window containing it (Li 2017, section 2). Window n covers frames
    ``n .. n+L-1``; positions beyond ``T - 1`` (the repeated last frame of a sequence shorter than L) are
    dropped."""
    window = windows.shape[2]
    total, covered = 0, 0
    ones = ops.ones_like(windows[:1, :, 0, :1])  # [1, N, 1]
    for j in range(window):  # window n's position j is frame n + j
        pad = [(0, 0), (j, window - 1 - j), (0, 0)]
        total = total + ops.pad(windows[:, :, j, :], pad)
        covered = covered + ops.pad(ones, pad)
    return (total / covered)[:, :time_steps]


@keras.saving.register_keras_serializable(package=PACKAGE)
class OverlapAverage(keras.layers.Layer):
    """``([B, N, L, D], reference [B, T, ...]) -> [B, T, D]``: :func:`overlap_average`, T read from ``reference``."""

    def call(self, inputs):
        windows, reference = inputs
        return overlap_average(windows, ops.shape(reference)[1])

    def compute_output_shape(self, input_shape):
        windows_shape, reference_shape = input_shape
        return (windows_shape[0], reference_shape[1], windows_shape[-1])


# --------------------------------------------------------------------------------------------------
# Memory network

FRAME_INPUTS = ("features", "image")


@keras.saving.register_keras_serializable(package=PACKAGE)
class MemoryNetwork(ConfigurableModel):
    """A BDLSTM memory network (Li 2017, section 2, Fig. 3): ``{"features": [B, T, F]}`` (or ``{"image": uint8
    [B, T, S, S, 3]}``) -> ``{"va": [B, T, 2]}``, averaged over the stride-1 windows (module docstring).

    Args:
        memory: C, LSTM cells per direction (250, 50, 25 or 16, section 3.1.2).
        window: L, frames per window (11 or 5, section 3.1.2).
        feature_units: F, the per-frame feature width (512 = FT or No FT, 1024 = FT + No FT, section 3.2.2).
        frame_input: "features" (per-frame CNN features, e.g. from the feature cache) or "image" (the CNN
            runs inside on every frame; its ``"features"`` layer must then be F wide).
        variant, image_size, width_divisor, units, bn_momentum: the :class:`CRUNet` of ``frame_input="image"``
            (recorded only for "features").
        use_cudnn: passed to the LSTMs ("auto"); export passes False (DESIGN.md).
        cnns: CRU-Nets whose features are concatenated per frame (2 = "FT + No FT", Table 3).
        face_size: ``frame_input="image"`` only: the input is whole aligned faces of this side and the centre
            ``image_size`` crop is cut inside, as the data pipeline cuts it at test time (section 3.1.2: "the
            center crop is used"); ``None``: the input is the crops themselves.
    """

    def __init__(self, memory: int = MEMORY, window: int = WINDOW, feature_units: int = FEATURE_UNITS,
                 frame_input: str = "features", variant: str = "tiny", image_size: int = DEFAULT_IMAGE_SIZE,
                 width_divisor: int = 1, units=None, bn_momentum: float = BN_MOMENTUM, use_cudnn="auto", cnns: int = 1,
                 face_size: int | None = None, **kwargs):
        memory, window, feature_units = int(memory), int(window), int(feature_units)
        if memory < 1 or window < 1 or feature_units < 1:
            raise ConfigError(f"memory, window and feature_units must be positive, got {memory}, {window}, "
                              f"{feature_units}")
        if frame_input not in FRAME_INPUTS:
            raise ConfigError(f"unknown frame_input {frame_input!r}; expected one of {', '.join(FRAME_INPUTS)}")
        if use_cudnn not in ("auto", True, False):
            raise ConfigError(f"use_cudnn must be 'auto', True or False, got {use_cudnn!r}")
        units = None if units is None else [int(u) for u in units]
        cnn_config = {"variant": variant, "image_size": int(image_size), "width_divisor": int(width_divisor),
                      "units": units, "bn_momentum": float(bn_momentum)}
        cnns = int(cnns)
        if cnns < 1:
            raise ConfigError(f"cnns must be positive, got {cnns}")
        crop = cnn_config["image_size"]
        if face_size is not None:
            face_size = int(face_size)
            if frame_input != "image" or face_size < crop:
                raise ConfigError(f"face_size ({face_size}) needs frame_input='image' and face_size >= image_size "
                                  f"({crop})")
        if frame_input == "image":
            side = crop if face_size is None else face_size
            image = keras.Input(shape=(None, side, side, 3), dtype="uint8", name="image")
            inputs = {"image": image}
            folded_image = FoldTime(name="fold_time")(image)
            if side != crop:  # the pipeline's centre crop: offset (stored - crop) // 2 (data/pipeline.py)
                before = (side - crop) // 2
                margins = (before, side - crop - before)
                folded_image = keras.layers.Cropping2D((margins, margins), name="centre_crop")(folded_image)
            pooled = []
            for index in range(cnns):  # Table 3 "FT + No FT": two CNNs' features concatenated per frame
                suffix = f"_{index}" if index else ""
                cnn = CRUNet(**cnn_config, name=f"cnn{suffix}")
                pooled.append(keras.Model(cnn.input, cnn.get_layer("features").output,
                                          name=f"cnn_features{suffix}")({"image": folded_image}))
            folded = pooled[0] if cnns == 1 else keras.layers.Concatenate(name="concat_features")(pooled)
            if folded.shape[-1] != feature_units:
                raise ConfigError(f"the CNN's features are {folded.shape[-1]} wide, feature_units is {feature_units}")
            sequence = UnfoldTime(name="unfold_features")([folded, image])
        else:
            sequence = keras.Input(shape=(None, feature_units), name="features")
            inputs = {"features": sequence}
        windows = SlidingWindows(window, name="windows")(sequence)  # [B, N, L, F]
        x = FoldTime(name="fold_windows")(windows)  # [B*N, L, F]
        lstm = keras.layers.LSTM(memory, return_sequences=True, use_cudnn=use_cudnn)
        x = keras.layers.Bidirectional(lstm, merge_mode="concat", name="bdlstm")(x)  # [B*N, L, 2C], Fig. 3
        x = keras.layers.Dense(2, name="va_fc")(x)  # section 3.1.2: one FC layer, two linear outputs
        x = UnfoldTime(name="unfold_windows")([x, windows])  # [B, N, L, 2]
        va = OverlapAverage(name="va")([x, sequence])  # section 2: mean over the windows containing a frame
        kwargs.setdefault("name", f"mmnet_bdlstm_c{memory}_l{window}")
        config = {"memory": memory, "window": window, "feature_units": feature_units, "frame_input": frame_input,
                  **cnn_config, "use_cudnn": use_cudnn, "cnns": cnns, "face_size": face_size}
        super().__init__(inputs, {"va": va}, config, **kwargs)


# --------------------------------------------------------------------------------------------------
# Published architectures. Tiny: 32 px, widths / 16, one unit per stage but two in the CRU stage.

_TINY_CNN = {"image_size": 32, "width_divisor": 16, "units": (1, 1, 2, 1)}


@register_model("cru_net_56_tiny", tiny=_TINY_CNN)
def cru_net_56_tiny(**kwargs) -> keras.Model:
    """CRU-Net-56-tiny: the MM-Net face feature CNN, 512-d features -> expression / valence-arousal (Li 2017, Table 1)."""
    return CRUNet(**{"variant": "tiny", **kwargs})


@register_model("cru_net_56", tiny=_TINY_CNN)
def cru_net_56(**kwargs) -> keras.Model:
    """CRU-Net-56 (Li 2017, Table 1 left column; Chen et al. 2017), 2048-d features -> expression / valence-arousal."""
    return CRUNet(**{"variant": "full", **kwargs})


@register_model("mmnet_bdlstm", tiny={**_TINY_CNN, "memory": 4, "window": 2, "feature_units": 32})
def mmnet_bdlstm(**kwargs) -> keras.Model:
    """MM-Net memory network: CRU-Net-56-tiny per frame -> BDLSTM C=250 over stride-1 windows of L=11 -> averaged
    valence/arousal (Li 2017, section 2; Tables 3-4)."""
    return MemoryNetwork(**{"frame_input": "image", **kwargs})


def image_model(cnn, memory_network: keras.Model, face_size: int | None = None) -> keras.Model:
    """The trained BDLSTM with its CRU-Net in front (issue #15 item 7): a :class:`MemoryNetwork` with
    ``frame_input="image"`` built from ``memory_network``'s config (trained on the cached ``"features"`` of
    ``cnn``), the CNN's layers up to ``"features"`` copied from ``cnn`` and the BDLSTM and FC from
    ``memory_network``, by layer name; ``cnn`` a list of CNNs for features concatenated in that order ("FT + No
    FT", Table 3). Its input is the CNN's crops (``image_size``), or whole faces of ``face_size`` with the centre
    crop cut inside (see :class:`MemoryNetwork`); the stride-1 window averaging stays inside (section 2).
    :class:`ConfigError` when the parts do not fit together."""
    config = dict(memory_network.get_config())
    if not isinstance(memory_network, MemoryNetwork) or config.get("frame_input") != "features":
        raise ConfigError(f"an MM-Net image model needs a MemoryNetwork trained on features, got "
                          f"{type(memory_network).__name__} {memory_network.name!r}")
    cnns = list(cnn) if isinstance(cnn, (list, tuple)) else [cnn]
    for one in cnns:
        cnn_config = one.get_config()
        different = [key for key in ("variant", "image_size", "width_divisor", "units")
                     if key in cnn_config and cnn_config[key] != config[key]]
        if different:
            raise ConfigError(f"the CNN {one.name!r} and the memory network were built for different CNNs "
                              f"({', '.join(different)})")
    keys = ("memory", "window", "feature_units", "variant", "image_size", "width_divisor", "units", "bn_momentum",
            "use_cudnn")
    model = MemoryNetwork(frame_input="image", cnns=len(cnns), face_size=face_size,
                          **{key: config[key] for key in keys})
    for index, one in enumerate(cnns):
        for layer in model.get_layer("cnn_features" + (f"_{index}" if index else "")).layers:
            if layer.weights:
                layer.set_weights(one.get_layer(layer.name).get_weights())
    for name in ("bdlstm", "va_fc"):
        model.get_layer(name).set_weights(memory_network.get_layer(name).get_weights())
    return model
