"""AFEW / EmotiW (Kahou et al. 2015; Kollias 2019 section 5.2): film clips with one expression per clip.

Layout read (FORMATS.md)::

    <root>/{Train,Val[,Test]}/{Angry,Disgust,Fear,Happy,Neutral,Sad,Surprise}/<id>.avi

The class folder is the clip's label, stored as ``VideoRecord.clip_label``, an index into
``expression_classes = tfaffect.EXPRESSIONS_7`` (Angry -> Anger, Happy -> Happiness,
Sad -> Sadness). ``num_frames`` and ``fps`` come from the video (header count, decoded when the
header gives none or with ``decode=True``). Per-frame arrays are left ``None``: the clip label is
not a per-frame label (Kahou 2015, section 2.1).

* The test set's labels were never released with the data: ``test`` (``Test``, in class folders like the
  others) is read when the folder is there (someone holding labels, or SynthAffect's AFEW layout, whose labelled
  test people are a SynthAffect extension) and skipped silently when it is not.
* A folder under ``Train``/``Val`` that is not one of the seven classes is an error (it would
  otherwise be a silently dropped class); files other than ``.avi`` in a class folder are reported in
  a warning, except a clip's audio ``<id>.wav`` beside it (:func:`tfaffect.data.audio.clip_audio_path`: where the
  Kahou audio model reads it, extracted from the clip by the user). The same clip id under two classes of one
  split is an error.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

from tfaffect import EXPRESSIONS_7
from tfaffect.data.formats._common import (check_identifier, check_split, option_bool, option_path, progress,
                                           video_length)
from tfaffect.data.formats.base import VideoRecord
from tfaffect.errors import AnnotationError, MissingResourceError

logger = logging.getLogger(__name__)

FOLDERS = {"train": "Train", "validation": "Val", "test": "Test"}
"""Split name -> EmotiW folder (FORMATS.md)."""
CLASS_FOLDERS = {"Neutral": "Neutral", "Angry": "Anger", "Disgust": "Disgust", "Fear": "Fear",
                 "Happy": "Happiness", "Sad": "Sadness", "Surprise": "Surprise"}
"""EmotiW folder name -> class name of :data:`tfaffect.EXPRESSIONS_7` (FORMATS.md)."""


def iter_records(root: str | os.PathLike, split: str | None = None, *,
                 decode: bool = False) -> Iterator[VideoRecord]:
    """Yield one :class:`VideoRecord` per AFEW clip: ``train``, ``validation``, then ``test``, clip ids sorted.

    Args:
        root: the folder holding ``Train/`` and ``Val/``.
        split: ``"train"``, ``"validation"``, ``"test"`` or ``None`` (all present; ``Train/`` is required).
        decode: count frames by decoding every video instead of trusting the container header.
    """
    root = option_path(root, "root", "AFEW")
    decode = option_bool(decode, "decode", "AFEW")
    splits = check_split(split, "AFEW", tuple(FOLDERS))
    for name in splits:
        split_dir = root / FOLDERS[name]
        if not split_dir.is_dir():
            if split is None and name != "train" and (root / FOLDERS["train"]).is_dir():
                continue
            raise MissingResourceError(f"AFEW: no {FOLDERS[name]}/ folder under {root}; pass the folder "
                                       f"that holds Train/ and Val/")
        clips = _list_clips(split_dir)
        for clip in progress(sorted(clips), desc=f"AFEW {name}"):
            video, label = clips[clip]
            num_frames, fps = video_length(video, decode=decode)
            yield VideoRecord(video_id=clip, split=name, num_frames=num_frames, video_path=str(video),
                              fps=fps, expression_classes=EXPRESSIONS_7,
                              clip_label=EXPRESSIONS_7.index(CLASS_FOLDERS[label]))


def _list_clips(split_dir: Path) -> dict[str, tuple[Path, str]]:
    """``{clip id: (video, class folder)}`` for one split folder."""
    clips: dict[str, tuple[Path, str]] = {}
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        if class_dir.name not in CLASS_FOLDERS:
            raise AnnotationError(f"unknown class folder {class_dir.name!r}; expected one of "
                                  f"{', '.join(CLASS_FOLDERS)}", class_dir)
        others = 0
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() != ".avi" or not path.is_file():
                others += not (path.suffix.lower() == ".wav" and path.with_suffix(".avi").is_file())
                continue
            check_identifier(path.stem, path, what="clip id")
            if path.stem in clips:
                raise AnnotationError(f"clip {path.stem!r} is also labelled {clips[path.stem][1]}", path)
            clips[path.stem] = (path, class_dir.name)
        if others:
            logger.warning("AFEW %s: %d entries that are not .avi files are not clips", class_dir, others)
    return clips
