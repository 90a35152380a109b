"""Dataset importers: one module per dataset, each exposing

    iter_records(root, split=None, **options) -> Iterator[VideoRecord]

``split`` is ``"train"``, ``"validation"``, ``"test"`` or ``None`` for all. Look a format up by name with
:func:`get_format`; the module is imported only then.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tfaffect.data.formats.base import VideoRecord

FORMATS = {
    "affwild": "tfaffect.data.formats.affwild",
    "affwild2": "tfaffect.data.formats.affwild2",
    "afew_va": "tfaffect.data.formats.afew_va",
    "afew": "tfaffect.data.formats.afew",
    "sewa": "tfaffect.data.formats.sewa",
    "recola": "tfaffect.data.formats.recola",
}


def get_format(name: str) -> ModuleType:
    """The importer module for dataset ``name`` (one of :data:`FORMATS`)."""
    try:
        return importlib.import_module(FORMATS[name])
    except KeyError:
        raise KeyError(f"unknown dataset format {name!r}; known: {', '.join(sorted(FORMATS))}") from None


__all__ = ["FORMATS", "VideoRecord", "get_format"]
