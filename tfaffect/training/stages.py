"""Upstream stages: work a recipe needs done before it trains, done once and reused.

A recipe declares its stages with :meth:`~tfaffect.training.recipe.Recipe.requires` (name -> stage): a
frame CNN to start from, a face model to pretrain, the members of an ensemble. The runner
(:mod:`tfaffect.training.runner`) trains each before the recipe, in ``$TFAFFECT_CACHE/<folder>/<label>-<hash>``
(default ``~/.cache/tfaffect``), where the hash covers the stage recipe's resolved fields and its data's
manifest: the same configuration on the same prepared data finds its finished run and reuses it (logged),
another configuration or changed data gets a run of its own. An interrupted stage resumes like any run
(same directory, same configuration). A stage's own stages are resolved first.

The recipe then finds a finished stage with :meth:`~tfaffect.training.recipe.Recipe.stage_dir`, a pure
lookup: nothing trains as a side effect of building a model or its datasets.

A stage is anything with the small :class:`Stage` protocol: a ``folder`` and ``label``, a ``fingerprint``
of what its result depends on, the stages it ``requires`` itself, whether a directory holds its
``finished`` result, and how to ``run`` into one. A :class:`RecipeStage` is trained by the runner through
the trainer (or, for a recipe that trains nothing, combined from its own stages); every other stage runs itself, e.g. the per-frame feature extraction
(:class:`tfaffect.training.features.FeatureStage`), an SVM fitted on features, a search over fusion weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional, Protocol

from tfaffect.errors import MissingResourceError


class Stage(Protocol):
    """What the runner resolves (see the module docstring); cached in ``folder/label-<fingerprint>``."""

    folder: str
    label: str
    action: ClassVar[str]
    """What running it does, for messages: ``"trained"``, ``"extracted"``, ..."""

    def fingerprint(self) -> bytes:
        """What identifies the result: the stage's configuration and its inputs (upstream stages, data)."""

    def requires(self) -> Mapping[str, "Stage"]:
        """The stages this one needs finished first, by name (resolved before it runs)."""

    def finished(self, run_dir: Path) -> bool:
        """Whether ``run_dir`` holds this stage's complete result."""

    def run(self, run_dir: Path, *, verbose: Optional[int] = None) -> None:
        """Compute the result into ``run_dir``, resuming what an interrupted run left there."""


@dataclasses.dataclass(frozen=True)
class RecipeStage:
    """A Keras training run (``recipe``) that another recipe starts from; cached under ``folder/label-<hash>``."""

    recipe: Any
    """The stage's resolved :class:`~tfaffect.training.recipe.Recipe` (every field as the stage uses it)."""
    folder: str
    label: str
    action: ClassVar[str] = "trained"

    def fingerprint(self) -> bytes:
        """What identifies the stage's result: its recipe's fields, what its recipe's ``environment_key()`` says the
        result also depends on (an optional package that adds an input), and its data's manifest."""
        digest = hashlib.sha256(self.recipe.to_json().encode())
        environment = getattr(self.recipe, "environment_key", dict)()
        if environment:
            digest.update(json.dumps(environment, sort_keys=True).encode())
        data_dir = getattr(self.recipe, "data_dir", None)
        if data_dir is not None:
            manifest = Path(data_dir()[0]) / "manifest.json"
            if manifest.is_file():
                digest.update(manifest.read_bytes())
        return digest.digest()

    def requires(self) -> Mapping[str, Stage]:
        """The stages the stage's recipe requires."""
        return self.recipe.requires()

    def finished(self, run_dir: Path) -> bool:
        """:func:`finished`: the trainer wrote ``metrics.json``. (The runner trains a RecipeStage; it has no ``run``.)"""
        return finished(run_dir)


def stage_dir(stage: Stage) -> Path:
    """The cache directory of ``stage`` (see the module docstring)."""
    from tfaffect.data.synth import default_cache_dir

    return default_cache_dir() / stage.folder / f"{stage.label}-{stage.fingerprint().hex()[:12]}"


def finished(run_dir: Path) -> bool:
    """Whether the run in ``run_dir`` finished (the trainer writes ``metrics.json`` last)."""
    return (run_dir / "metrics.json").is_file()


def finished_stage_dir(stage: Stage, path: Path, name: str, owner: str) -> Path:
    """``path`` (:func:`stage_dir` of ``stage``) when the stage has finished; a typed error naming it when it has not
    run."""
    if not stage.finished(path):
        raise MissingResourceError(
            f"{owner}: its stage {name!r} ({stage.folder}/{stage.label}) has not been {stage.action} yet ({path}): run "
            f"the recipe with `python recipes/<name>.py`, `tfaffect train <name>` or tfaffect.training.runner.run(), "
            f"which train its stages first")
    return path
