"""Paralinguistic audio features: the 1,582 INTERSPEECH 2010 functionals (IS10) of a clip's audio, by ``opensmile``.

Kahou et al. 2015, section 3: the audio model's input. ``opensmile`` (the optional ``audio`` extra; audEERING
research licence, non-commercial) carries its C library and configs in the wheel and runs offline.

Measured here (opensmile 2.6.0, TensorFlow 2.21, 2026-12-02): a process that imported TensorFlow *before*
opensmile crashes (segmentation fault) on its first ``process_signal``; importing opensmile first works. So
:func:`is10_functionals_many` extracts in a spawned worker process (which imports numpy and opensmile only) when
TensorFlow is already loaded, and :func:`is10_functionals` refuses to run in such a process with a typed error.
"""

from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from tfaffect.errors import MissingResourceError

IS10_SIZE = 1582  # section 3: the INTERSPEECH 2010 paralinguistic challenge set


def _smile():
    try:
        import opensmile
    except ImportError:
        raise MissingResourceError("audio features need the opensmile package (audEERING research licence, "
                                   "non-commercial): pip install 'tfaffect[audio]' or pip install opensmile") from None
    return opensmile.Smile(feature_set=opensmile.FeatureSet.IS10, feature_level=opensmile.FeatureLevel.Functionals)


def is10_functionals(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """``float32 [1582]``: the IS10 functionals of one mono ``signal`` (in this process; see the module docstring)."""
    if "tensorflow" in sys.modules and "opensmile" not in sys.modules:
        raise MissingResourceError("opensmile crashes in a process that imported TensorFlow first: use "
                                   "is10_functionals_many (a worker process) or import opensmile before TensorFlow")
    return _extract([np.asarray(signal, np.float32)], sample_rate)[0]


def _extract(signals: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
    smile = _smile()
    return np.stack([np.asarray(smile.process_signal(np.asarray(x, np.float32), sample_rate), np.float32).reshape(-1)
                     for x in signals])


def is10_functionals_many(signals: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
    """``float32 [N, 1582]`` of ``N`` mono signals; in a spawned worker process when TensorFlow is loaded here."""
    if "tensorflow" not in sys.modules or "opensmile" in sys.modules:
        return _extract(signals, sample_rate)
    import multiprocessing

    _smile_importable()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_extract, ([np.asarray(x, np.float32) for x in signals], sample_rate))


def _smile_importable() -> None:
    import importlib.util

    if importlib.util.find_spec("opensmile") is None:
        _smile()  # raises the typed error


__all__ = ["IS10_SIZE", "is10_functionals", "is10_functionals_many"]
