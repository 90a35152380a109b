"""``tfaffect export``: a ``.keras`` file or a run directory -> an export folder
(:func:`tfaffect.export.signatures.export_model`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tfaffect._lazy import lazy_module
from tfaffect.errors import ConfigError
from tfaffect.export.runs import load_run, read_json
from tfaffect.export.signatures import METADATA_FILE, export_model
from tfaffect.io import identifier_problem, safe_filename

_saving = lazy_module("tfaffect.models.saving")  # loads Keras: imported on first use (tfaffect._lazy)

DEFAULT_ROOT = "saved_models"
"""Default parent folder of exports (``saved_models/<name>/``); git ignores its content."""


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a saved Keras model (.keras)")
    source.add_argument("--run-dir", help="a trainer run directory (uses its model.keras; see --weights)")
    parser.add_argument("--weights", choices=("final", "best"), default="final",
                        help="with --run-dir: the final model or the best epoch's checkpoint")
    parser.add_argument("--name", help="export name; unset: the run's recipe, or the model file's stem")
    parser.add_argument("--out", help=f"output folder; unset: {DEFAULT_ROOT}/<name>")
    parser.add_argument("--metadata", help="JSON file of extra metadata (e.g. training data, metrics)")
    parser.add_argument("--no-tflite", action="store_true", help="skip the TFLite conversion")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")


def cli_main(args: argparse.Namespace) -> int:
    """``tfaffect export``. Errors go to the command line's error boundary (:mod:`tfaffect.boundary`)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.name is not None and identifier_problem(args.name) is not None:
        raise ConfigError(f"--name {args.name!r}: {identifier_problem(args.name)}; pass a plain name (or --out)")
    if args.out is not None:
        out = Path(args.out)
        if out.exists() and not args.overwrite:
            raise ConfigError(f"{out} exists; pass another --out or --overwrite")
    if args.run_dir is not None:
        model, metadata, name = load_run(args.run_dir, args.weights)
    elif args.weights != "final":
        raise ConfigError("--weights best needs --run-dir (a .keras file holds one set of weights)")
    else:
        model = _saving.load_model(args.model)
        metadata, name = {"weights": {"file": str(args.model)}}, safe_filename(Path(args.model).stem)
    if args.metadata:
        extra = read_json(Path(args.metadata), "pass a JSON file to --metadata")
        metadata = {**metadata, **extra}
    name = args.name or name
    out = Path(args.out) if args.out else Path(DEFAULT_ROOT) / name
    out = export_model(model, out, metadata=metadata, tflite=not args.no_tflite, overwrite=args.overwrite)
    written = read_json(out / METADATA_FILE, "the export did not finish")
    print(f"exported {name} to {out}: signatures {', '.join(sorted(written['signatures']))}; "
          f"TFLite: {written['tflite']['file'] or written['tflite']['error']}")
    if written["step_unavailable"]:
        print(f"no streaming step: {written['step_unavailable']}")
    elif written.get("delay"):
        print(f"streaming step: {written['delay']} frames late (the model looks {written['delay']} frames ahead); "
              "flush(state) gives the last ones")
    return 0
