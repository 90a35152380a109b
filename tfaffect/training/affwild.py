"""What the Kollias et al. 2019 recipes share: data, model, loss, metrics and the final evaluation.

Each published result is its own file under ``recipes/`` (DESIGN.md rule 4) that subclasses
:class:`AffWildRecipe` and redeclares the fields its table row fixes. Hyperparameters common to the
paper's section 4 live here, each with its citation:

* Adam, constant learning rate 0.001 (section 4.1.1 names Adam for the CNN-M baseline; section 4.2.1 gives
  "a constant learning rate ... 0.001" for the VGG / ResNet models and names no optimizer: Adam assumed there).
* Batch 80 for CNN-M and CNN-RNN, 50 for the CNN-only models (sections 4.1.1, 4.2.1, 4.2.1.3).
* Dropout 0.5 (section 4.2.1). CCC loss, eq. 3: ``(L_a + L_v) / 2`` with ``L = 1 - CCC`` (section 4.2),
  statistics over all frames of the batch (the original code's reduction); MSE for the CNN-M baseline.
* Oversampling of VA quadrants to 43 / 24 / 19 / 14 % (section 4.2).
* Input 96x96x3 scaled ``(x - 128) / 128`` and sequences of 80 frames: not in the paper, fixed by the
  released code (FORMATS.md).

A **batch** counts examples: frames for the CNN-only models, sequences for AffWildNet. The paper's
"batch size 80" for the CNN-RNN cannot mean 80 sequences of 80 frames of VGG-16 activations on its
12 GB GPU; it is read as 80 frames = one sequence of 80 (not fixed by the paper or the code).

The paper trains from pretrained VGG-Face/VGG-16/ResNet-50 weights that are not available offline
(pass ``--backbone-weights FILE``). On the embedded SynthAffect data the recipes start from random
initialisation, where the published learning rate 0.001 does not learn (measured, see
``recipes/affwildnet.py``); each recipe file's ``synthaffect`` dict lists every value changed for those
runs with its measured reason, and the run directory records them (``config.json`` ->
``derived.deviations``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Optional

import keras

from tfaffect.errors import ConfigError
from tfaffect.training.data import resolve_data
from tfaffect.training.recipe import hparam
from tfaffect.training.stages import RecipeStage
from tfaffect.training.task import AffectTask, per_video_sequences

log = logging.getLogger(__name__)

KOLLIAS = "kollias2019"
BACKBONE_NAMES = {"vggface": "VGG-Face", "vgg16": "VGG-16 (ImageNet)", "resnet50": "ResNet-50 (ImageNet)"}
"""The pretrained networks section 4.2 fine-tunes, by ``backbone``."""
PAPER = "Kollias et al. 2019, IJCV: Deep Affect Prediction in-the-wild (Aff-Wild)"


RECURRENT_ONLY = ("cell", "num_layers", "units", "sequence_length", "train_stride")
"""AffWildRecipe fields that the frame CNN of the CNN stage never reads (see :meth:`AffWildRecipe.cnn_stage_recipe`)."""


@dataclasses.dataclass(frozen=True)
class AffWildRecipe(AffectTask):
    """Base of the Kollias 2019 recipes (not a published result itself)."""

    paper: ClassVar[str] = PAPER
    synthaffect: ClassVar[Mapping[str, Any]] = {
        # The Kollias demo budget on SynthAffect, from random initialisation on 2 CPU cores (issue #10):
        "learning_rate": 1e-4,  # the published 1e-3 fine-tunes pretrained networks; from random weights it ended
                                # dead (CCC 0.00 / 0.00 after 60 steps, recipes/affwildnet.py); 1e-4 learns
        "epochs": 4, "max_steps_per_epoch": 25,  # 100 steps
        "max_validation_steps": 10,  # in-training validation on 10 batches; the whole split once at the end
    }
    input_fields: ClassVar[tuple[str, ...]] = (*AffectTask.input_fields, "backbone_weights", "synthaffect_seed")

    architecture: Literal["cnn_m", "cnn", "affwildnet"] = hparam(
        "affwildnet", "cnn_m: Table 4; cnn: CNN-only, Table 7 / section 4.2.1.1; affwildnet: Table 8")
    backbone: Literal["vggface", "vgg16", "resnet50"] = hparam(
        "vggface", "conv part: VGG-Face / VGG-16 (Table 7) or ResNet-50 (section 4.2.1.1)")
    backbone_weights: Optional[str] = hparam(
        None, "local file of pretrained conv weights (the paper fine-tunes pretrained networks; none "
              "are downloaded: convert VGG-Face with `tfaffect convert vggface-h5`); for CNN-M a CNN-M .keras "
              "model whose conv part is transferred (section 4.1.1)")
    synthaffect_seed: int = hparam(
        0, "no --data only: the SynthAffect generator's seed (another seed: other synthetic people; the "
           "transfer recipes' flagship stage uses one, so the weights they fine-tune never saw their people)")
    landmarks: bool = hparam(True, "68x2 landmarks concatenated at the first FC layer (Tables 8, 10)")
    landmark_scaling: Literal["standardized", "raw"] = hparam(
        "standardized", "chosen (the paper does not say how the 68x2 positions are scaled): each coordinate "
                        "standardized with the training split's mean and std inside the model; 'raw' = the "
                        "positions as given (divided by the crop side)")
    cell: Literal["gru", "lstm"] = hparam("gru", "recurrent cell (Table 12: GRU best)")
    num_layers: int = hparam(2, "recurrent layers (Table 8, Table 14: 2 best)")
    units: int = hparam(128, "units per recurrent layer (Table 8, Table 14: 128 best)")
    dropout: float = hparam(0.5, "dropout probability (section 4.2.1)")
    image_size: int = hparam(96, "input side: 96x96x3 in the released code (FORMATS.md); the paper "
                                 "does not fix it")
    sequence_length: int = hparam(80, "frames per sequence: 80 in the released code (FORMATS.md); "
                                      "the paper does not fix it")
    train_stride: Optional[int] = hparam(
        None, "step between training windows; none = sequence_length // 2 (half overlap, Li 2017 "
              "section 3.1.2; Kollias 2019 does not say)")
    loss: Literal["ccc", "mse"] = hparam("ccc", "CCC loss, eq. 3 (section 4.2); MSE for the CNN-M baseline")
    quadrant_targets: tuple[float, ...] = hparam(
        (0.43, 0.24, 0.19, 0.14), "oversample (+v,+a), (-v,+a), (+v,-a), (-v,-a) to these shares "
                                  "(section 4.2); () = no balancing")
    cnn_pretrain: bool = hparam(
        False, "AffWildNet only: first train the CNN of section 4.2.1.2 (this backbone, landmarks and first FC "
               "layer, frames, batch 50: the Table 9 model) and start the conv part and FC 1 from it (section "
               "4.2.1.3: the CNN part 'is based on' those CNNs); off = from backbone_weights, as the paper "
               "fine-tunes VGG-Face")
    cnn_pretrain_steps: int = hparam(150, "training steps of that CNN stage (chosen: the SynthAffect demo budget)")
    cnn_pretrain_mixed_precision: bool = hparam(
        False, "train that CNN stage in bfloat16 mixed precision (its weights stay float32; chosen for the CPU "
               "demo budget)")
    output_init: Literal["glorot", "zeros"] = hparam(
        "glorot", "initialisation of a frame CNN's output layer (architecture 'cnn', and the CNN stage): Keras's "
                  "default (Glorot-uniform kernel, zero bias), or 'zeros', a zero kernel, so that the first steps "
                  "can only correlate the outputs with the labels. Section 4.2.1 names no initialisation for these "
                  "FC layers (see the SynthAffect overlays for where 'zeros' is used and why)",
        source="chosen (paper silent)")
    freeze: Literal["none", "backbone", "all-but-fc"] = hparam(
        "none", "'none' trains the whole network (end-to-end); 'backbone' freezes the pretrained conv part and "
                "trains the rest: section 4.2's other option, and for CNN-M section 4.1.1's 'retained the CNN part "
                "and performed fine-tuning on the weights of the fully connected layers' (its conv layers and "
                "batch norms); 'all-but-fc' trains the fully connected layers only (section 4.1.1; for AffWildNet "
                "the recurrent layers are frozen too)")
    batch_size: int = hparam(1, "sequences per batch: 1 sequence of 80 frames = the paper's batch of "
                                "80 (section 4.2.1.3; see the module docstring)")
    learning_rate: float = hparam(1e-3, "constant 0.001 (section 4.2.1); Adam: named in section 4.1.1 only, assumed for section 4.2")
    epochs: int = hparam(1, "not given by the paper; one pass over the (oversampled) training set")
    monitor: str = hparam("val_ccc_mean", "pick the best epoch by validation mean CCC")
    monitor_mode: Literal["min", "max"] = hparam("max", "higher CCC is better")

    # --------------------------------------------------------------------------------------------

    def validate(self):
        super().validate()
        where = type(self).__name__
        if self.quadrant_targets and (len(self.quadrant_targets) != 4 or min(self.quadrant_targets) < 0):
            raise ConfigError(f"{where}.quadrant_targets = {self.quadrant_targets}: 4 non-negative shares or ()")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"{where}.dropout = {self.dropout}: must be in [0, 1)")
        if self.sequence_length < 1 or self.image_size < 32:
            raise ConfigError(f"{where}: sequence_length >= 1 and image_size >= 32 needed")
        if self.architecture == "cnn_m" and self.landmarks:
            raise ConfigError(f"{where}: the CNN-M baseline (Table 4) takes no landmarks")
        if self.cnn_pretrain and self.architecture != "affwildnet":
            raise ConfigError(f"{where}: cnn_pretrain starts AffWildNet from a trained CNN; architecture is "
                              f"{self.architecture!r}")
        if self.cnn_pretrain_steps < 1:
            raise ConfigError(f"{where}.cnn_pretrain_steps = {self.cnn_pretrain_steps}: must be >= 1")

    @property
    def windows(self) -> bool:
        return self.architecture == "affwildnet"

    def data_dir(self) -> tuple[Path, bool]:
        return resolve_data(self.data, self.image_size, smoke=self.smoke, synth_seed=self.synthaffect_seed,
                            test_split=self.synthaffect_test())

    def smoke_overrides(self) -> dict[str, Any]:
        # The tiny smoke dataset does not cover all four quadrants: no balancing there.
        return {**super().smoke_overrides(), "sequence_length": 4, "quadrant_targets": (), "batch_size": 4,
                "image_size": 64 if self.architecture == "cnn_m" else 32, "cnn_pretrain_steps": 2}

    def initial_weights_deviation(self) -> Optional[dict[str, Any]]:
        """The paper starts every model from pretrained weights: CNN-M from the FaceValue-trained CNN-M (section
        4.1.1), the VGG / ResNet models from VGG-Face, VGG-16 or ResNet-50 (section 4.2). Without
        ``backbone_weights`` this run does not."""
        if self.backbone_weights is not None:
            return None
        published = ("CNN-M pretrained on FaceValue (section 4.1.1)" if self.architecture == "cnn_m"
                     else f"pretrained {BACKBONE_NAMES[self.backbone]} conv weights (section 4.2)")
        used = ("the CNN stage trained first on this data (cnn_pretrain), itself from random initialisation"
                if self.cnn_pretrain else "random initialisation")
        return {"published": published, "used": used, "source": "paper"}

    def model_kwargs(self) -> dict[str, Any]:
        """Constructor arguments of the model class (subclasses map a table cell onto them)."""
        common = {"image_size": self.image_size}
        if self.architecture == "cnn_m":
            return common
        common.update(backbone=self.backbone, landmarks=self.landmarks, dropout=self.dropout,
                      backbone_weights=self.backbone_weights, landmark_stats=self.landmark_stats)
        if self.architecture == "affwildnet":
            common.update(cell=self.cell, num_layers=self.num_layers, units=self.units)
        return common

    @functools.cached_property
    def landmark_stats(self) -> Optional[list]:
        """``[mean, std]`` of the training split's landmark coordinates for a standardized-landmark model
        (read once per recipe object: the transfer recipes ask for the model's arguments twice)."""
        if not self.landmarks or self.landmark_scaling == "raw":
            return None
        from tfaffect.data.pipeline import landmark_statistics

        mean, std = landmark_statistics(self.data_dir()[0], self.train_splits())
        return [mean.tolist(), std.tolist()]

    def build_model(self) -> keras.Model:
        from tfaffect.models import CNNM, AffWildCNN, AffWildNet

        cls = {"cnn_m": CNNM, "cnn": AffWildCNN, "affwildnet": AffWildNet}[self.architecture]
        kwargs = self.model_kwargs()
        if not self.cnn_pretrain:
            model = cls(**kwargs)
        else:
            from tfaffect.models.saving import load_model

            cnn = load_model(self.stage_dir("cnn") / "model.keras")
            model = cls(**{**kwargs, "backbone_weights": None})
            for name in (self.backbone, "fc1"):  # the conv part and FC 1 have the same shapes in both
                model.get_layer(name).set_weights(cnn.get_layer(name).get_weights())
            log.info("conv part and FC 1 start from the trained CNN stage")
        if self.architecture == "cnn_m" and self.backbone_weights:
            from tfaffect.models.cnn_m import load_conv_part

            load_conv_part(model, self.backbone_weights)  # section 4.1.1: the conv and pooling parts transferred
            log.info("CNN-M conv part from %s", self.backbone_weights)
        return self.finish_model(model, fresh_output=True, pretrained=self.cnn_pretrain or bool(self.backbone_weights))

    def finish_model(self, model: keras.Model, *, fresh_output: bool, pretrained: bool) -> keras.Model:
        """``output_init`` on a frame CNN's ``fresh_output`` layer (not one loaded from a trained model), then
        ``freeze`` (a warning when nothing ``pretrained`` is frozen)."""
        if fresh_output and self.architecture == "cnn" and self.output_init == "zeros":
            kernel, bias = model.get_layer("va").get_weights()
            model.get_layer("va").set_weights([kernel * 0, bias])
        if self.freeze != "none":
            if not pretrained:
                log.warning("freeze=%s without pretrained weights: the frozen part stays at its random "
                            "initialisation", self.freeze)
            if self.freeze == "all-but-fc":  # section 4.1.1: "retained the CNN part" and fine-tuned the FC layers
                for layer in model.layers:
                    if layer.weights and not isinstance(layer, keras.layers.Dense):
                        layer.trainable = False
            elif self.architecture == "cnn_m":
                from tfaffect.models.cnn_m import CONV_PART

                for name in CONV_PART:  # the pretrained (transferred) part: conv 1-5 and their batch norms
                    model.get_layer(name).trainable = False
            else:
                model.get_layer(self.backbone).trainable = False
        return model

    # --------------------------------------------------------------------------------------------
    # The CNN stage (cnn_pretrain).

    def cnn_stage_recipe(self) -> "AffWildRecipe":
        """The CNN that ``cnn_pretrain`` trains first: the Table 9 model on this recipe's data, backbone,
        landmarks, image size, loss, sampling, optimizer, precision and label control, on frames in batches
        of 50 (section 4.2.1: the CNN-only batch size) for ``cnn_pretrain_steps`` steps."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(AffWildRecipe)}
        return CNNStageRecipe(**{**shared, **self.cnn_stage_changes(), "monitor": "val_ccc_mean"})

    def cnn_stage_changes(self) -> dict[str, Any]:
        """What a CNN stage changes in the recipe it starts: the section 4.2 CNN on frames, in batches of 50
        (section 4.2.1), one epoch of ``cnn_pretrain_steps`` steps at a constant rate; what only the recurrent
        part reads at its default, so that recipes and rows differing there alone (the Table 14 grid, the LSTM
        variant, the flagship) share one cached CNN stage."""
        return {"architecture": "cnn", "cnn_pretrain": False, "freeze": "none", "batch_size": 50,
                "mixed_precision": self.mixed_precision or self.cnn_pretrain_mixed_precision,
                "cnn_pretrain_mixed_precision": False, "epochs": 1, "max_steps_per_epoch": self.cnn_pretrain_steps,
                "lr_schedule": "constant", "lr_boundaries": (), "lr_values": (), "warmup_epochs": 0.0, "row": None,
                **{name: AffWildRecipe.__dataclass_fields__[name].default for name in RECURRENT_ONLY}}

    def requires(self) -> dict[str, RecipeStage]:
        """``cnn_pretrain``: the CNN stage (:meth:`cnn_stage_recipe`), trained once per configuration and data."""
        if not self.cnn_pretrain:
            return {}
        return {"cnn": RecipeStage(self.cnn_stage_recipe(), "affwild_cnn_stage", f"{self.backbone}_cnn")}

    def compile_args(self, learning_rate) -> dict[str, Any]:
        from tfaffect import losses, metrics

        loss = losses.CCCLoss() if self.loss == "ccc" else losses.MaskedMSE()
        return {
            "optimizer": keras.optimizers.Adam(learning_rate),  # section 4.1.1 (4.2 names no optimizer)
            "loss": {"va": loss},
            # weighted: Keras applies sample_weight (invalid frames = 0) to weighted_metrics only
            "weighted_metrics": {"va": [
                metrics.ConcordanceCC(dim=None, name="ccc_mean"),
                metrics.ConcordanceCC(dim=0, name="ccc_valence"),
                metrics.ConcordanceCC(dim=1, name="ccc_arousal"),
                metrics.MeanSquaredErrorPerDim(dim=0, name="mse_valence"),
                metrics.MeanSquaredErrorPerDim(dim=1, name="mse_arousal")]},
        }

    # --------------------------------------------------------------------------------------------
    # Data and evaluation (the rest is AffectTask's).

    def dataset_args(self, training: bool) -> dict[str, Any]:
        args = {"image_size": self.image_size, "landmarks": self.landmarks, "tasks": ("va",),
                "seed": self.seed}
        if self.windows:
            args.update(mode="windows", seq_len=self.sequence_length,
                        stride=(self.train_stride or max(1, self.sequence_length // 2)) if training
                        else self.sequence_length)  # evaluation: every frame once (+ tail window)
        return args

    def sampling_args(self) -> dict[str, Any]:
        return {"balance": "quadrant" if self.quadrant_targets else None, "targets": self.quadrant_targets or None}

    def predictor(self, model: keras.Model, batches):
        if self.windows:  # the GRU state runs through each whole video: no restart at window starts
            return whole_videos(model, batches)
        return super().predictor(model, batches)


@dataclasses.dataclass(frozen=True)
class CNNStageRecipe(AffWildRecipe):
    """The CNN that ``cnn_pretrain`` trains before AffWildNet (:meth:`AffWildRecipe.cnn_stage_recipe`). Its
    in-training validation is its check; the whole-validation-set evaluation is left to the AffWildNet run."""

    name = "affwildnet_cnn_stage"

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        return {}


def whole_videos(model: keras.Model, batches, first_recurrent: str = "rnn1"):
    """``(predict_batch, batches)`` for :func:`tfaffect.evaluation.evaluate` that run a recurrent model over
    every video whole, its state carried from the first frame to the last.

    ``model`` is split at its first recurrent layer (``first_recurrent``): the per-frame part (conv, FC 1)
    runs on the windowed evaluation ``batches`` (``make_dataset(..., training=False, with_index=True)``
    in windows mode), its outputs are put back in frame order per video (the frames a tail window repeats
    once), and the recurrent part then runs on each video's whole feature sequence: what one call of the
    model on the whole video gives, in memory bounded by a window of images. Yields one batch per video.
    """
    if len(model.output_names) != 1:
        raise ConfigError(f"whole-video evaluation needs a model with one output, not {model.output_names}")
    split = model.get_layer(first_recurrent)
    frame_part = keras.Model(model.inputs, split.input)
    features = keras.Input(shape=tuple(split.input.shape[1:]), name="features")
    x, start = features, model.layers.index(split)
    for layer in model.layers[start:]:
        x = layer(x)
    sequence_part = keras.Model(features, {model.output_names[0]: x})  # AffWildNet: rnn1 ... va, one chain
    return sequence_part.predict_on_batch, per_video_sequences(frame_part.predict_on_batch, batches)
