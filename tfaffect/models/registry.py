"""Named model builders: ``build_model("affwildnet_vggface_gru")``, ``build_model(name, tiny=True)`` for tests.

Each family module (``tfaffect/models/<family>.py``) registers its own published architectures with
:func:`register_model`; :func:`model_names` and :func:`build_model` first import every family
(:func:`import_families`), so the registry is complete whatever was imported. The registry-driven
tests build each tiny configuration, run it on a small uint8 batch and round-trip it through
``.keras`` serialization. A registered name is a published architecture; variants (landmarks,
cell, units, ...) are keyword overrides, never new names or classes.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import keras
import numpy as np

from tfaffect.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A registered builder: ``builder(**kwargs) -> keras.Model``; ``tiny`` = overrides for a fast, small build."""

    name: str
    builder: Callable[..., keras.Model]
    tiny: Mapping[str, Any]
    description: str


_MODELS: dict[str, ModelEntry] = {}
MODELS: Mapping[str, ModelEntry] = MappingProxyType(_MODELS)
"""Read-only view of the registry, name -> :class:`ModelEntry`, in registration order."""


def register_model(name: str, *, tiny: Mapping[str, Any]):
    """Decorator registering ``builder(**kwargs) -> keras.Model`` under ``name``.

    ``tiny`` holds keyword overrides that make the model small and fast (small image, narrow
    FC/RNN) while keeping every layer type, for tests and smoke runs. The builder's docstring
    (first line) is the description.
    """
    def decorator(builder: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
        if name in _MODELS:
            raise ConfigError(f"model {name!r} is already registered")
        description = (builder.__doc__ or "").strip().split("\n")[0]
        _MODELS[name] = ModelEntry(name, builder, MappingProxyType(dict(tiny)), description)
        return builder
    return decorator


_FAMILIES_IMPORTED = False


def import_families() -> None:
    """Import every module of :mod:`tfaffect.models` (found with pkgutil), so every family has registered.

    Its builders land in the registry and its layers and models with Keras's serialization
    registry, whichever modules the caller happened to import. Idempotent; after the first call a
    flag check.
    """
    global _FAMILIES_IMPORTED
    if _FAMILIES_IMPORTED:
        return
    package = importlib.import_module("tfaffect.models")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    _FAMILIES_IMPORTED = True


def model_names() -> tuple[str, ...]:
    """All registered model names (every family imported first)."""
    import_families()
    return tuple(_MODELS)


def build_model(name: str, *, tiny: bool = False, **overrides) -> keras.Model:
    """Build the registered model ``name``; ``tiny=True`` applies its tiny overrides; ``overrides`` win over both."""
    import_families()
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; registered: {', '.join(_MODELS)}")
    entry = _MODELS[name]
    kwargs = {**(entry.tiny if tiny else {}), **overrides}
    return entry.builder(**kwargs)


def example_inputs(model: keras.Model, batch_size: int = 2, time_steps: int = 3, seed: int = 0) -> dict:
    """Random inputs matching ``model``'s input dict, for smoke runs and tests.

    Unknown (``None``) axes after the batch axis (the time axis of sequence models) get
    ``time_steps``. ``uint8`` inputs are uniform in [0, 255]; float inputs uniform in [0, 1)
    (the range of crop-normalised landmarks).
    """
    rng = np.random.default_rng(seed)
    inputs = {}
    for key, tensor in model.input.items():
        shape = (batch_size,) + tuple(time_steps if dim is None else dim for dim in tensor.shape[1:])
        if tensor.dtype == "uint8":
            inputs[key] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        else:
            inputs[key] = rng.random(shape, dtype=np.float32)
    return inputs
