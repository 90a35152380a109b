"""The :class:`Recipe` base: one frozen dataclass of exact hyperparameters per published result.

A recipe file under ``recipes/`` subclasses :class:`Recipe`, gives every field the value the paper
publishes (with :func:`hparam` carrying the citation), implements :meth:`Recipe.build_model`,
:meth:`Recipe.datasets` and :meth:`Recipe.compile_args`, and ends with::

    if __name__ == "__main__":
        MyRecipe.main()

so that ``python recipes/my_recipe.py --epochs 3 --smoke`` (or ``tfaffect train my_recipe ...``)
overrides any field from the command line, validates the result and trains it with
:func:`tfaffect.training.trainer.train`.

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
import argparse
import dataclasses
import difflib
import inspect
import json
import logging
import math
import sys
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Optional

import keras
from keras import ops

from tfaffect.errors import ConfigError


def hparam(default: Any, help: str) -> Any:
    """A dataclass field with a default and the help text shown by ``--help``.

    Put the citation in ``help`` (e.g. ``"Kollias 2019, section 5.1: batch size 80"``), or say that
    the paper does not fix the value and why it was chosen.
    """
    return dataclasses.field(default=default, metadata={"help": help})


@keras.saving.register_keras_serializable(package="tfaffect")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Multiply a learning rate (a float or a schedule) by a factor rising linearly to 1 over
    ``warmup_steps``.

    The rate used at optimizer step ``s`` (0-based, Keras's ``optimizer.iterations``) is
    ``inner(s) * min(1, (s + 1) / warmup_steps)``: the first step already moves the weights, the
    step ``warmup_steps - 1`` uses the full rate. The inner schedule counts steps from the start of
    training, not from the end of the warm-up.
    """

    def __init__(self, schedule, warmup_steps: int):
        if isinstance(schedule, dict):
            schedule = keras.optimizers.schedules.deserialize(schedule)
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        target = self.schedule(step) if callable(self.schedule) else self.schedule
        factor = ops.minimum(1.0, (ops.cast(step, "float32") + 1.0) / float(self.warmup_steps))
        return ops.cast(target, "float32") * factor

    def get_config(self):
        schedule = self.schedule
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            schedule = keras.optimizers.schedules.serialize(schedule)
        return {"schedule": schedule, "warmup_steps": self.warmup_steps}


class _RecipeArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`ConfigError` instead of exiting."""

    def error(self, message):
        raise ConfigError(f"{self.prog}: {message}")


@dataclasses.dataclass(frozen=True)
class Recipe(abc.ABC):
    """Base of every recipe: typed hyperparameters, CLI overrides, validation, derived values.

    Class attributes a recipe sets (they are not fields and cannot be overridden from the CLI):

    ``name``      recipe name used by ``tfaffect train NAME`` and in ``runs/NAME/``;
                  defaults to the stem of the file the class is defined in.
    ``paper``     e.g. ``"Kollias et al. 2019, IJCV (Aff-Wild)"``.
    ``table``     table and row, e.g. ``"Table <n>, row <model>"``.
    ``published`` the published numbers by metric name, e.g. ``{"ccc_valence": ..., "ccc_arousal": ...}``.
    ``runtime``   expected runtime of the full run, e.g. ``"about 2 h on one H100"``.
    """

    rows: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    """For a file that reproduces several table rows or grid cells: row name -> the field values that
    row publishes. ``--row NAME`` applies them (explicit options win); the first row is the default."""

    name: ClassVar[Optional[str]] = None
    paper: ClassVar[str] = ""
    table: ClassVar[str] = ""
    published: ClassVar[Mapping[str, float]] = {}
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
            "fine-tuning: 10, 5, 3, 2 epochs)")
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
    keep_checkpoints: Optional[int] = hparam(
        None, "keep only the newest N per-epoch checkpoints (none = keep all)")

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
        that :meth:`learning_rate_schedule` derived); the trainer adds ``jit_compile``.

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
        """Fields whose value differs from the class default (the published value):
        ``{field: {"published": default, "used": value}}``."""
        out = {}
        row_values = self.rows.get(self.row, {}) if self.rows else {}
        for f in dataclasses.fields(self):
            if f.name in ("data", "smoke", "row"):
                continue
            published, used = row_values.get(f.name, _field_default(f)), getattr(self, f.name)
            if _jsonable(published) != _jsonable(used):
                out[f.name] = {"published": _jsonable(published), "used": _jsonable(used)}
        return out

    def evaluate(self, model: keras.Model, run_dir: Path) -> dict[str, Any]:
        """Evaluate the trained model after the last epoch (e.g. the paper's protocol on the whole
        validation set, plots); the returned dict goes into metrics.json under ``evaluation``.
        Default: nothing beyond Keras's validation metrics."""
        return {}

    def smoke_overrides(self) -> dict[str, Any]:
        """Field values that ``--smoke`` applies (explicit command-line options win). Extend with
        ``{**super().smoke_overrides(), "sequence_length": 4}``."""
        return {"epochs": 1, "max_steps_per_epoch": 2, "max_validation_steps": 2}

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
            converted = _coerce(value, hint)
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
            if not _matches(value, hint):
                raise ConfigError(f"{where}.{name} = {value!r}: expected {_type_name(hint)}")
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
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

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

    def learning_rate_schedule(self, steps_per_epoch: Optional[int]):
        """The learning rate to give the optimizer: a float (constant, no warm-up) or a schedule."""
        needs_steps = self.lr_schedule != "constant" or self.warmup_epochs > 0
        if needs_steps and not steps_per_epoch:
            raise ConfigError(
                f"{type(self).__name__}: lr_schedule={self.lr_schedule!r} / warmup_epochs="
                f"{self.warmup_epochs} need the steps per epoch, which the training dataset does not "
                f"tell (unknown or infinite cardinality): define train_examples() or set "
                f"max_steps_per_epoch")
        schedules = keras.optimizers.schedules
        if self.lr_schedule == "exponential":
            rate = schedules.ExponentialDecay(
                self.learning_rate, decay_steps=self.decay_steps(steps_per_epoch),
                decay_rate=self.lr_decay_rate, staircase=self.lr_staircase)
        elif self.lr_schedule == "piecewise":
            boundaries = self.lr_boundary_steps(steps_per_epoch)
            if boundaries[0] < 0 or any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
                raise ConfigError(
                    f"{type(self).__name__}.lr_boundaries = {self.lr_boundaries} epochs give steps "
                    f"{boundaries} at {steps_per_epoch} steps per epoch: they must be distinct steps >= 0")
            rate = schedules.PiecewiseConstantDecay(
                boundaries, [self.learning_rate, *self.lr_values])
        else:
            rate = self.learning_rate
        if self.warmup_epochs > 0:
            rate = LinearWarmup(rate, max(1, self.warmup_steps(steps_per_epoch)))
        return rate

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
    # Command line.

    @classmethod
    def argument_parser(cls, prog: Optional[str] = None) -> argparse.ArgumentParser:
        """A parser with one ``--option`` per field (type-aware) plus the run options."""
        doc = inspect.cleandoc(cls.__doc__ or "")
        parser = _RecipeArgumentParser(
            prog=prog or cls.recipe_name(), description=doc, allow_abbrev=False,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        overlay = _synthetic_overlay(cls)
        fields = parser.add_argument_group(
            f"fields of {cls.__name__} (default: the published value"
            + ("; [SynthAffect: X]: what a run without --data uses" if overlay else "") + "; `_` or `-` both work)")
        hints = cls.field_types()
        for f in dataclasses.fields(cls):
            kwargs = _argparse_kwargs(f.name, hints[f.name], cls.__name__)
            text = f.metadata.get("help", "")
            if f.name == "row" and cls.rows:
                names = list(cls.rows)
                kwargs["metavar"] = "ROW"
                text = f"{text}; choices: {', '.join(repr(name) for name in names)} (default: {names[0]!r})"
            else:
                text = f"{text} (default: {_show(_field_default(f))})"
            if f.name in overlay:
                text += f" [SynthAffect: {_show(overlay[f.name])}]"
            fields.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=argparse.SUPPRESS,
                                help=text.strip().replace("%", "%%"), **kwargs)
        run = parser.add_argument_group("run options")
        run.add_argument("--run-dir", dest="run_dir", default=None, metavar="DIR",
                         help="run directory; an existing one is resumed "
                              "(default: runs/<recipe>/<UTC timestamp>)")
        run.add_argument("--print-config", dest="print_config", action="store_true",
                         help="print the resolved config as JSON and exit")
        return parser

    @classmethod
    def parse_args(cls, argv: Optional[list[str]] = None, prog: Optional[str] = None
                   ) -> tuple["Recipe", argparse.Namespace]:
        """Parse field overrides and run options; return ``(recipe, run_options)``.

        ``--smoke`` applies :meth:`smoke_overrides` to the fields not given explicitly. Unknown
        options and bad values raise :class:`ConfigError`.
        """
        argv = list(sys.argv[1:] if argv is None else argv)
        parser = cls.argument_parser(prog)
        args, extras = parser.parse_known_args(_normalise_options(argv))
        if extras:
            raise ConfigError(_unknown_message(parser.prog, cls, extras))
        run_options = argparse.Namespace(run_dir=args.run_dir, print_config=args.print_config)
        overrides = {k: v for k, v in vars(args).items() if k not in ("run_dir", "print_config")}
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
                    ", ".join(f"{k}={_show(v)}" for k, v in changes.items()))
        if recipe.smoke:
            recipe = recipe.with_smoke(keep=frozenset(overrides))
        return recipe, run_options

    @classmethod
    def from_args(cls, argv: Optional[list[str]] = None) -> "Recipe":
        """The recipe that ``argv`` (field overrides, ``--smoke``) describes; see :meth:`parse_args`."""
        return cls.parse_args(argv)[0]

    @classmethod
    def run_cli(cls, argv: Optional[list[str]] = None, prog: Optional[str] = None) -> int:
        """Parse ``argv``, train, print a summary; return the exit status. A tfaffect error propagates to
        the error boundary the entry points share (:mod:`tfaffect.boundary`), which prints one line and
        chooses the exit status (2: bad configuration; 1: bad data, missing resource)."""
        _configure_logging()
        recipe, options = cls.parse_args(argv, prog)
        if options.print_config:
            print(recipe.to_json())
            return 0
        print(recipe.run(options.run_dir))
        return 0

    def run(self, run_dir: Optional[str] = None) -> str:
        """Train (resuming ``run_dir`` if given) and return the summary a command-line run prints.
        A recipe made of several trainings (e.g. cross-validation folds) overrides this."""
        from tfaffect.training.trainer import train

        return self.summary(train(self, run_dir=run_dir))

    def summary(self, metrics: Mapping[str, Any]) -> str:
        """What a command-line run prints at the end (default: run directory, final metrics, best epoch)."""
        return json.dumps({k: metrics[k] for k in ("run_dir", "final", "best_epoch") if k in metrics}, indent=2)

    @classmethod
    def main(cls, argv: Optional[list[str]] = None) -> None:
        """Entry point of a recipe file: ``if __name__ == "__main__": MyRecipe.main()``."""
        from tfaffect.boundary import run_recipe  # the error boundary every command shares

        sys.exit(run_recipe(cls, argv))


# --------------------------------------------------------------------------------------------------
# Type handling for fields (int, float, str, bool, Literal, Optional[...], tuple[...]).

def _optional_inner(hint) -> Any:
    """``X`` for ``Optional[X]``, else ``None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0]
    return None


def _tuple_elements(hint) -> Optional[tuple[Any, Optional[int]]]:
    """``(element type, length or None for variable)`` for a homogeneous tuple hint."""
    if typing.get_origin(hint) is not tuple:
        return None
    args = typing.get_args(hint)
    if len(args) == 2 and args[1] is Ellipsis:
        return args[0], None
    if args and all(a == args[0] for a in args):
        return args[0], len(args)
    return None


def _matches(value, hint) -> bool:
    inner = _optional_inner(hint)
    if inner is not None:
        return value is None or _matches(value, inner)
    if typing.get_origin(hint) is Literal:
        return value in typing.get_args(hint)
    elements = _tuple_elements(hint)
    if elements is not None:
        element, length = elements
        return (isinstance(value, tuple) and (length is None or len(value) == length)
                and all(_matches(v, element) for v in value))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _coerce(value, hint):
    """Lists -> tuples and ints -> floats where the hint asks for them (JSON and Python callers)."""
    inner = _optional_inner(hint)
    if inner is not None:
        return value if value is None else _coerce(value, inner)
    elements = _tuple_elements(hint)
    if elements is not None and isinstance(value, (list, tuple)):
        return tuple(_coerce(v, elements[0]) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _type_name(hint) -> str:
    inner = _optional_inner(hint)
    if inner is not None:
        return f"{_type_name(inner)} or None"
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    elements = _tuple_elements(hint)
    if elements is not None:
        return f"a tuple of {_type_name(elements[0])}" + (f" (length {elements[1]})" if elements[1] else "")
    return getattr(hint, "__name__", str(hint))


def _none_or(convert):
    def parse(text: str):
        return None if text.lower() == "none" else convert(text)
    parse.__name__ = getattr(convert, "__name__", "value")  # argparse names it in error messages
    return parse


def _argparse_kwargs(name: str, hint, owner: str) -> dict[str, Any]:
    inner = _optional_inner(hint)
    if inner is not None:
        if _tuple_elements(inner) is not None or inner is bool:
            raise TypeError(f"{owner}.{name}: {hint} cannot be given on the command line")
        kwargs = _argparse_kwargs(name, inner, owner)
        kwargs["type"] = _none_or(kwargs["type"])
        kwargs["metavar"] = f"{kwargs.pop('metavar', name.upper())}|none"
        kwargs.pop("choices", None)
        return kwargs
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        return {"type": type(choices[0]), "choices": choices}
    elements = _tuple_elements(hint)
    if elements is not None:
        element, length = elements
        if element not in (int, float, str):
            raise TypeError(f"{owner}.{name}: {hint} cannot be given on the command line")
        return {"type": element, "nargs": "*" if length is None else length,
                "metavar": element.__name__.upper()}
    if hint in (int, float, str):
        return {"type": hint, "metavar": hint.__name__.upper()}
    raise TypeError(f"{owner}.{name}: {hint} cannot be given on the command line")


def _synthetic_overlay(cls) -> dict[str, Any]:
    """The field values a run without ``--data`` uses instead of the published ones (the default row's
    :meth:`Recipe.synthetic_overrides`, only those that differ), for ``--help``; ``{}`` where the recipe cannot
    tell without more arguments."""
    try:
        recipe = cls()
        if cls.rows:
            first = next(iter(cls.rows))
            recipe = dataclasses.replace(recipe, row=first, **cls.rows[first])
        overlay = recipe.synthetic_overrides()
    except Exception:  # only the help text depends on it: a recipe that needs arguments shows none
        return {}
    return {name: value for name, value in overlay.items()
            if _jsonable(value) != _jsonable(getattr(recipe, name, None))}


def _field_default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _show(value) -> str:
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value) if value else "(empty)"
    return "none" if value is None else str(value)


def _jsonable(value):
    return [_jsonable(v) for v in value] if isinstance(value, tuple) else value


def _normalise_options(argv: list[str]) -> list[str]:
    """``--lr_schedule=x`` -> ``--lr-schedule=x`` (field names may be typed with underscores)."""
    out = []
    for token in argv:
        if token.startswith("--"):
            option, sep, value = token.partition("=")
            token = option.replace("_", "-") + sep + value
        out.append(token)
    return out


def _unknown_message(prog: str, cls, extras: list[str]) -> str:
    options = [f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(cls)]
    options += ["--run-dir", "--print-config", "--help"]
    parts = []
    for token in extras:
        if token.startswith("-"):
            option = token.partition("=")[0]
            close = difflib.get_close_matches(option, options, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            parts.append(f"unknown option {option}{hint}")
        else:
            parts.append(f"unexpected argument {token!r}")
    return (f"{prog}: " + "; ".join(parts)
            + f". {cls.__name__} has no such field; --help lists the fields.")


def _configure_logging() -> None:
    """INFO-level logging to stderr for command-line runs, unless the caller configured logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")

