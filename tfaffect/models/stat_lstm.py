"""The multi-task STAT + LSTM family of Do, Nguyen-Quynh & Kim 2020 (Fig. 2, sections II.B-II.D, Table I, eq. 4).

Two models, both ``keras`` / ``keras.ops`` only (they run under ``KERAS_BACKEND=jax``):

:class:`FaceFeatureModel` (section II.B)
    uint8 RGB faces ``[N, S, S, 3]`` -> VGGFace2 input convention (RGB -> BGR, minus the BGR mean
    (91.4953, 103.8827, 131.0912), original code, FORMATS.md) -> ResNet-50 conv part, globally
    average-pooled (:func:`~tfaffect.models.backbones.build_backbone`) -> dropout 0.2 -> Dense 2048 +
    ReLU (``"features"``) -> dropout 0.2 -> Dense 7 softmax without bias (``"predictions"``). Outputs
    ``{"features": [N, 2048], "expression": [N, 7]}``. This head is the released fine-tuning model
    (dntai/dntai_fg20_affwild2_challenges, ``models/model_vggface2_ft.py``,
    ``VGGFace2_FineTuning_EmotionRecognition_V0``); the paper says only that the VGGFace2 classifier
    is replaced by a 7-class layer. Everything is frozen except the last ``trainable_stages``
    ResNet stages and the two dense layers (section II.C, see ``trainable_stages``).

:class:`StatLSTMNet` (Fig. 2, section II.C)
    Per frame k: the window of the current frame and the s - 1 previous ones,
    ``F_k, F_{k-1}, .., F_{k-s+1}`` (section II.A; the released data loader returns the block with
    the current frame last, ``dataload_expr_va_frames.py``), edges padded by repeating the first
    frame (FORMATS.md). STAT = max, min and mean over the window of the 7 probability scores and
    (``feature_stats``) of the face features; LSTM = ``lstm_layers`` bidirectional LSTMs over the
    window's probability scores (last layer returns its final state, original ``lstm_blocks``);
    fusion = concatenation ``[STAT(scores), STAT(features), current features, current scores,
    LSTM]`` (the released concatenation order); heads = one classification branch (dense layers +
    softmax 7) and, for the multi-task variants, three regression branches (dense layers + tanh):
    arousal (CCC), valence (CCC) and the 5-vector ``[a, v, m, |a - m|, |v - m|]`` (MSE, section
    II.D). Outputs ``"expression"`` (probabilities), ``"va"`` (index 0 valence, 1 arousal, the
    house order) and ``"va_aux"`` (the 5-vector, arousal first as in the paper).

Efficient temporal computation
    A temporal model takes a clip ``{"image": uint8 [B, T, S, S, 3]}`` and returns per-frame
    predictions ``[B, T, ...]``. The face model runs once per frame (time folded into the batch),
    giving ``[B, T, F]`` features and ``[B, T, 7]`` scores; the causal window of every frame is then
    gathered from those (:class:`CausalWindows`), so the backbone cost per frame does not grow with
    s. The original code instead feeds every window's s frames through the backbone again
    (``TimeDistributed(model_base_pre)(block_input)``), i.e. s + 1 backbone passes per frame. The
    per-window formulation (one label per window, as the original trains) is the same model applied
    to the window clip ``[B, s, ...]``, taking the last frame's output: frame s - 1 of a clip of
    length s sees exactly that clip. With ``frame_input="features"`` the model starts after the face
    model: it takes those ``[B, T, F]`` features and ``[B, T, 7]`` scores directly (e.g. extracted once
    into the per-frame feature cache), the same layers by name from there on (:func:`with_frame_input`).

The six derivation models of Table I are :data:`TABLE_I` / :func:`table1_model`; the loss of eq. 4
is :func:`tfaffect.losses.stat_lstm_losses`, its 5-vector target :func:`tfaffect.losses.five_vector_target`;
the "Fusion" of Tables II and III (the average of the models' outputs) is :func:`average_fusion`.

Choices the paper leaves open (each cites the released code where it fixes them):

- Dense head widths: "two dense layers" without sizes (section II.C); the default is two hidden
  layers of 1024 in every branch, as the released model-2 runs ``submit1/sel_t8.ipynb`` and
  ``sel_t15.ipynb`` (``fc_*_finals = [1024, 1024]``), with dropout 0.1 before each dense layer
  (``fc_*_dropout = [0.1, 0.1, 0.1]``) and ReLU hidden activations (``models/utils.py``). Other
  released runs differ, as their printed summaries show: ``sel_t12.ipynb`` (model 2, the VA
  numbers of Table II row 2) has one hidden layer of 2048 per branch; ``sel_t31.ipynb`` and
  ``sel_t45.ipynb`` (models 4 and 6, exactly Table II rows 4 and 6) one hidden layer of 1024 in the
  classification branch: ``class_units=(1024,)``.
- STAT of the features: the paper's text has STAT take "the probability scores and face features"
  (section II.C); the Fig. 2 caption and the released models 4 and 6 (``EXP_VA_FRAMES_V0``,
  ``EXP_VA_FRAMES_LSTM_V0``) use the scores only: ``feature_stats=()``; the released ``*_V1``
  variants use the features' mean only: ``feature_stats=("mean",)``.
- Frozen part: section II.C freezes all but "the last stage" (ResNet stage conv5): the default
  ``trainable_stages=1``. The released notebooks unfreeze from ``conv4_1_1x1_reduce`` on, i.e. the
  last two stages: ``trainable_stages=2``.
- The image-only models 1 and 2 fuse the current features and scores like the temporal ones
  (Fig. 2); the released ``EXPR_VA_IMAGE_V0`` feeds the features alone (7 fewer inputs per head).
"""

from __future__ import annotations

import logging
import os
import re
import shlex

import keras
from keras import ops

from tfaffect import EXPRESSIONS_7
from tfaffect.errors import ConfigError, MissingResourceError
from tfaffect.models.backbones import build_backbone
from tfaffect.models.keras2_h5 import is_keras2_h5
from tfaffect.models.layers import PACKAGE, ConfigurableModel, FoldTime, UnfoldTime
from tfaffect.models.registry import register_model

logger = logging.getLogger(__name__)

DEFAULT_IMAGE_SIZE = 224  # Do 2020 original code: 224x224 input (FORMATS.md "STAT+LSTM original")
VGGFACE2_BGR_MEAN = (91.4953, 103.8827, 131.0912)  # original dataaug.py vggface2_mean, BGR order (FORMATS.md)
NUM_EXPRESSIONS = len(EXPRESSIONS_7)  # 7 basic expressions, Do 2020 section II.A
FEATURE_UNITS = 2048  # original model_vggface2_ft.py: Dense(2048, relu, name="features")
FACE_DROPOUT = 0.2  # original model_vggface2_ft.py: VGGFace2_FineTuning_EmotionRecognition_V0(dropout=[0.2, 0.2])
TRAINABLE_STAGES = 1  # Do 2020 section II.C: all frozen "exception the last stage" (released notebooks: 2)
RESNET_STAGES = 4  # ResNet-50 stages conv2..conv5 (He 2016, Table 1; Do 2020 section II.B "4 stages")
WINDOW = 16  # s, Do 2020 section III.B "size 16 or 32"; released notebooks n_blocks = 16 (FORMATS.md)
LSTM_UNITS = 1024  # Do 2020 section II.C: "bidirectional LSTM cells with 1024 length"
LSTM_LAYERS = 2  # Do 2020 section II.C: "one or two"; released lstm_blocks(lstm_layers=2) (FORMATS.md)
LSTM_DROPOUT = 0.1  # original models/utils.py lstm_blocks(lstm_dropout=0.1, ...) (FORMATS.md)
LSTM_RECURRENT_DROPOUT = 0.1  # original models/utils.py lstm_blocks(..., lstm_recurrent_dropout=0.1)
HEAD_UNITS = (1024, 1024)  # not fixed by the paper ("two dense layers"); released sel_t8/sel_t15 fc_*_finals
HEAD_DROPOUT = 0.1  # original notebooks fc_*_dropout=[0.1, 0.1, 0.1]: before each dense layer of a branch

TEMPORAL = ("none", "stat", "stat_lstm")
"""Temporal modules: image only (Table I models 1-2), STAT (models 3-4), STAT + LSTM (models 5-6)."""

FRAME_INPUTS = ("image", "features")
"""What a temporal model takes per frame: face images (the face model runs inside it) or the face model's
outputs, e.g. read from the per-frame feature cache (see :class:`StatLSTMNet`)."""

STATS = ("max", "min", "mean")
"""Window statistics of the STAT module (Fig. 2 caption: "mean, max, and min"), in the released order."""

TABLE_I = {
    1: {"temporal": "none", "va": False},  # Table I, model 1 "Emotion Image"
    2: {"temporal": "none", "va": True},  # model 2 "Emotion VA Image"
    3: {"temporal": "stat", "va": False},  # model 3 "Emotion Frame"
    4: {"temporal": "stat", "va": True},  # model 4 "Emotion VA Frame"
    5: {"temporal": "stat_lstm", "va": False},  # model 5 "Emotion Frame with LSTM"
    6: {"temporal": "stat_lstm", "va": True},  # model 6 "Emotion VA Frame with LSTM"
}
"""The six derivation models of Do 2020, Table I, as :class:`StatLSTMNet` arguments."""


# --------------------------------------------------------------------------------------------------
# Layers

@keras.saving.register_keras_serializable(package=PACKAGE)
class VGGFace2Preprocess(keras.layers.Layer):
    """uint8 RGB ``[..., 3]`` -> float32 BGR minus the VGGFace2 mean (original ``vggface2_preprocessing_input``).

    The original code reads frames with OpenCV (BGR) and subtracts (91.4953, 103.8827, 131.0912) per
    BGR channel (FORMATS.md); tfaffect's models take RGB, so the channel axis is reversed first.
    """

    def call(self, inputs):
        bgr = ops.flip(ops.cast(inputs, self.compute_dtype), axis=-1)
        return bgr - ops.convert_to_tensor(VGGFACE2_BGR_MEAN, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def causal_window_indices(time_steps, window: int):
    """``[T, s]`` int32 frame indices: row t = ``max(t - s + 1 + j, 0)`` for j = 0..s-1 (oldest first, t last).

    Frames before the start of the clip are replaced by frame 0 (padding by repeating the first frame).
    ``time_steps`` may be a traced scalar.
    """
    steps = ops.expand_dims(ops.arange(time_steps, dtype="int32"), 1)
    offsets = ops.expand_dims(ops.arange(window, dtype="int32"), 0) - (window - 1)
    return ops.maximum(steps + offsets, 0)


@keras.saving.register_keras_serializable(package=PACKAGE)
class CausalWindows(keras.layers.Layer):
    """``[B, T, D] -> [B, T, s, D]``: frame t gets frames ``t-s+1 .. t`` (current last), frame 0 repeated before 0.

    A gather from per-frame values, so whatever produced them (the backbone) ran once per frame.
    ``context_frames`` (= ``window``): the frames of history the output at frame t depends on.
    """

    def __init__(self, window: int, **kwargs):
        super().__init__(**kwargs)
        self.window = int(window)

    @property
    def context_frames(self) -> int:
        """Frames of history (current frame included) the output at frame t depends on: the window length."""
        return self.window

    def call(self, inputs):
        indices = causal_window_indices(ops.shape(inputs)[1], self.window)
        return ops.take(inputs, indices, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.window) + tuple(input_shape[2:])

    def get_config(self) -> dict:
        return {**super().get_config(), "window": self.window}


@keras.saving.register_keras_serializable(package=PACKAGE)
class WindowStats(keras.layers.Layer):
    """``[..., s, D] -> [..., len(stats) * D]``: the STAT module, statistics over the window axis, concatenated.

    ``stats`` is a subset of :data:`STATS`, always emitted in the order max, min, mean (the released
    concatenation order ``[x1_max, x1_min, x1_mean, ...]``).
    """

    def __init__(self, stats=STATS, **kwargs):
        super().__init__(**kwargs)
        self.stats = _check_stats(stats)

    def call(self, inputs):
        reducers = {"max": ops.max, "min": ops.min, "mean": ops.mean}
        return ops.concatenate([reducers[name](inputs, axis=-2) for name in self.stats], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-2]) + (len(self.stats) * input_shape[-1],)

    def get_config(self) -> dict:
        return {**super().get_config(), "stats": list(self.stats)}


def _check_stats(stats) -> tuple[str, ...]:
    """Validate a subset of :data:`STATS`; return it in the canonical order."""
    stats = tuple(stats)
    unknown = [name for name in stats if name not in STATS]
    if unknown or len(set(stats)) != len(stats):
        raise ConfigError(f"window statistics must be distinct names from {', '.join(STATS)}; got {list(stats)}")
    return tuple(name for name in STATS if name in stats)


# --------------------------------------------------------------------------------------------------
# Face feature model and its weights

def _stage(layer_name: str) -> int | None:
    """ResNet-50 stage of a ``keras.applications`` layer: 1 = stem (``conv1_*``, ``pool1_*``), 2..5 = ``convK_*``."""
    match = re.match(r"(?:conv|pool)(\d)_", layer_name)
    return int(match.group(1)) if match else None


@keras.saving.register_keras_serializable(package=PACKAGE)
class FaceFeatureModel(ConfigurableModel):
    """Face feature model (Do 2020, II.B): ``{"image": uint8 [N, S, S, 3]}`` -> ``{"features", "expression"}``.

    Outputs ``"features"`` ``[N, F]`` (the face feature vector) and ``"expression"`` ``[N, 7]`` (the softmax
    probability scores). See the module docstring for the layers.

    Args:
        image_size: input side S (224, original code). Parameter counts do not depend on it.
        feature_units: width F of the ``"features"`` layer (2048, original code).
        dropout: dropout before ``"features"`` and before ``"predictions"`` (0.2, original code).
        trainable_stages: how many of the last ResNet stages (of conv2..conv5) stay trainable: 1 (the
            paper, section II.C) trains conv5 only, 2 (the released notebooks) conv4 and conv5, 0 none,
            5 also the stem. The two dense layers are always trainable; frozen batch-norm layers run
            in inference mode (Keras 3 semantics of ``trainable=False``).
        bn_momentum: momentum of the moving statistics of every ResNet-50 batch norm; ``None`` keeps
            the backbone's 0.99 (Keras's default, also the released Keras 2 code's). The moving
            statistics are what inference uses: with 0.99 they average the last ~100 training steps,
            so a short run from random initialisation evaluates with statistics of much older
            weights (a tfaffect option; see the recipes' SynthAffect overlays, ``synthaffect``).
        weights_path: ``None`` (random initialisation; a warning is logged, since the paper starts from
            VGGFace2 weights fine-tuned on AffectNet and RAF-DB, which are not available offline) or a
            local Keras 3 ``.weights.h5`` file saved from this model (``save_weights``), loaded by
            :func:`load_face_weights`. The original work's released Keras 2 HDF5 file
            (``rafdb_affectnetweight_vggface2_resnes50_ft_*.h5``) is refused with a ConfigError naming
            the command that converts it (``tfaffect convert stat-lstm-face``,
            :mod:`tfaffect.convert.stat_lstm`). Not recorded in ``get_config``: the weights travel in
            a saved model, and a rebuilt model must not depend on that file.
    """

    def __init__(self, image_size: int = DEFAULT_IMAGE_SIZE, feature_units: int = FEATURE_UNITS,
                 dropout: float = FACE_DROPOUT, trainable_stages: int = TRAINABLE_STAGES,
                 bn_momentum: float | None = None, weights_path: str | os.PathLike | None = None, **kwargs):
        config = _face_config(image_size, feature_units, dropout, trainable_stages, bn_momentum)
        image_size, feature_units, dropout = config["image_size"], config["feature_units"], config["dropout"]
        trainable_stages, bn_momentum = config["trainable_stages"], config["bn_momentum"]
        if weights_path is not None:
            weights_path = _check_face_weights_file(weights_path)
        image = keras.Input(shape=(image_size, image_size, 3), dtype="uint8", name="image")
        x = VGGFace2Preprocess(name="vggface2_preprocess")(image)
        backbone = build_backbone("resnet50", image_size)
        first_trainable = RESNET_STAGES + 2 - trainable_stages  # stage numbers run 1 (stem) .. 5 (conv5)
        for layer in backbone.layers:
            stage = _stage(layer.name)
            if stage is not None:
                layer.trainable = stage >= first_trainable
            if bn_momentum is not None and isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = bn_momentum
        x = backbone(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name="features_dropout")(x)
        features = keras.layers.Dense(feature_units, activation="relu", name="features")(x)
        x = keras.layers.Dropout(dropout, name="predictions_dropout")(features) if dropout > 0 else features
        scores = keras.layers.Dense(NUM_EXPRESSIONS, activation="softmax", use_bias=False,  # original: no bias
                                    name="predictions")(x)
        kwargs.setdefault("name", "face_feature_model")
        super().__init__({"image": image}, {"features": features, "expression": scores},
                         {**config, "weights_path": None}, **kwargs)
        if weights_path is None:
            logger.warning("%s: no face feature weights given; ResNet-50 and its expression head start from "
                           "random initialisation (the paper starts from VGGFace2 weights fine-tuned on AffectNet "
                           "and RAF-DB, Do 2020 section II.B). Expected when weights are loaded afterwards.",
                           self.name)
        else:
            load_face_weights(self, weights_path)


def _face_config(image_size, feature_units, dropout, trainable_stages, bn_momentum) -> dict:
    """:class:`FaceFeatureModel`'s arguments (``weights_path`` aside), checked and normalised as its ``get_config``."""
    image_size, feature_units, trainable_stages = int(image_size), int(feature_units), int(trainable_stages)
    dropout = _check_dropout(dropout, "dropout")
    if feature_units < 1:
        raise ConfigError(f"feature_units must be positive, got {feature_units}")
    if not 0 <= trainable_stages <= RESNET_STAGES + 1:
        raise ConfigError(f"trainable_stages must be in 0..{RESNET_STAGES + 1}, got {trainable_stages}")
    if bn_momentum is not None:
        bn_momentum = float(bn_momentum)
        if not 0.0 <= bn_momentum < 1.0:
            raise ConfigError(f"bn_momentum must be in [0, 1) or None, got {bn_momentum}")
    return {"image_size": image_size, "feature_units": feature_units, "dropout": dropout,
            "trainable_stages": trainable_stages, "bn_momentum": bn_momentum}


def _check_dropout(value, name: str) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {value}")
    return value


CONVERT_SOURCE = "stat-lstm-face"
"""The ``tfaffect convert`` source that turns the released Keras 2 face model file into ``CONVERTED_FILE``."""
CONVERTED_FILE = "face.weights.h5"
"""The Keras 3 weight file that ``tfaffect convert stat-lstm-face FILE --out DIR`` writes into DIR."""


def _check_face_weights_file(path: str | os.PathLike) -> str:
    """``path`` as a string, checked to be a file this model loads (not the original work's Keras 2 file)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingResourceError(
            f"face feature weight file not found: {path}; pass a .weights.h5 saved from FaceFeatureModel "
            f"(`tfaffect convert {CONVERT_SOURCE}` makes one from the original work's Keras 2 .h5 file), or None "
            "for random initialisation")
    if is_keras2_h5(path):
        command = f"tfaffect convert {CONVERT_SOURCE} {shlex.quote(path)} --out DIR"
        raise ConfigError(
            f"{path} is a Keras 2 HDF5 file (the original work's released face model weights); the face feature "
            f"model loads Keras 3 weights only: run `{command}` and pass DIR/{CONVERTED_FILE}")
    return path


def load_face_weights(model: FaceFeatureModel, path: str | os.PathLike) -> None:
    """Load the Keras 3 weight file ``path`` (``save_weights`` of a :class:`FaceFeatureModel`) into ``model``.

    Raises:
        MissingResourceError: no file at ``path``.
        ConfigError: a Keras 2 file (the original work's release; the message names the ``tfaffect
            convert`` command that turns it into a loadable file), or weights of another model.
    """
    path = _check_face_weights_file(path)
    try:
        model.load_weights(path)
    except (ValueError, OSError, KeyError) as error:
        raise ConfigError(f"{path}: cannot load face feature weights from this file: {error}") from error
    logger.info("loaded face feature weights from %s", path)


# --------------------------------------------------------------------------------------------------
# The STAT + LSTM model

def _branch(x, name: str, units: tuple[int, ...], dropout: float, outputs: int, activation: str):
    """One head branch (original ``classification_regression_blocks``): [dropout, dense + ReLU] x n, dropout, dense."""
    for index, width in enumerate(units, start=1):
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout{index}")(x)
        x = keras.layers.Dense(width, activation="relu", name=f"{name}_fc{index}")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout{len(units) + 1}")(x)
    return keras.layers.Dense(outputs, activation=activation, name=name)(x)


def _units(value, name: str) -> tuple[int, ...]:
    units = tuple(int(u) for u in value)
    if any(u < 1 for u in units):
        raise ConfigError(f"{name} must be positive widths, got {list(units)}")
    return units


@keras.saving.register_keras_serializable(package=PACKAGE)
class StatLSTMNet(ConfigurableModel):
    """The STAT + LSTM multi-task model (Do 2020, Fig. 2); Table I's six models are argument settings (:data:`TABLE_I`).

    Inputs / outputs:
        ``temporal="none"`` (image models 1-2): ``{"image": uint8 [B, S, S, 3]}`` -> ``[B, ...]``.
        ``temporal="stat"`` / ``"stat_lstm"``: ``{"image": uint8 [B, T, S, S, 3]}`` (any T) ->
        per-frame ``[B, T, ...]``, each frame predicted from its causal window of ``window`` frames.
        ``frame_input="features"`` (temporal models only): ``{"features": float32 [B, T, F], "scores":
        float32 [B, T, 7]}``, the face model's ``"features"`` and ``"expression"`` outputs per frame (e.g.
        the per-frame feature cache); everything after the face model is the same, with the same layer
        names, so the weights move between the two forms by name (:func:`with_frame_input`).
        Outputs ``"expression"`` ``[.., 7]`` softmax; with ``va=True`` also ``"va"`` ``[.., 2]`` tanh
        (valence, arousal) and ``"va_aux"`` ``[.., 5]`` tanh (:func:`tfaffect.losses.five_vector_target` order).

    Args:
        temporal: "none", "stat" or "stat_lstm" (:data:`TEMPORAL`).
        va: multi-task (expression + valence/arousal, the "VA" models of Table I) or expression only.
        window: s, frames per causal window including the current one (16; 16 or 32 in section III.B).
        feature_stats: statistics of the face features in the STAT module (subset of :data:`STATS`;
            all three per section II.C's text, ``()`` for the released models 4 and 6).
        lstm_layers, lstm_units: bidirectional LSTM layers and units per direction (2, 1024).
        lstm_dropout, lstm_recurrent_dropout: LSTM input and recurrent dropout (0.1 each, original code).
        class_units: hidden widths of the classification branch ((1024, 1024)).
        regression_units: hidden widths of each regression branch ((1024, 1024)).
        head_dropout: dropout before each dense layer of the branches (0.1).
        image_size, feature_units, face_dropout, trainable_stages, bn_momentum: passed to
            :class:`FaceFeatureModel`.
        use_cudnn: passed to the LSTMs ("auto"); export passes False (DESIGN.md).
        frame_input: "image" (the face model runs inside the model) or "features" (no face model: its
            outputs per frame are the inputs; the face arguments are then only recorded; :data:`FRAME_INPUTS`).
        face_weights: the face feature model's ``weights_path`` (not recorded in ``get_config``).
    """

    def __init__(self, temporal: str = "stat_lstm", va: bool = True, window: int = WINDOW,
                 feature_stats=STATS, lstm_layers: int = LSTM_LAYERS, lstm_units: int = LSTM_UNITS,
                 lstm_dropout: float = LSTM_DROPOUT, lstm_recurrent_dropout: float = LSTM_RECURRENT_DROPOUT,
                 class_units=HEAD_UNITS, regression_units=HEAD_UNITS, head_dropout: float = HEAD_DROPOUT,
                 image_size: int = DEFAULT_IMAGE_SIZE, feature_units: int = FEATURE_UNITS,
                 face_dropout: float = FACE_DROPOUT, trainable_stages: int = TRAINABLE_STAGES,
                 bn_momentum: float | None = None,
                 use_cudnn="auto", frame_input: str = "image", face_weights: str | os.PathLike | None = None,
                 **kwargs):
        if temporal not in TEMPORAL:
            raise ConfigError(f"unknown temporal module {temporal!r}; expected one of {', '.join(TEMPORAL)}")
        if frame_input not in FRAME_INPUTS:
            raise ConfigError(f"unknown frame_input {frame_input!r}; expected one of {', '.join(FRAME_INPUTS)}")
        if frame_input == "features" and (temporal == "none" or face_weights is not None):
            raise ConfigError(f"frame_input='features' takes the face model's outputs per frame: for a temporal "
                              f"model ('stat' or 'stat_lstm', got {temporal!r}) without face_weights (got "
                              f"{face_weights!r})")
        window, lstm_layers, lstm_units, image_size = int(window), int(lstm_layers), int(lstm_units), int(image_size)
        if window < 1 or lstm_layers < 1 or lstm_units < 1:
            raise ConfigError(f"window, lstm_layers and lstm_units must be positive, got {window}, {lstm_layers}, "
                              f"{lstm_units}")
        if use_cudnn not in ("auto", True, False):
            raise ConfigError(f"use_cudnn must be 'auto', True or False, got {use_cudnn!r}")
        feature_stats = _check_stats(feature_stats)
        class_units, regression_units = _units(class_units, "class_units"), _units(regression_units, "regression_units")
        lstm_dropout = _check_dropout(lstm_dropout, "lstm_dropout")
        lstm_recurrent_dropout = _check_dropout(lstm_recurrent_dropout, "lstm_recurrent_dropout")
        head_dropout = _check_dropout(head_dropout, "head_dropout")
        face_config = _face_config(image_size, feature_units, face_dropout, trainable_stages, bn_momentum)
        if frame_input == "image":
            face = FaceFeatureModel(**face_config, weights_path=face_weights, name="face")

        if temporal == "none":
            image = keras.Input(shape=(image_size, image_size, 3), dtype="uint8", name="image")
            inputs = {"image": image}
            current = face(inputs)
            features, scores = current["features"], current["expression"]
            parts = [features, scores]
        else:
            if frame_input == "image":
                image = keras.Input(shape=(None, image_size, image_size, 3), dtype="uint8", name="image")
                inputs = {"image": image}
                current = face({"image": FoldTime(name="fold_time")(image)})  # the backbone runs once per frame
                features = UnfoldTime(name="unfold_features")([current["features"], image])
                scores = UnfoldTime(name="unfold_scores")([current["expression"], image])
                reference = image  # any [B, T, ...] input: UnfoldTime reads T from it
            else:
                features = keras.Input(shape=(None, face_config["feature_units"]), name="features")
                scores = keras.Input(shape=(None, NUM_EXPRESSIONS), name="scores")
                inputs = {"features": features, "scores": scores}
                reference = features
            score_windows = CausalWindows(window, name="score_windows")(scores)
            parts = [WindowStats(STATS, name="score_stat")(score_windows)]
            if feature_stats:
                feature_windows = CausalWindows(window, name="feature_windows")(features)
                parts.append(WindowStats(feature_stats, name="feature_stat")(feature_windows))
            parts += [features, scores]
            if temporal == "stat_lstm":
                x = FoldTime(name="fold_windows")(score_windows)  # [B*T, s, 7]
                for index in range(1, lstm_layers + 1):
                    lstm = keras.layers.LSTM(lstm_units, return_sequences=index < lstm_layers, dropout=lstm_dropout,
                                             recurrent_dropout=lstm_recurrent_dropout, use_cudnn=use_cudnn)
                    x = keras.layers.Bidirectional(lstm, name=f"bilstm{index}")(x)
                parts.append(UnfoldTime(name="unfold_lstm")([x, reference]))
        fused = keras.layers.Concatenate(name="fusion")(parts)

        outputs = {"expression": _branch(fused, "expression", class_units, head_dropout, NUM_EXPRESSIONS, "softmax")}
        if va:
            arousal = _branch(fused, "arousal", regression_units, head_dropout, 1, "tanh")
            valence = _branch(fused, "valence", regression_units, head_dropout, 1, "tanh")
            outputs["va"] = keras.layers.Concatenate(name="va")([valence, arousal])  # house order: valence, arousal
            outputs["va_aux"] = _branch(fused, "va_aux", regression_units, head_dropout, 5, "tanh")
        kwargs.setdefault("name", f"stat_lstm_{temporal}{'_va' if va else ''}")
        config = {"temporal": temporal, "va": bool(va), "window": window, "feature_stats": list(feature_stats),
                  "lstm_layers": lstm_layers, "lstm_units": lstm_units, "lstm_dropout": lstm_dropout,
                  "lstm_recurrent_dropout": lstm_recurrent_dropout, "class_units": list(class_units),
                  "regression_units": list(regression_units), "head_dropout": head_dropout,
                  "image_size": image_size, "feature_units": face_config["feature_units"],
                  "face_dropout": face_config["dropout"], "trainable_stages": face_config["trainable_stages"],
                  "bn_momentum": face_config["bn_momentum"],
                  "use_cudnn": use_cudnn, "frame_input": frame_input, "face_weights": None}
        super().__init__(inputs, outputs, config, **kwargs)


def with_frame_input(model: StatLSTMNet, frame_input: str,
                     face: FaceFeatureModel | str | os.PathLike | None = None) -> StatLSTMNet:
    """A temporal ``model`` rebuilt to take ``frame_input`` (:data:`FRAME_INPUTS`), with ``model``'s weights.

    Every layer after the face model is copied by name (both forms have the same names). An image-input
    result gets its face model from ``model`` when that takes images too, else from ``face``: a
    :class:`FaceFeatureModel` (its weights are copied) or its ``.weights.h5`` file, i.e. the face model
    whose outputs the features-input ``model`` was trained on. E.g. the image-input model of a run trained
    on cached features: ``with_frame_input(load_model(run / "model.keras"), "image", face_weights_file)``.

    Raises:
        ConfigError: ``model`` is not a temporal :class:`StatLSTMNet`, or an image-input result from a
            features-input ``model`` without ``face``.
    """
    if not isinstance(model, StatLSTMNet) or model.get_config()["temporal"] == "none":
        raise ConfigError(f"with_frame_input takes a temporal StatLSTMNet, got {type(model).__name__} "
                          f"{getattr(model, 'name', '')!r}")
    config = {**model.get_config(), "frame_input": frame_input}
    has_face = model.get_config()["frame_input"] == "image"
    if frame_input == "image" and not has_face and face is None:
        raise ConfigError(f"{model.name} takes face features: an image-input copy needs the face model they came "
                          "from (face=FaceFeatureModel or its .weights.h5 file)")
    from_file = frame_input == "image" and not has_face and not isinstance(face, FaceFeatureModel)
    target = StatLSTMNet(**{**config, "face_weights": face if from_file else None})
    for layer in target.layers:
        if not layer.weights:
            continue
        if layer.name == "face" and not has_face:
            if isinstance(face, FaceFeatureModel):
                layer.set_weights(face.get_weights())
            continue
        layer.set_weights(model.get_layer(layer.name).get_weights())
    return target


def average_fusion(members, name: str = "stat_lstm_fusion") -> keras.Model:
    """Table II / III "Fusion": a model whose outputs are the averages of the ``members``' outputs.

    Do 2020, section III.D: "We used the average fusion" (FORMATS.md: "fusion = average of model
    outputs"): each output key (``"expression"`` probabilities, ``"va"``, ``"va_aux"``) is the mean
    over the members that have it. Members are :class:`StatLSTMNet` models of one image size; they
    are frozen (the fusion has nothing to train). With a temporal member the fusion takes clips
    ``{"image": uint8 [B, T, S, S, 3]}`` and runs an image-only member on every frame (time folded
    into the batch); with image-only members only, it takes frames ``[B, S, S, 3]``.

    Raises:
        ConfigError: fewer than two members, members of different image sizes, a member that is not
            a :class:`StatLSTMNet`, or two members with the same name (nested models need distinct
            names).
    """
    members = list(members)
    if len(members) < 2:
        raise ConfigError(f"a fusion averages at least two models, got {len(members)}")
    if not all(isinstance(m, StatLSTMNet) for m in members):
        raise ConfigError("fusion members must be StatLSTMNet models, got "
                          + ", ".join(type(m).__name__ for m in members))
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ConfigError(f"fusion members need distinct names, got {names}")
    configs = [m.get_config() for m in members]
    sizes = {c["image_size"] for c in configs}
    if len(sizes) != 1:
        raise ConfigError(f"fusion members must share one image size, got {sorted(sizes)}")
    size = sizes.pop()
    temporal = any(c["temporal"] != "none" for c in configs)
    image = keras.Input(shape=((None,) if temporal else ()) + (size, size, 3), dtype="uint8", name="image")
    outputs = []
    for member, config in zip(members, configs):
        member.trainable = False
        if temporal and config["temporal"] == "none":  # an image model on every frame of the clip
            out = member({"image": FoldTime(name=f"fold_{member.name}")(image)})
            out = {k: UnfoldTime(name=f"unfold_{member.name}_{k}")([v, image]) for k, v in out.items()}
        else:
            out = member({"image": image})
        outputs.append(out)
    fused = {}
    for key in ("expression", "va", "va_aux"):
        values = [out[key] for out in outputs if key in out]
        if len(values) > 1:
            fused[key] = keras.layers.Average(name=key)(values)
        elif values:
            fused[key] = keras.layers.Identity(name=key)(values[0])
    return keras.Model({"image": image}, fused, name=name)


def table1_model(number: int, **overrides) -> StatLSTMNet:
    """Model ``number`` (1..6) of Do 2020, Table I; ``overrides`` are further :class:`StatLSTMNet` arguments."""
    if number not in TABLE_I:
        raise ConfigError(f"Table I has models 1..6, got {number!r}")
    return StatLSTMNet(**{**TABLE_I[number], "name": f"stat_lstm_model{number}", **overrides})


# --------------------------------------------------------------------------------------------------
# Published architectures (Table I). Tiny: smallest input, narrow features / LSTM / heads, windows of 3.

_TINY_STAT = {"image_size": 32, "feature_units": 16, "lstm_units": 8, "class_units": (8, 8),
              "regression_units": (8, 8), "window": 3}


@register_model("stat_lstm_model1", tiny=_TINY_STAT)
def stat_lstm_model1(**kwargs) -> keras.Model:
    """Emotion Image: ResNet-50 face features -> expression (Do 2020, Table I model 1; Table II row 1)."""
    return table1_model(1, **kwargs)


@register_model("stat_lstm_model2", tiny=_TINY_STAT)
def stat_lstm_model2(**kwargs) -> keras.Model:
    """Emotion VA Image: ResNet-50 face features -> expression + valence/arousal (Do 2020, Table I model 2)."""
    return table1_model(2, **kwargs)


@register_model("stat_lstm_model3", tiny=_TINY_STAT)
def stat_lstm_model3(**kwargs) -> keras.Model:
    """Emotion Frame: face features + STAT over 16 frames -> expression (Do 2020, Table I model 3)."""
    return table1_model(3, **kwargs)


@register_model("stat_lstm_model4", tiny=_TINY_STAT)
def stat_lstm_model4(**kwargs) -> keras.Model:
    """Emotion VA Frame: face features + STAT over 16 frames -> expression + valence/arousal (Do 2020, Table I, 4)."""
    return table1_model(4, **kwargs)


@register_model("stat_lstm_model5", tiny=_TINY_STAT)
def stat_lstm_model5(**kwargs) -> keras.Model:
    """Emotion Frame with LSTM: + STAT + BiLSTM 2x1024 over 16 frames -> expression (Do 2020, Table I model 5)."""
    return table1_model(5, **kwargs)


@register_model("stat_lstm_model6", tiny=_TINY_STAT)
def stat_lstm_model6(**kwargs) -> keras.Model:
    """Emotion VA Frame with LSTM: + STAT + BiLSTM 2x1024 -> expression + valence/arousal (Do 2020, Table I model 6)."""
    return table1_model(6, **kwargs)
