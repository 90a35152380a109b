"""Aff-Wild2 as distributed for the ABAW competitions (Kollias et al.; first ABAW 2020 and later years).

Layout read (FORMATS.md)::

    <root>/annotations/VA_Set/<S>/<video>.txt     header "valence,arousal"; rows "v,a"; -5 = invalid
    <root>/annotations/EXPR_Set/<S>/<video>.txt   header = the class names; rows one int; -1 = invalid
    <root>/annotations/AU_Set/<S>/<video>.txt     header = the AU names;    rows 0/1 per AU; -1 = invalid
    <root>/cropped_aligned/<video>/%05d.jpg       image of annotation row i is (i + 1):05d.jpg
    <root>/landmarks/<video>.txt                  optional (SynthAffect extension, see below)

``<S>`` is ``Training_Set`` / ``Validation_Set`` (ABAW1) or ``Train_Set`` / ``Validation_Set``
(3rd ABAW on); ``Test_Set`` is read for ``split="test"`` if someone has it. Verified (FORMATS.md):
the folder names, header lines, invalid markers, image numbering, the 7 classes of ABAW1 and the 8th
class ``Other`` of later years, the ``_left`` / ``_right`` suffix of two-subject videos.

Decisions (not fixed by the release; documented here and tested):

* Record = (split, video). The VA, EXPR and AU files of a video in the same split are merged into one
  record; a task the video has no file for in that split is ``None``. A video that sits in different
  splits for different tasks yields one record per split, each with only that split's labels (no
  label leaks from a validation file into a training record).
* The frame count is the annotation row count (the largest, if the tasks disagree: the shorter
  task is padded with its invalid marker and a warning is logged). Frames with no image in
  ``cropped_aligned`` (no face found) keep their labels with ``frame_paths[i] = None``; images
  numbered past the last annotation row are reported in a warning, not invented into frames.
* Two-subject videos (``<video>_left`` / ``<video>_right``) are separate records with their own
  annotation files and image folders; ``subject`` is the video id (one person per video or side;
  identities shared across videos are not in the release).
* Expression labels keep the file's classes: ``expression_classes`` is the header (7 classes, or
  8 with ``Other``); nothing is remapped here.
* ``landmarks/<video>.txt`` (a tfaffect extension written by SynthAffect, not part of the official
  release): header ``x0,y0,...,x67,y67``, one row per annotation row, 136 pixel coordinates in the
  cropped_aligned image; a row of 136 ``-1`` means no landmarks (NaN). Read whenever present.

The later multi-task (MTL) file, rows ``<video>/<NNNNN>.jpg,valence,arousal,expression,AU x12``
after a header line starting with ``image``, is read instead of the per-task folders when passed as
``multitask={"train": FILE, "validation": FILE}``; it lists sampled frames only, so a record spans
images 1..(largest listed image number, or the landmark rows if more) and unlisted frames are
unlabelled. Its 8 expression classes
and 12 AU names (AU1, 2, 4, 6, 7, 10, 12, 15, 23, 24, 25, 26) come from the 3rd ABAW challenge
description, not from FORMATS.md (unverified); an AU header of 12 names in the file overrides them.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from tfaffect import EXPRESSIONS_7
from tfaffect.data.formats._common import (check_identifier, check_range, check_split, option_names,
                                           option_path, parse_numbers, progress, read_lines, split_header)
from tfaffect.data.formats.base import VideoRecord
from tfaffect.errors import AnnotationError, ConfigError, MissingResourceError

logger = logging.getLogger(__name__)

TASKS = ("VA", "EXPR", "AU")
TASK_FOLDERS = {"VA": "VA_Set", "EXPR": "EXPR_Set", "AU": "AU_Set"}
SPLIT_FOLDERS = {"train": ("Training_Set", "Train_Set"), "validation": ("Validation_Set",),
                 "test": ("Test_Set",)}
"""ABAW1 uses ``Training_Set``, later years ``Train_Set`` (FORMATS.md)."""

VA_INVALID = -5.0  # FORMATS.md, Aff-Wild2 VA_Set: "-5 marks an invalid frame"
EXPR_INVALID = -1  # FORMATS.md, Aff-Wild2 EXPR_Set: "-1 invalid"
AU_INVALID = -1.0  # FORMATS.md, Aff-Wild2 AU_Set: "-1 invalid"
EXPRESSIONS_8 = EXPRESSIONS_7 + ("Other",)
"""Later ABAW years add an 8th expression class ``Other`` (FORMATS.md)."""
MULTITASK_AUS = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24", "AU25", "AU26")
"""The 12 AUs of the 3rd ABAW multi-task file (challenge description; FORMATS.md only says "AU x12")."""

NUM_LANDMARKS = 68
_AU_NAME = re.compile(r"AU\d+[A-Za-z]?", re.ASCII)
_IMAGE_NAME = re.compile(r"(.+)/(\d{1,6})\.jpg", re.ASCII)
"""``<video>/<NNNNN>.jpg`` of the MTL file: images are numbered ``%05d`` (FORMATS.md); 6 digits allowed."""


# ----------------------------------------------------------------------------- file parsers


def read_va(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """A VA_Set file -> ``(valence, arousal)`` float32 ``[N]`` each, NaN where the file has -5."""
    lines = read_lines(path)
    header = [field.lower() for field in split_header(lines, path)]
    if header != ["valence", "arousal"]:
        raise AnnotationError(f"header must be 'valence,arousal', got {lines[0][:60]!r}", path, line=1)
    values = parse_numbers(lines[1:], path, ncols=2, first_line=2)
    check_range(values, path, first_line=2, low=-1.0, high=1.0, invalid=(VA_INVALID,),
                what="valence/arousal")
    values[values == VA_INVALID] = np.nan
    return values[:, 0].astype(np.float32), values[:, 1].astype(np.float32)


def read_expr(path: str | os.PathLike) -> tuple[np.ndarray, tuple[str, ...]]:
    """An EXPR_Set file -> ``(labels int64 [N] with -1 = invalid, class names from the header)``.

    The header must name the 7 ABAW1 classes in :data:`tfaffect.EXPRESSIONS_7` order, optionally
    followed by ``Other`` (case and blanks ignored).
    """
    lines = read_lines(path)
    header = tuple(split_header(lines, path))
    known = {tuple(c.lower() for c in classes): classes for classes in (EXPRESSIONS_7, EXPRESSIONS_8)}
    classes = known.get(tuple(name.lower() for name in header))
    if classes is None:
        raise AnnotationError(f"header must name the classes {','.join(EXPRESSIONS_7)}[,Other], "
                              f"got {lines[0][:80]!r}", path, line=1)
    values = parse_numbers(lines[1:], path, ncols=1, first_line=2)[:, 0]
    check_range(values, path, first_line=2, low=0, high=len(classes) - 1, invalid=(EXPR_INVALID,),
                integer=True, what="expression")
    return values.astype(np.int64), classes


def read_au(path: str | os.PathLike) -> tuple[np.ndarray, tuple[str, ...]]:
    """An AU_Set file -> ``(aus float32 [N, K] of 0/1 with -1 = invalid, AU names from the header)``."""
    lines = read_lines(path)
    names = tuple(split_header(lines, path))
    if not all(_AU_NAME.fullmatch(name) for name in names):
        raise AnnotationError(f"header must list AU names (AU1,AU2,...), got {lines[0][:80]!r}", path, line=1)
    values = parse_numbers(lines[1:], path, ncols=len(names), first_line=2)
    check_range(values, path, first_line=2, low=0, high=1, invalid=(AU_INVALID,), integer=True, what="AU")
    return values.astype(np.float32), names


def read_landmarks(path: str | os.PathLike) -> np.ndarray:
    """A SynthAffect landmark file -> float32 ``[N, 68, 2]`` pixel (x, y); NaN for all--1 rows."""
    lines = read_lines(path)
    expected = [f"{axis}{k}" for k in range(NUM_LANDMARKS) for axis in "xy"]
    if [field.lower() for field in split_header(lines, path)] != expected:
        raise AnnotationError(f"header must be x0,y0,...,x67,y67, got {lines[0][:60]!r}...", path, line=1)
    values = parse_numbers(lines[1:], path, ncols=2 * NUM_LANDMARKS, first_line=2)
    absent = (values == -1).all(axis=1)
    values[absent] = np.nan
    return values.reshape(len(values), NUM_LANDMARKS, 2).astype(np.float32)


def read_multitask(path: str | os.PathLike) -> dict[str, dict]:
    """An MTL annotation file -> ``{video: {"frames": int64 [n] (1-based image numbers), "valence",
    "arousal" (NaN for -5), "expression" (-1 invalid), "aus" [n, 12] (-1 invalid)}}`` plus the key
    ``"au_names"`` in every entry. Rows are ``<video>/<NNNNN>.jpg,v,a,expr,AU x12``.
    """
    lines = read_lines(path)
    header = split_header(lines, path)
    if header[0].lower() != "image":
        raise AnnotationError(f"header must start with 'image', got {lines[0][:60]!r}", path, line=1)
    au_names = MULTITASK_AUS
    if len(header) == 4 + len(MULTITASK_AUS) and all(_AU_NAME.fullmatch(n) for n in header[4:]):
        au_names = tuple(header[4:])
    names, numbers = [], []
    for line_no, line in enumerate(lines[1:], start=2):
        image, sep, rest = line.partition(",")
        match = _IMAGE_NAME.fullmatch(image.strip())
        if not sep or match is None:
            raise AnnotationError(f"first field must be '<video>/<NNNNN>.jpg', got {image[:60]!r}", path,
                                  line=line_no)
        check_identifier(match.group(1), path, line=line_no)
        names.append((match.group(1), int(match.group(2))))
        numbers.append(rest)
    values = parse_numbers(numbers, path, ncols=3 + len(au_names), first_line=2)
    check_range(values[:, :2], path, first_line=2, low=-1.0, high=1.0, invalid=(VA_INVALID,),
                what="valence/arousal")
    check_range(values[:, 2], path, first_line=2, low=0, high=len(EXPRESSIONS_8) - 1,
                invalid=(EXPR_INVALID,), integer=True, what="expression")
    check_range(values[:, 3:], path, first_line=2, low=0, high=1, invalid=(AU_INVALID,), integer=True,
                what="AU")
    rows_of: dict[str, list[int]] = {}
    seen: dict[tuple[str, int], int] = {}
    for row, (video, frame) in enumerate(names):
        if frame < 1:
            raise AnnotationError(f"image numbers start at 1, got {frame}", path, line=row + 2)
        if (video, frame) in seen:
            raise AnnotationError(f"{video}/{frame:05d}.jpg already listed on line {seen[video, frame]}",
                                  path, line=row + 2)
        seen[video, frame] = row + 2
        rows_of.setdefault(video, []).append(row)
    va = values[:, :2].copy()
    va[va == VA_INVALID] = np.nan
    out = {}
    for video, rows in rows_of.items():
        out[video] = {"frames": np.array([names[r][1] for r in rows], np.int64),
                      "valence": va[rows, 0], "arousal": va[rows, 1],
                      "expression": values[rows, 2].astype(np.int64), "aus": values[rows, 3:],
                      "au_names": au_names}
    return out


# ----------------------------------------------------------------------------- records


def iter_records(root: str | os.PathLike, split: str | None = None, *, tasks: Sequence[str] = TASKS,
                 multitask: Mapping[str, str | os.PathLike] | None = None) -> Iterator[VideoRecord]:
    """Yield one :class:`VideoRecord` per (split, video), splits in train/validation/test order,
    videos sorted by id.

    Args:
        root: the folder holding ``annotations/`` and ``cropped_aligned/``.
        split: ``"train"``, ``"validation"``, ``"test"`` or ``None`` (all present).
        tasks: which of ``"VA"``, ``"EXPR"``, ``"AU"`` to read from the per-task folders.
        multitask: ``{split: MTL file}`` (relative to ``root`` or absolute): read these files
            instead of the per-task folders.
    """
    root = option_path(root, "root", "Aff-Wild2")
    tasks = option_names(tasks, "tasks", "Aff-Wild2")
    if not tasks or any(task not in TASKS for task in tasks) or len(set(tasks)) != len(tasks):
        raise ConfigError(f"Aff-Wild2: tasks must be distinct names among {', '.join(TASKS)}, got {tasks!r}")
    splits = check_split(split, "Aff-Wild2")
    if multitask is not None:
        yield from _iter_multitask(root, split, splits, multitask)
        return
    found_any = False
    for name in splits:
        files = _task_files(root, name, tasks)
        found_any |= any(files.values())
        videos = sorted(set().union(*(files[task] for task in tasks)))
        for video in progress(videos, desc=f"Aff-Wild2 {name}"):
            yield _merge(root, name, video, {task: files[task].get(video) for task in tasks})
    if not found_any:
        looked = [f"annotations/{TASK_FOLDERS[t]}/{{{','.join(f for s in splits for f in SPLIT_FOLDERS[s])}}}"
                  for t in tasks]
        raise MissingResourceError(f"Aff-Wild2: no annotation folder under {root}; looked for "
                                   f"{'; '.join(looked)}. Pass the folder that holds annotations/ and "
                                   f"cropped_aligned/.")


def _task_files(root: Path, split: str, tasks: Sequence[str]) -> dict[str, dict[str, Path]]:
    """``{task: {video: annotation file}}`` for one split."""
    out = {}
    for task in tasks:
        folders = [root / "annotations" / TASK_FOLDERS[task] / name for name in SPLIT_FOLDERS[split]]
        folders = [folder for folder in folders if folder.is_dir()]
        if len(folders) > 1:
            raise ConfigError(f"Aff-Wild2: both {folders[0]} and {folders[1]} exist; keep one")
        out[task] = {check_identifier(p.stem, p): p for p in sorted(folders[0].glob("*.txt"))} if folders else {}
    return out


def _merge(root: Path, split: str, video: str, files: dict[str, Path | None]) -> VideoRecord:
    labels: dict = {}
    lengths = {}
    if files.get("VA") is not None:
        labels["valence"], labels["arousal"] = read_va(files["VA"])
        lengths["VA"] = len(labels["valence"])
    if files.get("EXPR") is not None:
        labels["expression"], labels["expression_classes"] = read_expr(files["EXPR"])
        lengths["EXPR"] = len(labels["expression"])
    if files.get("AU") is not None:
        labels["aus"], labels["au_names"] = read_au(files["AU"])
        lengths["AU"] = len(labels["aus"])
    num_frames = max(lengths.values())
    if len(set(lengths.values())) > 1:
        logger.warning("Aff-Wild2 %s/%s: tasks have different row counts %s; padding the shorter with "
                       "invalid labels to %d frames", split, video, lengths, num_frames)
        fill = {"valence": np.nan, "arousal": np.nan, "expression": EXPR_INVALID, "aus": AU_INVALID}
        for key, value in fill.items():
            if key in labels and len(labels[key]) < num_frames:
                pad = np.full((num_frames - len(labels[key]),) + labels[key].shape[1:], value, labels[key].dtype)
                labels[key] = np.concatenate([labels[key], pad])
    landmarks, landmark_file = _read_landmarks_of(root, video)
    if landmarks is not None and len(landmarks) != num_frames:
        raise AnnotationError(f"{len(landmarks)} landmark rows but the annotation has {num_frames} frames",
                              landmark_file)
    return _record(root, split, video, num_frames, labels, landmarks)


def _record(root: Path, split: str, video: str, num_frames: int, labels: dict,
            landmarks: np.ndarray | None) -> VideoRecord:
    """Attach the ``cropped_aligned`` images and the landmarks to the labels of one video."""
    image_dir = root / "cropped_aligned" / video
    names = set(os.listdir(image_dir)) if image_dir.is_dir() else set()
    frame_paths = [str(image_dir / f"{i:05d}.jpg") if f"{i:05d}.jpg" in names else None
                   for i in range(1, num_frames + 1)]
    if not names:
        logger.warning("Aff-Wild2 %s/%s: no images in %s; all %d frames kept without images",
                       split, video, image_dir, num_frames)
    beyond = [n for n in names if n.endswith(".jpg") and n[:-4].isdigit() and int(n[:-4]) > num_frames]
    if beyond:
        logger.warning("Aff-Wild2 %s/%s: %d image(s) numbered past the %d annotated frames are not used",
                       split, video, len(beyond), num_frames)
    if landmarks is not None:
        labels["landmarks"] = landmarks
    return VideoRecord(video_id=video, split=split, num_frames=num_frames, frame_paths=frame_paths,
                       subject=video, **labels)


def _read_landmarks_of(root: Path, video: str) -> tuple[np.ndarray | None, Path]:
    """The landmarks of ``video`` (``None`` if it has no landmark file) and the file's path."""
    path = root / "landmarks" / f"{video}.txt"
    return (read_landmarks(path) if path.is_file() else None), path


def _iter_multitask(root: Path, split: str | None, splits: Sequence[str],
                    multitask: Mapping[str, str | os.PathLike]) -> Iterator[VideoRecord]:
    if not isinstance(multitask, Mapping):
        raise ConfigError(f"Aff-Wild2: multitask must map split names to MTL files, got {multitask!r:.60}")
    unknown = [key for key in multitask if key not in SPLIT_FOLDERS]
    if unknown:
        raise ConfigError(f"Aff-Wild2: multitask keys must be split names, got {unknown!r}")
    if split is not None and split not in multitask:
        raise ConfigError(f"Aff-Wild2: no multitask file given for split {split!r}")
    for name in splits:
        if name not in multitask:
            continue
        path = option_path(multitask[name], f"multitask[{name!r}]", "Aff-Wild2")
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise MissingResourceError(f"Aff-Wild2: multitask file {path} not found; pass multitask="
                                       f"{{split: path of the MTL annotation file}}")
        entries = read_multitask(path)
        for video in progress(sorted(entries), desc=f"Aff-Wild2 MTL {name}"):
            entry = entries[video]
            landmarks, _ = _read_landmarks_of(root, video)
            # Landmark rows follow the per-task files (all frames), the MTL file only sampled ones.
            num_frames = max(int(entry["frames"].max()), 0 if landmarks is None else len(landmarks))
            if landmarks is not None and len(landmarks) < num_frames:
                pad = np.full((num_frames - len(landmarks), NUM_LANDMARKS, 2), np.nan, np.float32)
                landmarks = np.concatenate([landmarks, pad])
            index = entry["frames"] - 1
            labels = {"valence": np.full(num_frames, np.nan, np.float32),
                      "arousal": np.full(num_frames, np.nan, np.float32),
                      "expression": np.full(num_frames, EXPR_INVALID, np.int64),
                      "aus": np.full((num_frames, len(entry["au_names"])), AU_INVALID, np.float32),
                      "au_names": entry["au_names"], "expression_classes": EXPRESSIONS_8}
            for key in ("valence", "arousal", "expression", "aus"):
                labels[key][index] = entry[key]
            yield _record(root, name, video, num_frames, labels, landmarks)
