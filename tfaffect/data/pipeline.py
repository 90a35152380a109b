"""tf.data pipelines over prepared shards: frames or sequence windows -> balance -> decode -> augment -> batch.

One entry point, :func:`make_dataset`, gives elements ``(x, y, sample_weight)`` in the data contract
shared with the models and the trainer:

* ``x["image"]``: uint8 RGB ``[B, H, W, 3]`` (frames) or ``[B, T, H, W, 3]`` (windows); a frame
  without a face is all zeros. ``x["landmarks"]`` (only with ``landmarks=True``): float32
  ``[B, (T,) 68, 2]``, (x, y) divided by the crop size; zeros where the landmarks are unknown.
* ``y["va"]``: float32 ``[B, (T,) 2]`` (valence, arousal); ``y["expression"]``: int32 ``[B, (T,)]``.
  Invalid frames hold 0 and ``sample_weight[key]`` (float32 ``[B, (T,)]``) is 0 for them, 1 otherwise.

How elements are cut (each video lies whole in one shard, frames in order; see
:mod:`tfaffect.data.tfrecord`). A shard is read as a whole, the few labels the cut needs are parsed
at once, and the elements are chosen *before* any JPEG is parsed or decoded (only the records of
the chosen elements have their JPEG feature parsed):

* ``mode="frames"``: one frame per element. In training only frames with a face are used (the
  others have no image to learn from; the manifest counts them); in evaluation every frame is.
* ``mode="windows"``: ``seq_len`` consecutive frames of one video, starting at frames 0, S, 2S, ...
  (stride ``S``); a window never crosses a video boundary. Training uses the windows that fit
  (a video shorter than ``seq_len`` gives none; logged). Evaluation covers every frame: the starts
  0, S, 2S, ... plus a tail window aligned to the end of the video, and a video shorter than
  ``seq_len`` gives one window padded by repeating its last frame (padding has frame index -1 and
  weight 0). With ``stride=1`` each frame lies in up to ``seq_len`` windows and the predictions are
  averaged per frame (Li 2017, section 3.1.2); with ``stride=seq_len`` each frame lies in one
  window, except the frames the tail window repeats.

Balanced sampling (training only) draws from one endless stream per class with
``tf.data.Dataset.sample_from_datasets``, so the proportions hold to the last batch of every epoch
(never ``rejection_resample``; DESIGN.md, known traps). The split's records are read once, when the
pipeline is built, and kept undecoded in memory (about the shard files' size, if that fits the
memory budget, see ``cache_budget``); each class stream is then a fresh permutation of that class's
elements every pass, and only the drawn elements have their JPEGs parsed and decoded. Otherwise
each class stream re-reads the shards holding its class (manifest histograms) on every pass.
A window's class is the class of its **last frame**
(the current frame of a causal window: Do 2020, section II.C, feeds "the current frame and the block
of previous consecutive frames"); elements whose class is undefined (label invalid) are not drawn in
balanced mode. The streams stop together if one class turns out to have no usable element (e.g.
its frames lie only in videos shorter than ``seq_len``) rather than shifting the proportions.

``cache="memory"`` (opt-in) decodes every frame of the split once, when the pipeline is built, and
keeps the stored-size frames in memory (:func:`cache_bytes`: frames x S x S x 3 bytes; refused with
a :class:`~tfaffect.errors.ConfigError` above ``cache_budget``, by default
:data:`CACHE_MEMORY_FRACTION` of the available memory). The same cut then gives start positions
into the cache; a training epoch is a fresh permutation of them (or, balanced, one endlessly
reshuffled permutation per class, drawn as above), and each batch is gathered, randomly cropped and
flipped from memory, so augmentation still differs between epochs. It trades memory for the JPEG
decoding that dominates the cost per frame (``benchmarks/pipeline.py``).

:func:`make_feature_dataset` reads per-frame feature shards (:mod:`tfaffect.data.features`) through the
same machinery: the same cuts, order, shuffling and balancing (the elements' payload is their feature
vectors instead of JPEGs), the same ``y``, ``sample_weight`` and index, ``x`` = the named outputs.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfaffect.data.features import KIND as FEATURES_KIND
from tfaffect.data.features import load_feature_manifest, parse_features
from tfaffect.data.tfrecord import (MANIFEST_NAME, NUM_LANDMARKS, QUADRANTS, decode_face, load_manifest,
                                   normalise_landmarks, parse_examples, resize_uint8, split_shards, va_quadrant,
                                   verify_shards)
from tfaffect.errors import ConfigError, ShardError

log = logging.getLogger(__name__)

KOLLIAS_QUADRANT_TARGETS = (0.43, 0.24, 0.19, 0.14)
"""Proportions of (+v,+a), (-v,+a), (+v,-a), (-v,-a) frames after re-sampling (Kollias 2019, section 4.2)."""

MIRROR_68 = (
    tuple(range(16, -1, -1))                      # jaw 0-16 reversed
    + tuple(range(26, 16, -1))                    # brows 17-21 <-> 26-22
    + (27, 28, 29, 30)                            # nose bridge stays
    + (35, 34, 33, 32, 31)                        # nostrils 31-35 reversed
    + (45, 44, 43, 42, 47, 46)                    # right eye 36-41 <-> left eye 45-42, 47-46
    + (39, 38, 37, 36, 41, 40)
    + (54, 53, 52, 51, 50, 49, 48)                # outer lips 48-54 reversed
    + (59, 58, 57, 56, 55)                        # outer lower lip 55-59 reversed
    + (64, 63, 62, 61, 60)                        # inner lips 60-64 reversed
    + (67, 66, 65)                                # inner lower lip 65-67 reversed
)
"""Index that point ``k`` takes after a horizontal flip, in the usual 68-point (iBUG/Multi-PIE) order."""

SHUFFLE_FRAMES = 4096
"""Shuffle buffer in frames (divided by the window length for windows). Not fixed by the papers;
chosen so a batch mixes many videos while the buffer stays a few tens of MB of JPEG bytes."""

GATHER_FRAMES = 256
"""Elements are cut from a shard in chunks of about this many frames (one gather per column per chunk
instead of per element). Not fixed by the papers; a speed/memory trade-off measured here."""

CYCLE_LENGTH = 4
"""Shards read at once per stream. Not fixed by the papers; enough to mix videos, few enough to
keep memory (one whole shard each) small."""


def _class_names(balance: str, manifest: Mapping) -> tuple[str, ...]:
    return tuple(manifest["expression_classes"]) if balance == "expression" else QUADRANTS


def _resolve_targets(balance: str, targets, manifest: Mapping) -> np.ndarray:
    names = _class_names(balance, manifest)
    if targets is None:
        if balance == "quadrant":
            targets = KOLLIAS_QUADRANT_TARGETS
        else:
            # Do 2020 ("balance emotion sampling") does not give proportions; equal ones are chosen
            # because that is what balanced means without further information.
            targets = [1.0] * len(names)
    if isinstance(targets, Mapping):
        unknown = set(targets) - set(names)
        if unknown:
            raise ConfigError(f"targets: unknown classes {sorted(unknown)}; known: {', '.join(names)}")
        targets = [targets.get(name, 0.0) for name in names]
    targets = np.asarray(targets, np.float64)
    if targets.shape != (len(names),) or (targets < 0).any() or targets.sum() <= 0:
        raise ConfigError(f"targets for balance={balance!r} must be {len(names)} non-negative weights "
                          f"({', '.join(names)}) with a positive sum, got {targets.tolist()}")
    return targets / targets.sum()


class _Cut:
    """How a split is cut into elements: window length, stride, evaluation coverage, class filter.

    Works on label columns (``[N]`` tensors in file order, see :data:`keys`): those of one shard
    (read from its file) or those of a whole split (``cache="memory"``); both cut alike because a
    window's frames are found by ``frame`` / ``num_frames``, never across a video boundary.
    """

    def __init__(self, length: int, stride: int, evaluation: bool, faces_only: bool, landmarks: bool,
                 payload: Callable[[tf.Tensor], dict[str, tf.Tensor]] | None = None):
        self.length, self.stride, self.evaluation, self.faces_only = length, stride, evaluation, faces_only
        self.payload = _jpegs if payload is None else payload
        """Records ``[N]`` -> what an element carries besides its labels, each ``[N, ...]``: the still-encoded
        JPEGs (``{"image"}``) of image shards, the named outputs of feature shards."""
        self.columns = ("valence", "arousal", "va_valid", "expression", "has_face") + (
            ("landmarks", "landmarks_valid") if landmarks else ())
        self.keys = ("video_id", "frame", "num_frames") + self.columns
        """The label features to parse: what :meth:`starts` and :meth:`gather` read (never the JPEG)."""

    def starts(self, cols: Mapping[str, tf.Tensor], balance: str | None = None, cls: int = -1) -> tf.Tensor:
        """Positions (into ``cols``) of the first frame of every element, in order; with ``balance``
        only the elements whose last frame is of class ``cls``."""
        frame, num_frames = cols["frame"], cols["num_frames"]
        length, stride = self.length, self.stride
        is_start = (frame % stride == 0) & (frame + length <= num_frames)
        if self.evaluation:
            is_start |= (frame == num_frames - length) | ((num_frames < length) & (frame == 0))
        if self.faces_only:
            is_start &= cols["has_face"] > 0
        positions = tf.range(tf.size(frame, out_type=tf.int64), dtype=tf.int64)
        if balance is not None:
            last = positions + tf.minimum(num_frames - frame, length) - 1
            last = tf.minimum(last, tf.size(frame, out_type=tf.int64) - 1)
            is_start &= tf.gather(_element_class(cols, balance), last) == cls
        return tf.boolean_mask(positions, is_start)

    def gather(self, cols: Mapping[str, tf.Tensor], chunk: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """Elements starting at positions ``chunk`` (``[k]``) -> their label columns ``[k, L]`` (``video_id``
        ``[k]``) and the positions of their frames ``[k, L]`` (padding repeats the last frame: frame
        index -1, labels invalid), gathered in one vectorised call per column."""
        offsets = tf.range(self.length, dtype=tf.int64)
        # Frames the element really holds (fewer than length only for a short video in evaluation).
        n = tf.minimum(tf.gather(cols["num_frames"] - cols["frame"], chunk), self.length)[:, None]
        index = chunk[:, None] + tf.minimum(offsets, n - 1)
        real = offsets < n
        out = {key: tf.gather(cols[key], index) for key in self.columns}
        out["video_id"] = tf.gather(cols["video_id"], chunk)
        out["frame"] = tf.where(real, tf.gather(cols["frame"], index), -1)
        out["va_valid"] = tf.where(real, out["va_valid"], 0)
        out["expression"] = tf.where(real, out["expression"], -1)
        return out, index

    def elements(self, serialized: tf.Tensor, balance: str | None, cls: int, seed: tf.Tensor | None
                 ) -> tf.data.Dataset:
        """Dataset of the elements of one shard (``serialized``: all its records, in file order).

        The labels are parsed first (:data:`keys` only); the JPEG feature is parsed only from the
        records of the elements kept, so a class stream that keeps 1/7 of a shard copies 1/7 of its JPEGs.
        """
        cols = parse_examples(serialized, keys=self.keys)
        starts = self.starts(cols, balance, cls)
        if seed is not None:
            starts = tf.gather(starts, tf.argsort(tf.random.stateless_uniform(tf.shape(starts), seed)))

        chunk = max(1, GATHER_FRAMES // self.length)
        return (tf.data.Dataset.from_tensor_slices(starts).batch(chunk)
                .map(lambda positions: self.gather_records(cols, serialized, positions)).unbatch())

    def gather_records(self, cols: Mapping[str, tf.Tensor], serialized: tf.Tensor, chunk: tf.Tensor
                       ) -> dict[str, tf.Tensor]:
        """:meth:`gather`, plus the :attr:`payload` of the elements' frames (``"image"``: the still-encoded
        JPEGs ``[k, L]``), parsed from their records (``serialized``, aligned with ``cols``) only."""
        out, index = self.gather(cols, chunk)
        for key, value in self.payload(tf.reshape(tf.gather(serialized, index), [-1])).items():
            out[key] = tf.reshape(value, tf.concat([tf.shape(index), tf.shape(value)[1:]], axis=0))
        return out


def _jpegs(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """The payload of image records: ``{"image": the still-encoded JPEGs}``."""
    return {"image": parse_examples(serialized, keys=("image",))["image"]}


def _element_class(cols: Mapping[str, tf.Tensor], balance: str) -> tf.Tensor:
    """Class of each frame for balancing; -1 where its label is invalid."""
    if balance == "expression":
        return cols["expression"]
    return tf.where(cols["va_valid"] > 0, va_quadrant(cols["valence"], cols["arousal"]), -1)


def _stream(data_dir: str, shards: Sequence[Mapping], cut: _Cut, *, training: bool, seed: int,
            balance: str | None = None, cls: int = -1, shuffle_buffer: int = 1) -> tf.data.Dataset:
    """Elements of the given shards; training: shards and elements shuffled, endless; else in order, once."""
    paths = [os.path.join(data_dir, s["file"]) for s in shards]
    counts = [s["frames"] for s in shards]
    files = tf.data.Dataset.from_tensor_slices((paths, tf.constant(counts, tf.int64)))

    def shard_elements(path, count, element_seed=None):
        # One element: all records of the shard, so labels are parsed in one vectorised call.
        records = tf.data.TFRecordDataset(path).batch(count)
        return records.flat_map(lambda serialized: cut.elements(serialized, balance, cls, element_seed))

    if not training:
        return files.flat_map(shard_elements)
    # A fresh seed per shard visit (rerandomized every epoch) shuffles the elements inside the shard.
    visit_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    files = tf.data.Dataset.zip(files, visit_seeds).shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    elements = files.interleave(lambda file, visit_seed: shard_elements(*file, visit_seed),
                                cycle_length=min(CYCLE_LENGTH, len(paths)), num_parallel_calls=tf.data.AUTOTUNE)
    return elements.shuffle(shuffle_buffer, seed=seed).repeat()


def _flip_width(images: tf.Tensor) -> tf.Tensor:
    """Mirror uint8 images ``[..., H, W, 3]`` left-right.

    Reversing axis 1 of a ``[-1, W, 3]`` view gives the same pixels as ``tf.reverse(images, [-2])``
    and was 5-7x faster here (TF 2.21, uint8): the reverse kernel is slow on rank 4-5 tensors.
    """
    shape = tf.shape(images)
    flipped = tf.reverse(tf.reshape(images, tf.stack([-1, shape[-2], shape[-1]])), axis=[1])
    return tf.ensure_shape(tf.reshape(flipped, shape), images.shape)


def _decode(element: Mapping[str, tf.Tensor], seed: tf.Tensor | None, *, stored: int, crop: int,
            image_size: int, flip: bool) -> dict[str, tf.Tensor]:
    """Decode one element's JPEGs (after the sampling decision), crop, resize and flip them.

    ``seed`` (training) draws one crop offset and one flip decision per element, so every frame of
    a window gets the same; without it the crop is centred and nothing is flipped (Li 2017,
    section 3.1.2: "During testing, the center crop is used and no mirroring is applied"). The
    offset and the decision are returned with the element so that :func:`_finish` moves the
    landmarks the same way.
    """
    length = element["image"].shape[0]
    if seed is not None:
        offset = tf.random.stateless_uniform([2], seed, 0, stored - crop + 1, dtype=tf.int32)
    else:
        offset = tf.fill([2], (stored - crop) // 2)
    if seed is not None and flip:
        mirrored = tf.random.stateless_uniform([], seed + 1) < 0.5
    else:
        mirrored = tf.constant(False)
    # decode_face decodes as OpenCV does (what prediction on videos sees). Whole image, then crop:
    # tf.io.decode_and_crop_jpeg differs at the crop border (chroma upsampling) and was not faster
    # on 112-128 px faces here.
    frames = [decode_face(element["image"][t], stored)[offset[1]:offset[1] + crop, offset[0]:offset[0] + crop]
              for t in range(length)]  # length is static: the decodes run in parallel, no while loop
    images = tf.ensure_shape(tf.stack(frames), [length, crop, crop, 3])
    if crop != image_size:
        images = resize_uint8(images, image_size, image_size)
    images = tf.cond(mirrored, lambda: _flip_width(images), lambda: images)
    return {**element, "image": images, "offset": offset, "mirrored": mirrored}


def _finish(batch: Mapping[str, tf.Tensor], *, landmarks: bool, tasks: Sequence[str], squeeze: bool,
            with_index: bool, inputs: Sequence[str] = ("image",), stored: int = 0, crop: int = 0,
            image_size: int = 0):
    """A batch of decoded elements -> (x, y, sample_weight[, index]); ``squeeze`` drops the time axis. ``x``
    holds the ``inputs`` of the batch (and the landmarks, moved with the crop and flip of the images)."""
    def shape(t):
        return tf.squeeze(t, axis=1) if squeeze else t  # a view; t[:, 0] copied the images

    x = {key: shape(batch[key]) for key in inputs}
    if landmarks:
        # Stored points are in units of the stored side; take them to pixels of the crop, then to
        # units of the output side; a flip maps pixel x to (side - 1 - x) and swaps left/right points.
        offset = tf.cast(batch["offset"], tf.float32)[:, None, None, :]
        points = normalise_landmarks(batch["landmarks"] * stored - offset, crop, image_size)
        flipped = tf.gather(tf.stack([(image_size - 1) / image_size - points[..., 0], points[..., 1]], axis=-1),
                            MIRROR_68, axis=-2)
        points = tf.where(batch["mirrored"][:, None, None, None], flipped, points)
        x["landmarks"] = shape(points * tf.cast(batch["landmarks_valid"] > 0, tf.float32)[..., None, None])
    y, weight = {}, {}
    if "va" in tasks:
        va_valid = batch["va_valid"] > 0
        va = tf.stack([batch["valence"], batch["arousal"]], axis=-1)
        y["va"] = shape(tf.where(va_valid[..., None], va, 0.0))
        weight["va"] = shape(tf.cast(va_valid, tf.float32))
    if "expression" in tasks:
        expression_valid = batch["expression"] >= 0
        y["expression"] = shape(tf.cast(tf.where(expression_valid, batch["expression"], 0), tf.int32))
        weight["expression"] = shape(tf.cast(expression_valid, tf.float32))
    if not with_index:
        return x, y, weight
    index = {"video_id": batch["video_id"], "frame": shape(batch["frame"]),
             "has_face": shape(tf.cast(batch["has_face"], tf.int32))}
    return x, y, weight, index


def num_elements(data_dir: str | os.PathLike, split: str, *, mode: str = "frames", seq_len: int | None = None,
                 stride: int | None = None, training: bool = True, manifest: Mapping | None = None) -> int:
    """How many elements one pass over ``split`` has: the size of an epoch (steps = this / batch size).

    Same arguments as :func:`make_dataset`. Balanced sampling has the same epoch size as unbalanced.
    """
    manifest = load_manifest(data_dir) if manifest is None else manifest
    length, stride = _window_args(mode, seq_len, stride, training)
    shards = split_shards(manifest, split)
    if mode == "frames":
        frames = sum(s["frames"] for s in shards)
        return frames - sum(s["histogram"]["no_face"] for s in shards) if training else frames
    total = 0
    for shard in shards:
        for _, n in shard["videos"]:
            if n >= length:
                total += (n - length) // stride + 1 + int(not training and (n - length) % stride != 0)
            elif not training and n > 0:
                total += 1
    return total


def no_landmarks_error(data_dir: str, manifest: Mapping, splits: Sequence[str]) -> ConfigError:
    """The error for a model that takes landmarks on data without any: names the data and the command that adds them."""
    return ConfigError(
        f"{data_dir} ({', '.join(splits)}): the model takes 68 landmarks but no frame of this data has them "
        f"(prepared without --landmarks, from a dataset that ships none), so it would train on zeros. Add them: "
        f"`tfaffect prepare --dataset {manifest.get('dataset', 'DATASET')} --root RAW_DATA --out {data_dir} "
        f"--landmarks` (dlib's 68-point predictor: pip install 'tfaffect[landmarks]'), or train without "
        f"landmarks (e.g. --no-landmarks)")


def landmark_statistics(data_dir: str | os.PathLike, splits: Sequence[str] = ("train",)
                        ) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)``, each float32 ``[136]`` (x0, y0, x1, ...): per-coordinate statistics of the landmarks
    of the frames of ``splits`` that have them, in the data contract's units (divided by the stored side,
    i.e. as a model sees them without cropping). Only the landmark features are parsed.

    Raises :class:`ConfigError` when no frame of the splits has landmarks.
    """
    data_dir = os.fspath(data_dir)
    manifest = load_manifest(data_dir)
    columns = []
    for split in splits:
        for batch in _read_split(data_dir, split, split_shards(manifest, split),
                                 lambda path: tf.data.TFRecordDataset(path).batch(GATHER_FRAMES),
                                 lambda batch: int(tf.size(batch))):
            parsed = parse_examples(batch, keys=("landmarks", "landmarks_valid"))
            known = parsed["landmarks_valid"].numpy() > 0
            columns.append(parsed["landmarks"].numpy().reshape(len(known), -1)[known])
    points = np.concatenate(columns) if columns else np.zeros((0, 2 * NUM_LANDMARKS), np.float32)
    if not len(points):
        raise no_landmarks_error(data_dir, manifest, splits)
    return points.mean(axis=0).astype(np.float32), np.maximum(points.std(axis=0), 1e-3).astype(np.float32)


def _window_args(mode: str, seq_len: int | None, stride: int | None, training: bool) -> tuple[int, int]:
    if mode == "frames":
        if seq_len not in (None, 1) or stride not in (None, 1):
            raise ConfigError("seq_len and stride apply to mode='windows' only")
        return 1, 1
    if mode != "windows":
        raise ConfigError(f"mode must be 'frames' or 'windows', got {mode!r}")
    if seq_len is None or seq_len < 1:
        raise ConfigError(f"mode='windows' needs seq_len >= 1, got {seq_len!r}")
    if stride is None:
        # Li 2017, section 3.1.2: training stride "half of the input length"; testing stride 1.
        stride = max(1, seq_len // 2) if training else 1
    if stride < 1 or (not training and stride > seq_len):
        raise ConfigError(f"stride must be >= 1 (and <= seq_len in evaluation, so every frame is covered), "
                          f"got {stride} for seq_len {seq_len}")
    return seq_len, stride


def make_dataset(data_dir: str | os.PathLike, split: str, *, batch_size: int, training: bool,
                 mode: str = "frames", seq_len: int | None = None, stride: int | None = None,
                 balance: str | None = None, targets: Sequence[float] | Mapping[str, float] | None = None,
                 image_size: int | None = None, crop: int | None = None, flip: bool = False,
                 landmarks: bool = False, tasks: Sequence[str] = ("va", "expression"), with_index: bool = False,
                 repeat: bool | None = None, seed: int = 0, verify: bool = True, cache: str | None = None,
                 cache_budget: int | None = None) -> tf.data.Dataset:
    """The tf.data pipeline a recipe trains or evaluates on (see the module docstring for the cuts).

    Args:
        data_dir: a directory written by ``tfaffect prepare`` (has ``manifest.json``).
        split: ``"train"``, ``"validation"``, ... (a split of the manifest).
        batch_size: elements per batch. Training drops the last partial batch; evaluation keeps it.
        training: shuffle (shards, elements), random crop and flip, endless by default; otherwise a
            deterministic pass in manifest order that covers every frame.
        mode: ``"frames"`` (``x["image"]`` ``[B, H, W, 3]``) or ``"windows"`` (``[B, T, H, W, 3]``).
        seq_len: window length T (windows mode), e.g. 80 for AffWildNet (original code, FORMATS.md).
        stride: step between window starts. Default: ``seq_len // 2`` in training, 1 in evaluation
            (Li 2017, section 3.1.2). Evaluation needs ``stride <= seq_len``.
        balance: ``None``, ``"expression"`` (Do 2020, section I: "balance emotion sampling") or
            ``"quadrant"`` (Kollias 2019, section 4.2); training only. An element's class is that of
            its last frame.
        targets: proportions per class for ``balance`` (a sequence in class order, or a mapping from
            class name, see ``QUADRANTS`` / the manifest's ``expression_classes``); normalised to
            sum 1. Default: :data:`KOLLIAS_QUADRANT_TARGETS` for quadrants, equal for expressions.
        image_size: side of the images the model gets; default: ``crop`` if given, else the stored size.
        crop: side of the square cut out of the stored image (random in training, centred in
            evaluation; e.g. stored 128 -> crop 112, Li 2017), then resized to ``image_size``.
            Default: no crop (the whole stored image).
        flip: random horizontal flip with probability 0.5 in training (Kahou 2015, section 2.1.3; Li
            2017, section 3.1.2), the same for all frames of a window; landmarks are mirrored with it.
        landmarks: also give ``x["landmarks"]`` (AffWildNet with landmarks, Kollias 2019 section 4.2). A
            split with faces but no frame with landmarks is a :class:`ConfigError` (:func:`no_landmarks_error`)
            that says how to add them, not a model trained on zeros.
        tasks: which label keys ``y`` and ``sample_weight`` hold: ``"va"``, ``"expression"``.
        with_index: add a 4th dict ``{"video_id": [B], "frame": [B, (T)], "has_face": [B, (T)]}``
            so predictions can be mapped back to frames (frame -1: padding) and averaged per frame.
        repeat: ``None``: endless in training, one pass in evaluation. ``False`` in training gives
            one epoch of :func:`num_elements` elements (balanced too); ``True`` repeats evaluation.
        seed: seeds every random choice (shuffles, crops, flips, class draws).
        verify: check the shards' SHA-256 against the manifest before reading (sizes are always
            checked); a bad shard raises :class:`~tfaffect.errors.ShardError` naming it.
        cache: ``None`` (default): read, parse and decode the JPEGs of the chosen elements every time.
            ``"memory"``: decode every frame of ``split`` once, here, and keep it in memory
            (:func:`cache_bytes`: frames x S x S x 3 bytes for stored size S, plus labels; e.g.
            SynthAffect's default train split, about 11,000 frames at 112 px: ~0.4 GB); each batch is
            then gathered, randomly cropped and flipped from memory. Augmentation still differs
            from epoch to epoch (the cache holds the stored frames, before any crop or flip) and
            balancing works as without it. Refused with :class:`~tfaffect.errors.ConfigError`,
            before anything is decoded, when that memory exceeds ``cache_budget``.
        cache_budget: bytes ``cache="memory"`` may use; default :data:`CACHE_MEMORY_FRACTION` of the
            memory available (``MemAvailable``) now. Without a cache it bounds the undecoded records
            that balanced training keeps in memory (the shard files' total size); above it, each class
            stream re-reads its shards instead (slower for rare classes, same proportions).
    """
    data_dir = os.fspath(data_dir)
    manifest = load_manifest(data_dir)
    if manifest.get("kind") == FEATURES_KIND:
        raise ConfigError(f"{data_dir} holds per-frame features, not images: read it with make_feature_dataset")
    length, stride, shards, epoch = _open_split(data_dir, manifest, split, mode=mode, seq_len=seq_len,
                                                stride=stride, training=training, verify=verify, tasks=tasks,
                                                balance=balance)
    stored = int(manifest["image_size"])
    crop = stored if crop is None else int(crop)
    if not 0 < crop <= stored:
        raise ConfigError(f"crop must be in 1..{stored} (the stored image size), got {crop}")
    image_size = crop if image_size is None else int(image_size)
    if batch_size < 1 or image_size < 1:
        raise ConfigError(f"batch_size and image_size must be >= 1, got {batch_size} and {image_size}")
    if landmarks:
        frames = sum(s["frames"] for s in shards)
        no_landmarks = sum(s["histogram"]["landmarks_invalid"] for s in shards)
        no_face = sum(s["histogram"]["no_face"] for s in shards)
        if no_landmarks == frames and no_face < frames:  # faces, but not one with landmarks
            raise no_landmarks_error(data_dir, manifest, [split])
    _log_unused(data_dir, split, shards, mode=mode, length=length, training=training)

    cut = _Cut(length, stride, evaluation=not training, faces_only=training and mode == "frames",
               landmarks=landmarks)
    sizes = dict(stored=stored, crop=crop, image_size=image_size)
    if cache is not None:
        if cache != "memory":
            raise ConfigError(f"cache must be None or 'memory', got {cache!r}")
        decoded = _DecodedSplit(data_dir, split, shards, cut.keys, stored, cache_budget)
        if balance is None:
            starts = cut.starts(decoded.columns)
            elements = _shuffled_forever(starts, seed) if training else tf.data.Dataset.from_tensor_slices(starts)
        else:
            elements = _balanced(data_dir, shards, manifest, balance, targets, seed,
                                 lambda cls, holding, class_seed: _shuffled_forever(
                                     cut.starts(decoded.columns, balance, cls), class_seed))
    else:
        elements = _elements(data_dir, split, shards, manifest, cut, training=training, balance=balance,
                             targets=targets, seed=seed, cache_budget=cache_budget)
    elements = _epochs(elements, training=training, repeat=repeat, epoch=epoch)

    if cache is not None:
        # Elements are start positions: cut, gather and augment a whole batch at once.
        batches = elements.batch(batch_size, drop_remainder=training)
        if training:
            draws = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True).batch(2)
            batches = tf.data.Dataset.zip(batches, draws).map(
                lambda chunk, draw: decoded.batch(cut, chunk, draw, flip=flip, **sizes),
                num_parallel_calls=tf.data.AUTOTUNE)
        else:
            batches = batches.map(lambda chunk: decoded.batch(cut, chunk, None, flip=False, **sizes),
                                  num_parallel_calls=tf.data.AUTOTUNE)
    else:
        if training:
            draws = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True).batch(2)
            elements = tf.data.Dataset.zip(elements, draws).map(
                lambda element, draw: _decode(element, draw, flip=flip, **sizes),
                num_parallel_calls=tf.data.AUTOTUNE)
        else:
            elements = elements.map(lambda element: _decode(element, None, flip=False, **sizes),
                                    num_parallel_calls=tf.data.AUTOTUNE)
        batches = elements.batch(batch_size, drop_remainder=training, num_parallel_calls=tf.data.AUTOTUNE)
    batches = batches.map(lambda batch: _finish(batch, landmarks=landmarks, tasks=tasks, squeeze=mode == "frames",
                                                with_index=with_index, **sizes))
    return batches.prefetch(tf.data.AUTOTUNE)


def _open_split(data_dir: str, manifest: Mapping, split: str, *, mode: str, seq_len: int | None, stride: int | None,
                training: bool, verify: bool, tasks: Sequence[str], balance: str | None
                ) -> tuple[int, int, list[dict], int]:
    """What image and feature shards check alike before a pipeline is built: ``(window length, stride, the
    split's shard entries, elements per epoch)``; ConfigError for bad arguments, ShardError for a bad shard."""
    length, stride = _window_args(mode, seq_len, stride, training)
    shards = split_shards(manifest, split)
    verify_shards(data_dir, split=split, checksums=verify, manifest=manifest)
    unknown_tasks = set(tasks) - {"va", "expression"}
    if unknown_tasks or not tasks:
        raise ConfigError(f"tasks must be a non-empty subset of ('va', 'expression'), got {tuple(tasks)}")
    if balance not in (None, "expression", "quadrant"):
        raise ConfigError(f"balance must be None, 'expression' or 'quadrant', got {balance!r}")
    if balance is not None and not training:
        raise ConfigError("balance applies to training only; evaluation reads every frame once")
    epoch = num_elements(data_dir, split, mode=mode, seq_len=length if mode == "windows" else None,
                         stride=stride if mode == "windows" else None, training=training, manifest=manifest)
    return length, stride, shards, epoch


def _log_unused(data_dir: str, split: str, shards: Sequence[Mapping], *, mode: str, length: int,
                training: bool) -> None:
    """Say which frames training leaves out: those of videos shorter than a window, those without a face."""
    if mode == "windows" and training:
        short = sum(n for s in shards for _, n in s["videos"] if n < length)
        if short:
            log.warning("%s/%s: %d frames lie in videos shorter than seq_len=%d and give no training window",
                        data_dir, split, short, length)
    if mode == "frames" and training:
        no_face = sum(s["histogram"]["no_face"] for s in shards)
        if no_face:
            log.info("%s/%s: %d frames without a face are not used for training", data_dir, split, no_face)


def _elements(data_dir: str, split: str, shards: Sequence[Mapping], manifest: Mapping, cut: _Cut, *,
              training: bool, balance: str | None, targets, seed: int, cache_budget: int | None) -> tf.data.Dataset:
    """The elements (labels and payload, undecoded) read from the shard files: in order (evaluation), shuffled
    (training) or balanced per class (training; the split's records kept in memory when they fit)."""
    length = cut.length
    if balance is None:
        return _stream(data_dir, shards, cut, training=training, seed=seed,
                       shuffle_buffer=max(1, SHUFFLE_FRAMES // length))
    if _RecordSplit.fits(shards, cache_budget):
        records = _RecordSplit(data_dir, split, shards, cut.keys)
        positions = _balanced(data_dir, shards, manifest, balance, targets, seed,
                              lambda cls, holding, class_seed: _shuffled_forever(
                                  cut.starts(records.columns, balance, cls), class_seed))
        return records.elements(cut, positions)
    log.info("%s/%s: the undecoded records do not fit in the memory budget; each class stream reads its "
             "shards again on every pass", data_dir, split)
    buffer = max(1, SHUFFLE_FRAMES // length // len(_class_names(balance, manifest)))
    return _balanced(data_dir, shards, manifest, balance, targets, seed,
                     lambda cls, holding, class_seed: _stream(
                         data_dir, holding, cut, training=True, seed=class_seed, balance=balance, cls=cls,
                         shuffle_buffer=buffer))


def _epochs(elements: tf.data.Dataset, *, training: bool, repeat: bool | None, epoch: int) -> tf.data.Dataset:
    """``repeat`` applied: training endless unless ``False`` (then one epoch of ``epoch`` elements); evaluation
    one pass unless ``True``. One evaluation pass states its length (``epoch`` elements, counted from the
    manifest), so consumers such as Keras ``fit`` know it without running it dry."""
    if training and repeat is False:
        return elements.take(epoch)
    if not training:
        return elements.repeat() if repeat else elements.apply(tf.data.experimental.assert_cardinality(epoch))
    return elements


def known_length(dataset: tf.data.Dataset) -> int | None:
    """The number of elements ``dataset`` states (one evaluation pass of :func:`make_dataset` or
    :func:`make_feature_dataset` states its batches, counted from the manifest); ``None`` when unknown or infinite."""
    elements = int(dataset.cardinality())
    return elements if elements >= 0 else None


def make_feature_dataset(data_dir: str | os.PathLike, split: str, *, batch_size: int, training: bool,
                         mode: str = "frames", seq_len: int | None = None, stride: int | None = None,
                         outputs: Sequence[str] | None = None, balance: str | None = None,
                         targets: Sequence[float] | Mapping[str, float] | None = None,
                         tasks: Sequence[str] = ("va", "expression"), with_index: bool = False,
                         repeat: bool | None = None, seed: int = 0, verify: bool = True,
                         cache_budget: int | None = None) -> tf.data.Dataset:
    """:func:`make_dataset` over a feature directory (:mod:`tfaffect.data.features`): the same cuts, order,
    shuffling, balancing, ``y``, ``sample_weight`` and ``with_index``, with ``x = {name: float32 [B, (T,)
    *shape]}`` for each output in ``outputs`` (default: all the directory has; shapes from its manifest).

    Frames and windows come out exactly as :func:`make_dataset` cuts the source images with the same
    arguments and ``seed`` (training frames: those with a face; windows within one video; evaluation:
    every frame, tail and padded windows), in the same order. There is nothing to crop, flip or decode,
    so ``crop``, ``image_size``, ``flip``, ``landmarks`` and ``cache`` do not apply.
    """
    data_dir = os.fspath(data_dir)
    manifest = load_feature_manifest(data_dir)
    names = list(manifest["outputs"]) if outputs is None else list(outputs)
    unknown = sorted(set(names) - set(manifest["outputs"]))
    if unknown or not names:
        raise ConfigError(f"outputs {unknown or names} not in {data_dir} (it has {', '.join(manifest['outputs'])})")
    shapes = {name: manifest["outputs"][name] for name in names}
    length, stride, shards, epoch = _open_split(data_dir, manifest, split, mode=mode, seq_len=seq_len,
                                                stride=stride, training=training, verify=verify, tasks=tasks,
                                                balance=balance)
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    _log_unused(data_dir, split, shards, mode=mode, length=length, training=training)
    cut = _Cut(length, stride, evaluation=not training, faces_only=training and mode == "frames", landmarks=False,
               payload=lambda serialized: parse_features(serialized, shapes))
    elements = _elements(data_dir, split, shards, manifest, cut, training=training, balance=balance,
                         targets=targets, seed=seed, cache_budget=cache_budget)
    batches = _epochs(elements, training=training, repeat=repeat, epoch=epoch).batch(
        batch_size, drop_remainder=training, num_parallel_calls=tf.data.AUTOTUNE)
    batches = batches.map(lambda batch: _finish(batch, landmarks=False, tasks=tasks, squeeze=mode == "frames",
                                                with_index=with_index, inputs=names))
    return batches.prefetch(tf.data.AUTOTUNE)


def _balanced(data_dir: str, shards: Sequence[Mapping], manifest: Mapping, balance: str, targets, seed: int,
              class_stream) -> tf.data.Dataset:
    """Endless stream drawing class ``c`` with probability ``targets[c]`` from per-class endless streams.

    ``class_stream(c, shards holding c, seed)`` gives the endless stream of class ``c``'s elements.
    """
    weights = _resolve_targets(balance, targets, manifest)
    names = _class_names(balance, manifest)
    key = "expression" if balance == "expression" else "quadrant"
    streams, used = [], []
    for cls, weight in enumerate(weights):
        if weight == 0:
            continue
        holding = [s for s in shards if s["histogram"][key][cls] > 0]
        if not holding:
            raise ConfigError(f"balance={balance!r}: class {names[cls]!r} has target {weight:.3f} but no frame "
                              f"of split {shards[0]['split'] if shards else '?'} in {data_dir} has it; give it "
                              "target 0")
        streams.append(class_stream(cls, holding, seed + 7919 * (cls + 1)))  # one seed per class
        used.append(weight)
    # stop_on_empty_dataset: a class with frames but no usable element (e.g. only in videos shorter
    # than seq_len) ends the stream instead of silently shifting the proportions. A new iteration
    # (an epoch of a repeat=False dataset) draws classes afresh.
    return tf.data.Dataset.sample_from_datasets(streams, weights=list(used), seed=seed, stop_on_empty_dataset=True,
                                                rerandomize_each_iteration=True)


# ----------------------------------------------------------------------------- cache="memory"


CACHE_MEMORY_FRACTION = 0.5
"""``cache="memory"`` refuses to decode more than this fraction of the memory available (``MemAvailable``)
when the pipeline is built, unless ``cache_budget`` says otherwise. Not fixed by the papers; half,
because building the cache briefly holds the decoded frames twice (numpy, then the tensor)."""

_LABEL_BYTES = 64
"""Bytes per frame of the cached label columns without landmarks (8 small columns and the video
id); landmarks add 68 x 2 x 4 + 8. Used only for the memory estimate."""


def _shuffled_forever(starts: tf.Tensor, seed: int) -> tf.data.Dataset:
    """The positions ``starts`` in a new random order every pass, endlessly (empty if ``starts`` is)."""
    n = int(tf.size(starts))
    return (tf.data.Dataset.from_tensor_slices(starts)
            .shuffle(max(1, n), seed=seed, reshuffle_each_iteration=True).repeat())


def _available_memory() -> int | None:
    """Bytes of memory available to new allocations without swapping (Linux ``MemAvailable``), or ``None``."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _memory_budget(budget: int | None) -> tuple[int | None, str]:
    """(bytes an in-memory copy of a split may take, what that figure is, for messages): ``budget`` if
    given, else :data:`CACHE_MEMORY_FRACTION` of the memory available now (``None`` if unknown)."""
    if budget is not None:
        return budget, "cache_budget"
    available = _available_memory()
    if available is None:
        return None, "unknown"
    return (int(CACHE_MEMORY_FRACTION * available),
            f"{CACHE_MEMORY_FRACTION:.0%} of the {available / 2**30:.1f} GiB available")


def cache_bytes(frames: int, image_size: int, landmarks: bool = False) -> int:
    """Memory that ``cache="memory"`` holds for ``frames`` frames stored at ``image_size`` px:
    ``frames x image_size x image_size x 3`` bytes of pixels plus the label columns."""
    return frames * (image_size * image_size * 3 + _LABEL_BYTES + (8 + 8 * NUM_LANDMARKS if landmarks else 0))


def _read_split(data_dir: str, split: str, shards: Sequence[Mapping], records_of, size) -> Iterator:
    """Batches of every record of ``split``, shard by shard in manifest order, for an in-memory copy.

    ``records_of(path)``: the ``tf.data`` pipeline over one shard file, iterated here; ``size(batch)``:
    the records in a batch. A truncated or corrupt record raises :class:`ShardError` naming the shard;
    a record count other than the manifest's raises it naming the manifest.
    """
    count = 0
    for entry in shards:
        path = os.path.join(data_dir, entry["file"])
        try:
            for batch in records_of(path):
                count += size(batch)
                yield batch
        except tf.errors.DataLossError as exc:
            raise ShardError(f"truncated or corrupt record ({exc.message.strip()})", path) from None
    expected = sum(s["frames"] for s in shards)
    if count != expected:
        raise ShardError(f"{count} records, the manifest says {expected} for split {split}",
                         os.path.join(data_dir, MANIFEST_NAME))


class _RecordSplit:
    """Balanced training without a cache: every record of a split read once, kept undecoded in memory.

    ``serialized``: the records ``[N]`` in manifest order (labels and still-encoded JPEG, about the
    shard files' size); ``columns``: the label columns ``[N]`` the cut needs. Each class then draws
    start positions from a fresh permutation of its elements every pass (as ``cache="memory"``
    does), and only the drawn elements have their JPEGs parsed and decoded. Without this, every
    class stream re-read the shards holding its class on every pass and kept only its share: a
    class with 3 % of the frames cost ~6 us / 0.03 = 200 us of reading per element drawn.
    """

    def __init__(self, data_dir: str, split: str, shards: Sequence[Mapping], keys: Sequence[str]):
        serialized = list(_read_split(data_dir, split, shards,
                                      lambda path: tf.data.TFRecordDataset(path).batch(GATHER_FRAMES),
                                      lambda batch: int(tf.size(batch))))
        with tf.device("/CPU:0"):
            self.serialized = tf.concat(serialized, axis=0) if serialized else tf.zeros([0], tf.string)
            self.columns = parse_examples(self.serialized, keys=keys)
        log.info("%s/%s: %d undecoded records kept in memory for balanced sampling (%.1f MiB)", data_dir, split,
                 int(tf.size(self.serialized)), self.bytes(shards) / 2**20)

    @staticmethod
    def bytes(shards: Sequence[Mapping]) -> int:
        """Memory the records of ``shards`` take: their files' size (the manifest's ``bytes``)."""
        return sum(s["bytes"] for s in shards)

    @classmethod
    def fits(cls, shards: Sequence[Mapping], budget: int | None) -> bool:
        """Whether the records of ``shards`` fit in ``budget`` (see :func:`_memory_budget`)."""
        budget, _ = _memory_budget(budget)
        return budget is not None and cls.bytes(shards) <= budget

    def elements(self, cut: _Cut, positions: tf.data.Dataset) -> tf.data.Dataset:
        """Start positions -> elements with their label columns and still-encoded JPEGs, as
        :meth:`_Cut.elements` gives them (gathered a chunk of positions at a time)."""
        chunk = max(1, GATHER_FRAMES // cut.length)
        return (positions.batch(chunk)
                .map(lambda starts: cut.gather_records(self.columns, self.serialized, starts),
                     num_parallel_calls=tf.data.AUTOTUNE).unbatch())


class _DecodedSplit:
    """``cache="memory"``: every frame of a split decoded once, kept in memory with its labels.

    ``images``: uint8 ``[N, S, S, 3]`` in manifest order (zeros where there is no face); ``columns``:
    the label columns ``[N]`` the cut needs. Elements are then start positions into these, and a
    batch is gathered, cropped and flipped in a few vectorised ops (:meth:`batch`): no file read,
    no parse, no JPEG decode after this.
    """

    def __init__(self, data_dir: str, split: str, shards: Sequence[Mapping], keys: Sequence[str], stored: int,
                 budget: int | None):
        from tqdm.auto import tqdm

        frames = sum(s["frames"] for s in shards)
        need = cache_bytes(frames, stored, "landmarks" in keys)
        budget, what = _memory_budget(budget)
        if budget is None:
            raise ConfigError("cache='memory': cannot tell how much memory is available here; pass "
                              "cache_budget=BYTES")
        if need > budget:
            raise ConfigError(
                f"cache='memory' for {data_dir}/{split} needs {need / 2**30:.2f} GiB ({frames} frames x "
                f"{stored}x{stored}x3 bytes + labels), above the budget of {budget / 2**30:.2f} GiB ({what}); "
                "use cache=None (decode every time) or pass a larger cache_budget if the memory is there")
        images = np.empty((frames, stored, stored, 3), np.uint8)
        columns: dict[str, list[np.ndarray]] = {key: [] for key in keys}
        parse_keys = tuple(keys) + ("image",)

        def decode_record(serialized):
            parsed = parse_examples(serialized, keys=parse_keys)
            return {**parsed, "image": decode_face(parsed["image"], stored)}

        def decoded(path):
            records = tf.data.TFRecordDataset(path).map(decode_record, num_parallel_calls=tf.data.AUTOTUNE)
            return records.batch(GATHER_FRAMES).as_numpy_iterator()

        position = 0
        with tqdm(total=frames, unit="frame", desc=f"decode {split} into memory", disable=None,
                  dynamic_ncols=True) as bar:
            for batch in _read_split(data_dir, split, shards, decoded, lambda batch: len(batch["frame"])):
                n = len(batch["frame"])
                if position + n > frames:  # more records than the manifest: _read_split names it at the end
                    position += n
                    continue
                images[position:position + n] = batch.pop("image")
                for key, value in batch.items():
                    columns[key].append(value)
                position += n
                bar.update(n)
        with tf.device("/CPU:0"):
            self.images = tf.convert_to_tensor(images)
            self.columns = {key: tf.convert_to_tensor(np.concatenate(values)) for key, values in columns.items()}
        log.info("%s/%s: %d frames decoded into memory (%.2f GiB)", data_dir, split, frames, need / 2**30)

    def batch(self, cut: _Cut, chunk: tf.Tensor, seed: tf.Tensor | None, *, stored: int, crop: int,
              image_size: int, flip: bool) -> dict[str, tf.Tensor]:
        """Elements starting at ``chunk`` (``[B]``) -> the batch :func:`_decode` + ``batch`` would give.

        ``seed`` (training) draws a crop offset and a flip decision per element, as :func:`_decode`
        does (different draws, same distribution); without it the crop is centred and nothing is flipped.
        """
        batch, index = cut.gather(self.columns, chunk)
        images = tf.gather(self.images, index)  # [B, L, S, S, 3]
        size = tf.shape(chunk)[0]
        if seed is not None:
            offset = tf.random.stateless_uniform([size, 2], seed, 0, stored - crop + 1, dtype=tf.int32)
        else:
            offset = tf.fill([size, 2], (stored - crop) // 2)
        if crop != stored and seed is None:
            o = (stored - crop) // 2
            images = images[:, :, o:o + crop, o:o + crop]
        elif crop != stored:
            # Training batches have a static size (drop_remainder). One slice per element: on uint8
            # this beat gathering rows and columns (3-byte slices) several times over.
            images = tf.stack([images[b, :, offset[b, 1]:offset[b, 1] + crop, offset[b, 0]:offset[b, 0] + crop]
                               for b in range(chunk.shape[0])])
        if crop != image_size:
            resized = resize_uint8(tf.reshape(images, [-1, crop, crop, 3]), image_size, image_size)
            images = tf.reshape(resized, tf.concat([tf.shape(images)[:2], [image_size, image_size, 3]], axis=0))
        if seed is not None and flip:
            mirrored = tf.random.stateless_uniform([size], seed + 1) < 0.5
            # Flip all, then keep per element the flipped or the original (a gather of whole images).
            both = tf.concat([images, _flip_width(images)], axis=0)
            images = tf.gather(both, tf.range(size) + size * tf.cast(mirrored, tf.int32))
        else:
            mirrored = tf.zeros([size], tf.bool)
        return {**batch, "image": images, "offset": offset, "mirrored": mirrored}


__all__ = ["CACHE_MEMORY_FRACTION", "KOLLIAS_QUADRANT_TARGETS", "MIRROR_68", "cache_bytes", "known_length",
           "make_dataset", "make_feature_dataset", "no_landmarks_error", "num_elements"]
