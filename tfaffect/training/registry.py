"""The recipe registry: find the recipe files and their :class:`Recipe` classes (``tfaffect recipes``).

Recipes live in the repository's ``recipes/`` folder, one file per published result. The folder is
``$TFAFFECT_RECIPES`` if set, else the copy an installed wheel carries (``tfaffect/recipes/``, the
same files: ``pyproject.toml`` maps the repository's ``recipes/`` folder there), else ``recipes/`` beside
the ``tfaffect`` package (a source checkout, where ``python recipes/NAME.py`` runs them);
``--recipes-dir`` overrides all. Every ``*.py`` file not starting with ``_`` is imported (with its
folder on ``sys.path``, as ``python recipes/NAME.py`` would have it) and the concrete :class:`Recipe`
subclasses defined in it are registered under :meth:`Recipe.recipe_name` (the class's ``name``,
else the file stem). Files starting with ``_`` may hold helpers shared by recipes.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import os
import re
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import tfaffect
from tfaffect.errors import ConfigError

if TYPE_CHECKING:  # the module imports Keras; loaded where recipes are (not for `--help`)
    from tfaffect.training.recipe import Recipe

ENV_VAR = "TFAFFECT_RECIPES"
TABLE_WIDTH = 100
"""Columns ``tfaffect recipes`` fits its table into (wider terminals get the same table). Chosen: a common
terminal width that leaves the runtimes readable."""


def packaged_recipes_dir() -> Path:
    """Where an installed wheel keeps the recipes: ``<site-packages>/tfaffect/recipes``."""
    return Path(tfaffect.__file__).resolve().parent / "recipes"


def checkout_recipes_dir() -> Path:
    """The repository's ``recipes/`` folder beside the ``tfaffect`` package of a source checkout."""
    return Path(tfaffect.__file__).resolve().parents[1] / "recipes"


def recipes_dir(override: str | os.PathLike | None = None) -> Path:
    """The recipes folder: ``override``, else ``$TFAFFECT_RECIPES``, else the installed package's
    ``tfaffect/recipes`` where it exists, else the checkout's ``<repo>/recipes``."""
    if override is not None:
        return Path(override)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    packaged = packaged_recipes_dir()
    return packaged if packaged.is_dir() else checkout_recipes_dir()


@contextlib.contextmanager
def _on_sys_path(folder: Path):
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


def load_recipe_file(path: str | os.PathLike) -> list[type[Recipe]]:
    """Import one recipe file; return the concrete Recipe subclasses it defines (in file order).

    Raises :class:`ConfigError` naming the file if it does not import.
    """
    from tfaffect.training.recipe import Recipe

    path = Path(path).resolve()
    module_name = f"tfaffect_recipes.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and typing.get_type_hints look the module up
    try:
        with _on_sys_path(path.parent):
            spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ConfigError(f"{path}: importing the recipe failed: {type(exc).__name__}: {exc}") from exc
    return [obj for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, Recipe) and obj.__module__ == module_name
            and not inspect.isabstract(obj)]


def discover(directory: str | os.PathLike | None = None) -> dict[str, type[Recipe]]:
    """Name -> Recipe class for every recipe in ``directory`` (see :func:`recipes_dir`).

    An absent folder raises :class:`ConfigError` (what to pass instead); an empty one gives ``{}``.
    Two recipes with the same name raise :class:`ConfigError`.
    """
    folder = recipes_dir(directory)
    if not folder.is_dir():
        where = folder if directory is not None or os.environ.get(ENV_VAR) else \
            f"{folder} (nor {packaged_recipes_dir()}, where an installed wheel keeps them)"
        raise ConfigError(f"no recipes folder at {where}: pass --recipes-dir DIR or set ${ENV_VAR}")
    found: dict[str, type[Recipe]] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for cls in load_recipe_file(path):
            name = cls.recipe_name()
            if name in found:
                raise ConfigError(f"{path}: recipe name {name!r} is also used by "
                                  f"{found[name].source_file()}; set a distinct `name` class attribute")
            found[name] = cls
    return found


def find(name: str, directory: str | os.PathLike | None = None) -> type[Recipe]:
    """The recipe called ``name``, or the single recipe in a file when ``name`` is a ``.py`` path."""
    if name.endswith(".py"):
        if not Path(name).is_file():
            raise ConfigError(f"{name}: no such recipe file")
        classes = load_recipe_file(name)
        if len(classes) != 1:
            raise ConfigError(f"{name}: defines {len(classes)} recipes "
                              f"({', '.join(c.recipe_name() for c in classes)}); give one by name")
        return classes[0]
    found = discover(directory)
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise ConfigError(f"unknown recipe {name!r} in {recipes_dir(directory)} (known: {known})")
    return found[name]


def command(cls: type[Recipe]) -> str:
    """The command that runs ``cls``: ``python recipes/NAME.py`` (relative to the current folder) when its file
    is below the current folder, else ``tfaffect train NAME`` (e.g. a recipe of an installed wheel)."""
    path = cls.source_file()
    if path is not None:
        with contextlib.suppress(ValueError):
            return f"python {path.relative_to(Path.cwd().resolve()).as_posix()}"
    return f"tfaffect train {cls.recipe_name()}"


def short_paper(paper: str) -> str:
    """``"Kollias et al. 2019, IJCV (Aff-Wild)"`` -> ``"Kollias et al. 2019"``: the text up to the first year,
    else before the first comma."""
    match = re.match(r"\s*(.*?\b(?:19|20)\d\d)\b", paper)
    return (match.group(1) if match else paper.split(",")[0]).strip() or "?"


def format_table(recipes: dict[str, type[Recipe]], width: int = TABLE_WIDTH) -> str:
    """Name, paper, table/row and expected runtime, one recipe per entry (sorted by name), wrapped to fit
    ``width`` columns; then how to run one."""
    header = ("NAME", "PAPER", "TABLE/ROW", "RUNTIME")
    rows = [(name, short_paper(cls.paper or "?"), cls.table_text() or "?", cls.runtime or "?")
            for name, cls in sorted(recipes.items())]
    fixed = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(2)]
    rest = max(20, width - sum(fixed) - 2 * (len(header) - 1))
    widths = fixed + [max(12, rest * 2 // 5), 0]
    widths[3] = max(12, rest - widths[2])
    lines = []
    for number, row in enumerate([header, *rows]):
        if number > 1:
            lines.append("")  # entries span several lines: a blank line between them
        cells = [textwrap.wrap(cell, w, break_long_words=True) or [""] for cell, w in zip(row, widths)]
        for k in range(max(len(cell) for cell in cells)):
            parts = [(cell[k] if k < len(cell) else "").ljust(w) for cell, w in zip(cells, widths)]
            lines.append("  ".join(parts).rstrip())
    examples = sorted(recipes)
    run = ["run one: tfaffect train NAME [--smoke] [FIELD overrides]; `tfaffect train NAME --help` lists its "
           "fields"]
    if examples:
        run.append(f"e.g. {command(recipes[examples[0]])} --smoke")
    return "\n".join(lines + [""] + [wrapped for text in run for wrapped in textwrap.wrap(text, width)])


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipes-dir", default=None, metavar="DIR",
                        help=f"folder of recipe files (default: ${ENV_VAR}, else the recipes an installed "
                             f"tfaffect carries, else recipes/ in the source checkout)")


def cli_main(args: argparse.Namespace) -> int:
    """Print the recipe table; 1 if the folder is missing or a recipe does not import."""
    folder = recipes_dir(args.recipes_dir)
    try:
        found = discover(folder)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not found:
        print(f"no recipes in {folder} (a recipe is a *.py file defining a Recipe subclass)")
        return 0
    print(format_table(found))
    return 0

