"""What the transfer recipes of Kollias 2019, section 5 share: AffWildNet fine-tuned on another dataset.

Section 5 fine-tunes the Aff-Wild-trained AffWildNet on RECOLA (5.1.1, Table 15), on AFEW-VA with
5-fold person-independent cross-validation (5.1.2, Tables 16-17) and, with its output layer replaced
by 7 neurons, on AFEW 5.0 for EmotiW 2017 (5.2.1, Table 18). The paper gives no fine-tuning
hyperparameter (optimizer, learning rate, batch, epochs, which layers train), so the recipes keep
section 4.2's AffWildNet training settings (:class:`~tfaffect.training.affwild.AffWildRecipe`: Adam
1e-3 constant, dropout 0.5, CCC loss eq. 3, 80 frames a step), fine-tune every layer, and turn the
VA-quadrant oversampling off (section 4.2 introduces it for Aff-Wild's imbalance; section 5 does not
mention it). Each choice is marked "not fixed by the paper" where it is made.

**Initial weights** (:func:`resolve_init`, the ``init`` field): ``--init PATH`` takes a finished run
directory of an AffWildNet recipe (its ``model.keras``), a ``.keras`` file, a ``.weights.h5`` file
(loaded into the model the recipe's fields describe), or the folder ``tfaffect convert affwildnet-tf1``
wrote (its ``model.keras``). Without it:

* on SynthAffect (no ``--data``), the flagship recipe (recipes/affwildnet.py, with this recipe's
  architecture and seed) is a cached runner stage (``flagship``): trained first on SynthAffect generated
  with seed :data:`FLAGSHIP_SYNTH_SEED`, i.e. *other synthetic people* than the target layout's (seed 0),
  as Aff-Wild and the target datasets share no one, then reused by every transfer recipe and fold with
  that configuration. A user's own ``runs/affwildnet`` runs are not used here: they trained on the target
  layout's people (AFEW-VA's folds cover the training identities too). Measured before this stage existed:
  from random weights AFEW-VA fold 0 did not learn (PCC 0.059 / 0.224, issue #10);
* with ``--data`` (a real target dataset), the newest finished run of the flagship recipe
  (``runs/affwildnet/<run>/`` with ``metrics.json`` and ``model.keras``, newest ``metrics.json`` first)
  whose architecture matches the recipe's; if there is none, training starts from random
  initialisation with a WARNING.

The run's ``config.json`` (``derived.init``) and ``metrics.json`` (``evaluation.init``) say which.
Nothing is downloaded. A ``.keras`` source's own architecture must
match the recipe's fields (backbone, cell, layers, units, landmarks, image size); its GRU variant
and FC widths are adopted (the converted released weights use ``reset_after=False``).

**The comparison networks** (``start = "backbone"``): section 5 also trains, for comparison, networks
that never saw Aff-Wild: Table 15's ResNet-GRU on RECOLA, Table 17's VGG-Face CNN ("only CNN") on
AFEW-VA and Table 18's VGG-16 / ResNet CNNs and CNN-RNNs on AFEW. They start from the pretrained
conv part of their backbone (section 4.2: VGG-Face, or VGG-16 / ResNet-50 trained on ImageNet;
``--backbone-weights FILE``, nothing is downloaded) and are built as the section 4.2 models of
:class:`~tfaffect.training.affwild.AffWildRecipe`: ``architecture = "cnn"`` (Table 7 / section 4.2.1.1,
frames) or ``"affwildnet"`` (Table 8, windows). No flagship run is looked for and ``init`` does not
apply; without ``backbone_weights`` the conv part starts from random initialisation, recorded as a
deviation (``derived.deviations.initial_weights``). For EmotiW a CNN gets its 7-way softmax on the
input of its ``va`` layer (its last hidden FC layer), a CNN-RNN on its last recurrent layer
(:func:`with_expression_head`); a CNN classifies single frames, each frame with a face labelled with
its clip's label, and a clip is aggregated over its frames as below.

**Data.** Without ``--data`` each recipe runs on SynthAffect written in its dataset's layout and read by
that dataset's importer (:func:`tfaffect.training.data.resolve_data` with ``layout``). With
``--data DIR``: shards written by ``tfaffect prepare --dataset recola|afew_va|afew``; for AFEW-VA
without a ``fold`` importer option, so the shards hold the splits ``fold0`` .. ``fold4`` (pass
``--importer-option subjects=FILE`` to make them subject-independent).

**Evaluation** is over each whole video (clip), the GRU state carried from its first frame
(:meth:`AffWildRecipe.predictor`, as the flagship), for the VA transfers and EmotiW alike.

**EmotiW** (``task = "expression"``): the model is AffWildNet up to its last GRU layer with a new
7-unit softmax layer (section 5.2.1: "we modified the AffWildNet's output layer to include 7
neurons"), trained with cross-entropy on windows of each clip, every frame with a face labelled with
its clip's label (read from the shards' ``clip_label``). A clip's prediction is the **mean of the
per-frame class probabilities over its frames with a face**, then the arg-max
(:func:`clip_predictions`): the paper says only that "video classification based on frame
aggregation was performed" (section 5.2.1, note (i)); averaging probabilities is the usual choice
and uses every frame's confidence rather than one vote per frame. The paper names no initialisation for
the new layer: Keras's default, or with ``head_probe_steps`` a linear probe on the frozen network's
features first (:meth:`TransferRecipe.probe_head`; recipes/affwildnet_emotiw.py's SynthAffect overlay,
where it is measured).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import zipfile
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Optional, Sequence

import keras
import numpy as np
import pandas as pd

from tfaffect import EXPRESSIONS_7, published
from tfaffect.errors import ConfigError, MissingResourceError
from tfaffect.training.affwild import BACKBONE_NAMES, AffWildRecipe
from tfaffect.training.data import resolve_data
from tfaffect.training.recipe import hparam
from tfaffect.training.stages import RecipeStage
from tfaffect.training.task import SYNTHETIC, write_frame_outputs

log = logging.getLogger(__name__)

RUNS_ROOT = "runs"
"""Where runs land (``tfaffect.training.trainer.default_run_dir``: ``runs/<recipe>/<UTC time>``)."""
FLAGSHIP = "affwildnet"
"""The recipe whose run is the default initialisation (recipes/affwildnet.py)."""
FLAGSHIP_SYNTH_SEED = 1
"""The SynthAffect generator seed the ``flagship`` stage trains on (see the module docstring): any seed other than
the target layouts' 0 gives other people; 1 chosen."""
ARCHITECTURE_KEYS = ("backbone", "cell", "num_layers", "units", "landmarks", "image_size")
"""AffWildNet constructor arguments that must agree between the initial weights and the recipe."""
ADOPTED_KEYS = ("fc_units", "reset_after", "peepholes", "landmark_stats")
"""AffWildNet constructor arguments taken from a ``.keras`` initial model (not recipe fields; its landmark
statistics go with the first FC layer's weights that were trained on them)."""
NUM_FOLDS = 5  # Kollias 2019, section 5.1.2: "5-fold person-independent cross-validation" (after Kossaifi 2017)
FOLD_METRICS = ("pcc_valence", "pcc_arousal", "ccc_valence", "ccc_arousal", "mse_valence", "mse_arousal",
                "ccc_mean")
"""Scores averaged over the folds (Table 16: Pearson CC; Table 17: CCC)."""


# ==================================================================================================
# Initial weights.

@dataclasses.dataclass(frozen=True)
class InitialWeights:
    """Where a transfer run's initial weights come from.

    ``source``: ``"explicit"`` (``--init``), ``"flagship"`` (newest matching flagship run), ``"flagship_stage"``
    (the flagship trained first on other synthetic people, SynthAffect only), ``"random"`` or ``"backbone"`` (a comparison network: only the conv part is pretrained, from ``backbone_weights``).
    ``path``: the file loaded (``.keras``, ``.weights.h5`` or the backbone weights), ``None`` for random.
    ``model_config``: the AffWildNet constructor arguments stored in a ``.keras`` file.
    """

    source: Literal["explicit", "flagship", "flagship_stage", "random", "backbone"]
    path: Optional[str] = None
    model_config: Optional[Mapping[str, Any]] = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "path": self.path, "note": self.note}


def keras_file_config(path: str | Path) -> dict[str, Any]:
    """The constructor arguments of the model saved in a ``.keras`` file (its ``config.json``), without
    loading any weight. :class:`ConfigError` if it is not an AffWildNet ``.keras`` file."""
    try:
        with zipfile.ZipFile(path) as archive:
            saved = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path}: not a readable .keras file ({exc})") from None
    if saved.get("class_name") != "AffWildNet":
        raise ConfigError(f"{path}: holds a {saved.get('class_name')!r} model; the transfer recipes start from "
                          "an AffWildNet (a run of recipes/affwildnet*.py or `tfaffect convert affwildnet-tf1`)")
    return dict(saved.get("config", {}))


def architecture_mismatch(config: Mapping[str, Any], architecture: Mapping[str, Any]) -> list[str]:
    """``["key: init value != recipe value", ...]`` for the :data:`ARCHITECTURE_KEYS` that differ."""
    return [f"{key}: {config.get(key)!r} in the weights, {architecture[key]!r} in the recipe"
            for key in ARCHITECTURE_KEYS if config.get(key) != architecture[key]]


def newest_flagship_run(architecture: Mapping[str, Any], runs_root: str | Path = RUNS_ROOT,
                        flagship: str = FLAGSHIP) -> Optional[Path]:
    """The newest finished run (``metrics.json`` and ``model.keras``; newest ``metrics.json`` first,
    then the later name) under ``runs_root/flagship`` whose model matches ``architecture``; ``None``
    if there is none. Runs that do not match are logged and skipped."""
    folder = Path(runs_root) / flagship
    finished = [d for d in folder.glob("*") if (d / "metrics.json").is_file() and (d / "model.keras").is_file()]
    finished.sort(key=lambda d: ((d / "metrics.json").stat().st_mtime, d.name), reverse=True)
    for run in finished:
        try:
            mismatch = architecture_mismatch(keras_file_config(run / "model.keras"), architecture)
        except ConfigError as exc:
            log.info("skipping %s as initial weights: %s", run, exc)
            continue
        if not mismatch:
            return run
        log.info("skipping %s as initial weights: architecture differs (%s)", run, "; ".join(mismatch))
    return None


def resolve_init(init: Optional[str], architecture: Mapping[str, Any], *, runs_root: str | Path = RUNS_ROOT,
                 flagship: str = FLAGSHIP) -> InitialWeights:
    """Resolve the ``init`` field (see the module docstring) for a model of ``architecture``
    (the :data:`ARCHITECTURE_KEYS` values of the recipe)."""
    if init is None:
        run = newest_flagship_run(architecture, runs_root, flagship)
        if run is None:
            note = (f"no finished {flagship} run with this architecture under {Path(runs_root) / flagship}: "
                    f"random initialisation (the paper fine-tunes the Aff-Wild-trained AffWildNet; pass "
                    f"--init PATH or train recipes/{flagship}.py first)")
            log.warning("initial weights: %s", note)
            return InitialWeights("random", note=note)
        path = run / "model.keras"
        log.info("initial weights: newest finished %s run %s", flagship, run)
        return InitialWeights("flagship", str(path), keras_file_config(path), f"newest finished {flagship} run")
    path = Path(init)
    if path.is_dir():
        if not (path / "model.keras").is_file():
            unfinished = (path / "config.json").is_file() and not (path / "metrics.json").is_file()
            raise MissingResourceError(
                f"--init {path}: no model.keras there{' (an unfinished run?)' if unfinished else ''}; pass a "
                f"finished run directory, a .keras or .weights.h5 file, or the folder `tfaffect convert "
                f"affwildnet-tf1` wrote")
        path = path / "model.keras"
    if not path.is_file():
        raise MissingResourceError(f"--init {path}: no such file or directory")
    if path.name.endswith(".weights.h5"):
        return InitialWeights("explicit", str(path), None, "weights file, loaded into the recipe's architecture")
    if path.suffix != ".keras":
        raise ConfigError(f"--init {path}: expected a run directory, a .keras or a .weights.h5 file")
    config = keras_file_config(path)
    mismatch = architecture_mismatch(config, architecture)
    if mismatch:
        raise ConfigError(f"--init {path}: the weights' architecture differs from the recipe's "
                          f"({'; '.join(mismatch)}); pass the matching options (e.g. --no-landmarks for the released AffWildNet, "
                          f"--image-size N)")
    return InitialWeights("explicit", str(path), config, "")


def load_initial_weights(model: keras.Model, init: InitialWeights) -> None:
    """Copy ``init``'s weights into the AffWildNet ``model`` (built with the matching architecture)."""
    if init.path is None:
        return
    if init.model_config is None:  # .weights.h5
        try:
            model.load_weights(init.path)
        except (ValueError, KeyError, OSError) as exc:
            raise ConfigError(f"--init {init.path}: does not fit the recipe's AffWildNet ({exc})") from None
        return
    from tfaffect.models.saving import load_model

    source = load_model(init.path)
    for layer in model.layers:
        if not layer.weights:
            continue
        try:
            values = source.get_layer(layer.name).get_weights()
        except ValueError:
            raise ConfigError(f"--init {init.path}: has no layer {layer.name!r}") from None
        shapes = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != shapes:
            raise ConfigError(f"--init {init.path}: layer {layer.name!r} has weights of shapes "
                              f"{[v.shape for v in values]}, the recipe's model {shapes}")
        layer.set_weights(values)


def with_expression_head(base: keras.Model, num_classes: int = len(EXPRESSIONS_7)) -> keras.Model:
    """``base`` with its output layer ``va`` replaced by ``num_classes`` softmax units (Kollias 2019, section
    5.2.1: "we modified the AffWildNet's output layer to include 7 neurons"), on what ``va`` read: the last
    recurrent layer of AffWildNet (``{"expression": [B, T, num_classes]}``), the last hidden FC layer of a
    CNN (:class:`~tfaffect.models.AffWildCNN`: ``{"expression": [B, num_classes]}``)."""
    features = base.get_layer("va").input
    probabilities = keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                                       name="expression")(features)
    return keras.Model(base.input, {"expression": probabilities}, name=f"{base.name}_expression")


# ==================================================================================================
# Clip-level expression (EmotiW) and fold aggregation (AFEW-VA).

def clip_predictions(frames: pd.DataFrame, labels: Mapping[str, int], num_classes: int = len(EXPRESSIONS_7)
                     ) -> pd.DataFrame:
    """One row per clip: mean class probabilities over its frames with a face, the arg-max and the label.

    ``frames`` is :func:`tfaffect.evaluation.collect_predictions`'s table (``video_id``, ``has_face``,
    ``p_0`` .. ``p_{K-1}``). A clip without any frame with a face averages all its frames (the model
    saw black images; the clip still counts, as the challenge scores every clip). Columns:
    ``frames`` (frames averaged), ``p_k``, ``predicted``, ``label``; index ``video_id``.
    """
    columns = [f"p_{k}" for k in range(num_classes)]
    rows = {}
    for video, group in frames.groupby("video_id", sort=True):
        face = group[group["has_face"].astype(bool)]
        used = face if len(face) else group
        mean = used[columns].to_numpy(np.float64).mean(axis=0)
        if video not in labels:
            raise ConfigError(f"clip {video!r} has no clip label")
        rows[video] = {"frames": len(used), **dict(zip(columns, mean)), "predicted": int(np.argmax(mean)),
                       "label": int(labels[video])}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("video_id")


def clip_scores(clips: pd.DataFrame, class_names: Sequence[str] = EXPRESSIONS_7) -> dict[str, Any]:
    """Table 18's columns: per-class accuracy (the share of a class's clips predicted as that class)
    and total accuracy (the share of all clips predicted right). A class without clips gets ``None``."""
    correct = clips["predicted"].to_numpy() == clips["label"].to_numpy()
    out: dict[str, Any] = {"clips": int(len(clips)), "accuracy": float(correct.mean()) if len(clips) else None}
    for k, name in enumerate(class_names):
        of_class = clips["label"].to_numpy() == k
        key = name.lower()  # tfaffect.published's Table 18 keys: accuracy_neutral, ...
        out[f"accuracy_{key}"] = float(correct[of_class].mean()) if of_class.any() else None
        out[f"clips_{key}"] = int(of_class.sum())
    return out


def aggregate_folds(results: Sequence[Mapping[str, Any]], keys: Sequence[str] = FOLD_METRICS) -> dict[str, Any]:
    """Mean (the paper's number: "5-fold ... cross-validation", Tables 16-17) and population standard
    deviation over the folds of each metric in ``keys`` present in every fold; ``frames`` summed."""
    if not results:
        raise ConfigError("no fold result to aggregate")
    out: dict[str, Any] = {"folds": len(results)}
    for key in keys:
        values = [r.get(key) for r in results]
        if any(v is None for v in values):
            continue
        out[key] = float(np.mean(values))
        out[f"{key}_std"] = float(np.std(values))
    if all("frames" in r for r in results):
        out["frames"] = int(sum(r["frames"] for r in results))
    return out


def clip_labels(data_dir: str | Path, split: str) -> dict[str, int]:
    """``{video_id: clip_label}`` of the clips of ``split`` in prepared shards (one read of the labels)."""
    from tfaffect.data.tfrecord import clip_labels as read_clip_labels

    labels = read_clip_labels(data_dir, split)
    missing = sorted(v for v, label in labels.items() if label < 0)
    if missing:
        raise ConfigError(f"{data_dir} ({split}): {len(missing)} clip(s) without a clip label (e.g. {missing[0]!r}); "
                          "the EmotiW recipe needs shards prepared from AFEW (`tfaffect prepare --dataset afew`)")
    return labels


def _with_clip_labels(dataset, labels: Mapping[str, int], keep_index: bool):
    """Map ``(x, y, w, index)`` elements to clip-labelled ones: ``y["expression"]`` = the clip's label on
    every frame, weight 1 on frames with a face (the others show no face to classify)."""
    import tensorflow as tf

    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(list(labels), tf.string),
                                            tf.constant(list(labels.values()), tf.int64)), default_value=-1)

    def relabel(x, y, weight, index):
        label = tf.cast(table.lookup(index["video_id"]), tf.int32)
        face = tf.cast(index["has_face"], tf.float32)
        label = tf.reshape(label, [-1] + [1] * (len(face.shape) - 1)) + tf.zeros_like(index["has_face"])
        y = {"expression": label}
        weight = {"expression": face}
        return (x, y, weight, index) if keep_index else (x, y, weight)

    return dataset.map(relabel)


# ==================================================================================================
# The recipes' base classes.

@dataclasses.dataclass(frozen=True)
class TransferRecipe(AffWildRecipe):
    """Base of the section 5 recipes: AffWildNet fine-tuned from ``init`` on the dataset ``layout``, or
    (``start="backbone"``) a comparison network trained there from its pretrained backbone."""

    layout: ClassVar[str] = ""
    """The dataset (importer name) the recipe fine-tunes on; its SynthAffect layout is the default data."""
    task: ClassVar[Literal["va", "expression"]] = "va"
    synthaffect: ClassVar[Mapping[str, Any]] = {
        **AffWildRecipe.synthaffect,
        "sequence_length": 16, "batch_size": 5,  # the paper's 80 frames per step in 16-frame windows, as the
                                                 # flagship's demo (one 80-frame sequence per step did not learn)
    }  # no CNN stage: section 5 starts from an AffWildNet run (init)
    input_fields: ClassVar[tuple[str, ...]] = (*AffWildRecipe.input_fields, "init")
    train_split: ClassVar[str] = "train"
    evaluation_split_name: ClassVar[str] = "validation"

    start: Literal["affwildnet", "backbone"] = hparam(
        "affwildnet", "'affwildnet': fine-tune the Aff-Wild-trained AffWildNet from init (section 5); 'backbone': "
                      "a comparison network of section 5 (Tables 15, 17, 18), trained on this dataset from the "
                      "pretrained conv part of its backbone (backbone_weights; section 4.2), never from Aff-Wild")
    init: Optional[str] = hparam(
        None, "initial weights: a finished AffWildNet run directory, a .keras/.weights.h5 file or the "
              "folder of `tfaffect convert affwildnet-tf1`; none = on SynthAffect the flagship recipe trained "
              f"first on other synthetic people (SynthAffect seed {FLAGSHIP_SYNTH_SEED}, a cached stage), with "
              "--data the newest finished runs/affwildnet run of this architecture, else random initialisation "
              "(logged as a WARNING and recorded); start 'affwildnet' only")
    quadrant_targets: tuple[float, ...] = hparam(
        (), "VA-quadrant oversampling: off; not fixed by the paper for section 5 (section 4.2 introduces it "
            "for Aff-Wild's imbalance only)")
    head_probe_steps: int = hparam(
        0, "EmotiW (task 'expression', from init): before fine-tuning, fit the new 7-way layer to the frozen "
           "network's features of this many training batches (a linear probe: multinomial logistic regression, "
           "scikit-learn's default C = 1), then fine-tune every layer from there (LP-FT, Kumar et al. 2022); "
           "0 = Keras's default initialisation. Section 5.2.1 names no initialisation for the new layer",
        source="chosen (paper silent)")

    # --------------------------------------------------------------------------------------------
    # Model and initial weights.

    def validate(self):
        super().validate()
        where = type(self).__name__
        allowed = ("affwildnet",) if self.start == "affwildnet" else ("cnn", "affwildnet")
        if self.architecture not in allowed:
            raise ConfigError(f"{where}.architecture = {self.architecture!r}: "
                              + ("the transfer recipes fine-tune AffWildNet ('affwildnet', Kollias 2019 section 5); "
                                 "a CNN trained from its backbone is start='backbone'" if self.start == "affwildnet"
                                 else "the comparison networks of section 5 are CNNs ('cnn') or CNN-RNNs "
                                      "('affwildnet')"))
        if self.start == "backbone" and self.init is not None:
            raise ConfigError(f"{where}: init = {self.init!r} applies to start='affwildnet' (fine-tuning AffWildNet); "
                              f"start='backbone' starts from backbone_weights")
        if self.cnn_pretrain and (self.start, self.architecture) != ("backbone", "affwildnet"):
            raise ConfigError(f"{where}: cnn_pretrain applies to a CNN-RNN trained from its backbone "
                              f"(start='backbone', architecture 'affwildnet'); the fine-tunings start from init")
        if self.head_probe_steps < 0 or (self.head_probe_steps and (self.task, self.start) != ("expression",
                                                                                            "affwildnet")):
            raise ConfigError(f"{where}.head_probe_steps = {self.head_probe_steps}: a count >= 0, and only for a new "
                              f"7-way layer on a trained AffWildNet (task 'expression', start 'affwildnet')")

    def smoke_overrides(self) -> dict[str, Any]:
        return {**super().smoke_overrides(), **({"head_probe_steps": 2} if self.head_probe_steps else {})}

    def cnn_stage_recipe(self) -> "TransferRecipe":
        """``cnn_pretrain`` of a CNN-RNN trained from its backbone (a SynthAffect overlay: the embedded analogue of
        the pretrained conv part, as the flagship's CNN stage): this recipe as the section 4.2 CNN on single frames
        of the same dataset and task (:meth:`AffWildRecipe.cnn_stage_changes`), monitored as this recipe; its conv
        part and FC 1 start the CNN-RNN (:meth:`AffWildRecipe.build_model`)."""
        return dataclasses.replace(self, **self.cnn_stage_changes())

    def model_architecture(self) -> dict[str, Any]:
        """The :data:`ARCHITECTURE_KEYS` values of this recipe's AffWildNet."""
        kwargs = self.model_kwargs()
        return {key: kwargs[key] for key in ARCHITECTURE_KEYS}

    @functools.cached_property
    def initial_weights(self) -> InitialWeights:
        """The resolved ``init`` (resolved once per recipe object; logged). ``start="backbone"``: the backbone
        weights (no flagship run is looked for)."""
        if self.start == "backbone":
            if self.cnn_pretrain:
                note = ("conv part and FC 1 from the CNN stage trained first on this data (cnn_pretrain), itself "
                        f"from {'backbone_weights' if self.backbone_weights else 'random initialisation'}")
            elif self.backbone_weights is not None:
                note = "pretrained conv part only"
            else:
                note = ("no backbone_weights: random initialisation (the paper starts from the pretrained "
                        f"{BACKBONE_NAMES[self.backbone]} conv part, section 4.2)")
            return InitialWeights("backbone", self.backbone_weights, None, note)
        if self.flagship_stage() is not None:
            path = self.stage_dir("flagship") / "model.keras"
            log.info("initial weights: the flagship stage %s", path.parent)
            return InitialWeights("flagship_stage", str(path), keras_file_config(path),
                                  f"recipes/{FLAGSHIP}.py trained first on SynthAffect seed {FLAGSHIP_SYNTH_SEED} "
                                  f"(other synthetic people than this run's), a cached stage")
        return resolve_init(self.init, self.model_architecture())

    def flagship_stage(self) -> Optional[RecipeStage]:
        """The ``flagship`` stage (see the module docstring): on SynthAffect without ``init``, the flagship
        recipe with this recipe's architecture, seed, smoke and label control, on SynthAffect seed
        :data:`FLAGSHIP_SYNTH_SEED`; ``None`` otherwise."""
        if self.start != "affwildnet" or self.init is not None or self.data is not None:
            return None
        from tfaffect.training.registry import find

        try:
            flagship = find(FLAGSHIP)
        except ConfigError as exc:
            raise ConfigError(f"{type(self).recipe_name()}: the flagship recipe {FLAGSHIP!r}, whose run this recipe "
                              f"fine-tunes, was not found ({exc}); pass --init PATH (a run directory or .keras "
                              f"file) instead") from None
        same = {key: getattr(self, key) for key in (*ARCHITECTURE_KEYS, "seed", "smoke", "deterministic",
                                                    "label_control")}
        return RecipeStage(flagship.configure({**same, "synthaffect_seed": FLAGSHIP_SYNTH_SEED}),
                           "transfer_flagship", FLAGSHIP)

    def requires(self) -> dict[str, Any]:
        """The ``flagship`` stage when there is one (:meth:`flagship_stage`)."""
        stage = self.flagship_stage()
        return {**super().requires(), **({"flagship": stage} if stage is not None else {})}

    def build_model(self) -> keras.Model:
        from tfaffect.models import AffWildNet

        if self.start == "backbone":  # as the section 4.2 models: backbone_weights, freeze
            base = super().build_model()
            return with_expression_head(base) if self.task == "expression" else base
        init = self.initial_weights
        kwargs = self.model_kwargs()
        if init.model_config is not None:
            kwargs.update({key: init.model_config[key] for key in ADOPTED_KEYS if key in init.model_config})
        if init.path is not None:
            kwargs["backbone_weights"] = None  # the initial weights replace the backbone's anyway
        base = self.finish_model(AffWildNet(**kwargs), fresh_output=init.path is None, pretrained=init.path is not None)
        load_initial_weights(base, init)
        if self.task != "expression":
            return base
        model = with_expression_head(base)
        if self.head_probe_steps:
            self.probe_head(model)
        return model

    def probe_head(self, model: keras.Model) -> None:
        """``head_probe_steps``: the ``expression`` layer of ``model`` set to a multinomial logistic regression
        (scikit-learn, C = 1) of the frames' labels on the features it reads (the last GRU layer, inference mode),
        over the frames with a label of the first ``head_probe_steps`` batches of the training stream (its label
        control included). A class without a frame there keeps a zero kernel and a bias of -20 (never predicted
        until fine-tuning moves it)."""
        from sklearn.linear_model import LogisticRegression

        head = model.get_layer("expression")
        encoder = keras.Model(model.inputs, head.input)
        features, labels = [], []
        for x, y, weight in self.datasets()[0].take(self.head_probe_steps).as_numpy_iterator():
            keep = weight["expression"] > 0
            features.append(np.asarray(encoder.predict_on_batch(x))[keep])
            labels.append(y["expression"][keep])
        x, y = np.concatenate(features).astype(np.float64), np.concatenate(labels).astype(int)
        if len(np.unique(y)) < 2:
            raise ConfigError(f"{type(self).__name__}.head_probe_steps = {self.head_probe_steps}: the probe's "
                              f"{len(y)} labelled frames hold {len(np.unique(y))} class(es); take more batches")
        fit = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
        coef, intercept = fit.coef_, fit.intercept_
        if len(fit.classes_) == 2:  # scikit-learn's binary form: one logit, the second class's against the first
            coef, intercept = np.vstack([0 * coef, coef]), np.concatenate([[0.0], intercept])
        kernel, bias = np.zeros(head.kernel.shape, np.float32), np.full(head.bias.shape, -20.0, np.float32)
        kernel[:, fit.classes_] = coef.T
        bias[fit.classes_] = intercept
        head.set_weights([kernel, bias])
        log.info("the new 7-way layer from a linear probe on %d frames of %d batches (training accuracy %.3f)",
                 len(y), self.head_probe_steps, fit.score(x, y))

    def initial_weights_deviation(self) -> Optional[dict[str, Any]]:
        """Section 5 fine-tunes AffWildNet trained on Aff-Wild; ``derived.init`` records what this run starts
        from, and only a start from random initialisation deviates. ``start="backbone"``: as the section 4.2
        models (a deviation without ``backbone_weights``)."""
        if self.start == "backbone":
            return super().initial_weights_deviation()
        published = "AffWildNet trained on Aff-Wild (section 5)"
        if self.initial_weights.source == "flagship_stage":
            return {"published": published, "used": self.initial_weights.note, "source": "paper"}
        if self.initial_weights.path is not None:
            return None
        return {"published": published, "used": "random initialisation", "source": "paper"}

    def derived(self, steps_per_epoch):
        return {**super().derived(steps_per_epoch), "init": self.initial_weights.to_dict()}

    def compile_args(self, learning_rate) -> dict[str, Any]:
        if self.task == "va":
            return super().compile_args(learning_rate)
        from tfaffect import losses, metrics

        return {
            "optimizer": keras.optimizers.Adam(learning_rate),  # as section 4.1.1 (sections 4.2 and 5 name none)
            # cross-entropy: not fixed by the paper (section 5.2.1 names only the 7-neuron output layer)
            "loss": {"expression": losses.MaskedSparseCategoricalCrossentropy()},
            "weighted_metrics": {"expression": [metrics.ExpressionAccuracy(name="accuracy")]},
        }

    # --------------------------------------------------------------------------------------------
    # Data.

    def data_dir(self) -> tuple[Path, bool]:
        return resolve_data(self.data, self.image_size, smoke=self.smoke, layout=self.layout,
                            synth_seed=self.synthaffect_seed)

    def train_splits(self) -> tuple[str, ...]:
        """The splits of the prepared data the model is fine-tuned on."""
        return (self.train_split,)

    def evaluation_split(self) -> str:
        """The split the run is scored on."""
        return self.evaluation_split_name

    def dataset_args(self, training: bool) -> dict[str, Any]:
        args = super().dataset_args(training)
        args["tasks"] = (self.task,)
        if self.task == "expression":
            args["with_index"] = True
        return args

    def map_targets(self, data: Path, dataset, training: bool):
        """EmotiW: every frame with a face gets its clip's label (from the shards' ``clip_label``)."""
        if self.task != "expression":
            return dataset
        splits = self.train_splits() if training else (self.evaluation_split(),)
        labels = {k: v for split in splits for k, v in clip_labels(data, split).items()}
        return _with_clip_labels(dataset, labels, False)

    def training_stream(self, data: Path, seed: int):
        """One epoch of training batches drawn from :meth:`train_splits` (several splits: elements
        mixed in proportion to their sizes, e.g. the four training folds of AFEW-VA)."""
        import tensorflow as tf

        from tfaffect.data.pipeline import make_dataset, num_elements

        splits = self.train_splits()
        if len(splits) == 1:
            return super().training_stream(data, seed)
        args = {k: v for k, v in self.training_args(seed).items() if k not in ("batch_size", "repeat")}
        window = {"mode": args["mode"], "seq_len": args["seq_len"], "stride": args["stride"]} \
            if "mode" in args else {}
        sizes = [num_elements(data, split, training=True, **window) for split in splits]
        total = sum(sizes)
        if total < self.batch_size:
            raise ConfigError(f"{type(self).__name__}: {total} training elements in {', '.join(splits)}, fewer "
                              f"than one batch of {self.batch_size}")
        streams = [make_dataset(data, split, batch_size=1, repeat=None, **{**args, "seed": seed + 101 * k})
                   .unbatch() for k, split in enumerate(splits) if sizes[k]]
        weights = [n / total for n in sizes if n]
        mixed = tf.data.Dataset.sample_from_datasets(streams, weights=weights, seed=seed,
                                                     rerandomize_each_iteration=True)
        batches = mixed.take(total).batch(self.batch_size, drop_remainder=True)
        return batches.apply(tf.data.experimental.assert_cardinality(total // self.batch_size))

    # --------------------------------------------------------------------------------------------
    # After training.

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        """The paper's scores on :meth:`evaluation_split`: CCC/PCC/MSE over all frames concatenated
        (VA), or clip accuracy per class and in total after frame aggregation (expression)."""
        if self.task == "va":
            return {**super().evaluate(model, run_dir), "init": self.initial_weights.to_dict()}
        from tfaffect import evaluation
        from tfaffect.data.pipeline import make_dataset
        from tfaffect.io import write_text_atomic

        data, synthetic = self.data_dir()
        split = self.final_split()
        batches = make_dataset(data, split, batch_size=self.batch_size, training=False, **self.dataset_args(False))
        name = SYNTHETIC if synthetic else data.name
        labels = clip_labels(data, split)
        # whole clips, the GRU state carried from each clip's first frame (AffWildRecipe.predictor)
        predict, batches = self.predictor(model, _with_clip_labels(batches, labels, True).as_numpy_iterator())
        frames = evaluation.collect_predictions(predict, batches)
        clips = clip_predictions(frames, labels)
        write_text_atomic(run_dir / "clips.csv", clips.to_csv())
        frame_level = evaluation.score_expression(frames)
        result = {"split": split, "data": str(data), "synthetic": synthetic, "init": self.initial_weights.to_dict(),
                  "frames": int(len(frames)), **clip_scores(clips), "frame_accuracy": frame_level["accuracy"],
                  "aggregation": "mean probability over the frames with a face, arg-max (see "
                                 "tfaffect/training/transfer.py)", **self.published_entries()}
        log.info("%s (%s): clip accuracy %.3f over %d clips (frame accuracy %.3f)", split, name,
                 result["accuracy"], result["clips"], result["frame_accuracy"])
        write_frame_outputs(frames, run_dir, name)
        return result

    def summary(self, metrics) -> str:
        evaluation = metrics.get("evaluation", {})
        if self.task == "va":
            lines = [super().summary(metrics)]
        else:
            lines = [f"run directory: {metrics['run_dir']}"]
            if evaluation:
                lines.append(_expression_lines(evaluation))
            lines += [_published_lines(key, evaluation) for key in self.published_keys()]
        lines.append(f"initial weights: {json.dumps(evaluation.get('init', self.initial_weights.to_dict()))}")
        return "\n".join(lines)


def _expression_lines(evaluation: Mapping[str, Any]) -> str:
    data = "SynthAffect (synthetic)" if evaluation.get("synthetic") else evaluation.get("data")
    return (f"{evaluation['split']} on {data}: clip accuracy {evaluation['accuracy']:.3f} over "
            f"{evaluation['clips']} clips (frame accuracy {evaluation['frame_accuracy']:.3f})")


def _published_lines(key: tuple[str, str, str], ours: Mapping[str, Any]) -> str:
    row = published.lookup(*key)
    where = "SynthAffect, synthetic: not comparable" if ours.get("synthetic") else ours.get("data")
    lines = [f"{key[1]}, {key[2]} ({row.dataset}) published vs ours ({where}):"]
    for metric, value in row.metrics.items():
        mine = ours.get(metric)
        lines.append(f"  {metric:22s} {value:6.3f}   {'-' if mine is None else format(mine, '6.3f')}")
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class CrossValidatedTransferRecipe(TransferRecipe):
    """A transfer recipe scored by k-fold cross-validation over the prepared splits ``fold0`` .. ``fold{k-1}``.

    ``fold=K`` trains on the other folds and scores fold K (one trainer run). ``fold=None`` (the
    default of ``python recipes/NAME.py``) runs every fold in turn into ``<run_dir>/fold<K>`` and writes
    the mean over the folds (:func:`aggregate_folds`) to ``<run_dir>/cross_validation.json`` and
    ``<run_dir>/metrics.json``; re-running with the same ``--run-dir`` resumes the unfinished folds.
    """

    num_folds: ClassVar[int] = NUM_FOLDS

    fold: Optional[int] = hparam(
        None, f"held-out fold 0..{NUM_FOLDS - 1} for one run; none = all folds in turn and their mean "
              f"(section 5.1.2: 5-fold person-independent cross-validation)")

    def validate(self):
        super().validate()
        if self.fold is not None and not 0 <= self.fold < self.num_folds:
            raise ConfigError(f"{type(self).__name__}.fold = {self.fold}: must be in 0..{self.num_folds - 1} or none")

    def smoke_overrides(self) -> dict[str, Any]:
        return {**super().smoke_overrides(), "fold": 0}

    def train_splits(self) -> tuple[str, ...]:
        self._require_fold()
        return tuple(f"fold{k}" for k in range(self.num_folds) if k != self.fold)

    def evaluation_split(self) -> str:
        self._require_fold()
        return f"fold{self.fold}"

    def _require_fold(self) -> None:
        if self.fold is None:
            raise ConfigError(f"{type(self).__name__}: fold=None means all {self.num_folds} folds; train them with "
                              f"the runner (what `python recipes/{self.recipe_name()}.py` does) or pass --fold K")

    def published_keys(self) -> tuple[tuple[str, str, str], ...]:
        # One fold is not the published protocol (the mean over the folds is): only the aggregate names the rows.
        return () if self.fold is not None else super().published_keys()

    def folds(self) -> list["CrossValidatedTransferRecipe"]:
        """``fold=None``: one recipe per fold, which the runner trains into ``<run_dir>/fold<K>``."""
        if self.fold is not None:
            return []
        return [dataclasses.replace(self, fold=k) for k in range(self.num_folds)]

    def combine_folds(self, run_dir: Path, folds) -> dict[str, Any]:
        """Write the mean over the folds' evaluations to ``cross_validation.json`` and ``metrics.json``; return
        the latter's content."""
        from tfaffect.io import write_json_atomic

        evaluations = [fold["evaluation"] for fold in folds]
        mean = aggregate_folds(evaluations)
        first = evaluations[0]
        evaluation = {"split": f"{self.num_folds}-fold cross-validation", "data": first["data"],
                      "synthetic": first["synthetic"], "init": first["init"], **mean}
        evaluation.update(self.published_entries())
        result = {"recipe": self.recipe_name(), "run_dir": str(run_dir), "fields": self.to_dict(),
                  "final": {k: mean[k] for k in FOLD_METRICS if k in mean}, "evaluation": evaluation,
                  "folds": [{"fold": k, "run_dir": str(run_dir / f"fold{k}"),
                             **{m: f.get(m) for m in (*FOLD_METRICS, "frames", "videos")}}
                            for k, f in enumerate(evaluations)]}
        write_json_atomic(run_dir / "cross_validation.json", result)
        write_json_atomic(run_dir / "metrics.json", result)
        return result

    def summary(self, metrics) -> str:
        """One fold: as any transfer run; all folds: the fold table, the mean and the published rows."""
        if self.fold is not None:
            return super().summary(metrics)
        return cross_validation_summary(self, metrics)


def cross_validation_summary(recipe: CrossValidatedTransferRecipe, metrics: Mapping[str, Any]) -> str:
    """The fold table, the mean, and the published rows beside it."""
    evaluation = metrics["evaluation"]
    lines = [f"run directory: {metrics['run_dir']} ({recipe.num_folds} folds, "
             f"{'SynthAffect, synthetic' if evaluation['synthetic'] else evaluation['data']})",
             "fold  frames  PCC_v   PCC_a   CCC_v   CCC_a"]
    for fold in metrics["folds"]:
        lines.append(f"{fold['fold']:4d}  {fold.get('frames') or 0:6d}  "
                     + "  ".join(f"{fold[m]:6.3f}" for m in ("pcc_valence", "pcc_arousal", "ccc_valence",
                                                              "ccc_arousal")))
    lines.append("mean        " + "  ".join(f"{evaluation[m]:6.3f}" for m in ("pcc_valence", "pcc_arousal",
                                                                               "ccc_valence", "ccc_arousal")))
    lines += [_published_lines(key, evaluation) for key in recipe.published_keys()]
    lines.append(f"initial weights: {json.dumps(evaluation['init'])}")
    lines.append(f"results: {Path(metrics['run_dir']) / 'cross_validation.json'}")
    return "\n".join(lines)


__all__ = ["ARCHITECTURE_KEYS", "CrossValidatedTransferRecipe", "InitialWeights", "TransferRecipe",
           "aggregate_folds", "clip_labels", "clip_predictions", "clip_scores",
           "keras_file_config", "load_initial_weights", "newest_flagship_run", "resolve_init",
           "with_expression_head"]
