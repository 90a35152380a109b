"""The signatures of an export (:class:`ExportModule`), the check that ``step`` equals ``serve``, the generated
part of ``metadata.json``, and :func:`export_model`, which writes the folder (see :mod:`tfaffect.export`).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Optional

import numpy as np

import tfaffect
from tfaffect._lazy import lazy_module
from tfaffect.errors import ConfigError
from tfaffect.export.streaming import (NUM_LANDMARKS, RESERVED_OUTPUTS, STEP_CHECK_FRAMES, Structure, analyse,
                                       as_list, inference_copy, random_inputs)
from tfaffect.export.tflite import TFLITE_FILE, convert_tflite
from tfaffect.io import check_output_dir, clean_orphans, temp_path, write_json_atomic

# Imported on first use: `tfaffect export --help` loads no TensorFlow (tfaffect._lazy).
keras = lazy_module("keras")
tf = lazy_module("tensorflow")
_tfrecord = lazy_module("tfaffect.data.tfrecord")
_faces = lazy_module("tfaffect.data.faces")

log = logging.getLogger(__name__)

METADATA_FILE = "metadata.json"
KERAS_FILE = "model.keras"
NUM_EXPRESSIONS = len(tfaffect.EXPRESSIONS_7)

STEP_CHECK_TOLERANCE = 1e-4
"""Largest accepted ``|step - serve|`` in :func:`check_step`, relative to ``max(1, max |serve|)``. Not
fixed by any paper; chosen because the two paths differ only by float32 rounding (~1e-6 here), while a model
that looks at other frames differs by orders of magnitude more."""


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


def clip_outputs(model: keras.Model) -> tuple[str, ...]:
    """The outputs whose value at a clip's last frame is the clip's prediction: the model class's ``clip_outputs``
    (e.g. :class:`~tfaffect.models.kahou.KahouCNNIRNN`'s expression, section 2.2 of Kahou 2015), none by default.
    Such a causal sequence model gets the ``clip`` signature."""
    names = tuple(getattr(model, "clip_outputs", ()))
    bad = [name for name in names if name in ("va", *RESERVED_OUTPUTS) or name not in model.output]
    if bad:
        raise ConfigError(f"model {model.name!r}: clip_outputs {bad} must name outputs of the model other than 'va'")
    return names


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
            if structure.delayed is not None:
                self.flush = tf.function(self._flush, autograph=False, input_signature=[
                    tf.TensorSpec([None, structure.state_size], tf.float32, name="state")])
            if structure.sequence and clip_outputs(model):
                self.clip = tf.function(self._clip, autograph=False, input_signature=[
                    *serve_specs, tf.TensorSpec([None], tf.int32, name="lengths")])

    def drop_step(self) -> None:
        """Leave ``initial_state``, ``step`` and ``per_frame`` out of the export."""
        self._structure.pieces = None
        for name in ("initial_state", "step", "flush", "per_frame", "clip"):
            self.__dict__.pop(name, None)

    def archive(self, metadata: Optional[str] = None) -> keras.export.ExportArchive:
        """An ExportArchive with ``serve`` first (so ``serving_default`` is ``serve``), then the others; with
        ``metadata`` (JSON text) also the ``metadata`` signature that returns it (``{"json": string scalar}``)."""
        archive = keras.export.ExportArchive()
        functions = {name: getattr(self, name, None) for name in ("serve", "initial_state", "step", "flush",
                                                                  "per_frame", "clip")}
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

    def _clip(self, frames, *args):
        """``[B, T, H, W, 3]`` crops of clips padded to ``T`` and their ``lengths [B]`` -> the model's clip outputs at
        each clip's last valid frame ``[B, ...]`` (:func:`clip_outputs`). Exported only for models whose step check
        passed: their output at frame t depends on frames <= t only, so the padding after a clip changes nothing."""
        *landmarks, lengths = args
        time = tf.shape(frames)[1]
        checks = [tf.debugging.assert_greater_equal(lengths, 1, message="every clip length must be >= 1"),
                  tf.debugging.assert_less_equal(lengths, time, message="a clip length exceeds the frames given"),
                  tf.debugging.assert_equal(tf.shape(lengths)[0], tf.shape(frames)[0],
                                            message="one length per clip of frames")]
        with tf.control_dependencies(checks):
            last = tf.identity(lengths) - 1
        outputs = self._serve(frames, *landmarks)
        return {key: tf.gather(outputs[key], last, axis=1, batch_dims=1) for key in clip_outputs(self.model)}

    def _initial_state(self, batch_size):
        """The recurrent layers' own initial states (``RNN.get_initial_state``), packed; zeros for window buffers."""
        if self._structure.windowed is not None or self._structure.delayed is not None:
            return {"state": tf.zeros([batch_size, self._structure.state_size], tf.float32)}
        states = [tf.cast(state, tf.float32) for layer in self._structure.recurrent
                  for state in as_list(layer.get_initial_state(batch_size))]
        if not states:
            return {"state": tf.zeros([batch_size, 0], tf.float32)}
        return {"state": tf.concat(states, axis=-1)}

    def _step(self, frame, state):
        return self._step_with_landmarks(frame, None, state)

    def _step_with_landmarks(self, frame, landmarks, state):
        """One frame: first piece, then per recurrent layer its cell one step and the next piece."""
        if self._structure.windowed is not None:
            return self._step_windowed(frame, landmarks, state)
        if self._structure.delayed is not None:
            return self._step_delayed(frame, landmarks, state)
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
            new_states += [tf.cast(s, tf.float32) for s in as_list(layer_new)]
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
        frontier = as_list(pieces[0](x, training=False))  # each [B, 1, D]
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

    def _window_head(self, windows):
        """Windows of features ``[N, L, F]`` -> the model's per-window outputs ``[N, L, ...]``."""
        (out,) = self._structure.pieces[1]([windows])
        return out

    def _window_outputs(self, buffer):
        """Buffers ``[B, 2L - 1, F]`` -> the window head's outputs on the L windows inside each, ``[B, L (window k:
        buffer frames k .. k + L - 1), L (position in the window), ...]`` (:class:`Delayed`)."""
        window = self._structure.delayed.window
        windows = tf.stack([buffer[:, k:k + window] for k in range(window)], axis=1)  # [B, L, L, F]
        out = self._window_head(tf.reshape(windows, [-1, window, buffer.shape[-1]]))
        return tf.reshape(out, tf.concat([[-1, window, window], tf.shape(out)[2:]], axis=0))

    def _windows_inside(self, frames):
        """``[B, L]``: 1 for the buffer's windows that lie inside the stream, given ``frames [B, 1]`` frames so far
        (window k starts at stream frame ``frames - (2L - 1) + k``: it exists when that is >= 0)."""
        delayed = self._structure.delayed
        return tf.cast(tf.range(delayed.window, dtype=tf.float32)[None] >= float(delayed.buffer) - frames, tf.float32)

    def _step_delayed(self, frame, landmarks, state):
        """One frame of a delayed model (:class:`Delayed`): its features into the buffer, then the output of the
        frame ``delay`` frames back, averaged over the windows that contain it and lie inside the stream."""
        delayed = self._structure.delayed
        window, size = delayed.window, delayed.feature_size
        x = {key: value[:, None] for key, value in self._inputs(frame, landmarks).items()}
        features = tf.cast(self._structure.pieces[0](x, training=False), tf.float32)  # [B, 1, F]
        buffer = tf.reshape(state[:, :-1], [-1, delayed.buffer, size])
        buffer = tf.concat([buffer[:, 1:], features], axis=1)
        frames = state[:, -1:] + 1.0  # [B, 1]: frames given, this one included
        outputs = self._window_outputs(buffer)
        middle = tf.stack([outputs[:, k, window - 1 - k] for k in range(window)], axis=1)  # [B, L, ...]
        va = _masked_mean(middle, self._windows_inside(frames))
        packed = tf.concat([tf.reshape(buffer, [-1, delayed.buffer * size]), frames], axis=-1)
        return {**_named_outputs({"va": va}), "ready": tf.cast(frames[:, 0] >= window, tf.float32), "state": packed}

    def _flush(self, state):
        """The end of a delayed stream: the last L - 1 frames' outputs ``[B, L - 1]`` (oldest first) and ``valid``
        ``[B, L - 1]`` (0 for positions before the stream's first frame, in streams shorter than L - 1 frames)."""
        delayed = self._structure.delayed
        window, last = delayed.window, delayed.buffer - 1
        buffer = tf.reshape(state[:, :-1], [-1, delayed.buffer, delayed.feature_size])
        frames = state[:, -1:]  # [B, 1]
        outputs = self._window_outputs(buffer)
        inside = self._windows_inside(frames)
        rows = []
        for j in range(window - 1):  # the frame at buffer index L + j; windows k = j + 1 .. L - 1 contain it
            rows.append(_masked_mean(tf.stack([outputs[:, k, window + j - k] for k in range(j + 1, window)], axis=1),
                                     inside[:, j + 1:]))
        full = tf.stack(rows, axis=1)  # [B, L - 1, ...]
        # shorter than L frames: the model's one window, the last frame repeated (window_indices)
        count = tf.cast(frames[:, 0], tf.int32)
        start = delayed.buffer - tf.minimum(count, window)  # the stream's first frame (when shorter than L)
        indices = tf.minimum(start[:, None] + tf.range(window)[None], last)
        short = self._window_head(tf.gather(buffer, indices, batch_dims=1))  # [B, L, ...]: position i = frame i
        positions = tf.range(window - 1)[None] + count[:, None] - (window - 1)  # [B, L - 1]: frame of row j
        picked = tf.gather(short, tf.clip_by_value(positions, 0, window - 1), batch_dims=1)
        is_short = tf.reshape(count < window, [-1] + [1] * (len(full.shape) - 1))
        va = tf.where(is_short, picked, full)
        return {**_named_outputs({"va": va}), "valid": tf.cast(positions >= 0, tf.float32)}

    def _per_frame(self, image, landmarks=None):
        """The TFLite part: crops at the model's size -> features before the first recurrent layer
        (sequence models), the per-frame vectors (windowed models) or the model's outputs (frame models)."""
        x = {"image": image} if landmarks is None else {"image": image, "landmarks": landmarks}
        if not self._structure.sequence:
            return _named_outputs(self.model(x, training=False))
        features = self._structure.pieces[0]({key: value[:, None] for key, value in x.items()}, training=False)
        if self._structure.windowed is not None:
            return {name: value[:, 0] for name, value in zip(self._structure.windowed.frontier_names,
                                                              as_list(features))}
        return {"features": features[:, 0]}


def _masked_mean(values, mask):
    """``values [B, K, ...]`` averaged over K where ``mask [B, K]`` is 1 (0 where no entry is)."""
    weights = tf.reshape(mask, tf.concat([tf.shape(mask), tf.ones([len(values.shape) - 2], tf.int32)], axis=0))
    weights = tf.cast(weights, values.dtype)
    return tf.reduce_sum(values * weights, axis=1) / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)


# --------------------------------------------------------------------------------------------------
# Checks run at export time.

def check_step(module: ExportModule) -> dict[str, Any]:
    """Run ``step`` over a random sequence and compare with ``serve`` on it.

    The sequence has the model's fixed length, else :data:`STEP_CHECK_FRAMES` frames. Returns
    ``{"frames", "max_abs_diff", "tolerance", "equal"}``, or ``{"frames", "equal": False, "error"}``
    when ``step`` cannot run (``serve`` failing is an error of the export and raises).
    """
    if module._structure.delayed is not None:
        return _check_delayed(module)
    windowed = module._structure.windowed
    # Windowed models: enough frames that every buffer fills and then shifts.
    frames_count = module._structure.time or max([STEP_CHECK_FRAMES] + [window + 2 for window in
                                                                      (windowed.windows if windowed else [])])
    frames, *landmarks = random_inputs(module._structure, 1, frames_count, seed=0)
    whole = module.serve(frames, *landmarks)
    try:
        steps, _ = _stepped(module, frames, landmarks)
    except Exception as exc:  # a model whose pieces cannot run one frame at a time: no step, say why
        return {"frames": frames_count, "equal": False, "error": f"{type(exc).__name__}: {exc}"}
    diff = max(float(np.max(np.abs(np.stack([s[key] for s in steps], axis=1) - whole[key].numpy())))
               for key in whole)
    scale = max(1.0, max(float(np.max(np.abs(value))) for value in whole.values()))
    tolerance = STEP_CHECK_TOLERANCE * scale
    return {"frames": frames_count, "max_abs_diff": diff, "tolerance": tolerance, "equal": diff <= tolerance}


def _stepped(module: ExportModule, frames, landmarks: list) -> tuple[list[dict], Any]:
    """``step`` over every frame of ``frames [1, T, ...]`` (and ``landmarks``) from the initial state: each step's
    outputs (without the state) and the last state."""
    state = module.initial_state(tf.constant(1, tf.int32))["state"]
    steps = []
    for t in range(frames.shape[1]):
        out = module.step(frames[:, t], *[points[:, t] for points in landmarks], state)
        state = out.pop("state")
        steps.append(out)
    return steps, state


def _check_delayed(module: ExportModule) -> dict[str, Any]:
    """:func:`check_step` of a delayed model (:class:`~tfaffect.export.streaming.Delayed`): ``step`` over random
    sequences, its ready outputs followed by ``flush``'s valid ones, against ``serve`` on each sequence: one long
    enough that the buffer fills and shifts (2L + 1 frames), one shorter than the window (L - 2 frames, when
    L > 2). Also records ``delay``."""
    delayed = module._structure.delayed
    lengths = [delayed.buffer + 2] + ([delayed.window - 2] if delayed.window > 2 else [])
    diff, scale = 0.0, 1.0
    for seed, count in enumerate(lengths):
        frames, *landmarks = random_inputs(module._structure, 1, count, seed=seed)
        whole = module.serve(frames, *landmarks)
        try:
            steps, state = _stepped(module, frames, landmarks)
            streamed = {key: [out[key].numpy()[:, None] for out in steps if float(out["ready"][0]) > 0.5]
                        for key in whole}
            rest = module.flush(state)
            valid = rest.pop("valid")[0].numpy() > 0.5
            for key in streamed:
                streamed[key].append(rest[key].numpy()[:, valid])
        except Exception as exc:  # a model whose pieces cannot run one frame at a time: no step, say why
            return {"frames": count, "equal": False, "error": f"{type(exc).__name__}: {exc}"}
        for key, value in whole.items():
            got = np.concatenate(streamed[key], axis=1)
            if got.shape != value.shape:
                return {"frames": count, "equal": False, "error": f"step and flush gave {got.shape[1]} frames of "
                                                                  f"{key!r}, serve {value.shape[1]}"}
            diff = max(diff, float(np.max(np.abs(got - value.numpy()))))
            scale = max(scale, float(np.max(np.abs(value))))
    tolerance = STEP_CHECK_TOLERANCE * scale
    return {"frames": lengths[0], "short_frames": lengths[1:], "delay": delayed.delay, "max_abs_diff": diff,
            "tolerance": tolerance, "equal": diff <= tolerance}


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
        elif key == "attention":
            span = model.output["attention"].shape[-1]
            outputs[key] = (f"float32 [B, T, {span}] attention weights of frame t (ANCLaF-SA, Aspandi 2021 eq. 6: "
                            f"softmax, summing to 1) over the LSTM states [h; c] after the previous {span} frames: "
                            f"index j weighs frame t - {span} + j (oldest first); 0 where that frame does not exist "
                            "(all 0 at the first frame)")
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
        if structure.delayed is not None:
            delay = structure.delayed.delay
            step_outputs = signatures["step"]["outputs"]
            for key in outputs:
                step_outputs[key] += f" of the frame {delay} frames before this one (a delay of L - 1 = {delay})"
            step_outputs["ready"] = (f"float32 [B]: 1 when the outputs are a frame's; 0 for the first {delay} "
                                     "frames of a stream, which have no frame that far back")
            signatures["flush"] = {
                "inputs": {"state": f"float32 [B, {structure.state_size}] after the stream's last step"},
                "outputs": {**{key: value.replace("[B, T", f"[B, {delay}") + f": the stream's last {delay} frames, "
                                    "oldest first" for key, value in outputs.items()},
                            "valid": f"float32 [B, {delay}]: 0 for rows before the stream's first frame (streams "
                                     f"shorter than {delay} frames)"}}
        if not structure.sequence:
            per_frame_outputs = {key: value.replace("[B, T", "[N") for key, value in outputs.items()}
        elif structure.windowed is not None:
            per_frame_outputs = {name: f"float32 [N, {tensor.shape[-1]}] per-frame vector the windows and head read"
                                 for name, tensor in zip(structure.windowed.frontier_names,
                                                         structure.windowed.frontier)}
        else:
            features = structure.pieces[0].output
            enters = "the sliding windows" if structure.delayed else "the first recurrent layer"
            per_frame_outputs = {"features": f"float32 [N, {features.shape[-1]}] entering {enters}"}
        if structure.sequence and clip_outputs(model):
            signatures["clip"] = {
                "inputs": {**signatures["serve"]["inputs"],
                           "lengths": "int32 [B]: each clip's number of frames (1..T); frames after it are padding"},
                "outputs": {key: outputs[key].replace("[B, T", "[B") + " at the clip's last frame: the clip's "
                                 "prediction" for key in clip_outputs(model)}}
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
            "scaling": getattr(model, "preprocessing", None) or "inside the model (Aff-Wild models: (x - 128) / 128)",
            "landmarks": "inside the signatures: moved to the resized crop's pixel grid "
                         "(x' = (x * W + 0.5) / W - 0.5 / S); all-zero frames stay zero"
            if structure.landmarks else None,
        },
        "face_crop": _faces.crop_description(size[0]) if size[0] == size[1] else None,
        "outputs": list(outputs),
        "signatures": signatures,
        "state": {"size": structure.state_size, "layout": structure.state_layout()},
        "delay": structure.delayed.delay if structure.delayed is not None and step and step["equal"] else 0,
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

    See :mod:`tfaffect.export` for the signatures and files.

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
