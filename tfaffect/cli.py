"""The ``tfaffect`` command line.

Each subcommand lives in the module that implements it, which exposes two functions:

    add_cli_arguments(parser: argparse.ArgumentParser) -> None
    cli_main(args: argparse.Namespace) -> int

The tables below are all this file knows; modules are imported only when their command runs, so
``tfaffect --help`` answers without loading TensorFlow. A command whose module is not there yet
says so and exits with status 2.

Every command runs inside the one error boundary (:func:`tfaffect.boundary.run_guarded`): a tfaffect
error is one line on stderr naming the file and line/frame (exit 1; 2 for a bad command line), an
unexpected exception is reported as a bug with the file its traceback went to (exit 70), and the
output paths in :data:`OUTPUTS` are checked before the command starts its work.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tfaffect import __version__
from tfaffect.boundary import check_outputs, option_values, run_guarded
from tfaffect.errors import ConfigError

# name -> (implementing module, one-line help, issue that delivers it)
COMMANDS: dict[str, tuple[str, str, int]] = {
    "synth": ("tfaffect.data.synth",
              "generate SynthAffect, the embedded synthetic dataset, in the Aff-Wild2 layout", 3),
    "prepare": ("tfaffect.data.prepare",
                "turn a dataset's raw layout into sharded TFRecords (resumable)", 3),
    "recipes": ("tfaffect.training.registry", "list the recipes, one per published result", 4),
    "train": ("tfaffect.training.run", "train a recipe (same as `python recipes/NAME.py`)", 4),
    "evaluate": ("tfaffect.evaluation", "dataset-level CCC/MSE of a trained model on prepared data", 4),
    "report": ("tfaffect.report", "paper tables: published numbers beside ours from run directories", 4),
    "export": ("tfaffect.export", "export a trained model as a SavedModel (+ .keras, TFLite)", 5),
    "predict": ("tfaffect.predict", "video -> per-frame valence/arousal CSV and plots", 5),
    "convert": ("tfaffect.convert", "convert published weights (e.g. AffWildNet TF1 checkpoints)", 5),
}

OUTPUTS: dict[str, dict[str, str]] = {
    "synth": {"out": "folder"}, "prepare": {"out": "folder"}, "evaluate": {"out": "folder"},
    "report": {"out": "file"}, "export": {"out": "folder"}, "predict": {"out": "folder"},
    "convert": {"out": "folder"},
}
"""Per command, the options naming an output (attribute of the parsed arguments -> folder or file),
checked before the command runs. ``train`` checks the recipe's ``--run-dir``."""

EPILOG = """\
Start here:
  tfaffect synth --out data/synthaffect      generate the embedded dataset (a few seconds)
  python recipes/affwildnet.py               the flagship: AffWildNet on SynthAffect, end to end
  tfaffect COMMAND --help                    what a command takes
"""


class NotImplementedCommand(ConfigError):
    hint = ""


def _load(name: str):
    module_name, _, issue = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # a real missing dependency inside the module: show it
        module = None
    if module is None or not hasattr(module, "cli_main"):
        raise NotImplementedCommand(f"not implemented yet (planned in issue #{issue}).")
    return module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfaffect",
        description="Deep models for facial affect in the wild: valence/arousal and 7 expressions, "
                    "in TensorFlow 2 / Keras 3.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tfaffect {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text, _) in COMMANDS.items():
        # Each subparser is filled in lazily (in main) so --help stays fast.
        sub.add_parser(name, help=help_text, description=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        args = parser.parse_args(argv)  # handles --help, --version and unknown commands
        parser.print_help()
        return 2
    name = argv[0]
    return run_guarded(f"tfaffect {name}", lambda: _run(name, argv[1:]), argv=argv)


def _run(name: str, argv: list[str]) -> int:
    module = _load(name)
    sub = argparse.ArgumentParser(prog=f"tfaffect {name}", description=COMMANDS[name][1],
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    module.add_cli_arguments(sub)
    args = sub.parse_args(argv)
    args.command = name
    outputs = {"folder": [], "file": []}
    for attribute, kind in OUTPUTS.get(name, {}).items():
        outputs[kind].append((f"--{attribute.replace('_', '-')}", getattr(args, attribute, None)))
    if name == "train":
        outputs["folder"] += [("--run-dir", value) for value in option_values(getattr(args, "overrides", []),
                                                                              "--run-dir")]
    check_outputs(outputs["folder"], outputs["file"])
    return int(module.cli_main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
