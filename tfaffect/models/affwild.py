"""The Kollias 2019 CNN-only regressors (section 4.2.1.1-4.2.1.2, Tables 7 and 9) and AffWildNet (CNN-RNN, Table 8).

Both take raw uint8 RGB crops and scale them ``(x - 128) / 128`` inside the model (original code,
FORMATS.md "Aff-Wild"); the default input side is 96 (original code; the paper names 224 and 96,
section 3.3). Optional 68x2 landmarks (``landmarks=True``, scenario 2 of section 4.2) are
concatenated with the conv features as inputs to the first FC layer (section 4.2.1.2, Table 8).
Outputs are linear (no tanh, original code), index 0 valence, 1 arousal.

Choices the paper leaves open:

- Dropout (probability 0.5, section 4.2.1) follows every hidden layer except the last one before
  the output. That is exactly Table 8 for AffWildNet (after FC 1 and RNN layer 1, not after RNN
  layer 2) and the original CNN-only code (dkollias/Aff-Wild-models ``vggface/*.py``: dropout after
  the first FC layer only).
- Initialisers of the FC and recurrent layers are not given for these models (only for the CNN-M
  baseline, section 4.1.1): Keras defaults (Glorot-uniform kernels, zero biases), which keep the
  initial outputs small.
"""

from __future__ import annotations

import os

import keras

from tfaffect.errors import ConfigError
from tfaffect.models.backbones import BACKBONES, build_backbone
from tfaffect.models.layers import (PACKAGE, ConfigurableModel, FoldTime, PeepholeLSTMCell, StandardizeLandmarks,
                                    UnfoldTime, scale_uint8_to_unit_range)
from tfaffect.models.registry import register_model

DEFAULT_IMAGE_SIZE = 96  # original AffWildNet code: 96x96x3 inputs (FORMATS.md "Aff-Wild")
NUM_LANDMARKS = 68  # Kollias 2019, section 4.2.1.2: "the 68 landmark 2-D positions (68x2 values)"
DROPOUT = 0.5  # Kollias 2019, section 4.2.1: "The dropout probability value was 0.5"

CNN_FC_UNITS = {
    "vgg16": (4096, 2048),  # Kollias 2019, Table 7, blocks 6-7
    "vggface": (4096, 2048),  # Kollias 2019, Table 7, blocks 6-7
    "resnet50": (1500, 256),  # Kollias 2019, section 4.2.1.1
}
"""Hidden FC layers of the CNN-only models per backbone (the output FC 2 follows)."""

RNN_FC_UNITS = {
    "vgg16": (4096,),  # Kollias 2019, Table 8, block 2 (VGG variant)
    "vggface": (4096,),  # Kollias 2019, Table 8, block 2
    "resnet50": (1500,),  # Kollias 2019, Table 8, block 2 (ResNet-50 variant)
}
"""FC layers between the conv part and the RNN of AffWildNet per backbone. The released ResNet-GRU
has none (dkollias/Aff-Wild-models ``affwildnet/resnet-gru``): pass ``fc_units=()`` for it."""

CELLS = ("gru", "lstm")


def _check_common(backbone: str, fc_units, dropout: float) -> tuple[int, ...]:
    """Validate the arguments both families share; return ``fc_units`` as a tuple of ints."""
    if backbone not in BACKBONES:
        raise ConfigError(f"unknown backbone {backbone!r}; expected one of {', '.join(BACKBONES)}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
    units = tuple(int(u) for u in fc_units)
    if any(u < 1 for u in units):
        raise ConfigError(f"fc_units must be positive, got {list(units)}")
    return units


def _image_features(image, backbone: str, image_size: int, backbone_weights):
    """uint8 frames ``[N, S, S, 3]`` -> conv features ``[N, F]`` (scaled inside, then the backbone)."""
    x = scale_uint8_to_unit_range()(image)
    return build_backbone(backbone, image_size, backbone_weights)(x)


def _landmark_features(points, landmark_stats):
    """Flattened landmarks ``[..., 136]``, standardized per coordinate when ``landmark_stats`` is given."""
    if landmark_stats is None:
        return points
    mean, std = landmark_stats
    return StandardizeLandmarks(mean, std, name="landmarks_standardized")(points)


def _check_landmark_stats(landmark_stats, landmarks: bool):
    """``None`` or ``[mean, std]`` as two lists of 136 floats (only with ``landmarks``)."""
    if landmark_stats is None:
        return None
    if not landmarks:
        raise ConfigError("landmark_stats applies to models with landmarks=True")
    mean, std = landmark_stats
    mean, std = [float(v) for v in mean], [float(v) for v in std]
    if len(mean) != 2 * NUM_LANDMARKS or len(std) != 2 * NUM_LANDMARKS or min(std) <= 0:
        raise ConfigError(f"landmark_stats must be [mean, std] of {2 * NUM_LANDMARKS} coordinates each, std > 0")
    return [mean, std]


def _dense_stack(x, units: tuple[int, ...], dropout: float, dropout_after_last: bool):
    """FC layers ``fc1, fc2, ...`` with ReLU (section 4.2.1.2), each followed by dropout except possibly the last."""
    for index, width in enumerate(units, start=1):
        x = keras.layers.Dense(width, activation="relu", name=f"fc{index}")(x)
        if dropout > 0 and (index < len(units) or dropout_after_last):
            x = keras.layers.Dropout(dropout, name=f"fc{index}_dropout")(x)
    return x


@keras.saving.register_keras_serializable(package=PACKAGE)
class AffWildCNN(ConfigurableModel):
    """CNN-only valence/arousal regressor: frames ``{"image": uint8 [B, S, S, 3]}`` (+ ``"landmarks"`` [B, 68, 2]) -> ``{"va": [B, 2]}``.

    Conv part (``backbone``) -> [landmarks concatenated] -> FC ``fc_units`` (ReLU, dropout after all
    but the last) -> FC 2 linear. Defaults: VGG-Face / VGG-16 FC 4096 -> 2048 (Table 7), ResNet-50
    FC 1500 -> 256 (section 4.2.1.1).

    Args:
        backbone: "vggface" (best in Table 9), "vgg16" or "resnet50".
        image_size: input side S (96).
        fc_units: hidden FC widths; ``None`` = the paper's for the backbone (:data:`CNN_FC_UNITS`).
        landmarks: also take ``"landmarks"`` float32 [B, 68, 2] (Table 10 "with landmarks").
        dropout: dropout probability (0.5, section 4.2.1).
        landmark_stats: ``None`` (the positions as given) or ``[mean, std]`` of the 136 coordinates over
            the training data: the positions are standardized inside the model
            (:class:`~tfaffect.models.layers.StandardizeLandmarks`). The paper does not say how the
            positions are scaled (section 4.2.1.2); see ``tfaffect.training.affwild`` for the measured
            reason the recipes standardize them.
        backbone_weights: ``None``, ``"imagenet"`` (Keras cache, never downloaded) or a local file
            path, see :mod:`tfaffect.models.backbones`. Not recorded in ``get_config``: the weights
            travel in the saved model, and a re-built model must not depend on that file.
    """

    def __init__(self, backbone: str = "vggface", image_size: int = DEFAULT_IMAGE_SIZE,
                 fc_units=None, landmarks: bool = False, dropout: float = DROPOUT, landmark_stats=None,
                 backbone_weights: str | os.PathLike | None = None, **kwargs):
        image_size = int(image_size)
        landmark_stats = _check_landmark_stats(landmark_stats, landmarks)
        fc_units = _check_common(backbone, CNN_FC_UNITS.get(backbone, ()) if fc_units is None
                                 else fc_units, dropout)
        image = keras.Input(shape=(image_size, image_size, 3), dtype="uint8", name="image")
        inputs = {"image": image}
        x = _image_features(image, backbone, image_size, backbone_weights)
        if landmarks:
            inputs["landmarks"] = keras.Input(shape=(NUM_LANDMARKS, 2), dtype="float32", name="landmarks")
            points = _landmark_features(keras.layers.Flatten(name="landmarks_flat")(inputs["landmarks"]),
                                        landmark_stats)
            x = keras.layers.Concatenate(name="features_landmarks")([x, points])
        x = _dense_stack(x, fc_units, float(dropout), dropout_after_last=False)
        va = keras.layers.Dense(2, name="va")(x)  # Table 7, block 8: fully connected 3, 2 units, linear
        kwargs.setdefault("name", f"{backbone}_cnn")
        config = {"backbone": backbone, "image_size": image_size, "fc_units": list(fc_units),
                  "landmarks": bool(landmarks), "dropout": float(dropout), "landmark_stats": landmark_stats,
                  "backbone_weights": None}
        super().__init__(inputs, {"va": va}, config, **kwargs)


def recurrent_layer(cell: str, units: int, *, peepholes: bool = True, reset_after: bool = True,
                    use_cudnn="auto", name: str | None = None) -> keras.layers.Layer:
    """One sequence-to-sequence recurrent layer ``[B, T, D] -> [B, T, units]``.

    ``cell="gru"``: ``keras.layers.GRU``; ``reset_after=True`` is Keras's (cuDNN-compatible)
    variant, ``False`` the original formulation of TF1's ``GRUCell`` used by the released code.
    ``cell="lstm"``: with ``peepholes=True`` (section 4.2.1.3) a :class:`PeepholeLSTMCell` in
    ``keras.layers.RNN`` (no cuDNN kernel exists for it), else ``keras.layers.LSTM``.
    ``use_cudnn`` ("auto" | True | False) is passed to GRU / LSTM; export passes False.
    """
    if cell == "gru":
        return keras.layers.GRU(units, return_sequences=True, reset_after=reset_after, use_cudnn=use_cudnn,
                                name=name)
    if cell == "lstm":
        if peepholes:
            return keras.layers.RNN(PeepholeLSTMCell(units), return_sequences=True, name=name)
        return keras.layers.LSTM(units, return_sequences=True, use_cudnn=use_cudnn, name=name)
    raise ConfigError(f"unknown cell {cell!r}; expected one of {', '.join(CELLS)}")


@keras.saving.register_keras_serializable(package=PACKAGE)
class AffWildNet(ConfigurableModel):
    """AffWildNet (Kollias 2019, Table 8): ``{"image": uint8 [B, T, S, S, 3]}`` (+ ``"landmarks"`` [B, T, 68, 2]) -> ``{"va": [B, T, 2]}``.

    The B*T frames go through the conv part at once (time folded into the batch with reshapes,
    never ``TimeDistributed``), then per frame: [landmarks concatenated] -> FC ``fc_units`` + ReLU +
    dropout -> ``num_layers`` recurrent layers of ``units`` (dropout between them) -> FC 2 linear.
    ``T`` may differ between calls (the input's time axis is ``None``).

    Args:
        backbone: "vggface" (AffWildNet), "vgg16" or "resnet50" (Table 8 names VGG Face and ResNet-50).
        cell: "gru" (best, Table 12) or "lstm".
        num_layers: recurrent layers, 2 (Tables 8, 14; 1 also in Table 14).
        units: units per recurrent layer, 128 (Tables 8, 14; 100 and 150 also in Table 14).
        fc_units: FC widths before the RNN; ``None`` = 4096 for VGG, 1500 for ResNet-50
            (:data:`RNN_FC_UNITS`, Table 8); ``()`` = none (the released ResNet-GRU code).
        landmarks: also take ``"landmarks"`` float32 [B, T, 68, 2] (scenario 2, Table 8 caption).
        dropout: dropout probability (0.5, section 4.2.1).
        image_size: input side S (96, original code).
        peepholes: LSTM with peephole connections (section 4.2.1.3); ignored for GRU.
        reset_after: GRU variant (see :func:`recurrent_layer`); ignored for LSTM.
        use_cudnn: passed to the GRU / LSTM layers ("auto"); export passes False.
        landmark_stats: as :class:`AffWildCNN`.
        backbone_weights: as :class:`AffWildCNN` (not recorded in ``get_config``).
    """

    def __init__(self, backbone: str = "vggface", cell: str = "gru", num_layers: int = 2, units: int = 128,
                 fc_units=None, landmarks: bool = False, dropout: float = DROPOUT,
                 image_size: int = DEFAULT_IMAGE_SIZE, peepholes: bool = True, reset_after: bool = True,
                 use_cudnn="auto", landmark_stats=None, backbone_weights: str | os.PathLike | None = None,
                 **kwargs):
        image_size, num_layers, units = int(image_size), int(num_layers), int(units)
        landmark_stats = _check_landmark_stats(landmark_stats, landmarks)
        fc_units = _check_common(backbone, RNN_FC_UNITS.get(backbone, ()) if fc_units is None
                                 else fc_units, dropout)
        if cell not in CELLS:
            raise ConfigError(f"unknown cell {cell!r}; expected one of {', '.join(CELLS)}")
        if num_layers < 1 or units < 1:
            raise ConfigError(f"num_layers and units must be positive, got {num_layers} and {units}")
        if use_cudnn not in ("auto", True, False):
            raise ConfigError(f"use_cudnn must be 'auto', True or False, got {use_cudnn!r}")
        dropout = float(dropout)

        image = keras.Input(shape=(None, image_size, image_size, 3), dtype="uint8", name="image")
        inputs = {"image": image}
        frames = FoldTime(name="fold_time")(image)
        features = _image_features(frames, backbone, image_size, backbone_weights)
        x = UnfoldTime(name="unfold_time")([features, image])
        if landmarks:
            inputs["landmarks"] = keras.Input(shape=(None, NUM_LANDMARKS, 2), dtype="float32", name="landmarks")
            points = _landmark_features(keras.layers.Reshape((-1, 2 * NUM_LANDMARKS), name="landmarks_flat")(
                inputs["landmarks"]), landmark_stats)
            x = keras.layers.Concatenate(name="features_landmarks")([x, points])
        x = _dense_stack(x, fc_units, dropout, dropout_after_last=True)  # Table 8, block 2: FC 1 + dropout
        for index in range(1, num_layers + 1):  # Table 8, blocks 3-4: RNN layer 1 + dropout, RNN layer 2
            x = recurrent_layer(cell, units, peepholes=peepholes, reset_after=reset_after, use_cudnn=use_cudnn,
                                name=f"rnn{index}")(x)
            if dropout > 0 and index < num_layers:
                x = keras.layers.Dropout(dropout, name=f"rnn{index}_dropout")(x)
        va = keras.layers.Dense(2, name="va")(x)  # Table 8, block 5: fully connected 2, 2 units, linear
        kwargs.setdefault("name", f"affwildnet_{backbone}_{cell}")
        config = {"backbone": backbone, "cell": cell, "num_layers": num_layers, "units": units,
                  "fc_units": list(fc_units), "landmarks": bool(landmarks), "dropout": dropout,
                  "image_size": image_size, "peepholes": bool(peepholes), "reset_after": bool(reset_after),
                  "use_cudnn": use_cudnn, "landmark_stats": landmark_stats, "backbone_weights": None}
        super().__init__(inputs, {"va": va}, config, **kwargs)


# --------------------------------------------------------------------------------------------------
# Published architectures. Tiny: 32x32 is the smallest input keras.applications accepts; narrow FC / RNN.

_TINY_CNN = {"image_size": 32, "fc_units": (16, 8)}
_TINY_RNN = {"image_size": 32, "fc_units": (16,), "units": 8}


@register_model("vgg16_cnn", tiny=_TINY_CNN)
def vgg16_cnn(**kwargs) -> keras.Model:
    """VGG-16 conv part + FC 4096 -> 2048 -> 2 (Kollias 2019, Table 7; Table 9 row VGG-16)."""
    return AffWildCNN(backbone="vgg16", **kwargs)


@register_model("vggface_cnn", tiny=_TINY_CNN)
def vggface_cnn(**kwargs) -> keras.Model:
    """VGG-Face conv part + FC 4096 -> 2048 -> 2 (Kollias 2019, Table 7; Tables 9-10 row VGG Face)."""
    return AffWildCNN(backbone="vggface", **kwargs)


@register_model("resnet50_cnn", tiny=_TINY_CNN)
def resnet50_cnn(**kwargs) -> keras.Model:
    """ResNet-50 conv part + FC 1500 -> 256 -> 2 (Kollias 2019, section 4.2.1.1; Table 9 row ResNet-50)."""
    return AffWildCNN(backbone="resnet50", **kwargs)


@register_model("affwildnet_vggface_gru", tiny=_TINY_RNN)
def affwildnet_vggface_gru(**kwargs) -> keras.Model:
    """AffWildNet: VGG-Face conv -> FC 4096 -> 2x GRU 128 -> FC 2 (Kollias 2019, Table 8; Tables 12-14)."""
    return AffWildNet(backbone="vggface", cell="gru", **kwargs)


@register_model("affwildnet_vggface_lstm", tiny=_TINY_RNN)
def affwildnet_vggface_lstm(**kwargs) -> keras.Model:
    """CNN-LSTM: VGG-Face conv -> FC 4096 -> 2x peephole LSTM 128 -> FC 2 (Kollias 2019, Table 12 row CNN-LSTM)."""
    return AffWildNet(backbone="vggface", cell="lstm", **kwargs)


@register_model("affwildnet_resnet50_gru", tiny=_TINY_RNN)
def affwildnet_resnet50_gru(**kwargs) -> keras.Model:
    """AffWildNet on ResNet-50: conv -> FC 1500 -> 2x GRU 128 -> FC 2 (Kollias 2019, Table 8, ResNet-50 variant)."""
    return AffWildNet(backbone="resnet50", cell="gru", **kwargs)
