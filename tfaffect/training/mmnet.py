"""What the Li et al. 2017 (MM-Net) recipes share: the CRU-Net stages, the cached features and the BDLSTM.

The pipeline of section 3.1.2, as runner stages (nothing trains as a side effect):

1. ``pretrain`` (:class:`MMNetCNNRecipe`, ``task="expression"``): CRU-Net-56-tiny trained for 7-class
   expression classification. The paper pre-trains on ImageNet and then FER2013 (section 3.1.2); here on the
   data's own expression labels (SynthAffect's, or a real set's). Its pooled 512-d features are the "No FT"
   features (section 3.2.2: "the pre-trained model without fine-tuning").
2. ``finetune`` (``task="va"``): the same net, started from the pretrained one, fine-tuned for valence and
   arousal for 20 epochs at 1e-3 x10, 1e-4 x5, 1e-5 x3, 1e-6 x2 (section 3.1.2; Table 2's baseline CNN).
   Its 512-d features are the "FT" features.
3. ``features`` (:class:`~tfaffect.training.features.FeatureStage`): both feature sets written once per frame
   (centred crop, as the paper tests) through the per-frame feature cache.
4. The memory network (:class:`MMNetRecipe`): a BDLSTM with C cells over windows of L frames of the cached
   features (FT, No FT or both concatenated, 1024-d: Table 3), training windows with stride S = L // 2,
   RMSprop at 0.02 divided by 10 after 10 epochs without a lower validation MSE, 200 epochs, MSE loss
   (section 3.1.2). Evaluation: every stride-1 window; a frame's prediction is the mean over the windows
   containing it (section 2; :func:`tfaffect.evaluation.collect_predictions` averages them), scored on FACE
   and ALL frames (section 3.2).

What the paper leaves open, chosen here and said on the fields: the CNN's optimizer, batch sizes, the CNN's
pixel scaling, the pre-training budget, the BDLSTM's batch size and the loss (MSE: the paper selects and
reports by MSE, section 3.2).

Data. The paper's split of Aff-Wild's 252 training videos into 214 training and 38 validation videos is not
published: ``tfaffect prepare --dataset affwild --root RAW --out DIR --size 128 --importer-option
validation_videos=38`` holds out 38 of them evenly spread over the sorted ids
(:func:`tfaffect.data.formats.affwild.spread_ids`), and keeps the test videos (Table 9) as ``test``. On
SynthAffect every MM-Net run reads the generated set with its labelled test split
(:attr:`MMNetRecipe.synthaffect_test_split`).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

import keras

from tfaffect import published
from tfaffect.models import mmnet as net
from tfaffect.training.data import resolve_data
from tfaffect.training.features import FeatureStage
from tfaffect.training.recipe import hparam
from tfaffect.training.stages import RecipeStage
from tfaffect.training.task import AffectTask
from tfaffect.errors import ConfigError

log = logging.getLogger(__name__)

LI2017 = "li2017"
PAPER = published.PAPERS[LI2017]

FEATURE_SETS = {"ft": ("ft",), "noft": ("noft",), "ft+noft": ("ft", "noft")}
"""Table 3's inputs: the fine-tuned CNN's features ("BDLSTM"), the pre-trained CNN's ("No FT"), both ("FT+No FT")."""
TABLE3_ROWS = {"BDLSTM": "ft", "BDLSTM No FT": "noft", "BDLSTM FT+No FT": "ft+noft"}
"""Table 3's rows and their input features, each a BDLSTM with C = 250, L = 11 (section 3.2.2)."""
TABLE5_MEMORIES = ((250, 11), (50, 11), (50, 5), (25, 5), (16, 5))
"""Table 5's (C, L), in the paper's order, each on the FT features (section 3.2.3)."""


def _va_metrics():
    from tfaffect import metrics

    # weighted: Keras applies sample_weight (invalid frames = 0) to weighted_metrics only
    return [metrics.ConcordanceCC(dim=None, name="ccc_mean"), metrics.ConcordanceCC(dim=0, name="ccc_valence"),
            metrics.ConcordanceCC(dim=1, name="ccc_arousal"),
            metrics.MeanSquaredErrorPerDim(dim=0, name="mse_valence"),
            metrics.MeanSquaredErrorPerDim(dim=1, name="mse_arousal")]


@dataclasses.dataclass(frozen=True)
class _Faces(AffectTask):
    """The face input the paper uses: aligned faces of ``face_size`` px, a ``crop_size`` crop (section 3.1.2)."""

    paper: ClassVar[str] = PAPER
    face_size: int = hparam(128, "side of the aligned faces the data is prepared at: 128x128 (section 3.1.2)")
    crop_size: int = hparam(112, "the CNN's input: a random 112x112 crop in training, the centre crop in testing "
                                 "(section 3.1.2)")
    variant: Literal["tiny", "full"] = hparam("tiny", "CRU-Net-56-tiny (Table 1, right column; section 2); 'full' "
                                                      "= CRU-Net-56 (left column)")
    width_divisor: int = hparam(1, "every CRU-Net width divided by this: 1 = Table 1", source="chosen (paper silent)")
    units: tuple[int, ...] = hparam(
        (), "CRU-Net units per stage conv2..conv5 (4 ints); empty = Table 1 (3, 4, 6, 4)",
        source="chosen (paper silent)")
    bn_momentum: float = hparam(net.BN_MOMENTUM, "momentum of the CRU-Net batch norms' moving statistics; the paper "
                                                 "is silent: 0.9 (MXNet's default)", source="chosen (paper silent)")

    @property
    def image_size(self) -> int:
        """The side of the stored frames (what :meth:`data_dir` prepares SynthAffect at)."""
        return self.face_size

    def data_dir(self) -> tuple[Path, bool]:
        return resolve_data(self.data, self.face_size, smoke=self.smoke, test_split=self.synthaffect_test())

    def validate(self):
        super().validate()
        if not 32 <= self.crop_size <= self.face_size:
            raise ConfigError(f"{type(self).__name__}: 32 <= crop_size <= face_size needed, got crop_size "
                              f"{self.crop_size}, face_size {self.face_size}")
        if self.width_divisor < 1:
            raise ConfigError(f"{type(self).__name__}.width_divisor = {self.width_divisor}: must be >= 1")
        if self.units and (len(self.units) != 4 or min(self.units) < 1):
            raise ConfigError(f"{type(self).__name__}.units = {list(self.units)}: 4 positive unit counts "
                              f"(conv2..conv5) needed, or none for Table 1's")

    def cnn_args(self) -> dict[str, Any]:
        return {"variant": self.variant, "image_size": self.crop_size, "width_divisor": self.width_divisor,
                "units": self.units or None, "bn_momentum": self.bn_momentum}

    def feature_units(self) -> int:
        """Width of the CNN's pooled feature (512 for CRU-Net-56-tiny, section 3.1.2)."""
        return net.stage_specs(self.variant, self.width_divisor)[-1][4]


@dataclasses.dataclass(frozen=True)
class MMNetCNNRecipe(_Faces):
    """A CRU-Net stage (module docstring, steps 1-2): expression pre-training or valence/arousal fine-tuning."""

    name = "mmnet_cnn"
    input_fields: ClassVar[tuple[str, ...]] = (*AffectTask.input_fields, "cnn_model")
    task: Literal["expression", "va"] = hparam(
        "va", "'expression': 7-class pre-training (section 3.1.2: FER2013); 'va': fine-tuning for valence/arousal "
              "(Table 2's baseline CNN), from the pre-trained net (the stage 'pretrain')")
    pretrain: bool = hparam(True, "'va': start from the expression-pre-trained CNN (section 3.1.2); false = random "
                                  "initialisation")
    cnn_model: Optional[str] = hparam(
        None, "a .keras file of an expression-pre-trained CRU-Net (the paper's ImageNet + FER2013 net, section "
              "3.1.2) the fine-tuning starts from instead of the pre-training stage; none = train that stage")
    optimizer: Literal["sgd", "adam"] = hparam(
        "sgd", "the paper does not name the CNN's optimizer; SGD with momentum 0.9, as ResNe(X)t/CRU-Net training",
        source="chosen (paper silent)")
    epochs: int = hparam(20, "fine-tuning: 20 epochs (section 3.1.2)")
    learning_rate: float = hparam(1e-3, "first 10 epochs at 1e-3 (section 3.1.2)")
    lr_schedule: Literal["constant", "exponential", "piecewise"] = hparam("piecewise", "10, 5, 3, 2 epochs (section "
                                                                                       "3.1.2)")
    lr_boundaries: tuple[float, ...] = hparam((10.0, 15.0, 18.0), "epochs 10, 15, 18 (section 3.1.2)")
    lr_values: tuple[float, ...] = hparam((1e-4, 1e-5, 1e-6), "1e-4 x5, 1e-5 x3, 1e-6 x2 epochs (section 3.1.2)")
    batch_size: int = hparam(64, "faces per batch; not given by the paper", source="chosen (paper silent)")
    flip: bool = hparam(True, "random mirroring in training (section 3.1.2)")

    def published_keys(self):
        return ((LI2017, "Table 2", "CNN"),) if self.task == "va" else ()

    def smoke_overrides(self) -> dict[str, Any]:
        return {**super().smoke_overrides(), "face_size": 40, "crop_size": 32, "width_divisor": 16, "batch_size": 4}

    def build_model(self) -> keras.Model:
        model = net.CRUNet(**self.cnn_args(), heads=(self.task,))
        if self.task == "va" and self.pretrain:
            from tfaffect.models.saving import load_model

            pretrained = load_model(self.cnn_model or self.stage_dir("pretrain") / "model.keras")
            names = {layer.name for layer in pretrained.layers}
            for layer in model.layers:  # everything but the head: the same layers by name
                if layer.weights and layer.name in names and layer.name != "va":
                    layer.set_weights(pretrained.get_layer(layer.name).get_weights())
            log.info("CRU-Net starts from the expression-pre-trained stage")
        return model

    def pretrain_recipe(self) -> "MMNetCNNRecipe":
        """The expression pre-training this fine-tuning starts from: the same fields, ``task="expression"``."""
        return dataclasses.replace(self, task="expression", row=None)

    def requires(self) -> dict[str, Any]:
        if self.task == "va" and self.pretrain and self.cnn_model is None:
            return {"pretrain": RecipeStage(self.pretrain_recipe(), "mmnet_cnn", f"{self.variant}_pretrain")}
        return {}

    def compile_args(self, learning_rate) -> dict[str, Any]:
        from tfaffect import losses, metrics

        if self.optimizer == "sgd":
            optimizer = keras.optimizers.SGD(learning_rate, momentum=0.9)
        else:
            optimizer = keras.optimizers.Adam(learning_rate)
        if self.task == "expression":
            return {"optimizer": optimizer, "loss": {"expression": losses.MaskedSparseCategoricalCrossentropy()},
                    "weighted_metrics": {"expression": [metrics.ExpressionAccuracy(name="accuracy")]}}
        return {"optimizer": optimizer, "loss": {"va": losses.MaskedMSE()}, "weighted_metrics": {"va": _va_metrics()}}

    def dataset_args(self, training: bool) -> dict[str, Any]:
        return {"crop": self.crop_size, "image_size": self.crop_size, "tasks": (self.task,), "seed": self.seed}

    def sampling_args(self) -> dict[str, Any]:
        return {"flip": self.flip}


@dataclasses.dataclass(frozen=True)
class MMNetRecipe(_Faces):
    """Base of the MM-Net memory-network recipes (module docstring, step 4); not a published result itself."""

    input_fields: ClassVar[tuple[str, ...]] = (*AffectTask.input_fields, "cnn_model")
    memory: int = hparam(net.MEMORY, "C, LSTM cells per direction: 250 first (section 3.2.2); 50, 25, 16 in Table 5")
    window: int = hparam(net.WINDOW, "L, frames per window: 11 first (section 3.2.2); 5 in Table 5")
    features: Literal["ft", "noft", "ft+noft"] = hparam(
        "ft", "input features (Table 3): 'ft' the fine-tuned CNN's, 'noft' the pre-trained CNN's, 'ft+noft' both "
              "(1024-d)")
    optimizer: Literal["rmsprop"] = hparam("rmsprop", "RMSprop (section 3.1.2)")
    learning_rate: float = hparam(0.02, "initial learning rate 0.02 (section 3.1.2)")
    plateau_patience: int = hparam(10, "divide the rate by 10 when the validation MSE has not decreased for 10 "
                                       "epochs (section 3.1.2)")
    epochs: int = hparam(200, "200 epochs (section 3.1.2)")
    batch_size: int = hparam(32, "windows per batch; not given by the paper", source="chosen (paper silent)")
    cnn_epochs: int = hparam(20, "epochs of each CNN stage: fine-tuning 20 (section 3.1.2); the pre-training, done "
                                 "on ImageNet and FER2013 by the paper, gets the same here", source="paper")
    cnn_batch_size: int = hparam(64, "faces per CNN batch; not given by the paper", source="chosen (paper silent)")
    cnn_learning_rate: float = hparam(1e-3, "the CNN stages' first rate (section 3.1.2: 1e-3, then 1e-4, 1e-5, "
                                            "1e-6)")
    cnn_optimizer: Literal["sgd", "adam"] = hparam("sgd", "the CNN stages' optimizer; not named by the paper",
                                                   source="chosen (paper silent)")
    cnn_max_steps_per_epoch: Optional[int] = hparam(None, "cap on the CNN stages' steps per epoch (none = every "
                                                          "training face)")
    cnn_model: Optional[str] = hparam(
        None, "a .keras file of an expression-pre-trained CRU-Net (the paper's ImageNet + FER2013 net, section 3.1.2): "
              "the No FT features come from it and the fine-tuning starts from it; none = pre-train on the data's "
              "expression labels first")

    synthaffect_test_split = True  # SynthAffect with its labelled test split (8 more unseen people) for every
    # memory network and ensemble, so Table 9 (the test split) reuses the stages of Tables 3-8 (validation); the
    # CNN stages (MMNetCNNRecipe) read the same training and validation shards without it and stay shared too
    synthaffect = {  # every memory-network recipe's SynthAffect overlay: their CNN stages and caches are shared
        "face_size": 48, "crop_size": 42,  # the paper's 112 of 128 px at SynthAffect's cached 48 px
        "width_divisor": 8, "units": (1, 1, 1, 1),  # CRU-Net widths / 8 (features 64-d per set), one unit per
            # stage (Table 1: 3, 4, 6, 4). At widths / 16 and Table 1's units the valence/arousal CNN did not even
            # fit its training faces: training CCC 0.045 after 200 Adam steps of 32 at 1e-3 (0.020 with a zero
            # output kernel: validation CCC 0.059 / 0.083, valence / arousal). At / 8 with one unit per stage:
            # training CCC 0.605 after 200 steps, validation 0.019 / 0.648 (seed 0, zero output kernel, no
            # pre-training; without the zero kernel training CCC 0.31 after 100 steps, as with it, 0.27).
            # One step of 32 faces: 0.3-0.5 s at load average ~7 (a step at / 8 with Table 1's units: 4.4 s)
        "cnn_epochs": 8, "cnn_max_steps_per_epoch": 200, "cnn_batch_size": 32,  # the demo budget: 1,600 steps of 32
            # faces per CNN stage (51,200 faces), the 20 epochs' schedule shrunk in proportion (4, 2, 1.2, 0.8 epochs:
            # 800 steps at the first rate). Measured (seed 0, the 8 unseen people, 2026-12-05): with 320 steps per
            # stage the fine-tuned CNN scored CCC valence 0.108, arousal 0.429 and Table 4's BDLSTM -0.017 / 0.405;
            # with 1,600, 0.187 / 0.762 and 0.096 / 0.707 (benchmarks/synth_ceiling.py: valence carries over to
            # unseen people after tens of thousands of frames). 4 x 50 steps gave only 100 steps at the first rate,
            # where the net above was still at training CCC 0.27
        "cnn_optimizer": "adam",  # with SGD (momentum 0.9) at the paper's 1e-3 and 4 x 25 steps the pre-training
                                  # reached validation accuracy 0.24 (chance 0.14) but the fine-tuning's validation
                                  # CCC stayed at -0.05 / 0.01 (valence / arousal; run of 2026-12-02)
        "epochs": 10,  # the BDLSTM's demo budget: 10 epochs of 69 steps, ~4 s each here; its in-training validation
                       # was best at epoch 5 and the plateau rule (10 epochs) does not fire within it
        "max_validation_steps": 8,  # in-training validation on 8 batches; the whole split once at the end
    }

    def published_keys(self):
        return tuple(self.published_rows)

    def validate(self):
        super().validate()
        if self.memory < 1 or self.window < 1 or self.plateau_patience < 1:
            raise ConfigError(f"{type(self).__name__}: memory, window and plateau_patience must be positive")

    def smoke_overrides(self) -> dict[str, Any]:
        return {**super().smoke_overrides(), "face_size": 40, "crop_size": 32, "width_divisor": 16, "memory": 4,
                "window": 3, "batch_size": 4, "cnn_epochs": 1, "cnn_batch_size": 4, "cnn_max_steps_per_epoch": 2}

    # --------------------------------------------------------------------------------------------
    # Stages.

    def cnn_recipe(self, task: str) -> MMNetCNNRecipe:
        """The CRU-Net stage of ``task`` on this recipe's data, faces, label control and seed (module docstring).
        The fine-tuning's schedule keeps the paper's proportions (10, 5, 3, 2 of 20 epochs) at ``cnn_epochs``."""
        scale = self.cnn_epochs / 20.0
        boundaries = tuple(round(b * scale, 6) for b in (10.0, 15.0, 18.0))
        piecewise = self.cnn_epochs >= 4  # distinct boundaries need whole epochs at the demo's budgets
        return MMNetCNNRecipe(
            data=self.data, smoke=self.smoke, seed=self.seed, label_control=self.label_control,
            face_size=self.face_size, crop_size=self.crop_size, variant=self.variant,
            width_divisor=self.width_divisor, units=self.units, bn_momentum=self.bn_momentum, task=task,
            optimizer=self.cnn_optimizer,
            epochs=self.cnn_epochs, learning_rate=self.cnn_learning_rate,
            lr_schedule="piecewise" if piecewise else "constant", lr_boundaries=boundaries if piecewise else (),
            lr_values=tuple(self.cnn_learning_rate * f for f in (0.1, 0.01, 0.001)) if piecewise else (),
            batch_size=self.cnn_batch_size, cnn_model=self.cnn_model, max_steps_per_epoch=self.cnn_max_steps_per_epoch,
            max_validation_steps=self.max_validation_steps,
            monitor="val_loss")

    def requires(self) -> dict[str, Any]:
        """The fine-tuned CNN (its own stage: the pre-trained one) and the cached features of the input set."""
        stages: dict[str, Any] = {}
        for name in FEATURE_SETS[self.features]:
            if name == "ft":
                source = RecipeStage(self.cnn_recipe("va"), "mmnet_cnn", f"{self.variant}_finetune")
            elif self.cnn_model is None:
                source = RecipeStage(self.cnn_recipe("expression"), "mmnet_cnn", f"{self.variant}_pretrain")
            else:
                source = self.cnn_model
            stages[name] = FeatureStage(source, {"features": "features"}, folder="mmnet_features", label=name,
                                        data=self.data_dir()[0], crop=self.crop_size, image_size=self.crop_size)
        return stages

    # --------------------------------------------------------------------------------------------
    # Model, loss, data.

    def build_model(self) -> keras.Model:
        units = self.feature_units() * len(FEATURE_SETS[self.features])
        return net.MemoryNetwork(memory=self.memory, window=self.window, feature_units=units,
                                 frame_input="features", **self.cnn_args())

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        """The base evaluation, then ``RUN/image_model.keras`` (:meth:`write_image_model`)."""
        result = super().evaluate(model, run_dir)
        result.update(self.mean_mse(result))
        self.write_image_model(model, Path(run_dir))
        return result

    def mean_mse(self, scores: dict[str, Any]) -> dict[str, float]:
        """Tables 2, 3 and 5's column: ``mse_validation``, the mean of the valence and arousal MSEs over the FACE
        frames (section 3.2), when the scores are the validation split's."""
        if self.final_split() != self.evaluation_split():
            return {}
        return {"mse_validation": (scores["mse_valence"] + scores["mse_arousal"]) / 2}

    def write_image_model(self, model: keras.Model, run_dir: Path) -> Path:
        """``RUN/image_model.keras`` (issue #15 item 7): the CRU-Net of the run's feature stage in front of this
        BDLSTM (:func:`~tfaffect.models.mmnet.image_model`), from uint8 faces of ``face_size`` with the centre
        ``crop_size`` crop cut inside (what the features were extracted from), which ``tfaffect export`` and
        ``tfaffect predict`` use; model.keras reads cached features; 'ft+noft': both CNNs, their features
        concatenated in that order, as :meth:`read`. Faces stored at another side than ``face_size`` (``--data``
        prepared at another size) had the ``crop_size`` crop cut from the stored side instead."""
        from tfaffect.io import IMAGE_MODEL_FILE
        from tfaffect.io import atomic_path
        from tfaffect.models.saving import load_model

        stages = self.requires()
        cnns = [load_model(stages[name].model_path()) for name in FEATURE_SETS[self.features]]
        whole = net.image_model(cnns, model, face_size=self.face_size)
        with atomic_path(run_dir / IMAGE_MODEL_FILE) as tmp:
            whole.save(tmp)
        return run_dir / IMAGE_MODEL_FILE

    def compile_args(self, learning_rate) -> dict[str, Any]:
        from tfaffect import losses

        return {"optimizer": keras.optimizers.RMSprop(learning_rate),  # section 3.1.2
                "loss": {"va": losses.MaskedMSE()},  # the paper selects and reports by MSE (section 3.2)
                "weighted_metrics": {"va": _va_metrics()}}

    def callbacks(self, run_dir: Path) -> list:
        # section 3.1.2: "reduced by a factor of 10 when the validation MSE does not decrease for 10 epochs"
        return [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=self.plateau_patience,
                                                  verbose=0)]

    def dataset_args(self, training: bool) -> dict[str, Any]:
        # training: windows of L with stride S = L // 2 (section 3.1.2); testing: stride 1 (section 2)
        return {"mode": "windows", "seq_len": self.window, "stride": max(1, self.window // 2) if training else 1,
                "tasks": ("va",), "seed": self.seed}

    def read(self, split: str, **kwargs):
        """The cached features of :attr:`features` (both sets concatenated per frame for 'ft+noft': the two
        caches are read with the same cuts and seed, so their elements pair up)."""
        import tensorflow as tf

        from tfaffect.data.pipeline import make_feature_dataset

        kwargs = {k: v for k, v in kwargs.items() if k not in ("crop", "image_size", "flip")}
        sets = [make_feature_dataset(self.stage_dir(name), split, **kwargs) for name in FEATURE_SETS[self.features]]
        if len(sets) == 1:
            return sets[0]

        def concatenate(*elements):
            first = elements[0]
            x = {"features": tf.concat([e[0]["features"] for e in elements], axis=-1)}
            return (x, *first[1:])

        return tf.data.Dataset.zip(tuple(sets)).map(concatenate)


# --------------------------------------------------------------------------------------------------
# Ensembles (section 2 "Feature Ensemble with Multiple Memory Networks"; sections 3.2.4-3.2.5).

ENSEMBLE_MSE = 0.1  # sections 3.2.4-3.2.5: "the models with validation MSE smaller than 0.1"
FEATURE_LABELS = {"ft": "FT", "noft": "No FT", "ft+noft": "FT+No FT"}


def frame_representation(window_outputs, time_steps: int):
    """One BDLSTM's 2CL-d representation of every frame (section 2, "Feature Ensemble"): ``[N, L, 2C]`` outputs
    (forward and backward, :class:`~tfaffect.models.mmnet.MemoryNetwork`'s ``"bdlstm"`` layer) of the stride-1
    windows of a ``time_steps``-frame video (window n covers frames n .. n+L-1, as
    :func:`~tfaffect.models.mmnet.window_indices`) -> ``[T, 2CL]``.

    Frame t's vector concatenates its 2C output from each window containing it, the windows in order of their
    first frame (chosen: the paper gives no order). A frame in fewer than L windows (the first and last L - 1
    frames) repeats its k available 2C vectors circularly, v1 .. vk, v1 .. , to fill 2CL ("repeating each of
    the 2C features in a circular manner", section 2)."""
    import numpy as np

    outputs = np.asarray(window_outputs)
    if outputs.ndim != 3:
        raise ConfigError(f"frame_representation: window outputs [N, L, 2C] expected, got shape {outputs.shape}")
    count, window, width = outputs.shape
    time_steps = int(time_steps)
    if time_steps < 1 or count != max(time_steps - window + 1, 1):
        raise ConfigError(f"frame_representation: {count} windows of {window} frames do not fit a video of "
                          f"{time_steps} frames (max(T - L + 1, 1) stride-1 windows expected)")
    rows = []
    for t in range(time_steps):
        starts = range(max(0, t - window + 1), min(t, count - 1) + 1)  # the windows containing frame t
        vectors = [outputs[s, t - s] for s in starts]
        rows.append(np.concatenate([vectors[j % len(vectors)] for j in range(window)]))
    return np.stack(rows).reshape(time_steps, window * width)


def read_frames(path: Path):
    """A run's per-frame table (``frames.csv``, :func:`~tfaffect.training.task.write_frame_outputs`), video ids
    kept as written; a typed error naming the file when it is missing."""
    import pandas as pd

    from tfaffect.errors import MissingResourceError

    if not Path(path).is_file():
        raise MissingResourceError(f"{path}: no per-frame predictions (the run did not finish its evaluation)")
    return pd.read_csv(path, dtype={"video_id": str})


def average_frames(frames: dict[str, Any]):
    """The members' per-frame tables (name -> frames.csv content) as one, valence and arousal the mean over the
    members; a :class:`~tfaffect.errors.DataError` when a member covers other frames than the first."""
    import numpy as np

    from tfaffect.errors import DataError

    keys = ["video_id", "frame"]
    names = list(frames)
    tables = [frames[name].sort_values(keys, kind="stable").reset_index(drop=True) for name in names]
    first = tables[0]
    for name, table in zip(names[1:], tables[1:]):
        if len(table) != len(first) or not (table[keys].to_numpy() == first[keys].to_numpy()).all():
            raise DataError(f"the ensemble's members cover different frames: {name} ({len(table)} frames) against "
                            f"{names[0]} ({len(first)})")
    out = first.copy()
    for column in ("valence", "arousal"):
        out[column] = np.mean([table[column].to_numpy(np.float64) for table in tables], axis=0)
    return out


def feature_mlp(width: int, layers: int, units: int = 32) -> keras.Model:
    """Section 3.2.5's regression model on the concatenated 2CL frame representations: ``layers`` hidden layers
    of ``units`` (1 x 32 = MLP1, 2 x 32 = MLP2; ReLU, chosen: the paper names no activation) and two linear
    outputs, valence and arousal ("no activations", section 3.1.2)."""
    x = inputs = keras.Input(shape=(width,), name="features")
    for k in range(layers):
        x = keras.layers.Dense(units, activation="relu", name=f"hidden{k + 1}")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="va")(x), name=f"mmnet_mlp{layers}")


@dataclasses.dataclass(frozen=True)
class MMNetEnsembleRecipe(MMNetRecipe):
    """Base of the MM-Net recipes computed from other MM-Net runs, their stages (nothing trains through the
    trainer: :meth:`trains` is false): :attr:`ensemble` says which.

    * ``"cnn"``: Table 2, the fine-tuned CNN stage's own evaluation (the CRU-Net whose features are "FT").
    * ``"prediction"``: Table 6, the mean of the memory networks' predictions (section 3.2.4), those with a
      validation MSE below :attr:`ensemble_mse`.
    * ``"feature"``: Table 7, an MLP on the chosen memory networks' 2CL frame representations (section 3.2.5;
      :class:`MMNetFeatureEnsembleRecipe`).
    * ``"final"``: Table 8, the mean of the chosen memory networks' and both MLPs' predictions (section 3.2.5).
    * ``"single"``: Table 9's "single best model" (section 3.3), the memory network of the lowest validation MSE
      (Table 9's validation row is Table 5's C = 25, L = 5, the lowest there: (0.108081 + 0.084837) / 2 = 0.0964594).

    The memory networks (:meth:`memory_networks`) are Tables 3 and 5's, each a cached stage trained with this
    recipe's data, overlay, seed and label control (this recipe's memory-network fields, e.g. ``epochs``, train them;
    ``memory``, ``window`` and ``features`` come from the tables instead: this recipe's own three are unused, but for
    a smoke run's C). Selection reads the members' validation scores, as the paper's; the ensemble is scored on the
    final split: the validation split (Tables 6-8) or, with ``split`` (Table 9, recipes/mmnet_test.py), the test split,
    where every member's predictions are computed from its saved model (:meth:`member_frames`)."""

    ensemble: ClassVar[str] = "prediction"
    ensemble_mse: float = hparam(ENSEMBLE_MSE, "the members: the memory networks whose validation MSE (the mean of "
                                               "valence's and arousal's) is below 0.1 (sections 3.2.4-3.2.5); when "
                                               "none is, all of them (recorded in metrics.json as 'selection')")
    mlp_layers: int = hparam(1, "the feature-level MLP's hidden layers of 32 units: 1 (MLP1) or 2 (MLP2), "
                                "section 3.2.5")
    mlp_units: int = hparam(32, "units per hidden layer of the MLPs (section 3.2.5)")
    mlp_epochs: int = hparam(200, "the MLPs' epochs: 200 (section 3.1.2)")
    mlp_learning_rate: float = hparam(
        0.02, "the MLPs' initial RMSprop rate, divided by 10 after plateau_patience epochs without a lower validation "
              "MSE: the paper says the MLP 'is also trained with RMSprop' for 200 epochs (section 3.1.2) and gives a "
              "rate for the memory networks only: theirs", source="chosen (paper silent)")
    mlp_batch_size: int = hparam(256, "frames per MLP step; not given by the paper", source="chosen (paper silent)")

    def validate(self):
        super().validate()
        if self.ensemble == "cnn" and self.split not in (None, self.evaluation_split()):
            raise ConfigError(f"{type(self).__name__}: Table 2 is the fine-tuned CNN stage's own validation scores; "
                              f"--split {self.split} is not one of them")
        if self.mlp_layers < 1 or self.mlp_units < 1 or self.mlp_epochs < 1 or self.mlp_batch_size < 1:
            raise ConfigError(f"{type(self).__name__}: mlp_layers, mlp_units, mlp_epochs and mlp_batch_size must be "
                              f"positive")

    def trains(self) -> bool:
        return False

    def smoke_overrides(self) -> dict[str, Any]:
        return {**super().smoke_overrides(), "mlp_epochs": 2}

    # --------------------------------------------------------------------------------------------
    # Members.

    def memory_networks(self) -> dict[str, MMNetRecipe]:
        """Section 3.2.4's "various models above", by name ("FT C=50, L=5"): Table 3's three BDLSTMs (C = 250,
        L = 11 on FT, No FT, FT + No FT) and Table 5's five on FT (its C = 250, L = 11 is Table 3's first), 7 in
        all, with every other field this recipe's. A smoke run gives each its smoke C."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(MMNetRecipe)}
        configs = dict.fromkeys([*((features, net.MEMORY, net.WINDOW) for features in TABLE3_ROWS.values()),
                                 *(("ft", c, length) for c, length in TABLE5_MEMORIES)])
        return {f"{FEATURE_LABELS[features]} C={c}, L={length}": MMNetRecipe(
                    **{**fields, "row": None, "split": None, "features": features, "window": length,
                       "memory": self.memory if self.smoke else c})
                for features, c, length in configs}

    def requires(self) -> dict[str, Any]:
        if self.ensemble == "cnn":
            return {"CNN": RecipeStage(self.cnn_recipe("va"), "mmnet_cnn", f"{self.variant}_finetune")}
        stages: dict[str, Any] = {
            name: RecipeStage(member, "mmnet_bdlstm",
                              f"{member.features.replace('+', '')}_c{member.memory}_l{member.window}")
            for name, member in self.memory_networks().items()}
        if self.ensemble == "final":  # section 3.2.5: "... and the two regression models above"
            fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(MMNetEnsembleRecipe)}
            for layers in (1, 2):
                mlp = MMNetFeatureEnsembleRecipe(**{**fields, "row": None, "split": None, "mlp_layers": layers})
                stages[f"MLP{layers}"] = RecipeStage(mlp, "mmnet_ensemble", f"mlp{layers}")
        return stages

    def member_scores(self) -> dict[str, dict[str, float]]:
        """Every stage's evaluation: CCC and MSE per dimension and ``mse`` = their MSEs' mean (Table 6's "mean
        affective value", the selection criterion)."""
        from tfaffect.io import read_json

        scores = {}
        for name in self.requires():
            evaluation = read_json(self.stage_dir(name) / "metrics.json", "the stage did not finish")["evaluation"]
            scores[name] = {k: evaluation[k] for k in ("ccc_valence", "ccc_arousal", "mse_valence", "mse_arousal")}
            scores[name]["mse"] = (scores[name]["mse_valence"] + scores[name]["mse_arousal"]) / 2
        return scores

    def chosen(self, scores: dict[str, dict[str, float]], names) -> tuple[list[str], str]:
        """The ``names`` whose validation MSE is below :attr:`ensemble_mse`, else all of them; and what was done."""
        names = list(names)
        chosen = [name for name in names if scores[name]["mse"] < self.ensemble_mse]
        if chosen:
            return chosen, f"validation MSE below {self.ensemble_mse}"
        log.warning("no member has a validation MSE below %s (lowest %.4f): the ensemble takes all %d",
                    self.ensemble_mse, min(scores[name]["mse"] for name in names), len(names))
        return names, f"all: none has a validation MSE below {self.ensemble_mse}"

    # --------------------------------------------------------------------------------------------
    # The result.

    def combine_stages(self, run_dir: Path) -> dict[str, Any]:
        from tfaffect import evaluation
        from tfaffect.io import write_json_atomic
        from tfaffect.training.task import SYNTHETIC, write_frame_outputs

        run_dir = Path(run_dir)
        write_json_atomic(run_dir / "config.json", {"recipe": self.recipe_name(), "fields": self.to_dict(),
                                                   "derived": {"deviations": self.deviations()}})
        members = self.member_scores()
        networks = list(self.memory_networks()) if self.ensemble != "cnn" else []
        if self.ensemble == "single":  # Table 9's single best model
            best = min(networks, key=lambda name: members[name]["mse"])
            chosen, selection = [best], "the lowest validation MSE"
        else:
            chosen, selection = self.chosen(members, networks) if networks else (list(members), "the fine-tuned CNN")
        extra: dict[str, Any] = {}
        if self.ensemble == "feature":
            frames, extra = self.fit_mlp(chosen, run_dir)
            chosen = extra["mlp_members"]
        else:  # Table 8: the chosen memory networks and both MLPs
            chosen += [name for name in members if name.startswith("MLP")]
            frames = average_frames({name: self.member_frames(name) for name in chosen})
        data, synthetic = self.data_dir()
        write_frame_outputs(frames, run_dir, SYNTHETIC if synthetic else data.name)
        scores = evaluation.score_frames(frames, self.protocols)
        result = {"split": self.final_split(), "data": str(data), "synthetic": synthetic, **scores,
                  **self.mean_mse(scores), **self.published_entries(),
                  "members": {n: {**s, "chosen": n in chosen} for n, s in members.items()},
                  "selection": selection, **extra}
        metrics = {"recipe": self.recipe_name(), "run_dir": str(run_dir), "fields": self.to_dict(),
                   "final": {k: result[k] for k in self.headline}, "evaluation": result,
                   "stages": {n: str(self.stage_dir(n)) for n in members}}
        write_json_atomic(run_dir / "metrics.json", metrics)
        return metrics

    def summary(self, metrics) -> str:
        from tfaffect.io import write_text_atomic
        from tfaffect.report import report

        evaluation, keys, run_dir = metrics["evaluation"], self.headline, Path(metrics["run_dir"])
        data = "SynthAffect (synthetic)" if evaluation["synthetic"] else evaluation["data"]
        lines = [f"{evaluation['split']} on {data}, {evaluation['frames']} frames with a face, all concatenated; "
                 f"the members' validation scores ({evaluation['selection']}; * = in the ensemble):",
                 "member                  " + "  ".join(f"{k:>12s}" for k in keys)]
        for name, scores in evaluation["members"].items():
            mark = "*" if scores["chosen"] else " "
            lines.append(f"{name:22s}{mark} " + "  ".join(f"{scores[k]:12.3f}" for k in keys))
        label = {"cnn": "the CNN", "single": "the best member"}.get(self.ensemble, f"{self.ensemble} ensemble")
        lines += [f"{label:22s}  "
                  + "  ".join(f"{evaluation[k]:12.3f}" for k in keys), f"run directory: {run_dir}"]
        keys = self.published_keys()
        if keys:
            text = report(keys[0][0], list(dict.fromkeys(table for _, table, _ in keys)), [run_dir])
            write_text_atomic(run_dir / "report.md", text + "\n")
            lines += ["", text, "", f"report: {run_dir / 'report.md'}"]
        return "\n".join([*lines, f"per-frame predictions: {run_dir / 'frames.csv'}; plots: {run_dir / 'plots'}"])

    def member_frames(self, name: str):
        """Stage ``name``'s per-frame predictions on the final split: its own ``frames.csv`` when that is the split it
        was scored on (validation), else computed from its saved model: a memory network over the split's cached
        features, a feature-level MLP (Table 8's stages) over its members' representations."""
        from tfaffect.io import read_json
        from tfaffect.models.saving import load_model

        folder = self.stage_dir(name)
        split = self.final_split()
        if split == self.evaluation_split():
            return read_frames(folder / "frames.csv")
        recipe, model = self.requires()[name].recipe, load_model(folder / "model.keras")
        log.info("%s on the %s split", name, split)
        if isinstance(recipe, MMNetEnsembleRecipe):  # an MLP: its members' representations, in its input's order
            evaluation = read_json(folder / "metrics.json", "the stage did not finish")["evaluation"]
            return recipe.mlp_frames(model, evaluation["mlp_members"], split)
        return recipe.evaluation_frames(model, split)[1]

    # --------------------------------------------------------------------------------------------
    # Table 7: the feature-level MLP.

    def representations(self, names, split: str):
        """``(frames, x)``: every frame of ``split`` (video id, frame, face flag, annotations; the evaluation's
        order) and ``x [frames, sum of 2CL]``, the members' :func:`frame_representation` side by side, each from
        its BDLSTM layer over every stride-1 window of the video's cached features."""
        import numpy as np
        import pandas as pd

        from tfaffect.errors import DataError
        from tfaffect.models.saving import load_model
        from tfaffect.training.task import per_video_sequences

        networks, index, parts = self.memory_networks(), None, []
        for name in names:
            member = networks[name]
            model = load_model(self.stage_dir(name) / "model.keras")
            encoder = keras.Model(model.input, model.get_layer("bdlstm").output)  # [N, L, 2C] per video
            batches = member.read(split, batch_size=member.batch_size, training=False,
                                  **{**member.dataset_args(False), "with_index": True})
            tables, vectors = [], []
            for x, y, weight, where in per_video_sequences(lambda x: x["features"], batches.as_numpy_iterator()):
                vectors.append(frame_representation(encoder.predict_on_batch({"features": x}), x.shape[1]))
                va = y["va"][0].astype(np.float64)
                va[weight["va"][0] == 0] = np.nan
                tables.append(pd.DataFrame({"video_id": str(where["video_id"][0]), "frame": where["frame"][0],
                                            "has_face": where["has_face"][0].astype(bool),
                                            "valence_true": va[:, 0], "arousal_true": va[:, 1]}))
            table = pd.concat(tables, ignore_index=True)
            if index is None:
                index = table
            elif not table[["video_id", "frame"]].equals(index[["video_id", "frame"]]):
                raise DataError(f"{split}: the memory networks {names[0]} and {name} read different frames")
            parts.append(np.concatenate(vectors).astype(np.float32))
        return index, np.concatenate(parts, axis=1)

    def fit_mlp(self, chosen: list[str], run_dir: Path) -> tuple[Any, dict[str, Any]]:
        """Section 3.2.5: the chosen memory networks but those with C = 250, L = 11 ("a feature length of 2CL, or
        5500": excluded; when only those are chosen, every other memory network), their representations of the
        training frames with a face, side by side in the order of :meth:`memory_networks` (``mlp_members`` in the
        result) -> an MLP (:func:`feature_mlp`), RMSprop at :attr:`mlp_learning_rate`,
        divided by 10 after :attr:`plateau_patience` epochs without a lower validation MSE, for :attr:`mlp_epochs`;
        its predictions on every validation frame. Writes ``model.keras`` (the MLP) and ``history.csv``."""
        import numpy as np
        import pandas as pd

        from tfaffect.io import atomic_path, write_text_atomic
        from tfaffect.training.task import SHUFFLED_LABEL_SEED

        short = [name for name in self.memory_networks() if not name.endswith(f"C={net.MEMORY}, L={net.WINDOW}")]
        members = [name for name in chosen if name in short] or short
        frames, x = zip(*(self.representations(members, split) for split in self.train_splits()))
        train, x = pd.concat(frames, ignore_index=True), np.concatenate(x)
        val, x_val = self.representations(members, self.evaluation_split())  # the plateau rule's validation MSE

        def labelled(table):  # frames with a face and both annotations
            truth = table[["valence_true", "arousal_true"]].to_numpy(np.float64)
            return table["has_face"].to_numpy(bool) & np.isfinite(truth).all(axis=1)

        keep, keep_val = labelled(train), labelled(val)
        y = train[["valence_true", "arousal_true"]].to_numpy(np.float32)[keep]
        if self.label_control == "shuffled":  # the control's MLP must not see which label goes with which frame
            y = np.random.default_rng(self.seed + SHUFFLED_LABEL_SEED).permutation(y)
        keras.utils.set_random_seed(self.seed)
        mlp = feature_mlp(x.shape[1], self.mlp_layers, self.mlp_units)
        mlp.compile(optimizer=keras.optimizers.RMSprop(self.mlp_learning_rate), loss="mse")
        log.info("MLP%d on %d members' representations (%d-d), %d training frames, %d epochs", self.mlp_layers,
                 len(members), x.shape[1], int(keep.sum()), self.mlp_epochs)
        history = mlp.fit(x[keep], y, batch_size=self.mlp_batch_size, epochs=self.mlp_epochs, verbose=0,
                          validation_data=(x_val[keep_val], val[["valence_true", "arousal_true"]].to_numpy(
                              np.float32)[keep_val]),
                          callbacks=[keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1,
                                                                       patience=self.plateau_patience)])
        scored = self.final_split()
        out = self.mlp_frames(mlp, members, scored, (val, x_val) if scored == self.evaluation_split() else None)
        with atomic_path(run_dir / "model.keras") as tmp:
            mlp.save(tmp)
        write_text_atomic(run_dir / "history.csv", pd.DataFrame(history.history).rename_axis("epoch").to_csv())
        return out, {"mlp_members": members, "representation_width": int(x.shape[1]),
                     "training_frames": int(keep.sum())}

    def mlp_frames(self, mlp: keras.Model, members: list[str], split: str, representations=None):
        """The feature-level MLP ``mlp``'s predictions on every frame of ``split``, from ``members``' representations
        (:meth:`representations`, or ``representations`` already computed)."""
        import numpy as np

        frames, x = representations if representations is not None else self.representations(members, split)
        predicted = mlp.predict(x, batch_size=1024, verbose=0)
        out = frames.copy()
        out["valence"], out["arousal"] = predicted[:, 0].astype(np.float64), predicted[:, 1].astype(np.float64)
        return out


@dataclasses.dataclass(frozen=True)
class MMNetFeatureEnsembleRecipe(MMNetEnsembleRecipe):
    """The feature-level ensemble's MLP (Table 7; :meth:`MMNetEnsembleRecipe.fit_mlp`), also a stage of Table 8."""

    ensemble: ClassVar[str] = "feature"
