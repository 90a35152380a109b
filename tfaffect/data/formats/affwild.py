"""Aff-Wild (Kollias et al. 2019; first Affect-in-the-Wild challenge, 2017).

Layout read (FORMATS.md, verified from the public release description)::

    <root>/videos/{train,test}/<id>.{avi,mp4}
    <root>/annotations/{train,test}/valence/<id>.txt     one float per frame, no header, in [-1, 1]
    <root>/annotations/{train,test}/arousal/<id>.txt

* Row ``i`` of the annotation files labels frame ``i`` (0-based) of the video: the release is already
  matched to frames (the nearest-timestamp matching of Kollias 2019, section 3.3 was done by the
  authors), so the row count must equal the frame count; otherwise AnnotationError.
* The frame count comes from the container header and is checked by decoding when it disagrees
  with the annotation (see :func:`tfaffect.data.formats._common.video_length`); ``decode=True``
  always decodes (slow, but detects truncated videos). ``fps`` is the container's frame rate.
* A split without an ``annotations/<split>`` folder (e.g. a test set without labels) yields records
  without valence/arousal; a video with only one of the two files, or an annotation without a video,
  is an error.

Not read: the ``bboxes/`` and ``landmarks/`` folders of the release, whose inner file format is not
verified (FORMATS.md); no reader is invented for them.

Aff-Wild has no official validation split (MM-Net used 214 train / 38 validation videos, list not
published): pass ``validation_ids`` to hold training videos out as ``"validation"``, or ``validation_videos=N``
for N of them chosen here (:func:`spread_ids`: evenly spread over the sorted training ids, the same on every
machine; ``tfaffect prepare --dataset affwild --importer-option validation_videos=38`` gives MM-Net's 214 / 38 of
the 252 training videos).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from tfaffect.data.formats._common import (VIDEO_EXTENSIONS, check_identifier, check_range, check_split,
                                           option_bool, option_names, option_path, parse_numbers, progress,
                                           read_lines, require_video, video_length)
from tfaffect.data.formats.base import VideoRecord
from tfaffect.errors import AnnotationError, ConfigError, MissingResourceError

FOLDERS = {"train": "train", "test": "test"}
"""Split name -> folder name under ``videos/`` and ``annotations/``."""


def read_values(path: str | os.PathLike) -> np.ndarray:
    """One value per line, no header, each in [-1, 1]: float32 ``[N]``. AnnotationError otherwise."""
    values = parse_numbers(read_lines(path), path, ncols=1, first_line=1)[:, 0]
    check_range(values, path, first_line=1, low=-1.0, high=1.0)
    return values.astype(np.float32)


def spread_ids(ids: Iterable[str], count: int) -> list[str]:
    """``count`` of the sorted ``ids``, evenly spread: the one at ``floor((k + 0.5) * n / count)`` for k = 0 ..
    count - 1 (chosen: the MM-Net validation list is not published; a spread over the sorted ids, rather than a
    seeded draw, is reproducible by hand and spans the id range)."""
    ids = sorted(ids)
    return [ids[int((k + 0.5) * len(ids) / count)] for k in range(count)]


def iter_records(root: str | os.PathLike, split: str | None = None, *, decode: bool = False,
                 validation_ids: Iterable[str] | None = None,
                 validation_videos: int | None = None) -> Iterator[VideoRecord]:
    """Yield one :class:`VideoRecord` per Aff-Wild video, by split then sorted video id.

    Args:
        root: the dataset folder holding ``videos/`` and ``annotations/``.
        split: ``"train"``, ``"test"``, ``"validation"`` (only with ``validation_ids``) or ``None``.
        decode: count every video's frames by decoding instead of trusting a header that agrees
            with the annotation.
        validation_ids: training video ids to yield as ``"validation"`` instead of ``"train"``.
        validation_videos: hold this many training videos out as ``"validation"`` (:func:`spread_ids`); not with
            ``validation_ids``.
    """
    root = option_path(root, "root", "Aff-Wild")
    decode = option_bool(decode, "decode", "Aff-Wild")
    held_out = set(option_names(validation_ids or (), "validation_ids", "Aff-Wild"))
    if validation_videos is not None:
        available = _video_ids(root, "train") if (root / "videos").is_dir() else []
        if (isinstance(validation_videos, bool) or not isinstance(validation_videos, int) or held_out
                or not 0 < validation_videos < len(available)):
            raise ConfigError(f"Aff-Wild: option validation_videos must be a count from 1 to {len(available) - 1} "
                              f"(there are {len(available)} training videos), without validation_ids; got "
                              f"{validation_videos!r:.60}")
        held_out = set(spread_ids(available, validation_videos))
    splits = check_split(split, "Aff-Wild", ("train", "validation", "test") if held_out else tuple(FOLDERS))
    if not (root / "videos").is_dir():
        raise MissingResourceError(f"Aff-Wild: no videos/ folder under {root}; pass the folder that holds "
                                   f"videos/ and annotations/")
    train_ids = set(_video_ids(root, "train")) if held_out else set()
    unknown = sorted(held_out - train_ids)
    if unknown:
        raise ConfigError(f"Aff-Wild: validation_ids not among the training videos: "
                          f"{', '.join(unknown[:5])}")
    for name in splits:
        folder = FOLDERS["train" if name == "validation" else name]
        ids = _video_ids(root, folder)
        if name == "train":
            ids = [i for i in ids if i not in held_out]
        elif name == "validation":
            ids = [i for i in ids if i in held_out]
        for video_id in progress(ids, desc=f"Aff-Wild {name}"):
            yield _record(root, folder, name, video_id, decode)


def _video_ids(root: Path, folder: str) -> list[str]:
    """Sorted ids of the videos and annotation files of one split folder (their union)."""
    ids = set()
    video_dir = root / "videos" / folder
    if video_dir.is_dir():
        ids.update(check_identifier(p.stem, p) for p in video_dir.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    for dim in ("valence", "arousal"):
        ann_dir = root / "annotations" / folder / dim
        if ann_dir.is_dir():
            ids.update(check_identifier(p.stem, p) for p in ann_dir.glob("*.txt"))
    return sorted(ids)


def _record(root: Path, folder: str, split: str, video_id: str, decode: bool) -> VideoRecord:
    ann_dir = root / "annotations" / folder
    files = {dim: ann_dir / dim / f"{video_id}.txt" for dim in ("valence", "arousal")}
    present = {dim: path.is_file() for dim, path in files.items()}
    annotation = next((files[dim] for dim in files if present[dim]), root / "videos" / folder)
    video = require_video(root / "videos" / folder, video_id, annotation)
    missing = [dim for dim, ok in present.items() if not ok]
    if ann_dir.is_dir() and missing:
        raise AnnotationError(f"no {missing[0]} annotation for video {video.name}", files[missing[0]])
    if not ann_dir.is_dir():
        num_frames, fps = video_length(video, decode=decode)
        return VideoRecord(video_id=video_id, split=split, num_frames=num_frames, video_path=str(video),
                           fps=fps)
    valence = read_values(files["valence"])
    arousal = read_values(files["arousal"])
    if len(valence) != len(arousal):
        raise AnnotationError(f"{len(arousal)} arousal rows but {len(valence)} valence rows in "
                              f"{files['valence']}", files["arousal"])
    num_frames, fps = video_length(video, expected_frames=len(valence), annotation=files["valence"],
                                  decode=decode)
    return VideoRecord(video_id=video_id, split=split, num_frames=num_frames, video_path=str(video),
                       fps=fps, valence=valence, arousal=arousal)
