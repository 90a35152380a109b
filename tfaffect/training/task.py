"""The task base every model family builds on: the data contract, the shuffled-label control, the evaluation,
the summary and the published rows a run reproduces.

A family (``training/<family>.py``) subclasses :class:`AffectTask` and supplies only what is its own: the
model (:meth:`~tfaffect.training.recipe.Recipe.build_model`), the compile arguments, the dataset arguments
(:meth:`AffectTask.dataset_args`, :meth:`AffectTask.sampling_args`, :meth:`AffectTask.map_targets`) and its
fields. Everything else is here, once:

* **data**: :meth:`AffectTask.data_dir` (``--data DIR`` or the embedded SynthAffect), training on
  :meth:`AffectTask.train_splits`, scoring on :meth:`AffectTask.evaluation_split`;
* **the shuffled-label control** (``--label-control shuffled``): every training image paired with the labels of
  an unrelated, independently drawn example, a run that must not learn;
* **evaluation** after training on the whole evaluation split: per-frame outputs (``frames.csv``), per-video
  scores, FACE/ALL protocols, plots (:func:`write_frame_outputs`), and a warning when a valence/arousal CCC
  stays below :data:`LEARNING_FLOOR`;
* **published rows**: :attr:`AffectTask.published_rows` (or :meth:`AffectTask.published_keys` where the row
  depends on the fields) name the ``(paper, table, row)`` entries of :mod:`tfaffect.published` a run
  reproduces; the summary and ``report.md`` put ours beside them.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Optional

import keras

from tfaffect.training.data import resolve_data
from tfaffect.training.recipe import Recipe, hparam

log = logging.getLogger(__name__)

PLOT_VIDEOS = 3
"""Validation videos drawn large in ``va_over_time_<video>.png`` (the first ones in manifest order); every
video is in the grid pages ``va_grid_NN.png``."""
LEARNING_FLOOR = 0.2
"""A validation CCC below this after a run means it did not learn that dimension (chosen: shuffled-label
controls end within +-0.05 of 0 on SynthAffect, the default flagship run above 0.5; see the README)."""
SHUFFLED_LABEL_SEED = 7919
"""Offset of the seed of the label stream of the shuffled-label control (any other seed than the images')."""
SYNTHETIC = "SynthAffect, synthetic"


@dataclasses.dataclass(frozen=True)
class AffectTask(Recipe):
    """Base of every model family's recipes (see the module docstring). Not a published result itself."""

    published_rows: ClassVar[tuple[tuple[str, str, str], ...]] = ()
    """``(paper, table, row)`` keys of :mod:`tfaffect.published` this recipe reproduces; the first is the
    headline row. A family whose row follows from its fields overrides :meth:`published_keys` instead."""
    protocols: ClassVar[tuple[str, ...]] = ("face", "all")
    """Valence/arousal scoring protocols of the evaluation (:func:`tfaffect.evaluation.evaluate`)."""
    headline: ClassVar[tuple[str, ...]] = ("ccc_valence", "ccc_arousal", "mse_valence", "mse_arousal")
    """Evaluation scores the log and the summary print, in this order (those the run has)."""

    synthaffect: ClassVar[Mapping[str, Any]] = {}
    """The SynthAffect demo overlay: field -> the value a run on the embedded synthetic data (no ``--data``) uses
    instead of the published one. A literal dict in the recipe file, each entry with its measured reason;
    recorded in the run's ``derived.deviations``; ``--data`` runs use the published values."""
    synthaffect_rows: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    """Further overlay entries of single rows (``rows``), applied over :attr:`synthaffect`."""

    input_fields: ClassVar[tuple[str, ...]] = (*Recipe.input_fields, "split")
    synthaffect_test_split: ClassVar[bool] = False
    """True: every run of the family on SynthAffect reads it with its labelled test split, so that the recipes
    scoring the test split and those scoring validation share one set of cached stages (:meth:`synthaffect_test`)."""

    split: Optional[str] = hparam(
        None, "the split the final evaluation scores; none = the recipe's own (the validation split, or the "
              "held-out fold). The published Aff-Wild and Aff-Wild2 numbers are mostly test-set numbers (each "
              "recipe's docstring says): pass --split test where the data has a labelled test split (SynthAffect: "
              "generated with one, 8 more unseen people). The best epoch is still chosen on the validation split")
    label_control: Literal["none", "shuffled"] = hparam(
        "none", "learning check: 'shuffled' pairs every training image with the labels of an "
                "unrelated, independently drawn example (a control that must not learn)")

    def synthetic_overrides(self) -> dict[str, Any]:
        """:attr:`synthaffect`, with this row's :attr:`synthaffect_rows` entries over it."""
        return {**self.synthaffect, **self.synthaffect_rows.get(self.row, {})}

    # ----------------------------------------------------------------------------------------------
    # What a family supplies.

    def dataset_args(self, training: bool) -> dict[str, Any]:
        """Keyword arguments of :func:`tfaffect.data.pipeline.make_dataset` shared by training and evaluation
        (image size, tasks, frames or windows, seed); ``training`` tells which."""
        raise NotImplementedError(f"{type(self).__name__} must define dataset_args()")

    def sampling_args(self) -> dict[str, Any]:
        """Extra ``make_dataset`` arguments of the training stream only (balancing, flips). Default: none."""
        return {}

    def map_targets(self, data: Path, dataset, training: bool):
        """Turn the pipeline's batches into the model's targets (e.g. add a derived target). Default: as read."""
        return dataset

    # ----------------------------------------------------------------------------------------------
    # Data.

    def data_dir(self) -> tuple[Path, bool]:
        """``(prepared data, synthetic?)``: ``--data DIR``, else the embedded SynthAffect at ``image_size``."""
        return resolve_data(self.data, self.image_size, smoke=self.smoke, test_split=self.synthaffect_test())

    def synthaffect_test(self) -> bool:
        """Whether SynthAffect (no ``--data``) is generated with its labelled test split
        (:data:`~tfaffect.training.data.TEST_VIDEOS`): for ``--split test``, and for every run of a family whose
        :attr:`synthaffect_test_split` says so. Its training and validation shards are the same either way."""
        return self.synthaffect_test_split or self.split == "test"

    def train_splits(self) -> tuple[str, ...]:
        """The splits of the prepared data the model is trained on."""
        return ("train",)

    def evaluation_split(self) -> str:
        """The split in-training validation reads (and the final evaluation, unless ``split`` says otherwise)."""
        return "validation"

    def final_split(self) -> str:
        """The split the final evaluation scores: ``split``, else :meth:`evaluation_split`."""
        return self.split or self.evaluation_split()

    def read(self, split: str, **kwargs):
        """Batches of ``split``: :func:`tfaffect.data.pipeline.make_dataset` over :meth:`data_dir` with ``kwargs``.
        A family that trains on cached per-frame features reads them here instead."""
        from tfaffect.data.pipeline import make_dataset

        return make_dataset(self.data_dir()[0], split, **kwargs)

    def training_stream(self, data: Path, seed: int):
        """One epoch of training batches from :meth:`train_splits` (one split: :meth:`read`)."""
        (split,) = self.train_splits()
        return self.read(split, **self.training_args(seed))

    def training_args(self, seed: int) -> dict[str, Any]:
        return dict(self.dataset_args(True), batch_size=self.batch_size, training=True, repeat=False,
                    **self.sampling_args(), seed=seed)

    def datasets(self):
        data, _ = self.data_dir()
        train = self.training_stream(data, self.seed)
        if self.label_control == "shuffled":
            # Same image stream; labels and weights from an independently seeded stream of the same
            # distribution, so nothing links an image to its label.
            train = with_labels_of(train, self.training_stream(data, self.seed + SHUFFLED_LABEL_SEED))
        if self.split:  # refused before training, naming the splits there are
            from tfaffect.data.tfrecord import load_manifest, split_shards

            split_shards(load_manifest(data), self.split)
        val = self.read(self.evaluation_split(), batch_size=self.batch_size, training=False, **self.dataset_args(False))
        return self.map_targets(data, train, True), self.map_targets(data, val, False)

    # ----------------------------------------------------------------------------------------------
    # After training: the paper's scores on the whole evaluation split.

    def published_keys(self) -> tuple[tuple[str, str, str], ...]:
        """The ``(paper, table, row)`` entries of :mod:`tfaffect.published` this configuration reproduces."""
        return tuple(self.published_rows)

    @classmethod
    def table_text(cls) -> str:
        return cls.table or "; ".join(f"{table}, row {row}" for _, table, row in cls.published_rows)

    def predictor(self, model: keras.Model, batches):
        """``(predict_batch, batches)`` for :func:`tfaffect.evaluation.evaluate`. Default: the model, batch by batch."""
        return model.predict_on_batch, batches

    def evaluation_frames(self, model: keras.Model, split: str):
        """``(scores, frames)`` of ``model`` over every frame of ``split``
        (:func:`tfaffect.evaluation.evaluate`): what :meth:`evaluate` writes and returns for the final split."""
        from tqdm.auto import tqdm

        from tfaffect import evaluation
        from tfaffect.data.pipeline import known_length
        from tfaffect.data.tfrecord import naming_bad_shards

        batches = self.read(split, batch_size=self.batch_size, training=False,
                            **{**self.dataset_args(False), "with_index": True})
        with naming_bad_shards(self.data_dir()[0], split):  # a corrupt record names its shard
            # The progress bar counts the batches read, not what the predictor yields: a whole-video predictor
            # (AffWildNet) yields its first video only after the per-frame pass over every batch (88 s of the
            # flagship's evaluation on 2 cores), which a bar over its yields showed as a stall at 0.
            read = tqdm(batches.as_numpy_iterator(), desc=f"evaluate {split}", unit="batch",
                        total=known_length(batches))
            predict, outputs = self.predictor(model, read)
            try:
                return evaluation.evaluate(predict, outputs, protocols=self.protocols, progress=False)
            finally:
                read.close()

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        data, synthetic = self.data_dir()
        split = self.final_split()
        scores, frames = self.evaluation_frames(model, split)
        name = SYNTHETIC if synthetic else data.name
        write_frame_outputs(frames, run_dir, name)
        result = {"split": split, "data": str(data), "synthetic": synthetic, **scores}
        result.update(self.published_entries())
        log.info("%s (%s, all frames concatenated): %s", split, name,
                 ", ".join(f"{k} {result[k]:.3f}" for k in self.headline if k in result))
        return result

    def published_entries(self) -> dict[str, Any]:
        """``published_row`` (the headline) and, for several, ``published_rows``: what the report reads."""
        keys = self.published_keys()
        if not keys:
            return {}
        out: dict[str, Any] = {"published_row": list(keys[0])}
        if len(keys) > 1:
            out["published_rows"] = [list(key) for key in keys]
        return out

    def summary(self, metrics: Mapping[str, Any]) -> str:
        """What a run printed at its end: the evaluation on the whole evaluation split first (the run's score),
        the in-training validation labelled as such, where everything is, ours beside the published rows;
        also writes ``report.md``."""
        from tfaffect.io import write_text_atomic
        from tfaffect.report import report
        from tfaffect.training.trainer import in_training_text

        run_dir = Path(metrics["run_dir"])
        evaluation = metrics.get("evaluation", {})
        warnings = [] if self.smoke else learning_warnings(evaluation)  # a smoke run is not meant to learn
        lines = list(warnings)
        if evaluation:
            data = "SynthAffect (synthetic)" if evaluation.get("synthetic") else evaluation.get("data")
            scores = ", ".join(f"{k.replace('_', ' ')} {evaluation[k]:.3f}" for k in self.headline if k in evaluation)
            lines.append(f"{evaluation.get('split', 'validation')} on {data}"
                         + (f", {evaluation['frames']} frames, all concatenated" if "frames" in evaluation else "")
                         + f": {scores}")
        lines += [f"({in_training_text(metrics)}: what picks the best epoch, not the run's score)",
                  f"run directory: {run_dir}"]
        keys = self.published_keys()
        if keys:
            text = report(keys[0][0], list(dict.fromkeys(table for _, table, _ in keys)), [run_dir])
            write_text_atomic(run_dir / "report.md", "\n\n".join([*warnings, text]) + "\n")
            lines += ["", text, "", f"report: {run_dir / 'report.md'}"]
        checkpoints = ", ".join(sorted(p.name for p in (run_dir / "checkpoints").glob("epoch_*.weights.h5")))
        plots = sorted({re.sub(r"\d+", "*", p.name) for p in (run_dir / "plots").glob("*.png")})
        found = [("plots", "plots", f" ({', '.join(plots)})"), ("per-frame predictions", "frames.csv", ""),
                 ("per-video scores", "per_video.csv", ""), ("model", "model.keras", ""),
                 ("checkpoints", "checkpoints", f" ({checkpoints or 'none'})"),
                 ("training log", "history.csv", f" (TensorBoard: {run_dir / 'tensorboard'})")]
        lines += [f"{what}: {run_dir / name}{more}" for what, name, more in found if (run_dir / name).exists()]
        return "\n".join(lines)


def learning_warnings(evaluation: Mapping[str, Any], keys=("ccc_valence", "ccc_arousal")) -> list[str]:
    """One warning line per score of ``evaluation`` below :data:`LEARNING_FLOOR` (also logged): the run
    did not learn that dimension, and what to try."""
    out = []
    for key in keys:
        if key in evaluation and not evaluation[key] >= LEARNING_FLOOR:
            line = (f"WARNING: validation {key.replace('_', ' ')} = {evaluation[key]:.3f} is below "
                    f"{LEARNING_FLOOR}: this run did not learn it. Try more steps (--epochs, "
                    f"--max-steps-per-epoch), another --learning-rate or --seed, and check the data with "
                    f"`tfaffect evaluate` on its training split; the default SynthAffect run reaches >= 0.5 "
                    f"(README).")
            log.warning("%s", line)
            out.append(line)
    return out


def write_frame_outputs(frames, run_dir: Path, data_name: str) -> None:
    """Write an evaluation's per-frame table to ``run_dir``: ``frames.csv``, and where it has valence and
    arousal predictions and annotations also ``per_video.csv`` and the plots: every video in a grid
    (``va_grid_NN.png``, :func:`tfaffect.plots.va_grid`), the first :data:`PLOT_VIDEOS` videos large
    (``va_over_time_<video>.png``), frames without a face shaded in both; the predicted and the annotated
    (valence, arousal) histograms side by side over the frames with a face (``va_histogram.png``,
    :func:`histogram_values`)."""
    from tfaffect import evaluation, plots
    from tfaffect.io import safe_filename, write_text_atomic

    write_text_atomic(run_dir / "frames.csv", frames.to_csv(index=False))
    (run_dir / "plots").mkdir(parents=True, exist_ok=True)
    if "valence" not in frames or "valence_true" not in frames:
        return
    write_text_atomic(run_dir / "per_video.csv", evaluation.per_video_scores(frames[frames["has_face"]]).to_csv())
    traces = video_traces(frames)
    for trace in traces[:PLOT_VIDEOS]:
        plots.va_over_time(run_dir / "plots" / f"va_over_time_{safe_filename(trace.name)}.png", trace.time,
                           trace.predicted, trace.truth, flagged=trace.flagged, title=f"{trace.name} ({data_name})")
    plots.va_grid(run_dir / "plots", traces, title=f"validation ({data_name})")
    predicted, truth = histogram_values(frames)
    plots.va_histograms(run_dir / "plots" / "va_histogram.png", {"predicted": predicted, "annotation": truth},
                        title=f"validation ({data_name}), frames with a face")


def video_traces(frames) -> list:
    """One :class:`tfaffect.plots.Trace` per video of an evaluation's per-frame table, in its order: frame
    numbers, predicted and annotated (valence, arousal), and ``flagged`` = no face (interpolated)."""
    from tfaffect.plots import Trace

    return [Trace(str(video), rows["frame"].to_numpy(), rows[["valence", "arousal"]].to_numpy(),
                  rows[["valence_true", "arousal_true"]].to_numpy(), ~rows["has_face"].to_numpy(bool))
            for video, rows in frames.groupby("video_id", sort=False)]


def histogram_values(frames):
    """``(predicted, annotated)`` (valence, arousal) pairs ``[N, 2]`` of the frames with a face (interpolated
    no-face frames left out), what ``va_histogram.png`` counts."""
    face = frames[frames["has_face"].to_numpy(bool)]
    return face[["valence", "arousal"]].to_numpy(), face[["valence_true", "arousal_true"]].to_numpy()


def per_video_sequences(frame_outputs, batches):
    """Whole videos from windowed evaluation batches, for models that look back across window starts.

    ``batches``: ``(x, y, weight, index)`` of ``make_dataset(..., training=False, with_index=True)`` in windows
    mode (``[B, T, ...]``; frames a tail window repeats, and padding (frame -1), are taken once / dropped).
    ``frame_outputs(x)`` maps a batch's inputs to per-frame outputs ``[B, T, ...]`` (an array or a dict of
    arrays: e.g. a model's per-frame part). Yields one batch per video, in order of first appearance:
    ``(outputs [1, N, ...], y [1, N], weight [1, N], index)`` with the video's N frames in frame order, what
    the model's sequence part, run on it, turns into the predictions of one call on the whole video.
    Memory: one video's per-frame outputs (not its images).
    """
    import numpy as np

    videos: dict[str, dict[int, tuple]] = {}
    for x, y, weight, index in batches:
        out = frame_outputs(x)
        out = {k: np.asarray(v) for k, v in out.items()} if isinstance(out, Mapping) else np.asarray(out)
        for b, video in enumerate(np.asarray(index["video_id"]).reshape(-1)):
            frames = videos.setdefault(video.decode() if isinstance(video, bytes) else str(video), {})
            for t, frame in enumerate(np.asarray(index["frame"][b]).tolist()):
                if frame >= 0 and frame not in frames:
                    value = {k: v[b, t] for k, v in out.items()} if isinstance(out, dict) else out[b, t]
                    frames[frame] = (value, {k: v[b, t] for k, v in y.items()},
                                     {k: v[b, t] for k, v in weight.items()}, index["has_face"][b, t])

    for video, frames in videos.items():
        order = sorted(frames)
        rows = [frames[f] for f in order]
        first = rows[0][0]
        outputs = ({k: np.stack([r[0][k] for r in rows])[None] for k in first} if isinstance(first, dict)
                   else np.stack([r[0] for r in rows])[None])
        yield (outputs,
               {k: np.stack([r[1][k] for r in rows])[None] for k in rows[0][1]},
               {k: np.stack([r[2][k] for r in rows])[None] for k in rows[0][2]},
               {"video_id": np.array([video]), "frame": np.array(order)[None],
                "has_face": np.array([r[3] for r in rows])[None]})


def with_labels_of(images, labels):
    """``x`` from ``images`` with everything else from ``labels``: ``(x, y, w)``, or ``(x, y, w, index)`` where the
    stream carries the frames' index (the EmotiW recipe reads each frame's clip label and face flag from it, so the
    index must travel with the labels). The shuffled-label control."""
    import tensorflow as tf

    return tf.data.Dataset.zip(images, labels).map(lambda a, b: (a[0], *b[1:]))


__all__ = ["AffectTask", "LEARNING_FLOOR", "PLOT_VIDEOS", "histogram_values", "learning_warnings", "video_traces",
           "with_labels_of", "write_frame_outputs"]
