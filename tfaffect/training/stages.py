"""Upstream training stages: a run that another recipe starts from, trained once and reused.

:func:`train_cached` trains a recipe in ``$TFAFFECT_CACHE/<folder>/<label>-<hash>``, where the hash
covers the recipe's fields and its data's manifest: the same configuration on the same prepared data
finds its finished run and reuses it (logged), another configuration or changed data gets a run of
its own. An interrupted stage resumes like any run (same directory, same configuration).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from tfaffect.training.recipe import Recipe

log = logging.getLogger(__name__)


def stage_dir(recipe: Recipe, folder: str, label: str) -> Path:
    """The cache directory of ``recipe``'s stage run (see the module docstring)."""
    from tfaffect.data.synth import default_cache_dir

    digest = hashlib.sha256(recipe.to_json().encode())
    data_dir = getattr(recipe, "data_dir", None)
    if data_dir is not None:
        manifest = Path(data_dir()[0]) / "manifest.json"
        if manifest.is_file():
            digest.update(manifest.read_bytes())
    return default_cache_dir() / folder / f"{label}-{digest.hexdigest()[:12]}"


def train_cached(recipe: Recipe, folder: str, label: str, *, verbose: int | None = 0) -> Path:
    """Train ``recipe`` as a stage (or reuse its finished run); return the run directory."""
    from tfaffect.training.trainer import train

    run_dir = stage_dir(recipe, folder, label)
    if (run_dir / "metrics.json").is_file():
        log.info("%s: reusing the finished stage in %s (same configuration and data)", label, run_dir)
    else:
        log.info("%s: training stage in %s", label, run_dir)
    train(recipe, run_dir=run_dir, verbose=verbose)
    return run_dir
