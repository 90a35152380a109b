"""Dataset-level evaluation: run a model over prepared data, map predictions back to frames, score.

The challenge protocol (Kollias 2019, section 4.1; original code ``concordance_cc2``): CCC and MSE per
dimension over **all frames of all videos concatenated**, invalid frames (NaN labels) left out. Per-video
means are reported beside it, because they weigh short videos differently and people ask for both.

Window models are evaluated on windows that cover every frame (:func:`tfaffect.data.pipeline.make_dataset`
with ``training=False``); a frame that lies in several windows gets the mean of its predictions
(stride-1 sliding windows, Li 2017 section 3.1.2).

Frames without a face (Li 2017's FACE vs ALL protocol): ``protocol="face"`` scores only frames that
had a face; ``protocol="all"`` scores every labelled frame, the predictions of frames without a face
replaced by linear interpolation between the nearest frames with a face in the same video (held
constant beyond the first/last such frame).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from tfaffect._lazy import lazy_module
from tfaffect.errors import ConfigError, DataError

log = logging.getLogger(__name__)

metrics = lazy_module("tfaffect.metrics")  # imports Keras: loaded on first use, so `--help` stays fast

VA_COLUMNS = ("valence", "arousal")


def collect_predictions(predict_batch, batches: Iterable, *, progress: bool = True,
                        total: int | None = None) -> pd.DataFrame:
    """Per-frame predictions of a whole evaluation pass, averaged over the windows a frame lies in.

    Args:
        predict_batch: ``x -> {"va": [B, (T,) 2], ...}`` (e.g. ``model.predict_on_batch``).
        batches: elements ``(x, y, sample_weight, index)`` from ``make_dataset(..., training=False,
            with_index=True)``.
        total: the number of batches, for the progress bar (``None``: ``len(batches)`` where it has one).

    Returns one row per (video, frame), sorted, with columns ``video_id, frame, has_face``, the labels
    (``valence_true``, ``arousal_true`` as NaN where invalid; ``expression_true`` -1 where invalid) and
    the predictions (``valence``, ``arousal``; ``p_<k>`` expression probabilities where the model has them).
    """
    from tqdm.auto import tqdm

    parts = []
    if progress and total is None and hasattr(batches, "__len__"):
        total = len(batches)
    for x, y, weight, index in tqdm(batches, desc="evaluate", unit="batch", total=total, disable=not progress):
        out = predict_batch(x)
        frame = np.asarray(index["frame"])
        keep = frame.reshape(-1) >= 0  # -1 marks padding of videos shorter than a window
        video = np.broadcast_to(np.asarray(index["video_id"]).reshape(frame.shape[0], *([1] * (frame.ndim - 1))),
                                frame.shape)
        cols = {"video_id": video.reshape(-1)[keep].astype(str), "frame": frame.reshape(-1)[keep],
                "has_face": np.asarray(index["has_face"]).reshape(-1)[keep].astype(bool)}
        if "va" in y:
            va_true = np.asarray(y["va"], np.float64).reshape(-1, 2)[keep]
            va_true[np.asarray(weight["va"]).reshape(-1)[keep] == 0] = np.nan
            cols["valence_true"], cols["arousal_true"] = va_true[:, 0], va_true[:, 1]
        if "expression" in y:
            expr = np.asarray(y["expression"]).reshape(-1)[keep].astype(np.int64)
            expr[np.asarray(weight["expression"]).reshape(-1)[keep] == 0] = -1
            cols["expression_true"] = expr
        if "va" in out:
            va = np.asarray(out["va"], np.float64).reshape(-1, 2)[keep]
            cols["valence"], cols["arousal"] = va[:, 0], va[:, 1]
        if "expression" in out:
            probs = np.asarray(out["expression"], np.float64)
            probs = probs.reshape(-1, probs.shape[-1])[keep]
            cols.update({f"p_{k}": probs[:, k] for k in range(probs.shape[1])})
        parts.append(pd.DataFrame(cols))
    if not parts:
        raise DataError("the evaluation data gave no batch: is the split empty?")
    frames = pd.concat(parts, ignore_index=True)
    keys = ["video_id", "frame"]
    labels = frames.groupby(keys, sort=True).first()
    predicted = [c for c in frames.columns if c in VA_COLUMNS or c.startswith("p_")]
    labels[predicted] = frames.groupby(keys, sort=True)[predicted].mean()
    return labels.reset_index()


def fill_missing_faces(frames: pd.DataFrame) -> pd.DataFrame:
    """Predictions of frames without a face replaced by linear interpolation within each video (Li 2017, ALL)."""
    predicted = [c for c in frames.columns if c in VA_COLUMNS or c.startswith("p_")]
    out = frames.copy()
    for _, rows in out.groupby("video_id", sort=False):
        face = rows["has_face"].to_numpy()
        if face.all():
            continue
        if not face.any():
            log.warning("video %s has no frame with a face: its predictions are kept as the model gave them",
                        rows["video_id"].iloc[0])
            continue
        t = rows["frame"].to_numpy()
        for column in predicted:
            values = rows[column].to_numpy()
            out.loc[rows.index[~face], column] = np.interp(t[~face], t[face], values[face])
    return out


def score_va(frames: pd.DataFrame, *, protocol: str = "face") -> dict:
    """Dataset-level and per-video-mean CCC / MSE / PCC per dimension, plus the mean CCC.

    ``protocol``: ``"face"`` (frames with a face) or ``"all"`` (every labelled frame, missing faces
    interpolated; Li 2017). Returns a flat dict (JSON-ready) with frame and video counts.
    """
    if protocol not in ("face", "all"):
        raise ValueError(f"protocol must be 'face' or 'all', got {protocol!r}")
    if protocol == "all":
        frames = fill_missing_faces(frames)
    else:
        frames = frames[frames["has_face"]]
    true = frames[["valence_true", "arousal_true"]].to_numpy(np.float64)
    pred = frames[list(VA_COLUMNS)].to_numpy(np.float64)
    result = {"protocol": protocol, "frames": int(np.isfinite(true).all(axis=1).sum()),
              "videos": int(frames["video_id"].nunique())}
    for name, fn in (("ccc", metrics.ccc), ("mse", metrics.mse), ("pcc", metrics.pcc)):
        values = fn(true, pred)
        result.update({f"{name}_{dim}": float(v) for dim, v in zip(VA_COLUMNS, values)})
    result["ccc_mean"] = (result["ccc_valence"] + result["ccc_arousal"]) / 2
    per_video = per_video_scores(frames)
    for column in per_video.columns:
        if column != "frames":
            result[f"video_mean_{column}"] = float(per_video[column].mean())
    return result


def per_video_scores(frames: pd.DataFrame) -> pd.DataFrame:
    """CCC and MSE per dimension for each video with at least one labelled frame (index: video id)."""
    rows = {}
    for video, group in frames.groupby("video_id", sort=True):
        true = group[["valence_true", "arousal_true"]].to_numpy(np.float64)
        if not np.isfinite(true).any():
            continue
        pred = group[list(VA_COLUMNS)].to_numpy(np.float64)
        row = {"frames": int(np.isfinite(true).all(axis=1).sum())}
        for name, fn in (("ccc", metrics.ccc), ("mse", metrics.mse)):
            row.update({f"{name}_{dim}": float(v) for dim, v in zip(VA_COLUMNS, fn(true, pred))})
        rows[video] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("video_id")


def score_expression(frames: pd.DataFrame, *, num_classes: int = 7) -> dict:
    """Accuracy, macro and weighted F1 and the ABAW 2020 expression score over frames with a face."""
    frames = frames[frames["has_face"]]
    probs = frames[[f"p_{k}" for k in range(num_classes)]].to_numpy()
    true = frames["expression_true"].to_numpy()
    return {"expression_frames": int((true >= 0).sum()),
            "accuracy": metrics.accuracy(true, probs, num_classes=num_classes),
            "f1_macro": metrics.f1(true, probs, average="macro", num_classes=num_classes),
            "f1_weighted": metrics.f1(true, probs, average="weighted", num_classes=num_classes),
            "expression_score": metrics.abaw1_expression_score(true, probs, num_classes=num_classes)}


def evaluate(predict_batch, batches: Iterable, *, protocols: Iterable[str] = ("face",),
             progress: bool = True, total: int | None = None) -> tuple[dict, pd.DataFrame]:
    """Collect predictions and score every task present. Returns ``(metrics, per-frame table)``; ``total``:
    the number of batches, for the progress bar."""
    frames = collect_predictions(predict_batch, batches, progress=progress, total=total)
    return score_frames(frames, protocols), frames


def score_frames(frames: pd.DataFrame, protocols: Iterable[str] = ("face",)) -> dict:
    """Every score a per-frame table (:func:`collect_predictions`) allows: :func:`score_va` per protocol (ALL's
    keys prefixed ``all_``) and :func:`score_expression`."""
    result: dict = {}
    if "valence" in frames and "valence_true" in frames:
        for protocol in protocols:
            scores = score_va(frames, protocol=protocol)
            prefix = "" if protocol == "face" else "all_"
            result.update({prefix + k: v for k, v in scores.items() if k != "protocol"})
    if "p_0" in frames and "expression_true" in frames:
        result.update(score_expression(frames))
    return result


def flatten_for_csv(result: Mapping) -> pd.DataFrame:
    """A metrics dict as a one-column table (metric, value), the CSV people open in a spreadsheet."""
    return pd.DataFrame({"metric": list(result), "value": list(result.values())})


# ------------------------------------------------------------------------------------------------
# tfaffect evaluate

def model_data_args(model, source: str | os.PathLike | None = None) -> dict:
    """``make_dataset`` arguments a model's inputs imply: windows for [B, T, H, W, 3] image inputs,
    the image size, and landmarks when the model takes them. :class:`ConfigError` naming ``source``
    (the model file) when the model does not follow the data contract (an input named ``image`` of
    shape ``[B, (T,) S, S, 3]``)."""
    inputs = model.inputs if isinstance(model.inputs, dict) else {
        t.name.split(":")[0]: t for t in (model.inputs or [])}
    image = next((t for name, t in inputs.items() if "image" in name), None)
    shape = tuple(image.shape) if image is not None else ()
    if image is None or len(shape) not in (4, 5) or shape[-1] != 3 or not isinstance(shape[-2], int):
        where = f"{source}: " if source is not None else ""
        found = ", ".join(f"{name} {tuple(t.shape)}" for name, t in inputs.items()) or "none"
        raise ConfigError(f"{where}the model does not take the data contract's input 'image' [B, (T,) S, S, 3] "
                          f"(its inputs: {found}); build it with tfaffect.models.build_model")
    return {"mode": "windows" if len(shape) == 5 else "frames", "image_size": int(shape[-2]),
            "landmarks": any("landmarks" in name for name in inputs)}


def add_cli_arguments(parser) -> None:
    parser.description = ("Dataset-level evaluation (Kollias 2019 protocol: CCC and MSE per dimension over "
                          "all frames concatenated, invalid frames left out), per-video means, FACE and "
                          "ALL protocols (Li 2017). Writes evaluation.json, evaluation.csv, frames.csv and "
                          "per_video.csv.")
    parser.add_argument("--model", required=True, help="a trained model (.keras), e.g. RUN_DIR/model.keras")
    parser.add_argument("--data", required=True, help="prepared shards (a directory with manifest.json)")
    parser.add_argument("--split", default="validation", help="split of the manifest to evaluate")
    parser.add_argument("--seq-len", type=int, default=80,
                        help="window length for sequence models (80: the released AffWildNet code)")
    parser.add_argument("--stride", type=int, default=None,
                        help="step between windows; default: seq-len (each frame once); 1 = every frame "
                             "in seq-len windows, predictions averaged (Li 2017)")
    parser.add_argument("--batch-size", type=int, default=8, help="examples per batch")
    parser.add_argument("--out", default=None, help="output folder (default: beside the model)")


def cli_main(args) -> int:
    """``tfaffect evaluate``. Errors go to the command line's error boundary (:mod:`tfaffect.boundary`):
    arguments, the output folder, the model and the data are checked before the evaluation pass."""
    import json

    from tfaffect.data.pipeline import known_length, make_dataset
    from tfaffect.data.tfrecord import load_manifest, naming_bad_shards, split_shards
    from tfaffect.io import check_output_dir, make_output_dir, write_json_atomic, write_text_atomic
    from tfaffect.models.saving import load_model

    for option, value in (("--batch-size", args.batch_size), ("--seq-len", args.seq_len),
                          ("--stride", args.stride)):
        if value is not None and value < 1:
            raise ConfigError(f"{option} must be >= 1, got {value}")
    out = Path(args.out) if args.out else Path(args.model).resolve().parent
    check_output_dir(out)
    manifest = load_manifest(args.data)
    split_shards(manifest, args.split)  # ConfigError naming the splits there are
    model = load_model(args.model)
    data_args = model_data_args(model, args.model)
    if data_args["mode"] == "windows":
        data_args.update(seq_len=args.seq_len, stride=args.stride or args.seq_len)
    batches = make_dataset(args.data, args.split, batch_size=args.batch_size, training=False, with_index=True,
                           tasks=("va",), **data_args)
    with naming_bad_shards(args.data, args.split):
        result, frames = evaluate(model.predict_on_batch, batches.as_numpy_iterator(), protocols=("face", "all"),
                                  total=known_length(batches))
    make_output_dir(out)
    result = {"model": str(args.model), "data": str(args.data), "split": args.split, **data_args, **result}
    write_json_atomic(out / "evaluation.json", result)
    write_text_atomic(out / "evaluation.csv", flatten_for_csv(result).to_csv(index=False))
    write_text_atomic(out / "frames.csv", frames.to_csv(index=False))
    write_text_atomic(out / "per_video.csv", per_video_scores(frames[frames["has_face"]]).to_csv())
    print(json.dumps(result, indent=1))
    print(f"written to {out}")
    return 0
