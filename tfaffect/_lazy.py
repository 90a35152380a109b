"""Modules imported on first use, so that importing a tfaffect module (to build a command's ``--help``)
does not load TensorFlow.

``tf = lazy_module("tensorflow")`` binds a stand-in module; the first attribute read (``tf.function``,
``keras.layers.RNN``) imports the real module and hands out its attribute. Until then nothing is
imported and the name is not in ``sys.modules``. Annotations that name such a module (``keras.Model``)
are never evaluated under ``from __future__ import annotations``.

Layer: errors/io (imports nothing from tfaffect).
"""

from __future__ import annotations

import importlib
import types


class _LazyModule(types.ModuleType):
    """A module stand-in that imports ``target`` on the first attribute read."""

    def __init__(self, target: str):
        super().__init__(target)
        self.__dict__["_lazy_target"] = target

    def __getattr__(self, name: str):
        module = importlib.import_module(self.__dict__["_lazy_target"])
        return getattr(module, name)

    def __repr__(self) -> str:
        return f"<lazily imported module {self.__dict__['_lazy_target']!r}>"


def lazy_module(name: str) -> types.ModuleType:
    """A stand-in for the module ``name`` that imports it when one of its attributes is first read."""
    return _LazyModule(name)


__all__ = ["lazy_module"]
