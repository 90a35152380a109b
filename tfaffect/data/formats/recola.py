"""RECOLA as released for AVEC 2016 (Ringeval et al. 2013; used in Kollias 2019, section 5.1.1).

Layout read (FORMATS.md)::

    <root>/ratings_gold_standard/arousal/{train,dev,test}_N.arff     attributes include frameTime and
    <root>/ratings_gold_standard/valence/{train,dev,test}_N.arff      GoldStandard (the rating, [-1, 1])

Splits: ``train`` -> ``train_N``, ``validation`` -> ``dev_N``, ``test`` -> ``test_N`` (the AVEC 2016
test ratings were not released with the data; a test file is read if present). Each recording needs
both an arousal and a valence file.

ARFF is read as its specification says: ``@relation``, ``@attribute NAME TYPE`` lines, ``@data``, then
comma-separated rows with one field per attribute; ``%`` comments and blank lines are skipped; ``?``
(missing) as a rating becomes NaN. Sparse rows (``{...}``) are not supported (AnnotationError).

The ratings are time-stamped (``frameTime`` in seconds) and are placed on the video frames by nearest
timestamp, the average of the two when two are equally near (Kollias 2019, section 3.3), with
:func:`tfaffect.data.formats._common.ratings_on_frames`.

Where the videos live is not in FORMATS.md (assumption): ``videos=DIR`` holding ``<DIR>/<train_1>.{avi,
mp4}``; by default ``<root>/recordings_video`` (the AVEC 2016 package folder name as remembered,
unverified).
"""

from __future__ import annotations

import os
import re
from typing import Iterator

import numpy as np

from tfaffect.data.formats._common import (check_identifier, check_range, check_split, check_timestamps,
                                           option_bool, option_path, parse_number, progress, ratings_on_frames,
                                           read_lines, require_video, video_frame_times)
from tfaffect.data.formats.base import VideoRecord
from tfaffect.errors import AnnotationError, MissingResourceError

PREFIXES = {"train": "train", "validation": "dev", "test": "test"}
"""Split name -> file-name prefix of the AVEC 2016 ratings (FORMATS.md)."""
RATINGS_DIR = "ratings_gold_standard"  # FORMATS.md, RECOLA (AVEC 2016)
DEFAULT_VIDEOS = "recordings_video"  # not in FORMATS.md: AVEC 2016 package folder name, unverified
TIME_FIELD, VALUE_FIELD = "frametime", "goldstandard"  # FORMATS.md: fields frameTime, GoldStandard
_ATTRIBUTE = re.compile(r"@attribute\s+('[^']*'|\"[^\"]*\"|\S+)\s+\S.*", re.IGNORECASE)


def read_arff(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """A gold-standard ARFF file -> ``(times [M] in s, ratings [M])``; ratings in [-1, 1], NaN for ``?``."""
    lines = read_lines(path)
    attributes: list[str] = []
    data_line = None
    for line_no, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("%"):
            continue
        lower = text.lower()
        if lower.startswith("@data"):
            data_line = line_no
            break
        if lower.startswith("@attribute"):
            match = _ATTRIBUTE.fullmatch(text)
            if match is None:
                raise AnnotationError("malformed @attribute line (expected '@attribute NAME TYPE')", path,
                                      line=line_no)
            attributes.append(match.group(1).strip("'\"").lower())
        elif not lower.startswith("@relation"):
            raise AnnotationError(f"unexpected line in the ARFF header: {text[:40]!r}", path, line=line_no)
    if data_line is None:
        raise AnnotationError("missing @data line (not an ARFF file?)", path)
    for field in (TIME_FIELD, VALUE_FIELD):
        if attributes.count(field) != 1:
            raise AnnotationError(f"the header must declare exactly one attribute {field!r} "
                                  f"(declared: {', '.join(attributes) or 'none'})", path)
    t_col, v_col = attributes.index(TIME_FIELD), attributes.index(VALUE_FIELD)
    times, values, line_numbers = [], [], []
    for line_no, line in enumerate(lines[data_line:], start=data_line + 1):
        text = line.strip()
        if not text or text.startswith("%"):
            continue
        if text.startswith("{"):
            raise AnnotationError("sparse ARFF rows are not supported", path, line=line_no)
        fields = text.split(",")
        if len(fields) != len(attributes):
            raise AnnotationError(f"expected {len(attributes)} comma-separated fields, found {len(fields)}",
                                  path, line=line_no)
        times.append(parse_number(fields[t_col], path, line_no, what="frameTime"))
        value = fields[v_col].strip()
        values.append(np.nan if value == "?" else parse_number(value, path, line_no, what="GoldStandard"))
        line_numbers.append(line_no)
    if not times:
        raise AnnotationError("no data rows after @data", path, line=data_line)
    times, values = np.array(times), np.array(values)
    _check_rows(times, values, path, line_numbers)
    return times, values


def _check_rows(times: np.ndarray, values: np.ndarray, path, line_numbers: list[int]) -> None:
    """Range and order checks, reported on the file's own line numbers (data rows may be sparse)."""
    try:
        check_timestamps(times, path, first_line=0)
        finite = np.where(np.isnan(values), 0.0, values)
        check_range(finite, path, first_line=0, low=-1.0, high=1.0, what="GoldStandard")
    except AnnotationError as exc:
        raise AnnotationError(exc.reason, path, line=line_numbers[exc.line]) from None


def iter_records(root: str | os.PathLike, split: str | None = None, *, videos: str | os.PathLike | None = None,
                 decode: bool = False) -> Iterator[VideoRecord]:
    """Yield one :class:`VideoRecord` per RECOLA recording: splits in order, recordings sorted by number.

    Args:
        root: the AVEC 2016 folder holding ``ratings_gold_standard/``.
        split: ``"train"``, ``"validation"`` (``dev``), ``"test"`` or ``None``.
        videos: folder of ``<name>.{avi,mp4}``; default ``<root>/recordings_video``.
        decode: count frames by decoding (see :func:`~tfaffect.data.formats._common.video_length`).
    """
    root = option_path(root, "root", "RECOLA")
    decode = option_bool(decode, "decode", "RECOLA")
    videos = option_path(videos, "videos", "RECOLA")
    ratings = root / RATINGS_DIR
    if not ratings.is_dir():
        raise MissingResourceError(f"RECOLA: no {RATINGS_DIR}/ under {root}; pass the AVEC 2016 folder")
    videos = videos if videos is not None else root / DEFAULT_VIDEOS
    if not videos.is_dir():
        raise MissingResourceError(f"RECOLA: video folder {videos} not found; pass videos=DIR with "
                                   f"DIR/<train_1>.{{avi,mp4}} ...")
    splits = check_split(split, "RECOLA")
    stems = {name: sorted({check_identifier(p.stem, p) for dim in ("arousal", "valence")
                           for p in (ratings / dim).glob(f"{PREFIXES[name]}_*.arff")}, key=_natural_key)
             for name in splits}
    if not any(stems.values()):
        prefixes = "|".join(PREFIXES[s] for s in splits)
        raise MissingResourceError(f"RECOLA: no {RATINGS_DIR}/arousal|valence/{prefixes}_N.arff under {root}")
    for name in splits:
        for stem in progress(stems[name], desc=f"RECOLA {name}"):
            files = {dim: ratings / dim / f"{stem}.arff" for dim in ("valence", "arousal")}
            for dim, other in (("valence", "arousal"), ("arousal", "valence")):
                if not files[dim].is_file():
                    raise AnnotationError(f"no {dim} ratings {files[dim]} for this recording", files[other])
            video = require_video(videos, stem, files["arousal"])
            num_frames, fps, frame_times = video_frame_times(video, decode=decode)
            frames = {dim: ratings_on_frames(*read_arff(path), frame_times) for dim, path in files.items()}
            yield VideoRecord(video_id=stem, split=name, num_frames=num_frames, video_path=str(video), fps=fps,
                              valence=frames["valence"], arousal=frames["arousal"])


def _natural_key(stem: str) -> tuple[str, int]:
    """``train_2`` before ``train_10``."""
    prefix, _, number = stem.rpartition("_")
    return (prefix, int(number)) if number.isdigit() else (stem, -1)
