"""The recipe registry: find the recipe files and their :class:`Recipe` classes (``tfaffect recipes``).

Recipes live in the repository's ``recipes/`` folder, one file per published result. The folder is
``$TFAFFECT_RECIPES`` if set, else ``recipes/`` beside the ``tfaffect`` package (a source checkout);
``--recipes-dir`` overrides both. Every ``*.py`` file not starting with ``_`` is imported (with its
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
import sys
from pathlib import Path

import tfaffect
from tfaffect.errors import ConfigError
from tfaffect.training.recipe import Recipe

ENV_VAR = "TFAFFECT_RECIPES"


def recipes_dir(override: str | os.PathLike | None = None) -> Path:
    """The recipes folder: ``override``, else ``$TFAFFECT_RECIPES``, else ``<repo>/recipes``."""
    if override is not None:
        return Path(override)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return Path(tfaffect.__file__).resolve().parents[1] / "recipes"


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
        raise ConfigError(f"no recipes folder at {folder}: pass --recipes-dir DIR or set ${ENV_VAR}")
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
    """The command that runs ``cls`` as a script: ``python recipes/NAME.py`` (relative to the
    current folder when the file is below it)."""
    path = cls.source_file()
    if path is None:
        return f"tfaffect train {cls.recipe_name()}"
    with contextlib.suppress(ValueError):
        path = path.relative_to(Path.cwd().resolve())
    return f"python {path.as_posix()}"


def format_table(recipes: dict[str, type[Recipe]]) -> str:
    """Aligned table: name, paper, table/row, command (one recipe per line, sorted by name)."""
    header = ("NAME", "PAPER", "TABLE/ROW", "COMMAND")
    rows = [header] + [(name, cls.paper or "?", cls.table or "?", command(cls))
                       for name, cls in sorted(recipes.items())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip()
                     for row in rows)


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipes-dir", default=None, metavar="DIR",
                        help=f"folder of recipe files (default: ${ENV_VAR}, else recipes/ in the "
                             f"source checkout)")


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

