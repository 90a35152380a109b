"""Training: the :class:`Recipe` base (one frozen dataclass per published result), the generic
Keras trainer (:func:`train`), and the recipe registry behind ``tfaffect recipes`` / ``tfaffect train``.

The names below are imported on first use (PEP 562), so that importing a submodule that does not need
Keras (``tfaffect.training.registry`` and ``run`` build the ``--help`` of ``tfaffect recipes`` and
``tfaffect train``) does not load TensorFlow.
"""

import importlib

_EXPORTS = {"LinearWarmup": "tfaffect.training.recipe", "Recipe": "tfaffect.training.recipe",
            "hparam": "tfaffect.training.recipe", "train": "tfaffect.training.trainer"}

__all__ = ["LinearWarmup", "Recipe", "hparam", "train"]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
