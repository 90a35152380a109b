"""Decode videos and still images into RGB ``uint8`` arrays with OpenCV.

Frames are numbered from 0 (the ``VideoRecord`` convention) and carry a timestamp in seconds: the
container's presentation time (``CAP_PROP_POS_MSEC`` after reading the frame) where the container
gives one, otherwise ``index / fps``.

Decoded frames are the truth. The frame count a container header announces is a hint: an ordinary
MP4 with an edit list announces frames that are never presented (OpenCV decodes 95 of the 98 its
header announces), and MKV/WebM files without an index only estimate it. A stream that ends before
(or runs past) its announced count is read to its end with a logged warning; whether frames are
*missing* is decided by whoever needs them (the annotations: :mod:`tfaffect.data.prepare` and
:func:`tfaffect.data.formats._common.video_length` raise a :class:`~tfaffect.errors.VideoError` or
:class:`~tfaffect.errors.AnnotationError` naming the file and the first frame that does not
exist). A video of which not a single frame decodes is a :class:`~tfaffect.errors.VideoError`.

Inputs of ``tfaffect predict`` (:func:`resolve_inputs`, :class:`Source`): video files, still images,
folders (searched recursively for both), glob patterns, camera indices (``0``) and stream URLs
(``rtsp://...``). A camera or stream is read as its frames arrive (:func:`iter_capture`); their
timestamps are the seconds since the first frame arrived.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from tfaffect.errors import ConfigError, VideoError

log = logging.getLogger(__name__)

_JPEG_SOI = b"\xff\xd8"
_JPEG_EOI = b"\xff\xd9"
_JPEG_SOS = b"\xff\xda"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND"


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What the container announces about a video (before decoding it)."""

    path: str
    num_frames: int
    """Frame count from the header; 0 when the container does not announce one."""
    fps: float
    """Frames per second from the header; 0.0 when the container does not announce a rate."""
    width: int
    height: int


def _open(path: str | os.PathLike) -> tuple[str, cv2.VideoCapture]:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise VideoError("no such video file", path)
    try:
        capture = cv2.VideoCapture(path)
    except cv2.error as exc:
        raise VideoError(f"OpenCV cannot open this file as a video ({str(exc).strip()[:200]})", path) from None
    if not capture.isOpened():
        capture.release()
        raise VideoError("OpenCV cannot open this file as a video (unknown format, or corrupt header)", path)
    return path, capture


def _info(path: str, capture: cv2.VideoCapture) -> VideoInfo:
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    fps = capture.get(cv2.CAP_PROP_FPS)
    return VideoInfo(
        path=path,
        num_frames=int(count) if math.isfinite(count) and count > 0 else 0,
        fps=float(fps) if math.isfinite(fps) and fps > 0 else 0.0,
        width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    )


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read the header of ``path``; :class:`VideoError` naming the file if it cannot be opened."""
    path, capture = _open(path)
    try:
        return _info(path, capture)
    finally:
        capture.release()


def frame_timestamp(position_msec: float, index: int, fps: float) -> float:
    """Timestamp in seconds of frame ``index``.

    ``position_msec`` is OpenCV's ``CAP_PROP_POS_MSEC`` read right after decoding the frame (its
    presentation time). OpenCV reports 0 when the container has no timestamps, so a non-positive
    value for a frame after the first falls back to ``index / fps``; ``NaN`` when the frame rate is
    unknown too.
    """
    if math.isfinite(position_msec) and (position_msec > 0 or index == 0):
        return position_msec / 1000.0
    if fps > 0:
        return index / fps
    return math.nan


def iter_frames(path: str | os.PathLike, *, start: int = 0,
                stop: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, timestamp_s, rgb)`` for frames ``start <= index < stop`` of a video.

    ``rgb`` is a ``uint8`` array ``[H, W, 3]`` in RGB order. Frames before ``start`` are decoded
    and discarded rather than reached by seeking, because OpenCV's seek lands on the nearest
    keyframe in some codecs and would silently shift every index. The stream is read to its end
    (``stop`` permitting): a header that announces more or fewer frames than decode gives a
    warning, not an error (module docstring); the caller compares what it got with what it needs.
    Raises :class:`VideoError` naming the file when it cannot be opened or not one frame decodes.
    """
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
    return _decode(path, start, stop, pixels=True)


def count_frames(path: str | os.PathLike) -> int:
    """The number of frames of a video that decode (>= 1; :class:`VideoError` as :func:`iter_frames`).

    Decodes every frame (a header count is not the truth, module docstring) without converting pixels.
    """
    return sum(1 for _ in _decode(path, 0, None, pixels=False))


def _decode(path, start: int, stop: int | None, *, pixels: bool) -> Iterator[tuple[int, float, np.ndarray | None]]:
    path, capture = _open(path)
    try:
        info = _info(path, capture)
        if info.fps == 0.0:
            log.warning("%s: no frame rate in the header; timestamps come from the container or are NaN", path)
        index = 0
        while stop is None or index < stop:
            try:
                if index < start or not pixels:
                    ok, frame = capture.grab(), None
                else:
                    ok, frame = capture.read()
                    ok = ok and frame is not None
            except cv2.error as exc:  # some demuxers raise instead of ending the stream
                log.warning("%s: OpenCV stopped decoding at frame %d (%s)", path, index, str(exc).strip()[:200])
                ok = False
            if not ok:
                break
            if not pixels:
                yield index, math.nan, None
            elif index >= start:
                timestamp = frame_timestamp(capture.get(cv2.CAP_PROP_POS_MSEC), index, info.fps)
                yield index, timestamp, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
        else:
            return  # stopped at ``stop``: the rest of the stream was not asked for
        if index == 0:
            raise VideoError("not a single frame could be decoded (empty or corrupt video)", path, frame=0)
        if info.num_frames and index != info.num_frames:
            log.warning("%s: %d frames decode, the header announces %d; the decoded frames are used "
                        "(truncated file, edit list or an estimated count)", path, index, info.num_frames)
    finally:
        capture.release()


def _check_complete(data: bytes, path: str) -> None:
    """Raise :class:`VideoError` when a JPEG or PNG file is cut short.

    OpenCV decodes a truncated JPEG with only a warning on stderr (the missing rows come out
    grey), so the byte stream is checked: a JPEG must have its end-of-image marker (FF D9) after
    its last start-of-scan marker (FF DA; byte stuffing keeps both out of the entropy-coded data,
    and an embedded EXIF thumbnail's markers come before the main image's scan), and a PNG must
    contain its IEND chunk.
    """
    if data.startswith(_JPEG_SOI):
        if data.rfind(_JPEG_EOI) < data.rfind(_JPEG_SOS):
            raise VideoError("truncated JPEG: no end-of-image marker after the last scan", path)
    elif data.startswith(_PNG_SIGNATURE):
        if data.rfind(_PNG_IEND) < 0:
            raise VideoError("truncated PNG: no IEND chunk", path)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode a JPEG/PNG (any format OpenCV reads) into RGB ``uint8`` ``[H, W, 3]``.

    The EXIF orientation tag is ignored, so pixel coordinates (landmarks, boxes) refer to the
    stored pixel grid, as with ``tf.io.decode_jpeg``. Raises :class:`VideoError` naming the file
    when it is missing, truncated or cannot be decoded.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise VideoError(f"cannot read image file ({e.strerror or e})", path) from e
    if not data:
        raise VideoError("empty image file (0 bytes)", path)
    _check_complete(data, path)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:  # e.g. a header announcing an image too large to allocate
        raise VideoError(f"OpenCV cannot decode this image ({str(exc).strip()[:200]})", path) from None
    if image is None or image.size == 0:
        raise VideoError("OpenCV cannot decode this image (corrupt or unsupported format)", path)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# ------------------------------------------------------------------------------------------------
# Inputs of `tfaffect predict`: files, folders, globs, cameras, streams.

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
                            ".3gp", ".mts", ".m2ts", ".ts", ".ogv", ".mjpeg"})
"""File name endings a folder or glob counts as videos (lower case). A file named on the command line is
read whatever its name (as a still image when its ending is in :data:`IMAGE_SUFFIXES`, else as a video)."""
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm"})
"""File name endings read as still images (one frame each)."""
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


@dataclasses.dataclass(frozen=True)
class Source:
    """One input of ``tfaffect predict``.

    ``kind``: ``"video"`` (a file), ``"image"`` (a still image: one frame), ``"camera"`` (an OpenCV
    device index) or ``"stream"`` (a URL, or a capture object a program hands over). ``location``: the
    path, index, URL or capture object. ``name``: how outputs and the summary name it (the path relative to
    the folder it was found in, ``camera0``, the URL).
    """

    kind: str
    location: Any
    name: str

    @property
    def live(self) -> bool:
        """Frames arrive as they are made (camera, stream): no frame count, read until it ends or Ctrl-C."""
        return self.kind in ("camera", "stream")

    def __str__(self) -> str:
        return self.name


def _is_capture(obj) -> bool:
    return hasattr(obj, "read") and callable(obj.read) and not isinstance(obj, (str, bytes, os.PathLike))


def _file_source(path: Path, name: str | None = None) -> Source:
    kind = "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
    return Source(kind, str(path), name or str(path))


def _folder_sources(folder: Path) -> list[Source]:
    found = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES)
    return [_file_source(p, p.relative_to(folder).as_posix()) for p in found]


def resolve_inputs(items: Any) -> list[Source]:
    """The :class:`Source` list that ``items`` names, in order, without duplicates.

    ``items``: one item or a list of them, each a file (video or image), a folder (every video and image
    below it, recursively, sorted; hidden files skipped), a glob pattern (``clips/*.mp4``, ``**`` recursive),
    a camera index (an ``int``, or a string of digits that is not a file), a stream URL (``rtsp://``,
    ``http(s)://``, ...), a :class:`Source`, or an object with OpenCV's capture interface (``read()``;
    ``get()`` and ``release()`` optional). Raises :class:`~tfaffect.errors.VideoError` for a name that is
    none of these, and :class:`~tfaffect.errors.ConfigError` for a folder or pattern without a video or image.
    """
    if isinstance(items, (str, os.PathLike, int, Source)) or _is_capture(items):
        items = [items]
    sources: list[Source] = []
    for item in items:
        if isinstance(item, Source):
            sources.append(item)
        elif _is_capture(item):
            sources.append(Source("stream", item, getattr(item, "name", None) or "stream"))
        elif isinstance(item, bool):
            raise ConfigError(f"not an input: {item!r}")
        elif isinstance(item, int):
            sources.append(Source("camera", item, f"camera{item}"))
        else:
            sources.extend(_resolve_name(os.fspath(item)))
    unique: dict[Any, Source] = {}
    for source in sources:
        key = (source.kind, id(source.location) if source.kind == "stream" and not isinstance(source.location, str)
               else source.location)
        unique.setdefault(key, source)
    return list(unique.values())


def _resolve_name(text: str) -> list[Source]:
    path = Path(text)
    if path.is_dir():
        found = _folder_sources(path)
        if not found:
            raise ConfigError(f"{text}: no video or image in this folder or below it (videos: "
                              f"{', '.join(sorted(VIDEO_SUFFIXES))}; images: {', '.join(sorted(IMAGE_SUFFIXES))})")
        return found
    if path.is_file():
        return [_file_source(path)]
    if text.lower().startswith(STREAM_SCHEMES):
        return [Source("stream", text, text)]
    if text.isdigit():
        return [Source("camera", int(text), f"camera{text}")]
    if glob.has_magic(text):
        matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
        files = [m for m in matches if m.is_file() and m.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES]
        if not files:
            raise ConfigError(f"{text}: no video or image matches this pattern")
        return [_file_source(m) for m in files]
    raise VideoError("no such video, image, folder, camera index or stream URL", text)


def open_capture(location) -> "cv2.VideoCapture":
    """An opened ``cv2.VideoCapture`` of a camera index or stream URL; :class:`VideoError` naming it otherwise."""
    try:
        capture = cv2.VideoCapture(location)
    except cv2.error as exc:
        raise VideoError(f"OpenCV cannot open it ({str(exc).strip()[:200]})", str(location)) from None
    if not capture.isOpened():
        capture.release()
        what = "camera" if isinstance(location, int) else "stream"
        raise VideoError(f"OpenCV cannot open this {what} (no such device, no permission, or unreachable)",
                         f"camera {location}" if isinstance(location, int) else str(location))
    return capture


def iter_capture(capture, *, name: str = "stream", clock=time.monotonic) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, seconds since the first frame arrived, rgb)`` for each frame ``capture.read()`` returns,
    as it arrives, until it returns no frame. ``capture``: anything with OpenCV's ``read() -> (ok, bgr)``
    (a grey ``[H, W]`` frame is made RGB). The caller opens and releases it."""
    start = None
    index = 0
    while True:
        try:
            ok, frame = capture.read()
        except cv2.error as exc:
            log.warning("%s: reading stopped at frame %d (%s)", name, index, str(exc).strip()[:200])
            return
        if not ok or frame is None:
            return
        now = clock()
        start = now if start is None else start
        frame = np.asarray(frame)
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        elif frame.shape[-1] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
        else:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        yield index, now - start, frame
        index += 1


def source_info(source: Source) -> VideoInfo:
    """What is known before reading ``source``: a video's header, an image's size (one frame); for a camera or
    stream nothing is opened here (frame count 0, rate 0: told by :func:`source_frames`' capture)."""
    if source.kind == "video":
        return probe_video(source.location)
    if source.kind == "image":
        image = read_image(source.location)
        return VideoInfo(path=source.location, num_frames=1, fps=0.0, width=image.shape[1], height=image.shape[0])
    return VideoInfo(path=source.name, num_frames=0, fps=0.0, width=0, height=0)


def source_frames(source: Source, *, on_open=None) -> Iterator[tuple[int, float, np.ndarray]]:
    """``(index, time_s, rgb)`` of every frame of ``source``: a video's decoded frames (:func:`iter_frames`),
    an image as frame 0 at time 0, a camera's or stream's frames as they arrive (:func:`iter_capture`; a
    capture this function opens it also releases). ``on_open(capture)`` is called with the capture of a
    camera or stream before its first frame is read (its frame rate and size are known then)."""
    if source.kind == "video":
        yield from iter_frames(source.location)
        return
    if source.kind == "image":
        yield 0, 0.0, read_image(source.location)
        return
    owned = not _is_capture(source.location)
    capture = open_capture(source.location) if owned else source.location
    try:
        if on_open is not None:
            on_open(capture)
        yield from iter_capture(capture, name=source.name)
    finally:
        if owned:
            capture.release()


def capture_fps(capture) -> float:
    """The frame rate a capture announces (0.0 when it announces none or has no ``get``)."""
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS))
    except (AttributeError, TypeError, ValueError, cv2.error):
        return 0.0
    return fps if math.isfinite(fps) and fps > 0 else 0.0
