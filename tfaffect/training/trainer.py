"""Train a :class:`~tfaffect.training.recipe.Recipe` with Keras ``fit``: run directory, logs, resume.

:func:`train` is generic: any compilable Keras model and any ``tf.data`` dataset of batched
``(x, y, sample_weight)`` dicts. A run directory holds::

    config.json           resolved recipe fields + derived values (steps per epoch, LR boundaries)
    provenance.json       per session: UTC start, command line, git SHA + dirty flag, versions, devices
    train.log             the log lines of every session
    training_log.csv      Keras CSVLogger (epoch 0-based, appended across sessions)
    tensorboard/          Keras TensorBoard logs
    checkpoints/epoch_NNN.weights.h5   model + optimizer weights after epoch NNN (1-based): by default
                          the best epoch's (by the recipe's monitor) and the last one
                          (``Recipe.keep_checkpoints``)
    workers/worker-N/     under --distribute multiworker, the same files of each worker but the chief
    backup/               keras BackupAndRestore state while a run is unfinished
    history.csv           one row per epoch (1-based), written at the end
    plots/learning_curve.png   loss and the monitored metric per epoch, training vs validation
    metrics.json          the last epoch's in-training validation metrics (``final``; ``validation``
                          says how many batches they read), best epoch, wall time, frames/s, and the
                          recipe's evaluation on the whole evaluation split (``evaluation``)
    model.keras           the final model

Re-running with the same run directory resumes an interrupted run from its last finished epoch
(model, optimizer and random-generator states, and the shuffle order of a finite training
dataset), and returns the stored metrics of a finished one. Files are written atomically under
:mod:`tfaffect.io`'s temporary names ``<name>.tmp-<host>-<pid>`` (a folder of that name holding
``<name>`` where Keras needs the suffix), which no result glob matches; each start removes those
whose owner process is gone.

This module is TensorFlow-specific (tf.data, tf.distribute); models it trains use keras only.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import io
import json
import logging
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import keras
import numpy as np
import tensorflow as tf
from keras import ops

import tfaffect
from tfaffect import plots
from tfaffect.io import atomic_path, clean_orphans, owner_alive, temp_path, write_json_atomic, write_text_atomic
from tfaffect.errors import ConfigError, DataError
from tfaffect.training.recipe import Recipe
from tfaffect.training.schedules import learning_rate

log = logging.getLogger(__name__)

# Columns the trainer adds to each epoch's logs (CSV, history, TensorBoard) beside Keras's metrics.
EXTRA_KEYS = ("lr", "epoch_time_s", "train_time_s", "train_frames")


# --------------------------------------------------------------------------------------------------
# Small helpers.

def utc_timestamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def default_run_dir(recipe: Recipe, root: str | os.PathLike = "runs") -> Path:
    """``runs/<recipe name>/<UTC timestamp>``, with a ``-2``, ``-3`` ... suffix if it exists."""
    base = Path(root) / type(recipe).recipe_name() / utc_timestamp()
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def git_info(path: str | os.PathLike | None) -> dict[str, Any]:
    """``{"sha": ..., "dirty": ...}`` of the checkout holding ``path``; ``"unknown"`` outside one.

    ``dirty`` is true when tracked files differ from the commit (untracked files are ignored).
    """
    folder = Path(path) if path is not None else Path(tfaffect.__file__).parent
    if folder.is_file():
        folder = folder.parent

    def git(*args):
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"sha": "unknown", "dirty": None}
    return {"sha": sha, "dirty": dirty}


def environment_info(strategy=None) -> dict[str, Any]:
    """Versions and devices, for provenance.json."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tfaffect": tfaffect.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "devices": [f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()],
        "replicas": getattr(strategy, "num_replicas_in_sync", 1),
        "cluster": _cluster_info(strategy),
        "dtype_policy": keras.config.dtype_policy().name,
    }


# --------------------------------------------------------------------------------------------------
# Temporary files (tfaffect.io's names: <name>.tmp-<host>-<pid>) and what older trainers left.

_LEGACY_TEMP_NAME = re.compile(r"tmp(?P<pid>\d+)\.(?:weights\.h5|keras)\Z")
"""Temporary names of trainers before tfaffect.io's: ``checkpoints/tmp<pid>.weights.h5`` (matched by
``*.weights.h5``), ``tmp<pid>.keras``."""
_LEGACY_BACKUP_TEMPS = ("latest.tmp.weights.h5", "training_metadata.json.tmp")
"""Fixed temporary names of the backup before tfaffect.io's (only a process training the same run
directory could own them, and two trainers never share a run directory)."""


def _clean_orphans(run_dir: Path) -> list[Path]:
    """Remove what killed writes left in ``run_dir``, ``checkpoints/`` and ``backup/``: temporary
    files and folders (:func:`tfaffect.io.clean_orphans`: those of processes of this host that are
    gone) and the temporary names of earlier trainers. Return the paths removed."""
    removed = []
    for folder in (run_dir, run_dir / "checkpoints", run_dir / "backup"):
        removed += clean_orphans(folder)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            legacy = _LEGACY_TEMP_NAME.fullmatch(entry.name)
            if legacy is not None:
                try:
                    gone = not owner_alive(int(legacy["pid"]), entry.stat(follow_symlinks=False).st_mtime)
                except OSError:
                    continue
            else:
                gone = folder.name == "backup" and entry.name in _LEGACY_BACKUP_TEMPS
            if gone:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    log.info("removed %s, left by a process that is gone (killed mid-write)", entry.path)
                    removed.append(Path(entry.path))
    return removed


def _read_json(path: Path) -> Any:
    """A run directory's JSON file; a damaged one is a :class:`DataError` naming the file and line."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); remove the file "
                        "or pass another --run-dir", path) from None


# --------------------------------------------------------------------------------------------------
# Callbacks.

class ResumableBackup(keras.callbacks.BackupAndRestore):
    """``keras.callbacks.BackupAndRestore`` that makes a resumed run repeat the uninterrupted one.

    Keras's callback restores model and optimizer weights and the epoch. This one also

    * saves and restores the random-generator states of the model's layers (``Dropout`` and
      augmentation layers draw from ``keras.random.SeedGenerator`` variables that ``save_weights``
      leaves out: without them a resumed run drops different units);
    * replays the training dataset's shuffle order: a ``tf.data`` ``shuffle`` draws a new order each
      time an iterator of it is made, so it makes (and discards) one iterator of ``replay_dataset``
      per restored epoch. That is exact when the dataset given to fit makes one iterator of it per
      epoch, or is a repetition of one that does (see ``_prepare_train``); pass ``None`` when fit
      keeps one iterator of an endless stream, which restarts from the stream's beginning;
    * writes the weights and the metadata under temporary names and renames them into place, so a
      kill during a save leaves the previous epoch's state.

    Overrides Keras's ``_save_model`` / ``_load_model`` (present since Keras 3.0); the resume test
    in tests/training fails if a Keras release changes them.
    """

    METADATA_KEY = "random_states"

    def __init__(self, backup_dir, replay_dataset=None):
        super().__init__(backup_dir=str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.replay_dataset = replay_dataset
        self.restored_epoch = 0

    def _random_state_variables(self):
        weights = {id(v) for v in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        metadata = {
            "epoch": self._current_epoch,
            "batch": self._last_batch_seen,
            self.METADATA_KEY: [ops.convert_to_numpy(v).tolist() for v in self._random_state_variables()],
        }
        tmp_metadata = temp_path(self._training_metadata_path)
        with atomic_path(self._weights_path) as tmp_weights:
            self.model.save_weights(tmp_weights, overwrite=True)
            with open(tmp_metadata, "w", encoding="utf-8") as f:
                json.dump(metadata, f)
        os.replace(tmp_metadata, self._training_metadata_path)

    def _load_model(self):
        super()._load_model()
        if not os.path.exists(self._training_metadata_path):
            return
        metadata = _read_json(Path(self._training_metadata_path))
        self.restored_epoch = int(metadata["epoch"])
        states = metadata.get(self.METADATA_KEY, [])
        variables = self._random_state_variables()
        if len(states) != len(variables):
            raise ConfigError(f"{self._training_metadata_path}: {len(states)} random states saved, the "
                              f"model has {len(variables)}: the run directory belongs to another model")
        for variable, state in zip(variables, states):
            variable.assign(np.asarray(state, dtype=variable.dtype))
        if self.replay_dataset is not None:
            for _ in range(self.restored_epoch):
                iter(self.replay_dataset)  # advances the reshuffle seed as one epoch did


class EpochLog(keras.callbacks.Callback):
    """Adds timing columns to each epoch's logs and writes one log line per epoch.

    Columns: ``lr`` (the rate of the epoch's first step), ``epoch_time_s`` (train + validation),
    ``train_time_s``, ``train_frames`` (steps x batch size x frames per example, nominal: a short
    last batch counts as full). Place it before CSVLogger so the columns reach the CSV.
    """

    def __init__(self, epochs: int, frames_per_step: int):
        super().__init__()
        self.epochs = epochs
        self.frames_per_step = frames_per_step
        self.first_epoch: Optional[int] = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch
            if epoch > 0:
                log.info("resumed from backup: epochs 1-%d restored, continuing at epoch %d/%d",
                         epoch, epoch + 1, self.epochs)
        self._lr = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self._start = time.perf_counter()
        self._train_time = None
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_test_begin(self, logs=None):
        if self._train_time is None:
            self._train_time = time.perf_counter() - self._start

    def on_epoch_end(self, epoch, logs=None):
        total = time.perf_counter() - self._start
        train_time = total if self._train_time is None else self._train_time
        metrics = " ".join(f"{k}={v:.6g}" for k, v in logs.items() if k not in EXTRA_KEYS)
        logs.update(lr=self._lr, epoch_time_s=total, train_time_s=train_time,
                    train_frames=self._steps * self.frames_per_step)
        log.info("epoch %d/%d: %s lr=%.3g (%.1f s, %.0f frames/s)", epoch + 1, self.epochs, metrics,
                 self._lr, total, logs["train_frames"] / max(train_time, 1e-9))


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves ``epoch_NNN.weights.h5`` (1-based, model + optimizer) atomically after each epoch.

    ``keep=None`` (the default of ``Recipe.keep_checkpoints``) keeps two files: the best epoch's by
    ``monitor`` (what ``tfaffect export --weights best`` loads) and the last one; an integer keeps the
    newest ``keep``. The best epoch is picked from every epoch of the run, those of earlier sessions
    included (read from ``log_path``, the CSVLogger file), as :func:`summarize` picks it.
    """

    def __init__(self, directory: Path, keep: Optional[int] = None, *, monitor: str = "val_loss",
                 mode: str = "min", log_path: Optional[Path] = None):
        super().__init__()
        self.directory = Path(directory)
        self.keep = keep
        self.monitor = monitor
        self.mode = mode
        self.log_path = log_path

    def on_epoch_end(self, epoch, logs=None):
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / checkpoint_name(epoch + 1)
        with atomic_path(path) as tmp:
            self.model.save_weights(tmp, overwrite=True)
        saved = sorted(self.directory.glob("epoch_*.weights.h5"))
        if self.keep is not None:
            keep = set(saved[-self.keep:])
        else:
            rows = {row["epoch"]: row for row in (_read_log(self.log_path) if self.log_path else [])}
            rows[epoch + 1] = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
            best = best_row(list(rows.values()), self.monitor, self.mode)
            keep = {path} | ({self.directory / checkpoint_name(int(best["epoch"]))} if best else set())
        for old in saved:
            if old not in keep:
                old.unlink()


def _tensorboard(log_dir: Path) -> list:
    """A TensorBoard callback, or none (with a warning) where the tensorboard package is missing."""
    try:
        import tensorboard  # noqa: F401  (tf.summary needs it; TF 2.21 does not depend on it)
    except ImportError:
        log.warning("package tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
        return []
    return [keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False)]


def checkpoint_name(epoch: int) -> str:
    """File name of the checkpoint after 1-based ``epoch``."""
    return f"epoch_{epoch:03d}.weights.h5"


# --------------------------------------------------------------------------------------------------
# Strategy, datasets.

def make_strategy(name: str):
    """The ``tf.distribute`` strategy for ``Recipe.distribute`` (``None`` on a non-TF backend)."""
    if keras.backend.backend() != "tensorflow":
        if name != "default":
            raise ConfigError(f"distribute={name!r} needs KERAS_BACKEND=tensorflow "
                              f"(backend is {keras.backend.backend()})")
        return None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _num_workers(strategy) -> int:
    """Training processes in a multi-worker strategy's cluster (chief and workers); 1 otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, sum(len(spec.get(job, [])) for job in ("chief", "worker")))


def _shard_across_workers(strategy, dataset):
    """``dataset`` with the auto-shard policy DATA when ``strategy`` spans several workers.

    DATA, not FILE: the Keras data adapter distributes each split with
    ``experimental_distribute_dataset``, which then splits every global batch into per-replica
    batches and gives each worker its replicas' share. So one step of N workers trains on exactly
    the batch one worker would (each worker's part of every batch is disjoint from the others'),
    whatever the number of shard files (the smoke and the transfer datasets have one per split) or
    whether the pipeline reads files at all (in-memory caches, class-balanced streams). FILE would
    need at least as many files per split as workers, uneven file sizes would stall the workers
    that finish first, and reading in memory has no file to shard. The cost: every worker reads
    and decodes the whole stream and keeps its share of it.
    """
    if dataset is None or _num_workers(strategy) < 2:
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _cluster_info(strategy) -> Optional[dict[str, Any]]:
    """This process's place in a multi-worker cluster, for provenance.json and the log; ``None`` otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or getattr(resolver, "task_type", None) is None:
        return None
    workers = _num_workers(strategy)
    return {"task": f"{resolver.task_type}:{resolver.task_id}", "workers": workers,
            "replicas_in_sync": strategy.num_replicas_in_sync,
            "auto_shard_policy": "DATA" if workers > 1 else None}


def _is_chief(resolver) -> bool:
    """Whether the task ``resolver`` names (a cluster resolver, or ``None``) writes the run directory itself:
    no cluster, the chief, or worker 0 of a cluster without a chief."""
    task_type = getattr(resolver, "task_type", None)
    if task_type in (None, "chief"):
        return True
    return task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def chief_process(recipe: Recipe) -> bool:
    """Whether this process writes ``recipe``'s run directory itself (not another task of a multi-worker
    cluster, which writes ``workers/<task>``), read from ``TF_CONFIG`` without building the strategy."""
    if recipe.distribute != "multiworker":
        return True
    return _is_chief(tf.distribute.cluster_resolver.TFConfigClusterResolver())


def _worker_dir(strategy, run_dir: Path) -> Path:
    """The chief writes ``run_dir``; other multi-worker tasks write ``run_dir/workers/<task>``."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if _is_chief(resolver):
        return run_dir
    return run_dir / "workers" / f"{resolver.task_type}-{resolver.task_id}"


@contextlib.contextmanager
def _keras_distribution_fixes(model: keras.Model, element_spec):
    """Build the model's training state from ``element_spec`` before ``fit``, and work around two Keras 3
    TF-trainer bugs under a ``tf.distribute`` strategy, for one ``fit``.

    0. Without a strategy scope Keras builds the optimizer's slots and the loss trackers inside the first
       trace of the train step; a ``tf.function`` that creates variables is traced twice, so the whole
       forward and backward graph was built twice (stat_lstm --smoke's ResNet-50 stages: 36 s each before, 18 s
       after, on 2 loaded CPU cores, 2026-12-04). Built here first, the step is traced once
       (tests/training/test_trainer_tracing.py).

    1. ``_maybe_symbolic_build`` (called by ``fit``, ``evaluate`` and ``predict``) pulls a batch
       from the *distributed* iterator and reduces it with ``strategy.reduce(..., axis=None)``,
       which takes one ``PerReplica`` value, not a structure: with more than one replica a batch of
       dicts fails with ``ValueError: Attempt to convert a value ({'image': PerReplica:{...}}) ...
       unsupported type (<class 'dict'>)``, whether fit got a plain or a distributed dataset. The
       model, metrics and loss are built here from the element spec instead (what that method does
       with the batch it reduced) and the method is a no-op on this instance. That also keeps it
       from making an iterator of the training dataset, which would advance the reshuffle seed
       (see :func:`_prepare_train`).
    2. Under a multi-worker strategy, ``reduce_per_replica`` reduces every per-step log with
       ``strategy.reduce("MEAN", v, axis=0)``, which fails on the scalar metric results
       (``Invalid reduction dimension 0 for input with 0 dimensions``; tensorflow/tensorflow#72388).
       The instance's ``train_step`` and ``test_step`` return scalars as shape ``[1]``, which that
       reduction averages over the replicas back to a scalar. Those per-step values only feed the
       progress bar and batch callbacks: at the end of each epoch and of each validation Keras
       replaces them with the metrics' own results, read across all replicas.

    Both override private Keras methods on the instance while the context lasts (Keras 3.15); the
    multi-worker test in tests/training fails if a Keras release changes them.
    """
    strategy = getattr(model, "_distribute_strategy", None)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model._symbolic_build(data_batch=element_spec)  # items 0 and 1; TensorSpecs carry .shape and .dtype
    if strategy is None:
        yield
        return
    patched = {"_maybe_symbolic_build": lambda iterator=None, data_batch=None: None}
    if _num_workers(strategy) > 1:
        def rank_one_logs(step):
            def wrapped(data):
                return keras.tree.map_structure(
                    lambda v: ops.reshape(v, (1,)) if len(getattr(v, "shape", (1,))) == 0 else v, step(data))
            return wrapped
        patched.update(train_step=rank_one_logs(model.train_step), test_step=rank_one_logs(model.test_step))
    for name, value in patched.items():
        setattr(model, name, value)
    try:
        yield
    finally:
        for name in patched:
            delattr(model, name)


def _frames_per_example(dataset) -> int:
    """Frames in one example: T of a window-mode ``x["image"]`` ([B, T, H, W, 3]), else 1."""
    spec = dataset.element_spec
    x = spec[0] if isinstance(spec, tuple) else spec
    image = x.get("image") if isinstance(x, dict) else None
    if image is not None and image.shape.rank == 5 and image.shape[1] is not None:
        return int(image.shape[1])
    return 1


def _prepare_train(recipe: Recipe, dataset, *, one_iterator: bool = False):
    """Cap and wrap the training dataset; return ``(fit_dataset, steps_per_epoch, fit_steps, replay)``.

    An infinite dataset goes to fit as it is, with ``fit_steps`` steps per epoch (fit keeps one
    iterator across epochs). A finite one is cut with ``take`` and wrapped so that its iterator is
    made only when an epoch pulls its first batch: Keras also makes iterators it never reads (one at
    the end of each epoch), and each made iterator advances the reshuffle seed of a ``shuffle``
    inside. Wrapped, the seed advances exactly once per epoch, and ``replay`` (the unwrapped dataset)
    lets :class:`ResumableBackup` advance it once per restored epoch.

    ``one_iterator`` (multi-worker): a finite dataset of known length is also repeated and fit gets
    ``fit_steps`` = its length, so fit keeps one iterator for the whole run. Each repetition makes
    one iterator of the wrapped dataset, so the epochs see the same batches as without it. Under
    ``MultiWorkerMirroredStrategy`` every new iterator of the distributed dataset cost seconds before
    its first batch (measured on 2 CPU workers: 5.8 s in epoch 2, 7.2 s in epoch 3, growing; 0.7 s
    per epoch with one iterator).
    """
    cardinality = int(dataset.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        steps = recipe.steps_per_epoch(None)
        if steps is None:
            raise ConfigError(f"{type(recipe).__name__}: the training dataset is infinite; define "
                              f"train_examples() or set max_steps_per_epoch")
        return dataset, steps, steps, None
    known = None if cardinality == tf.data.UNKNOWN_CARDINALITY else cardinality
    if known == 0:
        raise ConfigError(f"{type(recipe).__name__}: the training dataset is empty")
    steps = recipe.steps_per_epoch(known)
    if recipe.max_steps_per_epoch is not None and (known is None or steps < known):
        dataset = dataset.take(recipe.max_steps_per_epoch)
    wrapped = tf.data.Dataset.range(1).flat_map(lambda _: dataset).with_options(dataset.options())
    if known is not None:
        wrapped = wrapped.apply(tf.data.experimental.assert_cardinality(steps))
        if one_iterator:
            return wrapped.repeat(), steps, steps, dataset
    return wrapped, steps, None, dataset


def _prepare_validation(recipe: Recipe, dataset):
    """Cap the validation dataset; return ``(dataset, validation_steps, batches, capped)``.

    ``batches`` is the number of batches each in-training validation reads (``None``: an infinite
    dataset's ``validation_steps``); ``capped`` whether ``max_validation_steps`` cut the dataset
    short (so the logged ``val_*`` figures come from part of the validation set).

    A finite dataset of unknown cardinality (the pipeline's window and frame streams) is counted
    once and given that cardinality: Keras otherwise learns its length by running it dry in epoch 1,
    which it reports as "Your input ran out of data; interrupting training". Counting reads the
    capped dataset once (``max_validation_steps`` batches at most; the whole split when uncapped).
    """
    if dataset is None:
        return None, None, None, False
    if int(dataset.cardinality()) == tf.data.INFINITE_CARDINALITY:
        if recipe.max_validation_steps is None:
            raise ConfigError(f"{type(recipe).__name__}: the validation dataset is infinite; "
                              f"set max_validation_steps")
        return dataset, recipe.max_validation_steps, recipe.max_validation_steps, True
    if recipe.max_validation_steps is not None:
        dataset = dataset.take(recipe.max_validation_steps)
    batches = int(dataset.cardinality())
    if batches == tf.data.UNKNOWN_CARDINALITY:
        batches = int(dataset.reduce(np.int64(0), lambda count, _: count + 1))
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    capped = recipe.max_validation_steps is not None and batches == recipe.max_validation_steps
    return dataset, None, batches, capped


# --------------------------------------------------------------------------------------------------
# Run directory bookkeeping.

def _check_existing(run_dir: Path, config: dict[str, Any]) -> Optional[dict[str, Any]]:
    """Refuse a run directory of another config; return its metrics if the run is finished."""
    config_path = run_dir / "config.json"
    if not config_path.exists():
        return None
    stored = _read_json(config_path)
    if stored.get("recipe") != config["recipe"]:
        raise ConfigError(f"{config_path}: run of recipe {stored.get('recipe')!r}, not "
                          f"{config['recipe']!r}; pass another --run-dir")
    old, new = stored.get("fields", {}), config["fields"]
    changed = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
               if old.get(k) != new.get(k)]
    if changed:
        raise ConfigError(f"{config_path}: the run there has another configuration ("
                          + "; ".join(changed) + "); resume it with the same options or pass another --run-dir")
    metrics_path = run_dir / "metrics.json"
    return _read_json(metrics_path) if metrics_path.exists() else None


def _read_log(path: Path) -> list[dict[str, Any]]:
    """Rows of the CSVLogger file, one per epoch (the last row wins if an epoch was repeated)."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_epoch: dict[int, dict[str, Any]] = {}
    for row in rows:
        epoch = int(row.pop("epoch"))
        by_epoch[epoch] = {k: float(v) for k, v in row.items() if v not in ("", "NA", None)}
    return [{"epoch": e + 1, **by_epoch[e]} for e in sorted(by_epoch)]


def _csv_text(rows: list[dict[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def best_row(rows: list[dict[str, Any]], monitor: str, mode: str) -> Optional[dict[str, Any]]:
    """The row of the best epoch by ``monitor`` (``mode`` ``"min"`` or ``"max"``; the first of equals);
    ``None`` when no row has a finite ``monitor``."""
    candidates = [r for r in rows if monitor in r and math.isfinite(r[monitor])]
    if not candidates:
        return None
    return (min if mode == "min" else max)(candidates, key=lambda r: r[monitor])


def summarize(rows: list[dict[str, Any]], recipe: Recipe, run_dir: Path, sessions: int,
              session_wall_time_s: float, validation: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """metrics.json content from the per-epoch rows (``epoch`` 1-based); ``validation``: what the
    in-training validation read (``{"batches": N, "capped": bool}``, see :func:`_prepare_validation`)."""
    if not rows:
        raise ConfigError(f"{run_dir}: no finished epoch in training_log.csv")
    last = rows[-1]
    skip = ("epoch", *EXTRA_KEYS)
    val = {k: v for k, v in last.items() if k.startswith("val_")}
    train_metrics = {k: v for k, v in last.items() if k not in skip and not k.startswith("val_")}
    monitor = recipe.monitor
    best_epoch = best_value = None
    best = best_row(rows, monitor, recipe.monitor_mode)
    if best is not None:
        best_epoch, best_value = int(best["epoch"]), best[monitor]
    else:
        log.warning("monitor %r is not among the logged quantities %s: no best epoch",
                    monitor, sorted(k for k in last if k not in skip))
    checkpoint = None
    if best_epoch is not None and (run_dir / "checkpoints" / checkpoint_name(best_epoch)).exists():
        checkpoint = f"checkpoints/{checkpoint_name(best_epoch)}"
    train_time = sum(r.get("train_time_s", 0.0) for r in rows)
    frames = sum(r.get("train_frames", 0.0) for r in rows)
    return {
        "recipe": type(recipe).recipe_name(),
        "run_dir": str(run_dir),
        "epochs": len(rows),
        "final": val or train_metrics,
        "final_train": train_metrics,
        "validation": validation,
        "monitor": monitor,
        "monitor_mode": recipe.monitor_mode,
        "best_epoch": best_epoch,
        "best_value": best_value,
        "best_checkpoint": checkpoint,
        "wall_time_s": sum(r.get("epoch_time_s", 0.0) for r in rows),
        "session_wall_time_s": session_wall_time_s,
        "train_frames_per_s": frames / train_time if train_time > 0 else None,
        "sessions": sessions,
    }


# --------------------------------------------------------------------------------------------------
# The entry point.

@contextlib.contextmanager
def _session_log(run_dir: Path):
    """Copy the package's log records (INFO and up) to ``run_dir/train.log`` while training."""
    package_logger = logging.getLogger("tfaffect")
    saved_level = package_logger.level
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package_logger.addHandler(handler)
    if package_logger.getEffectiveLevel() > logging.INFO:
        package_logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        package_logger.removeHandler(handler)
        handler.close()
        package_logger.setLevel(saved_level)


@contextlib.contextmanager
def _process_settings(recipe: Recipe):
    """Seeds, op determinism and the dtype policy for the run (the policy is restored after)."""
    saved_policy = keras.config.dtype_policy()
    keras.utils.set_random_seed(recipe.seed)
    if recipe.deterministic:
        if keras.backend.backend() == "tensorflow":
            tf.config.experimental.enable_op_determinism()
        else:
            log.warning("deterministic=True only switches TF op determinism; backend is %s",
                        keras.backend.backend())
    if recipe.mixed_precision:
        keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(saved_policy)


def _record_session(run_dir: Path, config: dict[str, Any], recipe: Recipe, strategy,
                    resuming: bool) -> int:
    """Write config.json and append this session to provenance.json; return the session count."""
    config_path = run_dir / "config.json"
    if config_path.exists() and _read_json(config_path).get("derived") != config["derived"]:
        log.warning("%s: derived values change from %s to %s (did the data change?)", config_path,
                    _read_json(config_path).get("derived"), config["derived"])
    write_json_atomic(config_path, config)
    path = run_dir / "provenance.json"
    sessions = _read_json(path)["sessions"] if path.exists() else []
    sessions.append({"started_utc": utc_timestamp(), "argv": sys.argv, "resuming": resuming,
                     "git": git_info(type(recipe).source_file()),
                     "environment": environment_info(strategy)})
    write_json_atomic(path, {"sessions": sessions})
    return len(sessions)


def _build_and_compile(recipe: Recipe, strategy, steps_per_epoch: Optional[int]) -> keras.Model:
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = recipe.build_model()
        compile_args = recipe.compile_args(learning_rate(recipe, steps_per_epoch))
        if compile_args.get("metrics"):
            log.warning("%s.compile_args: `metrics` ignore sample_weight, so invalid frames count in "
                        "them; use `weighted_metrics`", type(recipe).__name__)
        model.compile(**compile_args, jit_compile=recipe.jit_compile)
    return model


def _unreplicated(model: keras.Model) -> keras.Model:
    """``model``, or under a strategy with several replicas a copy of it outside the strategy.

    A recipe's final evaluation calls ``predict_on_batch`` with plain arrays; under such a strategy
    each replica would predict the whole batch and Keras concatenates the replicas' outputs (across
    workers too), giving N copies of every prediction. Each worker evaluates on its own instead.
    """
    strategy = getattr(model, "_distribute_strategy", None)
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return model
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def recalibrate_batchnorm(model: keras.Model, dataset, batches: int) -> int:
    """Re-estimate the moving mean and variance of ``model``'s trainable batch norms from ``batches`` batches of
    ``dataset`` (precise BN: Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm", section 3): each layer's
    population statistics over those batches, its moving mean the average of the batch means and its moving
    variance the average batch variance plus the variance of the batch means. Keras's running averages
    (momentum 0.99) still remember their initial 0 and 1 with weight 0.99^steps (0.37 after 100 steps), and
    from random weights they trail the features the network learns. Frozen batch norms (``trainable=False``)
    are left alone. The forward passes run in training mode, so dropout is active; nothing else changes.
    Returns the number of batches used."""
    layers = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
              if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]
    if not layers or batches <= 0:
        return 0
    momenta = [layer.momentum for layer in layers]
    sums = [[np.zeros(layer.moving_mean.shape, np.float64) for _ in range(3)] for layer in layers]
    used = 0
    try:
        for layer in layers:
            layer.momentum = 0.0  # each training-mode call leaves exactly its batch's statistics behind

        @tf.function
        def forward(x):
            model(x, training=True)

        for element in dataset.take(batches):
            forward(element[0] if isinstance(element, tuple) else element)
            for layer, (mean_sum, square_sum, var_sum) in zip(layers, sums):
                mean = layer.moving_mean.numpy().astype(np.float64)
                mean_sum += mean
                square_sum += mean * mean
                var_sum += layer.moving_variance.numpy()
            used += 1
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if used:
        for layer, (mean_sum, square_sum, var_sum) in zip(layers, sums):
            mean = mean_sum / used
            layer.moving_mean.assign(mean.astype(np.float32))
            layer.moving_variance.assign((var_sum / used + square_sum / used - mean * mean).astype(np.float32))
    return used


def _finish(model: keras.Model, recipe: Recipe, run_dir: Path, sessions: int, session_wall_time_s: float,
            validation: Optional[dict[str, Any]]) -> dict[str, Any]:
    """Write history.csv, plots/learning_curve.png, model.keras and metrics.json; drop the backup; return
    the metrics."""
    rows = _read_log(run_dir / "training_log.csv")
    write_text_atomic(run_dir / "history.csv", _csv_text(rows))
    metrics = summarize(rows, recipe, run_dir, sessions, session_wall_time_s, validation)
    plots.learning_curve(run_dir / "plots" / "learning_curve.png", rows, recipe.monitor,
                         best_epoch=metrics["best_epoch"],
                         title=f"{metrics['recipe']}: {validation_text(validation)}")
    with atomic_path(run_dir / "model.keras") as tmp_model:
        model.save(tmp_model)
    evaluation = recipe.evaluate(_unreplicated(model), run_dir)
    if evaluation:
        metrics["evaluation"] = evaluation
    write_json_atomic(run_dir / "metrics.json", metrics)
    shutil.rmtree(run_dir / "backup", ignore_errors=True)
    log.info("finished %s in %.1f s; %s", metrics["recipe"], metrics["wall_time_s"], in_training_text(metrics))
    return metrics


def validation_text(validation: Optional[dict[str, Any]]) -> str:
    """What the in-training validation read, in words: ``"in-training validation on the first 10 batches"``."""
    if not validation:
        return "training metrics (no validation data)"
    batches = validation["batches"]
    if validation["capped"]:
        return f"in-training validation on the first {batches} batch{'es' * (batches != 1)} (max_validation_steps)"
    return "in-training validation on the whole validation split" + (f" ({batches} batches)" if batches else "")


def in_training_text(metrics: dict[str, Any]) -> str:
    """The last epoch's in-training validation figures and the best epoch, labelled as such (the run's
    score is the recipe's evaluation, when it has one)."""
    final = " ".join(f"{k}={v:.4g}" for k, v in metrics.get("final", {}).items())
    best = (f"; best epoch {metrics['best_epoch']} by {metrics['monitor']}={metrics['best_value']:.4g}"
            if metrics.get("best_epoch") is not None else "")
    epoch = f", epoch {metrics['epochs']}" if "epochs" in metrics else ""
    return f"{validation_text(metrics.get('validation'))}{epoch}: {final}{best}"


def train(recipe: Recipe, run_dir: str | os.PathLike | None = None, *,
          verbose: Optional[int] = None) -> dict[str, Any]:
    """Train ``recipe``; return the content of metrics.json (plus ``run_dir``).

    ``run_dir`` defaults to ``runs/<recipe>/<UTC timestamp>``; an existing run directory of the same
    configuration is resumed (or, when finished, its metrics are returned without training).
    ``verbose`` is Keras's: 1 (progress bar) on a terminal, 2 (one line per epoch) otherwise.
    Logs INFO lines (one per epoch) to the ``tfaffect`` logger and to ``run_dir/train.log``.
    """
    started = time.perf_counter()
    recipe.validate()
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(recipe)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    with _process_settings(recipe):
        strategy = make_strategy(recipe.distribute)
        run_dir = _worker_dir(strategy, run_dir)
        config = {"recipe": type(recipe).recipe_name(), "class": type(recipe).__qualname__,
                  "fields": recipe.to_dict()}
        finished = _check_existing(run_dir, config)
        if finished is not None:
            log.info("%s: run already finished (metrics.json); nothing to do", run_dir)
            return {**finished, "run_dir": str(run_dir)}

        train_ds, val_ds = recipe.datasets()
        train_ds, steps_per_epoch, fit_steps, replay_ds = _prepare_train(
            recipe, train_ds, one_iterator=_num_workers(strategy) > 1)
        val_ds, validation_steps, validation_batches, capped = _prepare_validation(recipe, val_ds)
        validation = None if val_ds is None else {"batches": validation_batches, "capped": capped}
        train_ds, val_ds = (_shard_across_workers(strategy, d) for d in (train_ds, val_ds))
        config["derived"] = recipe.derived(steps_per_epoch)

        run_dir.mkdir(parents=True, exist_ok=True)
        with _session_log(run_dir):
            _clean_orphans(run_dir)
            resuming = (run_dir / "backup" / "training_metadata.json").exists()
            sessions = _record_session(run_dir, config, recipe, strategy, resuming)
            log.info("%s run %s in %s (%s steps per epoch)", "resuming" if resuming else "starting",
                     config["recipe"], run_dir, steps_per_epoch)
            cluster = _cluster_info(strategy)
            if cluster is not None and cluster["workers"] > 1:
                log.info("multi-worker: task %s of %d workers, %d replicas in sync; auto-shard DATA: each "
                         "global batch of %d is split between the replicas, this task gets its replicas' "
                         "part of every training and validation batch", cluster["task"], cluster["workers"],
                         cluster["replicas_in_sync"], recipe.batch_size)
            if resuming and replay_ds is None:
                log.warning("the training stream is infinite: the resumed run restarts it from its "
                            "beginning, so it will not repeat the uninterrupted run exactly")
            model = _build_and_compile(recipe, strategy, steps_per_epoch)
            callbacks = [
                EpochLog(recipe.epochs, recipe.batch_size * _frames_per_example(train_ds)),
                keras.callbacks.CSVLogger(str(run_dir / "training_log.csv"), append=True),
                *_tensorboard(run_dir / "tensorboard"),
                EpochCheckpoint(run_dir / "checkpoints", keep=recipe.keep_checkpoints, monitor=recipe.monitor,
                                mode=recipe.monitor_mode, log_path=run_dir / "training_log.csv"),
                ResumableBackup(run_dir / "backup", replay_dataset=replay_ds),
                *recipe.callbacks(run_dir),  # last: they see the epoch already saved
            ]
            with _keras_distribution_fixes(model, train_ds.element_spec):
                model.fit(train_ds, validation_data=val_ds, epochs=recipe.epochs,
                          steps_per_epoch=fit_steps, validation_steps=validation_steps,
                          callbacks=callbacks, verbose=verbose,
                          shuffle=False)  # the recipe shuffles its tf.data dataset itself
            if recipe.batchnorm_recalibration:
                _recalibrate(model, recipe, train_ds, strategy)
            return _finish(model, recipe, run_dir, sessions, time.perf_counter() - started, validation)


def _recalibrate(model: keras.Model, recipe: Recipe, train_ds, strategy) -> None:
    """``recipe.batchnorm_recalibration`` after ``fit``: :func:`recalibrate_batchnorm` on the training stream."""
    if strategy.num_replicas_in_sync > 1:
        log.warning("batchnorm_recalibration=%d skipped: it runs on one replica only (this run has %d); the batch "
                    "norms keep their running averages", recipe.batchnorm_recalibration,
                    strategy.num_replicas_in_sync)
        return
    began = time.perf_counter()
    used = recalibrate_batchnorm(model, train_ds, recipe.batchnorm_recalibration)
    log.info("batch-norm statistics re-estimated over %d training batches (batchnorm_recalibration) in %.1f s",
             used, time.perf_counter() - began)
