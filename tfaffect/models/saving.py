"""Load a saved tfaffect model: a ``.keras`` file, every tfaffect class registered, typed errors naming the file.

Loading never depends on which modules the caller happened to import: every model family module is
imported first (:func:`tfaffect.models.registry.import_families`), so each family's layers and models are
registered with Keras's serialization before the file is read. Run directories and export folders are
resolved to their ``model.keras`` by the callers that accept them (:mod:`tfaffect.predict`,
:func:`tfaffect.export.load_run`).

Importing it loads Keras (as every module of :mod:`tfaffect.models`): modules that must stay light (a
command's ``--help``) import it where they load a model.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import keras

from tfaffect.errors import DataError, MissingResourceError
from tfaffect.models.backbones import LOADING_SAVED
from tfaffect.models.registry import import_families


def load_model(path: str | os.PathLike):
    """Load a ``.keras`` model with tfaffect's classes registered (not compiled); typed errors naming the file.

    :class:`MissingResourceError` when there is no such file; :class:`DataError` when Keras cannot read
    it (not a ``.keras`` archive, damaged, a layer class it does not know) or when it holds a ``Lambda``
    layer, which Keras refuses to deserialize in safe mode (arbitrary Python code; tfaffect's models
    have none).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(f"{path}: no such model file; pass --model PATH.keras (e.g. a run "
                                   "directory's model.keras) or --run-dir RUN")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):  # Keras would say "File not found"
        raise DataError("not a .keras archive (a .keras file is a zip archive written by model.save); pass a "
                        "model saved with model.save(PATH.keras)", path)
    import_families()
    loading = LOADING_SAVED.set(True)  # the file overwrites every weight: no He re-draw of the VGG kernels
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:  # Keras raises ValueError/TypeError/OSError/zipfile errors for files it cannot read
        text = str(exc)
        if "Lambda" in text and "safe_mode" in text:
            raise DataError("the model holds a Lambda layer (arbitrary Python code), which Keras does not load "
                            "in safe mode; tfaffect models have none: save the model without Lambda layers",
                            path) from None
        raise DataError(f"cannot load this Keras model ({type(exc).__name__}: {text[:300]}); pass a model "
                        f"saved with model.save(PATH.keras)", path) from None
    finally:
        LOADING_SAVED.reset(loading)
