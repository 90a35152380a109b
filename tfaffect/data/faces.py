"""Find the main face in every frame, align it on five points and crop it to the recipe's size.

Pipeline (:class:`FacePipeline`), per stream of frames:

1. **Detection** with MTCNN (Zhang et al. 2016, the ``mtcnn`` 1.0 package, whose weights ship in
   the wheel) on *batches* of frames downscaled so that the longer side is ``detect_max_side``;
   boxes and points are mapped back to full resolution. One call on 8 frames costs a fraction of
   8 calls on one frame (``benchmarks/faces.py`` prints the ratios).
2. **Tracking** (``detect_every=k > 1``): only every k-th frame (and the stream's last frame) gets
   the full detector. For the frames in between, a box is proposed from the main faces of the two
   neighbouring detections (linear interpolation when both have one, otherwise the one there is)
   and checked by MTCNN's last stage alone (O-Net on a 48x48 patch), which returns a confidence,
   a refined box and five points for that very frame. Where O-Net rejects the box the face was
   lost (or the neighbours hold different faces), and the full detector runs on that frame. Faces
   present in neither neighbouring detection are not looked for, so a face that appears and
   vanishes within k-1 frames is missed.
3. **Main face**: at the first detection the largest box (area times confidence); afterwards the
   candidate with the best overlap with the previous face (for a re-detected frame: with the
   box proposed for it); when none overlaps it (the face moved far or was lost) the largest again.
4. **Alignment**: the least-squares similarity transform (Umeyama 1991) from the five points to
   a fixed template, applied with ``cv2.warpAffine``. Frames that carry 68 landmarks from the
   dataset use five points derived from them instead of the detector, and the 68 points are
   transformed into crop coordinates.
5. **68 landmarks** (``landmarker``, e.g. dlib's :class:`~tfaffect.data.landmarks68.Landmarks68`): on a
   frame without dataset landmarks, the 68 points are fitted in the detector's box of each face, the
   face is aligned on the five points derived from them instead of the detector's, and the crop
   carries the 68 points in crop coordinates: what ``tfaffect predict`` does for landmark models. A
   fit that gives no usable points (:func:`fit_landmarks`) leaves the detector's alignment and no
   landmarks (``landmarks_source`` ``"landmarker failed"``).

Frames without a face give a :class:`FaceCrop` with ``image=None`` and ``score=0``; no frame is
ever skipped. Coordinates follow OpenCV: ``(x, y)`` with integer values at pixel centres.

**Several faces** (:meth:`FacePipeline.process_faces`): the same detection schedule, but every face
the detector finds on a keyframe is kept, up to ``max_faces`` per frame, and gets a ``face_id``
that stays with it across frames:

- on each keyframe the candidates are matched to the faces seen before (greedily, highest IoU with
  a face's last box first, from ``min_overlap``; then, for those left, the closest centres within
  :data:`MATCH_DISTANCE` face widths); a face unseen for more than :data:`TRACK_MEMORY`
  frames is forgotten; a candidate that matches no face gets the next unused id (ids count from 0
  and are never reused within a stream);
- with ``max_faces`` set, the faces already followed come first (largest first, by box area times
  confidence), then the new ones (largest first): a face keeps its id and its place while a larger
  one appears;
- between keyframes each face is tracked as the main face is (a box interpolated from its boxes at
  the neighbouring keyframes, checked by O-Net; where O-Net rejects it the full detector runs on
  that frame and the candidate overlapping the proposal best takes its id); two faces whose boxes
  overlap by more than :data:`DUPLICATE_IOU` in a frame are one face: the older id keeps it.

``max_faces=1`` is exactly :meth:`FacePipeline.process` (the main face of step 3, ``face_id`` 0).

:func:`crop_description` states all of this as data (the facts an export's ``metadata.json`` gives
to users with their own face detector).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Iterable, Iterator, Mapping, Sequence

import cv2
import numpy as np

log = logging.getLogger(__name__)

ARCFACE_TEMPLATE_112 = np.array([
    [38.2946, 51.6963],  # eye on the image's left (the subject's right eye)
    [73.5318, 51.5014],  # eye on the image's right
    [56.0252, 71.7366],  # nose tip
    [41.5493, 92.3655],  # mouth corner on the image's left
    [70.7299, 92.2041],  # mouth corner on the image's right
], np.float64)
"""Five-point template of a 112x112 face crop, ``arcface_dst`` in insightface's
``python-package/insightface/utils/face_align.py`` (deepinsight/insightface), a widely used 5-point
alignment target; same point order as MTCNN's output."""

_ONET_PASSES = 2  # MTCNN runs O-Net once per proposal; a second pass on tracked boxes: see FacePipeline._refine

TRACK_MEMORY = 30
"""Frames a face may go unseen (occluded, turned away, missed) and still get its ``face_id`` back when it
is detected again at an overlapping place (:meth:`FacePipeline.process_faces`). Not fixed by the papers;
chosen: about one second of video, longer than a blink or a hand passing, shorter than a cut to another
shot whose faces happen to sit where the old ones were."""
MATCH_DISTANCE = 1.0
"""A face on a keyframe whose box overlaps no remembered face by ``min_overlap`` still takes the id of the
remembered face whose centre lies less than this many face widths away (after the IoU pairs are made; closest
first). A face moving fast between two keyframes (6 px per frame over 4 frames is 24 px, more than half a
42-px face) keeps its id. Chosen: neighbouring faces sit at least a face width apart."""
DUPLICATE_IOU = 0.5
"""IoU above which two tracked boxes of one frame are the same face (two ids that converged on one
face; MTCNN's own non-maximum suppression uses 0.7 within one detection). Chosen."""

# iBUG 68-point indices (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67).
FROM_DATASET = "dataset"
FROM_LANDMARKER = "landmarker"
LANDMARKER_FAILED = "landmarker failed"
"""The values of :attr:`FaceCrop.landmarks_source` (and the manifest's ``landmarks_source`` counts)."""

_EYE_IMAGE_LEFT = slice(36, 42)
_EYE_IMAGE_RIGHT = slice(42, 48)
_NOSE_TIP = 30
_MOUTH_IMAGE_LEFT = 48
_MOUTH_IMAGE_RIGHT = 54


@dataclasses.dataclass
class FaceCrop:
    """The aligned main face of one frame (or its absence)."""

    frame: int
    image: np.ndarray | None
    """``size x size x 3`` ``uint8`` RGB aligned crop; ``None`` when no face was found."""
    box: tuple[float, float, float, float] | None
    """``(x0, y0, x1, y1)`` of the face in the original frame (MTCNN's box, or the bounding box of
    the given 68 landmarks); ``None`` when no face was found."""
    score: float
    """Detector confidence (MTCNN O-Net); 1.0 for faces given by dataset landmarks; 0.0 without face."""
    landmarks: np.ndarray | None = None
    """``(68, 2)`` landmarks in crop pixel coordinates, when 68 points were given for this frame."""
    landmarks_source: str | None = None
    """Where ``landmarks`` came from: :data:`FROM_DATASET`, :data:`FROM_LANDMARKER`, or
    :data:`LANDMARKER_FAILED` (no landmarks); ``None`` when no 68 points were given or asked for."""
    tracked: bool = False
    """True when the face came from checking a tracked box (``detect_every > 1``) instead of a full detection."""
    face_id: int = 0
    """Which face of the stream this is (:meth:`FacePipeline.process_faces`: stable across frames); 0 for
    the main face of :meth:`FacePipeline.process`."""


@dataclasses.dataclass
class FrameFaces:
    """The faces of one frame (:meth:`FacePipeline.process_faces`), ordered by ``face_id``; empty without a face."""

    frame: int
    faces: list[FaceCrop]


@dataclasses.dataclass
class _Face:
    box: np.ndarray     # (4,) x0, y0, x1, y1, full resolution
    points: np.ndarray  # (5, 2), full resolution, template order
    score: float
    tracked: bool = False


@dataclasses.dataclass(eq=False)
class _Item:
    pos: int                    # position in the stream (keyframe schedule)
    index: int                  # frame index as given by the caller
    frame: np.ndarray
    landmarks68: np.ndarray | None
    key: bool
    small: np.ndarray | None = None  # the frame at detection resolution, made on first use
    candidates: list[_Face] | None = None  # all faces the full detector found, when it ran
    face: _Face | None = None
    resolved: bool = False
    tracks: dict[int, _Face] | None = None  # several faces by face_id (process_faces)


def points5_from_68(landmarks68: np.ndarray) -> np.ndarray:
    """The five alignment points of a ``(68, 2)`` iBUG landmark set, in template/MTCNN order.

    Eye centres are the means of points 36-41 and 42-47, the nose tip is point 30, the mouth
    corners are points 48 and 54.
    """
    lm = np.asarray(landmarks68, np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected 68 landmarks of shape (68, 2), got {lm.shape}")
    return np.stack([lm[_EYE_IMAGE_LEFT].mean(0), lm[_EYE_IMAGE_RIGHT].mean(0), lm[_NOSE_TIP],
                     lm[_MOUTH_IMAGE_LEFT], lm[_MOUTH_IMAGE_RIGHT]])


def fit_landmarks(landmarker, frame: np.ndarray, box) -> np.ndarray | None:
    """``landmarker(frame, box)``'s 68 points ``(68, 2)`` in frame pixels, or ``None`` when they are unusable:
    not all finite, or five alignment points (:func:`points5_from_68`) that define no transform (all one
    point). dlib's predictor always returns 68 points for a box, so these are its only failures here."""
    points = np.asarray(landmarker(frame, box), np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"the landmarker gave points of shape {points.shape}, not (68, 2)")
    if not np.isfinite(points).all():
        return None
    points5 = points5_from_68(points)
    if not ((points5 - points5.mean(0)) ** 2).sum() > 0:
        return None
    return points


def alignment_template(size: int, margin: float) -> np.ndarray:
    """The five target points in a ``size x size`` crop.

    The 112x112 ArcFace template is scaled into the central ``1 - 2 * margin`` part of the crop,
    so ``margin`` is the fraction of the crop side added on each side around the ArcFace crop.
    Pixel centres are kept consistent: a point at pixel centre ``p`` of the 112 grid lands at
    ``(p + 0.5) * scale - 0.5``.
    """
    if not 0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    inner = size * (1 - 2 * margin)
    return (ARCFACE_TEMPLATE_112 + 0.5) * (inner / 112) + size * margin - 0.5


DETECTOR = ("MTCNN (Zhang et al. 2016; the mtcnn 1.x package, whose weights ship in its wheel): P-, R- and O-Net "
            "on frames downscaled to a longer side of at most {detect_max_side} px, boxes and points mapped back "
            "to the full frame; full detection every {detect_every} frames, O-Net alone on tracked boxes between")
LANDMARK_SCHEME = ("5 points, in this order: the eye on the image's left (the subject's right eye), the eye on the "
                   "image's right, the nose tip, the mouth corner on the image's left, the mouth corner on the "
                   "image's right (MTCNN's order). From the 68-point iBUG mark-up: the means of points 36-41 and "
                   "42-47, point 30, points 48 and 54 (0-based)")


def crop_description(size: int, margin: float = 0.0, *, detect_max_side: int | None = 320,
                     detect_every: int = 5) -> dict:
    """The face crop a model trained on :class:`FacePipeline` crops expects, as JSON-ready facts.

    What a user with their own detector needs to frame faces as tfaffect does (``tfaffect export`` writes
    it into ``metadata.json["face_crop"]``): detector, landmark scheme, alignment, template (in the
    crop's pixels, OpenCV convention: integer coordinates at pixel centres), margin, size, colour order.
    ``detect_max_side`` and ``detect_every`` are ``tfaffect predict``'s settings (:mod:`tfaffect.predict`).
    """
    template = alignment_template(size, margin)
    return {
        "size": [int(size), int(size)],
        "colour_order": "RGB",
        "dtype": "uint8",
        "detector": DETECTOR.format(detect_max_side=detect_max_side or "any (full resolution)",
                                    detect_every=detect_every),
        "landmark_scheme": LANDMARK_SCHEME,
        "landmarks_used_for_training": "the dataset's 68 landmarks where a frame has them (5 points derived as "
                                       "above); otherwise, for data prepared with `tfaffect prepare --landmarks`, "
                                       "dlib's 68 points fitted in MTCNN's box (5 points derived as above, as "
                                       "`tfaffect predict` does for landmark models), else MTCNN's 5 points; "
                                       "datasets given as face crops are resized only",
        "alignment": "least-squares similarity transform (rotation, uniform scale, translation; Umeyama 1991) "
                     "taking the 5 points onto the template, applied with cv2.warpAffine (bilinear); pixels "
                     "from outside the frame are black",
        "template": "ArcFace 112x112 (insightface arcface_dst) scaled into the central 1 - 2 * margin of the "
                    "crop: p_crop = (p_112 + 0.5) * size * (1 - 2 * margin) / 112 + size * margin - 0.5",
        "template_points": np.round(template, 4).tolist(),
        "template_points_112": ARCFACE_TEMPLATE_112.tolist(),
        "margin": float(margin),
        "margin_meaning": "fraction of the crop side added on each side around the ArcFace crop",
    }


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) taking ``src`` to ``dst``.

    Umeyama 1991, "Least-squares estimation of transformation parameters between two point
    patterns", eq. 40-42; reflections are excluded. Returns the ``2 x 3`` matrix ``M`` with
    ``dst ~= M[:, :2] @ p + M[:, 2]`` for each point ``p`` of ``src``.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2:
        raise ValueError(f"need two (N, 2) point sets of the same shape, got {src.shape} and {dst.shape}")
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c ** 2).sum() / len(src)
    if not src_var > 0:
        raise ValueError("source points are all the same point; no transform is defined")
    cov = dst_c.T @ src_c / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rotation = u @ np.diag(sign) @ vt
    scale = (d * sign).sum() / src_var
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a ``2 x 3`` affine ``matrix`` to ``(N, 2)`` points."""
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def align_face(frame: np.ndarray, points5: np.ndarray, size: int,
               margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``frame`` so that ``points5`` land on :func:`alignment_template`; returns ``(crop, matrix)``.

    Bilinear resampling; pixels from outside the frame are black (not fixed by any of the papers;
    chosen over edge replication, which smears border pixels into face-like texture).
    """
    matrix = umeyama(points5, alignment_template(size, margin))
    crop = cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return crop, matrix


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(boxes[..., 3] - boxes[..., 1], 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``a`` ``[..., 4]`` and ``b`` ``[..., 4]`` (x0, y0, x1, y1), broadcast."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    union = _area(a) + _area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _select_main_face(candidates: Sequence[_Face], previous_box: np.ndarray | None,
                      min_overlap: float) -> _Face | None:
    """The main face among ``candidates``.

    The one overlapping ``previous_box`` best, if its IoU reaches ``min_overlap``; otherwise (no
    previous face, or none overlaps it) the largest by box area times confidence.
    """
    if not candidates:
        return None
    boxes = np.stack([c.box for c in candidates])
    if previous_box is not None:
        overlap = box_iou(boxes, previous_box[None])
        best = int(np.argmax(overlap))
        if overlap[best] >= min_overlap:
            return candidates[best]
    return candidates[int(np.argmax(_area(boxes) * np.array([c.score for c in candidates])))]


class FacePipeline:
    """Frames in, one :class:`FaceCrop` per frame out (in order; frames without a face are kept).

    Args:
        size: side of the square crop; 96 is AffWildNet's input (original code, FORMATS.md).
        batch_size: frames per MTCNN call. Larger batches amortise the per-call cost; the pipeline
            holds up to ``(batch_size - 1) * detect_every + 1`` frames in memory.
        detect_every: run the full detector on every k-th frame and track in between (module
            docstring); 1 detects on every frame.
        detect_max_side: frames are downscaled (never upscaled) so that their longer side is at
            most this many pixels before detection; ``None`` detects at full resolution. Not
            fixed by the papers; 320 keeps faces of 40+ pixels in a 640x360 frame detectable
            (MTCNN finds faces of ``min_face_size`` pixels at detection resolution) at a fraction
            of the cost.
        margin: fraction of the crop side added on each side around the 112x112 ArcFace crop
            area. Not fixed by the papers; 0.0 (the ArcFace geometry itself) chosen because that
            crop already spans brows to chin while spending the most pixels on the face; give
            a margin when a recipe crops randomly for augmentation.
        min_face_size: smallest face MTCNN looks for, in pixels at detection resolution (the
            ``mtcnn`` package default, 20).
        min_overlap: IoU with the previous face from which a candidate counts as the same face.
            Not fixed by the papers; 0.3 tolerates the motion of a face between keyframes.
        detector: an ``mtcnn.MTCNN`` instance to share between pipelines; built when ``None``.
        landmarker: ``(rgb, box) -> [68, 2]`` frame pixels (e.g. dlib's
            :class:`~tfaffect.data.landmarks68.Landmarks68`), fitted on every face of a frame without
            dataset landmarks, which is then aligned on it (module docstring, step 5); ``None``: none.
    """

    def __init__(self, size: int = 96, *, batch_size: int = 8, detect_every: int = 1,
                 detect_max_side: int | None = 320, margin: float = 0.0, min_face_size: int = 20,
                 min_overlap: float = 0.3, detector=None, landmarker=None):
        if size < 1 or batch_size < 1 or detect_every < 1:
            raise ValueError(f"size, batch_size and detect_every must be >= 1, "
                             f"got {size}, {batch_size}, {detect_every}")
        if detect_max_side is not None and detect_max_side < 24:
            raise ValueError(f"detect_max_side must be >= 24 pixels (two MTCNN R-Net windows) or None, "
                             f"got {detect_max_side}")
        alignment_template(size, margin)  # validates margin
        self.size = size
        self.batch_size = batch_size
        self.detect_every = detect_every
        self.detect_max_side = detect_max_side
        self.margin = margin
        self.min_face_size = min_face_size
        self.min_overlap = min_overlap
        self.landmarker = landmarker
        if detector is None:
            from mtcnn import MTCNN  # imports TensorFlow: only when a pipeline is built

            detector = MTCNN()
        self.detector = compile_detector(detector)

    # ---- public -----------------------------------------------------------------------------

    def process(self, frames: Iterable[tuple[int, np.ndarray]],
                landmarks68: Mapping[int, np.ndarray] | None = None) -> Iterator[FaceCrop]:
        """Yield one :class:`FaceCrop` per ``(index, rgb_uint8_frame)``, in input order.

        ``landmarks68`` maps a frame index to its dataset landmarks ``(68, 2)`` in frame pixels;
        such frames skip the detector. An entry that is all ``NaN`` (the ``VideoRecord`` mark of
        a frame without landmarks) counts as absent: the detector runs on that frame. Output
        comes in bursts of about ``batch_size * detect_every`` frames; wrap the iterator in
        ``tqdm`` for a progress bar.
        """
        state = _TrackState()
        pending: list[_Item] = []
        keys = 0
        for pos, (index, frame) in enumerate(frames):
            frame = _check_frame(frame, index)
            given = _check_landmarks(landmarks68.get(index), index) if landmarks68 is not None else None
            item = _Item(pos, index, frame, given, key=pos % self.detect_every == 0)
            pending.append(item)
            keys += item.key
            if keys == self.batch_size:
                yield from self._flush(pending, state)
                pending, keys = [], 0
        if pending:
            pending[-1].key = True
            yield from self._flush(pending, state)

    def process_faces(self, frames: Iterable[tuple[int, np.ndarray]],
                      max_faces: int | None = None) -> Iterator[FrameFaces]:
        """Yield one :class:`FrameFaces` per ``(index, rgb_uint8_frame)``, in input order: every face found,
        up to ``max_faces`` (``None``: no limit), each with a ``face_id`` stable across frames (module
        docstring, "Several faces"). ``max_faces=1`` gives :meth:`process`'s main face as ``face_id`` 0.
        Output comes in bursts as :meth:`process`'s does.
        """
        if max_faces is not None and (isinstance(max_faces, bool) or not isinstance(max_faces, int)
                                      or max_faces < 1):
            raise ValueError(f"max_faces must be an integer >= 1 or None (no limit), got {max_faces!r}")
        if max_faces == 1:
            for crop in self.process(frames):
                yield FrameFaces(crop.frame, [] if crop.image is None else [crop])
            return
        state = _FacesState()
        pending: list[_Item] = []
        keys = 0
        for pos, (index, frame) in enumerate(frames):
            item = _Item(pos, index, _check_frame(frame, index), None, key=pos % self.detect_every == 0)
            pending.append(item)
            keys += item.key
            if keys == self.batch_size:
                yield from self._flush_faces(pending, state, max_faces)
                pending, keys = [], 0
        if pending:
            pending[-1].key = True
            yield from self._flush_faces(pending, state, max_faces)

    # ---- one buffer of frames ---------------------------------------------------------------

    def _flush(self, items: list[_Item], state: _TrackState) -> Iterator[FaceCrop]:
        for item in items:
            if item.landmarks68 is not None:
                points = points5_from_68(item.landmarks68)
                box = np.concatenate([item.landmarks68.min(0), item.landmarks68.max(0)]).astype(np.float64)
                item.face, item.resolved = _Face(box, points, 1.0), True

        keyframes = [it for it in items if it.key and not it.resolved]
        for item, candidates in zip(keyframes, self._detect(keyframes), strict=True):
            item.candidates = candidates
        previous = state.box
        for item in items:  # main face in time order
            if item.candidates is not None:
                item.face = _select_main_face(item.candidates, previous, self.min_overlap)
                item.resolved = True
            if item.resolved and item.face is not None:
                previous = item.face.box

        self._track(items, state)

        for item in items:
            if item.face is not None:
                state.box = item.face.box
        state.anchor = (items[-1].pos, items[-1].face)
        for item in items:
            yield self._crop(item)

    def _track(self, items: list[_Item], state: _TrackState) -> None:
        """Resolve the frames between detections: propose a box, check it with O-Net, re-detect if lost."""
        anchors = [(it.pos, it.face) for it in items if it.resolved]
        if state.anchor is not None:
            anchors.insert(0, state.anchor)
        gaps = [it for it in items if not it.resolved]
        if not gaps:
            return
        positions = np.array([pos for pos, _ in anchors])
        proposals = []
        for item in gaps:
            # the stream's first and last frames are keyframes, so every gap lies between two anchors
            right = int(np.searchsorted(positions, item.pos))
            proposal = _propose(item.pos, anchors[right - 1], anchors[right])
            if proposal is None:
                item.resolved = True  # no face at either neighbouring detection: not looked for
            else:
                proposals.append((item, proposal))
        checked = self._refine([it for it, _ in proposals], [p for _, p in proposals])
        lost = []
        for (item, proposal), face in zip(proposals, checked, strict=True):
            if face is not None:
                item.face, item.resolved = face, True
            else:
                lost.append((item, proposal))
        if lost:
            log.debug("tracked face lost on %d frames; running the full detector on them", len(lost))
            redetected = self._detect([it for it, _ in lost])
            for (item, proposal), candidates in zip(lost, redetected, strict=True):
                item.face = _select_main_face(candidates, proposal, self.min_overlap)
                item.resolved = True

    def _crop(self, item: _Item) -> FaceCrop:
        if item.face is None:
            return FaceCrop(frame=item.index, image=None, box=None, score=0.0)
        return self._crop_face(item, item.face, 0)

    def _crop_face(self, item: _Item, face: _Face, face_id: int) -> FaceCrop:
        points68, source, points5 = item.landmarks68, None, face.points
        if points68 is not None:
            source = FROM_DATASET
        elif self.landmarker is not None:
            points68 = fit_landmarks(self.landmarker, item.frame, face.box)
            if points68 is None:
                source = LANDMARKER_FAILED
            else:
                source, points5 = FROM_LANDMARKER, points5_from_68(points68)
        crop, matrix = align_face(item.frame, points5, self.size, self.margin)
        landmarks = None if points68 is None else transform_points(points68, matrix).astype(np.float32)
        return FaceCrop(frame=item.index, image=crop, box=tuple(float(v) for v in face.box),
                        score=float(face.score), landmarks=landmarks, landmarks_source=source,
                        tracked=face.tracked, face_id=face_id)

    # ---- several faces ----------------------------------------------------------------------

    def _flush_faces(self, items: list[_Item], state: "_FacesState", max_faces: int | None) -> Iterator[FrameFaces]:
        keyframes = [it for it in items if it.key]
        for item, candidates in zip(keyframes, self._detect(keyframes), strict=True):
            item.tracks = state.associate(item.pos, candidates, max_faces, self.min_overlap)
        self._track_faces(items, state)
        for item in items:
            for face_id, face in item.tracks.items():
                state.seen(face_id, face.box, item.pos)
        state.anchor = (items[-1].pos, items[-1].tracks)  # the buffer's last frame is a keyframe
        for item in items:
            yield FrameFaces(item.index, [self._crop_face(item, item.tracks[face_id], face_id)
                                          for face_id in sorted(item.tracks)])

    def _track_faces(self, items: list[_Item], state: "_FacesState") -> None:
        """Every face of the neighbouring keyframes, tracked into the frames between them (module docstring)."""
        anchors = [(it.pos, it.tracks) for it in items if it.key]
        if state.anchor is not None:
            anchors.insert(0, state.anchor)
        positions = np.array([pos for pos, _ in anchors])
        proposals = []  # (item, face_id, proposed box)
        for item in items:
            if item.key:
                continue
            item.tracks = {}
            right = int(np.searchsorted(positions, item.pos))
            (left_pos, left), (right_pos, right_faces) = anchors[right - 1], anchors[right]
            for face_id in sorted(set(left) | set(right_faces)):
                box = _propose(item.pos, (left_pos, left.get(face_id)), (right_pos, right_faces.get(face_id)))
                proposals.append((item, face_id, box))
        checked = self._refine([it for it, _, _ in proposals], [box for _, _, box in proposals])
        lost: dict[int, tuple[_Item, list]] = {}
        for (item, face_id, box), face in zip(proposals, checked, strict=True):
            if face is not None:
                item.tracks[face_id] = face
            else:
                lost.setdefault(id(item), (item, []))[1].append((face_id, box))
        if lost:
            log.debug("tracked faces lost on %d frames; running the full detector on them", len(lost))
            entries = list(lost.values())
            for (item, wanted), candidates in zip(entries, self._detect([it for it, _ in entries]), strict=True):
                taken: set[int] = set()
                for face_id, box in wanted:
                    if not candidates:
                        break
                    overlap = box_iou(np.stack([c.box for c in candidates]), box[None])
                    overlap[list(taken)] = -1
                    best = int(np.argmax(overlap))
                    if overlap[best] >= self.min_overlap:
                        item.tracks[face_id] = candidates[best]
                        taken.add(best)
        for item in items:
            item.tracks = _drop_duplicates(item.tracks)

    # ---- MTCNN ------------------------------------------------------------------------------

    def _scale(self, frame: np.ndarray) -> float:
        longer = max(frame.shape[:2])
        if self.detect_max_side is None or longer <= self.detect_max_side:
            return 1.0
        return self.detect_max_side / longer

    def _small(self, item: _Item) -> np.ndarray:
        if item.small is None:
            scale = self._scale(item.frame)
            if scale == 1.0:
                item.small = item.frame
            else:
                h, w = item.frame.shape[:2]
                shape = (max(1, round(w * scale)), max(1, round(h * scale)))
                item.small = cv2.resize(item.frame, shape, interpolation=cv2.INTER_AREA)
        return item.small

    def _groups(self, items: Sequence[_Item], chunk: int) -> Iterator[list[int]]:
        """Indices into ``items`` in chunks of at most ``chunk`` whose detection images share one shape.

        mtcnn 1.0 pads differently sized images of one call to a common size and undoes the
        padding per detected image in a way that misassigns offsets when an earlier image has
        no face (``fix_bboxes_offsets``), so each call gets images of one shape only.
        """
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, item in enumerate(items):
            by_shape.setdefault(self._small(item).shape, []).append(i)
        for members in by_shape.values():
            for start in range(0, len(members), chunk):
                yield members[start:start + chunk]

    def _grid_scale(self, item: _Item) -> np.ndarray:
        """``(sx, sy, sx, sy)``: detection-resolution pixels per frame pixel along x and y."""
        small, frame = self._small(item), item.frame
        sx, sy = small.shape[1] / frame.shape[1], small.shape[0] / frame.shape[0]
        return np.array([sx, sy, sx, sy])

    def _to_faces(self, rows: np.ndarray, items: Sequence[_Item], group: list[int],
                  tracked: bool) -> dict[int, list[_Face]]:
        """MTCNN rows ``[image, x0, y0, x1, y1, score, x1..x5, y1..y5]`` -> faces at full resolution.

        Coordinates map between the two pixel grids with centres aligned (as ``cv2.resize``
        samples): ``x_full = (x_small + 0.5) / s - 0.5``.
        """
        found: dict[int, list[_Face]] = {}
        for row in rows:
            i = group[int(row[0])]
            scale = self._grid_scale(items[i])
            h, w = items[i].frame.shape[:2]
            box = np.clip((row[1:5] + 0.5) / scale - 0.5, 0, [w - 1, h - 1, w - 1, h - 1])
            points = (np.stack([row[6:11], row[11:16]], axis=1) + 0.5) / scale[:2] - 0.5
            found.setdefault(i, []).append(_Face(box, points, float(row[5]), tracked))
        return found

    def _detect(self, items: Sequence[_Item]) -> list[list[_Face]]:
        """Full MTCNN (P-, R-, O-Net) on each item's frame; all candidate faces per frame."""
        result: list[list[_Face]] = [[] for _ in items]
        for group in self._groups(items, self.batch_size):
            images = [self._small(items[i]) for i in group]
            if getattr(self.detector, "stages", None):
                rows = _mtcnn_rows(self.detector, np.stack(images), self.min_face_size)
            else:  # a stand-in with only detect_faces (e.g. synth_layouts.NoDetector)
                rows = self.detector.detect_faces(images, output_type="numpy", box_format="xyxy",
                                                  min_face_size=self.min_face_size)
            for i, faces in self._to_faces(np.asarray(rows).reshape(-1, 16), items, group, False).items():
                result[i] = faces
        return result

    def _refine(self, items: Sequence[_Item], boxes: Sequence[np.ndarray]) -> list[_Face | None]:
        """O-Net alone on one proposed box per item: the face it confirms there, or ``None``.

        O-Net runs ``_ONET_PASSES`` times, each pass on the box the previous one returned: a
        proposal off by a few pixels gives a face whose box is right but whose points are not
        yet; the second pass, on a centred patch, brings the crops of tracked frames to the
        accuracy of a full detection (``benchmarks/faces.py``, crop difference column).
        """
        from mtcnn.stages import StageONet
        from mtcnn.utils.bboxes import resize_to_square

        onet = next((s for s in self.detector.stages if isinstance(s, StageONet)), None)
        if onet is None:
            raise ValueError("the MTCNN detector needs its O-Net stage (stages='face_and_landmarks_detection')")
        result: list[_Face | None] = [None] * len(items)
        for group in self._groups(items, self.batch_size * self.detect_every):
            images = _normalized(np.stack([self._small(items[i]) for i in group]), "float32")
            scale = np.stack([self._grid_scale(items[i]) for i in group])
            current = np.stack([boxes[i] for i in group])
            for _ in range(_ONET_PASSES):
                proposals = np.zeros((len(group), 6))
                proposals[:, 0] = np.arange(len(group))
                proposals[:, 1:5] = (current + 0.5) * scale - 0.5
                rows = onet(images_normalized=images, bboxes_batch=resize_to_square(proposals))
                found = self._to_faces(np.asarray(rows).reshape(-1, 16), items, group, True)
                for j, i in enumerate(group):
                    if i in found:
                        result[i] = found[i][0]
                        current[j] = result[i].box
        return result


def _normalized(images: np.ndarray, dtype: str):
    """``mtcnn``'s ``normalize_images`` (``(x - 127.5) / 128``) of a uint8 batch, as one TensorFlow tensor.

    The ``mtcnn`` package normalises in NumPy and hands the array to every stage, which converts (copies) it into
    a tensor again for each pyramid scale and each patch extraction: 29 % of the face stage's profiled time on 2
    cores (cProfile of ``benchmarks/predict.py``'s clip; the stage then ran 5.5 -> 4.2-4.8 ms a frame). Converted
    once here, with the same arithmetic in the same precision (``float64`` as NumPy gives for ``uint8 - 127.5``, or
    ``float32``), the values are bit-identical.
    """
    import tensorflow as tf

    return (tf.cast(tf.convert_to_tensor(images), dtype) - 127.5) / 128


def _mtcnn_rows(detector, images: np.ndarray, min_face_size: int) -> np.ndarray:
    """``detector.detect_faces(list(images), output_type="numpy", box_format="xyxy", min_face_size=...)`` for a
    batch of one shape, with the images normalised once into a tensor (:func:`_normalized`): the same stages,
    on the same values, in the same order (``tests/data/test_faces.py`` checks the rows are equal). A batch of one
    shape needs none of ``detect_faces``'s padding, so its offset correction is the identity and only its fit of
    the boxes to the image remains."""
    import tensorflow as tf
    from mtcnn.utils.bboxes import limit_bboxes

    shapes = np.array([image.shape for image in images])
    with tf.device(detector._device):
        try:
            rows = None
            normalized = _normalized(images, "float64")
            for stage in detector.stages:
                rows = stage(bboxes_batch=rows, images_normalized=normalized, images_oshapes=shapes,
                             min_face_size=min_face_size)
        except tf.errors.InvalidArgumentError:  # no faces found (as detect_faces treats it)
            return np.empty((0, 16))
    return limit_bboxes(rows, images_shapes=shapes, limit_landmarks=False)


def compile_detector(detector):
    """Run each of an ``mtcnn.MTCNN`` detector's networks (P-, R-, O-Net) as a ``tf.function``; return the detector.

    The ``mtcnn`` package calls its Keras networks eagerly, layer by layer, for every pyramid scale and batch:
    on 2 CPU cores that Python dispatch is about half of the face stage's time. Traced once per input shape
    (``reduce_retracing``: after a few shapes one trace serves any shape), the same networks give the same
    outputs (the same boxes and crops: ``tests/data/test_faces.py``; identical on the 300 frames of
    ``benchmarks/predict.py``'s clip) in about half the time (its "faces" row: 3.2 against 5.7 ms a frame). Done in
    place, once per detector (a detector shared by several pipelines is wrapped once); a stage without a ``_model``
    (an ``mtcnn`` other than 1.x), or a Keras backend other than TensorFlow, leaves the detector as it is.
    """
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        return detector
    for stage in getattr(detector, "stages", ()):
        network = getattr(stage, "_model", None)
        if network is not None and not isinstance(network, tf.types.experimental.PolymorphicFunction):
            stage._model = tf.function(network, reduce_retracing=True)
    return detector


class _FacesState:
    """What :meth:`FacePipeline.process_faces` remembers across buffers: each face's last box and frame."""

    def __init__(self):
        self.last: dict[int, tuple[np.ndarray, int]] = {}  # face_id -> (last box, position last seen)
        self.next_id = 0
        self.anchor: tuple[int, dict[int, _Face]] | None = None  # last keyframe of the previous buffer

    def seen(self, face_id: int, box: np.ndarray, pos: int) -> None:
        if face_id not in self.last or self.last[face_id][1] <= pos:
            self.last[face_id] = (box, pos)

    def associate(self, pos: int, candidates: Sequence[_Face], max_faces: int | None,
                  min_overlap: float) -> dict[int, _Face]:
        """The faces of the keyframe at ``pos`` by face_id: candidates matched to remembered faces, new ids for
        the others, at most ``max_faces`` (module docstring)."""
        self.last = {k: v for k, v in self.last.items() if pos - v[1] <= TRACK_MEMORY}
        ids = sorted(self.last)
        matched: dict[int, int] = {}  # candidate index -> face_id
        if candidates and ids:
            overlap = box_iou(np.stack([c.box for c in candidates])[:, None],
                              np.stack([self.last[k][0] for k in ids])[None])
            boxes = np.stack([self.last[k][0] for k in ids])
            # second chance for the faces IoU did not pair: centres less than MATCH_DISTANCE face widths apart
            distance = _centre_distance(np.stack([c.box for c in candidates])[:, None], boxes[None])
            for score, accept in ((overlap, lambda v: v >= min_overlap), (-distance, lambda v: -v <= MATCH_DISTANCE)):
                for flat in np.argsort(-score, axis=None, kind="stable"):
                    c, k = (int(v) for v in np.unravel_index(flat, score.shape))
                    if not accept(score[c, k]):
                        break
                    if c not in matched and ids[k] not in matched.values():
                        matched[c] = ids[k]
        size = [float(_area(c.box) * c.score) for c in candidates]
        order = sorted(range(len(candidates)), key=lambda c: (c not in matched, -size[c]))
        if max_faces is not None:
            order = order[:max_faces]
        faces = {}
        for c in order:
            if c in matched:
                face_id = matched[c]
            else:
                face_id, self.next_id = self.next_id, self.next_id + 1
            faces[face_id] = candidates[c]
            self.seen(face_id, candidates[c].box, pos)
        return dict(sorted(faces.items()))


def _centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between the centres of boxes ``a`` and ``b`` (broadcast) in units of their mean width; inf where
    their areas differ by more than a factor of 4 (not the same face at a similar distance from the camera)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    centre_a, centre_b = (a[..., :2] + a[..., 2:]) / 2, (b[..., :2] + b[..., 2:]) / 2
    width = ((a[..., 2] - a[..., 0]) + (b[..., 2] - b[..., 0])) / 2
    distance = np.linalg.norm(centre_a - centre_b, axis=-1) / np.maximum(width, 1e-6)
    ratio = _area(a) / np.maximum(_area(b), 1e-6)
    return np.where((ratio > 4) | (ratio < 0.25), np.inf, distance)


def _drop_duplicates(faces: dict[int, _Face]) -> dict[int, _Face]:
    """``faces`` without the younger ids of boxes overlapping an older one by more than :data:`DUPLICATE_IOU`."""
    kept: dict[int, _Face] = {}
    for face_id in sorted(faces):
        if all(box_iou(faces[face_id].box, other.box) <= DUPLICATE_IOU for other in kept.values()):
            kept[face_id] = faces[face_id]
    return kept


@dataclasses.dataclass
class _TrackState:
    box: np.ndarray | None = None                       # last main-face box seen
    anchor: tuple[int, _Face | None] | None = None      # last resolved frame of the previous buffer


def _propose(pos: int, left: tuple[int, _Face | None], right: tuple[int, _Face | None]) -> np.ndarray | None:
    """A box for the frame at ``pos`` from the ``(position, main face)`` detected before and after it.

    Linear interpolation when both neighbours have a face (if they are different faces, O-Net
    rejects the in-between boxes and the full detector takes over), else the one face there is;
    ``None`` when neither has one.
    """
    (left_pos, left_face), (right_pos, right_face) = left, right
    if left_face is not None and right_face is not None:
        t = (pos - left_pos) / (right_pos - left_pos)
        return (1 - t) * left_face.box + t * right_face.box
    if left_face is not None:
        return left_face.box
    if right_face is not None:
        return right_face.box
    return None


def _check_frame(frame, index: int) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) < 1:
        raise ValueError(f"frame {index}: expected an RGB uint8 array [H, W, 3], "
                         f"got {frame.dtype} {frame.shape}")
    return frame


def _check_landmarks(landmarks, index: int) -> np.ndarray | None:
    if landmarks is None:
        return None
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape != (68, 2):
        raise ValueError(f"frame {index}: landmarks must have shape (68, 2), got {landmarks.shape}")
    finite = np.isfinite(landmarks)
    if not finite.any():
        return None
    if not finite.all():
        raise ValueError(f"frame {index}: landmarks are partly NaN/inf; give all 68 points or none (all NaN)")
    return landmarks
