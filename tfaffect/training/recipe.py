"""The :class:`Recipe` base: one frozen dataclass of exact hyperparameters per published result.

A recipe file under ``recipes/`` subclasses :class:`Recipe`, gives every field the value the paper
publishes (with :func:`~tfaffect.training.fields.hparam` carrying the citation), implements
:meth:`Recipe.build_model`, :meth:`Recipe.datasets` and :meth:`Recipe.compile_args`, and ends with::

    if __name__ == "__main__":
        main(MyRecipe)          # from tfaffect.training.runner import main

so that ``python recipes/my_recipe.py --epochs 3 --smoke`` (or ``tfaffect train my_recipe ...``)
overrides any field from the command line (:mod:`tfaffect.training.options`), validates the result and
runs it (:mod:`tfaffect.training.runner`: its upstream stages, then :func:`tfaffect.training.trainer.train`).

A recipe is data: fields, validation, derived values and overlays. It imports nothing that trains.

What lives here and what does not:

* Fields are the *typed* hyperparameters. Values that follow from them (steps per epoch, learning-rate
  boundaries in steps, warm-up steps) are computed by methods, never typed.
* The fields of this base class are the training-loop settings every recipe shares (epochs, batch size,
  learning-rate schedule, seed, precision, distribution strategy, smoke switch). A subclass redeclares
  a field to give it the published default.
* The smoke switch (``--smoke``) applies :meth:`Recipe.smoke_overrides` (1 epoch of 2 steps by
  default); options given explicitly on the command line win over it. ``datasets()`` should also
  read ``self.smoke`` and return tiny data.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import logging
import math
import sys
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Optional, Sequence

import keras

from tfaffect.errors import ConfigError
from tfaffect.training.fields import coerce, field_default, jsonable, matches, show, type_name, value_source
from tfaffect.training.fields import hparam  # noqa: F401  (recipe files import it from here)
from tfaffect.training.options import parse_args
from tfaffect.training.stages import finished_stage_dir, stage_dir


@dataclasses.dataclass(frozen=True)
class Recipe(abc.ABC):
    """Base of every recipe: typed hyperparameters, CLI overrides, validation, derived values.

    Class attributes a recipe sets (they are not fields and cannot be overridden from the CLI):

    ``name``      recipe name used by ``tfaffect train NAME`` and in ``runs/NAME/``;
                  defaults to the stem of the file the class is defined in.
    ``paper``     e.g. ``"Kollias et al. 2019, IJCV (Aff-Wild)"``.
    ``table``     table and row, e.g. ``"Table <n>, row <model>"``.
    ``runtime``   expected runtime of the full run, e.g. ``"about 2 h on one H100"``.
    """

    rows: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    """For a file that reproduces several table rows or grid cells: row name -> the field values that
    row publishes. ``--row NAME`` applies them (explicit options win); the first row is the default."""

    input_fields: ClassVar[tuple[str, ...]] = ("data", "smoke", "row")
    """Fields that name the run's inputs (data, weight files) or its mode, not hyperparameters: never deviations
    (what a weight file changes is :meth:`initial_weights_deviation`'s to say)."""
    name: ClassVar[Optional[str]] = None
    paper: ClassVar[str] = ""
    table: ClassVar[str] = ""
    runtime: ClassVar[str] = ""

    data: Optional[str] = hparam(
        None, "dataset root or prepared-shard directory; none = the recipe's default")
    row: Optional[str] = hparam(
        None, "table row or grid cell to reproduce, for recipes that cover several (see `rows`); "
              "none = the first")
    smoke: bool = hparam(
        False, "shrink the run for a quick check: tiny data, smoke_overrides() (1 epoch of 2 steps)")
    seed: int = hparam(
        0, "seed of Python, NumPy and the backend (keras.utils.set_random_seed); not fixed by the "
           "papers, 0 chosen arbitrarily")
    deterministic: bool = hparam(
        False, "deterministic TF ops (tf.config.experimental.enable_op_determinism); slower")
    # The defaults below are not from a paper: each recipe redeclares the fields its paper fixes.
    epochs: int = hparam(1, "number of epochs (base default: one pass; recipes set the published value)")
    batch_size: int = hparam(32, "examples per batch (base default: Keras's own; recipes set the "
                                 "published value)")
    learning_rate: float = hparam(
        1e-3, "initial learning rate (base default: Keras's Adam default; recipes set the published value)")
    lr_schedule: Literal["constant", "exponential", "piecewise"] = hparam(
        "constant", "learning-rate schedule")
    lr_decay_rate: float = hparam(
        0.1, "exponential: multiply the rate by this every lr_decay_epochs (base default: the usual "
             "factor of 10)")
    lr_decay_epochs: float = hparam(1.0, "exponential: epochs per decay period")
    lr_staircase: bool = hparam(True, "exponential: decay in steps (whole periods) rather than smoothly")
    lr_boundaries: tuple[float, ...] = hparam(
        (), "piecewise: epochs after which the rate changes, e.g. 10 15 18 (Li 2017, section 3.1.2 "
            "fine-tuning: 10, 5, 3, 2 epochs)", source="chosen (paper silent)")
    lr_values: tuple[float, ...] = hparam(
        (), "piecewise: the rate after each boundary (learning_rate before the first), e.g. 1e-4 1e-5 1e-6")
    warmup_epochs: float = hparam(
        0.0, "linear warm-up from 0 to the scheduled rate over this many epochs (0 = none)")
    max_steps_per_epoch: Optional[int] = hparam(
        None, "cap on training steps per epoch (none = the whole training set)")
    max_validation_steps: Optional[int] = hparam(
        None, "cap on validation steps (none = the whole validation set)")
    monitor: str = hparam("val_loss", "logged quantity that picks the best epoch in metrics.json")
    monitor_mode: Literal["min", "max"] = hparam("min", "whether the best epoch minimises or maximises monitor")
    mixed_precision: bool = hparam(False, "bfloat16 mixed precision (Keras policy mixed_bfloat16)")
    jit_compile: bool = hparam(False, "compile the train step with XLA")
    distribute: Literal["default", "mirrored", "multiworker"] = hparam(
        "default", "tf.distribute strategy: default (one device), mirrored (all local GPUs), "
                   "multiworker (TF_CONFIG cluster)")
    batchnorm_recalibration: int = hparam(
        0, "chosen (not in the papers): after training, re-estimate every trainable batch norm's moving mean and "
           "variance as the plain average of its statistics over this many training batches (precise BN, Wu & "
           "Johnson 2021); 0 = keep Keras's running averages (momentum 0.99), as the papers' code")
    keep_checkpoints: Optional[int] = hparam(
        None, "per-epoch checkpoints kept: none = the best epoch's (by monitor) and the last one (enough to "
              "resume and to export either); N = the newest N (a number >= epochs keeps all)")

    # ----------------------------------------------------------------------------------------------
    # The interface a recipe implements.

    @abc.abstractmethod
    def build_model(self) -> keras.Model:
        """Build the (uncompiled) model. Called inside the distribution strategy's scope.

        The model takes the ``x`` dict of the data contract (raw uint8 ``image``, optional
        ``landmarks``) and returns a dict with the keys it is trained on (``va``, ``expression``).
        """

    @abc.abstractmethod
    def datasets(self) -> tuple[Any, Any]:
        """Return ``(train, validation)`` ``tf.data.Dataset`` objects of batched
        ``(x, y, sample_weight)`` dicts (the data contract); ``validation`` may be ``None``.

        Use ``self.batch_size``, ``self.seed`` and ``self.data``; when ``self.smoke`` is set return
        tiny data. For a resumed run to repeat the uninterrupted run exactly, a finite training
        dataset may reshuffle each epoch (``shuffle(seed=...)``): the trainer replays the shuffle
        order on resume. An infinite (``repeat()``ed) training stream restarts from its beginning.
        """

    @abc.abstractmethod
    def compile_args(self, learning_rate) -> dict[str, Any]:
        """Keyword arguments of ``model.compile``: ``optimizer``, ``loss``, ``weighted_metrics`` (and
        e.g. ``loss_weights``). Build the optimizer with ``learning_rate`` (a float or a Keras schedule
        that :func:`tfaffect.training.schedules.learning_rate` derived); the trainer adds ``jit_compile``.

        Put metrics under ``weighted_metrics``: Keras applies ``sample_weight`` only to those, so
        under plain ``metrics`` invalid frames (weight 0) would count.
        """

    def callbacks(self, run_dir: Path) -> list:
        """Extra Keras callbacks (e.g. ``ReduceLROnPlateau``); they run after the trainer's own."""
        return []

    def train_examples(self) -> Optional[int]:
        """Training examples per epoch, when the dataset cannot tell (infinite or unknown
        cardinality, e.g. a balanced ``repeat()``ed stream). ``None``: count the dataset's batches."""
        return None

    def synthetic_overrides(self) -> dict[str, Any]:
        """Field values that differ from the published ones when the run uses the embedded SynthAffect
        data (``data`` is None) instead of the paper's dataset: the documented demo budget and any
        change the published values need to learn from random initialisation. Explicit command-line
        options win. Each deviation is listed in the run's config.json (``derived.deviations``)
        and logged; ``--data DIR`` runs use the published values unchanged. Default: none."""
        return {}

    def deviations(self) -> dict[str, dict[str, Any]]:
        """Fields whose value differs from the class default (the published value), labelled with where that
        value comes from (:func:`~tfaffect.training.fields.value_source`), and :meth:`initial_weights_deviation`:
        ``{field: {"published": default, "used": value, "source": "paper" | "released code" | "chosen (paper
        silent)"}}``."""
        out = {}
        row_values = self.rows.get(self.row, {}) if self.rows else {}
        for f in dataclasses.fields(self):
            if f.name in self.input_fields:
                continue
            published, used = row_values.get(f.name, field_default(f)), getattr(self, f.name)
            if jsonable(published) != jsonable(used):
                out[f.name] = {"published": jsonable(published), "used": jsonable(used), "source": value_source(f)}
        initial = self.initial_weights_deviation()
        if initial:
            out["initial_weights"] = initial
        return out

    def initial_weights_deviation(self) -> Optional[dict[str, Any]]:
        """``{"published": ..., "used": ..., "source": ...}`` when the run does not start from the weights the
        paper starts from (e.g. random instead of pretrained), else ``None`` (the default: nothing to say)."""
        return None

    def requires(self) -> Mapping[str, Any]:
        """The upstream stages this run starts from, by name (:class:`~tfaffect.training.stages.RecipeStage`):
        a frame CNN, a pretrained face model, ensemble members. The runner trains them (or reuses their
        finished runs) before this recipe; :meth:`stage_dir` finds them. Default: none."""
        return {}

    def stage_dir(self, name: str) -> Path:
        """The run directory of the finished stage ``name`` of :meth:`requires` (a lookup; nothing trains). The
        stages and their directories are resolved once per recipe object (a recipe with many stages looks them up
        often, and each directory hashes its stage's configuration and data)."""
        stages = self.__dict__.get("_stage_dirs")
        if stages is None:
            stages = self.__dict__["_stage_dirs"] = {n: (s, stage_dir(s)) for n, s in self.requires().items()}
        if name not in stages:
            raise ConfigError(f"{type(self).__name__} requires no stage {name!r} (it requires {sorted(stages)})")
        return finished_stage_dir(*stages[name], name, type(self).recipe_name())

    def folds(self) -> Sequence["Recipe"]:
        """Cross-validation: the recipes of the folds the runner trains (into ``<run_dir>/fold<K>``) instead of
        this one, then :meth:`combine_folds`. Default: none (this recipe trains itself)."""
        return ()

    def combine_folds(self, run_dir: Path, folds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Write and return the metrics of a cross-validated run from its folds' metrics (see :meth:`folds`)."""
        raise NotImplementedError(f"{type(self).__name__} has folds but no combine_folds()")

    def trains(self) -> bool:
        """Whether this recipe trains a model; ``False`` for one whose result is computed from its finished
        stages alone (e.g. a mean over other rows' runs): the runner resolves its stages, then calls
        :meth:`combine_stages` instead of training. Default: ``True``."""
        return True

    def combine_stages(self, run_dir: Path) -> dict[str, Any]:
        """Write and return the metrics of a recipe that does not train (:meth:`trains`) from its stages."""
        raise NotImplementedError(f"{type(self).__name__} trains nothing but has no combine_stages()")

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        """Evaluate the trained model after the last epoch (e.g. the paper's protocol on the whole
        validation set, plots); the returned dict goes into metrics.json under ``evaluation``.
        Default: nothing beyond Keras's validation metrics."""
        return {}

    def smoke_overrides(self) -> dict[str, Any]:
        """Field values that ``--smoke`` applies (explicit command-line options win). Extend with
        ``{**super().smoke_overrides(), "sequence_length": 4}``."""
        return {"epochs": 1, "max_steps_per_epoch": 2, "max_validation_steps": 2,
                "batchnorm_recalibration": min(self.batchnorm_recalibration, 2)}

    # ----------------------------------------------------------------------------------------------
    # Identity.

    @classmethod
    def recipe_name(cls) -> str:
        """``name`` set on this very class, else the stem of the file that defines it."""
        own = cls.__dict__.get("name")
        if own:
            return own
        path = cls.source_file()
        return path.stem if path is not None else cls.__name__

    @classmethod
    def table_text(cls) -> str:
        """The table and row(s) the recipe reproduces, as ``tfaffect recipes`` lists them."""
        return cls.table

    @classmethod
    def source_file(cls) -> Optional[Path]:
        """The file that defines the class (``None`` for a class defined interactively)."""
        module = sys.modules.get(cls.__module__)
        file = getattr(module, "__file__", None)
        return Path(file).resolve() if file else None

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        """Field name -> resolved type hint."""
        hints = typing.get_type_hints(cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(cls)}

    # ----------------------------------------------------------------------------------------------
    # Construction, validation, serialisation.

    def __post_init__(self):
        if "__dataclass_fields__" not in type(self).__dict__:
            raise ConfigError(f"{type(self).__name__} must be decorated with "
                              f"@dataclasses.dataclass(frozen=True) like Recipe")
        for name, hint in self.field_types().items():
            value = getattr(self, name)
            converted = coerce(value, hint)
            if converted is not value:
                object.__setattr__(self, name, converted)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` if a field has the wrong type or an impossible value.

        Subclasses add their own checks after ``super().validate()``.
        """
        where = type(self).__name__
        for name, hint in self.field_types().items():
            value = getattr(self, name)
            if not matches(value, hint):
                raise ConfigError(f"{where}.{name} = {value!r}: expected {type_name(hint)}")
        if self.rows and self.row is not None and self.row not in self.rows:
            raise ConfigError(f"{where}.row = {self.row!r}: choose one of {', '.join(map(repr, self.rows))}")
        if not self.rows and self.row is not None:
            raise ConfigError(f"{where} reproduces a single result: --row does not apply")
        positive = {"epochs": self.epochs, "batch_size": self.batch_size}
        for name in ("max_steps_per_epoch", "max_validation_steps", "keep_checkpoints"):
            if getattr(self, name) is not None:
                positive[name] = getattr(self, name)
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"{where}.{name} = {value}: must be >= 1")
        if not self.learning_rate > 0:
            raise ConfigError(f"{where}.learning_rate = {self.learning_rate}: must be > 0")
        if self.warmup_epochs < 0:
            raise ConfigError(f"{where}.warmup_epochs = {self.warmup_epochs}: must be >= 0")
        if self.lr_schedule == "exponential":
            if not 0 < self.lr_decay_rate <= 1:
                raise ConfigError(f"{where}.lr_decay_rate = {self.lr_decay_rate}: must be in (0, 1]")
            if not self.lr_decay_epochs > 0:
                raise ConfigError(f"{where}.lr_decay_epochs = {self.lr_decay_epochs}: must be > 0")
        if self.lr_schedule == "piecewise":
            if not self.lr_boundaries or len(self.lr_values) != len(self.lr_boundaries):
                raise ConfigError(
                    f"{where}: piecewise schedule needs one lr_values entry per lr_boundaries entry "
                    f"(got {len(self.lr_boundaries)} boundaries, {len(self.lr_values)} values)")
            bounds = self.lr_boundaries
            if any(b <= 0 for b in bounds) or any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:])):
                raise ConfigError(f"{where}.lr_boundaries = {bounds}: must be positive and increasing")
            if any(not v > 0 for v in self.lr_values):
                raise ConfigError(f"{where}.lr_values = {self.lr_values}: must be > 0")
        elif self.lr_boundaries or self.lr_values:
            raise ConfigError(f"{where}: lr_boundaries/lr_values only apply to lr_schedule='piecewise' "
                              f"(lr_schedule is {self.lr_schedule!r})")

    def to_dict(self) -> dict[str, Any]:
        """The field values as JSON-ready Python objects (tuples become lists)."""
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Recipe":
        """Rebuild a recipe from :meth:`to_dict` output (e.g. a run directory's config.json)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
        return cls(**values)

    def with_smoke(self, keep: frozenset[str] = frozenset()) -> "Recipe":
        """A copy with ``smoke=True`` and :meth:`smoke_overrides` applied, except fields in ``keep``."""
        changes = {k: v for k, v in self.smoke_overrides().items() if k not in keep}
        return dataclasses.replace(self, smoke=True, **changes)

    # ----------------------------------------------------------------------------------------------
    # Derived values.

    def steps_per_epoch(self, dataset_batches: Optional[int] = None) -> Optional[int]:
        """Training steps per epoch: the dataset's batch count when it is finite and known, else
        ``ceil(train_examples() / batch_size)``, capped by ``max_steps_per_epoch``; ``None`` when
        nothing tells."""
        steps = dataset_batches
        if steps is None:
            examples = self.train_examples()
            if examples is not None:
                steps = math.ceil(examples / self.batch_size)
        if self.max_steps_per_epoch is not None:
            steps = self.max_steps_per_epoch if steps is None else min(steps, self.max_steps_per_epoch)
        return steps

    def lr_boundary_steps(self, steps_per_epoch: int) -> list[int]:
        """Piecewise boundaries in optimizer steps.

        Keras's ``PiecewiseConstantDecay`` keeps ``values[i]`` while ``step <= boundaries[i]`` and
        ``optimizer.iterations`` is 0 at the first step, so a change after epoch ``e`` sits at step
        ``e * steps_per_epoch - 1``: the first step of epoch ``e + 1`` uses the new rate.
        """
        return [round(b * steps_per_epoch) - 1 for b in self.lr_boundaries]

    def decay_steps(self, steps_per_epoch: int) -> int:
        """Exponential decay period in steps."""
        return max(1, round(self.lr_decay_epochs * steps_per_epoch))

    def warmup_steps(self, steps_per_epoch: int) -> int:
        return round(self.warmup_epochs * steps_per_epoch)

    def derived(self, steps_per_epoch: Optional[int]) -> dict[str, Any]:
        """The derived values, for the run directory's config.json."""
        out: dict[str, Any] = {"steps_per_epoch": steps_per_epoch, "deviations": self.deviations()}
        if steps_per_epoch:
            if self.lr_schedule == "piecewise":
                out["lr_boundary_steps"] = self.lr_boundary_steps(steps_per_epoch)
            if self.lr_schedule == "exponential":
                out["lr_decay_steps"] = self.decay_steps(steps_per_epoch)
            if self.warmup_epochs > 0:
                out["warmup_steps"] = self.warmup_steps(steps_per_epoch)
        return out

    # ----------------------------------------------------------------------------------------------
    # Overlays: what a run uses.

    @classmethod
    def configure(cls, overrides: Mapping[str, Any] = types.MappingProxyType({})) -> "Recipe":
        """The recipe a run uses: the explicit field values ``overrides`` over, in order, the row's published
        values (``rows``; the first row when ``row`` is not given), the SynthAffect overlay
        (:meth:`synthetic_overrides`, only when ``data`` is None; logged) and :meth:`smoke_overrides` (when
        ``smoke``). Explicit values always win."""
        recipe = cls(**overrides)
        if cls.rows:
            row = recipe.row if recipe.row is not None else next(iter(cls.rows))
            changes = {k: v for k, v in cls.rows[row].items() if k not in overrides}
            recipe = dataclasses.replace(recipe, row=row, **changes)
        if recipe.data is None:
            changes = {k: v for k, v in recipe.synthetic_overrides().items() if k not in overrides}
            if changes:
                recipe = dataclasses.replace(recipe, **changes)
                logging.getLogger("tfaffect").warning(
                    "embedded SynthAffect data (no --data): using %s instead of the published values "
                    "(see the recipe's docstring; pass --data DIR for the paper's settings)",
                    ", ".join(f"{k}={show(v)}" for k, v in changes.items()))
        if recipe.smoke:
            recipe = recipe.with_smoke(keep=frozenset(overrides))
        return recipe

    @classmethod
    def from_args(cls, argv: Optional[list[str]] = None) -> "Recipe":
        """The recipe that the command line ``argv`` describes (:func:`tfaffect.training.options.parse_args`)."""
        return parse_args(cls, argv)[0]

    def summary(self, metrics: Mapping[str, Any]) -> str:
        """What a command-line run prints at the end (default: run directory, final metrics, best epoch)."""
        return json.dumps({k: metrics[k] for k in ("run_dir", "final", "best_epoch") if k in metrics}, indent=2)
