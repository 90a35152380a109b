"""Run a recipe: its upstream stages, then its training (or its folds), then its summary.

:func:`run` is what ``python recipes/NAME.py`` and ``tfaffect train NAME`` do:

1. every stage the recipe :meth:`~tfaffect.training.recipe.Recipe.requires` is resolved
   (:mod:`tfaffect.training.stages`): a recipe stage trained through :func:`~tfaffect.training.trainer.train`
   in its cache directory, any other stage (e.g. a per-frame feature extraction) run there by its own
   ``run``, or reused when it finished there before (logged); its own stages first;
2. a recipe with :meth:`~tfaffect.training.recipe.Recipe.folds` (cross-validation) trains every fold into
   ``<run_dir>/fold<K>`` and :meth:`~tfaffect.training.recipe.Recipe.combine_folds` writes their mean;
   any other recipe trains into ``run_dir``;
3. :func:`run_cli` prints :meth:`~tfaffect.training.recipe.Recipe.summary` of the metrics.

A recipe file ends with ``if __name__ == "__main__": main(MyRecipe)``.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from tfaffect.boundary import run_recipe
from tfaffect.training import options, stages
from tfaffect.training.trainer import default_run_dir, train

log = logging.getLogger(__name__)


def resolve(stage: stages.Stage, *, verbose: Optional[int] = None) -> Path:
    """Train or run ``stage`` (its own stages first), or reuse its finished result; return its directory."""
    for upstream in stage.requires().values():
        resolve(upstream, verbose=verbose)
    run_dir = stages.stage_dir(stage)
    if stage.finished(run_dir):
        log.info("%s: reusing the finished stage in %s (same configuration and data)", stage.label, run_dir)
    elif isinstance(stage, stages.RecipeStage):
        log.info("%s: training stage in %s", stage.label, run_dir)
        train(stage.recipe, run_dir=run_dir, verbose=verbose)
    else:
        log.info("%s: running stage in %s", stage.label, run_dir)
        stage.run(run_dir, verbose=verbose)
    return run_dir


def run(recipe, run_dir: str | os.PathLike | None = None, *, verbose: Optional[int] = None) -> dict[str, Any]:
    """Resolve ``recipe``'s stages, then train it (or each of its folds); return its metrics.json content."""
    recipe.validate()
    for stage in recipe.requires().values():
        resolve(stage, verbose=verbose)
    folds = recipe.folds()
    if not folds:
        return train(recipe, run_dir=run_dir, verbose=verbose)
    import keras

    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(recipe)
    results = []
    for k, fold in enumerate(folds):
        log.info("%s: fold %d of %d", type(recipe).recipe_name(), k + 1, len(folds))
        keras.backend.clear_session()
        results.append(run(fold, run_dir / f"fold{k}", verbose=verbose))
    return recipe.combine_folds(run_dir, results)


def run_cli(cls, argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    """Parse ``argv`` (:mod:`tfaffect.training.options`), run, print the summary; return the exit status. A
    tfaffect error propagates to the error boundary the entry points share (:mod:`tfaffect.boundary`)."""
    _configure_logging()
    recipe, run_options = options.parse_args(cls, None if argv is None else list(argv), prog)
    if run_options.print_config:
        print(recipe.to_json())
        return 0
    print(recipe.summary(run(recipe, run_options.run_dir)))
    return 0


def main(cls, argv: Optional[Sequence[str]] = None) -> None:
    """Entry point of a recipe file: ``if __name__ == "__main__": main(MyRecipe)``."""
    sys.exit(run_recipe(cls, argv, run_cli))


def _configure_logging() -> None:
    """INFO-level logging to stderr for command-line runs, unless the caller configured logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
