"""`tfaffect convert affwildnet-tf1`: the released AffWildNet TF1 checkpoints -> Keras AffWildNet.

The two released AffWildNet TF1 checkpoints, VGG-Face-GRU and ResNet-GRU (which one is read
from the variable names), converted and exported in one step: the folder ``--out`` is a
SavedModel made by :func:`tfaffect.export.export_model` (``serve``, ``step``, ``per_frame``
signatures, ``model.keras``, TFLite of the per-frame part) whose ``metadata.json`` adds the
weights' origin (``weights``, ``source``), the variable map and the skipped training state.

VGG-Face-GRU: the released checkpoint (dkollias/Aff-Wild-models, folder
``affwildnet-vggface-gru``; a TensorFlow 1 ``tf.train.Saver`` checkpoint). The checkpoint is
read with ``tf.train.load_checkpoint`` (no TF1 graph is built) and every variable is copied
into :class:`~tfaffect.models.AffWildNet` with ``reset_after=False``. The original graph
(``affwildnet/vggface_gru.py`` there) names its variables, in order:

==========================================================  ==============================  ===========
checkpoint variable                                         tfaffect weight                 transform
==========================================================  ==============================  ===========
``conv_1`` .. ``conv_13`` ``/weights`` [3, 3, in, out]      ``vggface/block1_conv1`` ..     none
``/biases``                                                 ``block5_conv3`` kernel, bias
``linear_1/weights`` [4608, 4096], ``/biases``              ``fc1`` kernel, bias            none
``rnn_1/rnn/multi_rnn_cell/cell_k/gru_cell/`` ``gates/      ``rnn{k+1}`` kernel,            GRU, below
{kernel,bias}``, ``candidate/{kernel,bias}``                recurrent_kernel, bias
``rnn_1/weights_rnn`` [128, 2], ``rnn_1/biases_rnn``        ``va`` kernel, bias             none
==========================================================  ==============================  ===========

The conv kernels are HWIO in both. ``linear_1`` reads the last pooling output
``[N, 3, 3, 512]`` reshaped row-major to ``[N, 4608]``, which is what Keras's ``Flatten``
does in channels-last layout, so its kernel is copied as is. The original pools with 'SAME'
padding, Keras's VGG16 with 'VALID': identical for 96x96 inputs (every map side is even).

GRU (TF1 ``tf.nn.rnn_cell.GRUCell``, ``GRUCell.call``)::

    [r, u] = sigmoid([x, h] @ G + g)        G: gates/kernel [in+units, 2*units], g: gates/bias
    c      = tanh([x, r * h] @ C + b)       C: candidate/kernel [in+units, units], b: candidate/bias
    h'     = u * h + (1 - u) * c

Keras's ``GRU(reset_after=False)`` computes ``z = sigmoid(x W_z + h U_z + b_z)``,
``r = sigmoid(x W_r + h U_r + b_r)``, ``hh = tanh(x W_h + (r * h) U_h + b_h)``,
``h' = z * h + (1 - z) * hh`` with ``kernel = [W_z | W_r | W_h]`` ([in, 3*units]),
``recurrent_kernel = [U_z | U_r | U_h]`` and ``bias = [b_z | b_r | b_h]``. So the update gate
``z`` is TF1's ``u`` (the second half of ``G``'s columns), ``r`` the first half, the input rows
of ``G``/``C`` (the first ``in``) go to ``kernel`` and the state rows to ``recurrent_kernel``
(:func:`tf1_gru_to_keras`). The reset gate multiplies the state before the candidate matmul,
which is Keras's ``reset_after=False``, not its default.

ResNet-GRU: the released ``affwildnet/resnet-gru`` (also ``eval_script.py``, network
``affwildnet_resnet``) runs TF-slim's ``resnet_v1_50(inputs, is_training=False,
num_classes=None)`` under ``resnet_arg_scope()`` on the 96x96 frames (global average pooling,
2048 features, no FC layer after it), then in ``tf.variable_scope('rnn')`` a ``dynamic_rnn``
over ``MultiRNNCell([GRUCell(128)] * 2)`` and ``xw_plus_b`` with ``weights_output`` [128, 2] /
``biases_output`` [2]. It fills an :class:`~tfaffect.models.AffWildNet` with
``backbone="resnet_v1_50"`` (slim's exact layout,
:func:`~tfaffect.models.backbones.build_slim_resnet_v1_50`) and ``fc_units=()``
(:data:`RELEASED_RESNET_GRU`):

==========================================================  ==================================  ===========
checkpoint variable                                         tfaffect weight                     transform
==========================================================  ==================================  ===========
``resnet_v1_50/<scope>/weights`` [k, k, in, out]            ``resnet_v1_50/<layer>/kernel``     none
``resnet_v1_50/<scope>/BatchNorm/{gamma, beta,              ``resnet_v1_50/<layer>_bn/`` the    none
moving_mean, moving_variance}``                             same four
``rnn/rnn/multi_rnn_cell/cell_k/gru_cell/...``              ``rnn{k+1}``                        GRU, above
``rnn/weights_output`` [128, 2], ``rnn/biases_output``      ``va`` kernel, bias                 none
==========================================================  ==================================  ===========

``<scope> -> <layer>`` is :func:`~tfaffect.models.backbones.slim_resnet_v1_50_convs`, e.g.
``conv1 -> conv1``, ``block1/unit_3/bottleneck_v1/conv2 -> block1_unit3_conv2``. The 53
convs have no bias (slim's ``conv2d`` adds none when a normalizer follows).

Verified against the sources: the graph and its scope names ``rnn``, ``weights_output``,
``biases_output`` (the released ``affwildnet/resnet-gru``); slim's variable names
(``weights``, ``BatchNorm/{beta, gamma, moving_mean, moving_variance}``), the bottleneck
layout, stride placement, padding and batch-norm constants (slim ``nets/resnet_v1.py``,
``nets/resnet_utils.py``, tensorflow/models ``research/slim`` and
``tensorflow/contrib/slim/python/slim/nets``, which the released code imports). Inferred, NOT
verified (the checkpoint is not public here): the GRU variable names under
``rnn/rnn/multi_rnn_cell/cell_k/gru_cell/`` (``gates/kernel`` etc. as TF >= 1.3 names them;
TF 1.0-1.2 named them ``gates/weights``, ``gates/biases``: such a checkpoint is refused with
the missing names listed), exactly as for the VGG-Face variant; and that the checkpoint
holds no other model variables (an unexpected one is refused, naming it).

The export is written atomically (its folder under a temporary name, then ``os.replace``) and its
``metadata.json`` records the source, the variable map and the input preprocessing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import numpy as np

from tfaffect._lazy import lazy_module
from tfaffect.convert.vggface import VGG_CONV_LAYERS
from tfaffect.errors import ConfigError, DataError, MissingResourceError
from tfaffect.export import export_model

# Imported on first use, so that `tfaffect convert --help` does not load TensorFlow (tfaffect._lazy).
tf = lazy_module("tensorflow")
_affwild = lazy_module("tfaffect.models.affwild")
_backbones = lazy_module("tfaffect.models.backbones")

DEFAULT_IMAGE_SIZE = 96
"""The released models' input side (original code, affwildnet/readme: 96x96), equal to
``tfaffect.models.affwild.DEFAULT_IMAGE_SIZE`` (a test checks it); stated here so that importing this
module does not load Keras."""

logger = logging.getLogger(__name__)

TF1_CONV_SCOPES = tuple(f"conv_{index}" for index in range(1, len(VGG_CONV_LAYERS) + 1))
"""The variable scopes of the 13 VGG conv layers (:data:`~tfaffect.convert.vggface.VGG_CONV_LAYERS`) in the original
code (``conv_1`` .. ``conv_13``, dkollias/Aff-Wild-models
``affwildnet/vggface_gru.py``: ``get_unique_name_`` numbers layers of one kind from 1)."""

TF1_FC_SCOPE = "linear_1"  # original code: the first (only) 'linear' layer, FC 4096 + ReLU
TF1_RNN_SCOPE = "rnn_1"  # original code: the first (only) 'rnn' layer
TF1_GRU_CELL = TF1_RNN_SCOPE + "/rnn/multi_rnn_cell/cell_{index}/gru_cell"
"""Scope of GRU layer ``index`` (0-based): ``dynamic_rnn`` opens ``rnn``, ``MultiRNNCell`` ``multi_rnn_cell/cell_k``,
``GRUCell`` ``gru_cell`` with ``gates/{kernel,bias}`` and ``candidate/{kernel,bias}`` inside."""
TF1_OUTPUT_WEIGHTS = TF1_RNN_SCOPE + "/weights_rnn"  # original code: output projection [128, 2]
TF1_OUTPUT_BIASES = TF1_RNN_SCOPE + "/biases_rnn"

RELEASED_RESNET_GRU = {
    "backbone": "resnet_v1_50",  # affwildnet/resnet-gru: slim resnet_v1.resnet_v1_50(..., num_classes=None)
    "cell": "gru",  # resnet-gru: tf.nn.rnn_cell.GRUCell
    "num_layers": 2,  # resnet-gru: MultiRNNCell([GRUCell(128) for _ in range(2)])
    "units": 128,  # resnet-gru: GRUCell(128); Kollias 2019, Table 8
    "fc_units": (),  # resnet-gru: the pooled 2048 features go straight into the GRU (no FC layer)
    "image_size": DEFAULT_IMAGE_SIZE,  # resnet-gru: tf.reshape(image_batch, [..., 96, 96, 3])
}
"""Keyword arguments of the :class:`~tfaffect.models.AffWildNet` the released ResNet-GRU checkpoint fills."""

TF1_RESNET_SCOPE = "resnet_v1_50"  # slim resnet_v1_50(..., scope='resnet_v1_50')
TF1_RESNET_RNN_SCOPE = "rnn"  # resnet-gru: tf.variable_scope('rnn')
TF1_RESNET_GRU_CELL = TF1_RESNET_RNN_SCOPE + "/rnn/multi_rnn_cell/cell_{index}/gru_cell"
"""GRU layer ``index`` of the ResNet-GRU (inferred like :data:`TF1_GRU_CELL`, see the module docstring)."""
TF1_RESNET_OUTPUT_WEIGHTS = TF1_RESNET_RNN_SCOPE + "/weights_output"  # resnet-gru: get_variable(.., [128, 2])
TF1_RESNET_OUTPUT_BIASES = TF1_RESNET_RNN_SCOPE + "/biases_output"  # resnet-gru: get_variable('biases_output', [2])
SLIM_BATCH_NORM = ("gamma", "beta", "moving_mean", "moving_variance")
"""slim ``batch_norm``'s variables under ``<scope>/BatchNorm/``, in the order of Keras's BatchNormalization weights."""

RELEASED_AFFWILDNET = {
    # The released VGG-Face-GRU (dkollias/Aff-Wild-models affwildnet/vggface_gru.py); Kollias 2019, Table 8 agrees.
    "backbone": "vggface",
    "cell": "gru",  # vggface_gru.py: tf.nn.rnn_cell.GRUCell
    "num_layers": 2,  # vggface_gru.py: layer ('rnn', '36', 2, 128, 2, False); Kollias 2019, Table 8
    "units": 128,  # vggface_gru.py: the same layer; Kollias 2019, Table 8
    "fc_units": (4096,),  # vggface_gru.py: layer ('linear', '33', 4096, True); Kollias 2019, Table 8, block 2
    "image_size": DEFAULT_IMAGE_SIZE,  # 96, original code (affwildnet/readme)
}
"""Keyword arguments of the :class:`~tfaffect.models.AffWildNet` the released checkpoint fills (plus ``reset_after=False``)."""

SEQUENCE_LENGTH = 80  # original code (affwildnet/readme, eval_script.py): trained and evaluated on sequences of 80

TRAINING_STATE_SUFFIXES = ("/Adam", "/Adam_1", "/Momentum", "/RMSProp", "/RMSProp_1", "/Adagrad",
                           "/ExponentialMovingAverage")
"""Optimizer slot and moving-average variables a TF1 ``tf.train.Saver`` writes beside the model's variables."""
TRAINING_STATE_NAMES = ("global_step", "beta1_power", "beta2_power")
"""Optimizer bookkeeping variables a TF1 ``tf.train.Saver`` writes. Both kinds are skipped and listed in
``metadata.json``: the original evaluation restores only the model's own variables (``eval_script.py``:
``slim.assign_from_checkpoint_fn`` over the graph's ``tf.global_variables()``, which hold no optimizer state)."""

RELEASED = {
    "vggface": {"name": "VGG-Face-GRU", "kwargs": RELEASED_AFFWILDNET,
                "original_code": "dkollias/Aff-Wild-models affwildnet/vggface_gru.py"},
    "resnet50": {"name": "ResNet-GRU", "kwargs": RELEASED_RESNET_GRU,
                 "original_code": "dkollias/Aff-Wild-models affwildnet/resnet-gru (slim resnet_v1_50)"},
}
"""The two released checkpoints by ``backbone`` argument of :func:`convert_affwildnet_tf1`."""


def preprocessing(image_size: int = DEFAULT_IMAGE_SIZE) -> dict[str, object]:
    """What ``metadata.json`` says about the converted AffWildNet's inputs and outputs.

    From the original code (FORMATS.md "Aff-Wild"); ``image_size`` is the converted model's input side.
    """
    return {
        "input": f"uint8 RGB frames, dict key 'image', shape [batch, time, {image_size}, {image_size}, 3]",
        "resize": f"the original code decodes each JPEG as RGB and resizes it to {image_size}x{image_size} with "
                  "tf.image.resize_images (bilinear) before scaling; the SavedModel signatures resize inside, "
                  "model.keras users do it before calling the model",
        "scaling": "(x - 128) / 128, done inside the model (original eval_script.py scales the same way outside)",
        "sequence_length": SEQUENCE_LENGTH,
        "output": "'va' [batch, time, 2], index 0 valence, 1 arousal, linear (no tanh)",
    }


PREPROCESSING = preprocessing()
"""The released models' :func:`preprocessing` (96x96 input)."""


# --------------------------------------------------------------------------------------------------
# The GRU weight layout.

def tf1_gru_to_keras(gates_kernel, gates_bias, candidate_kernel, candidate_bias,
                     input_dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TF1 ``GRUCell`` weights -> ``(kernel, recurrent_kernel, bias)`` of Keras ``GRU(reset_after=False)``.

    Args:
        gates_kernel: ``gates/kernel`` ``[input_dim + units, 2 * units]``, columns ``[r | u]``.
        gates_bias: ``gates/bias`` ``[2 * units]``.
        candidate_kernel: ``candidate/kernel`` ``[input_dim + units, units]``.
        candidate_bias: ``candidate/bias`` ``[units]``.
        input_dim: size of the cell's input (the rows of the kernels above it are the state's).

    Returns:
        ``kernel`` ``[input_dim, 3 * units]`` and ``recurrent_kernel`` ``[units, 3 * units]`` with
        columns ``[z | r | h]`` (Keras's order; ``z`` is TF1's ``u``), and ``bias`` ``[3 * units]``.
        The derivation is in the module docstring.
    """
    gates_kernel, gates_bias = np.asarray(gates_kernel), np.asarray(gates_bias)
    candidate_kernel, candidate_bias = np.asarray(candidate_kernel), np.asarray(candidate_bias)
    units = candidate_kernel.shape[1]
    reset, update = gates_kernel[:, :units], gates_kernel[:, units:]
    stacked = np.concatenate([update, reset, candidate_kernel], axis=1)  # [input_dim + units, 3 * units]
    bias = np.concatenate([gates_bias[units:], gates_bias[:units], candidate_bias])
    return stacked[:input_dim], stacked[input_dim:], bias


# --------------------------------------------------------------------------------------------------
# Reading the checkpoint.

def _is_training_state(name: str) -> bool:
    return name in TRAINING_STATE_NAMES or name.endswith(TRAINING_STATE_SUFFIXES)


def affwildnet_tf1_variable_names(num_layers: int = RELEASED_AFFWILDNET["num_layers"],
                                  backbone: str = "vggface") -> list[str]:
    """The model variables the released VGG-Face-GRU (``backbone="vggface"``) or ResNet-GRU
    (``"resnet50"``) checkpoint holds, in conversion order."""
    if backbone == "resnet50":
        names = []
        for scope, _ in _backbones.slim_resnet_v1_50_convs():
            names.append(f"{TF1_RESNET_SCOPE}/{scope}/weights")
            names += [f"{TF1_RESNET_SCOPE}/{scope}/BatchNorm/{variable}" for variable in SLIM_BATCH_NORM]
        for index in range(num_layers):
            cell = TF1_RESNET_GRU_CELL.format(index=index)
            names += [f"{cell}/gates/kernel", f"{cell}/gates/bias", f"{cell}/candidate/kernel",
                      f"{cell}/candidate/bias"]
        return names + [TF1_RESNET_OUTPUT_WEIGHTS, TF1_RESNET_OUTPUT_BIASES]
    names = [f"{scope}/{kind}" for scope in TF1_CONV_SCOPES for kind in ("weights", "biases")]
    names += [f"{TF1_FC_SCOPE}/weights", f"{TF1_FC_SCOPE}/biases"]
    for index in range(num_layers):
        cell = TF1_GRU_CELL.format(index=index)
        names += [f"{cell}/gates/kernel", f"{cell}/gates/bias", f"{cell}/candidate/kernel", f"{cell}/candidate/bias"]
    return names + [TF1_OUTPUT_WEIGHTS, TF1_OUTPUT_BIASES]


def _open_checkpoint(checkpoint: str | os.PathLike):
    """``tf.train.load_checkpoint`` with tfaffect's errors: missing -> MissingResourceError, unreadable -> DataError."""
    path = os.fspath(checkpoint)
    if not (os.path.exists(path) or os.path.exists(path + ".index")):
        raise MissingResourceError(
            f"TF1 checkpoint not found: {path}; pass the checkpoint prefix (e.g. DIR/model.ckpt-0, the name "
            "before .index / .data-*) or a folder holding a 'checkpoint' file")
    try:
        return tf.train.load_checkpoint(path)
    except (ValueError, tf.errors.OpError) as error:
        raise DataError(f"cannot read a TF1 checkpoint here: {error}", path) from error


def _released_backbone(backbone: str, available: Mapping[str, list]) -> str:
    """``backbone`` checked, with ``"auto"`` resolved from the checkpoint's names (slim's ``resnet_v1_50/`` scope)."""
    if backbone == "auto":
        return "resnet50" if any(name.startswith(TF1_RESNET_SCOPE + "/") for name in available) else "vggface"
    if backbone not in RELEASED:
        raise ConfigError(f"unknown backbone {backbone!r} for affwildnet-tf1; expected 'auto', "
                          f"{', '.join(repr(name) for name in RELEASED)}")
    return backbone


def _check_variable_names(available: Mapping[str, list], expected: list[str], path: str,
                          backbone: str = "vggface") -> list[str]:
    """Compare the checkpoint's variables with ``expected``; return the skipped training-state names."""
    skipped = sorted(name for name in available if _is_training_state(name))
    missing = [name for name in expected if name not in available]
    unexpected = sorted(set(available) - set(expected) - set(skipped))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing variable(s): {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected variable(s): {', '.join(unexpected)}")
        looks_resnet = any(name.startswith(TF1_RESNET_SCOPE + "/") for name in available)
        hint = ""
        if looks_resnet != (backbone == "resnet50"):
            other = "resnet50" if looks_resnet else "vggface"
            hint = (f" (this looks like the {RELEASED[other]['name']} checkpoint: pass --backbone {other} "
                    "or --backbone auto)")
        raise DataError(f"not the released AffWildNet {RELEASED[backbone]['name']} checkpoint: "
                        + "; ".join(parts) + hint, path)
    return skipped


def _read(reader, name: str, shape: tuple[int, ...], path: str) -> np.ndarray:
    """Checkpoint tensor ``name`` as float32, checked to have ``shape`` (DataError naming it otherwise)."""
    value = np.asarray(reader.get_tensor(name))
    if tuple(value.shape) != tuple(shape):
        raise DataError(f"variable {name} has shape {list(value.shape)}, the model expects {list(shape)}", path)
    if not np.issubdtype(value.dtype, np.floating):
        raise DataError(f"variable {name} has dtype {value.dtype}, expected a floating-point tensor", path)
    return value.astype(np.float32)


# --------------------------------------------------------------------------------------------------
# AffWildNet from the TF1 checkpoint.

def convert_affwildnet_tf1(checkpoint: str | os.PathLike, *, backbone: str = "auto",
                           image_size: int = DEFAULT_IMAGE_SIZE, out: str | os.PathLike | None = None,
                           tflite: bool = True, overwrite: bool = False):
    """Build the released AffWildNet and fill it from its TF1 checkpoint; optionally export it.

    Args:
        checkpoint: the checkpoint prefix (``DIR/model.ckpt-0``, the part before ``.index``) or a
            folder whose ``checkpoint`` file names it.
        backbone: "auto" (from the variable names), "vggface" (VGG-Face-GRU) or "resnet50"
            (ResNet-GRU, slim ``resnet_v1_50`` layout).
        image_size: input side S. The released models take 96 (original code); the ResNet-GRU's
            weights fit any S >= 32 (global pooling), the VGG-Face-GRU's only 96 (its FC layer
            reads the 3x3x512 map).
        out: folder to export into with :func:`tfaffect.export.export_model` (a SavedModel with
            ``model.keras`` and ``metadata.json``, see the module docstring); ``None`` writes nothing.
        tflite: also convert the per-frame part to TFLite in the export.
        overwrite: replace an existing ``out`` (after the new export is complete).

    Returns:
        An :class:`~tfaffect.models.AffWildNet` (``reset_after=False``, ``use_cudnn=False``) that maps
        ``{"image": uint8 [B, T, S, S, 3]}`` to ``{"va": [B, T, 2]}`` like the original graph.

    Raises:
        MissingResourceError: no checkpoint at ``checkpoint``.
        DataError: the checkpoint cannot be read, lacks a variable, has an unexpected one, or a
            variable's shape does not match (the message names the variable and the checkpoint).
        ConfigError: an unknown ``backbone``, an ``image_size`` the weights do not fit, or ``out``
            exists without ``overwrite``.
    """
    if out is not None and os.path.exists(out) and not overwrite:  # before the work, not after it
        raise ConfigError(f"{os.fspath(out)} exists; pass another --out or --overwrite")
    path = os.fspath(checkpoint)
    reader = _open_checkpoint(path)
    available = reader.get_variable_to_shape_map()
    backbone = _released_backbone(backbone, available)
    released = RELEASED[backbone]
    image_size = int(image_size)
    if backbone == "vggface" and image_size != DEFAULT_IMAGE_SIZE:
        raise ConfigError(f"the VGG-Face-GRU weights need image_size={DEFAULT_IMAGE_SIZE} (its FC layer reads the "
                          f"3x3x512 map of a 96x96 frame), got {image_size}")
    expected = affwildnet_tf1_variable_names(released["kwargs"]["num_layers"], backbone)
    skipped = _check_variable_names(available, expected, path, backbone)

    model = _affwild.AffWildNet(**{**released["kwargs"], "image_size": image_size}, reset_after=False,
                                use_cudnn=False)
    conv_part = model.get_layer(released["kwargs"]["backbone"])
    variable_map: dict[str, dict] = {}

    def copy(layer, sources: tuple[str, ...], owner: str = "") -> None:
        """Copy checkpoint variables one to one into ``layer``'s weights (same order, same shapes)."""
        if len(sources) != len(layer.weights):
            raise ConfigError(f"layer {layer.name} has {len(layer.weights)} weights, the mapping gives {len(sources)}")
        values = [_read(reader, name, tuple(weight.shape), path) for name, weight in zip(sources, layer.weights)]
        layer.set_weights(values)
        for name, weight in zip(sources, layer.weights):
            variable_map[name] = {"to": [owner + weight.path], "transform": "copy"}

    owner = conv_part.name + "/"
    if backbone == "resnet50":
        for scope, layer_name in _backbones.slim_resnet_v1_50_convs():
            source = f"{TF1_RESNET_SCOPE}/{scope}"
            copy(conv_part.get_layer(layer_name), (f"{source}/weights",), owner=owner)
            copy(conv_part.get_layer(f"{layer_name}_bn"),
                 tuple(f"{source}/BatchNorm/{variable}" for variable in SLIM_BATCH_NORM), owner=owner)
        cell_scope, output = TF1_RESNET_GRU_CELL, (TF1_RESNET_OUTPUT_WEIGHTS, TF1_RESNET_OUTPUT_BIASES)
    else:
        for scope, layer_name in zip(TF1_CONV_SCOPES, VGG_CONV_LAYERS):
            copy(conv_part.get_layer(layer_name), (f"{scope}/weights", f"{scope}/biases"), owner=owner)
        copy(model.get_layer("fc1"), (f"{TF1_FC_SCOPE}/weights", f"{TF1_FC_SCOPE}/biases"))
        cell_scope, output = TF1_GRU_CELL, (TF1_OUTPUT_WEIGHTS, TF1_OUTPUT_BIASES)
    for index in range(released["kwargs"]["num_layers"]):
        _copy_gru(reader, model.get_layer(f"rnn{index + 1}"), cell_scope.format(index=index), path, variable_map)
    copy(model.get_layer("va"), output)
    if skipped:
        logger.info("%s: skipped %d training-state variable(s) (optimizer slots, global_step): %s",
                    path, len(skipped), ", ".join(skipped))
    logger.info("converted %d variables of the %s from %s", len(variable_map), released["name"], path)

    if out is not None:
        metadata = {
            "source": {"kind": "affwildnet-tf1", "released_model": released["name"], "checkpoint": path,
                       "original_code": released["original_code"]},
            "weights": {"origin": f"the authors' released AffWildNet {released['name']} TF1 checkpoint "
                                  "(dkollias/Aff-Wild-models), converted by `tfaffect convert affwildnet-tf1`; "
                                  "not trained by tfaffect",
                        "checkpoint": path},
            "training_data": "Aff-Wild, by the original authors (Kollias 2019); not recorded in the checkpoint",
            "variable_map": variable_map,
            "skipped_training_state": skipped,
            "input_preprocessing": preprocessing(image_size),
        }
        export_model(model, out, metadata=metadata, tflite=tflite, overwrite=overwrite)
    return model


def _copy_gru(reader, layer, cell: str, path: str, variable_map: dict) -> None:
    """Fill Keras ``GRU(reset_after=False)`` ``layer`` from the TF1 ``GRUCell`` variables under ``cell``."""
    kernel, recurrent_kernel, bias = layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias
    input_dim, units = kernel.shape[0], recurrent_kernel.shape[0]
    values = tf1_gru_to_keras(_read(reader, f"{cell}/gates/kernel", (input_dim + units, 2 * units), path),
                              _read(reader, f"{cell}/gates/bias", (2 * units,), path),
                              _read(reader, f"{cell}/candidate/kernel", (input_dim + units, units), path),
                              _read(reader, f"{cell}/candidate/bias", (units,), path), input_dim)
    for variable, value in zip((kernel, recurrent_kernel, bias), values):
        variable.assign(value)
    keras_paths = [weight.path for weight in (kernel, recurrent_kernel, bias)]
    rows = f"rows [:{input_dim}] -> kernel, rows [{input_dim}:] -> recurrent_kernel"
    variable_map[f"{cell}/gates/kernel"] = {
        "to": keras_paths[:2], "transform": f"{rows}; columns [r | u] -> Keras [z=u | r] (first 2/3 of columns)"}
    variable_map[f"{cell}/gates/bias"] = {
        "to": keras_paths[2:], "transform": "[r | u] -> Keras bias [z=u | r] (first 2/3)"}
    variable_map[f"{cell}/candidate/kernel"] = {
        "to": keras_paths[:2], "transform": f"{rows}; -> Keras h columns (last 1/3)"}
    variable_map[f"{cell}/candidate/bias"] = {"to": keras_paths[2:], "transform": "-> Keras h bias (last 1/3)"}


__all__ = ["DEFAULT_IMAGE_SIZE", "PREPROCESSING", "RELEASED", "RELEASED_AFFWILDNET", "RELEASED_RESNET_GRU",
           "TF1_CONV_SCOPES", "affwildnet_tf1_variable_names", "convert_affwildnet_tf1", "preprocessing",
           "tf1_gru_to_keras"]
