"""What the Aspandi 2021 (ANCLaF) recipes share: 5-fold cross-validation, eq. 9's adversarial training of the frame
model, the sequence curriculum on cached ZQ latents, and the scores of Tables 1-2.

Published results: ``recipes/anclaf_afew_va.py`` (Table 1, row "ANCLaF") and ``recipes/anclaf_s_afew_va.py``
(Table 1, rows "ANCLaF-S-n", ``--row "ANCLaF-S-8"``). What the paper and the released code fix, with citations on
the fields:

* **Frame model** (:class:`AnclafRecipe`): G, D and C trained together (section 3.4, eq. 9) with the released
  code's WGAN-GP (:class:`tfaffect.models.anclaf.AdversarialConfig`: gradient penalty 10, L1 reconstruction 10,
  quadrant loss 1, one G step per 5 critic steps, Adam 1e-4 betas 0.5 / 0.999), C on the current G and D's ZQ with
  the affect loss of eq. 10-14 (:class:`tfaffect.losses.AnclafAffectLoss`), its 10 x 10 inverse-frequency weights
  computed from the training folds' labels (:func:`tfaffect.losses.inverse_frequency_table`).
* **Protocol** (section 3.4, 4.1): 5-fold subject-independent cross-validation. ``fold=K`` trains on the other
  four folds and scores fold K; ``fold=None`` (what ``python recipes/<name>.py`` runs) trains the five folds and
  reports their mean (``cross_validation.json``). AFEW-VA is scored on its [-10, 10] scale (Table 1: RMSE, COR =
  Pearson, ICC; the labels are stored divided by 10, so RMSE is multiplied by 10, COR and ICC do not change).
  ICC is eq. 14's ``2 cov / (var_p + var_t)`` over all frames of the fold concatenated.
* **Sequence models** (:class:`AnclafSequenceRecipe`, section 3.2, 3.4): ANCLaF-S-n / -SA-n on the cached ZQ of
  the fold's trained frame model (a :class:`~tfaffect.training.features.FeatureStage` of its layer ``"zq"``),
  trained on clips of n consecutive frames (the LSTM state starts at zero at each clip, released code), with the
  same affect loss and optimizer ("the same experimental settings used to train ANCLaF", section 3.4). The
  curriculum is a chain of runner stages: S-2 starts from the frame model's C encoder and output layer (chosen:
  the paper's C network), S-n from the trained S-(n/2) (multi-stage transfer), SA-n from the trained S-n
  (:func:`~tfaffect.models.anclaf.attention_from_sequence`). Evaluation cuts every fold's videos into consecutive
  clips of n frames. A row's run also writes ``image_model.keras`` (G and D in front: what ``tfaffect export`` and
  ``tfaffect predict`` use; SA models output their attention weights too) and, for SA, ``plots/attention_*.png``.
* **-AVG rows** (Tables 1-2, ``average=True``): per fold the mean of the n = 2..32 stages' scores
  (:func:`mean_scores`), every n a cached stage shared with the curriculum and the rows; nothing is trained of its
  own (:meth:`AnclafSequenceRecipe.combine_stages`); the folds' mean is the row.

Left open by both (chosen, stated on the fields): epochs, where the sequence models' C encoder comes from, the
empty-cell weight of eq. 10.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Optional

import keras
import numpy as np

from tfaffect.errors import ConfigError
from tfaffect.losses import AnclafAffectLoss, inverse_frequency_table
from tfaffect.models import anclaf as net
from tfaffect.training.data import resolve_data
from tfaffect.training.features import FeatureStage
from tfaffect.training.recipe import hparam
from tfaffect.training.stages import RecipeStage
from tfaffect.training.task import AffectTask

log = logging.getLogger(__name__)

ASPANDI2021 = "aspandi2021"
NUM_FOLDS = 5  # Aspandi 2021, section 3.4: "subject-independent protocol (5-fold cross validation)"
AFEW_VA_SCALE = 10.0  # AFEW-VA labels are integers in [-10, 10] (FORMATS.md); Table 1 reports RMSE on that scale
FOLD_METRICS = ("rmse_valence", "rmse_arousal", "rmse_mean", "pcc_valence", "pcc_arousal", "pcc_mean",
                "icc_valence", "icc_arousal", "icc_mean", "ccc_valence", "ccc_arousal", "ccc_mean")
"""Scores averaged over the folds: Table 1's RMSE, COR (Pearson) and ICC, Table 2's CCC; "mean" = AVG."""


def icc(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Eq. 14 per column: ``2 cov(p, t) / (var_p + var_t)`` (population moments); 0 where both variances are 0."""
    true, pred = np.asarray(true, np.float64), np.asarray(pred, np.float64)
    e_t, e_p = true - true.mean(0), pred - pred.mean(0)
    denominator = (e_t ** 2).mean(0) + (e_p ** 2).mean(0)
    return np.where(denominator > 0, 2 * (e_t * e_p).mean(0) / np.where(denominator > 0, denominator, 1), 0.0)


def mean_scores(evaluations: list[Mapping[str, Any]]) -> dict[str, float]:
    """The mean of each :data:`FOLD_METRICS` score over ``evaluations`` (those every one has): the folds'
    mean (section 3.4) or an -AVG row's mean over the n rows (Tables 1-2)."""
    return {k: float(np.mean([e[k] for e in evaluations])) for k in FOLD_METRICS
            if evaluations and all(k in e for e in evaluations)}


@dataclasses.dataclass(frozen=True)
class AnclafRecipe(AffectTask):
    """Base of the Aspandi 2021 recipes: the frame model ANCLaF (eq. 1-3, 9), 5-fold cross-validated."""

    paper: ClassVar[str] = ASPANDI2021
    layout: ClassVar[str] = "afew_va"
    """The dataset (importer name) of the recipe; its SynthAffect layout is the default data."""
    label_scale: ClassVar[float] = AFEW_VA_SCALE
    protocols: ClassVar[tuple[str, ...]] = ("face",)
    headline: ClassVar[tuple[str, ...]] = ("rmse_valence", "rmse_arousal", "pcc_valence", "pcc_arousal",
                                           "icc_valence", "icc_arousal")
    """Table 1's columns (RMSE, COR, ICC; valence, arousal)."""

    fold: Optional[int] = hparam(
        None, f"held-out fold 0..{NUM_FOLDS - 1} for one run; none = all folds in turn and their mean (section "
              f"3.4: 5-fold subject-independent cross-validation)")
    image_size: int = hparam(net.IMAGE_SIZE, "input side: 128x128 (released code, FORMATS.md)")
    g_dim: int = hparam(net.G_DIM, "G's first conv width, doubled twice to Z's channels (released GeneratorMZR: 16)")
    residual_blocks: int = hparam(net.RESIDUAL_BLOCKS, "G's residual blocks, Z = the middle one's output "
                                                       "(released GeneratorMZR: 1)")
    d_dim: int = hparam(net.D_DIM, "D's first conv width, doubled per layer (released DiscriminatorM: 64)")
    d_layers: int = hparam(net.D_LAYERS, "D's 4x4 stride-2 convs (released DiscriminatorM: 6)")
    quadrant_head: Literal["quadrant", "va"] = hparam(
        "quadrant", "D's affect head: 4 quadrant logits (section 3.1) or 2 V-A values whose signs give Q (released "
                    "code)", source="paper")
    c_dim: int = hparam(net.C_DIM, "C's first conv width, doubled per conv to 1,024 (released Combiner: 64)")
    learning_rate: float = hparam(net.LEARNING_RATE, "Adam 1e-4 for G, D and C (released code, FORMATS.md)")
    batch_size: int = hparam(300, "frames per step (released code: batch 300, FORMATS.md)")
    epochs: int = hparam(10, "not fixed by the paper or FORMATS.md's facts of the released code; 10 chosen")
    gp_weight: float = hparam(net.GP_WEIGHT, "WGAN-GP gradient penalty weight (released code lambda_gp 10)")
    rec_weight: float = hparam(net.REC_WEIGHT, "L1 reconstruction weight of G (released code lambda_rec 10)")
    cls_weight: float = hparam(net.CLS_WEIGHT, "weight of D's quadrant loss (released code lambda_cls 1)")
    n_critic: int = hparam(net.N_CRITIC, "critic steps per G step, per iteration (released code: 5, stepped per "
                                         "epoch there, a bug not copied)")
    distort_probability: float = hparam(net.DISTORT_PROBABILITY, "share of G's inputs distorted (issue #17 item 1, "
                                                                  "after Aspandi 2019c)")
    grid_weights: bool = hparam(True, "eq. 10: weight every frame by the inverse frequency of its 10 x 10 V-A cell")

    # --------------------------------------------------------------------------------------------
    # Folds.

    def validate(self):
        super().validate()
        where = type(self).__name__
        if self.fold is not None and not 0 <= self.fold < NUM_FOLDS:
            raise ConfigError(f"{where}.fold = {self.fold}: must be in 0..{NUM_FOLDS - 1} or none")
        if self.n_critic < 1:
            raise ConfigError(f"{where}.n_critic = {self.n_critic}: must be >= 1")

    def smoke_overrides(self) -> dict[str, Any]:
        return {**super().smoke_overrides(), "fold": 0, "image_size": 32, "g_dim": 2, "d_dim": 2, "d_layers": 5,
                "c_dim": 4, "batch_size": 4}

    def _require_fold(self) -> int:
        if self.fold is None:
            raise ConfigError(f"{type(self).__name__}: fold=None means all {NUM_FOLDS} folds; train them with the "
                              f"runner (`python recipes/{self.recipe_name()}.py`) or pass --fold K")
        return self.fold

    def train_splits(self) -> tuple[str, ...]:
        fold = self._require_fold()
        return tuple(f"fold{k}" for k in range(NUM_FOLDS) if k != fold)

    def evaluation_split(self) -> str:
        return f"fold{self._require_fold()}"

    def folds(self):
        """``fold=None``: one recipe per fold, trained by the runner into ``<run_dir>/fold<K>``."""
        return [] if self.fold is not None else [dataclasses.replace(self, fold=k) for k in range(NUM_FOLDS)]

    def published_keys(self) -> tuple[tuple[str, str, str], ...]:
        # one fold is not the published protocol: only the mean over the folds names the rows
        return () if self.fold is not None else super().published_keys()

    def combine_folds(self, run_dir: Path, folds) -> dict[str, Any]:
        """Mean over the folds' evaluations -> ``cross_validation.json`` and ``metrics.json``."""
        from tfaffect.io import write_json_atomic

        evaluations = [fold["evaluation"] for fold in folds]
        mean = mean_scores(evaluations)
        std = {f"{k}_std": float(np.std([e[k] for e in evaluations])) for k in mean}
        evaluation = {"split": f"{NUM_FOLDS}-fold cross-validation", "data": evaluations[0]["data"],
                      "synthetic": evaluations[0]["synthetic"], **mean, **std, **self.published_entries()}
        result = {"recipe": self.recipe_name(), "run_dir": str(run_dir), "fields": self.to_dict(),
                  "final": mean, "evaluation": evaluation,
                  "folds": [{"fold": k, "run_dir": str(Path(run_dir) / f"fold{k}"),
                             **{m: e.get(m) for m in (*FOLD_METRICS, "frames")}} for k, e in enumerate(evaluations)]}
        write_json_atomic(Path(run_dir) / "cross_validation.json", result)
        write_json_atomic(Path(run_dir) / "metrics.json", result)
        return result

    def summary(self, metrics) -> str:
        if self.fold is not None:
            return super().summary(metrics)
        evaluation = metrics["evaluation"]
        keys = self.headline  # Table 1 (AFEW-VA): ICC; Table 2 (SEWA): CCC
        lines = [f"run directory: {metrics['run_dir']} ({NUM_FOLDS} folds, "
                 f"{'SynthAffect, synthetic' if evaluation['synthetic'] else evaluation['data']})",
                 "fold  " + "  ".join(f"{k:>12s}" for k in keys)]
        for fold in metrics["folds"]:
            lines.append(f"{fold['fold']:4d}  " + "  ".join(f"{fold.get(k) or 0:12.3f}" for k in keys))
        lines.append("mean  " + "  ".join(f"{evaluation[k]:12.3f}" for k in keys))
        for key in self.published_keys():
            from tfaffect import published

            row = published.lookup(*key)
            lines.append(f"{key[1]}, {key[2]} ({row.dataset}), published: "
                         + ", ".join(f"{k} {v:.3f}" for k, v in row.metrics.items()))
        lines.append(f"results: {Path(metrics['run_dir']) / 'cross_validation.json'}")
        return "\n".join(lines)

    # --------------------------------------------------------------------------------------------
    # Data.

    def data_dir(self) -> tuple[Path, bool]:
        return resolve_data(self.data, self.image_size, smoke=self.smoke, layout=self.layout)

    def dataset_args(self, training: bool) -> dict[str, Any]:
        return {"image_size": self.image_size, "tasks": ("va",), "seed": self.seed}

    def training_stream(self, data: Path, seed: int):
        """One epoch from the training folds, elements mixed in proportion to the folds' sizes."""
        import tensorflow as tf

        splits = self.train_splits()
        args = {k: v for k, v in self.training_args(seed).items() if k not in ("batch_size", "repeat")}
        sizes = [self.split_size(split, args) for split in splits]
        total = sum(sizes)
        if total < self.batch_size:
            raise ConfigError(f"{type(self).__name__}: {total} training elements in {', '.join(splits)}, fewer than "
                              f"one batch of {self.batch_size}")
        streams = [self.read(split, batch_size=1, repeat=None, **{**args, "seed": seed + 101 * k}).unbatch()
                   for k, split in enumerate(splits) if sizes[k]]
        weights = [n / total for n in sizes if n]
        mixed = tf.data.Dataset.sample_from_datasets(streams, weights=weights, seed=seed,
                                                     rerandomize_each_iteration=True)
        batches = mixed.take(total).batch(self.batch_size, drop_remainder=True)
        return batches.apply(tf.data.experimental.assert_cardinality(total // self.batch_size))

    def split_size(self, split: str, args: Mapping[str, Any]) -> int:
        """Training elements of ``split`` (frames, or windows in windows mode)."""
        from tfaffect.data.pipeline import num_elements

        window = {k: args[k] for k in ("mode", "seq_len", "stride") if k in args}
        return num_elements(self.data_dir()[0], split, training=True, **window)

    def training_labels(self) -> np.ndarray:
        """Valence/arousal ``[N, 2]`` of the training folds' valid frames (for eq. 10's weights)."""
        values = []
        for split in self.train_splits():
            for _, y, weight in self.read(split, batch_size=256, training=False,
                                          **self.dataset_args(False)).as_numpy_iterator():
                va, w = y["va"].reshape(-1, 2), weight["va"].reshape(-1)
                values.append(va[w > 0])
        return np.concatenate(values) if values else np.zeros((0, 2))

    # --------------------------------------------------------------------------------------------
    # Model.

    def architecture(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "g_dim": self.g_dim, "residual_blocks": self.residual_blocks,
                "d_dim": self.d_dim, "d_layers": self.d_layers, "quadrant_head": self.quadrant_head,
                "c_dim": self.c_dim}

    def build_model(self) -> keras.Model:
        return net.ANCLaFNet(**self.architecture())

    def affect_loss(self) -> AnclafAffectLoss:
        """Eq. 10-14, with the training folds' 10 x 10 inverse-frequency weights (``grid_weights``)."""
        return AnclafAffectLoss(inverse_frequency_table(self.training_labels()) if self.grid_weights else None)

    def optimizer(self, learning_rate):
        beta_1, beta_2 = net.ADAM_BETAS
        return keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2)

    def weighted_metrics(self) -> dict[str, Any]:
        from tfaffect import metrics

        return {"va": [metrics.ConcordanceCC(dim=0, name="ccc_valence"), metrics.ConcordanceCC(dim=1, name="ccc_arousal")]}

    def compile_args(self, learning_rate) -> dict[str, Any]:
        beta_1, beta_2 = net.ADAM_BETAS
        adversarial = net.AdversarialConfig(
            discriminator_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2),
            generator_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2),
            gp_weight=self.gp_weight, rec_weight=self.rec_weight, cls_weight=self.cls_weight, n_critic=self.n_critic,
            distort_probability=self.distort_probability, seed=self.seed)
        return {"optimizer": self.optimizer(learning_rate), "loss": {"va": self.affect_loss()},
                "weighted_metrics": self.weighted_metrics(), "adversarial": adversarial}

    # --------------------------------------------------------------------------------------------
    # Scores.

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        """The task base's evaluation, plus Table 1-2's RMSE (on the dataset's scale), ICC (eq. 14) and means."""
        import pandas as pd

        result = super().evaluate(model, run_dir)
        frames = pd.read_csv(Path(run_dir) / "frames.csv")
        frames = frames[frames["has_face"].astype(bool)]
        true = frames[["valence_true", "arousal_true"]].to_numpy(np.float64)
        pred = frames[["valence", "arousal"]].to_numpy(np.float64)
        keep = np.isfinite(true).all(axis=1)
        for dim, value in zip(("valence", "arousal"), icc(true[keep], pred[keep])):
            result[f"icc_{dim}"] = float(value)
        for dim in ("valence", "arousal"):
            result[f"rmse_{dim}"] = float(np.sqrt(result[f"mse_{dim}"]) * self.label_scale)
        for name in ("rmse", "pcc", "icc"):
            result[f"{name}_mean"] = (result[f"{name}_valence"] + result[f"{name}_arousal"]) / 2
        result["label_scale"] = self.label_scale
        return result


@dataclasses.dataclass(frozen=True)
class AnclafSequenceRecipe(AnclafRecipe):
    """Base of the ANCLaF-S-n / -SA-n recipes (section 3.2, eq. 4-8): trained on the cached ZQ of the fold's frame
    model, each curriculum stage initialised from the previous one (see the module docstring). Evaluation batches
    hold at most :attr:`clips_per_batch` clips."""

    frame_recipe_class: ClassVar[Optional[type]] = None
    """The frame recipe (``recipes/anclaf_afew_va.py``'s) whose trained model gives the ZQ latents; set by the
    recipe file. Its budget is its own (its overlay on SynthAffect); data, fold, seed, label control, smoke and
    the G / D / C architecture are this recipe's."""

    sequence_length: int = hparam(8, "n: frames per training clip and, for SA, the states the attention looks at "
                                     "(section 3.2: N = {2, 4, 8, 16, 32})")
    attention: bool = hparam(False, "ANCLaF-SA: attention over the previous n states [h; c] (eq. 5-8)")
    lstm_units: int = hparam(net.LSTM_UNITS, "LSTM units (released CombinerSeq: 512)")
    average: bool = hparam(False, "the -AVG row (Tables 1-2): the mean of the n = 2, 4, 8, 16, 32 rows' scores, "
                                  "each n a cached stage; nothing of its own is trained")
    curriculum: bool = hparam(True, "start from the previous curriculum stage (S-n from S-n/2, SA-n from S-n; "
                                    "section 3.4); off = S-2's start for any n")
    batch_size: int = hparam(4000, "frames per step, in clips of n (released code: batch 4000 / seq_len clips, "
                                   "FORMATS.md)")

    def validate(self):
        super().validate()
        if self.sequence_length < 2:
            raise ConfigError(f"{type(self).__name__}.sequence_length = {self.sequence_length}: must be >= 2")
        if self.batch_size < self.sequence_length:
            raise ConfigError(f"{type(self).__name__}: batch_size {self.batch_size} frames holds no clip of "
                              f"{self.sequence_length}")

    def smoke_overrides(self) -> dict[str, Any]:
        return {**super().smoke_overrides(), "lstm_units": 8, "batch_size": 2 * self.sequence_length}

    @property
    def clips_per_batch(self) -> int:
        """Clips of n frames per step: ``batch_size // sequence_length`` (released: 4000 / seq_len)."""
        return self.batch_size // self.sequence_length

    # --------------------------------------------------------------------------------------------
    # Stages.

    def frame_recipe(self) -> AnclafRecipe:
        """The fold's frame model run (its own budget; this recipe's data, fold, seed, control and architecture)."""
        return self._frame_recipe

    @functools.cached_property
    def _frame_recipe(self) -> AnclafRecipe:
        """:meth:`frame_recipe`, resolved once per recipe object (its overlay warning is logged once)."""
        if self.frame_recipe_class is None:
            raise ConfigError(f"{type(self).__name__}.frame_recipe_class is not set")
        explicit = {**({"data": self.data} if self.data is not None else {}), **({"smoke": True} if self.smoke else {})}
        base = self.frame_recipe_class.configure(explicit)
        shared = {"fold": self.fold, "seed": self.seed, "label_control": self.label_control, **self.architecture()}
        return dataclasses.replace(base, **shared)

    def previous_recipe(self) -> Optional["AnclafSequenceRecipe"]:
        """The curriculum stage this one starts from: SA-n <- S-n, S-n <- S-(n/2); ``None`` for S-2 (or off)."""
        if not self.curriculum:
            return None
        if self.attention:
            return dataclasses.replace(self, attention=False, row=None)
        if self.sequence_length <= min(net.SEQUENCE_LENGTHS):
            return None
        return dataclasses.replace(self, sequence_length=self.sequence_length // 2, row=None)

    def requires(self) -> dict[str, Any]:
        if self.fold is None:  # all folds: each fold's recipe (folds()) requires its own stages
            return {}
        if self.average:  # the -AVG row: every n's stage (cached, shared with the rows and the curriculum)
            return {f"n{n}": RecipeStage(row, "anclaf_sequence", row.stage_label())
                    for n, row in self.average_rows().items()}
        fold = self.fold
        frame = RecipeStage(self.frame_recipe(), "anclaf_frame", f"fold{fold}")
        stages: dict[str, Any] = {"frame": frame, "features": FeatureStage(
            frame, {"zq": "zq"}, folder="anclaf_features", label=f"fold{fold}_zq", data=self.data_dir()[0],
            splits=tuple(f"fold{k}" for k in range(NUM_FOLDS)), image_size=self.image_size)}
        previous = self.previous_recipe()
        if previous is not None:
            stages["previous"] = RecipeStage(previous, "anclaf_sequence", previous.stage_label())
        return stages

    def stage_label(self) -> str:
        return f"fold{self.fold}_{'sa' if self.attention else 's'}{self.sequence_length}"

    # --------------------------------------------------------------------------------------------
    # The -AVG rows (Tables 1-2: "ANCLaF-S-AVG", "ANCLaF-SA-AVG"): the mean of the n rows' scores.

    @property
    def average_lengths(self) -> tuple[int, ...]:
        """The n an -AVG row averages: N = {2, 4, 8, 16, 32} (section 3.2); a smoke run only 2 and 4 (its tiny
        data has too few clips of 16 and 32 frames for a batch)."""
        return net.SEQUENCE_LENGTHS[:2] if self.smoke else net.SEQUENCE_LENGTHS

    def average_rows(self) -> dict[int, "AnclafSequenceRecipe"]:
        """The -AVG row's recipe of each n: this one with that ``sequence_length`` (the row ANCLaF-S-n / -SA-n)."""
        return {n: dataclasses.replace(self, average=False, sequence_length=n, row=None)
                for n in self.average_lengths}

    def trains(self) -> bool:
        return not self.average

    def combine_stages(self, run_dir: Path) -> dict[str, Any]:
        """The -AVG row of one fold: the mean of every n's evaluation (:func:`mean_scores`), each n's beside it
        -> ``metrics.json``."""
        from tfaffect.io import read_json
        from tfaffect.io import write_json_atomic

        stages = {n: self.stage_dir(f"n{n}") for n in self.average_lengths}
        evaluations = {n: read_json(folder / "metrics.json", "the stage did not finish")["evaluation"]
                       for n, folder in stages.items()}
        first = evaluations[self.average_lengths[0]]
        mean = mean_scores(list(evaluations.values()))
        kind = "SA" if self.attention else "S"
        evaluation = {"split": first["split"], "data": first["data"], "synthetic": first["synthetic"], **mean,
                      "rows": {f"ANCLaF-{kind}-{n}": {k: e[k] for k in mean} for n, e in evaluations.items()},
                      "frames": first.get("frames")}
        result = {"recipe": self.recipe_name(), "run_dir": str(run_dir), "fields": self.to_dict(), "final": mean,
                  "evaluation": evaluation,
                  "stages": {f"n{n}": str(folder) for n, folder in stages.items()}}
        write_json_atomic(Path(run_dir) / "metrics.json", result)
        return result

    def summary(self, metrics) -> str:
        if not self.average or self.fold is None:
            return super().summary(metrics)
        evaluation = metrics["evaluation"]
        keys = self.headline
        data = "SynthAffect, synthetic" if evaluation["synthetic"] else evaluation["data"]
        lines = [f"fold {self.fold} ({data}): each row's evaluation on the held-out fold, then their mean",
                 "row            " + "  ".join(f"{k:>12s}" for k in keys)]
        for row, scores in [*evaluation["rows"].items(), ("mean", evaluation)]:
            lines.append(f"{row:14s} " + "  ".join(f"{scores[k]:12.3f}" for k in keys))
        return "\n".join([*lines, f"results: {Path(metrics['run_dir']) / 'metrics.json'} (the stages: "
                                   f"{', '.join(metrics['stages'].values())})"])

    # --------------------------------------------------------------------------------------------
    # Data: the cached ZQ latents, clips of n frames.

    def dataset_args(self, training: bool) -> dict[str, Any]:
        return {"tasks": ("va",), "seed": self.seed, "mode": "windows", "seq_len": self.sequence_length,
                "stride": self.sequence_length}

    def training_args(self, seed: int) -> dict[str, Any]:
        return {**super().training_args(seed), "batch_size": self.clips_per_batch}

    def training_stream(self, data: Path, seed: int):
        import tensorflow as tf

        splits = self.train_splits()
        args = {k: v for k, v in self.training_args(seed).items() if k not in ("batch_size", "repeat")}
        sizes = [self.split_size(split, args) for split in splits]
        total, clips = sum(sizes), self.clips_per_batch
        if total < clips:
            raise ConfigError(f"{type(self).__name__}: {total} training clips, fewer than one batch of {clips}")
        streams = [self.read(split, batch_size=1, repeat=None, **{**args, "seed": seed + 101 * k}).unbatch()
                   for k, split in enumerate(splits) if sizes[k]]
        mixed = tf.data.Dataset.sample_from_datasets(streams, weights=[n / total for n in sizes if n], seed=seed,
                                                     rerandomize_each_iteration=True)
        batches = mixed.take(total).batch(clips, drop_remainder=True)
        return batches.apply(tf.data.experimental.assert_cardinality(total // clips))

    def read(self, split: str, **kwargs):
        from tfaffect.data.pipeline import make_feature_dataset

        kwargs = {k: v for k, v in kwargs.items() if k not in ("image_size", "crop", "flip")}
        if not kwargs.get("training", False) and kwargs.get("batch_size", 0) > self.clips_per_batch:
            kwargs["batch_size"] = self.clips_per_batch
        return make_feature_dataset(self.stage_dir("features"), split, **kwargs)

    def training_labels(self) -> np.ndarray:
        values = []
        for split in self.train_splits():
            for _, y, weight in self.read(split, batch_size=64, training=False,
                                          **self.dataset_args(False)).as_numpy_iterator():
                va, w = y["va"].reshape(-1, 2), weight["va"].reshape(-1)
                values.append(va[w > 0])
        return np.concatenate(values) if values else np.zeros((0, 2))

    # --------------------------------------------------------------------------------------------
    # Model: initialised from the previous stage.

    def build_model(self) -> keras.Model:
        from tfaffect.models.saving import load_model

        model = net.ANCLaFSeqNet(attention=self.attention, attention_span=self.sequence_length,
                                 frame_input="features", lstm_units=self.lstm_units, **self.architecture())
        if "previous" in self.requires():
            previous = load_model(self.stage_dir("previous") / "model.keras")
            if self.attention:
                net.attention_from_sequence(previous, model)
            else:
                for layer in model.layers:
                    if layer.weights:
                        layer.set_weights(previous.get_layer(layer.name).get_weights())
        else:  # S-2: C's encoder and output layer from the fold's trained frame model (chosen)
            frame = load_model(self.stage_dir("frame") / "model.keras")
            model.get_layer("combiner_encoder").set_weights(frame.get_layer("combiner_encoder").get_weights())
            log.info("ANCLaF-S-%d: C's encoder from the fold's frame model (the LSTM and output layer start fresh)",
                     self.sequence_length)
        return model

    def compile_args(self, learning_rate) -> dict[str, Any]:
        return {"optimizer": self.optimizer(learning_rate), "loss": {"va": self.affect_loss()},
                "weighted_metrics": self.weighted_metrics()}

    # --------------------------------------------------------------------------------------------
    # Outputs beside the scores: the image-input model, the attention plot.

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        """:meth:`AnclafRecipe.evaluate`, then, for the run of a row (``row`` set; not for the curriculum's cached
        stages, whose copies of G and D would cost as much disk as the frame model each: 180 MB at 128 px),
        ``image_model.keras`` (the model on face crops, what ``tfaffect export`` and ``tfaffect predict`` use:
        :func:`~tfaffect.models.anclaf.image_sequence_model` with the fold's frame model; an SA model with its
        attention output) and, for SA, ``plots/attention_<video>.png``."""
        from tfaffect.io import atomic_path
        from tfaffect.models.saving import load_model

        result = super().evaluate(model, run_dir)
        if self.row is not None:
            frame = load_model(self.stage_dir("frame") / "model.keras")
            with atomic_path(Path(run_dir) / "image_model.keras") as tmp:
                net.image_sequence_model(model, frame).save(tmp)
        if self.attention:
            self.attention_plot(model, Path(run_dir), result)
        return result

    def attention_plot(self, model: keras.Model, run_dir: Path, result: Mapping[str, Any]) -> Path:
        """``plots/attention_<video>.png``: the first evaluation video's valence / arousal (predicted, annotated)
        with the attention weights under them (:func:`tfaffect.plots.va_attention`, Figures 3-4), computed on the
        clips of n frames the evaluation scored (:func:`~tfaffect.models.anclaf.attention_weights_model`)."""
        import pandas as pd

        from tfaffect import plots
        from tfaffect.io import safe_filename

        frames = pd.read_csv(run_dir / "frames.csv", dtype={"video_id": str})
        video = frames["video_id"].iloc[0]
        rows = frames[frames["video_id"] == video]
        weights_model = net.attention_weights_model(model)
        weights: dict[int, np.ndarray] = {}
        batches = self.read(self.final_split(), batch_size=self.clips_per_batch, training=False,
                            **{**self.dataset_args(False), "with_index": True})
        for x, _, _, index in batches.as_numpy_iterator():
            attention = np.asarray(weights_model.predict_on_batch(x))
            for b, name in enumerate(np.asarray(index["video_id"]).reshape(-1)):
                if (name.decode() if isinstance(name, bytes) else str(name)) == video:
                    for t, number in enumerate(np.asarray(index["frame"][b]).tolist()):
                        if number >= 0:
                            weights.setdefault(number, attention[b, t])
            if weights and len(weights) >= len(rows):
                break
        span = self.sequence_length
        attention = np.stack([weights.get(int(f), np.full(span, np.nan)) for f in rows["frame"]])
        name = "SynthAffect, synthetic" if result.get("synthetic") else Path(str(result.get("data"))).name
        path = run_dir / "plots" / f"attention_{safe_filename(video)}.png"
        return plots.va_attention(path, rows["frame"].to_numpy(), rows[["valence", "arousal"]].to_numpy(np.float64),
                                  attention, rows[["valence_true", "arousal_true"]].to_numpy(np.float64),
                                  title=f"ANCLaF-SA-{span}, {video} ({name}): attention weights Wa-{span}",
                                  flagged=~rows["has_face"].to_numpy(bool))


__all__ = ["AnclafRecipe", "AnclafSequenceRecipe", "FOLD_METRICS", "icc", "mean_scores"]
