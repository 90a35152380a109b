"""The Aff-Wild challenge baseline: CNN-M (Chatfield 2014) as in Kollias 2019, section 4.1.1 and Table 4.

Input size: the paper does not give the baseline's input size. Section 3.3 says the face crops
were resized to 224x224x3 "since many of the pre-trained networks ... operate on" that size and
that smaller sizes such as 96x96x3 were also tried. The default here is 96, the size of the
released Aff-Wild models (dkollias/Aff-Wild-models) and of the shared data pipeline; pass
``image_size=224`` for the other size the paper names. At 96 the last pooling output is
3x3x512 = 4608 values; at 224 it is 7x7x512 = 25088.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import keras

from tfaffect.errors import ConfigError, DataError, MissingResourceError
from tfaffect.models.layers import PACKAGE, ConfigurableModel, scale_uint8_to_unit_range
from tfaffect.models.registry import register_model

DEFAULT_IMAGE_SIZE = 96  # original AffWildNet code (FORMATS.md "Aff-Wild"); Kollias 2019 section 3.3 names 224 and 96

# (filters, kernel, stride, padding) of conv 1-5 and (pool size, stride, padding) of the pool after
# it (None: no pool), Kollias 2019, Table 4 (TensorFlow notation: filter [k, k, c_in, c_out],
# strides [1, s, s, 1]).
_CONV_LAYERS = (
    ((96, 7, 2, "valid"), (3, 2, "valid")),   # conv 1 [7, 7, 3, 96]; max pool [1, 3, 3, 1] / 2, 'VALID'
    ((256, 5, 2, "same"), (3, 2, "same")),    # conv 2 [5, 5, 96, 256]; max pool [1, 3, 3, 1] / 2, 'SAME'
    ((512, 3, 1, "same"), None),              # conv 3 [3, 3, 256, 512]
    ((512, 3, 1, "same"), None),              # conv 4 [3, 3, 512, 512]
    ((512, 3, 1, "same"), (2, 2, "same")),    # conv 5 [3, 3, 512, 512]; max pool [1, 2, 2, 1] / 2, 'SAME'
)

# Conv 1 (7x7, VALID, stride 2) followed by pool 1 (3x3, VALID) needs a conv-1 output of at least 3.
MIN_IMAGE_SIZE = 11


FC_INITS = ("paper", "glorot")
"""Initialisations of CNN-M's FC layers: ``"paper"`` (section 4.1.1, :func:`fc_initializers`) or ``"glorot"``
(Keras's default: Glorot-uniform kernels, zero biases; the SynthAffect demo overlay, see
``recipes/cnn_m_baseline.py``)."""


def fc_initializers(fc_init: str = "paper") -> dict:
    """Kernel/bias initialisers of CNN-M's FC layers: truncated normal, mean 0, variance 0.1; biases 1 (section 4.1.1).

    "Variance equal to 0.1" is the variance of the normal before truncation (TF's
    ``truncated_normal(stddev=...)`` convention, re-drawing beyond two standard deviations, as
    ``keras.initializers.TruncatedNormal`` does), so stddev = sqrt(0.1). ``fc_init="glorot"`` gives
    Keras's default instead (Glorot-uniform kernels, zero biases; chosen, not the paper's).
    """
    if fc_init not in FC_INITS:
        raise ConfigError(f"CNN-M fc_init must be one of {FC_INITS}, got {fc_init!r}")
    if fc_init == "glorot":
        return {"kernel_initializer": "glorot_uniform", "bias_initializer": "zeros"}
    return {
        "kernel_initializer": keras.initializers.TruncatedNormal(mean=0.0, stddev=math.sqrt(0.1)),  # section 4.1.1
        "bias_initializer": keras.initializers.Constant(1.0),  # section 4.1.1
    }


@keras.saving.register_keras_serializable(package=PACKAGE)
class CNNM(ConfigurableModel):
    """CNN-M baseline regressor: frames ``{"image": uint8 [B, S, S, 3]}`` -> ``{"va": [B, 2]}`` (0 valence, 1 arousal).

    Layers (Kollias 2019, Table 4): conv -> batch norm -> ReLU for conv 1-5 (the paper: "the
    activation function in the convolutional and batch normalisation layers is the ReLU one"),
    max pooling after conv 1, 2 and 5, then FC ``fc_units`` with ReLU and FC 2 linear, both
    initialised as :func:`fc_initializers`. Inputs are scaled ``(x - 128) / 128`` inside the model.

    Not fixed by the paper: the conv layers have no bias (Table 4 lists only the filter, in
    ``tf.nn.conv2d`` notation, and the paper mentions biases for the FC layers only; batch norm's
    offset makes a conv bias redundant anyway); batch-norm momentum and epsilon are Keras defaults.

    Args:
        image_size: input side S (default 96, see the module docstring).
        fc_units: units of the first FC layer (4096, Table 4).
        fc_init: ``"paper"`` (section 4.1.1) or ``"glorot"`` (Keras's default), see :func:`fc_initializers`.
        bn_momentum: momentum of the batch norms' moving statistics (what inference uses); ``None`` keeps
            Keras's 0.99 (the paper does not give it), which averages the last ~100 steps: a short run
            from random initialisation evaluates with statistics of much older weights (see
            ``recipes/cnn_m_baseline.py``).
    """

    def __init__(self, image_size: int = DEFAULT_IMAGE_SIZE, fc_units: int = 4096, fc_init: str = "paper",
                 bn_momentum: float | None = None, **kwargs):  # Table 4; section 4.1.1
        image_size, fc_units, fc_init = int(image_size), int(fc_units), str(fc_init)
        if image_size < MIN_IMAGE_SIZE:
            raise ConfigError(f"CNN-M needs image_size >= {MIN_IMAGE_SIZE}, got {image_size}")
        if bn_momentum is not None:
            bn_momentum = float(bn_momentum)
            if not 0.0 <= bn_momentum < 1.0:
                raise ConfigError(f"CNN-M bn_momentum must be in [0, 1) or None, got {bn_momentum}")
        norm = {} if bn_momentum is None else {"momentum": bn_momentum}
        image = keras.Input(shape=(image_size, image_size, 3), dtype="uint8", name="image")
        x = scale_uint8_to_unit_range()(image)
        for index, ((filters, kernel, stride, padding), pool) in enumerate(_CONV_LAYERS, start=1):
            x = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False,
                                    name=f"conv{index}")(x)
            x = keras.layers.BatchNormalization(name=f"bn{index}", **norm)(x)
            x = keras.layers.ReLU(name=f"relu{index}")(x)
            if pool is not None:
                size, pool_stride, pool_padding = pool
                x = keras.layers.MaxPooling2D(size, strides=pool_stride, padding=pool_padding,
                                              name=f"pool{index}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(fc_units, activation="relu", name="fc1", **fc_initializers(fc_init))(x)  # Table 4, fc 1
        va = keras.layers.Dense(2, name="va", **fc_initializers(fc_init))(x)  # Table 4, fc 2: linear, 2 units
        kwargs.setdefault("name", "cnn_m")
        super().__init__({"image": image}, {"va": va},
                         {"image_size": image_size, "fc_units": fc_units, "fc_init": fc_init,
                          "bn_momentum": bn_momentum}, **kwargs)


CONV_PART = tuple(f"{kind}{index}" for index in range(1, len(_CONV_LAYERS) + 1) for kind in ("conv", "bn"))
"""The layers the paper transfers from the FaceValue-trained CNN-M ("its convolutional and pooling parts",
section 4.1.1): conv 1-5 and their batch norms (pooling has no weights)."""


def load_conv_part(model: keras.Model, path: str | os.PathLike) -> None:
    """Set ``model``'s :data:`CONV_PART` from the CNN-M saved in ``path`` (a ``.keras`` file: a run's
    ``model.keras`` or any saved :class:`CNNM`, of any input side or FC width).

    The FC layers are not copied (section 4.1.1 transfers the conv and pooling parts). A missing file is a
    :class:`MissingResourceError`, a file without CNN-M's conv part a :class:`DataError`, both naming it.
    (A ``.weights.h5`` is not accepted: Keras 3 stores its layers by class order, not by name.)
    """
    from tfaffect.models.saving import load_model

    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(f"{path}: no such CNN-M model file; pass a CNN-M .keras model (e.g. a run's "
                                   "model.keras) or leave --backbone-weights out to start from random initialisation")
    if path.suffix != ".keras":
        raise DataError("CNN-M conv weights are read from a .keras model (model.save), not from a weights-only "
                        "file", path)
    source = load_model(path)
    missing = [name for name in CONV_PART if name not in {layer.name for layer in source.layers}]
    if missing:
        raise DataError(f"no CNN-M conv part in this model (missing layers {', '.join(missing)})", path)
    try:
        for name in CONV_PART:
            model.get_layer(name).set_weights(source.get_layer(name).get_weights())
    except ValueError as exc:
        raise DataError(f"its CNN-M conv part does not fit this model ({str(exc)[:200]})", path) from None


# Tiny: 32x32 input, narrow FC.
@register_model("cnn_m", tiny={"image_size": 32, "fc_units": 16})
def cnn_m(**kwargs) -> keras.Model:
    """Aff-Wild challenge baseline CNN-M (Kollias 2019, Table 4; results Table 5)."""
    return CNNM(**kwargs)
