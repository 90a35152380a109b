"""SEWA (Kossaifi et al. 2019): video-chat recordings rated continuously for valence and arousal.

Two layouts are read (FORMATS.md); ``layout="auto"`` picks the one present under ``root``.

AVEC 2017 release (``layout="avec2017"``; the columns are from FORMATS.md, the 0.1 s step and the
optional header line are unverified)::

    <root>/labels/{Train,Devel,Test}_NN.csv     rows "name;time;arousal;valence;liking", time in seconds

  The ratings are time-stamped, so they are placed on the video frames by nearest timestamp, the
  average of the two when two are equally near (Kollias 2019, section 3.3), with
  :func:`tfaffect.data.formats._common.ratings_on_frames`. ``liking`` is checked but not kept (no
  VideoRecord field). A first line whose first field is ``name`` is taken as a header.
  Splits: ``Train`` -> train, ``Devel`` -> validation, ``Test`` -> test.

SEWA DB (``layout="sewadb"``; file names as in FORMATS.md and the ANCLaF original code,
deckyal/Seq-Att-Affect ``FacialDataset.py``)::

    <root>/<vid>/valence/<vid>_Valence_A_Aligned.csv     header line with "frame", rows "frame,value"
    <root>/<vid>/arousal/<vid>_Arousal_A_Aligned.csv

  The files are already aligned to the video frames: row ``k`` labels frame ``k`` (0-based), as
  the original code reads them (it takes the value column row by row and skips the header). The
  frame column is not used as an index, because whether it counts from 0 or 1 is not verified; it
  must increase by exactly 1 per row (otherwise AnnotationError), so rows cannot be misplaced.
  SEWA DB has no official split: 5-fold subject-independent cross-validation (Aspandi 2021,
  section 3.4) with ``fold`` / ``num_folds`` / ``subjects`` exactly as AFEW-VA
  (:func:`tfaffect.data.formats._common.fold_splits`).

Where the videos live is not documented in either release (assumption): pass ``videos=DIR`` holding
``<DIR>/<name>.{avi,mp4}`` with ``<name>`` the label file's stem (``Train_01``) or the SEWA DB
recording id. ``videos`` is required for AVEC 2017 (frame times are needed); for SEWA DB it is
optional: without it ``num_frames`` is the row count and ``video_path`` is ``None``; with it the
row count must equal the video's frame count.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from tfaffect.data.formats._common import (check_identifier, check_range, check_split, check_timestamps,
                                           fold_splits, option_bool, option_path, parse_numbers, video_length,
                                           progress,
                                           ratings_on_frames, read_lines, read_subject_map, require_video,
                                           split_header, video_frame_times)
from tfaffect.data.formats.base import VideoRecord
from tfaffect.errors import AnnotationError, ConfigError, MissingResourceError

AVEC2017_FOLDERS = {"train": "Train", "validation": "Devel", "test": "Test"}
"""Split name -> file-name prefix of the AVEC 2017 label files (FORMATS.md)."""
AVEC2017_COLUMNS = ("name", "time", "arousal", "valence", "liking")  # FORMATS.md, SEWA AVEC 2017
NUM_FOLDS = 5  # Aspandi 2021, section 3.4: "subject-independent protocol (5-fold cross validation)"


def read_avec2017(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """An AVEC 2017 SEWA label file -> ``(times [M] in s, values [M, 2] = (valence, arousal))``.

    Rows ``name;time;arousal;valence;liking``; ratings in [-1, 1]; times strictly increasing.
    """
    lines = read_lines(path)
    first = 1
    if lines[0].split(";")[0].strip().strip("'\"").lower() == "name":
        header = [field.lower() for field in split_header(lines, path, sep=";")]
        if tuple(header) != AVEC2017_COLUMNS:
            raise AnnotationError(f"header must be {';'.join(AVEC2017_COLUMNS)}, got {lines[0][:60]!r}",
                                  path, line=1)
        first = 2
    names, rest = [], []
    for line_no, line in enumerate(lines[first - 1:], start=first):
        name, sep, tail = line.partition(";")
        if not sep or not name.strip().strip("'\""):
            raise AnnotationError("expected 'name;time;arousal;valence;liking'", path, line=line_no)
        names.append(name.strip().strip("'\""))
        rest.append(tail)
    if len(set(names)) > 1:
        row = next(i for i, n in enumerate(names) if n != names[0])
        raise AnnotationError(f"name {names[row]!r} differs from {names[0]!r} of the first row", path,
                              line=first + row)
    values = parse_numbers(rest, path, ncols=4, sep=";", first_line=first)
    check_timestamps(values[:, 0], path, first)
    check_range(values[:, 1:], path, first_line=first, low=-1.0, high=1.0, what="rating")
    return values[:, 0], values[:, [2, 1]]


def read_sewadb(path: str | os.PathLike) -> np.ndarray:
    """A SEWA DB ``*_A_Aligned.csv`` file -> ``[N, 2]`` float64 rows ``(frame, value)``, value in [-1, 1]."""
    lines = read_lines(path)
    header = [field.lower() for field in split_header(lines, path)]
    if len(header) != 2 or header[0] != "frame":
        raise AnnotationError(f"header must be 'frame,<value name>', got {lines[0][:60]!r}", path, line=1)
    rows = parse_numbers(lines[1:], path, ncols=2, first_line=2)
    check_range(rows[:, 0], path, first_line=2, low=0, high=np.inf, integer=True, what="frame")
    steps = np.nonzero(np.diff(rows[:, 0]) != 1)[0]
    if len(steps):
        row = int(steps[0]) + 1
        raise AnnotationError(f"frame {rows[row, 0]:g} does not follow frame {rows[row - 1, 0]:g}", path,
                              line=row + 2)
    check_range(rows[:, 1], path, first_line=2, low=-1.0, high=1.0, what="rating")
    return rows


def detect_layout(root: str | os.PathLike) -> str:
    """``"avec2017"`` if ``root/labels`` exists, ``"sewadb"`` if recording folders exist, else an error."""
    root = Path(root)
    if (root / "labels").is_dir():
        return "avec2017"
    if _sewadb_ids(root):
        return "sewadb"
    raise MissingResourceError(f"SEWA: neither labels/ (AVEC 2017) nor <vid>/valence/<vid>_Valence_A_Aligned.csv "
                               f"(SEWA DB) under {root}")


def iter_records(root: str | os.PathLike, split: str | None = None, *, videos: str | os.PathLike | None = None,
                 layout: str = "auto", fold: int | None = None, num_folds: int = NUM_FOLDS,
                 subjects: str | os.PathLike | None = None, decode: bool = False) -> Iterator[VideoRecord]:
    """Yield one :class:`VideoRecord` per SEWA recording (splits in order, ids sorted).

    Args:
        root: the release folder (holding ``labels/`` or the recording folders).
        split: ``"train"`` / ``"validation"`` / ``"test"`` / ``None``; for SEWA DB as for AFEW-VA
            (with ``fold``: train or the held-out fold; without: ``None`` only).
        videos: folder of ``<name>.{avi,mp4}`` (see the module docstring).
        layout: ``"auto"``, ``"avec2017"`` or ``"sewadb"``.
        fold, num_folds, subjects: the cross-validation fold (SEWA DB only).
        decode: count frames by decoding (see :func:`~tfaffect.data.formats._common.video_length`).
    """
    root = option_path(root, "root", "SEWA")
    videos = option_path(videos, "videos", "SEWA")
    subjects = option_path(subjects, "subjects", "SEWA")
    decode = option_bool(decode, "decode", "SEWA")
    if layout == "auto":
        layout = detect_layout(root)
    if layout == "avec2017":
        if fold is not None or subjects is not None:
            raise ConfigError("SEWA AVEC 2017 has official Train/Devel/Test splits: fold and subjects "
                              "do not apply")
        yield from _iter_avec2017(root, split, videos, decode)
    elif layout == "sewadb":
        yield from _iter_sewadb(root, split, videos, fold, num_folds, subjects, decode)
    else:
        raise ConfigError(f"SEWA: layout must be 'auto', 'avec2017' or 'sewadb', got {layout!r}")


def _iter_avec2017(root: Path, split: str | None, videos, decode: bool) -> Iterator[VideoRecord]:
    if videos is None:
        raise MissingResourceError("SEWA AVEC 2017: the ratings are time-stamped and need the videos; pass "
                                   "videos=DIR with DIR/<Train_01>.{avi,mp4} ...")
    splits = check_split(split, "SEWA")
    files = {name: sorted((root / "labels").glob(f"{AVEC2017_FOLDERS[name]}_*.csv")) for name in splits}
    if not any(files.values()):
        prefixes = "|".join(AVEC2017_FOLDERS[s] for s in splits)
        raise MissingResourceError(f"SEWA AVEC 2017: no labels/{prefixes}_NN.csv under {root}")
    for name in splits:
        for path in progress(files[name], desc=f"SEWA {name}"):
            check_identifier(path.stem, path)
            times, values = read_avec2017(path)
            video = require_video(videos, path.stem, path)
            num_frames, fps, frame_times = video_frame_times(video, decode=decode)
            on_frames = ratings_on_frames(times, values, frame_times)
            yield VideoRecord(video_id=path.stem, split=name, num_frames=num_frames, video_path=str(video),
                              fps=fps, valence=on_frames[:, 0], arousal=on_frames[:, 1])


def _sewadb_ids(root: Path) -> list[str]:
    return sorted(check_identifier(p.parent.parent.name, p) for p in root.glob("*/valence/*_Valence_A_Aligned.csv")
                  if p.name == f"{p.parent.parent.name}_Valence_A_Aligned.csv")


def _iter_sewadb(root: Path, split, videos, fold, num_folds, subjects, decode) -> Iterator[VideoRecord]:
    ids = _sewadb_ids(root)
    if not ids:
        raise MissingResourceError(f"SEWA DB: no <vid>/valence/<vid>_Valence_A_Aligned.csv under {root}")
    subject_of = read_subject_map(subjects) if subjects is not None else None
    for vid, label in progress(fold_splits(ids, "SEWA DB", split, fold, num_folds, subject_of, subjects),
                               desc="SEWA DB"):
        valence_file = root / vid / "valence" / f"{vid}_Valence_A_Aligned.csv"
        arousal_file = root / vid / "arousal" / f"{vid}_Arousal_A_Aligned.csv"
        if not arousal_file.is_file():
            raise AnnotationError(f"no arousal file {arousal_file.name} beside the valence file", valence_file)
        valence, arousal = read_sewadb(valence_file), read_sewadb(arousal_file)
        if len(valence) != len(arousal) or not np.array_equal(valence[:, 0], arousal[:, 0]):
            raise AnnotationError(f"frames differ from the valence file ({len(arousal)} rows from frame "
                                  f"{arousal[0, 0]:g} vs {len(valence)} from {valence[0, 0]:g})", arousal_file)
        num_frames, fps, video_path = len(valence), None, None
        if videos is not None:
            video = require_video(videos, vid, valence_file)
            num_frames, fps = video_length(video, expected_frames=len(valence), annotation=valence_file,
                                          decode=decode)
            video_path = str(video)
        yield VideoRecord(video_id=vid, split=label, num_frames=num_frames, video_path=video_path, fps=fps,
                          subject=None if subject_of is None else subject_of[vid],
                          valence=valence[:, 1], arousal=arousal[:, 1])


