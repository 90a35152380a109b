"""The Kahou et al. 2015 (EmotiW 2015) visual models: frame CNN, IRNN over its features, k-average pooling, the
activity model's synchrony autoencoder.

The pieces, ``keras`` / ``keras.ops`` only (they run under ``KERAS_BACKEND=jax``), plus NumPy functions:

:class:`KahouFrameCNN` (section 2.1)
    ``{"image": uint8 RGB [N, S, S, 3]}`` -> ``{"expression": [N, 7]}``. Inside the model: grey level
    (:class:`GreyEqualize`, OpenCV's BT.601 fixed-point conversion) and per-image histogram equalisation
    (section 2.1.2, "we applied histogram equalization"; the result equals OpenCV's ``equalizeHist``),
    then per-pixel standardisation with the mean and standard deviation images of the training images
    (:class:`PixelStandardize`, section 2.1.2: "dataset normalization with the mean and standard
    deviation image"; set by the training code, stored as weights so a saved model carries them). Then
    three blocks conv -> 2x2 max pool -> ReLU -> dropout 0.25 with 32@9x9, 32@5x5 and 64@5x5 filters
    (section 2.1.3: "increased the filter size from 5 to 9 and reduced the number of filters from
    64-64-128 to 32-32-64", dropout 0.25; the released code saebrahimi/Emotion-Recognition-RNN fixes
    9x9 for the first layer only and 5x5 for the others, pad 4 on the first), then one dense layer to 7
    logits (``"logits"``, the pre-softmax outputs section 2.3 pools) and a softmax (``"expression"``).
    The input is the 44x44 crop of the 48x48 face (released code: random 44x44 crops in training, the
    centre crop at test; the data pipeline cuts it, ``crop=44``).

:class:`IRNN` (section 2.2)
    A simple RNN of ReLU units, ``h_t = relu(W_in x_t + W_rec h_{t-1})`` (eq. 1, no hidden bias), with
    ``W_rec`` initialised to the identity (Le, Jaitly & Hinton 2015, the paper's [24]), ``W_in`` from
    N(0, 0.001) and a zero initial state (released code). Masked steps (``keras.layers.Masking``) keep
    the previous state, so the last output of a padded clip is its last valid frame's.

:class:`KahouCNNIRNN` (sections 2.1-2.2, Fig. 1)
    Per frame: the frame CNN up to its second block, 2x2-pooled and ReLU'd (section 2.2: "the output of
    the second convolutional layer after max pooling"; 32 x 11 x 11 = 3,872 values at 44x44, layer
    ``"relu2"``), flattened; an :class:`IRNN` of 200 units over the frames; a dense softmax layer at every
    step (``"expression"`` ``[B, T, 7]``: the running prediction; the clip's is the last step's, section
    2.2: "using the last time-step softmax output as class prediction"). Output weights U(-0.01, 0.01)
    (released code). ``frame_input="features"`` starts after the CNN: ``{"conv2": float32 [B, T, 3872]}``
    as read from the per-frame feature cache, all-zero vectors marking padding frames (masked).
    :func:`clip_model` puts a trained frame CNN and an IRNN trained on its features together as one model from
    frames (what ``tfaffect export`` serves, with the centre crop inside).

:func:`k_average_pool` (section 2.3)
    A clip's per-frame vectors ``[T, D]`` -> ``k`` bin averages, ``[k * D]``.

:class:`SynchronyAutoencoder` (section 4, the activity model)
    Whitened, flattened 16x16x10 grey video blocks (:func:`video_blocks`) -> their reconstruction and the
    synchrony units' codes (:class:`SynchronyCoding`, Konda et al.'s SAE, the paper's [20]); a clip's codes are
    quantised by k-means and counted (:func:`bag_of_words`) for an SVM (``tfaffect/training/kahou.py``).

Choices neither the paper nor the issue's facts from the released code fix (each marked "chosen" below):
conv padding of the 5x5 layers ("same", pad 2: the only one that gives the paper's 11x11 after the second
pool of a 44x44 input), pooling that drops a trailing odd row/column (5x5 after the third pool), biases in
every conv and dense layer (initialised to zero), the hidden-to-output bias of the IRNN (zero at init) and
the default of :class:`PixelStandardize` before it is set (the moments of uniform grey levels, which
histogram equalisation approaches).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from tfaffect import EXPRESSIONS_7
from tfaffect.errors import ConfigError
from tfaffect.models.layers import PACKAGE, ConfigurableModel, FoldTime, UnfoldTime
from tfaffect.models.registry import register_model

NUM_CLASSES = len(EXPRESSIONS_7)  # section 1: angry, disgust, fear, happy, sad, surprise, neutral
FACE_SIZE = 48  # section 2.1.2: faces aligned to FER2013's 48x48 (issue #16 item 1, released code)
CROP_SIZE = 44  # released code: random 44x44 crops in training, centre crop at test (issue #16 item 1)
FILTERS = (32, 32, 64)  # section 2.1.3: "reduced the number of filters from 64-64-128 to 32-32-64"
KERNELS = (9, 5, 5)  # section 2.1.3: filter size 9; released code: 9x9 (pad 4), then 5x5, 5x5
POOL = 2  # released code: 2x2 max pooling after every conv layer (FORMATS.md "AFEW / EmotiW")
DROPOUT = 0.25  # section 2.1.3: "dropout (with rate 0.25)"
FEATURE_LAYER = "relu2"  # section 2.2: second conv layer after max pooling (ReLU and max pooling commute)
IRNN_UNITS = 200  # released code: 200 ReLU hidden units (issue #16 item 2)
IRNN_INPUT_STDDEV = 0.001  # released code: input weights N(0, 0.001) (read as the standard deviation)
OUTPUT_LIMIT = 0.01  # released code: output weights U(-0.01, 0.01)
K_BINS = 15  # section 2.3: "Heuristically, we selected k = 15"
GREY_LEVELS = 256
UNIFORM_MEAN = 127.5  # chosen: mean of uniform grey levels 0..255 (histogram equalisation approaches them)
UNIFORM_STD = 255.0 / math.sqrt(12.0)  # chosen: standard deviation of a uniform distribution over [0, 255]
FRAME_INPUTS = ("image", "features")


# --------------------------------------------------------------------------------------------------
# Preprocessing layers

@keras.saving.register_keras_serializable(package=PACKAGE)
class GreyEqualize(keras.layers.Layer):
    """uint8 RGB ``[N, H, W, 3]`` -> float ``[N, H, W, 1]``: grey level, then histogram equalisation per image.

    Grey: ``(9798 R + 19235 G + 3735 B + 16384) >> 15``, OpenCV 4's fixed-point BT.601 ``COLOR_RGB2GRAY``
    (0.299, 0.587, 0.114 in 15-bit fixed point; equal to ``cv2.cvtColor`` on every pixel of a test image).
    Equalisation: OpenCV's ``equalizeHist`` (section 2.1.2): with ``c(v)`` the number of pixels <= v and
    ``c0`` the count of the darkest level, ``v -> round((c(v) - c0) * 255 / (H W - c0))``; an image of one
    grey level is left as it is. The histogram is the joint histogram of the high and low 4 bits (two
    16-wide one-hot codes contracted), so memory grows with 32 per pixel rather than 256, and nothing
    needs a value-dependent shape (JAX).
    """

    def call(self, inputs):
        rgb = ops.cast(inputs, "int32")
        grey = (rgb[..., 0] * 9798 + rgb[..., 1] * 19235 + rgb[..., 2] * 3735 + 16384) // 32768
        height, width = int(inputs.shape[1]), int(inputs.shape[2])  # static: the model's input side
        pixels = height * width
        flat = ops.reshape(grey, (-1, pixels))
        high = ops.one_hot(flat // 16, 16, dtype="float32")
        low = ops.one_hot(flat % 16, 16, dtype="float32")
        hist = ops.reshape(ops.einsum("npa,npb->nab", high, low), (-1, GREY_LEVELS))
        cdf = ops.cumsum(hist, axis=1)
        darkest = ops.take_along_axis(hist, ops.min(flat, axis=1, keepdims=True), axis=1)
        below = ops.take_along_axis(cdf, flat, axis=1) - darkest
        scale = 255.0 / ops.maximum(float(pixels) - darkest, 1.0)
        equalised = ops.round(below * scale)
        constant = ops.equal(darkest, float(pixels))
        out = ops.where(constant, ops.cast(flat, "float32"), equalised)
        return ops.cast(ops.reshape(out, (-1, height, width, 1)), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (1,)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelStandardize(keras.layers.Layer):
    """``[N, H, W, 1]`` -> ``(x - mean) / std`` with per-pixel ``mean`` and ``std`` images (non-trainable weights).

    Section 2.1.2: "dataset normalization with the mean and standard deviation image" of the training
    images. :meth:`set_statistics` sets them (the training code, from its training frames); they are
    weights, so a saved or exported model takes raw frames. Until set: the moments of uniform grey levels
    (chosen; histogram-equalised images have roughly uniform grey levels).
    """

    def build(self, input_shape):
        shape = tuple(input_shape[1:])
        self.mean = self.add_weight(shape=shape, initializer=keras.initializers.Constant(UNIFORM_MEAN),
                                    trainable=False, name="mean")
        self.std = self.add_weight(shape=shape, initializer=keras.initializers.Constant(UNIFORM_STD),
                                   trainable=False, name="std")

    def set_statistics(self, mean, std, floor: float = 1.0) -> None:
        """Set the mean and standard deviation images; ``std`` is floored at ``floor`` grey level (a pixel with
        the same value in every training image would divide by zero; 1 grey level chosen)."""
        mean = np.asarray(mean, np.float32).reshape(self.mean.shape)
        std = np.maximum(np.asarray(std, np.float32).reshape(self.std.shape), floor)
        self.mean.assign(mean)
        self.std.assign(std)

    def call(self, inputs):
        return (inputs - ops.cast(self.mean, inputs.dtype)) / ops.cast(self.std, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


# --------------------------------------------------------------------------------------------------
# IRNN

@keras.saving.register_keras_serializable(package=PACKAGE)
class IRNNCell(keras.layers.Layer):
    """One step of the IRNN, for ``keras.layers.RNN``: ``h_t = relu(x_t W_in + h_{t-1} W_rec [+ b])``.

    ``W_rec`` starts as the identity (Le et al. 2015), ``W_in`` from N(0, ``input_stddev``); ``b`` exists only
    with ``use_bias`` (eq. 1 has none; the released code: "no hidden bias") and starts at zero.
    """

    def __init__(self, units: int, input_stddev: float = IRNN_INPUT_STDDEV, use_bias: bool = False,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.input_stddev = float(input_stddev)
        self.use_bias = bool(use_bias)
        self.seed = seed
        self.state_size = self.units
        self.output_size = self.units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel",
                                      initializer=keras.initializers.RandomNormal(0.0, self.input_stddev,
                                                                                  seed=self.seed))
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel",
                                                initializer=keras.initializers.Identity())
        self.bias = self.add_weight(shape=(self.units,), name="bias", initializer="zeros") if self.use_bias else None

    def call(self, inputs, states, training=False):
        previous = states[0] if isinstance(states, (list, tuple)) else states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(previous, self.recurrent_kernel)
        if self.bias is not None:
            z = z + self.bias
        h = ops.relu(z)
        return h, [h]

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "input_stddev": self.input_stddev,
                "use_bias": self.use_bias, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class IRNN(keras.layers.RNN):
    """The IRNN of section 2.2 as a Keras layer: ``[B, T, D]`` -> ``[B, T, units]`` (or ``[B, units]``).

    :class:`IRNNCell` under ``keras.layers.RNN`` (zero initial state; masked steps keep the state). Args:
    ``units`` (200, released code), ``input_stddev`` (0.001, released code), ``use_bias`` (False: eq. 1),
    ``return_sequences`` (True: the running prediction at every frame), ``seed`` of the input weights.
    """

    def __init__(self, units: int = IRNN_UNITS, input_stddev: float = IRNN_INPUT_STDDEV, use_bias: bool = False,
                 return_sequences: bool = True, seed: int | None = None, **kwargs):
        kwargs.pop("cell", None)
        cell = IRNNCell(units, input_stddev=input_stddev, use_bias=use_bias, seed=seed, name="irnn_cell")
        super().__init__(cell, return_sequences=return_sequences, **kwargs)

    @property
    def units(self) -> int:
        return self.cell.units

    def compute_mask(self, inputs, mask=None):
        # A masked step holds the state, so its output repeats the last valid frame's: nothing downstream needs the
        # mask (the loss weights pick the frames), and Keras's layers after it (Softmax) would mis-broadcast it.
        return None

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("cell", None)
        for key in ("return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask"):
            config.pop(key, None)
        return {**config, "units": self.cell.units, "input_stddev": self.cell.input_stddev,
                "use_bias": self.cell.use_bias, "seed": self.cell.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# --------------------------------------------------------------------------------------------------
# Models

def _check(image_size, filters, kernels, dropout) -> tuple[int, tuple[int, ...], tuple[int, ...], float]:
    filters, kernels = tuple(int(f) for f in filters), tuple(int(k) for k in kernels)
    if len(filters) != 3 or len(kernels) != 3 or min(filters + kernels) < 1:
        raise ConfigError(f"the Kahou frame CNN has 3 conv layers: filters and kernels need 3 positive ints, got "
                          f"{list(filters)} and {list(kernels)}")
    image_size = int(image_size)
    if image_size < POOL ** 3:
        raise ConfigError(f"the Kahou frame CNN pools 3 times by {POOL}: image_size >= {POOL ** 3} needed, got "
                          f"{image_size}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
    return image_size, filters, kernels, float(dropout)


def _conv_blocks(x, filters, kernels, dropout, blocks: int):
    """``blocks`` blocks conv -> max pool 2 -> ReLU -> dropout (section 2.1.3); layer names conv/pool/relu/dropout<i>.
    Padding "same" (pad (k-1)/2: the released code's pad 4 for 9x9, chosen for 5x5, see the module docstring)."""
    for i in range(blocks):
        x = keras.layers.Conv2D(filters[i], kernels[i], padding="same", name=f"conv{i + 1}")(x)
        x = keras.layers.MaxPooling2D(POOL, name=f"pool{i + 1}")(x)
        x = keras.layers.ReLU(name=f"relu{i + 1}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    return x


def feature_size(image_size: int = CROP_SIZE, filters=FILTERS) -> int:
    """Width of the per-frame IRNN input: the second block's pooled map, ``filters[1] * (S // 4)^2`` (3,872 at 44)."""
    side = int(image_size) // POOL // POOL
    return int(filters[1]) * side * side


@keras.saving.register_keras_serializable(package=PACKAGE)
class KahouFrameCNN(ConfigurableModel):
    """The frame CNN (section 2.1): ``{"image": uint8 [N, S, S, 3]}`` -> ``{"expression": [N, 7]}`` (see the module
    docstring). Layer ``"logits"``: the pre-softmax outputs (section 2.3); ``"relu2"``: the IRNN's input (2.2).

    Args:
        image_size: input side S, the crop (44, released code).
        filters, kernels: the three conv layers (32-32-64, 9-5-5: section 2.1.3, released code).
        dropout: after every block (0.25, section 2.1.3).
    """

    def __init__(self, image_size: int = CROP_SIZE, filters=FILTERS, kernels=KERNELS, dropout: float = DROPOUT,
                 **kwargs):
        image_size, filters, kernels, dropout = _check(image_size, filters, kernels, dropout)
        image = keras.Input(shape=(image_size, image_size, 3), dtype="uint8", name="image")
        x = GreyEqualize(name="grey")(image)
        x = PixelStandardize(name="standardize")(x)
        x = _conv_blocks(x, filters, kernels, dropout, 3)
        x = keras.layers.Flatten(name="flatten")(x)
        logits = keras.layers.Dense(NUM_CLASSES, name="logits")(x)
        expression = keras.layers.Softmax(dtype="float32", name="expression")(logits)
        kwargs.setdefault("name", "kahou_frame_cnn")
        super().__init__({"image": image}, {"expression": expression},
                         {"image_size": image_size, "filters": list(filters), "kernels": list(kernels),
                          "dropout": dropout}, **kwargs)


@keras.saving.register_keras_serializable(package=PACKAGE)
class KahouCNNIRNN(ConfigurableModel):
    """CNN + IRNN (sections 2.1-2.2): clips -> per-frame running expression probabilities ``[B, T, 7]``.

    ``frame_input="image"``: ``{"image": uint8 [B, T, S, S, 3]}``; the frame CNN's grey/equalise/standardise
    and first two blocks (the same layer names as :class:`KahouFrameCNN`, so its weights copy over by name)
    run once per frame (time folded into the batch). ``frame_input="features"``: ``{"conv2": float32 [B, T,
    D]}``, the flattened ``"relu2"`` output per frame (D = :func:`feature_size`), an all-zero vector = a
    padding frame (masked: the state is held). Then :class:`IRNN` (``units``) and Dense 7 softmax per step.

    The clip's prediction is ``"expression"`` at its last valid frame (:attr:`clip_outputs`, what export's
    ``clip`` signature and ``tfaffect predict``'s clips.csv read): the IRNN is causal, so padding after a
    clip's last frame does not change it.

    Args:
        frame_input: ``"image"`` or ``"features"``.
        image_size, filters, kernels, dropout: the frame CNN's (see :class:`KahouFrameCNN`).
        units: IRNN units (200, released code).
        face_size: ``frame_input="image"`` only: the side of the faces the model takes, of which it cuts the
            centre ``image_size`` square itself (released code: the centre 44x44 crop of the 48x48 face at test
            time; layer ``"centre_crop"``); ``None``: the input is the crop (``image_size``).
        features: ``frame_input="features"`` only: the width of the per-frame vectors, for features of another
            frame model (``--frame-model``); ``None``: the frame CNN's, :func:`feature_size`.
    """

    clip_outputs = ("expression",)
    """Outputs whose value at a clip's last valid frame is the clip's prediction (section 2.2)."""

    @property
    def preprocessing(self) -> str:
        """What the model does to its uint8 RGB faces before the CNN (export writes it into metadata.json)."""
        crop = self._init_config.get("face_size")
        size = self._init_config["image_size"]
        first = f"the centre {size}x{size} crop of the {crop}x{crop} face, then " if crop else ""
        return (f"inside the model: {first}grey level (BT.601, OpenCV's fixed point), histogram equalisation per "
                "frame, per-pixel standardisation with the training frames' mean and std images (section 2.1.2)")

    def __init__(self, frame_input: str = "image", image_size: int = CROP_SIZE, filters=FILTERS, kernels=KERNELS,
                 dropout: float = DROPOUT, units: int = IRNN_UNITS, face_size: int | None = None,
                 features: int | None = None, **kwargs):
        image_size, filters, kernels, dropout = _check(image_size, filters, kernels, dropout)
        if frame_input not in FRAME_INPUTS:
            raise ConfigError(f"frame_input must be one of {FRAME_INPUTS}, got {frame_input!r}")
        units = int(units)
        if units < 1:
            raise ConfigError(f"IRNN units must be >= 1, got {units}")
        if face_size is not None:
            face_size = int(face_size)
            if frame_input != "image" or face_size < image_size:
                raise ConfigError(f"face_size ({face_size}) needs frame_input='image' and face_size >= image_size "
                                  f"({image_size})")
        if features is not None:
            features = int(features)
            if frame_input != "features" or features < 1:
                raise ConfigError(f"features ({features}) needs frame_input='features' and a width >= 1")
        if frame_input == "image":
            side = image_size if face_size is None else face_size
            image = keras.Input(shape=(None, side, side, 3), dtype="uint8", name="image")
            inputs = {"image": image}
            x = FoldTime(name="fold_time")(image)
            if side != image_size:  # the pipeline's centre crop: offset (stored - crop) // 2 (data/pipeline.py)
                before = (side - image_size) // 2
                margins = (before, side - image_size - before)
                x = keras.layers.Cropping2D((margins, margins), name="centre_crop")(x)
            x = GreyEqualize(name="grey")(x)
            x = PixelStandardize(name="standardize")(x)
            x = _conv_blocks(x, filters, kernels, dropout, 2)
            x = keras.layers.Flatten(name="flatten")(x)
            x = UnfoldTime(name="unfold_time")([x, image])
        else:
            width = feature_size(image_size, filters) if features is None else features
            vectors = keras.Input(shape=(None, width), dtype="float32", name="conv2")
            inputs = {"conv2": vectors}
            x = keras.layers.Masking(0.0, name="padding")(vectors)
        expression = _irnn_head(x, units)
        kwargs.setdefault("name", "kahou_cnn_irnn")
        super().__init__(inputs, {"expression": expression},
                         {"frame_input": frame_input, "image_size": image_size, "filters": list(filters),
                          "kernels": list(kernels), "dropout": dropout, "units": units, "face_size": face_size,
                          "features": features}, **kwargs)


def _irnn_head(x, units: int):
    """Per-frame vectors ``[B, T, D]`` -> IRNN -> Dense 7 (``"logits"``, output weights U(-0.01, 0.01), released
    code) -> softmax (``"expression"``) at every step."""
    x = IRNN(units, name="irnn")(x)
    output_init = keras.initializers.RandomUniform(-OUTPUT_LIMIT, OUTPUT_LIMIT)  # released code
    x = keras.layers.Dense(NUM_CLASSES, kernel_initializer=output_init, name="logits")(x)
    return keras.layers.Softmax(dtype="float32", name="expression")(x)


@keras.saving.register_keras_serializable(package=PACKAGE)
class FrameModelIRNN(ConfigurableModel):
    """Another frame model in the place of the frame CNN (``--frame-model``, issue #16 item 10): ``{"image": uint8
    [B, T, S, S, 3]}`` -> the frame model's layer ``feature_layer`` per frame, flattened -> :class:`IRNN` -> Dense 7
    softmax per step (``"expression"`` ``[B, T, 7]``, as :class:`KahouCNNIRNN`). The frame model (a ``{"image":
    uint8 [N, S, S, 3]}`` model with its own preprocessing inside, e.g. ``tfaffect convert fer``'s mini-Xception)
    is a nested model (``"frame_model"``), S its input side; its config travels in this model's config.

    Args:
        frame_model: the frame model, or its serialized form (``keras.saving.serialize_keras_object``).
        feature_layer: the name of its layer the IRNN reads.
        units: IRNN units (200, released code).
    """

    clip_outputs = ("expression",)
    """As :attr:`KahouCNNIRNN.clip_outputs`."""

    def __init__(self, frame_model, feature_layer: str, units: int = IRNN_UNITS, **kwargs):
        if isinstance(frame_model, dict):
            frame_model = keras.saving.deserialize_keras_object(frame_model)
        inputs = frame_model.input if isinstance(frame_model.input, dict) else {}
        shape = tuple(inputs["image"].shape) if "image" in inputs else ()
        if len(inputs) != 1 or len(shape) != 4 or shape[-1] != 3 or shape[1] != shape[2] or shape[1] is None:
            raise ConfigError(f"frame model {frame_model.name!r}: needs the one input 'image' [N, S, S, 3], got "
                              f"{ {key: tuple(t.shape) for key, t in inputs.items()} or frame_model.input}")
        try:
            layer = frame_model.get_layer(feature_layer)
        except ValueError:
            raise ConfigError(f"frame model {frame_model.name!r} has no layer {feature_layer!r}") from None
        if int(units) < 1:
            raise ConfigError(f"IRNN units must be >= 1, got {units}")
        self.frame_model = frame_model
        part = keras.Model(frame_model.input, layer.output, name="frame_features")
        image = keras.Input(shape=(None, shape[1], shape[2], 3), dtype="uint8", name="image")
        x = FoldTime(name="fold_time")(image)
        x = part({"image": x})
        x = keras.layers.Flatten(name="flatten")(x)
        x = UnfoldTime(name="unfold_time")([x, image])
        expression = _irnn_head(x, int(units))
        kwargs.setdefault("name", "frame_model_irnn")
        super().__init__({"image": image}, {"expression": expression},
                         {"frame_model": frame_model, "feature_layer": feature_layer, "units": int(units)}, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        return {**config, "frame_model": keras.saving.serialize_keras_object(self.frame_model)}

    @property
    def preprocessing(self) -> str:
        """What export writes into metadata.json: the frame model's own preprocessing."""
        return f"inside the frame model {self.frame_model.name!r} (its own preprocessing of uint8 RGB faces)"


FRAME_CNN_LAYERS = ("standardize", "conv1", "conv2")
"""The frame CNN's layers with weights that :class:`KahouCNNIRNN` runs on images (its first two blocks)."""
IRNN_LAYERS = ("irnn", "logits")
"""The layers with weights the IRNN stage trains (on cached features)."""


def clip_model(frame_cnn: keras.Model, irnn: keras.Model, face_size: int | None = None,
               feature_layer: str | None = None) -> keras.Model:
    """The whole CNN + IRNN from frames (``frame_input="image"``) out of its two trained parts: ``frame_cnn`` (a
    :class:`KahouFrameCNN`, its :data:`FRAME_CNN_LAYERS`) and ``irnn`` (a :class:`KahouCNNIRNN` trained on its
    cached ``relu2`` features, its :data:`IRNN_LAYERS`); weights copied by layer name. ``face_size``: see
    :class:`KahouCNNIRNN`. Another frame model, or any ``feature_layer`` given: a :class:`FrameModelIRNN`
    over its ``feature_layer``. :class:`ConfigError` when the parts do not fit together."""
    config = irnn.get_config()
    if not isinstance(irnn, KahouCNNIRNN):
        raise ConfigError(f"a Kahou clip model needs a KahouCNNIRNN trained on features, got {type(irnn).__name__}")
    if feature_layer is not None or not isinstance(frame_cnn, KahouFrameCNN):
        if feature_layer is None:
            raise ConfigError(f"frame model {frame_cnn.name!r} is not a KahouFrameCNN: name the layer the IRNN read")
        model = FrameModelIRNN(frame_cnn, feature_layer, units=config["units"])
        for name in IRNN_LAYERS:
            model.get_layer(name).set_weights(irnn.get_layer(name).get_weights())
        return model
    cnn_config = frame_cnn.get_config()
    different = [key for key in ("image_size", "filters", "kernels") if cnn_config[key] != config[key]]
    if different:
        raise ConfigError(f"the frame CNN and the IRNN were built for different frames ({', '.join(different)}: "
                          f"{[cnn_config[k] for k in different]} and {[config[k] for k in different]})")
    model = KahouCNNIRNN(frame_input="image", image_size=config["image_size"], filters=config["filters"],
                         kernels=config["kernels"], dropout=config["dropout"], units=config["units"],
                         face_size=face_size)
    for source, names in ((frame_cnn, FRAME_CNN_LAYERS), (irnn, IRNN_LAYERS)):
        for name in names:
            model.get_layer(name).set_weights(source.get_layer(name).get_weights())
    return model


# --------------------------------------------------------------------------------------------------
# Feature-level fusion (sections 5.1, 6.2)

FUSION_INPUTS = {"cnn": 7 * K_BINS, "audio": 10, "rnn": IRNN_UNITS}  # section 6.2: 105-d aggregated CNN, 10 audio PCA
# components, the RNN's last hidden state (200)
FUSION_UNITS = {"cnn": 100, "audio": 10, "rnn": 50}  # section 5.1: "100, 10 and 50 units"
FUSION_COMMON = 70  # section 5.1: "The common hidden layer has 70 units"
FUSION_DROPOUT = 0.3  # released code (issue #16 item 6): dropout 0.3 on the hidden layers
FUSION_PENALTY = 3e-5  # released code: 3e-5 x (L2 + L1 + L2,1) on the first layer's weights


@keras.saving.register_keras_serializable(package=PACKAGE)
class FusionPenalty(keras.regularizers.Regularizer):
    """``strength * (sum W^2 + sum |W| + sum_j ||W[:, j]||_2)`` on a modality layer's kernel ``[inputs, units]``.

    The released code's regulariser of the first fusion layer (issue #16 item 6). The L2,1 term is read here as the
    sum over hidden units of the L2 norm of each unit's incoming weights (chosen: it drives whole units to zero, the
    "sharing similar subsets of hidden units" of section 5.1; the facts quoted from the code do not say which axis).
    """

    def __init__(self, strength: float = FUSION_PENALTY):
        self.strength = float(strength)

    def __call__(self, x):
        l21 = ops.sum(ops.sqrt(ops.sum(ops.square(x), axis=0) + 1e-12))
        return self.strength * (ops.sum(ops.square(x)) + ops.sum(ops.abs(x)) + l21)

    def get_config(self) -> dict:
        return {"strength": self.strength}


def rect_tanh(x):
    """``max(0, tanh(x))``, the fusion network's hidden activation (section 5.1 "RectTanh"; released code)."""
    return ops.relu(ops.tanh(x))


@keras.saving.register_keras_serializable(package=PACKAGE)
class KahouFusionNet(ConfigurableModel):
    """The feature fusion network (Fig. 3, section 5.1): per-modality hidden layers, concatenated, a common hidden
    layer, softmax 7. Inputs ``{modality: float32 [B, width]}``; output ``{"expression": [B, 7]}``.

    Args:
        modalities: which of ``cnn`` (105-d aggregated CNN), ``audio`` (10 PCA components), ``rnn`` (the IRNN's
            last hidden state) are fused, in this order (the paper: all three; without audio features here).
        common_units: 70 (section 5.1). dropout: 0.3 after every hidden layer (released code).
        penalty: strength of :class:`FusionPenalty` on the modality layers' kernels (3e-5, released code).
    """

    def __init__(self, modalities=tuple(FUSION_INPUTS), common_units: int = FUSION_COMMON,
                 dropout: float = FUSION_DROPOUT, penalty: float = FUSION_PENALTY, **kwargs):
        modalities = tuple(str(m) for m in modalities)
        if not modalities or len(set(modalities)) != len(modalities) or set(modalities) - set(FUSION_INPUTS):
            raise ConfigError(f"fusion modalities must be distinct names of {list(FUSION_INPUTS)}, got "
                              f"{list(modalities)}")
        inputs, hidden = {}, []
        for name in modalities:
            inputs[name] = keras.Input(shape=(FUSION_INPUTS[name],), name=name)
            x = keras.layers.Dense(FUSION_UNITS[name], activation=rect_tanh, kernel_regularizer=FusionPenalty(penalty),
                                   name=f"{name}_hidden")(inputs[name])
            hidden.append(keras.layers.Dropout(dropout, name=f"{name}_dropout")(x))
        x = hidden[0] if len(hidden) == 1 else keras.layers.Concatenate(name="modalities")(hidden)
        x = keras.layers.Dense(int(common_units), activation=rect_tanh, name="common")(x)
        x = keras.layers.Dropout(dropout, name="common_dropout")(x)
        expression = keras.layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="expression")(x)
        kwargs.setdefault("name", "kahou_fusion")
        super().__init__(inputs, {"expression": expression},
                         {"modalities": list(modalities), "common_units": int(common_units), "dropout": float(dropout),
                          "penalty": float(penalty)}, **kwargs)


# --------------------------------------------------------------------------------------------------
# Decision-level fusion (section 5.2)

@keras.saving.register_keras_serializable(package=PACKAGE)
class ClassWeightedSum(keras.layers.Layer):
    """``[M]`` lists of class probabilities ``[B, C]`` -> ``[B, C]``: per class c, ``sum_m W[m, c] p_m[:, c]``.

    Section 5.2: "one weight per modality per class and the resulting score for each class is the weighted sum of
    all probabilities for the respective class". ``W`` (``"weights"``, ``[M, C]``) is not trainable: a random
    search sets it (``tfaffect.training.kahou.decision_fusion_search``); it starts at ``1 / M``.
    """

    def build(self, input_shape):
        self.weights_mc = self.add_weight(shape=(len(input_shape), int(input_shape[0][-1])), name="weights",
                                          initializer=keras.initializers.Constant(1.0 / len(input_shape)),
                                          trainable=False)

    def call(self, inputs):
        stacked = ops.stack([ops.cast(x, self.compute_dtype) for x in inputs], axis=1)  # [B, M, C]
        return ops.sum(stacked * ops.cast(self.weights_mc, self.compute_dtype)[None], axis=1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


@keras.saving.register_keras_serializable(package=PACKAGE)
class KahouDecisionFusion(ConfigurableModel):
    """Decision-level fusion (section 5.2): ``{member: float32 [B, 7] class probabilities}`` ->
    ``{"expression": [B, 7]}``, the per-class weighted sum (:class:`ClassWeightedSum`, layer ``"weighted_sum"``). The
    scores need not sum to 1 (each class's weights sum to 1 over the members); the arg-max is the prediction.

    Args:
        members: the member names, in the order of the weight rows.
    """

    def __init__(self, members=("cnn_svm", "rnn", "fusion"), **kwargs):
        members = tuple(str(m) for m in members)
        if not members or len(set(members)) != len(members):
            raise ConfigError(f"decision fusion needs distinct member names, got {list(members)}")
        inputs = {name: keras.Input(shape=(NUM_CLASSES,), name=name) for name in members}
        expression = ClassWeightedSum(dtype="float32", name="weighted_sum")([inputs[name] for name in members])
        kwargs.setdefault("name", "kahou_decision_fusion")
        super().__init__(inputs, {"expression": expression}, {"members": list(members)}, **kwargs)


# --------------------------------------------------------------------------------------------------
# k-average pooling (section 2.3)

def k_average_pool(frames, k: int = K_BINS) -> np.ndarray:
    """A clip's per-frame vectors ``[T, D]`` -> ``[k * D]``: the means of ``k`` consecutive bins, bin-major.

    Bin j (0-based) averages frames ``floor(j T / k)`` up to (excluding) ``max(floor((j + 1) T / k),
    floor(j T / k) + 1)``. With ``T >= k`` the bins split the clip into consecutive pieces of
    ``floor(T / k)`` or ``ceil(T / k)`` frames; with ``T < k`` bin j is frame ``floor(j T / k)``, i.e. every
    frame repeated in place until the clip has k frames (section 2.3: "the frames are locally repeated until
    sequence length is k"). Where the ``T >= k`` bins put their longer pieces is not fixed by the paper
    (chosen: this floor rule). Section 2.3 pools the 7 pre-softmax outputs: ``[7 * 15] = 105`` values.
    """
    frames = np.asarray(frames, np.float64)
    if frames.ndim != 2 or len(frames) == 0:
        raise ConfigError(f"k-average pooling needs per-frame vectors [T >= 1, D], got shape {frames.shape}")
    k = int(k)
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    t = len(frames)
    bins = []
    for j in range(k):
        start = (j * t) // k
        stop = max(((j + 1) * t) // k, start + 1)
        bins.append(frames[start:stop].mean(axis=0))
    return np.concatenate(bins).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Activity (section 4): synchrony autoencoder on 16x16x10 video blocks

ACTIVITY_BLOCK = (10, 16, 16)  # section 4: "3D video blocks of size 16 x 16 x 10 (space x space x time)"
SAE_HIDDEN = 128  # chosen: section 4 does not give the SAE's size; small enough for 2 CPU cores
SAE_INIT_STDDEV = 0.01  # chosen: small random filters (the paper is silent)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SynchronyCoding(keras.layers.Layer):
    """The synchrony autoencoder's coding (Konda, Memisevic & Michalski, "Learning to encode motion using
    spatio-temporal synchrony", the paper's [20]; its equations are not in this project's papers folder: the form
    below is that paper's multi-frame model as we read it, the bias and initialisation are chosen).

    A block ``x`` (the frames of one 3-D block, flattened and whitened, ``[B, D]``) meets ``hidden`` spatio-temporal
    filters ``W [D, H]``: ``f = x W`` sums each filter's responses over the block's frames; the hidden unit detects
    their synchrony multiplicatively, ``h = sigmoid(f * f + b_h)`` (the square of the summed responses holds every
    product of two frames' responses: the "gating" of [20]); the reconstruction goes back through the same
    (tied) filters gated by ``h``: ``x_hat = (h * f) W^T + b_v``. Returns ``(x_hat, h)``."""

    def __init__(self, hidden: int = SAE_HIDDEN, **kwargs):
        super().__init__(**kwargs)
        self.hidden = int(hidden)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.filters = self.add_weight(shape=(dim, self.hidden), name="filters",
                                       initializer=keras.initializers.RandomNormal(stddev=SAE_INIT_STDDEV))
        self.hidden_bias = self.add_weight(shape=(self.hidden,), name="hidden_bias", initializer="zeros")
        self.visible_bias = self.add_weight(shape=(dim,), name="visible_bias", initializer="zeros")

    def call(self, x):
        f = ops.matmul(x, self.filters)
        h = ops.sigmoid(f * f + self.hidden_bias)
        return ops.matmul(h * f, ops.transpose(self.filters)) + self.visible_bias, h

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), (*tuple(input_shape)[:-1], self.hidden)

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SynchronyAutoencoder(ConfigurableModel):
    """Section 4's local motion features: ``{"blocks": float32 [B, D]}`` (whitened, flattened 16x16x10 blocks) ->
    ``{"reconstruction": [B, D], "code": [B, hidden]}`` (:class:`SynchronyCoding`, layer ``"sae"``). Trained on the
    squared reconstruction error of ``"reconstruction"``; ``"code"`` is what the k-means codebook quantises.

    Args:
        input_dim: D, the whitened block's width.
        hidden: the number of synchrony units (:data:`SAE_HIDDEN`, chosen).
    """

    def __init__(self, input_dim: int, hidden: int = SAE_HIDDEN, **kwargs):
        if int(input_dim) < 1 or int(hidden) < 1:
            raise ConfigError(f"the synchrony autoencoder needs input_dim >= 1 and hidden >= 1, got {input_dim}, "
                              f"{hidden}")
        blocks = keras.Input(shape=(int(input_dim),), name="blocks")
        reconstruction, code = SynchronyCoding(int(hidden), name="sae")(blocks)
        kwargs.setdefault("name", "synchrony_autoencoder")
        super().__init__(blocks, {"reconstruction": reconstruction, "code": code},
                         {"input_dim": int(input_dim), "hidden": int(hidden)}, **kwargs)


def video_blocks(frames, block=ACTIVITY_BLOCK, stride=None, *, count: int | None = None, rng=None) -> np.ndarray:
    """Grey frames ``[T, H, W]`` -> blocks ``[N, t, h, w]`` (``block``: 10 x 16 x 16, section 4).

    ``count`` none: the dense grid of blocks with ``stride`` (default: half a block in every axis, chosen), in
    (time, row, column) order. ``count`` given: that many blocks at uniformly random positions (``rng``, a NumPy
    Generator), what the autoencoder trains on (section 4: "trained on cropped 3D video blocks"). A clip shorter than
    ``t`` frames has its last frame repeated up to ``t`` (chosen: every clip gives blocks)."""
    frames = np.asarray(frames, np.float32)
    t, h, w = (int(v) for v in block)
    if frames.ndim != 3 or len(frames) == 0:
        raise ConfigError(f"video blocks need grey frames [T >= 1, H, W], got shape {frames.shape}")
    if frames.shape[1] < h or frames.shape[2] < w:
        raise ConfigError(f"frames of {frames.shape[1]}x{frames.shape[2]} pixels are smaller than a {h}x{w} block")
    if len(frames) < t:
        frames = np.concatenate([frames, np.repeat(frames[-1:], t - len(frames), axis=0)])
    limits = (len(frames) - t, frames.shape[1] - h, frames.shape[2] - w)
    if count is None:
        steps = tuple(max(1, int(v)) for v in (stride or (max(1, t // 2), max(1, h // 2), max(1, w // 2))))
        starts = [(a, b, c) for a in range(0, limits[0] + 1, steps[0]) for b in range(0, limits[1] + 1, steps[1])
                  for c in range(0, limits[2] + 1, steps[2])]
    else:
        rng = rng if rng is not None else np.random.default_rng(0)
        starts = zip(*(rng.integers(0, limit + 1, int(count)) for limit in limits))
    return np.stack([frames[a:a + t, b:b + h, c:c + w] for a, b, c in starts])


def bag_of_words(assignments, k: int) -> np.ndarray:
    """A clip's codeword indices (one per block, k-means quantisation) -> its bag-of-words histogram ``[k]``: the
    share of the clip's blocks assigned to each word (sums to 1; chosen: L1-normalised so clips of different
    lengths compare)."""
    assignments = np.asarray(assignments, np.int64).ravel()
    if len(assignments) == 0 or assignments.min() < 0 or assignments.max() >= k:
        raise ConfigError(f"bag of words: need >= 1 assignment in [0, {k}), got {assignments[:10].tolist()}...")
    return (np.bincount(assignments, minlength=k) / len(assignments)).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Registered architectures. Tiny: 20x20 input (20 -> 10 -> 5 -> 2 after the pools), 4-4-8 filters, 6 units.

_TINY = {"image_size": 20, "filters": (4, 4, 8)}


@register_model("kahou_frame_cnn", tiny=_TINY)
def kahou_frame_cnn(**kwargs) -> keras.Model:
    """Frame CNN 32@9x9-32@5x5-64@5x5 on 44x44 grey faces -> 7 expressions (Kahou 2015, section 2.1)."""
    return KahouFrameCNN(**kwargs)


@register_model("kahou_cnn_irnn", tiny={**_TINY, "units": 6})
def kahou_cnn_irnn(**kwargs) -> keras.Model:
    """CNN conv2 features -> IRNN 200 -> 7 expressions per clip (Kahou 2015, section 2.2; Table 1 "RNN")."""
    return KahouCNNIRNN(**kwargs)
