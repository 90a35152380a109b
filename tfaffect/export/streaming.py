"""The model's structure as export and predict need it: the recurrent layers or causal windows found in its graph
and the per-frame pieces around them (:func:`analyse`), a copy without cuDNN kernels (:func:`inference_copy`),
whole sequences in chunks with the recurrent state carried (:class:`ChunkedSequence`) and the model as one
traced function (:func:`inference_function`).

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

Models that average a bidirectional net over every stride-1 window of L frames (MM-Net, Li 2017 section 2:
:class:`~tfaffect.models.mmnet.SlidingWindows` ... :class:`~tfaffect.models.mmnet.OverlapAverage`) need the L - 1
frames after a frame to predict it, so they stream with a fixed delay of L - 1 frames (:class:`Delayed`): a
per-frame part (model inputs -> the per-frame features the windows read) and the window head (one window of
features ``[L, F]`` -> its L outputs). ``step`` runs the per-frame part on the frame, shifts it into a buffer of the
last 2L - 1 feature vectors, runs the head on the L windows that contain the buffer's middle frame and gives that
frame's average, L - 1 frames late; ``flush`` gives the last L - 1 frames at the end of the stream.

Recurrent layers are exported with ``use_cudnn=False``: the model is rebuilt from its config with
that setting and the weights are copied, because a GRU/LSTM traced on a GPU with ``"auto"`` bakes
a cuDNN kernel into the graph that does not load on a machine without one (DESIGN.md, known traps).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np

from tfaffect._lazy import lazy_module
from tfaffect.errors import ConfigError

# Imported on first use: `tfaffect export --help` and `tfaffect predict --help` load no TensorFlow (tfaffect._lazy).
keras = lazy_module("keras")
tf = lazy_module("tensorflow")
_layers = lazy_module("tfaffect.models.layers")
_mmnet = lazy_module("tfaffect.models.mmnet")

NUM_LANDMARKS = 68  # the 68-point mark-up of the data contract (FORMATS.md, SynthAffect landmark files)

STEP_CHECK_FRAMES = 4
"""Frames of the random sequence on which the export compares ``step`` with ``serve``. Not fixed by
any paper; chosen because it lets every recurrent state feed back a few times at negligible cost."""

RESERVED_OUTPUTS = ("valence", "arousal", "state")
"""Output names the signatures define; a model output of the same name would clash."""


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
    delayed: Optional["Delayed"] = None

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
        if self.windowed is not None or self.delayed is not None:
            return (self.windowed or self.delayed).state_size
        return sum(sum(sizes) for sizes in self.state_sizes)

    def state_layout(self) -> list[dict[str, Any]]:
        """Which columns of the packed ``state`` belong to which layer's state (for metadata.json)."""
        if self.windowed is not None or self.delayed is not None:
            return (self.windowed or self.delayed).state_layout()
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

    @property
    def frontier_names(self) -> list[str]:
        """Output names of ``per_frame`` for a windowed model: the layers that compute the per-frame vectors
        (``_<index>`` appended to a name that would repeat)."""
        names = [tensor._keras_history[0].name for tensor in self.frontier]
        return [name if names.count(name) == 1 else f"{name}_{index}" for index, name in enumerate(names)]

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


@dataclasses.dataclass
class Delayed:
    """How ``step`` streams a model whose frame t is the mean of a bidirectional window net's outputs for t over
    every stride-1 window of ``window`` = L frames containing it (MM-Net, Li 2017 section 2): the outputs of frame
    t need frames up to t + L - 1, so ``step`` gives frame ``t - (L - 1)`` (``delay`` = L - 1 frames late) and
    ``flush`` the last L - 1 frames when the stream ends.

    The state is a buffer of the last ``2L - 1`` per-frame feature vectors (``feature_size`` = F each, oldest
    first) and the number of frames given so far. At each frame ``step`` runs the window head on the L windows
    inside the buffer (each contains its middle frame) and averages, per output, the middle frame's values over the
    windows that lie inside the stream (none before frame 0): what the model computes over the whole clip.
    Streams shorter than L frames: the model's one window repeats the last frame (``window_indices``); ``flush``
    does the same."""

    window: int
    feature_size: int

    @property
    def delay(self) -> int:
        return self.window - 1

    @property
    def buffer(self) -> int:
        """Feature vectors kept: the L windows containing the middle frame span ``2L - 1`` frames."""
        return 2 * self.window - 1

    @property
    def state_size(self) -> int:
        return self.buffer * self.feature_size + 1

    def state_layout(self) -> list[dict[str, Any]]:
        size = self.buffer * self.feature_size
        return [{"layer": None, "kind": "feature buffer", "window": self.buffer, "vector_size": self.feature_size,
                 "offset": 0, "size": size, "order": "the last 2L - 1 per-frame feature vectors, oldest first, "
                                                     "row-major [2L - 1, vector]; zeros before the stream"},
                {"layer": None, "kind": "frames", "offset": size, "size": 1,
                 "meaning": "the number of frames given to step so far"}]


def _cut_at_sliding_windows(model: keras.Model, layers: list) -> tuple[Delayed, list]:
    """The :class:`Delayed` description of ``model`` and its two pieces: per-frame part (model inputs -> the
    features ``[B, T, F]`` the windows read) and window head (windows ``[B', L, F]`` -> per-window outputs
    ``[B', L, D]``, the model's own layers between the folded windows and their unfolding). The model must be
    :class:`~tfaffect.models.mmnet.MemoryNetwork`'s graph: ``SlidingWindows`` -> ``FoldTime`` -> head ->
    ``UnfoldTime`` -> ``OverlapAverage`` over the same features, its one output; else :class:`ConfigError`."""
    if len(layers) != 1:
        raise ConfigError(f"{len(layers)} sliding-window layers: a delayed step handles one")
    (windows,) = layers
    outputs = model.output
    average, node = _history(outputs["va"]) if list(outputs) == ["va"] else (None, None)
    if not isinstance(average, _mmnet.OverlapAverage):
        raise ConfigError("sliding windows whose outputs are not averaged into the model's only output 'va' (an "
                          "OverlapAverage layer)")
    unfolded, reference = node.input_tensors
    unfold, unfold_node = _history(unfolded)
    per_window, window_reference = unfold_node.input_tensors
    if not isinstance(unfold, _layers.UnfoldTime) or window_reference is not windows.output \
            or reference is not windows.input:
        raise ConfigError("the averaged outputs do not come from the sliding windows of the features they average")
    folds = [layer for layer in model.layers if isinstance(layer, _layers.FoldTime)
             and any(t is windows.output for node in layer._inbound_nodes for t in node.input_tensors)]
    if len(folds) != 1 or len(windows._inbound_nodes) != 1:
        raise ConfigError("the sliding windows are not folded once into a batch of windows")
    description = Delayed(window=int(windows.window), feature_size=int(windows.input.shape[-1]))
    per_frame = keras.Model(model.input, windows.input, name="piece_per_frame")
    head = keras.Function([folds[0].output], [per_window], name="piece_window_head")
    return description, [per_frame, head]


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
    sliding = [layer for layer in model.layers if isinstance(layer, _mmnet.SlidingWindows)]
    try:
        if sliding:
            structure.delayed, structure.pieces = _cut_at_sliding_windows(model, sliding)
        elif window_layers:
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
        if structure.delayed is not None:
            raise ConfigError(f"model {model.name!r} averages windows around each frame: give it the frames after it")
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
                for state in as_list(layer.get_initial_state(batch_size))]

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
        arrays = random_inputs(self.structure, 1, frames, seed=2)
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


def as_list(states) -> list:
    return list(states) if isinstance(states, (list, tuple)) else [states]


def random_inputs(structure: Structure, batch: int, time: Optional[int], seed: int) -> list[np.ndarray]:
    """Random uint8 crops at the model's size (plus landmarks in [0.1, 0.9)) for the export checks."""
    rng = np.random.default_rng(seed)
    lead = (batch,) if time is None else (batch, time)
    arrays = [rng.integers(0, 256, size=lead + structure.image_size + (3,), dtype=np.uint8)]
    if structure.landmarks:
        arrays.append(rng.uniform(0.1, 0.9, size=lead + (NUM_LANDMARKS, 2)).astype(np.float32))
    return arrays
