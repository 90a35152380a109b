"""The one error boundary of every ``tfaffect`` subcommand and recipe entry point.

:func:`run_guarded` runs a command and turns what escapes it into one line on stderr and an exit status:

=======  =====================================================================================
status   meaning
=======  =====================================================================================
0        success
1        bad input data or a missing resource (:class:`~tfaffect.errors.DataError`,
         :class:`~tfaffect.errors.MissingResourceError`): the line names the file and the line or
         frame, and says what to do; also a Python package that is not installed
         (``ModuleNotFoundError``: the line names it)
2        bad command line or configuration (:class:`~tfaffect.errors.ConfigError`; argparse's
         usage errors exit 2 as well)
70       a bug in tfaffect (any other exception): the line says so and where the full traceback was
         written (``$TFAFFECT_LOG_DIR``, default ``<temp dir>/tfaffect-logs``); ``EX_SOFTWARE`` of
         ``sysexits.h``
130      interrupted (Ctrl-C)
=======  =====================================================================================

Output paths (``--out``, ``--run-dir``) are checked before any work (:func:`tfaffect.io.check_output_dir`):
an existing file where a folder is expected, or a folder that cannot be written, is a ConfigError at once
instead of a traceback after the work.

Layer: errors/io (imports nothing else from tfaffect), so recipes and the CLI share it.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable, Iterable, Sequence

from tfaffect.errors import ConfigError, TfaffectError
from tfaffect.io import check_output_dir, check_output_file

EXIT_DATA = 1
EXIT_CONFIG = 2
EXIT_BUG = 70  # EX_SOFTWARE (sysexits.h): internal software error
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
LOG_DIR_VAR = "TFAFFECT_LOG_DIR"
MAX_MESSAGE = 600
"""Longest message printed (some library messages run to pages); the file and line come first. Chosen."""


def exit_status(exc: BaseException) -> int:
    """The exit status :func:`run_guarded` gives for ``exc`` (table in the module docstring)."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, ConfigError):
        return EXIT_CONFIG
    if isinstance(exc, TfaffectError):
        return EXIT_DATA
    return EXIT_BUG


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` with all whitespace runs (newlines included) collapsed to one blank, cut at ``limit``."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


def format_error(prog: str, exc: TfaffectError) -> str:
    """The one line printed for a tfaffect error: ``PROG: error: FILE, line N: WHAT; what to do``."""
    message = one_line(exc)
    hint = getattr(exc, "hint", "")
    if hint and hint.split(" (")[0].lower() not in message.lower():  # not when the message already says it
        message = f"{message} (what to do: {hint})"
    return f"{prog}: error: {message}"


def log_dir() -> Path:
    """Where tracebacks of unexpected exceptions go: ``$TFAFFECT_LOG_DIR`` or ``<temp dir>/tfaffect-logs``."""
    return Path(os.environ.get(LOG_DIR_VAR) or Path(tempfile.gettempdir()) / "tfaffect-logs")


def write_traceback(prog: str, exc: BaseException, argv: Sequence[str] | None = None) -> Path | None:
    """Write ``exc``'s full traceback (with the command line and versions) to a new file under
    :func:`log_dir`; return its path, or ``None`` when it could not be written."""
    from tfaffect import __version__

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", prog) or "tfaffect"
    text = (f"{prog}: unexpected {type(exc).__name__} (a bug in tfaffect)\n"
            f"command line: {' '.join(sys.argv if argv is None else [prog, *argv])}\n"
            f"tfaffect {__version__}, Python {platform.python_version()}, {platform.platform()}\n\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}-{stamp}-{os.getpid()}.txt"
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
        return path
    except OSError:
        return None


def report_bug(prog: str, exc: BaseException, argv: Sequence[str] | None = None) -> None:
    """Print the line for an unexpected exception: that it is a bug, and where its traceback is."""
    path = write_traceback(prog, exc, argv)
    what = one_line(f"{type(exc).__name__}: {exc}", 300)
    if path is None:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        where = "the traceback is above (the log folder could not be written)"
    else:
        where = f"full traceback in {path}"
    print(f"{prog}: internal error (a bug in tfaffect, please report it with the traceback file): {what}; "
          f"{where}", file=sys.stderr)


def check_outputs(dirs: Iterable[tuple[str, object]] = (), files: Iterable[tuple[str, object]] = ()) -> None:
    """ConfigError unless every ``(option, path)`` in ``dirs`` can be an output folder and every one in
    ``files`` an output file (``None`` paths are skipped: a default the command checks itself)."""
    for option, path in dirs:
        if path is not None:
            check_output_dir(os.fspath(path), option)
    for option, path in files:
        if path is not None:
            check_output_file(os.fspath(path), option)


def run_guarded(prog: str, main: Callable[[], int | None], *, output_dirs: Iterable[tuple[str, object]] = (),
                output_files: Iterable[tuple[str, object]] = (), argv: Sequence[str] | None = None) -> int:
    """Run ``main()`` inside the boundary; return the exit status (module docstring).

    ``output_dirs`` / ``output_files``: ``(option, path)`` pairs checked before ``main`` runs. ``argv``
    only goes into a bug's traceback file. ``SystemExit`` (argparse, ``--help``) passes through.
    """
    try:
        check_outputs(output_dirs, output_files)
        return int(main() or 0)
    except TfaffectError as exc:
        print(format_error(prog, exc), file=sys.stderr)
        return exit_status(exc)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ModuleNotFoundError as exc:  # an optional dependency (or tfaffect's own install) is missing
        path = write_traceback(prog, exc, argv)
        print(f"{prog}: error: a Python package is missing: {one_line(exc, 200)}; install it (pip install "
              f"{(exc.name or 'PACKAGE').split('.')[0]}) or reinstall tfaffect with its extras"
              + (f"; full traceback in {path}" if path else ""), file=sys.stderr)
        return EXIT_DATA
    except Exception as exc:  # the boundary: anything else is a bug, reported with its traceback file
        report_bug(prog, exc, argv)
        return EXIT_BUG


def option_values(argv: Sequence[str], *names: str) -> list[str]:
    """The values given to the options ``names`` in ``argv`` (``--opt VALUE`` and ``--opt=VALUE``; ``_`` and
    ``-`` alike after the leading dashes), for checking output paths before a parser that runs later."""
    wanted = {name.lstrip("-").replace("_", "-") for name in names}
    values = []
    argv = list(argv)
    for k, arg in enumerate(argv):
        if arg == "--":
            break
        if not arg.startswith("--"):
            continue
        key, sep, value = arg[2:].partition("=")
        if key.replace("_", "-") not in wanted:
            continue
        if sep:
            values.append(value)
        elif k + 1 < len(argv):
            values.append(argv[k + 1])
    return values


def run_recipe(recipe_cls, argv: Sequence[str] | None, run_cli: Callable[..., int]) -> int:
    """Entry point of a recipe file (:func:`tfaffect.training.runner.main`): ``run_cli(recipe_cls, argv)``
    inside the boundary, ``--run-dir`` checked first."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = recipe_cls.recipe_name()
    return run_guarded(prog, lambda: run_cli(recipe_cls, argv),
                       output_dirs=[("--run-dir", value) for value in option_values(argv, "--run-dir")], argv=argv)


__all__ = ["EXIT_DATA", "EXIT_CONFIG", "EXIT_BUG", "EXIT_INTERRUPTED", "LOG_DIR_VAR", "exit_status", "one_line",
           "format_error", "log_dir", "write_traceback", "report_bug", "check_outputs", "run_guarded",
           "option_values", "run_recipe"]
