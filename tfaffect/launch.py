"""Training from the command line: ``python recipes/NAME.py [options]`` and ``tfaffect train NAME [options]``.

A recipe file ends with ``if __name__ == "__main__": main(MyRecipe)``. A command-line run

1. trains the recipe (:func:`tfaffect.training.runner.run`: its stages, then its training or its folds);
2. exports the trained model as a SavedModel to ``saved_models/<recipe>/`` (``--export-dir DIR`` elsewhere):
   the export ``tfaffect export --run-dir RUN`` makes (:func:`tfaffect.export.export_model`), written under a
   temporary name, so an existing export of the recipe is replaced only by a finished one. ``--no-export``
   skips it; ``--smoke`` runs skip it unless ``--export`` is given; a cross-validated recipe has one model
   per fold and no export (export a fold with ``tfaffect export --run-dir RUN/foldK``);
3. prints the recipe's summary (:meth:`~tfaffect.training.recipe.Recipe.summary`), the whole evaluation
   first, and where the export is and the line of Python that loads it.

:func:`tfaffect.training.runner.run` is the programmatic API (training only: it exports nothing). This module
sits at the command-line layer because it uses both training and export.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from tfaffect.boundary import check_outputs, exit_status, format_error, run_recipe
from tfaffect.errors import ConfigError, TfaffectError
from tfaffect.training import registry

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# `tfaffect train NAME [...]`.

def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipes-dir", default=None, metavar="DIR",
                        help=f"folder of recipe files (default: ${registry.ENV_VAR}, else the recipes an "
                             f"installed tfaffect carries, else recipes/ in the source checkout)")
    parser.add_argument("recipe", metavar="NAME",
                        help="recipe name (see `tfaffect recipes`) or path to a recipe .py file")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, metavar="...",
                        help="field overrides and run options, e.g. --epochs 3 --smoke --run-dir DIR "
                             "--no-export; `tfaffect train NAME --help` lists the recipe's fields with their "
                             "published values and those a SynthAffect run uses")


def cli_main(args: argparse.Namespace) -> int:
    """``tfaffect train NAME [...]``: the same as ``python recipes/NAME.py [...]``. ``NAME`` is a recipe name
    from ``tfaffect recipes`` or a path to a recipe file; everything after it goes to the recipe's own parser,
    so options of this command (``--recipes-dir``) come before ``NAME``."""
    try:
        cls = registry.find(args.recipe, args.recipes_dir)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run_cli(cls, args.overrides, prog=f"tfaffect train {cls.recipe_name()}")


# --------------------------------------------------------------------------------------------------
# A recipe's command line.

def export_options(group) -> None:
    """The run options of the export at the end of a run (added to the recipe's parser)."""
    group.add_argument("--export", dest="export", action=argparse.BooleanOptionalAction, default=None,
                       help="export the trained model as a SavedModel at the end of the run (default: yes; "
                            "--smoke runs skip it unless --export is given)")
    group.add_argument("--export-dir", dest="export_dir", default=None, metavar="DIR",
                       help="the export folder; an existing one is replaced once the new export is complete "
                            "(default: saved_models/<recipe>)")


def run_cli(cls, argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    """Parse ``argv`` (:mod:`tfaffect.training.options`), train, export, print the summary; return the exit
    status. A tfaffect error of the training propagates to the error boundary the entry points share
    (:mod:`tfaffect.boundary`); one of the export is printed after the summary and sets the status."""
    from tfaffect.training import options
    from tfaffect.training.runner import run  # loads Keras: not for `tfaffect train --help`
    from tfaffect.training.trainer import chief_process

    _configure_logging()
    recipe, run_options = options.parse_args(cls, None if argv is None else list(argv), prog, export_options)
    if run_options.print_config:
        print(recipe.to_json())
        return 0
    export = not recipe.smoke if run_options.export is None else run_options.export
    out = Path(run_options.export_dir) if run_options.export_dir else default_export_dir(cls)
    if export:
        check_outputs([("--export-dir", out)])
    metrics = run(recipe, run_options.run_dir)
    status, lines = 0, []
    if not export:
        lines.append("SavedModel: not exported (" + ("--no-export" if run_options.export is False else
                                                    "a --smoke run; pass --export to export it") + ")")
    elif chief_process(recipe):
        try:
            lines += export_lines(Path(metrics["run_dir"]), out)
        except TfaffectError as exc:
            status = exit_status(exc)
            lines.append(f"SavedModel: not exported: {format_error(prog or cls.recipe_name(), exc)}")
    print("\n".join([recipe.summary(metrics), *lines]))
    return status


def default_export_dir(cls) -> Path:
    """``saved_models/<recipe>``: where ``tfaffect export`` puts a run of the recipe."""
    from tfaffect.export.cli import DEFAULT_ROOT

    return Path(DEFAULT_ROOT) / cls.recipe_name()


def export_lines(run_dir: Path, out: Path) -> list[str]:
    """Export the run in ``run_dir`` (its final model) to ``out``; return the summary's lines about it."""
    from tfaffect.export import METADATA_FILE, export_model, load_run
    from tfaffect.export.runs import read_json

    import keras

    if keras.backend.backend() != "tensorflow":  # a SavedModel is a TensorFlow graph; the .keras file is not
        return [f"SavedModel: not exported (this run used KERAS_BACKEND={keras.backend.backend()}; a SavedModel needs "
                f"TensorFlow's: `KERAS_BACKEND=tensorflow tfaffect export --run-dir {run_dir}`)"]
    if not (run_dir / "model.keras").is_file() and not (run_dir / "fold0" / "model.keras").is_file():
        return ["SavedModel: none (the run trains no model of its own: its result is computed from its stages' runs, "
                "e.g. an -AVG row's mean over the rows' cached runs; export one of those)"]
    if not (run_dir / "model.keras").is_file():
        return [f"SavedModel: none (a cross-validated run has one model per fold; export one with "
                f"`tfaffect export --run-dir {run_dir / 'fold0'}`)"]
    model, metadata, _ = load_run(run_dir)
    inputs = model.input if isinstance(model.input, dict) else {}
    if "image" not in inputs:  # e.g. Kahou's fusion and audio models: clip features or SVM probabilities
        return [f"SavedModel: none (the model reads {', '.join(sorted(inputs)) or 'no face frames'}, not face frames: "
                f"a SavedModel serves frames; use the run through Python: "
                f"tfaffect.load_model({os.fspath(run_dir / 'model.keras')!r}))"]
    export_model(model, out, metadata=metadata, overwrite=True)
    written = read_json(out / METADATA_FILE, "the export did not finish")
    streaming = "" if written.get("step_unavailable") else ", streaming with .step"
    return [f"SavedModel: {out} (signatures: {', '.join(sorted(written.get('signatures', [])))}{streaming})",
            f"load it: import tfaffect; model = tfaffect.load_model({os.fspath(out)!r})   "
            f"(plain TensorFlow: tf.saved_model.load({os.fspath(out)!r}).serve(frames))"]


def quiet_start(module_name: str) -> None:
    """The first statement of a recipe file, ``quiet_start(__name__)``: run as a script (``python
    recipes/NAME.py``), TensorFlow is imported here, before the recipe's imports load Keras, with its C++
    start-up log off (the ``cuInit`` "error" on a machine without a GPU, oneDNN and CPU-feature notices), as every
    ``tfaffect`` command does (:func:`tfaffect.cli.quiet_tensorflow`; issue #14); so is each worker process that
    ``multiprocessing``'s spawn starts (SynthAffect's renderers), which re-imports the script as ``__mp_main__``.
    Imported as a module (``tfaffect train``, the registry, tests), it does nothing. ``TF_CPP_MIN_LOG_LEVEL=0``
    in the environment keeps the log."""
    if module_name not in ("__main__", "__mp_main__") or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    from tfaffect.cli import quiet_tensorflow

    quiet_tensorflow()


def main(cls, argv: Optional[Sequence[str]] = None) -> None:
    """Entry point of a recipe file: ``if __name__ == "__main__": main(MyRecipe)``."""
    sys.exit(run_recipe(cls, argv, run_cli))


def _configure_logging() -> None:
    """INFO-level logging to stderr for command-line runs, unless the caller configured logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")


__all__ = ["add_cli_arguments", "cli_main", "default_export_dir", "export_lines", "export_options", "main",
           "run_cli"]
