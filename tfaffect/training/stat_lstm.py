"""What the Do, Nguyen-Quynh & Kim 2020 recipes share: data, model, loss, metrics and the final evaluation.

The published result is ``recipes/stat_lstm.py`` (Table II, one named row per Table I model,
``--row "model 4"``), a subclass of :class:`StatLSTMRecipe`. What the paper fixes, with its citation:

* The six derivation models of Table I (:data:`tfaffect.models.stat_lstm.TABLE_I`): image only, STAT,
  STAT + LSTM, each expression-only or expression + valence/arousal.
* Window of s = 16 frames, the current frame and the previous ones (section II.A; "16 or 32",
  section III.B); input 224x224 (released code, FORMATS.md).
* Loss, eq. 4: 1.0 CE + 0.4 CCC(arousal) + 0.4 CCC(valence) + 0.2 MSE(5-vector)
  (:func:`~tfaffect.losses.stat_lstm_losses`); the 5-vector target is mapped over the data
  with :func:`add_five_vector_target`.
* "SGD, Adam optimizer ... learning rate 0.0001 for all models" (section III.A); which optimizer gave
  which row is not said: Adam is the default, ``--optimizer sgd`` the other.
* Balanced expression sampling and online data augmentation on every batch (section I); which
  augmentations is not said: here a random crop of ``crop_fraction`` of the side resized back, and a
  horizontal flip (the pipeline's two).
* Metrics (section III.C): accuracy, macro F1, expression score 0.67 F1 + 0.33 Acc (eq. 5), CCC per
  dimension (eq. 6) and VA score = their mean (eq. 7).

What the paper leaves open (neither it nor the released code, which has no training script, fixes
it): batch size, epochs, the crop, and how windows are cut for training. Temporal models (3-6) train
here on **clips** of ``clip_length`` frames: the backbone runs once per frame and every frame is
predicted from its causal window (``StatLSTMNet``'s efficient formulation); the loss counts only the
frames whose whole window lies inside the clip (``t >= window - 1``), so every labelled prediction
sees s real frames, as the paper's one-label-per-window training does, but 17 windows of 16 share
one backbone pass over 32 frames. Evaluation runs each whole video (:meth:`StatLSTMRecipe.predictor`):
the face model on every frame once, then the temporal part over the video's whole sequence, so every
frame's window holds its real previous frames (only a video's first ``window - 1`` frames see a window
padded by repeating its first frame, as the model does at the start of any sequence).

``face_features="cached"`` (temporal models, a deviation chosen for speed): the paper fine-tunes the last ResNet
stage together with the temporal model (section II.C); "cached" freezes the whole face model instead, so its
per-frame outputs (features and expression scores) are extracted once into the per-frame feature cache
(:class:`~tfaffect.training.features.FeatureStage`, from the ``face_pretrain`` stage's trained model or from
``face_weights``) and the temporal model (``StatLSTMNet(frame_input="features")``) trains on them: the same clips,
order, shuffling and balancing, but no crop or flip augmentation (the features are those of the centred crop, as
the evaluation sees it) and no face dropout. Its saved ``model.keras`` takes ``{"features", "scores"}``;
:meth:`StatLSTMRecipe.image_model` gives the image-input model (the face model composed with it).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

import keras
import numpy as np

from tfaffect import published
from tfaffect.errors import ConfigError, DataError, MissingResourceError
from tfaffect.io import atomic_path
from tfaffect.models.saving import load_model
from tfaffect.losses import five_vector_target, stat_lstm_losses
from tfaffect.models import stat_lstm as net
from tfaffect.training.features import FeatureStage
from tfaffect.training.stages import RecipeStage, stage_dir
from tfaffect.training.task import AffectTask, per_video_sequences
from tfaffect.training.recipe import Recipe, hparam

log = logging.getLogger(__name__)

DO2020 = "do2020"
VA_OUTPUTS = ("arousal", "valence", "va_aux")
"""The tanh output layers of the multi-task models' regression branches (``output_init``)."""
PAPER = published.PAPERS[DO2020]


def add_five_vector_target(x, y, sample_weight):
    """Map an element ``(x, y, sample_weight)`` of the data contract to one with ``y["va_aux"]`` and its weight.

    ``y["va_aux"] = five_vector_target(y["va"])``, ``sample_weight["va_aux"] = sample_weight["va"]``;
    use as ``dataset.map(add_five_vector_target)`` for the multi-task models (``va=True``).
    """
    y = {**y, "va_aux": five_vector_target(y["va"])}
    sample_weight = {**sample_weight, "va_aux": sample_weight["va"]}
    return x, y, sample_weight


def keep_both_label_kinds(x, y, sample_weight, *index):
    """Map an element of the data contract (with or without its index) to one whose frames keep their labels only
    where they have both kinds, valence/arousal and an expression: the others get NaN / -1 and weight 0 (Do 2020,
    section III.A: the valence-arousal data are the videos with both labels)."""
    import tensorflow as tf

    both = tf.reduce_all(tf.math.is_finite(y["va"]), axis=-1) & (y["expression"] >= 0)
    y = {**y, "va": tf.where(both[..., tf.newaxis], y["va"], tf.constant(float("nan"), y["va"].dtype)),
         "expression": tf.where(both, y["expression"], tf.constant(-1, y["expression"].dtype))}
    sample_weight = {k: w * tf.cast(both, w.dtype) for k, w in sample_weight.items()}
    return (x, y, sample_weight, *index)


@dataclasses.dataclass(frozen=True)
class StatLSTMRecipe(AffectTask):
    """Base of the Do 2020 recipes (not a published result itself)."""

    paper: ClassVar[str] = PAPER
    input_fields: ClassVar[tuple[str, ...]] = (*AffectTask.input_fields, "face_weights", "members")
    protocols: ClassVar[tuple[str, ...]] = ("face",)
    headline: ClassVar[tuple[str, ...]] = ("accuracy", "f1_macro", "expression_score", "ccc_arousal", "ccc_valence",
                                           "va_score")
    """Table II's columns (Acc., F1, Expr. Score, Aro., Val., VA Score), the order the summary prints."""

    model: int = hparam(4, "Table I model number 1..6 (1-2 image only, 3-4 STAT, 5-6 STAT + LSTM; even = "
                           "expression + valence/arousal)")
    window: int = hparam(net.WINDOW, "s, frames per causal window incl. the current one (section II.A; "
                                     "16 or 32, section III.B)")
    clip_length: int = hparam(
        32, "frames per training/evaluation clip of the temporal models; not fixed by the paper; 2 s "
            "leaves 17 full windows of 16 per clip (see the module docstring)")
    feature_stats: tuple[str, ...] = hparam(
        net.STATS, "STAT over the face features: max min mean per section II.C's text; none (empty) as "
                   "the Fig. 2 caption and the released models 4 and 6", source="paper")
    lstm_layers: int = hparam(net.LSTM_LAYERS, "bidirectional LSTM layers: 'one or two' (section II.C); 2 "
                                               "in the released code")
    lstm_units: int = hparam(net.LSTM_UNITS, "units per LSTM direction: 1024 (section II.C)")
    head_units: tuple[int, ...] = hparam(
        net.HEAD_UNITS, "hidden widths of every head branch: 'two dense layers' without sizes (section "
                        "II.C); 1024 1024 in the released sel_t8/sel_t15 notebooks")
    trainable_stages: int = hparam(net.TRAINABLE_STAGES, "ResNet-50 stages left trainable: the last one "
                                                         "(section II.C)")
    bn_momentum: Optional[float] = hparam(
        None, "momentum of the ResNet-50 batch-norm moving statistics; none = the backbone's 0.99 (Keras "
              "default, as the released Keras 2 code); see the recipe's synthaffect overlay")
    face_pretrain: Optional[int] = hparam(
        None, "temporal models: first train this image-only Table I model (1 or 2) on the same data and "
              "start from its face feature model, a stand-in for the face model the paper fine-tunes before "
              "the temporal models (section II.B); none = face_weights or random initialisation")
    face_pretrain_budget: tuple[int, ...] = hparam(
        (), "face_pretrain's own budget: EPOCHS STEPS_PER_EPOCH FRAMES_PER_STEP (its batch of independent frames); "
            "empty = this recipe's epochs and max_steps_per_epoch, batch_size * clip_length frames per step (the "
            "paper's face model is trained separately, on other data: section III.A)", source="chosen (paper silent)")
    face_weights: Optional[str] = hparam(
        None, "local .weights.h5 of face feature weights (the paper fine-tunes VGGFace2 on AffectNet and RAF-DB, "
              "section III.A; `tfaffect convert stat-lstm-face` converts the released Keras 2 .h5); none = random "
              "initialisation", source="chosen (paper silent)")
    face_features: Literal["end_to_end", "cached"] = hparam(
        "end_to_end", "temporal models: 'end_to_end' trains the face model's last stage(s) with the temporal model "
                      "from images (section II.C); 'cached' freezes the whole face model and trains on its per-frame "
                      "outputs extracted once (feature cache; no crop/flip/face dropout; needs face_pretrain or "
                      "face_weights; chosen: speed)", source="paper")
    image_size: int = hparam(net.DEFAULT_IMAGE_SIZE, "input side: 224x224 (released code, FORMATS.md)")
    label_frames: Literal["both", "any"] = hparam(
        "both", "multi-task models: 'both' trains and scores only the frames with a valence/arousal and an expression "
                "label (section III.A: the valence-arousal data are the videos with both label kinds, 194 / 57); "
                "'any' = each task's labelled frames (the union). Per frame, not per video: within the videos "
                "annotated for both, a frame missing one label is left out too (chosen: the element is the frame)")
    balanced_sampling: bool = hparam(True, "draw training examples with equal expression shares (section I: "
                                           "'balance emotion sampling'); the class of a clip is its last frame's")
    flip: bool = hparam(True, "online augmentation (section I): random horizontal flip; which augmentations "
                              "is not fixed by the paper")
    crop_fraction: float = hparam(
        0.875, "online augmentation: random square crop of this fraction of the side, resized back "
               "(centred in evaluation); not fixed by the paper, 7/8 as 112 of 128 in Li 2017; 1 = none")
    output_init: Literal["glorot", "zeros"] = hparam(
        "glorot", "initialisation of the valence/arousal output layers (arousal, valence, va_aux): Keras's default "
                  "(Glorot-uniform kernel, zero bias), or 'zeros', a zero kernel, so that the tanh outputs start at 0 "
                  "(unsaturated) and the first steps can only correlate them with the labels. The paper names no "
                  "initialisation (see the recipe's SynthAffect overlay for where 'zeros' is used and why)",
        source="chosen (paper silent)")
    optimizer: Literal["adam", "sgd"] = hparam("adam", "'SGD, Adam optimizer' (section III.A); which for "
                                                       "which row is not said")
    learning_rate: float = hparam(1e-4, "0.0001 for all models (section III.A)")
    batch_size: int = hparam(8, "frames (models 1-2) or clips (3-6) per batch; not fixed by the paper")
    epochs: int = hparam(10, "not fixed by the paper ('took the best model after hyper-parameter tuning', "
                             "section III.A); 10 chosen, the best epoch is kept by val_loss")

    # --------------------------------------------------------------------------------------------

    def published_keys(self) -> tuple[tuple[str, str, str], ...]:
        """Table II's row of this Table I model."""
        return ((DO2020, "Table II", str(self.model)),)

    @property
    def spec(self) -> dict[str, Any]:
        """Table I's arguments for this model number."""
        return net.TABLE_I[self.model]

    @property
    def temporal(self) -> bool:
        return self.spec["temporal"] != "none"

    @property
    def multitask(self) -> bool:
        return self.spec["va"]

    def validate(self):
        super().validate()
        where = type(self).__name__
        if self.model not in net.TABLE_I:
            raise ConfigError(f"{where}.model = {self.model}: Table I has models 1..6")
        if self.window < 1 or self.clip_length < self.window:
            raise ConfigError(f"{where}: window >= 1 and clip_length >= window needed (a clip must hold one "
                              f"full window), got window={self.window}, clip_length={self.clip_length}")
        if not 0 < self.crop_fraction <= 1:
            raise ConfigError(f"{where}.crop_fraction = {self.crop_fraction}: must be in (0, 1]")
        if self.image_size < 32:
            raise ConfigError(f"{where}.image_size = {self.image_size}: ResNet-50 needs at least 32")
        if self.face_pretrain is not None and (self.face_pretrain not in (1, 2) or not self.temporal
                                               or self.face_weights is not None):
            raise ConfigError(f"{where}.face_pretrain = {self.face_pretrain}: an image model 1 or 2, for a "
                              f"temporal model (3-6) without face_weights")
        if self.face_pretrain_budget and (len(self.face_pretrain_budget) != 3 or min(self.face_pretrain_budget) < 1):
            raise ConfigError(f"{where}.face_pretrain_budget = {self.face_pretrain_budget}: three numbers >= 1 "
                              "(epochs, steps per epoch, frames per step) or none")
        if self.face_features == "cached" and not self.temporal:
            raise ConfigError(f"{where}.face_features = 'cached': cached per-frame face features feed a temporal "
                              f"model (3-6); model {self.model} is an image model")

    def smoke_overrides(self) -> dict[str, Any]:
        # The tiny smoke dataset does not hold all 7 expressions: no balancing there.
        return {**super().smoke_overrides(), "image_size": 32, "window": 3, "clip_length": 5, "batch_size": 2,
                "lstm_units": 8, "lstm_layers": 1, "head_units": (16,), "balanced_sampling": False,
                "face_pretrain_budget": ()}


    # --------------------------------------------------------------------------------------------
    # Model and loss.

    def build_model(self) -> keras.Model:
        cached = self.face_features == "cached"  # the face model's outputs are the inputs
        model = net.table1_model(
            self.model, window=self.window, feature_stats=self.feature_stats, lstm_layers=self.lstm_layers,
            lstm_units=self.lstm_units, class_units=self.head_units, regression_units=self.head_units,
            image_size=self.image_size, trainable_stages=self.trainable_stages,
            bn_momentum=self.bn_momentum, frame_input="features" if cached else "image",
            face_weights=None if cached else self.face_init())
        if self.output_init == "zeros" and self.multitask:
            for name in VA_OUTPUTS:  # the heads are always fresh: the face model is all that is loaded
                kernel, bias = model.get_layer(name).get_weights()
                model.get_layer(name).set_weights([np.zeros_like(kernel), bias])
        return model

    def image_model(self, run_dir: str | os.PathLike) -> keras.Model:
        """The image-input model of this recipe's finished run in ``run_dir``: its ``model.keras``, which for
        ``face_features="cached"`` takes features, composed with the face model they were extracted with
        (:meth:`face_init`; :func:`~tfaffect.models.stat_lstm.with_frame_input`)."""
        model = load_model(Path(run_dir) / "model.keras")
        if self.face_features == "end_to_end":
            return model
        return net.with_frame_input(model, "image", self.face_init())

    def compile_args(self, learning_rate) -> dict[str, Any]:
        from tfaffect import metrics

        if self.optimizer == "adam":
            optimizer = keras.optimizers.Adam(learning_rate)  # section III.A
        else:
            optimizer = keras.optimizers.SGD(learning_rate)  # section III.A; momentum not given: none
        # weighted: Keras applies sample_weight (invalid frames = 0) to weighted_metrics only
        weighted = {"expression": [metrics.ExpressionAccuracy(name="accuracy"),
                                   metrics.ExpressionF1(average="macro", name="f1_macro"),
                                   metrics.ABAWExpressionScore(name="score")]}  # eq. 5; logged "expression_score"
        if self.multitask:
            weighted["va"] = [metrics.ConcordanceCC(dim=None, name="score"),  # eq. 7, mean of eq. 6; logged "va_score"
                              metrics.ConcordanceCC(dim=0, name="ccc_valence"),
                              metrics.ConcordanceCC(dim=1, name="ccc_arousal")]
        return {"optimizer": optimizer, **stat_lstm_losses(va=self.multitask),  # eq. 4
                "weighted_metrics": weighted}

    # --------------------------------------------------------------------------------------------
    # Data.

    def dataset_args(self, training: bool) -> dict[str, Any]:
        args = {"image_size": self.image_size, "crop": round(self.crop_fraction * self.image_size),
                "tasks": ("va", "expression") if self.multitask else ("expression",), "seed": self.seed}
        if self.temporal:  # consecutive clips; evaluation covers every frame once
            args.update(mode="windows", seq_len=self.clip_length, stride=self.clip_length)
        return args

    def sampling_args(self) -> dict[str, Any]:
        return {"flip": self.flip, "balance": "expression" if self.balanced_sampling else None}

    def read(self, split: str, **kwargs):
        """Multi-task models with ``label_frames="both"``: only the frames with both label kinds keep their labels
        (:func:`keep_both_label_kinds`). ``face_features="cached"``: the face model's per-frame outputs from the feature cache
        (:func:`~tfaffect.data.pipeline.make_feature_dataset`: the clips, order, shuffling and balancing of the
        images), without the image-only arguments (:data:`IMAGE_ONLY`: no crop, flip or resize of features).
        Otherwise the images (:meth:`AffectTask.read`)."""
        if self.face_features == "end_to_end":
            dataset = super().read(split, **kwargs)
        else:
            from tfaffect.data.pipeline import make_feature_dataset

            kwargs = {k: v for k, v in kwargs.items() if k not in IMAGE_ONLY}
            dataset = make_feature_dataset(self.stage_dir("features"), split, **kwargs)
        if self.multitask and self.label_frames == "both":
            dataset = dataset.map(keep_both_label_kinds)
        return dataset

    def predictor(self, model: keras.Model, batches):
        """Temporal models are scored over each whole video: the face model per frame (in the evaluation clips),
        then the temporal part over the video's whole sequence, so every frame's causal window holds its real
        previous frames, not the start of its evaluation clip (section II.A: each frame with the frames before
        it). Image models: frame by frame."""
        if not self.temporal:
            return super().predictor(model, batches)
        if self.face_features == "cached":  # the model takes the face model's per-frame outputs already
            return model.predict_on_batch, per_video_sequences(lambda x: x, batches)
        face, sequence = model.get_layer("face"), net.with_frame_input(model, "features")

        def frame_outputs(x):
            images = np.asarray(x["image"])
            clips, length = images.shape[:2]
            out = face.predict_on_batch({"image": images.reshape(clips * length, *images.shape[2:])})
            return {"features": np.asarray(out["features"]).reshape(clips, length, -1),
                    "scores": np.asarray(out["expression"]).reshape(clips, length, -1)}

        return sequence.predict_on_batch, per_video_sequences(frame_outputs, batches)

    def map_targets(self, data: Path, dataset, training: bool):
        """Add the 5-vector target (multi-task) and, in training, zero the loss of partial windows."""
        import tensorflow as tf

        if self.multitask:
            dataset = dataset.map(add_five_vector_target, num_parallel_calls=tf.data.AUTOTUNE)
        if self.temporal and training and self.window > 1:
            full = tf.cast(tf.range(self.clip_length) >= self.window - 1, tf.float32)[tf.newaxis]

            def full_windows_only(x, y, weight):
                return x, y, {k: w * full for k, w in weight.items()}

            dataset = dataset.map(full_windows_only, num_parallel_calls=tf.data.AUTOTUNE)
        return dataset

    def face_init(self) -> Optional[str]:
        """The face feature weights the model starts from: the pretrained face model's (``face_pretrain``),
        else ``face_weights`` (``None``: random initialisation)."""
        if self.face_pretrain is None:
            return self.face_weights
        run_dir = self.stage_dir("face")
        path = run_dir / "face.weights.h5"
        if not path.is_file():  # the face part of the stage's model, written once beside it
            model = load_model(run_dir / "model.keras")
            with atomic_path(path) as tmp:
                model.get_layer("face").save_weights(tmp)
        return str(path)

    def initial_weights_deviation(self) -> Optional[dict[str, Any]]:
        """The paper's face model is VGGFace2's ResNet-50 fine-tuned on AffectNet and RAF-DB (section III.A); without
        ``face_weights`` this run does not start from it."""
        if self.face_weights is not None:
            return None
        used = (f"Table I model {self.face_pretrain} trained first on this data (face_pretrain), from random "
                f"initialisation" if self.face_pretrain is not None else "random initialisation")
        return {"published": "face model: VGGFace2 ResNet-50 fine-tuned on AffectNet and RAF-DB (section III.A)",
                "used": used, "source": "paper"}

    def face_pretrain_recipe(self) -> "StatLSTMRecipe":
        """The image-model run ``face_pretrain`` asks for: this recipe with ``model = face_pretrain`` and the budget
        ``face_pretrain_budget`` (by default this recipe's, with the same frames per step: ``batch_size *
        clip_length``), everything else unchanged (data, optimizer, image size, label control)."""
        epochs, steps, frames = self.face_pretrain_budget or (self.epochs, self.max_steps_per_epoch,
                                                              self.batch_size * self.clip_length)
        return dataclasses.replace(self, model=self.face_pretrain, face_pretrain=None, face_pretrain_budget=(),
                                   row=None, epochs=epochs, max_steps_per_epoch=steps, batch_size=frames,
                                   face_features="end_to_end")

    def requires(self) -> dict[str, Any]:
        """``face_pretrain``: the image model whose face part this temporal model starts from; with
        ``face_features="cached"`` also the face model's per-frame outputs (:meth:`feature_stages`)."""
        stages = {} if self.face_pretrain is None else {"face": _stage(self.face_pretrain_recipe(), "stat_lstm_face")}
        if self.face_features == "cached":
            stages.update(self.feature_stages(stages.get("face")))
        return stages

    def feature_stages(self, face: Optional[RecipeStage]) -> dict[str, Any]:
        """``{"features": FeatureStage}``: the face model's ``features`` and ``scores`` (expression probabilities)
        per frame of the training and evaluation splits, the frames cut as the evaluation cuts them (centred
        crop, resized to ``image_size``). From the ``face`` stage's model (its nested ``face`` model), else from
        ``face_weights`` (through a :class:`FaceModelFile` stage, ``"face_model"``)."""
        where = f"{type(self).__name__}.face_features = 'cached'"
        if face is not None:
            stages, label = {}, f"model{face.recipe.model}_face"
            source, outputs = face, {"features": "face:features", "scores": "face:expression"}
        elif self.face_weights is not None:
            model_file = FaceModelFile(str(self.face_weights), image_size=self.image_size,
                                       trainable_stages=self.trainable_stages, bn_momentum=self.bn_momentum)
            stages, label = {"face_model": model_file}, "face_weights"
            source, outputs = str(stage_dir(model_file) / "model.keras"), {"features": "features",
                                                                           "scores": "predictions"}
        else:
            raise ConfigError(f"{where}: the features come from a trained face model: pass face_pretrain (1 or 2) "
                              "or face_weights")
        splits = tuple(dict.fromkeys((*self.train_splits(), self.evaluation_split(), self.final_split())))
        stages["features"] = FeatureStage(source, outputs, folder="stat_lstm_features", label=label,
                                          data=self.data_dir()[0], splits=splits,
                                          crop=round(self.crop_fraction * self.image_size), image_size=self.image_size)
        return stages

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        result = super().evaluate(model, run_dir)
        if "ccc_mean" in result:
            result["va_score"] = result["ccc_mean"]  # eq. 7
        return result



IMAGE_ONLY = ("image_size", "crop", "flip")
"""Dataset arguments of images that do not apply to cached features (see :meth:`StatLSTMRecipe.read`)."""


@dataclasses.dataclass(frozen=True)
class FaceModelFile:
    """A stage: the face feature model with ``weights`` (a ``.weights.h5`` file) loaded, saved as ``model.keras``
    in its directory, the source a :class:`~tfaffect.training.features.FeatureStage` extracts from when a cached
    run's face comes from ``face_weights``. Keyed by the weights file's content and the model's arguments."""

    weights: str
    image_size: int
    trainable_stages: int
    bn_momentum: Optional[float]
    folder: str = "stat_lstm_face"
    label: str = "face_weights"
    action: ClassVar[str] = "built"

    def args(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "trainable_stages": self.trainable_stages,
                "bn_momentum": self.bn_momentum}

    def fingerprint(self) -> bytes:
        from tfaffect.data.tfrecord import sha256_file

        weights = sha256_file(self.weights) if os.path.isfile(self.weights) else f"missing:{self.weights}"
        return hashlib.sha256(json.dumps([self.args(), weights], sort_keys=True).encode()).digest()

    def requires(self) -> dict[str, Any]:
        return {}

    def finished(self, run_dir: Path) -> bool:
        return (Path(run_dir) / "model.keras").is_file()

    def run(self, run_dir: Path, *, verbose: Optional[int] = None) -> None:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        model = net.FaceFeatureModel(**self.args(), weights_path=self.weights)
        with atomic_path(run_dir / "model.keras") as tmp:
            model.save(tmp)


MEMBER_BUDGET = ("model", "row", "smoke", "data", "epochs", "batch_size", "max_steps_per_epoch",
                 "max_validation_steps", "monitor", "monitor_mode", "keep_checkpoints", "face_pretrain",
                 "face_pretrain_budget")
"""Fields a fusion does not pass to the members it trains: each member keeps its own row, budget and batch."""


@dataclasses.dataclass(frozen=True)
class StatLSTMFusionRecipe(StatLSTMRecipe):
    """Base of the Do 2020 Fusion recipe: the average of trained member models' outputs (not trained itself).

    ``members`` names run directories of the member recipe (each holds ``model.keras`` and
    ``config.json``). Without them the fusion first trains ``member_models`` with the member recipe
    (:attr:`member_recipe`, set by the recipe file), each with that recipe's own budget (the demo
    budget on SynthAffect, the smoke budget under ``--smoke``) and with this recipe's values of the
    shared fields (data, image size, window, clip, architecture, optimizer, label control), in
    run directories under the cache (``$TFAFFECT_CACHE/stat_lstm_members/``, default
    ``~/.cache/tfaffect``), which a later fusion run reuses. The fused model has no trainable weight:
    the trainer's one step only logs the losses; the evaluation on the whole validation set is the
    result.
    """

    member_recipe: ClassVar[Optional[type]] = None
    """The recipe class that trains a member (``recipes/stat_lstm.py``'s), set by the recipe file."""

    members: tuple[str, ...] = hparam(
        (), "run directories of trained member models (each with model.keras and config.json); empty = "
            "train member_models first")
    member_models: tuple[int, ...] = hparam(
        (2, 4, 6), "Table I models to train and average when no members are given: 2, 4, 6, the models of "
                   "the track 1 submissions (Table III; section III.D); which models Table II's Fusion "
                   "averages is not said")
    epochs: int = hparam(1, "the fusion has no trainable weight: one epoch of one step only logs the losses")
    max_steps_per_epoch: Optional[int] = hparam(1, "one logging step (nothing is trained)")

    def published_keys(self) -> tuple[tuple[str, str, str], ...]:
        return ((DO2020, "Table II", "Fusion"),)

    def validate(self):
        super().validate()
        where = type(self).__name__
        if not self.members:
            unknown = [n for n in self.member_models if n not in net.TABLE_I]
            if len(self.member_models) < 2 or unknown or len(set(self.member_models)) != len(self.member_models):
                raise ConfigError(f"{where}.member_models = {self.member_models}: two or more distinct Table I "
                                  f"models 1..6 needed")
        elif len(self.members) < 2:
            raise ConfigError(f"{where}.members: a fusion averages two or more runs, got {list(self.members)}")

    def smoke_overrides(self) -> dict[str, Any]:
        # two members (an image model inside a clip fusion) keep the smoke run short
        return {**super().smoke_overrides(), "epochs": 1, "max_steps_per_epoch": 1, "max_validation_steps": 1,
                "member_models": (2, 4)}

    # --------------------------------------------------------------------------------------------
    # Members.

    def member_numbers(self) -> list[int]:
        """Table I model number of every member: from each member run's config.json, else ``member_models``."""
        if not self.members:
            return list(self.member_models)
        return [int(_member_config(run)["fields"]["model"]) for run in self.members]

    @property
    def temporal(self) -> bool:
        return any(net.TABLE_I[n]["temporal"] != "none" for n in self.member_numbers())

    @property
    def multitask(self) -> bool:
        return any(net.TABLE_I[n]["va"] for n in self.member_numbers())

    def predictor(self, model: keras.Model, batches):
        """The fusion is scored clip by clip (its members' outputs averaged per evaluation clip): it has no single
        face model to split at, so the whole-video scoring of the temporal members is not applied to it yet."""
        return AffectTask.predictor(self, model, batches)

    def member_recipes(self) -> list[Recipe]:
        """The member recipes this fusion trains (``members`` empty): the member rows with the shared fields."""
        return list(self._member_recipes)

    @functools.cached_property
    def _member_recipes(self) -> tuple[Recipe, ...]:
        """:meth:`member_recipes`, resolved once per recipe object (the runner and the stage lookups ask again)."""
        if self.member_recipe is None:
            raise ConfigError(f"{type(self).__name__}.member_recipe is not set")
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(StatLSTMRecipe)
                  if f.name not in MEMBER_BUDGET}
        if self.smoke:  # the fusion's smoke run checks the fusion; the members' own smoke runs pretrain faces
            shared["face_pretrain"] = None
        recipes = []
        for number in self.member_models:
            explicit = {"row": f"model {number}", **({"smoke": True} if self.smoke else {}),
                        **({"data": self.data} if self.data is not None else {})}
            recipes.append(dataclasses.replace(self.member_recipe.configure(explicit), **shared))
        return tuple(recipes)

    def requires(self) -> dict[str, RecipeStage]:
        """The member runs this fusion trains (``members`` empty), each with its own stages."""
        if self.members:
            return {}
        return {f"member{k}": _stage(recipe, "stat_lstm_members") for k, recipe in enumerate(self.member_recipes())}

    def member_runs(self) -> list[Path]:
        """Run directories of the members: ``members``, else the finished member stages."""
        if self.members:
            return [Path(run) for run in self.members]
        return [self.stage_dir(f"member{k}") for k in range(len(self.member_models))]

    def build_model(self) -> keras.Model:
        members = []
        for run in self.member_runs():
            config = _member_config(run)["fields"]
            for name in ("image_size", "window"):
                if config.get(name) != getattr(self, name):
                    raise ConfigError(f"{run}: member {name} = {config.get(name)}, this fusion uses "
                                      f"{getattr(self, name)}; pass --{name.replace('_', '-')} {config.get(name)}")
            path = run / "model.keras"
            if not path.is_file():
                raise MissingResourceError(f"{path} not found: is {run} a finished run of the member recipe?")
            members.append(load_model(path))
        return net.average_fusion(members)

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        result = super().evaluate(model, run_dir)
        runs = self.member_runs()
        result["members"] = [{"run_dir": str(run), "model": number} for run, number in zip(runs, self.member_numbers())]
        return result

    def summary(self, metrics) -> str:
        members = metrics.get("evaluation", {}).get("members", [])
        return "\n".join([super().summary(metrics)] + [f"member: Table I model {m['model']}: {m['run_dir']}"
                                                       for m in members])


def _stage(recipe: StatLSTMRecipe, folder: str) -> RecipeStage:
    """A face pretraining or fusion member: cached in ``$TFAFFECT_CACHE/<folder>/model<N>-<hash>``."""
    return RecipeStage(recipe, folder, f"model{recipe.model}")


def _member_config(run) -> dict[str, Any]:
    """A member run directory's config.json (fields of the recipe that trained it)."""
    path = Path(run) / "config.json"
    if not path.is_file():
        raise MissingResourceError(f"{path} not found: --members takes run directories of recipes/stat_lstm.py")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        int(config["fields"]["model"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise DataError(f"not a STAT + LSTM run configuration ({type(error).__name__}: {error})", str(path)) from error
    return config
