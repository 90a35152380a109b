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
window joins the face frames on both sides of a gap.

With ``out_dir`` the table is written as ``frames.csv`` beside two PNG plots, ``va_over_time.png``
(frames without a face shaded) and ``va_histogram.png`` (2-D valence-arousal histogram as Kollias 2019,
Fig. 15), all written atomically.

Models that take 68 landmarks need a 68-point detector at prediction time; none is bundled (dlib's shape
predictor would be one), so such models raise :class:`~tfaffect.errors.MissingResourceError`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from tfaffect import EXPRESSIONS_7
from tfaffect.errors import MissingResourceError

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 80  # sequence length of the released AffWildNet code (FORMATS.md)
DEFAULT_BATCH_SIZE = 8
"""Windows (sequence models) or crops (frame models) per model call, and frames per MTCNN call. Not
fixed by the papers; 8 amortises the per-call cost on 2 CPU cores without holding much in memory."""
DETECT_EVERY = 5
"""Full MTCNN on every 5th frame, tracked in between (FacePipeline). Not fixed by the papers; chosen
because faces in talking-head video move little within 5 frames (0.2 s at 25 fps) and detection must not
dominate the run time (issue #5)."""
DETECT_MAX_SIDE = 320
"""Frames downscaled to a longer side of 320 pixels for detection (FacePipeline's default and reasons)."""

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


def _expression_columns(num_classes: int) -> list[str]:
    names = EXPRESSIONS_7 if num_classes == len(EXPRESSIONS_7) else [str(k) for k in range(num_classes)]
    return [f"p_{name}" for name in names]


class _Runner:
    """Collects face crops and runs the model on full batches of them; results land in ``self.outputs``."""

    def __init__(self, model, mode: str, batch_size: int, window: int):
        self.model = model
        self.chunk = batch_size * window if mode == "windows" else batch_size
        self.window = window if mode == "windows" else None
        self.frames: list[int] = []
        self.crops: list[np.ndarray] = []
        self.outputs: dict[str, list[np.ndarray]] = {}
        self.done: list[int] = []

    def add(self, frame: int, crop: np.ndarray) -> None:
        self.frames.append(frame)
        self.crops.append(crop)
        if len(self.crops) == self.chunk:
            self.flush()

    def flush(self) -> None:
        if not self.crops:
            return
        images = np.stack(self.crops)
        if self.window is None:
            self._call(images)
        else:
            full = len(images) // self.window * self.window
            if full:
                self._call(images[:full].reshape(-1, self.window, *images.shape[1:]))
            if full < len(images):
                self._call(images[None, full:])
        self.done.extend(self.frames)
        self.frames, self.crops = [], []

    def _call(self, images: np.ndarray) -> None:
        out = self.model.predict_on_batch({"image": images})
        for key, value in out.items():
            value = np.asarray(value, np.float64)
            self.outputs.setdefault(key, []).append(value.reshape(-1, value.shape[-1]))


def predict_video(video: str | os.PathLike, model, *, out_dir: str | os.PathLike | None = None,
                  batch_size: int = DEFAULT_BATCH_SIZE, window: int = DEFAULT_WINDOW,
                  progress: bool = True, detector=None) -> pd.DataFrame:
    """Per-frame valence/arousal (and expression probabilities) of the main face in ``video``.

    Args:
        video: any video OpenCV reads.
        model: a Keras model or the path of one (``.keras`` file, run directory or export folder).
            Its image input gives the crop size and whether it is a frame or sequence model.
        out_dir: when given, ``frames.csv``, ``va_over_time.png`` and ``va_histogram.png`` are written there.
        batch_size: crops (frame models) or windows (sequence models) per model call; frames per MTCNN call.
        window: frames per window for sequence models.
        progress: tqdm progress bar over the frames.
        detector: an ``mtcnn.MTCNN`` to reuse; a new one when ``None``.

    Returns the table of the module docstring, one row per decoded frame, in frame order. A video
    without any face logs a warning and returns flagged rows with empty predictions.

    Raises:
        MissingResourceError: the model file is missing, or the model needs 68 landmarks.
        VideoError: the video cannot be opened or is truncated (names the file and frame).
    """
    from tqdm.auto import tqdm

    from tfaffect.data.faces import FacePipeline
    from tfaffect.data.video import iter_frames, probe_video
    from tfaffect.evaluation import fill_missing_faces, model_data_args

    if batch_size < 1 or window < 1:
        raise ValueError(f"batch_size and window must be >= 1, got {batch_size} and {window}")
    if not hasattr(model, "predict_on_batch"):
        model = load_predict_model(model)
    data_args = model_data_args(model)
    if data_args["landmarks"]:
        raise MissingResourceError(
            "this model takes 68 facial landmarks per frame, and tfaffect has no 68-point detector for "
            "prediction: one would need dlib's shape predictor (the `dlib-bin` wheel) and its model file "
            "(shape_predictor_68_face_landmarks.dat). Pass a model trained without landmarks instead")
    info = probe_video(video)
    faces = FacePipeline(data_args["image_size"], batch_size=batch_size, detect_every=DETECT_EVERY,
                         detect_max_side=DETECT_MAX_SIDE, detector=detector)
    runner = _Runner(model, data_args["mode"], batch_size, window)

    rows = []
    times: dict[int, float] = {}

    def frames():
        for index, time_s, rgb in iter_frames(video):
            times[index] = time_s
            yield index, rgb

    crops = tqdm(faces.process(frames()), total=info.num_frames or None, desc="predict", unit="frame",
                 disable=not progress)
    for crop in crops:
        box = crop.box if crop.box is not None else (np.nan,) * 4
        rows.append({"frame": crop.frame, "time_s": times.pop(crop.frame), "face_found": crop.image is not None,
                     "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3], "confidence": crop.score})
        if crop.image is not None:
            runner.add(crop.frame, crop.image)
    runner.flush()

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
                        help="crops (frame models) or windows (sequence models) per model call")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW,
                        help="frames per window for sequence models (80: the released AffWildNet code)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def cli_main(args) -> int:
    import sys

    from tfaffect.errors import TfaffectError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.model is None:
        print("tfaffect predict: no model given, and tfaffect ships no trained weights: pass a trained "
              "model with --model, e.g. runs/affwildnet/<run>/model.keras or a `tfaffect export` folder",
              file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("predictions") / Path(args.video).stem
    try:
        table = predict_video(args.video, args.model, out_dir=out, batch_size=args.batch_size,
                              window=args.window, progress=not args.no_progress)
    except TfaffectError as exc:
        print(f"tfaffect predict: {exc}", file=sys.stderr)
        return 1
    found = int(table["face_found"].sum())
    if not found:
        print("WARNING: " + NO_FACE_MESSAGE.format(video=args.video), file=sys.stderr)
    print(f"{len(table)} frames, face found in {found}; written to {out}")
    return 0
