"""Helpers shared by the dataset importers: strict annotation parsing, nearest-timestamp resampling,
video probing and cross-validation folds.

Everything that reads a file raises :class:`~tfaffect.errors.AnnotationError` (or
:class:`~tfaffect.errors.VideoError`) naming the file and the 1-based line, never a bare
``ValueError`` or ``UnicodeDecodeError``: importers can be pointed at arbitrary bytes.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence, TypeVar

import numpy as np

from tfaffect.errors import AnnotationError, ConfigError, VideoError
from tfaffect.io import identifier_problem

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
"""The split names every importer accepts (``None`` means all of them)."""

VIDEO_EXTENSIONS = (".avi", ".mp4")
"""Video containers the importers look for, in this order of preference."""

# A plain decimal number, optionally signed, with optional exponent and surrounding blanks.
# Stricter than float() on purpose: "nan", "inf", "1_0" and non-ASCII digits are rejected.
_NUMBER = r"[ \t]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[ \t]*"
_NUMBER_RE = re.compile(_NUMBER, re.ASCII)

T = TypeVar("T")


def check_split(split: str | None, dataset: str, available: Sequence[str] = SPLITS) -> tuple[str, ...]:
    """The splits to read: ``available`` for ``None``, else ``(split,)``; ConfigError if unknown."""
    if split is None:
        return tuple(available)
    if split not in available:
        raise ConfigError(f"{dataset}: split must be one of {', '.join(available)} or None, got {split!r}")
    return (split,)


def check_identifier(name: str, path: str | os.PathLike, *, line: int | None = None, what: str = "video id") -> str:
    """``name`` if it is an identifier (:func:`tfaffect.io.identifier_problem`), else AnnotationError naming
    ``path`` (the file the name was read from, or whose name it is) and ``line``. Names from data are
    identifiers, never paths: a video id ``../../outside`` must not make an importer read outside its root."""
    problem = identifier_problem(name)
    if problem is not None:
        raise AnnotationError(f"{what} is not a plain name: {problem}", path, line=line)
    return name


def option_path(value, name: str, dataset: str) -> Path | None:
    """An importer option naming a file or folder (text or path-like; ``None`` stays ``None``), else ConfigError."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)) and os.fspath(value) and "\0" not in os.fspath(value):
        return Path(value)
    raise ConfigError(f"{dataset}: option {name} must be a path, got {value!r:.60}")


def option_bool(value, name: str, dataset: str) -> bool:
    """An importer option that is true or false (JSON ``true`` / ``false``), else ConfigError."""
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{dataset}: option {name} must be true or false, got {value!r:.60}")


def option_names(value, name: str, dataset: str) -> tuple[str, ...]:
    """An importer option listing names (a list of strings; one string is one name), else ConfigError."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{dataset}: option {name} must be a list of names, got {value!r:.60}")


def progress(iterable: Iterable[T], desc: str) -> Iterator[T]:
    """A tqdm progress bar over ``iterable`` that hides itself when stderr is not a terminal."""
    from tqdm.auto import tqdm

    return iter(tqdm(iterable, desc=desc, leave=False, disable=None))


# ----------------------------------------------------------------------------- text files


def read_lines(path: str | os.PathLike) -> list[str]:
    """The lines of a UTF-8 text file, without line endings (``\\n`` or ``\\r\\n``).

    Trailing blank lines at the end of the file are dropped (editors add them); blank lines
    elsewhere are kept so that parsers report them. Raises AnnotationError for an unreadable,
    empty or non-UTF-8 file.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AnnotationError(f"cannot read file ({exc.strerror or exc})", path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise AnnotationError("not UTF-8 text", path, line=line) from None
    lines = text.split("\n")
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise AnnotationError("empty file", path)
    return lines


def split_header(lines: Sequence[str], path: str | os.PathLike, sep: str = ",") -> list[str]:
    """The fields of the first line (stripped); AnnotationError if it is blank or numeric (no header)."""
    fields = [field.strip() for field in lines[0].split(sep)]
    if not any(fields):
        raise AnnotationError("missing header: the first line is blank", path, line=1)
    if all(_NUMBER_RE.fullmatch(field) for field in fields):
        raise AnnotationError(f"missing header: the first line is data ({lines[0][:60]!r})", path, line=1)
    return fields


def parse_numbers(lines: Sequence[str], path: str | os.PathLike, *, ncols: int, first_line: int,
                  sep: str = ",") -> np.ndarray:
    """Parse rows of exactly ``ncols`` decimal numbers separated by ``sep``.

    Returns float64 ``[len(lines), ncols]``. ``first_line`` is the 1-based line number of
    ``lines[0]`` in the file, so errors name the right line. Raises AnnotationError for an empty
    table, a blank line, a wrong number of fields, or a field that is not a finite decimal number
    (the grammar of ``_NUMBER``: no ``nan``, ``inf``, ``1_000`` or non-ASCII digits).

    Fast path: one character-class check over the whole table, a field count per line and
    ``float()`` semantics per field through numpy (several times faster than matching every line
    against the grammar; on the characters allowed, ``float()`` accepts exactly that grammar). Only
    a table that fails is scanned line by line to name the first bad line.
    """
    if not lines:
        raise AnnotationError("no data rows", path, line=first_line)
    body = "\n".join(lines)
    try:
        if (not _allowed_characters(sep).fullmatch(body)
                or any(line.count(sep) != ncols - 1 for line in lines)):
            raise ValueError
        values = np.array(body.replace("\n", sep).split(sep), np.float64)  # float() on each field
    except ValueError:
        _raise_first_bad_row(lines, path, first_line, ncols, sep)
    values = values.reshape(len(lines), ncols)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():  # e.g. "1e999"
        row = int(np.argmax(bad))
        raise AnnotationError(f"value out of floating-point range: {lines[row][:60]!r}", path,
                              line=first_line + row)
    return values


@functools.lru_cache(maxsize=None)
def _allowed_characters(sep: str) -> re.Pattern:
    """Any run of the characters numbers, blanks, newlines and ``sep`` are made of."""
    return re.compile(f"[0-9eE+\\-. \t\n{re.escape(sep)}]*", re.ASCII)


@functools.lru_cache(maxsize=None)
def _row_pattern(ncols: int, sep: str) -> re.Pattern:
    """One line of exactly ``ncols`` numbers separated by ``sep``."""
    return re.compile(re.escape(sep).join([_NUMBER] * ncols), re.ASCII)


def _raise_first_bad_row(lines: Sequence[str], path, first_line: int, ncols: int, sep: str):
    """Scan ``lines`` against the number grammar and raise AnnotationError for the first bad one."""
    row_re = _row_pattern(ncols, sep)
    for offset, line in enumerate(lines):
        if not row_re.fullmatch(line):
            _raise_bad_row(line, path, first_line + offset, ncols, sep)
    raise AnnotationError("table could not be parsed as numbers", path, line=first_line)


def _raise_bad_row(line: str, path, line_no: int, ncols: int, sep: str):
    if not line.strip():
        raise AnnotationError("blank line inside the data", path, line=line_no)
    fields = line.split(sep)
    if len(fields) != ncols:
        raise AnnotationError(f"expected {ncols} field(s) separated by {sep!r}, found {len(fields)}",
                              path, line=line_no)
    bad = next(field for field in fields if not _NUMBER_RE.fullmatch(field))
    raise AnnotationError(f"not a number: {bad.strip()[:40]!r}", path, line=line_no)


def parse_number(token: str, path: str | os.PathLike, line: int, what: str = "value") -> float:
    """One decimal number (same grammar as :func:`parse_numbers`), else AnnotationError."""
    if not _NUMBER_RE.fullmatch(token):
        raise AnnotationError(f"{what} is not a number: {token.strip()[:40]!r}", path, line=line)
    value = float(token)
    if not math.isfinite(value):
        raise AnnotationError(f"{what} out of floating-point range: {token.strip()[:40]!r}", path, line=line)
    return value


def check_range(values: np.ndarray, path: str | os.PathLike, *, first_line: int, low: float,
                high: float, invalid: Sequence[float] = (), integer: bool = False,
                what: str = "value") -> None:
    """AnnotationError naming the first line with a value outside ``[low, high]``.

    Values equal to one of the ``invalid`` markers (e.g. ABAW's ``-5``) are allowed anywhere;
    ``integer`` additionally requires whole numbers. ``values`` is ``[N]`` or ``[N, K]`` with row
    ``r`` coming from line ``first_line + r``.
    """
    values = np.asarray(values, np.float64)
    rows = values.reshape(len(values), -1)
    ok = (rows >= low) & (rows <= high)
    if integer:
        ok &= rows == np.round(rows)
    for marker in invalid:
        ok |= rows == marker
    bad_rows = ~ok.all(axis=1)
    if bad_rows.any():
        row = int(np.argmax(bad_rows))
        bad = rows[row][~ok[row]][0]
        kind = "an integer" if integer else "a number"
        allowed = f"{kind} in [{low:g}, {high:g}]"
        if invalid:
            allowed += " or " + " / ".join(f"{m:g}" for m in invalid)
        raise AnnotationError(f"{what} {bad:g} is not {allowed}", path, line=first_line + row)


# ----------------------------------------------------------------------------- resampling


def nearest_resample(times: np.ndarray, values: np.ndarray, frame_times: np.ndarray, *,
                     max_distance: float | None = None, tie_tolerance: float = 1e-9) -> np.ndarray:
    """Resample time-stamped annotations onto frame times by nearest timestamp.

    Kollias 2019, section 3.3: "for each frame time instance, we searched for the nearest neighbor
    in the annotation time stamp sequence ... In cases we had two annotation timestamps with same
    time distance from a frame, we computed the average of those two".

    Args:
        times: ``[M]`` annotation timestamps, strictly increasing.
        values: ``[M]`` or ``[M, K]`` annotation values (NaN allowed: a tie with a NaN is NaN).
        frame_times: ``[F]`` frame timestamps, same unit as ``times``.
        max_distance: frames whose nearest annotation is farther than this get NaN. The paper does
            not say what happens past the ends of the annotation; ``None`` extends the first and
            last values without limit.
        tie_tolerance: two distances that differ by at most this much count as equal, so that
            rounding (``0.15 - 0.1 != 0.2 - 0.15`` in floating point) does not break exact ties.

    Returns:
        float64 ``[F]`` or ``[F, K]``.
    """
    times = np.asarray(times, np.float64)
    values = np.asarray(values, np.float64)
    frame_times = np.asarray(frame_times, np.float64)
    if times.ndim != 1 or len(times) == 0 or len(values) != len(times):
        raise ValueError(f"need M >= 1 timestamps and M values, got {times.shape} and {values.shape}")
    if np.any(np.diff(times) <= 0):
        raise ValueError("annotation timestamps must be strictly increasing")
    right = np.clip(np.searchsorted(times, frame_times, side="left"), 0, len(times) - 1)
    left = np.clip(right - 1, 0, len(times) - 1)
    d_left = np.abs(frame_times - times[left])
    d_right = np.abs(times[right] - frame_times)
    tie = (np.abs(d_left - d_right) <= tie_tolerance) & (left != right)
    take_left = d_left < d_right
    nearest = np.where(take_left, left, right)
    out = values[nearest].copy()
    if tie.any():
        out[tie] = 0.5 * (values[left[tie]] + values[right[tie]])
    if max_distance is not None:
        far = np.minimum(d_left, d_right) > max_distance + tie_tolerance
        out[far] = np.nan
    return out


def annotation_step(times: np.ndarray) -> float:
    """The median spacing of annotation timestamps (the sampling period of the ratings)."""
    diffs = np.diff(np.asarray(times, np.float64))
    return float(np.median(diffs)) if len(diffs) else math.inf


def check_timestamps(times: np.ndarray, path: str | os.PathLike, first_line: int) -> None:
    """AnnotationError naming the first line whose timestamp is negative or not after the previous one."""
    times = np.asarray(times, np.float64)
    if len(times) and times[0] < 0:
        raise AnnotationError(f"negative timestamp {times[0]:g}", path, line=first_line)
    bad = np.nonzero(np.diff(times) <= 0)[0]
    if len(bad):
        row = int(bad[0]) + 1
        raise AnnotationError(f"timestamp {times[row]:g} is not after the previous one "
                              f"({times[row - 1]:g})", path, line=first_line + row)


# ----------------------------------------------------------------------------- videos


def find_video(directory: str | os.PathLike, stem: str) -> Path | None:
    """``directory/stem.<ext>`` for the one existing extension of :data:`VIDEO_EXTENSIONS`.

    ``None`` when there is none; VideoError when several exist (which one is meant is unclear).
    """
    found = [Path(directory, stem + ext) for ext in VIDEO_EXTENSIONS if Path(directory, stem + ext).is_file()]
    if len(found) > 1:
        raise VideoError(f"several videos for {stem!r}: {', '.join(p.name for p in found)}", directory)
    return found[0] if found else None


def require_video(directory: str | os.PathLike, stem: str, annotation: str | os.PathLike) -> Path:
    """:func:`find_video`, or VideoError naming ``annotation`` when the video it labels is absent."""
    video = find_video(directory, stem)
    if video is None:
        names = " or ".join(stem + ext for ext in VIDEO_EXTENSIONS)
        raise VideoError(f"no video {names} in {directory} for this annotation", annotation)
    return video


def video_length(path: str | os.PathLike, *, expected_frames: int | None = None,
                 annotation: str | os.PathLike | None = None, decode: bool = False) -> tuple[int, float | None]:
    """``(num_frames, fps)`` of a video file (:mod:`tfaffect.data.video`, OpenCV).

    Decoded frames are the truth; ``cv2.CAP_PROP_FRAME_COUNT`` comes from the container header and
    can be wrong (MP4 edit lists, estimated counts). So the frames are counted by decoding, except
    when the header agrees with ``expected_frames`` (the annotation's row count) and ``decode`` is not
    set: such a video is trusted without decoding (decoding the 1.2M Aff-Wild frames only to count
    them takes long), and a truncated one is caught when ``tfaffect prepare`` decodes it (a
    VideoError naming the file and the first missing frame). Without ``expected_frames`` nothing can
    confirm the header, so the frames are always counted.

    Raises VideoError when the file cannot be opened or not one frame decodes, or when fewer frames
    decode than its header announces and the annotation needs them (naming the video and the first
    frame that does not exist); AnnotationError naming ``annotation`` when the annotation's row count
    differs from a frame count that the header confirms (or that exceeds it). ``fps`` is ``None``
    when the container does not give one.
    """
    from tfaffect.data.video import count_frames, probe_video

    info = probe_video(path)
    count = info.num_frames
    if decode or expected_frames is None or count != expected_frames:
        count = count_frames(path)
    if expected_frames is not None and count != expected_frames:
        name = Path(path).name
        if count < expected_frames <= info.num_frames:
            raise VideoError(f"only {count} of the {info.num_frames} frames its header announces decode "
                             f"(truncated file, or an edit list that hides frames), but "
                             f"{annotation if annotation is not None else 'the annotation'} labels "
                             f"{expected_frames}: frame {count} onwards does not exist", path, frame=count)
        raise AnnotationError(f"{expected_frames} annotation rows but the video {name} has {count} frames"
                              + (f" (its header announces {info.num_frames})" if info.num_frames != count else ""),
                              annotation if annotation is not None else path)
    return count, (info.fps or None)


# ----------------------------------------------------------------------------- folds


def read_subject_map(path: str | os.PathLike) -> dict[str, str]:
    """Read a ``clip,subject`` CSV (first line the header ``clip,subject``) into ``{clip: subject}``."""
    lines = read_lines(path)
    header = [field.lower() for field in split_header(lines, path)]
    if header != ["clip", "subject"]:
        raise AnnotationError(f"header must be 'clip,subject', got {lines[0][:60]!r}", path, line=1)
    mapping: dict[str, str] = {}
    for line_no, line in enumerate(lines[1:], start=2):
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 2 or not all(fields):
            raise AnnotationError("expected 'clip,subject'", path, line=line_no)
        if fields[0] in mapping:
            raise AnnotationError(f"clip {fields[0]!r} listed twice", path, line=line_no)
        mapping[fields[0]] = fields[1]
    if not mapping:
        raise AnnotationError("no data rows", path, line=2)
    return mapping


def assign_folds(ids: Iterable[str], num_folds: int, subjects: Mapping[str, str] | None = None,
                 subjects_file: str | os.PathLike | None = None) -> dict[str, int]:
    """Deterministic k-fold assignment ``{id: fold}`` in contiguous blocks of the sorted ids.

    The same rule as the ANCLaF original code (deckyal/Seq-Att-Affect, ``FacialDataset.py``:
    folders sorted by name, ``perSplit = int(total / nSplit)``, fold ``x`` takes
    ``[x * perSplit, (x + 1) * perSplit)`` and the last fold also takes the remainder). With
    ``subjects`` (``{id: subject}``) the blocks are made of sorted subjects instead, so that every
    subject falls in exactly one fold (subject-independent folds). ``subjects_file`` (where ``subjects``
    was read from) is named in the errors about it.
    """
    ids = sorted(set(ids))
    if not isinstance(num_folds, int) or isinstance(num_folds, bool) or num_folds < 2:
        raise ConfigError(f"num_folds must be an integer >= 2, got {num_folds!r}")
    if subjects is not None:
        missing = [i for i in ids if i not in subjects]
        if missing:
            where = f"the subject map {os.fspath(subjects_file)}" if subjects_file is not None else "the subject map"
            raise ConfigError(f"{where} has no entry for {len(missing)} clip(s), e.g. {missing[0]!r}; add a "
                              f"'clip,subject' line for each")
        units = sorted({subjects[i] for i in ids})
    else:
        units = ids
    if len(units) < num_folds:
        raise ConfigError(f"cannot make {num_folds} folds from {len(units)} "
                          + (f"subjects (subject map {os.fspath(subjects_file)})" if subjects_file is not None
                             else "subjects" if subjects is not None else "clips"))
    per_fold = len(units) // num_folds
    unit_fold = {unit: min(index // per_fold, num_folds - 1) for index, unit in enumerate(units)}
    return {i: unit_fold[subjects[i] if subjects is not None else i] for i in ids}


def fold_splits(ids: Iterable[str], dataset: str, split: str | None, fold: int | None, num_folds: int,
                subjects: Mapping[str, str] | None = None,
                subjects_file: str | os.PathLike | None = None) -> list[tuple[str, str]]:
    """``[(id, split_label)]`` in sorted id order for a dataset evaluated by k-fold cross-validation.

    * ``fold=None``: every id, labelled ``"fold<k>"`` with its fold; ``split`` must be ``None``.
    * ``fold=k``: ``split="train"`` gives the ids outside fold ``k``; ``"test"`` (or its alias
      ``"validation"``, the held-out part) gives fold ``k``; ``None`` gives both, labelled.
    """
    folds = assign_folds(ids, num_folds, subjects, subjects_file)
    if fold is None:
        if split is not None:
            raise ConfigError(f"{dataset} has no official {split!r} split: pass fold=0..{num_folds - 1} "
                              f"to select the cross-validation fold (num_folds={num_folds})")
        return [(i, f"fold{folds[i]}") for i in sorted(folds)]
    if not isinstance(fold, int) or isinstance(fold, bool) or not 0 <= fold < num_folds:
        raise ConfigError(f"fold must be an integer in [0, {num_folds - 1}], got {fold!r}")
    check_split(split, dataset)
    out = []
    for i in sorted(folds):
        role = "test" if folds[i] == fold else "train"
        wanted = {None: role, "train": "train", "test": "test", "validation": "test"}[split]
        if role == wanted:
            out.append((i, split if split is not None else role))
    return out


def video_frame_times(video: str | os.PathLike, *, decode: bool = False) -> tuple[int, float, np.ndarray]:
    """``(num_frames, fps, frame_times [F] in s)`` of a video; frame ``i`` is at ``i / fps``.

    Assumes a constant frame rate (the container's); variable-frame-rate files would need per-frame
    timestamps. VideoError when the container gives no frame rate.
    """
    num_frames, fps = video_length(video, decode=decode)
    if fps is None:
        raise VideoError("the container gives no frame rate, so frame times are unknown", video)
    return num_frames, fps, np.arange(num_frames, dtype=np.float64) / fps


def ratings_on_frames(times: np.ndarray, values: np.ndarray, frame_times: np.ndarray) -> np.ndarray:
    """Time-stamped ratings placed on frame times with :func:`nearest_resample`.

    Frames farther than one annotation step (the median spacing of ``times``) from every rating get
    NaN, so frames past the end of the ratings stay unlabelled instead of repeating the last rating
    (not fixed by the papers; chosen so that no label is invented).
    """
    return nearest_resample(times, values, frame_times, max_distance=annotation_step(times))
