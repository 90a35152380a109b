"""Run a recipe: its upstream stages, then its training (or its folds).

:func:`run` is the programmatic API of training, and what ``python recipes/NAME.py`` and ``tfaffect train NAME``
(:mod:`tfaffect.launch`, which then also exports the model and prints the summary) call:

1. every stage the recipe :meth:`~tfaffect.training.recipe.Recipe.requires` is resolved
   (:mod:`tfaffect.training.stages`): a recipe stage trained through :func:`~tfaffect.training.trainer.train`
   in its cache directory, any other stage (e.g. a per-frame feature extraction) run there by its own
   ``run``, or reused when it finished there before (logged); its own stages first;
2. a recipe with :meth:`~tfaffect.training.recipe.Recipe.folds` (cross-validation) trains every fold into
   ``<run_dir>/fold<K>`` and :meth:`~tfaffect.training.recipe.Recipe.combine_folds` writes their mean;
   a recipe that trains nothing (:meth:`~tfaffect.training.recipe.Recipe.trains` false, e.g. a mean over other
   rows' cached runs) writes its result from its stages (:meth:`~tfaffect.training.recipe.Recipe.combine_stages`);
   any other recipe trains into ``run_dir``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional

from tfaffect.training import stages
from tfaffect.training.trainer import default_run_dir, train

log = logging.getLogger(__name__)


def resolve(stage: stages.Stage, *, verbose: Optional[int] = None, done: Optional[set] = None) -> Path:
    """Train or run ``stage`` (its own stages first), or reuse its finished result; return its directory.
    ``done``: the directories resolved already in this run (a stage several others share, e.g. an ensemble's
    CNN stage, is checked and logged once)."""
    done = set() if done is None else done
    run_dir = stages.stage_dir(stage)
    if run_dir in done:
        return run_dir
    for upstream in stage.requires().values():
        resolve(upstream, verbose=verbose, done=done)
    done.add(run_dir)
    if stage.finished(run_dir):
        log.info("%s: reusing the finished stage in %s (same configuration and data)", stage.label, run_dir)
    elif isinstance(stage, stages.RecipeStage) and stage.recipe.trains():
        log.info("%s: training stage in %s", stage.label, run_dir)
        train(stage.recipe, run_dir=run_dir, verbose=verbose)
    elif isinstance(stage, stages.RecipeStage):  # e.g. an ensemble's member computed from its own stages
        log.info("%s: combining stage in %s", stage.label, run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        stage.recipe.combine_stages(run_dir)
    else:
        log.info("%s: running stage in %s", stage.label, run_dir)
        stage.run(run_dir, verbose=verbose)
    return run_dir


def run(recipe, run_dir: str | os.PathLike | None = None, *, verbose: Optional[int] = None) -> dict[str, Any]:
    """Resolve ``recipe``'s stages, then train it (or each of its folds); return its metrics.json content."""
    recipe.validate()
    done: set = set()
    for stage in recipe.requires().values():
        resolve(stage, verbose=verbose, done=done)
    folds = recipe.folds()
    if not folds and recipe.trains():
        return train(recipe, run_dir=run_dir, verbose=verbose)
    import keras

    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(recipe)
    if not folds:
        log.info("%s: combining its finished stages in %s (nothing to train)", type(recipe).recipe_name(), run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        return recipe.combine_stages(run_dir)
    results = []
    for k, fold in enumerate(folds):
        log.info("%s: fold %d of %d", type(recipe).recipe_name(), k + 1, len(folds))
        keras.backend.clear_session()
        results.append(run(fold, run_dir / f"fold{k}", verbose=verbose))
    return recipe.combine_folds(run_dir, results)
