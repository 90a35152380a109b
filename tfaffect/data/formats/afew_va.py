"""AFEW-VA (Kossaifi et al. 2017): 600 film clips with per-frame valence, arousal and 68 landmarks.

Layout read (FORMATS.md)::

    <root>/<part>/<clip>/00000.png, 00001.png, ...     parts 01..12
    <root>/<part>/<clip>/<clip>.json                     {"frames": {"00000": {"valence": v, "arousal": a,
                                                                                "landmarks": [[x, y] x 68]}, ...}}

Verified (FORMATS.md): the folders, PNG numbering from ``00000``, the ``frames`` dict keyed by frame
id, valence/arousal integers in [-10, 10] (divided by 10 here, Kollias 2019 section 5.1.2: "we
scaled the range of the AFEW-VA labels to [-1, +1]") and 68 x 2 landmarks. Other JSON keys are not
verified and are ignored.

* Frame ``i`` is ``%05d.png`` of ``i``; the record spans frames 0..max(last PNG, last annotated
  frame). A frame without a PNG has ``frame_paths[i] = None``; a frame missing from ``frames`` has
  NaN valence/arousal/landmarks. A frame entry without landmarks (key absent or ``null``) has NaN
  landmarks.
* Nothing is accepted silently (decision for issue #12; the release has a PNG for every annotated
  frame): annotated frames without a PNG (e.g. JSON frames beyond the last PNG) and PNGs without an
  annotation are kept, flagged as above, with a warning naming the JSON file, the count and the
  first such frame; a clip folder without any PNG is a VideoError naming its JSON file (nothing of
  it could be learned from: a broken copy, restore the PNGs or remove the clip).
* Clip ids are the clip folder names (unique across parts); a clip id found in two parts is an error.

Protocol: 5-fold subject-independent cross-validation (Kossaifi 2017; Kollias 2019 Table 16;
Aspandi 2021 section 3.4). The subject identities and the official folds are NOT in the files and
not available here. Folds are assigned deterministically by
:func:`tfaffect.data.formats._common.assign_folds`: contiguous blocks of the sorted clip ids, the
rule of the ANCLaF original code (deckyal/Seq-Att-Affect). Pass ``subjects=FILE`` (CSV with header
``clip,subject``) to make the blocks from sorted subjects instead, so that no subject is in two folds.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from tfaffect.data.formats._common import check_identifier, fold_splits, option_path, progress, read_subject_map
from tfaffect.data.formats.base import VideoRecord
from tfaffect.errors import AnnotationError, ConfigError, MissingResourceError, VideoError

logger = logging.getLogger(__name__)

NUM_FOLDS = 5  # Kollias 2019, section 5.1.2 (after Kossaifi 2017): 5-fold person-independent CV
SCALE = 10.0  # valence/arousal integers in [-10, 10] -> [-1, 1] (Kollias 2019, section 5.1.2)
NUM_LANDMARKS = 68
_FRAME_ID = re.compile(r"\d{1,5}", re.ASCII)
"""Frame ids name the PNG files ``%05d.png`` (FORMATS.md), so they have at most 5 digits."""
_PNG_NAME = re.compile(r"\d{5}", re.ASCII)


def read_clip_json(path: str | os.PathLike) -> dict[int, dict]:
    """An AFEW-VA clip JSON -> ``{frame: {"valence": float, "arousal": float, "landmarks": [68, 2] | None}}``.

    Valence and arousal are returned on the file's [-10, 10] scale. AnnotationError (naming the file,
    and the line for JSON syntax errors or the frame for bad values) on anything malformed.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AnnotationError(f"cannot read file ({exc.strerror or exc})", path) from None
    if not data.strip():
        raise AnnotationError("empty file", path)
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise AnnotationError("not UTF-8 text", path, line=data[:exc.start].count(b"\n") + 1) from None
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"invalid JSON: {exc.msg}", path, line=exc.lineno) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer with more than 4300 digits
        raise AnnotationError(f"invalid JSON: {str(exc)[:80]}", path) from None
    frames = doc.get("frames") if isinstance(doc, dict) else None
    if not isinstance(frames, dict):
        raise AnnotationError("no 'frames' object at the top level", path)
    out = {}
    for key, entry in frames.items():
        if not _FRAME_ID.fullmatch(key):
            raise AnnotationError(f"frame id {key[:20]!r} is not a number of at most 5 digits", path)
        frame = int(key)
        if frame in out:
            raise AnnotationError(f"frame {key!r} listed twice", path, frame=frame)
        if not isinstance(entry, dict):
            raise AnnotationError("frame entry is not an object", path, frame=frame)
        item = {}
        for name in ("valence", "arousal"):
            value = entry.get(name)
            if not _is_number(value):
                raise AnnotationError(f"{name} must be a number, got {str(value)[:20]!r}", path, frame=frame)
            if not -SCALE <= value <= SCALE or value != round(value):  # range first: NaN, inf, 10**400
                raise AnnotationError(f"{name} {str(value)[:20]} is not an integer in [-10, 10]", path,
                                      frame=frame)
            item[name] = float(value)
        item["landmarks"] = _landmarks(entry.get("landmarks"), path, frame)
        out[frame] = item
    return out


def _landmarks(value, path, frame: int) -> np.ndarray | None:
    """68 ``[x, y]`` JSON number pairs -> float64 ``[68, 2]``; ``None`` stays ``None``."""
    if value is None:
        return None
    numbers = (isinstance(value, list) and len(value) == NUM_LANDMARKS
               and all(isinstance(p, list) and len(p) == 2 and all(_is_number(c) for c in p) for p in value))
    points = None
    if numbers:
        try:
            points = np.array(value, dtype=np.float64)
        except OverflowError:  # integers beyond float range
            points = None
    if points is None or not np.isfinite(points).all():
        raise AnnotationError("landmarks must be 68 [x, y] pairs of finite numbers", path, frame=frame)
    return points


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def iter_records(root: str | os.PathLike, split: str | None = None, *, fold: int | None = None,
                 num_folds: int = NUM_FOLDS,
                 subjects: str | os.PathLike | None = None) -> Iterator[VideoRecord]:
    """Yield one :class:`VideoRecord` per AFEW-VA clip, sorted by clip id.

    Args:
        root: the folder holding the parts ``01`` .. ``12``.
        split: with ``fold``: ``"train"`` (the other folds), ``"test"`` or ``"validation"`` (both the
            held-out fold), or ``None`` (all, labelled train/test). Without ``fold`` it must be
            ``None``: every clip is yielded with ``split="fold<k>"``.
        fold: the held-out fold, 0 .. ``num_folds - 1``.
        num_folds: 5 in the published protocol.
        subjects: optional CSV ``clip,subject`` mapping every clip to a subject id.
    """
    root = option_path(root, "root", "AFEW-VA")
    subjects = option_path(subjects, "subjects", "AFEW-VA")
    clips = _find_clips(root)
    if not clips:
        raise MissingResourceError(f"AFEW-VA: no <part>/<clip>/<clip>.json under {root}; pass the folder "
                                   f"that holds the parts 01 .. 12")
    subject_of = read_subject_map(subjects) if subjects is not None else None
    chosen = fold_splits(clips, "AFEW-VA", split, fold, num_folds, subject_of, subjects)
    for clip, label in progress(chosen, desc="AFEW-VA"):
        yield _record(clips[clip], clip, label, None if subject_of is None else subject_of[clip])


def _find_clips(root: Path) -> dict[str, Path]:
    """``{clip id: clip folder}`` for every ``<part>/<clip>/<clip>.json``."""
    clips: dict[str, Path] = {}
    for json_file in sorted(root.glob("*/*/*.json")):
        clip_dir = json_file.parent
        if json_file.stem != clip_dir.name:
            continue
        check_identifier(clip_dir.name, json_file, what="clip id")
        if clip_dir.name in clips:
            raise ConfigError(f"AFEW-VA: clip {clip_dir.name!r} found in two parts: "
                              f"{clips[clip_dir.name]} and {clip_dir}")
        clips[clip_dir.name] = clip_dir
    return clips


def _record(clip_dir: Path, clip: str, split: str, subject: str | None) -> VideoRecord:
    json_file = clip_dir / f"{clip}.json"
    frames = read_clip_json(json_file)
    pngs = sorted(clip_dir.glob("*.png"))
    images = {int(p.stem): p for p in pngs if _PNG_NAME.fullmatch(p.stem)}
    if len(images) != len(pngs):
        logger.warning("AFEW-VA %s: %d PNG file(s) not named %%05d.png are not frames of the clip",
                       clip, len(pngs) - len(images))
    if not images:
        raise VideoError(f"clip {clip}: no frame image (%05d.png) beside its annotation; restore the clip's "
                         "PNGs or remove its folder", json_file)
    unlabelled = sorted(set(images) - set(frames))
    imageless = sorted(set(frames) - set(images))
    if imageless:
        logger.warning("AFEW-VA %s: %d annotated frame(s) have no PNG (first: frame %d); they are kept "
                       "without a face image (has_face 0)", json_file, len(imageless), imageless[0])
    if unlabelled:
        logger.warning("AFEW-VA %s: %d frame image(s) have no annotation (first: %05d.png); they are kept "
                       "without valence/arousal", json_file, len(unlabelled), unlabelled[0])
    num_frames = max(max(images, default=-1), max(frames, default=-1)) + 1
    valence = np.full(num_frames, np.nan, np.float32)
    arousal = np.full(num_frames, np.nan, np.float32)
    landmarks = np.full((num_frames, NUM_LANDMARKS, 2), np.nan, np.float32)
    for frame, item in frames.items():
        valence[frame] = item["valence"] / SCALE
        arousal[frame] = item["arousal"] / SCALE
        if item["landmarks"] is not None:
            landmarks[frame] = item["landmarks"]
    frame_paths = [str(images[i]) if i in images else None for i in range(num_frames)]
    return VideoRecord(video_id=clip, split=split, num_frames=num_frames, frame_paths=frame_paths,
                       subject=subject, valence=valence, arousal=arousal, landmarks=landmarks)
