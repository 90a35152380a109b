"""Typed recipe fields: :func:`hparam` (a default and its citation) and the checks of field values.

A field's type hint is one of ``int``, ``float``, ``str``, ``bool``, a ``Literal``, ``Optional[...]`` of
those, or a homogeneous ``tuple[...]``. :func:`matches` checks a value against its hint, :func:`coerce`
turns JSON and Python spellings into the hinted type (lists -> tuples, ints -> floats).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, Literal, Optional


SOURCES = ("paper", "released code", "chosen (paper silent)")
"""Where a field's published (default) value comes from, as deviations are labelled (DESIGN.md rule 3)."""

_RELEASED = re.compile(r"released|original code|FORMATS\.md")
_CHOSEN = re.compile(r"not fixed|not given|not said|does not (?:fix|say|give)|\bchosen\b|base default|paper is silent")
_CITED = re.compile(r"\b(?:Table|section|eq\.|Fig\.)")


def hparam(default: Any, help: str, *, source: Optional[str] = None) -> Any:
    """A dataclass field with a default and the help text shown by ``--help``.

    Put the citation in ``help`` (e.g. ``"Kollias 2019, section 5.1: batch size 80"``), or say that
    the paper does not fix the value and why it was chosen. ``source`` (one of :data:`SOURCES`) says where
    the default comes from; when not given it is read from ``help`` (:func:`value_source`).
    """
    if source is not None and source not in SOURCES:
        raise ValueError(f"hparam source {source!r}: choose one of {', '.join(SOURCES)}")
    return dataclasses.field(default=default, metadata={"help": help, "source": source})


def value_source(f: dataclasses.Field) -> str:
    """Where the default of field ``f`` comes from: its ``source``, else read from its help text: the released
    code where the text names it (or FORMATS.md, which documents it), chosen where the text says the paper
    does not fix the value or cites no table, section, equation or figure, else the paper."""
    source = f.metadata.get("source")
    if source:
        return source
    text = f.metadata.get("help", "")
    if _RELEASED.search(text):
        return "released code"
    if _CHOSEN.search(text) or not _CITED.search(text):
        return "chosen (paper silent)"
    return "paper"


def optional_inner(hint) -> Any:
    """``X`` for ``Optional[X]``, else ``None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0]
    return None


def tuple_elements(hint) -> Optional[tuple[Any, Optional[int]]]:
    """``(element type, length or None for variable)`` for a homogeneous tuple hint."""
    if typing.get_origin(hint) is not tuple:
        return None
    args = typing.get_args(hint)
    if len(args) == 2 and args[1] is Ellipsis:
        return args[0], None
    if args and all(a == args[0] for a in args):
        return args[0], len(args)
    return None


def matches(value, hint) -> bool:
    inner = optional_inner(hint)
    if inner is not None:
        return value is None or matches(value, inner)
    if typing.get_origin(hint) is Literal:
        return value in typing.get_args(hint)
    elements = tuple_elements(hint)
    if elements is not None:
        element, length = elements
        return (isinstance(value, tuple) and (length is None or len(value) == length)
                and all(matches(v, element) for v in value))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def coerce(value, hint):
    """Lists -> tuples and ints -> floats where the hint asks for them (JSON and Python callers)."""
    inner = optional_inner(hint)
    if inner is not None:
        return value if value is None else coerce(value, inner)
    elements = tuple_elements(hint)
    if elements is not None and isinstance(value, (list, tuple)):
        return tuple(coerce(v, elements[0]) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def type_name(hint) -> str:
    inner = optional_inner(hint)
    if inner is not None:
        return f"{type_name(inner)} or None"
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    elements = tuple_elements(hint)
    if elements is not None:
        return f"a tuple of {type_name(elements[0])}" + (f" (length {elements[1]})" if elements[1] else "")
    return getattr(hint, "__name__", str(hint))


def field_default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def jsonable(value):
    return [jsonable(v) for v in value] if isinstance(value, tuple) else value


def show(value) -> str:
    """A field value as the command line and the logs write it."""
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value) if value else "(empty)"
    return "none" if value is None else str(value)
