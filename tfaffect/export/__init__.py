"""Export a trained model as a SavedModel other TensorFlow programs load (`tfaffect export`).

:func:`export_model` writes one folder that is at once a SavedModel (``tf.saved_model.load(folder)``)
and holds, beside ``saved_model.pb``::

    metadata.json       input size, preprocessing, the face crop the model expects (``face_crop``:
                        detector, landmark scheme, alignment template, margin, size, colour order),
                        signatures, outputs, state layout, versions, plus what the caller gives
                        (recipe, training data: ``training_data["synthetic"]`` is true for a model
                        trained on SynthAffect only, metrics)
    model.keras         the same model for Keras users (``keras.saving.load_model``; import
                        ``tfaffect.models`` first so its classes are registered)
    per_frame.tflite    TFLite conversion of the per-frame part, where it converts (see below)

The folder is written under a temporary name (``.NAME.tmp-<host>-<pid>``, :func:`tfaffect.io.temp_path`)
and renamed into place, so it is either complete or absent; temporary folders of exports that were
killed mid-write are removed by the next export into the same parent folder.

Signatures (also the loaded object's attributes of the same names). All take **raw uint8 RGB face
crops of any size** H x W and do the model's preprocessing inside: each crop is resized to the
model's input size with ``tf.image.resize`` (bilinear, antialias), rounded and clipped back to
uint8 (exactly what the training pipeline, :mod:`tfaffect.data.pipeline`, does with its crops;
crops already at the input size pass unchanged), then the model scales them itself
(``(x - 128) / 128`` for the Aff-Wild models).

``serve(frames)``
    ``frames``: uint8 ``[B, T, H, W, 3]``, any ``T >= 1`` (a model built for a fixed length takes
    only that ``T``, recorded in ``metadata.json["input"]["time"]``). Returns ``valence`` and ``arousal``
    float32 ``[B, T]`` (index 0 and 1 of the model's ``"va"`` output), ``expression`` float32
    ``[B, T, 7]`` probabilities in :data:`tfaffect.EXPRESSIONS_7` order when the model has that
    output, and any other output of the model under its own name. Frame models (CNN-only, no time
    axis) see the ``B * T`` frames as one batch, so the signature is the same for every model.
``initial_state(batch_size)``
    ``batch_size``: int32 scalar. Returns ``state``: float32 ``[batch_size, S]``, the recurrent
    layers' initial states (zeros for GRU/LSTM) packed side by side; ``S = 0`` for models without
    recurrent layers; for windowed models (below) zeros: empty frame buffers and a 0 "started"
    column. ``metadata.json["state"]`` gives which columns belong to which layer.
``step(frame, state)``
    Streaming inference, one frame per call at constant cost: ``frame`` uint8 ``[B, H, W, 3]``,
    ``state`` as above. Returns the outputs of ``serve`` for that frame (``valence`` ``[B]``, ...)
    and the new ``state``. Feeding frames ``0..T-1`` one by one from ``initial_state`` gives what
    ``serve`` gives on the whole sequence; the export checks this on random frames and leaves
    ``step`` and ``initial_state`` out (saying why in ``metadata.json``) for a model where it does
    not hold: one with a bidirectional layer over the clip, or one that sees later frames. Windowed
    models, whose frames see a causal window of the ``s`` latest per-frame vectors (the STAT
    models 3-6 of :mod:`tfaffect.models.stat_lstm`, Do 2020 Table I), stream with a buffer of the
    last ``s`` per-frame vectors as state (see below).
``per_frame(image)``
    The per-frame part alone, on crops already at the model's input size (no resize): ``image``
    uint8 ``[N, S, S, 3]`` (+ ``landmarks`` ``[N, 68, 2]`` in units of that size). Sequence models
    return ``features`` ``[N, F]``, what enters the first recurrent layer; windowed models the
    per-frame vectors their windows and head read, named after the layers computing them (STAT:
    ``unfold_features``, ``unfold_scores``); frame models return their outputs (``valence``
    ``[N]``, ...). Exported with ``step``; it is what TFLite converts.
``serving_default``
    The same function as ``serve`` (TF Serving needs that name).
``metadata()``
    No inputs; returns ``json``: a string scalar holding ``metadata.json`` (without the TFLite record,
    which is written after the SavedModel), so the facts travel with ``saved_model.pb`` even where only
    the SavedModel is copied (a TF Serving model folder): ``json.loads(model.metadata()["json"].numpy())``.

Models built with landmarks (``landmarks=True``) take a second input ``landmarks``: float32
``[B, T, 68, 2]`` for ``serve``, ``[B, 68, 2]`` for ``step``: the 68 points' ``(x, y)`` pixel
coordinates in the given crop divided by the crop's width and height (so in [0, 1] inside the
crop; the data contract's units). They are moved to the resized crop's pixel grid inside
(:func:`tfaffect.data.tfrecord.normalise_landmarks`); a frame whose 136 values are all 0 means
"unknown", as in training, and stays 0.

The variables are saved once, shared by the signatures (``keras.export.ExportArchive``).

Use from any TensorFlow program::

    model = tf.saved_model.load("saved_models/affwildnet")
    out = model.serve(frames)                          # frames: uint8 [B, T, H, W, 3]
    state = model.initial_state(1)["state"]            # streaming, e.g. from a webcam
    for frame in webcam:                               # frame: uint8 [H, W, 3]
        out = model.step(frame=frame[None], state=state)
        state = out["state"]                           # out["valence"][0], out["arousal"][0]

How ``step`` is made. The recurrent layers (``keras.layers.RNN`` and its ``GRU`` / ``LSTM``
subclasses, including the peephole LSTM of :mod:`tfaffect.models.layers`) are found in the
model's graph, in order, and the graph is cut around them into per-frame pieces: model inputs ->
first recurrent layer's input, between consecutive recurrent layers, last recurrent layer's output
-> model outputs. ``step`` runs the first piece on the frame (as a sequence of length 1), then each
layer's ``cell`` one step from its state, each following piece, and packs the new states. The
weights are the model's own; nothing is re-implemented.

Windowed models (with layers that expose ``context_frames``, the frames of history they look at:
:func:`tfaffect.models.layers.context_frames`, e.g.
:class:`~tfaffect.models.stat_lstm.CausalWindows`) are cut at the windows instead
(:class:`Windowed`): a per-frame part (model inputs -> the per-frame vectors) and a head (per-frame
vectors of the current frame + each window ``[s, D]`` -> outputs; for STAT the window statistics,
the BiLSTM over the window, fusion and output branches). ``step`` runs the per-frame part on the
frame, appends its vectors to the buffers in ``state`` (dropping the oldest; before the first frame
the buffer is filled with it, the model's padding by repeating the first frame) and runs the head
once on the current windows: one backbone pass plus the temporal head over ``s`` vectors per frame,
at every frame.

Recurrent layers are exported with ``use_cudnn=False``: the model is rebuilt from its config with
that setting and the weights are copied, because a GRU/LSTM traced on a GPU with ``"auto"`` bakes
a cuDNN kernel into the graph that does not load on a machine without one (DESIGN.md, known traps).

TFLite: the ``per_frame`` signature (for sequence models the first piece, model inputs -> features
entering the first recurrent layer; for frame models the whole model) is converted with
``tf.lite.TFLiteConverter.from_saved_model``; its inputs are crops already at the model's input
size (resizing stays with the caller there). Its output on a random batch is compared with
TensorFlow's and the difference recorded. Where conversion fails the reason goes to
``metadata.json["tflite"]`` and the export continues.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np

import tfaffect
from tfaffect._lazy import lazy_module
from tfaffect.errors import ConfigError, DataError, MissingResourceError
from tfaffect.io import check_output_dir, clean_orphans, identifier_problem, safe_filename, temp_path, write_json_atomic

# Imported on first use: `tfaffect export --help` (and `tfaffect predict`, which imports this module to read
# metadata) must not load TensorFlow before it is needed (tfaffect._lazy).
keras = lazy_module("keras")
tf = lazy_module("tensorflow")
_tfrecord = lazy_module("tfaffect.data.tfrecord")
_layers = lazy_module("tfaffect.models.layers")
_saving = lazy_module("tfaffect.models.saving")
_faces = lazy_module("tfaffect.data.faces")

log = logging.getLogger(__name__)

METADATA_FILE = "metadata.json"
KERAS_FILE = "model.keras"
TFLITE_FILE = "per_frame.tflite"
DEFAULT_ROOT = "saved_models"
"""Default parent folder of exports (``saved_models/<name>/``); git ignores its content."""

NUM_LANDMARKS = 68  # the 68-point mark-up of the data contract (FORMATS.md, SynthAffect landmark files)
NUM_EXPRESSIONS = len(tfaffect.EXPRESSIONS_7)

STEP_CHECK_FRAMES = 4
"""Frames of the random sequence on which the export compares ``step`` with ``serve``. Not fixed by
any paper; chosen because it lets every recurrent state feed back a few times at negligible cost."""
STEP_CHECK_TOLERANCE = 1e-4
"""Largest accepted ``|step - serve|`` in that check, relative to ``max(1, max |serve|)``. Not fixed by
any paper; chosen because the two paths differ only by float32 rounding (~1e-6 here), while a model
that looks at other frames differs by orders of magnitude more."""
TFLITE_CHECK_BATCH = 2
"""Random crops on which the TFLite output is compared with TensorFlow's (recorded, not asserted)."""

RESERVED_OUTPUTS = ("valence", "arousal", "state")
"""Output names the signatures define; a model output of the same name would clash."""


# --------------------------------------------------------------------------------------------------
# Preprocessing inside the signatures.

def resize_crops(frames: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """uint8 ``[N, H, W, 3]`` crops of any size -> uint8 ``[N, size[0], size[1], 3]``.

    ``tf.image.resize`` (bilinear, antialias), rounded and clipped to [0, 255]: the training
    pipeline's resize (in ``tfaffect.data.pipeline._decode``). Crops already of ``size`` pass
    unchanged (exactly, not through a resize that would round-trip them).
    """
    height, width = size
    shape = tf.shape(frames)

    same = tf.logical_and(tf.equal(shape[1], height), tf.equal(shape[2], width))
    return tf.ensure_shape(tf.cond(same, lambda: frames, lambda: _tfrecord.resize_uint8(frames, height, width)),
                           [None, height, width, 3])


def landmarks_to_model_units(landmarks: tf.Tensor, crop_height: tf.Tensor, crop_width: tf.Tensor,
                             size: tuple[int, int]) -> tf.Tensor:
    """Points ``[..., 68, 2]`` in units of the given crop (pixel ``(x, y)`` / ``(W, H)``) -> the same
    units in the crop resized to ``size`` (``(height, width)``), as the model was trained with.

    Resizing maps pixel centres onto pixel centres (:func:`tfaffect.data.tfrecord.normalise_landmarks`).
    All-zero frames ("unknown", the pipeline's convention) stay zero.
    """
    source = tf.cast(tf.stack([crop_width, crop_height]), tf.float32)
    target = tf.constant([size[1], size[0]], tf.float32)
    moved = _tfrecord.normalise_landmarks(landmarks * source, source, target)
    known = tf.reduce_any(tf.not_equal(landmarks, 0.0), axis=[-2, -1], keepdims=True)
    return tf.where(known, moved, tf.zeros_like(moved))


# --------------------------------------------------------------------------------------------------
# The model's structure.

def inference_copy(model: keras.Model, *, use_cudnn_false: bool = True) -> keras.Model:
    """A fresh copy of ``model`` (rebuilt from its serialized config, weights copied, not compiled).

    With ``use_cudnn_false`` no recurrent layer of the copy uses cuDNN, so no traced graph holds a
    cuDNN kernel: every ``use_cudnn`` entry of the config (a model constructor argument such as
    :class:`~tfaffect.models.AffWildNet`'s) is set to False before rebuilding, and so is the
    ``use_cudnn`` attribute of every layer of the copy afterwards (Keras 3.15's GRU/LSTM do not
    record it in their own config, so a plain functional model rebuilds them with the default
    ``"auto"``). Raises :class:`ConfigError` when the model cannot be rebuilt from its config.
    """
    serialized = keras.saving.serialize_keras_object(model)
    if use_cudnn_false:
        serialized = _set_key(serialized, "use_cudnn", False)
    try:
        rebuilt = keras.saving.deserialize_keras_object(serialized)
        rebuilt.set_weights(model.get_weights())
    except Exception as exc:  # Keras raises TypeError/ValueError/... for configs it cannot rebuild
        raise ConfigError(f"model {model.name!r} cannot be rebuilt from its config for export "
                          f"({type(exc).__name__}: {exc}); its get_config() must return its constructor "
                          "arguments") from exc
    if use_cudnn_false:
        for layer in rebuilt._flatten_layers():
            if hasattr(layer, "use_cudnn"):
                layer.use_cudnn = False
    return rebuilt


def _set_key(obj, key: str, value):
    """``obj`` (nested dicts/lists) with every dict entry ``key`` set to ``value``."""
    if isinstance(obj, dict):
        return {k: value if k == key else _set_key(v, key, value) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_set_key(v, key, value) for v in obj]
    return obj


@dataclasses.dataclass
class Structure:
    """What export needs to know about a model.

    ``sequence``: the image input has a time axis (``[B, T, S, S, 3]``), else frames ``[B, S, S, 3]``.
    ``time``: the model's fixed sequence length, ``None`` when any ``T`` works (AffWildNet).
    ``image_size``: ``(S_h, S_w)``. ``landmarks``: the model takes ``"landmarks"``.
    ``outputs``: the model's output names. ``recurrent``: its recurrent layers in order.
    ``pieces``: per-frame models around them (``len(recurrent) + 1``), or ``None`` with
    ``not_streamable`` saying why ``step`` cannot be made. ``windowed``: for a model whose frames
    see causal windows of earlier frames (:class:`Windowed`), ``None`` otherwise; then ``pieces`` is
    ``[per-frame part, head]`` and ``recurrent`` is empty.
    """

    sequence: bool
    time: Optional[int]
    image_size: tuple[int, int]
    landmarks: bool
    outputs: tuple[str, ...]
    recurrent: list = dataclasses.field(default_factory=list)
    pieces: Optional[list] = None
    not_streamable: Optional[str] = None
    windowed: Optional["Windowed"] = None

    @property
    def state_sizes(self) -> list[list[int]]:
        """Per recurrent layer, the sizes of its states (GRU: [units], LSTM: [units, units])."""
        sizes = []
        for layer in self.recurrent:
            size = layer.cell.state_size
            sizes.append([int(s) for s in size] if isinstance(size, (list, tuple)) else [int(size)])
        return sizes

    @property
    def state_size(self) -> int:
        if self.windowed is not None:
            return self.windowed.state_size
        return sum(sum(sizes) for sizes in self.state_sizes)

    def state_layout(self) -> list[dict[str, Any]]:
        """Which columns of the packed ``state`` belong to which layer's state (for metadata.json)."""
        if self.windowed is not None:
            return self.windowed.state_layout()
        layout, offset = [], 0
        for layer, sizes in zip(self.recurrent, self.state_sizes):
            for index, size in enumerate(sizes):
                layout.append({"layer": layer.name, "cell": type(layer.cell).__name__, "state": index,
                               "offset": offset, "size": size})
                offset += size
        return layout


@dataclasses.dataclass
class Windowed:
    """How ``step`` streams a model whose frames see a causal window of earlier frames.

    Such a model (the STAT models of :mod:`tfaffect.models.stat_lstm`) forms, with windowed layers
    (:func:`tfaffect.models.layers.context_frames`, e.g.
    :class:`~tfaffect.models.stat_lstm.CausalWindows`), each frame's window of the last ``s`` per-frame
    vectors (oldest first, the clip's first frame repeated before it), and its temporal head (window
    statistics, a BiLSTM over the window, fusion, output branches) reads only those windows, the current
    frame's per-frame vectors and the input's time length. So ``step`` carries no recurrent state but,
    per window layer, a buffer of the last ``s`` per-frame vectors, plus one column that is 0 until the
    first frame arrived (then the buffer is filled with that frame's vector, the padding the model
    uses). Per frame it runs the per-frame part once on the new frame, shifts each buffer and runs the
    head once on the windows: the same cost at every frame.

    ``layers``: the window layers in model order; ``windows[i]`` = ``context_frames(layers[i])``;
    ``frontier``: the per-frame tensors ``[B, T, D]`` the head reads (the windows' inputs among
    them); ``buffered[i]``: index in ``frontier`` of ``layers[i]``'s input; ``direct``: model
    input keys the head reads itself (as the time-length reference of ``UnfoldTime``).
    """

    layers: list
    frontier: list
    buffered: list[int]
    direct: list[str]

    @property
    def windows(self) -> list[int]:
        return [_layers.context_frames(layer) for layer in self.layers]

    @property
    def buffer_sizes(self) -> list[int]:
        """Columns of each window layer's buffer: ``s * D``."""
        return [window * int(self.frontier[index].shape[-1]) for window, index in zip(self.windows, self.buffered)]

    @property
    def state_size(self) -> int:
        return sum(self.buffer_sizes) + 1

    def state_layout(self) -> list[dict[str, Any]]:
        layout, offset = [], 0
        for layer, window, index, size in zip(self.layers, self.windows, self.buffered, self.buffer_sizes):
            layout.append({"layer": layer.name, "kind": "window buffer", "window": window,
                           "vector_size": int(self.frontier[index].shape[-1]), "offset": offset, "size": size,
                           "order": "the last `window` per-frame vectors, oldest first, row-major [window, vector]"})
            offset += size
        layout.append({"layer": None, "kind": "started", "offset": offset, "size": 1,
                       "meaning": "0 before the first frame (the buffers are then filled with it), 1 after"})
        return layout


def _history(tensor):
    """``(operation, node)`` that produced the symbolic ``tensor`` (Keras 3 functional graph)."""
    operation, node_index, _ = tensor._keras_history
    return operation, operation._inbound_nodes[node_index]


def _cut_at_windows(model: keras.Model, window_layers: list) -> tuple[Windowed, list]:
    """The :class:`Windowed` description of ``model`` and its two pieces: per-frame part and head.

    Walks the functional graph back from the outputs. A tensor is "windowed" when it is a window
    layer's output or computed from one; the head is everything windowed. Walking back, a
    non-windowed tensor that a windowed layer (or an output) reads is where the head starts: a
    model input (read directly, e.g. as a time reference) or a per-frame tensor (the frontier,
    computed by the per-frame part). The head is a ``keras.Function`` over the model's own layers
    (a layer called without ``training`` runs in inference mode). Raises :class:`ConfigError`
    where streaming with buffers would be wrong: a window layer called more than once or reading
    something not per-frame, or a recurrent layer outside the head (a state carried across frames
    as well as windows).
    """
    for layer in window_layers:
        if len(layer._inbound_nodes) != 1:
            raise ConfigError(f"window layer {layer.name!r} is called more than once")
    window_outputs = {id(layer.output): layer for layer in window_layers}
    model_inputs = {id(tensor): key for key, tensor in model.input.items()}
    memo: dict[int, bool] = {}

    def windowed(tensor) -> bool:
        key = id(tensor)
        if key not in memo:
            if key in window_outputs:
                memo[key] = True
            elif key in model_inputs:
                memo[key] = False
            else:
                memo[key] = any(windowed(t) for t in _history(tensor)[1].input_tensors)
        return memo[key]

    frontier, direct, seen = [], [], set()

    def walk(tensor) -> None:
        if id(tensor) in seen:
            return
        seen.add(id(tensor))
        if id(tensor) in model_inputs:
            direct.append(model_inputs[id(tensor)])
        elif not windowed(tensor):
            frontier.append(tensor)
        elif id(tensor) not in window_outputs:
            for parent in _history(tensor)[1].input_tensors:
                walk(parent)

    for output in keras.tree.flatten(model.output):
        walk(output)
    for layer in window_layers:  # each window's input is buffered, so it is computed per frame
        if windowed(layer.input) or id(layer.input) in model_inputs:
            raise ConfigError(f"window layer {layer.name!r} reads {'a window' if windowed(layer.input) else 'an input'}"
                              "; only windows of per-frame vectors can be buffered")
        if id(layer.input) not in {id(t) for t in frontier}:
            frontier.append(layer.input)
    for layer in model.layers:
        holds_rnn = isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)) or (
            isinstance(layer, keras.Model) and any(isinstance(inner, keras.layers.RNN)
                                                   for inner in layer._flatten_layers(include_self=False)))
        if holds_rnn and not any(windowed(t) for t in keras.tree.flatten(layer.output)):
            raise ConfigError(f"recurrent layer {layer.name!r} runs across frames outside the windows: a model that "
                              "carries a recurrent state and also windows frames cannot be streamed")
    frontier_ids = [id(t) for t in frontier]
    description = Windowed(layers=window_layers, frontier=frontier,
                           buffered=[frontier_ids.index(id(layer.input)) for layer in window_layers],
                           direct=sorted(set(direct)))
    per_frame = keras.Model(model.input, frontier, name="piece_per_frame")
    # keras.Function, not keras.Model: a Model whose inputs mix intermediate tensors with a model
    # input re-wires that input's graph node (Keras 3.15), after which the model no longer serializes.
    head = keras.Function([*frontier, *[layer.output for layer in window_layers],
                           *[model.input[key] for key in description.direct]], model.output, name="piece_head")
    return description, [per_frame, head]


def analyse(model: keras.Model) -> Structure:
    """Inputs, outputs and recurrent structure of ``model`` (see :class:`Structure`).

    Raises :class:`ConfigError` when the model does not follow the data contract (a dict input
    ``"image"`` uint8 ``[B, (T,) S, S, 3]`` with static ``S``, optional ``"landmarks"``, dict outputs
    with ``"va"`` and/or ``"expression"``).
    """
    try:
        inputs = model.input
    except (AttributeError, ValueError):  # e.g. a keras.Sequential rebuilt from its config is never called
        inputs = None
    if not isinstance(inputs, dict) or "image" not in inputs:
        got = f"a {type(model).__name__} without a defined input" if inputs is None else str(inputs)[:200]
        raise ConfigError(f"model {model.name!r}: export needs a dict input with key 'image' (data contract), "
                          f"got {got}; build the model with tfaffect.models.build_model or the functional API "
                          "with keras.Input(name='image')")
    extra = sorted(set(inputs) - {"image", "landmarks"})
    if extra:
        raise ConfigError(f"model {model.name!r}: inputs {extra} are not part of the data contract "
                          "('image', 'landmarks')")
    shape = tuple(inputs["image"].shape)
    if len(shape) not in (4, 5) or shape[-1] != 3 or None in shape[-3:-1]:
        raise ConfigError(f"model {model.name!r}: input 'image' must be [B, (T,) S, S, 3] with a fixed size S, "
                          f"got {shape}")
    outputs = model.output
    if not isinstance(outputs, dict) or not ({"va", "expression"} & set(outputs)):
        raise ConfigError(f"model {model.name!r}: export needs dict outputs with 'va' and/or 'expression', "
                          f"got {outputs}")
    clash = sorted(set(outputs) & set(RESERVED_OUTPUTS))
    if clash:
        raise ConfigError(f"model {model.name!r}: output names {clash} clash with the signatures' outputs")
    sequence = len(shape) == 5
    structure = Structure(sequence=sequence, time=shape[1] if sequence else None,
                          image_size=(int(shape[-3]), int(shape[-2])), landmarks="landmarks" in inputs,
                          outputs=tuple(outputs))
    if not structure.sequence:
        structure.pieces = [model]
        return structure
    window_layers = [layer for layer in model.layers if _layers.context_frames(layer) is not None]
    try:
        if window_layers:
            structure.windowed, structure.pieces = _cut_at_windows(model, window_layers)
        else:
            structure.recurrent, structure.pieces = _cut_at_recurrent_layers(model)
    except (ConfigError, ValueError) as exc:
        structure.not_streamable = str(exc)
    return structure


def _cut_at_recurrent_layers(model: keras.Model) -> tuple[list, list]:
    """The recurrent layers of ``model`` in order, and the per-frame models between them.

    Raises :class:`ConfigError` (or Keras's ValueError for a graph that cannot be cut there) when
    a recurrent layer cannot run one step at a time in the model's order.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            raise ConfigError(f"layer {layer.name!r} is bidirectional: it cannot run forward one frame at a "
                              "time with a carried state")
        if isinstance(layer, keras.Model) and any(isinstance(inner, keras.layers.RNN)
                                                  for inner in layer._flatten_layers(include_self=False)):
            raise ConfigError(f"layer {layer.name!r} is a nested model holding recurrent layers")
    recurrent = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
    for layer in recurrent:
        problems = [what for what, bad in (
            ("return_sequences=False", not layer.return_sequences),
            ("go_backwards=True", layer.go_backwards),
            ("stateful=True", layer.stateful),
            ("called more than once", len(layer._inbound_nodes) != 1),
        ) if bad]
        if problems:
            raise ConfigError(f"recurrent layer {layer.name!r} cannot be streamed: {', '.join(problems)}")
        if isinstance(layer.input, (list, tuple, dict)):
            raise ConfigError(f"recurrent layer {layer.name!r} takes several inputs (initial state?)")
    ends = [layer.input for layer in recurrent] + [model.output]
    starts = [model.input] + [layer.output for layer in recurrent]
    pieces = [keras.Model(start, end, name=f"piece_{index}") for index, (start, end) in enumerate(zip(starts, ends))]
    return recurrent, pieces


# --------------------------------------------------------------------------------------------------
# Whole sequences in chunks, the recurrent state carried (tfaffect predict).

def inference_function(model: keras.Model):
    """``model`` in inference mode as a ``tf.function`` traced once for any batch size (and any time length of a
    sequence model): ``{input name: array} -> {output name: numpy array}``. Keras's ``predict_on_batch`` traces
    again for every new input shape (the last batch of every video, each window length), seconds of tracing
    and a retracing warning on a long run."""
    inputs = model.input if isinstance(model.input, dict) else {"image": model.input}
    specs = {key: tf.TensorSpec([None, *tensor.shape[1:]], tensor.dtype) for key, tensor in inputs.items()}
    function = tf.function(lambda x: model(x, training=False), input_signature=[specs], autograph=False)

    def call(values: dict) -> dict:
        out = function({key: values[key] for key in specs})
        return {key: value.numpy() for key, value in (out.items() if isinstance(out, dict) else [("va", out)])}

    return call


class ChunkedSequence:
    """Run a recurrent sequence model over a long sequence chunk by chunk, its recurrent state carried from one
    chunk to the next, so that the outputs equal one call of the model on the whole sequence.

    Built from the same cut as ``step`` (:func:`analyse`): the first piece (model inputs -> what enters the
    first recurrent layer) runs on the frames of a chunk, which need not belong to one sequence (it is
    per-frame: the export's step check and :meth:`check` verify that); :meth:`tail` then runs each
    recurrent layer over one sequence's features from its carried states (the layers' own cells in a
    ``keras.layers.RNN`` that returns its final states) followed by the pieces after it. Both are
    ``tf.function`` s with an unknown time axis, traced once. Windowed models (causal windows, no recurrent
    state) are not for this class: they get their context as frames (:mod:`tfaffect.predict`).

    Raises :class:`ConfigError` naming the reason when the model cannot be run this way (a frame model,
    a windowed model, or one ``step`` cannot be made for, e.g. a bidirectional layer over the clip).
    """

    def __init__(self, model: keras.Model):
        structure = analyse(model)
        if not structure.sequence:
            raise ConfigError(f"model {model.name!r} is a frame model: no sequence to carry a state along")
        if structure.windowed is not None:
            raise ConfigError(f"model {model.name!r} sees causal windows of frames: give it the previous frames")
        if structure.pieces is None:
            raise ConfigError(f"model {model.name!r} cannot carry its state from chunk to chunk: "
                              f"{structure.not_streamable}")
        if structure.time is not None:
            raise ConfigError(f"model {model.name!r} is built for sequences of exactly {structure.time} frames")
        self.structure = structure
        first = structure.pieces[0]
        features = first.output
        self.feature_size = int(features.shape[-1])
        size = structure.image_size
        input_spec = {"image": tf.TensorSpec([None, None, size[0], size[1], 3], tf.uint8)}
        if structure.landmarks:
            input_spec["landmarks"] = tf.TensorSpec([None, None, NUM_LANDMARKS, 2], tf.float32)
        self._per_frame = tf.function(lambda x: first(x, training=False), input_signature=[input_spec],
                                      autograph=False)
        self.state_dtypes = [layer.cell.compute_dtype
                             for layer, sizes in zip(structure.recurrent, structure.state_sizes) for _ in sizes]
        sequence = keras.Input(shape=(None, self.feature_size), dtype=features.dtype, name="features")
        states_in = [keras.Input(shape=(size,), dtype=dtype, name=f"state_{index}") for index, (size, dtype)
                     in enumerate(zip(self.state_widths, self.state_dtypes))]
        hidden, used, states_out = sequence, 0, []
        for layer, piece, sizes in zip(structure.recurrent, structure.pieces[1:], structure.state_sizes):
            carried = keras.layers.RNN(layer.cell, return_sequences=True, return_state=True,
                                       name=f"{layer.name}_carried")
            hidden, *new = carried(hidden, initial_state=states_in[used:used + len(sizes)])
            used += len(sizes)
            states_out += new
            hidden = piece(hidden)
        self.output_names = list(hidden)
        tail = keras.Model([sequence, *states_in], [*[hidden[key] for key in self.output_names], *states_out],
                           name="carried_tail")
        tail_spec = [tf.TensorSpec([None, None, self.feature_size], features.dtype)] + [
            tf.TensorSpec([None, size], dtype) for size, dtype in zip(self.state_widths, self.state_dtypes)]
        self._tail = tf.function(lambda f, *states: tail([f, *states], training=False), input_signature=tail_spec,
                                 autograph=False)

    @property
    def state_widths(self) -> list[int]:
        return [size for sizes in self.structure.state_sizes for size in sizes]

    def initial_state(self, batch_size: int = 1) -> list[np.ndarray]:
        """The recurrent layers' initial states (zeros for GRU/LSTM), one array ``[batch_size, size]`` per state."""
        return [np.asarray(keras.ops.convert_to_numpy(state)) for layer in self.structure.recurrent
                for state in _as_list(layer.get_initial_state(batch_size))]

    def per_frame(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Model inputs ``[B, T, ...]`` -> features entering the first recurrent layer ``[B, T, F]`` (any frames)."""
        return self._per_frame(inputs).numpy()

    def tail(self, features: np.ndarray, state: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
        """Features ``[B, T, F]`` of the next frames of ``B`` sequences and their carried states -> the model's
        outputs ``{name: [B, T, ...]}`` and the states after the last frame."""
        out = self._tail(features, *state)
        count = len(self.output_names)
        return ({key: value.numpy() for key, value in zip(self.output_names, out[:count])},
                [value.numpy() for value in out[count:]])

    def __call__(self, inputs: dict[str, np.ndarray], state: list[np.ndarray]):
        """The next frames ``[B, T, ...]`` of ``B`` sequences from their states: ``(outputs, new states)``."""
        return self.tail(self.per_frame(inputs), state)

    def check(self, model: keras.Model, frames: int = STEP_CHECK_FRAMES) -> float:
        """Largest ``|chunked - whole|`` over the outputs on random frames cut into two chunks, relative to
        ``max(1, max |whole|)``: about float32 rounding for a model whose frames meet only through the recurrent
        layers; far more for one that mixes frames elsewhere (then the chunks differ from one call)."""
        arrays = _random_inputs(self.structure, 1, frames, seed=2)
        inputs = dict(zip(["image", "landmarks"], arrays))
        whole = {key: np.asarray(keras.ops.convert_to_numpy(value), np.float64)
                 for key, value in model(inputs, training=False).items()}
        cut = frames // 2
        state = self.initial_state(1)
        parts = []
        for part in ({k: v[:, :cut] for k, v in inputs.items()}, {k: v[:, cut:] for k, v in inputs.items()}):
            out, state = self(part, state)
            parts.append(out)
        scale = max(1.0, max(float(np.max(np.abs(value))) for value in whole.values()))
        return max(float(np.max(np.abs(np.concatenate([p[key] for p in parts], axis=1) - whole[key])))
                   for key in whole) / scale


# --------------------------------------------------------------------------------------------------
# The exported module.

def _named_outputs(outputs: dict) -> dict[str, tf.Tensor]:
    """Model outputs -> signature outputs: ``va`` split into ``valence``, ``arousal``; others kept; float32."""
    named = {}
    for key, value in outputs.items():
        value = tf.cast(value, tf.float32)
        if key == "va":
            named["valence"] = value[..., 0]
            named["arousal"] = value[..., 1]
        else:
            named[key] = value
    return named


class ExportModule:
    """The signature functions of an export, as ``tf.function``s with fixed input signatures.

    Built from a model whose recurrent layers do not use cuDNN (see :func:`inference_copy`).
    ``serve`` always; ``initial_state``, ``step`` and ``per_frame`` when ``structure.pieces`` exists.
    :meth:`archive` puts those that exist (and have been traced) into a ``keras.export.ExportArchive``,
    which saves exactly the variables they use.
    """

    def __init__(self, model: keras.Model, structure: Structure):
        self.model = model
        self._structure = structure
        size = structure.image_size
        landmark_spec = [tf.TensorSpec([None, structure.time, NUM_LANDMARKS, 2], tf.float32, name="landmarks")]
        serve_specs = [tf.TensorSpec([None, structure.time, None, None, 3], tf.uint8, name="frames")]
        step_specs = [tf.TensorSpec([None, None, None, 3], tf.uint8, name="frame")]
        if structure.landmarks:
            serve_specs += landmark_spec
            step_specs += [tf.TensorSpec([None, NUM_LANDMARKS, 2], tf.float32, name="landmarks")]
        step_specs += [tf.TensorSpec([None, structure.state_size], tf.float32, name="state")]
        # autograph=False: the Python control flow below depends on the model's structure only, never
        # on tensor values (the one data-dependent branch is an explicit tf.cond).
        self.serve = tf.function(self._serve, input_signature=serve_specs, autograph=False)
        if structure.pieces is not None:
            self.initial_state = tf.function(self._initial_state, autograph=False,
                                             input_signature=[tf.TensorSpec([], tf.int32, name="batch_size")])
            step = self._step_with_landmarks if structure.landmarks else self._step
            self.step = tf.function(step, input_signature=step_specs, autograph=False)
            self.per_frame = tf.function(self._per_frame, autograph=False, input_signature=[
                tf.TensorSpec([None, size[0], size[1], 3], tf.uint8, name="image"),
                *([tf.TensorSpec([None, NUM_LANDMARKS, 2], tf.float32, name="landmarks")]
                  if structure.landmarks else [])])

    def drop_step(self) -> None:
        """Leave ``initial_state``, ``step`` and ``per_frame`` out of the export."""
        self._structure.pieces = None
        for name in ("initial_state", "step", "per_frame"):
            self.__dict__.pop(name, None)

    def archive(self, metadata: Optional[str] = None) -> keras.export.ExportArchive:
        """An ExportArchive with ``serve`` first (so ``serving_default`` is ``serve``), then the others; with
        ``metadata`` (JSON text) also the ``metadata`` signature that returns it (``{"json": string scalar}``)."""
        archive = keras.export.ExportArchive()
        functions = {name: getattr(self, name, None) for name in ("serve", "initial_state", "step", "per_frame")}
        if metadata is not None:
            text = tf.constant(metadata, tf.string)
            functions["metadata"] = tf.function(lambda: {"json": tf.identity(text)}, input_signature=[],
                                                autograph=False)
        for name, function in functions.items():
            if function is not None:
                function.get_concrete_function()  # traced: the archive takes a traced tf.function as is
                archive.add_endpoint(name, function)
        return archive

    def _inputs(self, frames, landmarks):
        """uint8 crops ``[N, H, W, 3]`` (+ points ``[N, 68, 2]``) -> the model's per-frame inputs at its size."""
        size = self._structure.image_size
        x = {"image": resize_crops(frames, size)}
        if landmarks is not None:
            shape = tf.shape(frames)
            x["landmarks"] = landmarks_to_model_units(landmarks, shape[1], shape[2], size)
        return x

    def _serve(self, frames, landmarks=None):
        """``[B, T, H, W, 3]`` crops -> outputs ``[B, T, ...]``: resize the B*T crops, run the model once."""
        shape = tf.shape(frames)
        batch, time = shape[0], shape[1]
        flat = tf.reshape(frames, tf.concat([[-1], shape[2:]], axis=0))
        flat_landmarks = None if landmarks is None else tf.reshape(landmarks, [-1, NUM_LANDMARKS, 2])
        x = self._inputs(flat, flat_landmarks)
        if self._structure.sequence:
            x = {key: tf.reshape(value, tf.concat([[batch, time], tf.shape(value)[1:]], axis=0))
                 for key, value in x.items()}
            outputs = self.model(x, training=False)
        else:
            outputs = self.model(x, training=False)
            outputs = {key: tf.reshape(value, tf.concat([[batch, time], tf.shape(value)[1:]], axis=0))
                       for key, value in outputs.items()}
        return _named_outputs(outputs)

    def _initial_state(self, batch_size):
        """The recurrent layers' own initial states (``RNN.get_initial_state``), packed; zeros for window buffers."""
        if self._structure.windowed is not None:
            return {"state": tf.zeros([batch_size, self._structure.state_size], tf.float32)}
        states = [tf.cast(state, tf.float32) for layer in self._structure.recurrent
                  for state in _as_list(layer.get_initial_state(batch_size))]
        if not states:
            return {"state": tf.zeros([batch_size, 0], tf.float32)}
        return {"state": tf.concat(states, axis=-1)}

    def _step(self, frame, state):
        return self._step_with_landmarks(frame, None, state)

    def _step_with_landmarks(self, frame, landmarks, state):
        """One frame: first piece, then per recurrent layer its cell one step and the next piece."""
        if self._structure.windowed is not None:
            return self._step_windowed(frame, landmarks, state)
        x = self._inputs(frame, landmarks)
        sequence = self._structure.sequence
        if sequence:  # a sequence of length 1
            x = {key: value[:, None] for key, value in x.items()}
        pieces, layers = self._structure.pieces, self._structure.recurrent
        states = tf.split(state, [s for sizes in self._structure.state_sizes for s in sizes], axis=-1) \
            if layers else []
        hidden = pieces[0](x, training=False)
        new_states, used = [], 0
        for layer, piece, sizes in zip(layers, pieces[1:], self._structure.state_sizes):
            dtype = layer.cell.compute_dtype
            layer_states = [tf.cast(s, dtype) for s in states[used:used + len(sizes)]]
            used += len(sizes)
            output, layer_new = layer.cell(tf.cast(hidden[:, 0], dtype), layer_states, training=False)
            new_states += [tf.cast(s, tf.float32) for s in _as_list(layer_new)]
            hidden = piece(output[:, None], training=False)
        outputs = {key: value[:, 0] for key, value in hidden.items()} if sequence else hidden
        batch = tf.shape(frame)[0]
        packed = tf.concat(new_states, axis=-1) if new_states else tf.zeros([batch, 0], tf.float32)
        return {**_named_outputs(outputs), "state": packed}

    def _step_windowed(self, frame, landmarks, state):
        """One frame of a windowed model (:class:`Windowed`): per-frame part, shift the buffers, head once."""
        windowed = self._structure.windowed
        pieces = self._structure.pieces
        x = {key: value[:, None] for key, value in self._inputs(frame, landmarks).items()}  # sequences of 1
        frontier = _as_list(pieces[0](x, training=False))  # each [B, 1, D]
        started = state[:, -1:] > 0.5  # [B, 1]
        buffers = tf.split(state[:, :-1], windowed.buffer_sizes, axis=-1)
        windows, new_state = [], []
        for window, index, buffer in zip(windowed.windows, windowed.buffered, buffers):
            current = frontier[index]  # [B, 1, D]
            size = current.shape[-1]
            previous = tf.cast(tf.reshape(buffer, [-1, window, size]), current.dtype)
            shifted = tf.concat([previous[:, 1:], current], axis=1)  # the last `window` vectors, oldest first
            repeated = tf.repeat(current, window, axis=1)  # before the first frame: pad by repeating it
            block = tf.where(started[:, :, None], shifted, repeated)  # [B, s, D]
            windows.append(block[:, None])  # the window of the current frame, [B, 1, s, D]
            new_state.append(tf.reshape(tf.cast(block, tf.float32), [-1, window * size]))
        outputs = pieces[1]([*frontier, *windows, *[x[key] for key in windowed.direct]])  # inference: no training flag
        outputs = {key: value[:, 0] for key, value in outputs.items()}
        new_state.append(tf.ones_like(state[:, -1:]))
        return {**_named_outputs(outputs), "state": tf.concat(new_state, axis=-1)}

    def _per_frame(self, image, landmarks=None):
        """The TFLite part: crops at the model's size -> features before the first recurrent layer
        (sequence models), the per-frame vectors (windowed models) or the model's outputs (frame models)."""
        x = {"image": image} if landmarks is None else {"image": image, "landmarks": landmarks}
        if not self._structure.sequence:
            return _named_outputs(self.model(x, training=False))
        features = self._structure.pieces[0]({key: value[:, None] for key, value in x.items()}, training=False)
        if self._structure.windowed is not None:
            return {name: value[:, 0] for name, value in zip(_frontier_names(self._structure.windowed),
                                                              _as_list(features))}
        return {"features": features[:, 0]}


def _as_list(states) -> list:
    return list(states) if isinstance(states, (list, tuple)) else [states]


def _frontier_names(windowed: Windowed) -> list[str]:
    """Output names of ``per_frame`` for a windowed model: the layers that compute the per-frame vectors
    (``_<index>`` appended to a name that would repeat)."""
    names = [tensor._keras_history[0].name for tensor in windowed.frontier]
    return [name if names.count(name) == 1 else f"{name}_{index}" for index, name in enumerate(names)]


# --------------------------------------------------------------------------------------------------
# Checks run at export time.

def _random_inputs(structure: Structure, batch: int, time: Optional[int], seed: int) -> list[np.ndarray]:
    """Random uint8 crops at the model's size (plus landmarks in [0.1, 0.9)) for the export checks."""
    rng = np.random.default_rng(seed)
    lead = (batch,) if time is None else (batch, time)
    arrays = [rng.integers(0, 256, size=lead + structure.image_size + (3,), dtype=np.uint8)]
    if structure.landmarks:
        arrays.append(rng.uniform(0.1, 0.9, size=lead + (NUM_LANDMARKS, 2)).astype(np.float32))
    return arrays


def check_step(module: ExportModule) -> dict[str, Any]:
    """Run ``step`` over a random sequence and compare with ``serve`` on it.

    The sequence has the model's fixed length, else :data:`STEP_CHECK_FRAMES` frames. Returns
    ``{"frames", "max_abs_diff", "tolerance", "equal"}``, or ``{"frames", "equal": False, "error"}``
    when ``step`` cannot run (``serve`` failing is an error of the export and raises).
    """
    windowed = module._structure.windowed
    # Windowed models: enough frames that every buffer fills and then shifts.
    frames_count = module._structure.time or max([STEP_CHECK_FRAMES] + [window + 2 for window in
                                                                      (windowed.windows if windowed else [])])
    frames, *landmarks = _random_inputs(module._structure, 1, frames_count, seed=0)
    whole = module.serve(frames, *landmarks)
    try:
        state = module.initial_state(tf.constant(1, tf.int32))["state"]
        steps = []
        for t in range(frames_count):
            out = module.step(frames[:, t], *[points[:, t] for points in landmarks], state)
            state = out.pop("state")
            steps.append(out)
    except Exception as exc:  # a model whose pieces cannot run one frame at a time: no step, say why
        return {"frames": frames_count, "equal": False, "error": f"{type(exc).__name__}: {exc}"}
    diff = max(float(np.max(np.abs(np.stack([s[key] for s in steps], axis=1) - whole[key].numpy())))
               for key in whole)
    scale = max(1.0, max(float(np.max(np.abs(value))) for value in whole.values()))
    tolerance = STEP_CHECK_TOLERANCE * scale
    return {"frames": frames_count, "max_abs_diff": diff, "tolerance": tolerance, "equal": diff <= tolerance}


def convert_tflite(module: ExportModule, saved_model: Path, path: Path) -> dict[str, Any]:
    """Convert the ``per_frame`` signature of the SavedModel ``saved_model`` to TFLite at ``path``;
    return what metadata.json records.

    Converted from the saved signature (``TFLiteConverter.from_saved_model``), where the variables
    become constants: from a concrete function, Keras 3 variables stay uninitialised resource
    variables in the TFLite model (NaN outputs, seen with TF 2.21). Never raises for a conversion
    problem: ``{"file": None, "error": ...}`` says what went wrong. The comparison with TensorFlow
    needs ``tf.lite.Interpreter`` (deprecated in favour of LiteRT); where that fails the file is kept
    and ``check_error`` says why.
    """
    structure = module._structure
    if structure.pieces is None:
        return {"file": None, "error": f"no per-frame part: {structure.not_streamable or 'step unavailable'}"}
    try:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=["per_frame"])
        path.write_bytes(converter.convert())
    except Exception as exc:  # conversion is best effort: record why and carry on (module docstring)
        log.warning("TFLite conversion of the per-frame part failed: %s: %s", type(exc).__name__, exc)
        path.unlink(missing_ok=True)
        return {"file": None, "error": f"{type(exc).__name__}: {exc}"}
    inputs = _random_inputs(structure, TFLITE_CHECK_BATCH, None, seed=1)
    reference = module.per_frame(*inputs)
    record = {"file": TFLITE_FILE, "signature": "per_frame",
              "part": ("the per-frame vectors the causal windows are formed from" if structure.windowed is not None
                       else "features entering the first recurrent layer" if structure.sequence
                       else "the whole frame model"),
              "inputs": {"image": f"uint8 [N, {structure.image_size[0]}, {structure.image_size[1]}, 3] RGB crops "
                                  "already at the model's input size (no resize inside)"},
              "outputs": {key: f"float32 {list(value.shape[1:])} per crop" for key, value in reference.items()},
              "check_batch": TFLITE_CHECK_BATCH}
    if structure.landmarks:
        record["inputs"]["landmarks"] = "float32 [N, 68, 2] in units of the model's input size"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("per_frame")
        lite = runner(**dict(zip(["image", "landmarks"], inputs)))  # the runner resizes its inputs to the batch
        record["max_abs_diff_vs_tensorflow"] = max(float(np.max(np.abs(lite[key] - reference[key].numpy())))
                                                   for key in reference)
    except Exception as exc:  # the check is best effort too: the converted file stays
        log.warning("could not run the TFLite model to check it: %s: %s", type(exc).__name__, exc)
        record.update(max_abs_diff_vs_tensorflow=None, check_error=f"{type(exc).__name__}: {exc}")
    return record


# --------------------------------------------------------------------------------------------------
# Metadata.

def _why_no_step(structure: Structure, step: Optional[dict]) -> Optional[str]:
    """Why the export has no ``step`` signature (``None`` when it has one)."""
    if step is None:
        return structure.not_streamable
    if "error" in step:
        return f"step cannot run one frame at a time: {step['error']}"
    if not step["equal"]:
        return (f"step differs from serve by {step['max_abs_diff']:.3g} on {step['frames']} random frames "
                f"(tolerance {step['tolerance']:.3g}): a frame's output depends on other frames through more "
                "than the recurrent layers' states (e.g. a window of frames, or later frames)")
    return None


def _describe(model: keras.Model, structure: Structure, step: Optional[dict]) -> dict[str, Any]:
    """The generated part of metadata.json (``tflite`` is filled in by the export)."""
    size = structure.image_size
    frames = (f"uint8 [B, T, H, W, 3] RGB face crops of any size H x W, "
              f"{'any T >= 1' if structure.time is None else f'T = {structure.time}'}")
    points = ("float32 [B, T, 68, 2]: (x, y) pixel coordinates in the crop divided by its (width, height); "
              "all 0 = unknown")
    outputs = {"valence": "float32 [B, T] (model output 'va'[..., 0])",
               "arousal": "float32 [B, T] (model output 'va'[..., 1])"} if "va" in structure.outputs else {}
    for key in structure.outputs:
        if key == "expression":
            outputs[key] = f"float32 [B, T, {NUM_EXPRESSIONS}] probabilities, classes in 'expression_classes' order"
        elif key != "va":
            outputs[key] = "float32 [B, T, ...] (model output of that name)"
    signatures = {"serve": {"inputs": {"frames": frames, **({"landmarks": points} if structure.landmarks else {})},
                            "outputs": outputs},
                  "serving_default": "same as serve",
                  "metadata": {"inputs": {}, "outputs": {"json": "string scalar: this metadata.json as JSON text "
                                                                  "(without the TFLite record, written after it)"}}}
    if step is not None and step["equal"]:
        signatures["initial_state"] = {"inputs": {"batch_size": "int32 scalar"},
                                       "outputs": {"state": f"float32 [batch_size, {structure.state_size}]"}}
        signatures["step"] = {
            "inputs": {"frame": "uint8 [B, H, W, 3] RGB face crop of any size",
                       **({"landmarks": "float32 [B, 68, 2], units as serve"} if structure.landmarks else {}),
                       "state": f"float32 [B, {structure.state_size}] from initial_state or the previous step"},
            "outputs": {**{key: value.replace("[B, T", "[B") for key, value in outputs.items()},
                        "state": f"float32 [B, {structure.state_size}] for the next step"}}
        if not structure.sequence:
            per_frame_outputs = {key: value.replace("[B, T", "[N") for key, value in outputs.items()}
        elif structure.windowed is not None:
            per_frame_outputs = {name: f"float32 [N, {tensor.shape[-1]}] per-frame vector the windows and head read"
                                 for name, tensor in zip(_frontier_names(structure.windowed),
                                                         structure.windowed.frontier)}
        else:
            features = structure.pieces[0].output
            per_frame_outputs = {"features": f"float32 [N, {features.shape[-1]}] entering the first recurrent layer"}
        signatures["per_frame"] = {
            "inputs": {"image": f"uint8 [N, {size[0]}, {size[1]}, 3] RGB crops at the model's input size (no resize)",
                       **({"landmarks": "float32 [N, 68, 2] in units of the model's input size"}
                          if structure.landmarks else {})},
            "outputs": per_frame_outputs}
    description = {
        "format": "tfaffect SavedModel export",
        "tfaffect_version": tfaffect.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "input": {"image_size": list(size), "sequence_model": structure.sequence, "time": structure.time,
                  "landmarks": structure.landmarks},
        "preprocessing": {
            "resize": f"inside the signatures: tf.image.resize to {size[0]}x{size[1]} (bilinear, antialias), "
                      "rounded and clipped to uint8, as the training pipeline; crops of that size pass unchanged",
            "scaling": "inside the model (Aff-Wild models: (x - 128) / 128)",
            "landmarks": "inside the signatures: moved to the resized crop's pixel grid "
                         "(x' = (x * W + 0.5) / W - 0.5 / S); all-zero frames stay zero"
            if structure.landmarks else None,
        },
        "face_crop": _faces.crop_description(size[0]) if size[0] == size[1] else None,
        "outputs": list(outputs),
        "signatures": signatures,
        "state": {"size": structure.state_size, "layout": structure.state_layout()},
        "step_check": step,
        "step_unavailable": _why_no_step(structure, step),
        "files": {"saved_model": "saved_model.pb", "keras": KERAS_FILE, "metadata": METADATA_FILE},
        "tflite": None,
        "model": {"class": type(model).__name__, "name": model.name, "parameters": int(model.count_params()),
                  "config": keras.saving.serialize_keras_object(model)["config"]},
    }
    if "expression" in structure.outputs:
        description["expression_classes"] = list(tfaffect.EXPRESSIONS_7)
    return description


# --------------------------------------------------------------------------------------------------
# The entry points.

def export_model(model: keras.Model, out_dir: str | os.PathLike, *, metadata: dict, tflite: bool = True,
                 overwrite: bool = False) -> Path:
    """Export ``model`` to the folder ``out_dir`` (SavedModel + metadata.json + model.keras [+ TFLite]).

    See the module docstring for the signatures and files.

    Args:
        model: a Keras model following the data contract (dict input ``"image"`` uint8
            ``[B, (T,) S, S, 3]``, optional ``"landmarks"``; dict outputs ``"va"`` / ``"expression"``).
        out_dir: the folder to create.
        metadata: what the caller knows, stored in metadata.json beside the generated keys, e.g.
            ``{"recipe": ..., "training_data": ..., "metrics": {...}}``; JSON-serializable; its keys must
            not be generated ones (``format``, ``input``, ``signatures``, ...).
        tflite: also convert the per-frame part to TFLite (failure is recorded, not raised).
        overwrite: replace an existing ``out_dir`` (after the new export is complete).

    Returns:
        ``Path(out_dir)``.

    Raises:
        ConfigError: the model does not follow the data contract or cannot be rebuilt, the metadata
            is not JSON or collides with generated keys, or ``out_dir`` exists without ``overwrite``.
    """
    out_dir = Path(out_dir)
    try:
        caller = json.loads(json.dumps(metadata))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"export metadata must be JSON-serializable: {exc}") from exc
    if out_dir.exists() and not overwrite:
        raise ConfigError(f"{out_dir} exists; pass another --out or --overwrite")
    check_output_dir(out_dir)
    analyse(model)  # the data contract, before anything is rebuilt or written
    serving = inference_copy(model)
    structure = analyse(serving)
    module = ExportModule(serving, structure)
    step = None
    if structure.pieces is not None:
        step = check_step(module)
        if not step["equal"]:
            module.drop_step()
    description = _describe(serving, structure, step)
    if description["step_unavailable"]:
        log.warning("%s: no step signature: %s", model.name, description["step_unavailable"])
    clash = sorted(set(caller) & set(description))
    if clash:
        raise ConfigError(f"export metadata keys {clash} are generated by the export; use other names")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    clean_orphans(out_dir.parent)  # folders of exports killed mid-write (their process is gone)
    tmp = temp_path(out_dir, hidden=True)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        log.info("writing SavedModel %s", out_dir)
        embedded = {**caller, **description, "tflite": "see metadata.json beside saved_model.pb"}
        module.archive(json.dumps(embedded, indent=1)).write_out(str(tmp), verbose=False)
        inference_copy(model, use_cudnn_false=False).save(tmp / KERAS_FILE)
        if tflite:
            log.info("converting the per-frame part to TFLite")
            description["tflite"] = convert_tflite(module, tmp, tmp / TFLITE_FILE)
            description["files"]["tflite"] = description["tflite"]["file"]
        else:
            description["tflite"] = {"file": None, "error": "not requested"}
            description["files"]["tflite"] = None
        write_json_atomic(tmp / METADATA_FILE, {**caller, **description})
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("exported %s to %s", model.name, out_dir)
    return out_dir


def _replace_dir(new: Path, target: Path) -> None:
    """Move the finished folder ``new`` to ``target``, replacing an existing one only after ``new`` is in place."""
    if not target.exists():
        os.replace(new, target)
        return
    old = temp_path(target, hidden=True, kind="old")
    os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def load_run(run_dir: str | os.PathLike, weights: str = "final") -> tuple[keras.Model, dict[str, Any], str]:
    """A trainer run directory -> ``(model, metadata for export_model, default export name)``.

    The export name is the run's recipe name made a safe file name (:func:`tfaffect.io.safe_filename`:
    it comes from data, ``config.json``).

    ``weights="final"`` uses ``RUN/model.keras`` as it is; ``"best"`` loads the best epoch's
    checkpoint (``metrics.json["best_checkpoint"]``) into that architecture. The metadata holds the
    recipe (name, class, fields), its training data (:func:`training_data`) and metrics.json's
    validation metrics.
    """
    run_dir = Path(run_dir)
    model_path = run_dir / KERAS_FILE
    if not model_path.is_file():
        raise MissingResourceError(f"{run_dir}: no {KERAS_FILE} (is the run finished? re-run its training "
                                   "command with --run-dir to finish it), or pass --model PATH.keras")
    model = _saving.load_model(model_path)
    config = _read_json(run_dir / "config.json", "is RUN a tfaffect run directory?")
    metrics = _read_json(run_dir / "metrics.json", "is RUN a tfaffect run directory?")
    source = KERAS_FILE
    if weights == "best":
        checkpoint = metrics.get("best_checkpoint")
        if checkpoint is not None and not _inside_run(checkpoint):
            raise DataError(f"best_checkpoint {str(checkpoint)[:80]!r} is not a file inside the run directory "
                            "(names from data are never paths elsewhere)", run_dir / "metrics.json")
        if not checkpoint or not (run_dir / checkpoint).is_file():
            raise MissingResourceError(f"{run_dir}: no best checkpoint (metrics.json best_checkpoint = "
                                       f"{checkpoint!r}); pass --weights final")
        try:
            model.load_weights(run_dir / checkpoint)
        except ValueError as exc:  # Keras: the checkpoint's layers do not match the model's
            raise ConfigError(f"{run_dir / checkpoint}: does not fit {model_path} ({exc})") from exc
        except Exception as exc:  # h5py/OS errors for a damaged file
            raise DataError(f"cannot read the checkpoint ({type(exc).__name__}: {str(exc)[:200]})",
                            run_dir / checkpoint) from None
        source = checkpoint
    elif weights != "final":
        raise ConfigError(f"weights must be 'final' or 'best', got {weights!r}")
    fields = config.get("fields") if isinstance(config.get("fields"), dict) else {}
    metadata = {
        "recipe": {"name": config.get("recipe"), "class": config.get("class"), "fields": fields},
        "training_data": training_data(fields, metrics),
        "metrics": {key: metrics.get(key) for key in ("final", "monitor", "monitor_mode", "best_epoch",
                                                      "best_value", "epochs")},
        "weights": {"run_dir": str(run_dir), "file": source},
    }
    recipe = config.get("recipe")
    name = recipe if isinstance(recipe, str) and recipe else run_dir.resolve().name
    return model, metadata, safe_filename(name)


SYNTHAFFECT = "SynthAffect (synthetic)"
"""How metadata names the embedded generated dataset (the name ``tfaffect report`` uses too)."""


def training_data(fields: dict, metrics: dict) -> dict[str, Any]:
    """What a run was trained on, from its ``config.json`` fields and ``metrics.json``: ``{"name", "synthetic",
    "location", "source"}``.

    ``metrics.json["evaluation"]`` (written by the recipe's evaluation) says whether the data were SynthAffect
    (``synthetic``) and where they were (``data``); the recipe's ``data`` field is what the command line gave
    (``None``: the recipe's default dataset). ``synthetic`` is ``None`` where neither tells.
    """
    evaluation = metrics.get("evaluation") if isinstance(metrics.get("evaluation"), dict) else {}
    given = fields.get("data")
    location = evaluation.get("data") if isinstance(evaluation.get("data"), str) else given
    synthetic = evaluation.get("synthetic") if isinstance(evaluation.get("synthetic"), bool) else None
    if synthetic:
        name = SYNTHAFFECT
    elif synthetic is False:
        name = f"the dataset at {location}" if location else "a real dataset (not named in the run)"
    elif given:
        name = f"the dataset at {given}"
    else:
        name = "the recipe's default dataset (not recorded in metrics.json; tfaffect's recipes default to SynthAffect)"
    return {"name": name, "synthetic": synthetic, "location": location,
            "source": "run directory: config.json fields.data and metrics.json evaluation.synthetic / .data"}


def _inside_run(relative) -> bool:
    """Whether ``relative`` (read from a run's metrics.json) names a file below the run directory."""
    if not isinstance(relative, str) or not relative:
        return False
    parts = Path(relative).parts
    return not Path(relative).is_absolute() and all(identifier_problem(part) is None for part in parts)


def _read_json(path: Path, hint: str, kind: type = dict) -> Any:
    """The JSON object in ``path``; :class:`MissingResourceError` (with ``hint``) when it is missing,
    :class:`DataError` naming it (and the line) when it is not UTF-8 JSON holding a ``kind``."""
    if not path.is_file():
        raise MissingResourceError(f"{path}: missing; {hint}")
    try:
        with open(path, "rb") as f:
            data = f.read()
        value = json.loads(data.decode("utf-8"))
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", path) from None
    except UnicodeDecodeError as exc:
        raise DataError("not valid JSON (not UTF-8 text)", path, line=data[:exc.start].count(b"\n") + 1) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg})", path, line=exc.lineno) from None
    except (ValueError, RecursionError) as exc:
        raise DataError(f"not valid JSON ({str(exc)[:100]})", path) from None
    if not isinstance(value, kind):
        raise DataError(f"must hold a JSON {'object' if kind is dict else kind.__name__}, got "
                        f"{type(value).__name__}", path)
    return value


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a saved Keras model (.keras)")
    source.add_argument("--run-dir", help="a trainer run directory (uses its model.keras; see --weights)")
    parser.add_argument("--weights", choices=("final", "best"), default="final",
                        help="with --run-dir: the final model or the best epoch's checkpoint")
    parser.add_argument("--name", help="export name; unset: the run's recipe, or the model file's stem")
    parser.add_argument("--out", help=f"output folder; unset: {DEFAULT_ROOT}/<name>")
    parser.add_argument("--metadata", help="JSON file of extra metadata (e.g. training data, metrics)")
    parser.add_argument("--no-tflite", action="store_true", help="skip the TFLite conversion")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")


def cli_main(args: argparse.Namespace) -> int:
    """``tfaffect export``. Errors go to the command line's error boundary (:mod:`tfaffect.boundary`)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.name is not None and identifier_problem(args.name) is not None:
        raise ConfigError(f"--name {args.name!r}: {identifier_problem(args.name)}; pass a plain name (or --out)")
    if args.out is not None:
        out = Path(args.out)
        if out.exists() and not args.overwrite:
            raise ConfigError(f"{out} exists; pass another --out or --overwrite")
    if args.run_dir is not None:
        model, metadata, name = load_run(args.run_dir, args.weights)
    elif args.weights != "final":
        raise ConfigError("--weights best needs --run-dir (a .keras file holds one set of weights)")
    else:
        model = _saving.load_model(args.model)
        metadata, name = {"weights": {"file": str(args.model)}}, safe_filename(Path(args.model).stem)
    if args.metadata:
        extra = _read_json(Path(args.metadata), "pass a JSON file to --metadata")
        metadata = {**metadata, **extra}
    name = args.name or name
    out = Path(args.out) if args.out else Path(DEFAULT_ROOT) / name
    out = export_model(model, out, metadata=metadata, tflite=not args.no_tflite, overwrite=args.overwrite)
    written = _read_json(out / METADATA_FILE, "the export did not finish")
    print(f"exported {name} to {out}: signatures {', '.join(sorted(written['signatures']))}; "
          f"TFLite: {written['tflite']['file'] or written['tflite']['error']}")
    if written["step_unavailable"]:
        print(f"no streaming step: {written['step_unavailable']}")
    return 0
