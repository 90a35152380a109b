"""The one in-memory shape every dataset importer yields: a :class:`VideoRecord` per video.

Conventions (all importers follow them, everything downstream relies on them):

* Frame ``i`` (0-based) is the i-th frame of the video. Per-frame arrays all have ``num_frames`` rows.
* Invalid or absent labels: valence/arousal ``NaN``; expression ``-1``; AUs ``-1`` (whole row);
  landmarks ``NaN``. Nothing is dropped: a frame without an image or a label stays, flagged.
* Valence and arousal are on the [-1, 1] scale (AFEW-VA's [-10, 10] integers are divided by 10).
* Landmarks are ``(x, y)`` pixel coordinates in the frame image, in the usual 68-point order.
* ``video_id`` is an identifier, never a path (:func:`tfaffect.io.identifier_problem`): importers refuse
  names with path separators, ``..`` or drive prefixes where they read them (naming the file and line),
  and a record refuses them too.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from tfaffect.errors import DataError
from tfaffect.io import identifier_problem


@dataclasses.dataclass(eq=False)
class VideoRecord:
    video_id: str
    split: str
    num_frames: int
    frame_paths: Sequence[str | None] | None = None
    """Per-frame image file, ``None`` where the dataset has no image for that frame (no face found)."""
    video_path: str | None = None
    """The video file, for datasets distributed as videos (Aff-Wild, AFEW)."""
    subject: str | None = None
    fps: float | None = None
    valence: np.ndarray | None = None
    arousal: np.ndarray | None = None
    expression: np.ndarray | None = None
    aus: np.ndarray | None = None
    au_names: tuple[str, ...] | None = None
    landmarks: np.ndarray | None = None
    expression_classes: tuple[str, ...] | None = None
    clip_label: int | None = None
    """One label for the whole clip (AFEW / EmotiW), index into ``expression_classes``."""

    def __post_init__(self):
        problem = identifier_problem(self.video_id)
        if problem is not None:
            source = self.video_path or next((p for p in self.frame_paths or () if p is not None), None)
            raise DataError(f"video id {str(self.video_id)[:60]!r} is not a name: {problem}", source)
        n = int(self.num_frames)
        if n < 0:
            raise ValueError(f"{self.video_id}: num_frames must be >= 0, got {n}")
        if self.frame_paths is not None:
            self.frame_paths = tuple(self.frame_paths)
        for name, dtype, tail in (("valence", np.float32, ()), ("arousal", np.float32, ()),
                                  ("expression", np.int64, ()), ("aus", np.float32, None),
                                  ("landmarks", np.float32, (68, 2))):
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value, dtype=dtype)
            if value.shape[:1] != (n,) or (tail is not None and value.shape[1:] != tail):
                want = (n,) + (tail if tail is not None else ("K",))
                raise ValueError(f"{self.video_id}: {name} has shape {value.shape}, expected {want}")
            setattr(self, name, value)
        if self.frame_paths is not None and len(self.frame_paths) != n:
            raise ValueError(f"{self.video_id}: {len(self.frame_paths)} frame paths for {n} frames")

    @property
    def va_valid(self) -> np.ndarray:
        """Boolean [N]: frames with both valence and arousal annotated."""
        if self.valence is None or self.arousal is None:
            return np.zeros(self.num_frames, bool)
        return np.isfinite(self.valence) & np.isfinite(self.arousal)

    @property
    def expression_valid(self) -> np.ndarray:
        if self.expression is None:
            return np.zeros(self.num_frames, bool)
        return self.expression >= 0

    @property
    def has_image(self) -> np.ndarray:
        """Boolean [N]: frames whose image exists in the dataset (always True for video files)."""
        if self.frame_paths is None:
            return np.ones(self.num_frames, bool)
        return np.array([p is not None for p in self.frame_paths], bool)
