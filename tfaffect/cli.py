"""The ``tfaffect`` command line.

Each subcommand lives in the module that implements it, which exposes two functions:

    add_cli_arguments(parser: argparse.ArgumentParser) -> None
    cli_main(args: argparse.Namespace) -> int

The tables below are all this file knows; modules are imported only when their command runs, so
``tfaffect --help`` answers without loading TensorFlow. The command modules themselves import
TensorFlow and Keras on first use (:mod:`tfaffect._lazy`, imports inside functions), so every
``tfaffect COMMAND --help`` answers without loading them either (a test checks it for every command). A
command whose module is not there yet says so and exits with status 2.

Quiet by default: before a command that needs TensorFlow does its work, TensorFlow's C++ logging is
turned off (``TF_CPP_MIN_LOG_LEVEL=3``, which also hides the ``failed call to cuInit`` line of a machine
without a GPU) and TensorFlow is imported with the process's stderr pointed at ``/dev/null``, which
silences the lines its libraries print before their logging is set up (oneDNN, CUDA driver, CPU
features). ``--verbose`` (before or after the command name) leaves all of that as TensorFlow has it.

Every command runs inside the one error boundary (:func:`tfaffect.boundary.run_guarded`): a tfaffect
error is one line on stderr naming the file and line/frame (exit 1; 2 for a bad command line), an
unexpected exception is reported as a bug with the file its traceback went to (exit 70), and the
output paths in :data:`OUTPUTS` are checked before the command starts its work.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
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
    "train": ("tfaffect.launch", "train a recipe (same as `python recipes/NAME.py`) and export its model", 4),
    "evaluate": ("tfaffect.evaluation", "dataset-level CCC/MSE of a trained model on prepared data", 4),
    "report": ("tfaffect.report", "paper tables: published numbers beside ours from run directories", 4),
    "export": ("tfaffect.export", "export a trained model as a SavedModel (+ .keras, TFLite)", 5),
    "predict": ("tfaffect.predict", "videos, images, a folder or a camera -> valence/arousal per face and "
                                    "frame (CSV/JSON/Parquet, plots, annotated video)", 5),
    "convert": ("tfaffect.convert", "convert published weights (e.g. AffWildNet TF1 checkpoints)", 5),
}

OUTPUTS: dict[str, dict[str, str]] = {
    "synth": {"out": "folder"}, "prepare": {"out": "folder"}, "evaluate": {"out": "folder"},
    "report": {"out": "file"}, "export": {"out": "folder"}, "predict": {"out": "folder"},
    "convert": {"out": "folder"},
}
"""Per command, the options naming an output (attribute of the parsed arguments -> folder or file),
checked before the command runs. ``train`` checks the recipe's ``--run-dir`` and ``--export-dir``."""

WITHOUT_TENSORFLOW = frozenset({"synth", "report"})
"""Commands that do their work without TensorFlow; every other command gets it imported quietly first."""
VERBOSE = "--verbose"

EPILOG = """\
Start here:
  tfaffect synth --out data/synthaffect      generate the embedded dataset (a few seconds)
  python recipes/affwildnet.py               the flagship: AffWildNet on SynthAffect, end to end
  tfaffect COMMAND --help                    what a command takes
"""


class NotImplementedCommand(ConfigError):
    hint = ""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions wrapped paragraph by paragraph; ``(default: X)`` after an option's help only where the help does
    not already speak of its default and there is a default worth showing (not ``None``, ``False`` or empty), and never
    for required options (argparse's ``ArgumentDefaultsHelpFormatter`` printed ``(default: ...) (default:
    None)``)."""

    def _fill_text(self, text, width, indent):
        """Each paragraph (blank-line separated) wrapped on its own; lines that start with blanks (examples,
        tables) are kept as written."""
        import textwrap

        blocks = []
        for paragraph in text.split("\n\n"):
            if any(line[:1].isspace() for line in paragraph.splitlines()):
                blocks.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                blocks.append(textwrap.fill(" ".join(paragraph.split()), width, initial_indent=indent,
                                            subsequent_indent=indent))
        return "\n\n".join(blocks)

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text.lower() or action.required or default in (None, False, argparse.SUPPRESS)
                or default == [] or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


class CommandParser(argparse.ArgumentParser):
    """A command's parser: a bad command line raises :class:`ConfigError` (one line through the error boundary,
    exit 2) instead of printing the usage; a missing required option is named with its help text."""

    def error(self, message):
        missing = message.partition("the following arguments are required: ")[2]
        if missing:
            helps = {option: action.help for action in self._actions for option in action.option_strings}
            notes = [f"{name}: {helps[name]}" for name in missing.split(", ") if helps.get(name)]
            if notes:
                message += " (" + "; ".join(notes) + ")"
        raise ConfigError(message)


@contextlib.contextmanager
def _stderr_silenced():
    """Point the process's file descriptor 2 at /dev/null (what C++ libraries write there too), then restore it."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (an embedding host): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def quiet_tensorflow() -> None:
    """Import TensorFlow (and find its devices) with its C++ logging off and stderr silenced (module docstring).

    Does nothing when TensorFlow is already imported. Errors (TensorFlow not installed) are raised after stderr
    is restored, so they are reported as usual.
    """
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" in sys.modules:
        return
    with _stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()  # initialises the platforms (the cuInit attempt) while silenced


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
    parser.add_argument(VERBOSE, action="store_true",
                        help="show TensorFlow's own log lines (C++ logging, device set-up); may also follow the "
                             "command name")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text, _) in COMMANDS.items():
        # Each subparser is filled in lazily (in main) so --help stays fast.
        sub.add_parser(name, help=help_text, description=help_text, add_help=False)
    return parser


def build_command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of ``tfaffect NAME`` (imports the command's module, which must not load TensorFlow)."""
    module = _load(name)
    parser = CommandParser(prog=f"tfaffect {name}", description=COMMANDS[name][1], formatter_class=HelpFormatter)
    module.add_cli_arguments(parser)
    parser.add_argument(VERBOSE, action="store_true", help="show TensorFlow's own log lines")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = False
    if VERBOSE in argv[:argv.index("--") if "--" in argv else len(argv)]:
        verbose = True
        argv.remove(VERBOSE)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # handles --help, --version and unknown commands
        parser.print_help()
        return 2
    name = argv[0]
    return run_guarded(f"tfaffect {name}", lambda: _run(name, argv[1:], verbose), argv=argv)


def _run(name: str, argv: list[str], verbose: bool = False) -> int:
    module = _load(name)
    sub = build_command_parser(name)
    args = sub.parse_args(argv)
    args.command = name
    args.verbose = verbose or getattr(args, "verbose", False)
    outputs = {"folder": [], "file": []}
    for attribute, kind in OUTPUTS.get(name, {}).items():
        outputs[kind].append((f"--{attribute.replace('_', '-')}", getattr(args, attribute, None)))
    if name == "train":
        outputs["folder"] += [(option, value) for option in ("--run-dir", "--export-dir")
                              for value in option_values(getattr(args, "overrides", []), option)]
    check_outputs(outputs["folder"], outputs["file"])
    if not args.verbose and name not in WITHOUT_TENSORFLOW:
        quiet_tensorflow()
    try:
        return int(module.cli_main(args) or 0)
    except BrokenPipeError:  # the reader of stdout went away (`tfaffect recipes | head`): not an error
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
