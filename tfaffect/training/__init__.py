"""Training: the :class:`Recipe` base (one frozen dataclass per published result), the generic
Keras trainer (:func:`train`), the runner (:func:`run`: a recipe's stages, folds and training; :func:`main`,
a recipe file's entry point), and the recipe registry behind ``tfaffect recipes`` / ``tfaffect train``.

The names below are imported on first use (PEP 562), so that importing a submodule that does not need
Keras (``tfaffect.training.registry`` and ``run`` build the ``--help`` of ``tfaffect recipes`` and
``tfaffect train``) does not load TensorFlow.
"""

import importlib

_EXPORTS = {"LinearWarmup": "tfaffect.training.schedules", "Recipe": "tfaffect.training.recipe",
            "hparam": "tfaffect.training.fields", "train": "tfaffect.training.trainer",
            "run": "tfaffect.training.runner", "main": "tfaffect.training.runner"}

__all__ = ["LinearWarmup", "Recipe", "hparam", "main", "run", "train"]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
