"""Sharded TFRecords: ONE per-frame feature spec, an atomic and resumable sharded writer, a
manifest, and readers that name the shard when it is truncated or corrupt.

One ``tf.train.Example`` per frame (:data:`FEATURE_SPEC`, versioned by :data:`SPEC_VERSION`):

=================  =========  ==========================================================================
key                type       meaning
=================  =========  ==========================================================================
image              bytes      JPEG of the face crop, ``image_size`` x ``image_size`` RGB; empty: no face
video_id           bytes      the :class:`~tfaffect.data.formats.base.VideoRecord`'s ``video_id``
split              bytes      ``train`` / ``validation`` / ``test`` / ...
frame              int64      frame index in the video, 0-based
num_frames         int64      number of frames of the video
timestamp          float      seconds from the start of the video; -1 when unknown
valence, arousal   float      in [-1, 1]; 0 when ``va_valid`` is 0
va_valid           int64      1 when both valence and arousal are annotated
expression         int64      index into the manifest's ``expression_classes`` (``EXPRESSIONS_7``); -1 invalid
aus                float[K]   action units, K fixed per dataset (manifest ``num_aus``, may be 0); -1 invalid
landmarks          float[136] 68 (x, y) pairs divided by the crop size (:func:`normalise_landmarks`); 0 if invalid
landmarks_valid    int64      1 when the 68 landmarks are known
has_face           int64      1 when ``image`` holds a face
clip_label         int64      one label for the whole clip (AFEW); -1 if none
=================  =========  ==========================================================================

A prepared directory holds the shards (``<split>-00000-of-00012.tfrecord``) and ``manifest.json``.
Each video lies entirely in one shard with its frames in order (the pipeline's windows rely on it);
which video goes to which shard is computed up front from the record list (:func:`plan_shards`), so
two runs over the same data write byte-identical shards. A shard is written under a temporary name
(``*.tfrecord.tmp-<host>-<pid>``, :func:`tfaffect.io.temp_path`) and renamed when complete; after each shard ``manifest.partial.json``
records it with its SHA-256, which is what lets an interrupted run resume without rewriting
finished shards and without ever exposing half a shard. Readers go through ``manifest.json`` only,
which is written (atomically) last.

``manifest.json``: ``spec_version``, ``dataset``, ``image_size``, ``frames_per_shard``, ``options``
(JPEG quality, where the faces came from), ``num_aus``, ``au_names``, ``expression_classes``,
``fingerprint`` (of all of these and the shard plan), ``shards`` (in writing order: ``file``,
``split``, ``frames``, ``videos`` as ``[video_id, num_frames]`` in file order, ``bytes``, ``sha256``,
``histogram``) and ``splits`` (per split: ``frames``, ``videos``, ``shards``, ``histogram``). A
histogram counts ``expression`` per class, ``expression_invalid``, ``quadrant`` per
:data:`QUADRANTS`, ``va_invalid``, ``no_face`` and ``landmarks_invalid`` frames, and
``landmarks_source``: frames per source of their landmarks as the frame source names it (``tfaffect
prepare``: ``dataset``, ``landmarker``, and ``landmarker failed`` for faces stored without landmarks
because the landmark fit failed). Nothing in it depends on the time or the machine, so an
interrupted-and-resumed run gives the same file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfaffect import EXPRESSIONS_7
from tfaffect.data.formats.base import VideoRecord
from tfaffect.errors import ConfigError, DataError, MissingResourceError, ShardError, VideoError
from tfaffect.io import clean_orphans, identifier_problem, temp_path, write_json_atomic

log = logging.getLogger(__name__)

SPEC_VERSION = 1
"""Bumped whenever :data:`FEATURE_SPEC` changes meaning; readers refuse other versions."""

MANIFEST_NAME = "manifest.json"
PROGRESS_NAME = "manifest.partial.json"
NUM_LANDMARKS = 68
QUADRANTS = ("+v+a", "-v+a", "+v-a", "-v-a")
"""Valence/arousal quadrants in the order Kollias 2019 (section 4.2) lists their proportions."""

FEATURE_SPEC: dict[str, tf.io.FixedLenFeature | tf.io.FixedLenSequenceFeature] = {
    "image": tf.io.FixedLenFeature([], tf.string, default_value=b""),
    "video_id": tf.io.FixedLenFeature([], tf.string),
    "split": tf.io.FixedLenFeature([], tf.string),
    "frame": tf.io.FixedLenFeature([], tf.int64),
    "num_frames": tf.io.FixedLenFeature([], tf.int64),
    "timestamp": tf.io.FixedLenFeature([], tf.float32),
    "valence": tf.io.FixedLenFeature([], tf.float32),
    "arousal": tf.io.FixedLenFeature([], tf.float32),
    "va_valid": tf.io.FixedLenFeature([], tf.int64),
    "expression": tf.io.FixedLenFeature([], tf.int64),
    # Variable across datasets, fixed within one: parse_example pads nothing when all rows agree.
    "aus": tf.io.FixedLenSequenceFeature([], tf.float32, allow_missing=True),
    "landmarks": tf.io.FixedLenFeature([2 * NUM_LANDMARKS], tf.float32),
    "landmarks_valid": tf.io.FixedLenFeature([], tf.int64),
    "has_face": tf.io.FixedLenFeature([], tf.int64),
    "clip_label": tf.io.FixedLenFeature([], tf.int64),
}
"""The one feature spec of a per-frame example (see the module docstring for the meaning of each key)."""

LABEL_SPEC = {key: value for key, value in FEATURE_SPEC.items() if key != "image"}
""":data:`FEATURE_SPEC` without the image: parses the labels of a record without touching its JPEG."""


# ----------------------------------------------------------------------------- encode / parse


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _ints(*values: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _floats(values) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(values, np.float32).ravel().tolist()))


def encode_frame(record: VideoRecord, i: int, jpeg: bytes, *, landmarks: np.ndarray | None = None,
                 timestamp: float | None = None, num_aus: int = 0) -> bytes:
    """Serialize frame ``i`` (0-based) of ``record`` as a ``tf.train.Example`` (:data:`FEATURE_SPEC`).

    ``jpeg`` is the encoded face crop, ``b""`` when the frame has no face. ``landmarks`` are the 68
    (x, y) points already divided by the crop size, or ``None`` / non-finite when unknown.
    ``timestamp`` is in seconds (``None`` or NaN: unknown, stored as -1). ``num_aus`` is the
    dataset's AU count; a record without AUs stores -1 in all of them. Serialization is
    deterministic (sorted map keys), so equal inputs give equal bytes.
    """
    if not 0 <= i < record.num_frames:
        raise IndexError(f"{record.video_id}: frame {i} outside 0..{record.num_frames - 1}")
    va_valid = bool(record.va_valid[i])
    expression = int(record.expression[i]) if record.expression is not None else -1
    if record.aus is not None:
        if record.aus.shape[1] != num_aus:
            raise DataError(f"{record.aus.shape[1]} action units, the dataset has {num_aus}",
                            record.video_path or record.video_id, frame=i)
        aus = record.aus[i]
    else:
        aus = np.full(num_aus, -1.0, np.float32)
    points = None if landmarks is None else np.asarray(landmarks, np.float32).reshape(NUM_LANDMARKS, 2)
    points_valid = points is not None and bool(np.isfinite(points).all())
    if timestamp is None or not np.isfinite(timestamp):
        timestamp = -1.0
    feature = {
        "image": _bytes(jpeg),
        "video_id": _bytes(record.video_id.encode("utf-8")),
        "split": _bytes(record.split.encode("utf-8")),
        "frame": _ints(i),
        "num_frames": _ints(record.num_frames),
        "timestamp": _floats([timestamp]),
        "valence": _floats([record.valence[i] if va_valid else 0.0]),
        "arousal": _floats([record.arousal[i] if va_valid else 0.0]),
        "va_valid": _ints(va_valid),
        "expression": _ints(expression),
        "aus": _floats(aus),
        "landmarks": _floats(points if points_valid else np.zeros((NUM_LANDMARKS, 2))),
        "landmarks_valid": _ints(points_valid),
        "has_face": _ints(len(jpeg) > 0),
        "clip_label": _ints(-1 if record.clip_label is None else record.clip_label),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


def parse_examples(serialized: tf.Tensor, *, with_image: bool = True,
                   keys: Sequence[str] | None = None) -> dict[str, tf.Tensor]:
    """Parse one serialized example (scalar) or a batch (``[N]``) into a dict of tensors.

    ``with_image=False`` parses the labels only (:data:`LABEL_SPEC`); with it, ``"image"`` is the
    still-encoded JPEG (decode with :func:`decode_face` once you know you need the pixels).
    ``keys`` parses only those features of :data:`FEATURE_SPEC` (the others are skipped without
    being copied: the pipeline parses the few labels it cuts elements by, then the JPEGs of the
    records it keeps). ``"landmarks"`` comes out as ``[..., 68, 2]``.
    """
    serialized = tf.convert_to_tensor(serialized, tf.string)
    if keys is not None:
        unknown = set(keys) - set(FEATURE_SPEC)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; the spec has {', '.join(FEATURE_SPEC)}")
        spec = {key: FEATURE_SPEC[key] for key in keys}
    else:
        spec = FEATURE_SPEC if with_image else LABEL_SPEC
    if serialized.shape.rank == 0:
        parsed = tf.io.parse_single_example(serialized, spec)
    else:
        parsed = tf.io.parse_example(serialized, spec)
    if "landmarks" in parsed:
        parsed["landmarks"] = tf.reshape(parsed["landmarks"], tf.concat(
            [tf.shape(parsed["landmarks"])[:-1], [NUM_LANDMARKS, 2]], axis=0))
    return parsed


def decode_face(jpeg: tf.Tensor, size: int) -> tf.Tensor:
    """Decode one stored JPEG into uint8 ``[size, size, 3]``; an empty string (no face) gives zeros.

    ``INTEGER_ACCURATE`` gives the same pixels as OpenCV's ``imdecode``; TensorFlow's default DCT does not.
    """
    return tf.cond(
        tf.strings.length(jpeg) > 0,
        lambda: tf.ensure_shape(tf.io.decode_jpeg(jpeg, channels=3, dct_method="INTEGER_ACCURATE"), [size, size, 3]),
        lambda: tf.zeros([size, size, 3], tf.uint8))


def resize_uint8(images: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """uint8 images ``[..., H, W, 3]`` -> ``[..., height, width, 3]``: bilinear with antialiasing,
    rounded and clipped. The one resize of training (pipeline) and of exported models (export)."""
    resized = tf.image.resize(images, [height, width], method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def normalise_landmarks(points, source_size, size: int):
    """Pixel ``(x, y)`` points of an image of ``source_size`` (``(w, h)`` or one side) -> the
    :data:`FEATURE_SPEC` landmark units of that image resized to ``size`` x ``size``: pixel
    coordinates in the resized image divided by ``size``.

    Pixel coordinates follow OpenCV (integer values at pixel centres, as in
    :mod:`tfaffect.data.faces` and SynthAffect) and resizing maps pixel centres onto pixel centres
    (half-pixel convention of ``cv2.resize`` and ``tf.image.resize``): ``x' = (x + 0.5) * size / w
    - 0.5``. Without resizing (``source_size == size``) this is ``x / size``. Plain arithmetic, so
    numpy arrays and tensors both work.
    """
    return (points + 0.5) / source_size - 0.5 / size


def va_quadrant(valence, arousal) -> tf.Tensor:
    """Quadrant index in :data:`QUADRANTS` order: 0 (+v,+a), 1 (-v,+a), 2 (+v,-a), 3 (-v,-a).

    Order as listed in Kollias 2019, section 4.2. A value of exactly 0 counts as positive: not
    fixed by the paper; chosen so that every annotated frame falls into exactly one quadrant.
    Works on numpy arrays and tensors alike (returns an int64 tensor).
    """
    return (tf.cast(tf.convert_to_tensor(valence) < 0, tf.int64)
            + 2 * tf.cast(tf.convert_to_tensor(arousal) < 0, tf.int64))


# ----------------------------------------------------------------------------- files


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(data_dir: str | os.PathLike) -> dict:
    """Read and check ``<data_dir>/manifest.json``.

    :class:`MissingResourceError` when there is none (not prepared, or a preparation that has not
    finished), :class:`ShardError` naming it when it is unreadable, of another :data:`SPEC_VERSION`,
    or not shaped as :func:`write_dataset` writes it (every field readers use is checked, and shard
    files and video ids must be plain names, never paths).
    """
    path = os.path.join(os.fspath(data_dir), MANIFEST_NAME)
    if not os.path.isfile(path):
        raise MissingResourceError(
            f"{path} not found: {os.fspath(data_dir)!r} is not a prepared dataset (or its preparation did "
            "not finish). Run `tfaffect prepare --dataset NAME --root RAW_DIR --out DIR` and pass DIR "
            "(for SynthAffect: `tfaffect synth --out RAW_DIR`, then --dataset affwild2).")
    try:
        with open(path, "rb") as f:
            manifest = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ShardError(f"unreadable manifest ({str(exc)[:200]})", path) from None
    if not isinstance(manifest, dict) or manifest.get("spec_version") != SPEC_VERSION:
        version = manifest.get("spec_version") if isinstance(manifest, dict) else None
        raise ShardError(f"spec version {version!r}, this tfaffect reads {SPEC_VERSION}; "
                         "prepare the dataset again", path)
    _check_manifest(manifest, path)
    return manifest


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_manifest(manifest: Mapping, path: str) -> None:
    """ShardError naming ``path`` and the field when ``manifest`` is not what :func:`write_dataset` writes."""
    def bad(where: str, what: str):
        raise ShardError(f"{where}: {what} (edited or damaged manifest; prepare the dataset again)", path)

    def text_list(key: str) -> list:
        value = manifest.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            bad(key, "must be a list of names")
        return value

    if not isinstance(manifest.get("image_size"), int) or isinstance(manifest["image_size"], bool) \
            or manifest["image_size"] < 1:
        bad("image_size", f"must be a positive integer, got {str(manifest.get('image_size'))[:40]}")
    if not _is_count(manifest.get("num_aus")):
        bad("num_aus", "must be an integer >= 0")
    text_list("au_names")
    classes = text_list("expression_classes")
    if not classes:
        bad("expression_classes", "is empty")
    shards, splits = manifest.get("shards"), manifest.get("splits")
    if not isinstance(shards, list):
        bad("shards", "must be a list")
    if not isinstance(splits, dict):
        bad("splits", "must be an object")
    histogram_lists = {"expression": len(classes), "quadrant": len(QUADRANTS)}
    counts = ("expression_invalid", "va_invalid", "no_face", "landmarks_invalid")

    def histogram(where: str, value) -> None:
        if not isinstance(value, dict):
            bad(where, "must be an object")
        for key, length in histogram_lists.items():
            column = value.get(key)
            if not isinstance(column, list) or len(column) != length or not all(_is_count(c) for c in column):
                bad(f"{where}.{key}", f"must be {length} counts")
        for key in counts:
            if not _is_count(value.get(key)):
                bad(f"{where}.{key}", "must be an integer >= 0")

    files = set()
    for k, entry in enumerate(shards):
        where = f"shards[{k}]"
        if not isinstance(entry, dict):
            bad(where, "must be an object")
        file = entry.get("file")
        problem = identifier_problem(file)
        if problem is not None or not file.endswith(".tfrecord"):
            bad(f"{where}.file", f"must be a shard file name in the dataset folder ({problem or 'no .tfrecord'})")
        if file in files:
            bad(f"{where}.file", f"{file} listed twice")
        files.add(file)
        if not isinstance(entry.get("split"), str) or entry["split"] not in splits:
            bad(f"{where}.split", f"{str(entry.get('split'))[:40]!r} is not one of the manifest's splits")
        for key in ("frames", "bytes"):
            if not _is_count(entry.get(key)):
                bad(f"{where}.{key}", "must be an integer >= 0")
        if not isinstance(entry.get("sha256"), str):
            bad(f"{where}.sha256", "must be a hex digest")
        videos = entry.get("videos")
        if not isinstance(videos, list):
            bad(f"{where}.videos", "must be a list of [video id, frames]")
        for j, video in enumerate(videos):
            if not (isinstance(video, list) and len(video) == 2 and _is_count(video[1])):
                bad(f"{where}.videos[{j}]", "must be [video id, frames]")
            problem = identifier_problem(video[0])
            if problem is not None:
                bad(f"{where}.videos[{j}]", f"the video id is not a name: {problem}")
        if sum(n for _, n in videos) != entry["frames"]:
            bad(f"{where}.frames", f"{entry['frames']}, but its videos have {sum(n for _, n in videos)}")
        histogram(f"{where}.histogram", entry.get("histogram"))
    for split, info in splits.items():
        where = f"splits.{split}"
        if not isinstance(info, dict) or not all(_is_count(info.get(key)) for key in ("frames", "videos", "shards")):
            bad(where, "must hold frames, videos and shards counts")
        histogram(f"{where}.histogram", info.get("histogram"))


def split_shards(manifest: Mapping, split: str | None = None) -> list[dict]:
    """The manifest's shard entries of ``split`` (all for ``None``), in the order they were written."""
    if split is not None and split not in manifest["splits"]:
        raise ConfigError(f"no split {split!r} in this prepared dataset (it has {', '.join(manifest['splits'])})")
    return [s for s in manifest["shards"] if split is None or s["split"] == split]


def verify_shards(data_dir: str | os.PathLike, *, split: str | None = None, checksums: bool = True,
                  manifest: Mapping | None = None) -> None:
    """Check every shard of ``split`` against the manifest; :class:`ShardError` naming the first bad one.

    Always checks presence and size (a truncated shard is caught at once); with ``checksums``
    also the SHA-256 (any changed byte).
    """
    data_dir = os.fspath(data_dir)
    manifest = load_manifest(data_dir) if manifest is None else manifest
    for entry in split_shards(manifest, split):
        path = os.path.join(data_dir, entry["file"])
        if not os.path.isfile(path):
            raise ShardError("shard listed in the manifest is missing; prepare the dataset again", path)
        size = os.path.getsize(path)
        if size != entry["bytes"]:
            raise ShardError(f"{size} bytes, the manifest says {entry['bytes']}: truncated or overwritten; "
                             "prepare the dataset again", path)
        if checksums and sha256_file(path) != entry["sha256"]:
            raise ShardError("SHA-256 differs from the manifest: the shard is corrupt; prepare the dataset again",
                             path)


def clip_labels(data_dir: str | os.PathLike, split: str) -> dict[str, int]:
    """``{video_id: clip_label}`` of the videos of ``split`` in prepared shards (image or feature shards: both carry
    ``clip_label``; -1 = none), in manifest order, from one read of the labels (no images decoded)."""
    labels: dict[str, int] = {}
    for shard in split_shards(load_manifest(data_dir), split):
        for example in read_shard(os.path.join(os.fspath(data_dir), shard["file"]), with_image=False):
            labels.setdefault(example["video_id"].decode(), int(example["clip_label"]))
    return labels


def read_shard(path: str | os.PathLike, *, with_image: bool = True) -> Iterator[dict[str, np.ndarray]]:
    """Yield the parsed examples of one shard as dicts of numpy values, in file order.

    A truncated or corrupt record (``tf.errors.DataLossError``, whose message names no file), a
    record that is not an example of :data:`FEATURE_SPEC`, or a ``video_id`` that is not a plain name
    (names from data are identifiers, never paths) is re-raised as :class:`ShardError` naming the
    shard and how many records were read before it.
    """
    path = os.fspath(path)
    dataset = tf.data.TFRecordDataset(path).batch(256).map(lambda s: parse_examples(s, with_image=with_image))
    count = 0
    try:
        for batch in dataset.as_numpy_iterator():
            n = len(batch["frame"])
            for k in range(n):
                example = {key: value[k] for key, value in batch.items()}
                problem = _video_id_problem(example["video_id"])
                if problem is not None:
                    raise ShardError(f"record {count + k}: video_id is not a name ({problem})", path)
                yield example
            count += n
    except tf.errors.DataLossError as exc:
        raise ShardError(f"truncated or corrupt record after {_readable_records(path)} readable records "
                         f"({_tf_message(exc)})", path) from None
    except tf.errors.NotFoundError:
        raise ShardError("shard file not found", path) from None
    except tf.errors.InvalidArgumentError as exc:  # a record that is not an Example of FEATURE_SPEC
        raise ShardError(f"a record after {count} readable records is not a tfaffect example "
                         f"({_tf_message(exc)})", path) from None
    except UnicodeDecodeError:  # TensorFlow's own message about the bad record is not UTF-8 text
        raise ShardError(f"a record after {count} readable records is not a tfaffect example", path) from None


def _readable_records(path: str) -> int:
    """How many records of a damaged shard read before the first one that does not (framing and CRCs only)."""
    count = 0
    try:
        for _ in tf.data.TFRecordDataset(path):
            count += 1
    except tf.errors.OpError:
        pass
    return count


def _tf_message(exc: tf.errors.OpError) -> str:
    """TensorFlow's error message without its graph-function and op decorations, cut to 160 characters."""
    text = re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]( name:)?", "", exc.message or "")
    return " ".join(text.split())[:160]


def _video_id_problem(video_id: bytes) -> str | None:
    try:
        return identifier_problem(bytes(video_id).decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8"


def find_bad_shard(data_dir: str | os.PathLike, split: str | None = None, *,
                   manifest: Mapping | None = None, images: bool = True) -> None:
    """Read every record of ``split`` shard by shard and raise :class:`ShardError` naming the first shard
    that does not read (:func:`read_shard`), holds another number of records than the manifest says or
    (``images``) holds a face image that does not decode (naming the record's video and frame).

    For callers that got a ``tf.errors.DataLossError`` out of a ``tf.data`` pipeline over many shards,
    whose message names no file: this finds the file. Returns quietly if every shard reads.
    """
    data_dir = os.fspath(data_dir)
    manifest = load_manifest(data_dir) if manifest is None else manifest
    for entry in split_shards(manifest, split):
        path = os.path.join(data_dir, entry["file"])
        count = 0
        for example in read_shard(path, with_image=images):
            if images and len(example["image"]):
                try:
                    tf.io.decode_jpeg(example["image"], channels=3)
                except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as exc:
                    raise ShardError(f"record {count} (video {example['video_id'].decode()!r}, frame "
                                     f"{int(example['frame'])}): the face image does not decode "
                                     f"({_tf_message(exc)})", path) from None
            count += 1
        if count != entry["frames"]:
            raise ShardError(f"{count} records, the manifest says {entry['frames']}", path)


@contextlib.contextmanager
def naming_bad_shards(data_dir: str | os.PathLike, split: str | None = None) -> Iterator[None]:
    """Around a ``tf.data`` pass over prepared shards: a ``tf.errors.DataLossError`` (a corrupt record
    that passed the manifest check; its message names no file) or ``InvalidArgumentError`` becomes a
    :class:`ShardError` naming the shard (:func:`find_bad_shard`). An error that no shard explains
    (e.g. from a model) propagates unchanged."""
    try:
        yield
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError, UnicodeDecodeError):
        find_bad_shard(data_dir, split)
        raise


# ----------------------------------------------------------------------------- writing


@dataclasses.dataclass(frozen=True)
class ShardPlan:
    """One shard to write: its file name, split and the indices (into the record list) of its videos."""

    file: str
    split: str
    records: tuple[int, ...]


def plan_shards(records: Sequence[VideoRecord], frames_per_shard: int) -> list[ShardPlan]:
    """Assign whole videos to shards, deterministically, from the record list alone.

    Splits appear in the order of their first record; within a split videos keep their order and
    fill a shard until the next video would take it past ``frames_per_shard`` (a video longer than
    that gets a shard of its own). Files are named ``<split>-<index>-of-<count>.tfrecord``.
    """
    if frames_per_shard < 1:
        raise ValueError(f"frames_per_shard must be >= 1, got {frames_per_shard}")
    by_split: dict[str, list[list[int]]] = {}
    filled: dict[str, int] = {}
    for index, record in enumerate(records):
        shards = by_split.setdefault(record.split, [[]])
        if shards[-1] and filled[record.split] + record.num_frames > frames_per_shard:
            shards.append([])
            filled[record.split] = 0
        shards[-1].append(index)
        filled[record.split] = filled.get(record.split, 0) + record.num_frames
    plan = []
    for split, shards in by_split.items():
        for k, members in enumerate(shards):
            plan.append(ShardPlan(f"{split}-{k:05d}-of-{len(shards):05d}.tfrecord", split, tuple(members)))
    return plan


EncodedFrame = tuple[bytes, "np.ndarray | None", "float | None"] | tuple[bytes, "np.ndarray | None", "float | None",
                                                                     "str | None"]
"""``(jpeg, landmarks, timestamp)`` of one frame, as :func:`encode_frame` takes them, optionally followed by
the source of its landmarks (a name the shard histogram's ``landmarks_source`` counts; ``None``: not counted)."""

FrameSource = Callable[[VideoRecord], Iterable[EncodedFrame]]
"""Gives, for one record, an :data:`EncodedFrame` for each of its frames in order;
:mod:`tfaffect.data.prepare` builds one per kind of dataset."""


def _empty_histogram(num_classes: int) -> dict:
    return {"expression": [0] * num_classes, "expression_invalid": 0, "quadrant": [0] * len(QUADRANTS),
            "va_invalid": 0, "no_face": 0, "landmarks_invalid": 0, "landmarks_source": {}}


def _add_histogram(total: dict, part: Mapping) -> None:
    for key, value in part.items():
        if isinstance(value, dict):
            total[key] = {name: total[key].get(name, 0) + value.get(name, 0)
                          for name in sorted(set(total[key]) | set(value))}
        elif isinstance(value, list):
            total[key] = [a + b for a, b in zip(total[key], value)]
        else:
            total[key] += value


def _record_histogram(record: VideoRecord, has_face: np.ndarray, landmarks_valid: np.ndarray,
                      num_classes: int, landmarks_source: Mapping[str, int]) -> dict:
    hist = _empty_histogram(num_classes)
    expression_valid = record.expression_valid
    if expression_valid.any():
        hist["expression"] = np.bincount(record.expression[expression_valid], minlength=num_classes).tolist()
    hist["expression_invalid"] = int((~expression_valid).sum())
    va_valid = record.va_valid
    if va_valid.any():
        quadrant = va_quadrant(record.valence[va_valid], record.arousal[va_valid]).numpy()
        hist["quadrant"] = np.bincount(quadrant, minlength=len(QUADRANTS)).tolist()
    hist["va_invalid"] = int((~va_valid).sum())
    hist["no_face"] = int((~has_face).sum())
    hist["landmarks_invalid"] = int((~landmarks_valid).sum())
    hist["landmarks_source"] = dict(sorted(landmarks_source.items()))
    return hist


def _dataset_facts(records: Sequence[VideoRecord]) -> dict:
    """AU count/names and expression classes, which must agree across the records of one dataset."""
    au_widths = {r.aus.shape[1] for r in records if r.aus is not None}
    au_names = {tuple(r.au_names) for r in records if r.au_names is not None}
    classes = {tuple(r.expression_classes) for r in records if r.expression_classes is not None}
    for what, values in (("AU counts", au_widths), ("AU names", au_names), ("expression classes", classes)):
        if len(values) > 1:
            raise DataError(f"records disagree on {what}: {sorted(values)}")
    classes_list = list(classes.pop()) if classes else list(EXPRESSIONS_7)
    for r in records:
        if r.expression is not None and r.expression.size and r.expression.max() >= len(classes_list):
            raise DataError(f"expression label {int(r.expression.max())} outside the {len(classes_list)} classes",
                            r.video_path or r.video_id)
    return {"num_aus": au_widths.pop() if au_widths else 0,
            "au_names": list(au_names.pop()) if au_names else [],
            "expression_classes": classes_list}


def _write_shard(out_dir: str, plan: ShardPlan, records: Sequence[VideoRecord], frame_source: FrameSource,
                 facts: Mapping, on_frame: Callable[[], None]) -> dict:
    """Write one shard under a temporary name, rename it when complete; return its manifest entry."""
    final = os.path.join(out_dir, plan.file)
    tmp = os.fspath(temp_path(final))
    num_classes = len(facts["expression_classes"])
    hist = _empty_histogram(num_classes)
    videos = []
    try:
        with tf.io.TFRecordWriter(tmp) as writer:
            for index in plan.records:
                record = records[index]
                has_face = np.zeros(record.num_frames, bool)
                landmarks_valid = np.zeros(record.num_frames, bool)
                where = record.video_path or record.video_id
                count = 0
                sources: dict[str, int] = {}
                for jpeg, landmarks, timestamp, *source in frame_source(record):
                    if count == record.num_frames:
                        raise VideoError(f"more frames than the {record.num_frames} the annotations have; "
                                         f"frame {count} is not annotated", where, frame=count)
                    writer.write(encode_frame(record, count, jpeg, landmarks=landmarks, timestamp=timestamp,
                                              num_aus=facts["num_aus"]))
                    has_face[count] = len(jpeg) > 0
                    landmarks_valid[count] = landmarks is not None and bool(np.isfinite(landmarks).all())
                    if source and source[0] is not None:
                        sources[source[0]] = sources.get(source[0], 0) + 1
                    count += 1
                    on_frame()
                if count < record.num_frames:
                    raise VideoError(f"only {count} frames decode, but the annotations have {record.num_frames}: "
                                     f"frame {count} onwards does not exist (truncated file?)", where, frame=count)
                _add_histogram(hist, _record_histogram(record, has_face, landmarks_valid, num_classes, sources))
                videos.append([record.video_id, record.num_frames])
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        entry = {"file": plan.file, "split": plan.split, "frames": sum(n for _, n in videos), "videos": videos,
                 "bytes": os.path.getsize(tmp), "sha256": sha256_file(tmp), "histogram": hist}
        os.replace(tmp, final)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return entry


def write_dataset(records: Sequence[VideoRecord], out_dir: str | os.PathLike, frame_source: FrameSource, *,
                  dataset: str, image_size: int, frames_per_shard: int, options: Mapping | None = None,
                  progress: bool | None = None) -> dict:
    """Write ``records`` as sharded TFRecords plus ``manifest.json`` into ``out_dir``; return the manifest.

    ``frame_source(record)`` yields ``(jpeg, landmarks, timestamp)`` per frame (see
    :data:`FrameSource`); it must give exactly ``record.num_frames`` frames, else a
    :class:`DataError` naming the video. ``options`` (e.g. the JPEG quality) go into the manifest
    as they are. ``progress``: tqdm bar (``None``: only on a terminal).

    Resumable: shards that a previous run with the same plan and options finished (listed in
    ``manifest.partial.json`` or ``manifest.json`` and matching their SHA-256) are kept; others
    are rewritten, and temporary files a killed run left behind are removed. Assumes the source data did
    not change in between, and one writer per directory at a time.
    """
    from tqdm.auto import tqdm

    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    records = list(records)
    facts = _dataset_facts(records)
    plan = plan_shards(records, frames_per_shard)
    header = {"spec_version": SPEC_VERSION, "dataset": dataset, "image_size": int(image_size),
              "frames_per_shard": int(frames_per_shard), "options": dict(options or {}), **facts}
    fingerprint = hashlib.sha256(json.dumps(
        [header, [(p.file, p.split, [(records[i].video_id, records[i].num_frames) for i in p.records])
                  for p in plan]], sort_keys=True).encode()).hexdigest()

    done = _finished_shards(out_dir, fingerprint)
    clean_orphans(out_dir)  # temporary files of killed runs (those of live processes are left alone)
    total = sum(records[i].num_frames for p in plan for i in p.records)
    entries = []
    with tqdm(total=total, unit="frame", desc=f"prepare {dataset}", disable=None if progress is None else not progress,
              dynamic_ncols=True) as bar:
        for shard in plan:
            entry = done.get(shard.file)
            if entry is not None:
                log.info("%s: complete from a previous run (checksum verified), skipped", shard.file)
                bar.update(entry["frames"])
            else:
                entry = _write_shard(out_dir, shard, records, frame_source, facts, lambda: bar.update(1))
                done[shard.file] = entry
                write_json_atomic(os.path.join(out_dir, PROGRESS_NAME), {"fingerprint": fingerprint, "done": done})
            entries.append(entry)

    manifest = {**header, "fingerprint": fingerprint, "shards": entries, "splits": {}}
    for entry in entries:
        split = manifest["splits"].setdefault(entry["split"], {
            "frames": 0, "videos": 0, "shards": 0, "histogram": _empty_histogram(len(facts["expression_classes"]))})
        split["frames"] += entry["frames"]
        split["videos"] += len(entry["videos"])
        split["shards"] += 1
        _add_histogram(split["histogram"], entry["histogram"])
    write_json_atomic(os.path.join(out_dir, MANIFEST_NAME), manifest)
    if os.path.exists(os.path.join(out_dir, PROGRESS_NAME)):
        os.remove(os.path.join(out_dir, PROGRESS_NAME))
    return manifest


def _finished_shards(out_dir: str, fingerprint: str) -> dict[str, dict]:
    """Shard entries a previous run with this fingerprint completed and whose files still verify.

    A ``manifest.json`` of a different plan is removed first, so readers never pair it with shards
    that this run is about to rewrite.
    """
    candidates: dict[str, dict] = {}
    manifest_path = os.path.join(out_dir, MANIFEST_NAME)
    for name in (MANIFEST_NAME, PROGRESS_NAME):
        path = os.path.join(out_dir, name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                previous = json.load(f)
        except (OSError, ValueError):
            previous = {}
        if not isinstance(previous, dict) or previous.get("fingerprint") != fingerprint:
            if name == MANIFEST_NAME:
                log.warning("%s describes another preparation; replacing it", manifest_path)
                os.remove(manifest_path)
            continue
        try:
            shards = previous["shards"] if name == MANIFEST_NAME else list(previous["done"].values())
            for entry in shards:
                if identifier_problem(entry["file"]) is None:
                    candidates[entry["file"]] = entry
        except (KeyError, TypeError, AttributeError):  # damaged: its shards are simply rewritten
            log.warning("%s is damaged; its shards are written again", path)
    finished = {}
    for file, entry in candidates.items():
        path = os.path.join(out_dir, file)
        if (os.path.isfile(path) and os.path.getsize(path) == entry.get("bytes")
                and sha256_file(path) == entry.get("sha256")):
            finished[file] = entry
    return finished


__all__ = ["clip_labels", "SPEC_VERSION", "FEATURE_SPEC", "LABEL_SPEC", "QUADRANTS", "MANIFEST_NAME", "PROGRESS_NAME", "ShardPlan",
           "EncodedFrame", "FrameSource", "encode_frame", "parse_examples", "decode_face", "normalise_landmarks",
           "va_quadrant", "sha256_file", "write_json_atomic", "load_manifest", "split_shards", "verify_shards",
           "read_shard", "find_bad_shard", "naming_bad_shards", "plan_shards", "write_dataset"]
