"""Per-frame feature shards: a frame model's outputs over prepared data, stored like the image shards.

A feature directory mirrors a prepared image directory (:mod:`tfaffect.data.tfrecord`) shard for shard
and record for record: the same files (``<split>-00000-of-00012.tfrecord``), the same videos in the same
order, and in each record every feature of the source record except ``image`` (``video_id``, ``frame``,
``num_frames``, ``valence``, ``arousal``, ``va_valid``, ``expression``, ``aus``, ``landmarks``,
``has_face``, ...), plus one float list per named output, ``feature/<name>``, holding that frame's output
flattened in row-major order. Frames without a face keep their record (``has_face`` 0, as in the
source) and the model's output on the all-zero frame the pipeline gives for them.

``manifest.json`` is the source's, with its shard entries' ``file`` / ``bytes`` / ``sha256`` those of the
feature shards and the splits limited to the extracted ones, plus:

``kind``              ``"features"`` (:data:`KIND`); image readers refuse such a directory
``features_version``  :data:`FEATURES_VERSION`
``outputs``           output name -> per-frame shape (a list of ints)
``producer``          what computed them, as the caller states it (e.g. the model's fingerprint, the layers)
``source``            the source data's ``fingerprint`` and the SHA-256 of its ``manifest.json``
``input``             ``crop`` and ``image_size`` the frames were cut to before the model saw them
``fingerprint``       of all of the above and the shard plan

Written as :func:`tfaffect.data.tfrecord.write_dataset` writes image shards: each shard under a temporary
name, renamed when complete, recorded with its SHA-256 in ``manifest.partial.json``; a run killed at any
point resumes with the shards it had not finished (the finished ones verify and are kept, the temporary
files of the dead process are removed), and ``manifest.json`` is written last. The frames a model sees
are those of the pipeline's evaluation pass (:func:`tfaffect.data.pipeline.make_dataset` with
``training=False``): every frame, the centred ``crop`` resized to ``image_size``, no flip.

The pipeline reads a feature directory with :func:`tfaffect.data.pipeline.make_feature_dataset`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from typing import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfaffect.data.tfrecord import (MANIFEST_NAME, PROGRESS_NAME, _finished_shards, decode_face,
                                    load_manifest, parse_examples, resize_uint8, sha256_file, split_shards,
                                    verify_shards)
from tfaffect.errors import ConfigError, DataError, MissingResourceError, ShardError
from tfaffect.io import atomic_path, clean_orphans, write_json_atomic

log = logging.getLogger(__name__)

KIND = "features"
"""The manifest's ``kind`` of a feature directory (image directories have none)."""
FEATURES_VERSION = 1
"""Bumped whenever the layout of feature records changes meaning; readers refuse other versions."""
PREFIX = "feature/"
"""Record key of output ``name``: ``feature/<name>``."""
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

Extractor = Callable[[np.ndarray], Mapping[str, np.ndarray]]
"""uint8 frames ``[N, H, W, 3]`` -> ``{output name: float array [N, *shape]}``."""


def _outputs_problem(outputs) -> str | None:
    """Why ``outputs`` is not ``{name: per-frame shape}`` (names identifiers, shapes positive ints), or ``None``."""
    if not isinstance(outputs, Mapping) or not outputs:
        return "at least one output (name -> per-frame shape) is needed"
    for name, shape in outputs.items():
        if not isinstance(name, str) or not _NAME.match(name):
            return f"output name {str(name)[:40]!r} is not an identifier (letters, digits, _)"
        if not isinstance(shape, (list, tuple)) or not shape or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape):
            return f"output {name!r} needs a shape of positive ints, got {str(shape)[:60]}"
    return None


def feature_spec(outputs: Mapping[str, Sequence[int]]) -> dict[str, tf.io.FixedLenFeature]:
    """Parse spec of the ``feature/<name>`` keys of ``outputs`` (flattened float vectors)."""
    return {PREFIX + name: tf.io.FixedLenFeature([int(np.prod(shape))], tf.float32) for name, shape in outputs.items()}


def parse_features(serialized: tf.Tensor, outputs: Mapping[str, Sequence[int]]) -> dict[str, tf.Tensor]:
    """A batch of feature records ``[N]`` -> ``{name: float32 [N, *shape]}`` for the ``outputs`` asked for."""
    parsed = tf.io.parse_example(serialized, feature_spec(outputs))
    return {name: tf.reshape(parsed[PREFIX + name], [-1, *shape]) for name, shape in outputs.items()}


def load_feature_manifest(feature_dir: str | os.PathLike) -> dict:
    """Read and check ``<feature_dir>/manifest.json`` (as :func:`~tfaffect.data.tfrecord.load_manifest`, plus
    the feature fields). :class:`MissingResourceError` when there is none, :class:`ConfigError` when the
    directory holds image shards, :class:`ShardError` naming the file when the feature fields are damaged."""
    path = os.path.join(os.fspath(feature_dir), MANIFEST_NAME)
    try:
        manifest = load_manifest(feature_dir)
    except MissingResourceError:
        raise MissingResourceError(
            f"{path} not found: {os.fspath(feature_dir)!r} is not a feature directory (or its extraction did not "
            "finish); resolve its FeatureStage (tfaffect.training.runner.resolve) and pass the recipe's "
            "stage_dir(name)") from None
    if manifest.get("kind") != KIND:
        raise ConfigError(f"{feature_dir} holds prepared images, not per-frame features: read it with "
                          "tfaffect.data.pipeline.make_dataset")

    if manifest.get("features_version") != FEATURES_VERSION:
        raise ShardError(f"features version {str(manifest.get('features_version'))[:20]!r}, this tfaffect reads "
                         f"{FEATURES_VERSION}; extract the features again", path)
    problem = _outputs_problem(manifest.get("outputs"))
    if problem is not None:
        raise ShardError(f"outputs: {problem} (edited or damaged manifest; extract the features again)", path)
    return manifest


def _frames(serialized: tf.Tensor, stored: int, crop: int, image_size: int) -> tf.Tensor:
    """One source record -> its frame as the pipeline's evaluation gives it: decoded (zeros without a face),
    the centred ``crop`` x ``crop`` square, resized to ``image_size`` (:func:`resize_uint8`)."""
    image = decode_face(parse_examples(serialized, keys=("image",))["image"], stored)
    offset = (stored - crop) // 2
    image = image[offset:offset + crop, offset:offset + crop]
    return resize_uint8(image, image_size, image_size) if crop != image_size else image


def _feature_record(serialized: bytes, values: Mapping[str, np.ndarray]) -> bytes:
    """The source record without its image, plus ``feature/<name>`` = ``values[name]`` flattened."""
    example = tf.train.Example.FromString(serialized)
    del example.features.feature["image"]
    for name, value in values.items():
        example.features.feature[PREFIX + name].float_list.value.extend(value.ravel().tolist())
    return example.SerializeToString(deterministic=True)


def _check_values(values, outputs: Mapping[str, list[int]], n: int, source: str, names, frames) -> dict:
    """The extractor's answer for ``n`` frames as float32 arrays; :class:`DataError` naming the source shard and
    the first bad frame (video and frame number) for a missing output, a wrong shape or a non-finite value."""
    if not isinstance(values, Mapping) or set(values) != set(outputs):
        got = sorted(values) if isinstance(values, Mapping) else type(values).__name__
        raise DataError(f"the extractor returned {got}, expected the outputs {sorted(outputs)}", source)
    checked = {}
    for name, shape in outputs.items():
        value = np.asarray(values[name], np.float32)
        if value.shape != (n, *shape):
            raise DataError(f"output {name!r} has shape {value.shape} for {n} frames, expected {(n, *shape)}", source)
        bad = ~np.isfinite(value.reshape(n, -1)).all(axis=1)
        if bad.any():
            k = int(np.argmax(bad))
            raise DataError(f"output {name!r} is not finite for video {names[k].decode()!r}", source,
                            frame=int(frames[k]))
        checked[name] = value
    return checked


def _write_feature_shard(source_dir: str, out_dir: str, entry: Mapping, extract: Extractor,
                         outputs: Mapping[str, list[int]], sizes: Mapping[str, int], batch_size: int,
                         on_frames: Callable[[int], None]) -> dict:
    """Write the feature shard of source shard ``entry`` under a temporary name (:func:`~tfaffect.io.atomic_path`),
    moved into place when complete; return its manifest entry (the source's, with its ``bytes`` and ``sha256``)."""
    source = os.path.join(source_dir, entry["file"])
    records = tf.data.TFRecordDataset(source).batch(batch_size).map(
        lambda serialized: (serialized, parse_examples(serialized, keys=("video_id", "frame")),
                            tf.map_fn(lambda s: _frames(s, **sizes), serialized, fn_output_signature=tf.uint8)))
    count = 0
    with atomic_path(os.path.join(out_dir, entry["file"])) as tmp:
        with tf.io.TFRecordWriter(os.fspath(tmp)) as writer:
            try:
                for serialized, index, images in records.as_numpy_iterator():
                    n = len(serialized)
                    values = _check_values(extract(images), outputs, n, source, index["video_id"], index["frame"])
                    for k in range(n):
                        writer.write(_feature_record(serialized[k], {name: v[k] for name, v in values.items()}))
                    count += n
                    on_frames(n)
            except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as exc:
                raise ShardError(f"record {count} onwards does not read ({' '.join(exc.message.split())[:160]})",
                                 source) from None
        if count != entry["frames"]:
            raise ShardError(f"{count} records, the manifest says {entry['frames']}", source)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        written = {**entry, "bytes": os.path.getsize(tmp), "sha256": sha256_file(tmp)}
    return written


def write_features(source_dir: str | os.PathLike, out_dir: str | os.PathLike, extract: Extractor, *,
                   outputs: Mapping[str, Sequence[int]], producer: Mapping, splits: Sequence[str] | None = None,
                   crop: int | None = None, image_size: int | None = None, batch_size: int = 64,
                   progress: bool | None = None) -> dict:
    """Extract per-frame features of the prepared images in ``source_dir`` into ``out_dir``; return the manifest.

    ``extract(frames)`` maps uint8 frames ``[N, image_size, image_size, 3]`` (``N`` <= ``batch_size``, the
    frames of one source shard in file order) to ``{name: float array [N, *outputs[name]]}``; a missing
    output, another shape or a non-finite value is a :class:`DataError` naming the source shard, the video
    and the frame. ``producer`` (JSON) says what computed the features and goes into the manifest and the
    fingerprint. ``splits``: the source splits to extract (default: all). ``crop`` / ``image_size`` as in
    :func:`~tfaffect.data.pipeline.make_dataset` (default: the stored size, no crop).

    Resumable after any interruption (see the module docstring); assumes one writer per directory at a time.
    """
    from tqdm.auto import tqdm

    source_dir, out_dir = os.fspath(source_dir), os.fspath(out_dir)
    source = load_manifest(source_dir)
    if source.get("kind") == KIND:
        raise ConfigError(f"{source_dir} holds per-frame features, not images: extract from the prepared images")
    problem = _outputs_problem(outputs)
    if problem is not None:
        raise ConfigError(f"write_features: {problem}")
    outputs = {name: [int(d) for d in shape] for name, shape in outputs.items()}
    stored = int(source["image_size"])
    crop = stored if crop is None else int(crop)
    image_size = crop if image_size is None else int(image_size)
    if not 0 < crop <= stored or image_size < 1 or batch_size < 1:
        raise ConfigError(f"need 1 <= crop <= {stored} (the stored size), image_size >= 1 and batch_size >= 1, got "
                          f"{crop}, {image_size} and {batch_size}")
    splits = list(source["splits"]) if splits is None else list(dict.fromkeys(splits))
    shards = [entry for split in splits for entry in split_shards(source, split)]
    verify_shards(source_dir, manifest=source, checksums=False)
    with open(os.path.join(source_dir, MANIFEST_NAME), "rb") as f:
        source_sha256 = hashlib.sha256(f.read()).hexdigest()
    header = {key: value for key, value in source.items() if key not in ("fingerprint", "shards", "splits")}
    header.update(kind=KIND, features_version=FEATURES_VERSION, outputs=outputs, producer=dict(producer),
                  source={"fingerprint": source.get("fingerprint"), "manifest_sha256": source_sha256},
                  input={"crop": crop, "image_size": image_size})
    fingerprint = hashlib.sha256(json.dumps(
        [header, [(s["file"], s["split"], s["videos"]) for s in shards]], sort_keys=True).encode()).hexdigest()

    os.makedirs(out_dir, exist_ok=True)
    done = _finished_shards(out_dir, fingerprint)
    clean_orphans(out_dir)  # temporary shards of a killed extraction
    sizes = {"stored": stored, "crop": crop, "image_size": image_size}
    entries = []
    with tqdm(total=sum(s["frames"] for s in shards), unit="frame", desc=f"features {os.path.basename(out_dir)}",
              disable=None if progress is None else not progress, dynamic_ncols=True) as bar:
        for shard in shards:
            entry = done.get(shard["file"])
            if entry is not None:
                log.info("%s: complete from a previous run (checksum verified), skipped", shard["file"])
                bar.update(entry["frames"])
            else:
                entry = _write_feature_shard(source_dir, out_dir, shard, extract, outputs, sizes, batch_size,
                                             bar.update)
                done[shard["file"]] = entry
                write_json_atomic(os.path.join(out_dir, PROGRESS_NAME), {"fingerprint": fingerprint, "done": done})
            entries.append(entry)
    manifest = {**header, "fingerprint": fingerprint, "shards": entries,
                "splits": {split: source["splits"][split] for split in splits}}
    write_json_atomic(os.path.join(out_dir, MANIFEST_NAME), manifest)
    if os.path.exists(os.path.join(out_dir, PROGRESS_NAME)):
        os.remove(os.path.join(out_dir, PROGRESS_NAME))
    return manifest


__all__ = ["KIND", "FEATURES_VERSION", "PREFIX", "Extractor", "feature_spec", "parse_features",
           "load_feature_manifest", "write_features"]
