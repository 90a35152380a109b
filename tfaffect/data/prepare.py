"""``tfaffect prepare``: a dataset's raw layout -> face crops -> sharded TFRecords (resumable).

Wiring: importer (:func:`tfaffect.data.formats.get_format`) -> per-video records -> one face image
per frame -> :func:`tfaffect.data.tfrecord.write_dataset`. Where the face images come from depends on
what the dataset ships:

* already cropped and aligned faces (Aff-Wild2 ``cropped_aligned``, SynthAffect): each image is read
  (:func:`tfaffect.data.video.read_image`), resized to ``--size`` and JPEG-encoded; the record's
  landmarks (pixels of that image) are rescaled with it;
* whole frames, as image folders (AFEW-VA) or videos (Aff-Wild, AFEW, SEWA, RECOLA): decoded, then
  the face is detected (MTCNN, or the dataset's 68 landmarks where it gives them), aligned and
  cropped by :class:`tfaffect.data.faces.FacePipeline`.

A frame without a face is kept with an empty image (``has_face`` 0). JPEG encoding (OpenCV,
libjpeg) is deterministic, so an interrupted run that is started again produces byte-identical
shards and the same manifest as an uninterrupted one; finished shards are not redone.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

import cv2
import numpy as np

from tfaffect._lazy import lazy_module
from tfaffect.data.formats import FORMATS, VideoRecord, get_format
from tfaffect.errors import ConfigError, MissingResourceError

log = logging.getLogger(__name__)

_tfrecord = lazy_module("tfaffect.data.tfrecord")  # imports TensorFlow: on first use, so `--help` stays fast
if TYPE_CHECKING:
    from tfaffect.data.tfrecord import EncodedFrame

DEFAULT_SIZE = 96
"""Stored face side: AffWildNet's 96x96 input (original code dkollias/Aff-Wild-models, FORMATS.md)."""
DEFAULT_FRAMES_PER_SHARD = 1024
"""Not fixed by the papers; chosen so a shard is a few MB at 96-112 px (whole shards are read at
once by the pipeline) while a dataset of a million frames has ~1000 shards to shuffle."""
DEFAULT_JPEG_QUALITY = 95
"""Not fixed by the papers; chosen as libjpeg's near-lossless setting: the crops are re-encoded
once, and Aff-Wild2's own ``cropped_aligned`` JPEGs are already lossy."""

CROPPED_DATASETS = frozenset({"affwild2"})
"""Datasets whose images are already aligned face crops (Aff-Wild2 ``cropped_aligned``, FORMATS.md)."""


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """RGB uint8 -> JPEG bytes (OpenCV/libjpeg, baseline, deterministic for equal input)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not JPEG-encode an image of shape {rgb.shape}")
    return data.tobytes()


def _timestamp(record: VideoRecord, i: int) -> float | None:
    return i / record.fps if record.fps else None


def _landmarks_of(record: VideoRecord, i: int) -> np.ndarray | None:
    if record.landmarks is None or not np.isfinite(record.landmarks[i]).all():
        return None
    return record.landmarks[i]


def cropped_frames(record: VideoRecord, size: int, quality: int) -> Iterator[EncodedFrame]:
    """Frame source for datasets of face crops: read, resize to ``size``, encode (see ``FrameSource``)."""
    from tfaffect.data.video import read_image

    for i, path in enumerate(record.frame_paths):
        if path is None:
            yield b"", None, _timestamp(record, i)
            continue
        image = read_image(path)
        height, width = image.shape[:2]
        if (width, height) != (size, size):
            shrink = width >= size and height >= size
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        points = _landmarks_of(record, i)
        if points is not None:
            points = _tfrecord.normalise_landmarks(points, np.array([width, height], np.float32), size)
        yield encode_jpeg(image, quality), points, _timestamp(record, i)


def detected_frames(record: VideoRecord, quality: int, faces) -> Iterator[EncodedFrame]:
    """Frame source for whole frames (image folder or video): detect/align/crop with ``faces``
    (a :class:`tfaffect.data.faces.FacePipeline`), using the record's 68 landmarks where it has them."""
    from tfaffect.data.video import iter_frames, read_image

    landmarks68 = None
    if record.landmarks is not None:
        landmarks68 = {i: record.landmarks[i] for i in range(record.num_frames)
                       if np.isfinite(record.landmarks[i]).all()}
    timestamps: dict[int, float | None] = {}
    if record.video_path is not None:
        def frames():
            for index, timestamp, rgb in iter_frames(record.video_path):
                timestamps[index] = timestamp
                yield index, rgb
    else:
        def frames():
            for i, path in enumerate(record.frame_paths):
                if path is not None:
                    timestamps[i] = _timestamp(record, i)
                    yield i, read_image(path)

    crops = faces.process(frames(), landmarks68)
    for i in range(record.num_frames):
        if record.video_path is None and record.frame_paths[i] is None:
            yield b"", None, _timestamp(record, i)
            continue
        crop = next(crops, None)
        if crop is None:  # the video ended early: the writer reports the frame count
            return
        timestamp = timestamps.pop(crop.frame)
        if crop.image is None:
            yield b"", None, timestamp
        else:
            points = (None if crop.landmarks is None
                      else _tfrecord.normalise_landmarks(crop.landmarks, faces.size, faces.size))
            yield encode_jpeg(crop.image, quality), points, timestamp
    if next(crops, None) is not None:  # more frames than annotations: one more, and the writer names the video
        yield b"", None, None


def prepare_records(records: Sequence[VideoRecord], out_dir: str | os.PathLike, *, dataset: str,
                    size: int = DEFAULT_SIZE, frames_per_shard: int = DEFAULT_FRAMES_PER_SHARD,
                    jpeg_quality: int = DEFAULT_JPEG_QUALITY, cropped: bool | None = None, faces=None,
                    progress: bool | None = None) -> dict:
    """Write ``records`` as shards + manifest into ``out_dir``; return the manifest.

    ``cropped``: the records' images are face crops (resize only); default: ``dataset`` is in
    :data:`CROPPED_DATASETS`. Otherwise faces are detected and aligned by ``faces`` (an object with
    :class:`~tfaffect.data.faces.FacePipeline`'s ``size`` and ``process``; default: a
    ``FacePipeline(size)``, built when the first video needs it). Resumable (see
    :func:`tfaffect.data.tfrecord.write_dataset`).
    """
    if size < 1 or frames_per_shard < 1 or not 1 <= jpeg_quality <= 100:
        raise ConfigError(f"need size >= 1, frames_per_shard >= 1 and 1 <= jpeg_quality <= 100, "
                          f"got {size}, {frames_per_shard}, {jpeg_quality}")
    cropped = dataset in CROPPED_DATASETS if cropped is None else cropped
    if faces is not None and faces.size != size:
        raise ConfigError(f"the face pipeline crops {faces.size} px faces but size is {size}")
    for record in records:
        if record.frame_paths is None and record.video_path is None:
            raise MissingResourceError(
                f"{dataset} video {record.video_id!r} has neither frame images nor a video file: pass the "
                "importer's option that says where the videos are (e.g. --importer-option videos=DIR)")
        if cropped and record.frame_paths is None:
            raise ConfigError(f"{dataset} video {record.video_id!r} is a video file, not a folder of face crops")

    if cropped:
        def source(record):
            return cropped_frames(record, size, jpeg_quality)
    else:
        def source(record):
            nonlocal faces
            if faces is None:  # builds MTCNN: only when a dataset needs it
                from tfaffect.data.faces import FacePipeline

                faces = FacePipeline(size)
            return detected_frames(record, jpeg_quality, faces)

    options = {"jpeg_quality": int(jpeg_quality), "faces": "resized crops" if cropped else "FacePipeline"}
    return _tfrecord.write_dataset(records, out_dir, source, dataset=dataset, image_size=size,
                         frames_per_shard=frames_per_shard, options=options, progress=progress)


def prepare(dataset: str, root: str | os.PathLike, out_dir: str | os.PathLike, *,
            splits: Sequence[str] | None = None, importer_options: Mapping | None = None, **kwargs) -> dict:
    """Import ``dataset`` from ``root`` (its raw layout) and write it to ``out_dir``; return the manifest.

    ``splits``: the splits to include (``None``: all the importer yields). ``importer_options`` go
    to the importer's ``iter_records``; ``kwargs`` to :func:`prepare_records`.
    """
    if dataset not in FORMATS:
        raise ConfigError(f"unknown dataset {dataset!r}; known: {', '.join(sorted(FORMATS))}")
    importer = get_format(dataset)
    options = dict(importer_options or {})
    check_importer_options(dataset, importer, options)
    records = []
    for split in (splits or [None]):
        records.extend(importer.iter_records(root, split=split, **options))
    if not records:
        raise MissingResourceError(f"no {dataset} videos found under {os.fspath(root)!r}"
                                   + (f" for split(s) {', '.join(splits)}" if splits else ""))
    return prepare_records(records, out_dir, dataset=dataset, **kwargs)


def check_importer_options(dataset: str, importer, options: Mapping) -> None:
    """ConfigError naming the options ``importer.iter_records`` does not take, and the ones it does."""
    parameters = inspect.signature(importer.iter_records).parameters
    known = [name for name, p in parameters.items()
             if name not in ("root", "split") and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"--importer-option {', '.join(unknown)}: the {dataset} importer has no such option; "
                          f"its options are {', '.join(known) or 'none'}")


def parse_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` -> ``(KEY, VALUE)``, VALUE parsed as JSON when it is JSON, else kept as text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=sorted(FORMATS), help="raw layout to read")
    parser.add_argument("--root", required=True, help="the dataset's folder, as distributed")
    parser.add_argument("--out", required=True, help="folder for the shards and manifest.json (created)")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE,
                        help="side of the stored face crops in pixels (AffWildNet's input is 96)")
    parser.add_argument("--split", action="append", default=None, metavar="SPLIT",
                        help="split to include (train, validation, test); repeat for several; none: all splits")
    parser.add_argument("--frames-per-shard", type=int, default=DEFAULT_FRAMES_PER_SHARD,
                        help="frames per shard (whole videos; a longer video gets a shard of its own)")
    parser.add_argument("--jpeg-quality", type=int, default=DEFAULT_JPEG_QUALITY, help="JPEG quality, 1-100")
    parser.add_argument("--importer-option", action="append", type=parse_option, default=[], metavar="KEY=VALUE",
                        help="keyword argument for the dataset's importer, VALUE as JSON if it parses "
                             "(e.g. videos=DIR, fold=2); repeat for several")


def cli_main(args: argparse.Namespace) -> int:
    """Errors go to the command line's error boundary (:mod:`tfaffect.boundary`): one line, exit 1 or 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    manifest = prepare(args.dataset, args.root, args.out, splits=args.split,
                       importer_options=dict(args.importer_option), size=args.size,
                       frames_per_shard=args.frames_per_shard, jpeg_quality=args.jpeg_quality)
    for split, info in manifest["splits"].items():
        hist = info["histogram"]
        print(f"{split}: {info['frames']} frames, {info['videos']} videos, {info['shards']} shards; "
              f"{hist['no_face']} without a face, {hist['va_invalid']} without valence/arousal, "
              f"{hist['expression_invalid']} without expression")
    print(f"written to {os.fspath(args.out)} (manifest.json)")
    return 0


__all__ = ["DEFAULT_SIZE", "DEFAULT_FRAMES_PER_SHARD", "DEFAULT_JPEG_QUALITY", "CROPPED_DATASETS", "encode_jpeg",
           "cropped_frames", "detected_frames", "prepare_records", "prepare", "check_importer_options", "parse_option",
           "add_cli_arguments", "cli_main"]
