"""The command line of a recipe: one ``--option`` per field, generated from the dataclass.

:func:`argument_parser` builds the parser (type-aware: ``Literal`` fields get choices, tuples take
several values, ``Optional`` ones accept ``none``, booleans get ``--x`` / ``--no-x``); :func:`parse_args`
turns ``argv`` into the resolved recipe (:meth:`~tfaffect.training.recipe.Recipe.configure`: row ->
SynthAffect overlay -> ``--smoke``, explicit options winning) and the run options.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import sys
import typing
from typing import Any, Callable, Literal, Optional

from tfaffect.errors import ConfigError
from tfaffect.training.fields import field_default, jsonable, optional_inner, show, tuple_elements


class _RecipeArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`ConfigError` instead of exiting."""

    def error(self, message):
        raise ConfigError(f"{self.prog}: {message}")


def argument_parser(cls, prog: Optional[str] = None,
                    run_options: Optional[Callable[[Any], None]] = None) -> argparse.ArgumentParser:
    """A parser with one ``--option`` per field (type-aware) plus the run options; ``run_options(group)``
    adds more of them (a command line's own, e.g. where a finished run exports its model)."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    parser = _RecipeArgumentParser(
        prog=prog or cls.recipe_name(), description=doc, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    overlay = _synthetic_overlay(cls)
    fields = parser.add_argument_group(
        f"fields of {cls.__name__} (default: the published value"
        + ("; [SynthAffect: X]: what a run without --data uses" if overlay else "") + "; `_` or `-` both work)")
    hints = cls.field_types()
    for f in dataclasses.fields(cls):
        kwargs = _argparse_kwargs(f.name, hints[f.name], cls.__name__)
        text = f.metadata.get("help", "")
        if f.name == "row" and cls.rows:
            names = list(cls.rows)
            kwargs["metavar"] = "ROW"
            text = f"{text}; choices: {', '.join(repr(name) for name in names)} (default: {names[0]!r})"
        else:
            text = f"{text} (default: {show(field_default(f))})"
        if f.name in overlay:
            text += f" [SynthAffect: {show(overlay[f.name])}]"
        fields.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=argparse.SUPPRESS,
                            help=text.strip().replace("%", "%%"), **kwargs)
    run = parser.add_argument_group("run options")
    run.add_argument("--run-dir", dest="run_dir", default=None, metavar="DIR",
                     help="run directory; an existing one is resumed "
                          "(default: runs/<recipe>/<UTC timestamp>)")
    run.add_argument("--print-config", dest="print_config", action="store_true",
                     help="print the resolved config as JSON and exit")
    if run_options is not None:
        run_options(run)
    return parser


def parse_args(cls, argv: Optional[list[str]] = None, prog: Optional[str] = None,
               run_options: Optional[Callable[[Any], None]] = None):
    """Parse field overrides and run options; return ``(recipe, run_options)`` (``run_options``: see
    :func:`argument_parser`).

    The recipe is ``cls.configure(overrides)``: the row, the SynthAffect overlay and ``--smoke`` fill in
    the fields not given explicitly. Unknown options and bad values raise :class:`ConfigError`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argument_parser(cls, prog, run_options)
    args, extras = parser.parse_known_args(_normalise_options(argv))
    if extras:
        raise ConfigError(_unknown_message(parser.prog, cls, extras))
    fields = {f.name for f in dataclasses.fields(cls)}
    overrides = {k: v for k, v in vars(args).items() if k in fields}
    recipe = cls.configure(overrides)
    return recipe, argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in fields})


def _none_or(convert):
    def parse(text: str):
        return None if text.lower() == "none" else convert(text)
    parse.__name__ = getattr(convert, "__name__", "value")  # argparse names it in error messages
    return parse


def _argparse_kwargs(name: str, hint, owner: str) -> dict[str, Any]:
    inner = optional_inner(hint)
    if inner is not None:
        if tuple_elements(inner) is not None or inner is bool:
            raise TypeError(f"{owner}.{name}: {hint} cannot be given on the command line")
        kwargs = _argparse_kwargs(name, inner, owner)
        kwargs["type"] = _none_or(kwargs["type"])
        kwargs["metavar"] = f"{kwargs.pop('metavar', name.upper())}|none"
        kwargs.pop("choices", None)
        return kwargs
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        return {"type": type(choices[0]), "choices": choices}
    elements = tuple_elements(hint)
    if elements is not None:
        element, length = elements
        if element not in (int, float, str):
            raise TypeError(f"{owner}.{name}: {hint} cannot be given on the command line")
        return {"type": element, "nargs": "*" if length is None else length,
                "metavar": element.__name__.upper()}
    if hint in (int, float, str):
        return {"type": hint, "metavar": hint.__name__.upper()}
    raise TypeError(f"{owner}.{name}: {hint} cannot be given on the command line")


def _synthetic_overlay(cls) -> dict[str, Any]:
    """The field values a run without ``--data`` uses instead of the published ones (the default row's
    :meth:`Recipe.synthetic_overrides`, only those that differ), for ``--help``; ``{}`` where the recipe cannot
    tell without more arguments."""
    try:
        recipe = cls()
        if cls.rows:
            first = next(iter(cls.rows))
            recipe = dataclasses.replace(recipe, row=first, **cls.rows[first])
        overlay = recipe.synthetic_overrides()
    except Exception:  # only the help text depends on it: a recipe that needs arguments shows none
        return {}
    return {name: value for name, value in overlay.items()
            if jsonable(value) != jsonable(getattr(recipe, name, None))}


def _normalise_options(argv: list[str]) -> list[str]:
    """``--lr_schedule=x`` -> ``--lr-schedule=x`` (field names may be typed with underscores)."""
    out = []
    for token in argv:
        if token.startswith("--"):
            option, sep, value = token.partition("=")
            token = option.replace("_", "-") + sep + value
        out.append(token)
    return out


def _unknown_message(prog: str, cls, extras: list[str]) -> str:
    options = [f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(cls)]
    options += ["--run-dir", "--print-config", "--help"]
    parts = []
    for token in extras:
        if token.startswith("-"):
            option = token.partition("=")[0]
            close = difflib.get_close_matches(option, options, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            parts.append(f"unknown option {option}{hint}")
        else:
            parts.append(f"unexpected argument {token!r}")
    return (f"{prog}: " + "; ".join(parts)
            + f". {cls.__name__} has no such field; --help lists the fields.")
