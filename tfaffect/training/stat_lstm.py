"""What the Do, Nguyen-Quynh & Kim 2020 recipes share: data, model, loss, metrics and the final evaluation.

The published result is ``recipes/stat_lstm.py`` (Table II, one named row per Table I model,
``--row "model 4"``), a subclass of :class:`StatLSTMRecipe`. What the paper fixes, with its citation:

* The six derivation models of Table I (:data:`tfaffect.models.stat_lstm.TABLE_I`): image only, STAT,
  STAT + LSTM, each expression-only or expression + valence/arousal.
* Window of s = 16 frames, the current frame and the previous ones (section II.A; "16 or 32",
  section III.B); input 224x224 (released code, FORMATS.md).
* Loss, eq. 4: 1.0 CE + 0.4 CCC(arousal) + 0.4 CCC(valence) + 0.2 MSE(5-vector)
  (:func:`~tfaffect.models.stat_lstm.stat_lstm_losses`); the 5-vector target is mapped over the data
  with :func:`~tfaffect.models.stat_lstm.add_five_vector_target`.
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
one backbone pass over 32 frames. Evaluation reads every frame once in consecutive clips of
``clip_length``; the first ``window - 1`` frames of each clip see a window padded by repeating the
clip's first frame (as at the start of a video), an approximation of the paper's per-frame windows
over the whole video.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

import keras

from tfaffect import published
from tfaffect.errors import ConfigError
from tfaffect.models import stat_lstm as net
from tfaffect.training.affwild import with_labels_of, write_frame_outputs
from tfaffect.training.data import resolve_data
from tfaffect.training.recipe import Recipe, hparam

log = logging.getLogger(__name__)

DO2020 = "do2020"
PAPER = published.PAPERS[DO2020]


@dataclasses.dataclass(frozen=True)
class StatLSTMRecipe(Recipe):
    """Base of the Do 2020 recipes (not a published result itself)."""

    paper: ClassVar[str] = PAPER
    published_table: ClassVar[str] = "Table II"
    """Table of :mod:`tfaffect.published` whose row named by the Table I model number this reproduces."""

    model: int = hparam(4, "Table I model number 1..6 (1-2 image only, 3-4 STAT, 5-6 STAT + LSTM; even = "
                           "expression + valence/arousal)")
    window: int = hparam(net.WINDOW, "s, frames per causal window incl. the current one (section II.A; "
                                     "16 or 32, section III.B)")
    clip_length: int = hparam(
        32, "frames per training/evaluation clip of the temporal models; not fixed by the paper; 2 s "
            "leaves 17 full windows of 16 per clip (see the module docstring)")
    feature_stats: tuple[str, ...] = hparam(
        net.STATS, "STAT over the face features: max min mean per section II.C's text; none (empty) as "
                   "the Fig. 2 caption and the released models 4 and 6")
    lstm_layers: int = hparam(net.LSTM_LAYERS, "bidirectional LSTM layers: 'one or two' (section II.C); 2 "
                                               "in the released code")
    lstm_units: int = hparam(net.LSTM_UNITS, "units per LSTM direction: 1024 (section II.C)")
    head_units: tuple[int, ...] = hparam(
        net.HEAD_UNITS, "hidden widths of every head branch: 'two dense layers' without sizes (section "
                        "II.C); 1024 1024 in the released sel_t8/sel_t15 notebooks")
    trainable_stages: int = hparam(net.TRAINABLE_STAGES, "ResNet-50 stages left trainable: the last one "
                                                         "(section II.C)")
    face_weights: Optional[str] = hparam(
        None, "local file of face feature weights (the paper fine-tunes VGGFace2 on AffectNet and RAF-DB, "
              "section III.A; the released Keras 2 .h5 loads too); none = random initialisation")
    image_size: int = hparam(net.DEFAULT_IMAGE_SIZE, "input side: 224x224 (released code, FORMATS.md)")
    balanced_sampling: bool = hparam(True, "draw training examples with equal expression shares (section I: "
                                           "'balance emotion sampling'); the class of a clip is its last frame's")
    flip: bool = hparam(True, "online augmentation (section I): random horizontal flip; which augmentations "
                              "is not fixed by the paper")
    crop_fraction: float = hparam(
        0.875, "online augmentation: random square crop of this fraction of the side, resized back "
               "(centred in evaluation); not fixed by the paper, 7/8 as 112 of 128 in Li 2017; 1 = none")
    optimizer: Literal["adam", "sgd"] = hparam("adam", "'SGD, Adam optimizer' (section III.A); which for "
                                                       "which row is not said")
    learning_rate: float = hparam(1e-4, "0.0001 for all models (section III.A)")
    batch_size: int = hparam(8, "frames (models 1-2) or clips (3-6) per batch; not fixed by the paper")
    epochs: int = hparam(10, "not fixed by the paper ('took the best model after hyper-parameter tuning', "
                             "section III.A); 10 chosen, the best epoch is kept by val_loss")
    label_control: Literal["none", "shuffled"] = hparam(
        "none", "learning check: 'shuffled' pairs every training image with the labels of an unrelated, "
                "independently drawn example (a control that must not learn)")

    # --------------------------------------------------------------------------------------------

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

    def smoke_overrides(self) -> dict[str, Any]:
        # The tiny smoke dataset does not hold all 7 expressions: no balancing there.
        return {**super().smoke_overrides(), "image_size": 32, "window": 3, "clip_length": 5, "batch_size": 2,
                "lstm_units": 8, "lstm_layers": 1, "head_units": (16,), "balanced_sampling": False}

    def synthetic_overrides(self) -> dict[str, Any]:
        """The demo budget on SynthAffect from random initialisation (every Do 2020 row):

        * image_size 64 instead of 224: ResNet-50 at 224 px trains at a few frames per second on 2 CPU
          cores; 64 px is ~12x cheaper;
        * trainable_stages 5 (the whole ResNet-50) instead of the last stage: the paper freezes stages
          of a network pretrained on VGGFace2, AffectNet and RAF-DB; frozen *random* stages would
          leave the model random features (assumed, not measured);
        * 4 epochs of at most 25 steps, 2 clips of 32 frames (models 3-6) or 32 frames (models 1-2) per
          step, validation on the first 8 batches during training (the whole validation set once
          at the end). Model 4: about 3 s per step, 5 min 20 s in all on 2 busy CPU cores (measured);
          it does not learn in this budget yet (see ``recipes/stat_lstm.py``).
        """
        budget = {"image_size": 64, "trainable_stages": 5, "epochs": 4, "max_steps_per_epoch": 25,
                  "max_validation_steps": 8}
        budget["batch_size"] = 2 if self.temporal else 32
        return budget

    # --------------------------------------------------------------------------------------------
    # Model and loss.

    def build_model(self) -> keras.Model:
        return net.table1_model(
            self.model, window=self.window, feature_stats=self.feature_stats, lstm_layers=self.lstm_layers,
            lstm_units=self.lstm_units, class_units=self.head_units, regression_units=self.head_units,
            image_size=self.image_size, trainable_stages=self.trainable_stages, face_weights=self.face_weights)

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
        return {"optimizer": optimizer, **net.stat_lstm_losses(va=self.multitask),  # eq. 4
                "weighted_metrics": weighted}

    # --------------------------------------------------------------------------------------------
    # Data.

    def data_dir(self) -> tuple[Path, bool]:
        return resolve_data(self.data, self.image_size, smoke=self.smoke)

    def _dataset_args(self, training: bool) -> dict[str, Any]:
        args = {"image_size": self.image_size, "crop": round(self.crop_fraction * self.image_size),
                "tasks": ("va", "expression") if self.multitask else ("expression",), "seed": self.seed}
        if self.temporal:  # consecutive clips; evaluation covers every frame once
            args.update(mode="windows", seq_len=self.clip_length, stride=self.clip_length)
        return args

    def _targets(self, dataset, training: bool):
        """Add the 5-vector target (multi-task) and, in training, zero the loss of partial windows."""
        import tensorflow as tf

        if self.multitask:
            dataset = dataset.map(net.add_five_vector_target, num_parallel_calls=tf.data.AUTOTUNE)
        if self.temporal and training and self.window > 1:
            full = tf.cast(tf.range(self.clip_length) >= self.window - 1, tf.float32)[tf.newaxis]

            def full_windows_only(x, y, weight):
                return x, y, {k: w * full for k, w in weight.items()}

            dataset = dataset.map(full_windows_only, num_parallel_calls=tf.data.AUTOTUNE)
        return dataset

    def datasets(self):
        from tfaffect.data.pipeline import make_dataset

        data, _ = self.data_dir()
        train_args = dict(self._dataset_args(True), batch_size=self.batch_size, training=True, repeat=False,
                          flip=self.flip, balance="expression" if self.balanced_sampling else None)
        train = make_dataset(data, "train", **train_args)
        if self.label_control == "shuffled":
            labels = make_dataset(data, "train", **{**train_args, "seed": self.seed + 7919})
            train = with_labels_of(train, labels)
        val = make_dataset(data, "validation", batch_size=self.batch_size, training=False,
                           **self._dataset_args(False))
        return self._targets(train, True), self._targets(val, False)

    # --------------------------------------------------------------------------------------------
    # After training: the challenge metrics on the whole validation set.

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        from tfaffect import evaluation
        from tfaffect.data.pipeline import make_dataset

        data, synthetic = self.data_dir()
        batches = make_dataset(data, "validation", batch_size=self.batch_size, training=False,
                               with_index=True, **self._dataset_args(False))
        scores, frames = evaluation.evaluate(model.predict_on_batch, batches.as_numpy_iterator())
        write_frame_outputs(frames, run_dir, "SynthAffect, synthetic" if synthetic else data.name)
        if "ccc_mean" in scores:
            scores["va_score"] = scores["ccc_mean"]  # eq. 7
        result = {"split": "validation", "data": str(data), "synthetic": synthetic, **scores,
                  "published_row": [DO2020, self.published_table, str(self.model)]}
        log.info("validation (%s): %s", "SynthAffect, synthetic" if synthetic else data,
                 ", ".join(f"{k} {scores[k]:.3f}" for k in _SUMMARY_KEYS if k in scores))
        return result

    def summary(self, metrics) -> str:
        """Where everything is, and ours beside the published row of Table II."""
        run_dir = Path(metrics["run_dir"])
        evaluation = metrics.get("evaluation", {})
        row = published.lookup(DO2020, self.published_table, str(self.model))
        lines = [f"run directory: {run_dir}",
                 f"{self.published_table}, model {self.model} ({row.dataset}), published vs ours "
                 f"({'SynthAffect, synthetic' if evaluation.get('synthetic') else evaluation.get('data')}):"]
        for key in _SUMMARY_KEYS:
            if key in row.metrics or key in evaluation:
                ours = evaluation.get(key)
                lines.append(f"  {key:17s} {row.metrics.get(key, float('nan')):6.3f}   "
                             f"{'-' if ours is None else format(ours, '6.3f')}")
        lines += [f"plots: {run_dir / 'plots'}", f"per-frame predictions: {run_dir / 'frames.csv'}",
                  f"model: {run_dir / 'model.keras'}",
                  f"training log: {run_dir / 'history.csv'} (TensorBoard: {run_dir / 'tensorboard'})",
                  f"deviations from the published values: {json.dumps(self.deviations())}"]
        return "\n".join(lines)


_SUMMARY_KEYS = ("accuracy", "f1_macro", "expression_score", "ccc_arousal", "ccc_valence", "va_score")
"""Table II's columns (Acc., F1, Expr. Score, Aro., Val., VA Score), the order the summary prints."""
