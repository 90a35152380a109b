"""Named model builders: ``build_model("affwildnet_vggface_gru")``, ``build_model(name, tiny=True)`` for tests.

Register a builder with :func:`register_model`; the registry-driven tests then build its tiny
configuration, run it on a small uint8 batch and round-trip it through ``.keras`` serialization.
A registered name is a published architecture; variants (landmarks, cell, units, ...) are
keyword overrides, never new names or classes.
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
from tfaffect.models.affwild import AffWildCNN, AffWildNet
from tfaffect.models.cnn_m import CNNM
from tfaffect.models.stat_lstm import table1_model


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
    """All registered model names."""
    return tuple(_MODELS)


def build_model(name: str, *, tiny: bool = False, **overrides) -> keras.Model:
    """Build the registered model ``name``; ``tiny=True`` applies its tiny overrides; ``overrides`` win over both."""
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


# Tiny configurations: 32x32 is the smallest input keras.applications accepts; narrow FC / RNN.
_TINY_CNN = {"image_size": 32, "fc_units": (16, 8)}
_TINY_RNN = {"image_size": 32, "fc_units": (16,), "units": 8}


@register_model("cnn_m", tiny={"image_size": 32, "fc_units": 16})
def cnn_m(**kwargs) -> keras.Model:
    """Aff-Wild challenge baseline CNN-M (Kollias 2019, Table 4; results Table 5)."""
    return CNNM(**kwargs)


@register_model("vgg16_cnn", tiny=_TINY_CNN)
def vgg16_cnn(**kwargs) -> keras.Model:
    """VGG-16 conv part + FC 4096 -> 2048 -> 2 (Kollias 2019, Table 7; Table 9 row VGG-16)."""
    return AffWildCNN(backbone="vgg16", **kwargs)


@register_model("vggface_cnn", tiny=_TINY_CNN)
def vggface_cnn(**kwargs) -> keras.Model:
    """VGG-Face conv part + FC 4096 -> 2048 -> 2 (Kollias 2019, Table 7; Tables 9-10 row VGG Face)."""
    return AffWildCNN(backbone="vggface", **kwargs)


@register_model("resnet50_cnn", tiny=_TINY_CNN)
def resnet50_cnn(**kwargs) -> keras.Model:
    """ResNet-50 conv part + FC 1500 -> 256 -> 2 (Kollias 2019, section 4.2.1.1; Table 9 row ResNet-50)."""
    return AffWildCNN(backbone="resnet50", **kwargs)


@register_model("affwildnet_vggface_gru", tiny=_TINY_RNN)
def affwildnet_vggface_gru(**kwargs) -> keras.Model:
    """AffWildNet: VGG-Face conv -> FC 4096 -> 2x GRU 128 -> FC 2 (Kollias 2019, Table 8; Tables 12-14)."""
    return AffWildNet(backbone="vggface", cell="gru", **kwargs)


@register_model("affwildnet_vggface_lstm", tiny=_TINY_RNN)
def affwildnet_vggface_lstm(**kwargs) -> keras.Model:
    """CNN-LSTM: VGG-Face conv -> FC 4096 -> 2x peephole LSTM 128 -> FC 2 (Kollias 2019, Table 12 row CNN-LSTM)."""
    return AffWildNet(backbone="vggface", cell="lstm", **kwargs)


@register_model("affwildnet_resnet50_gru", tiny=_TINY_RNN)
def affwildnet_resnet50_gru(**kwargs) -> keras.Model:
    """AffWildNet on ResNet-50: conv -> FC 1500 -> 2x GRU 128 -> FC 2 (Kollias 2019, Table 8, ResNet-50 variant)."""
    return AffWildNet(backbone="resnet50", cell="gru", **kwargs)


# Do 2020 (STAT + LSTM), Table I. Tiny: smallest input, narrow features / LSTM / heads, windows of 3.
_TINY_STAT = {"image_size": 32, "feature_units": 16, "lstm_units": 8, "class_units": (8, 8),
              "regression_units": (8, 8), "window": 3}


@register_model("stat_lstm_model1", tiny=_TINY_STAT)
def stat_lstm_model1(**kwargs) -> keras.Model:
    """Emotion Image: ResNet-50 face features -> expression (Do 2020, Table I model 1; Table II row 1)."""
    return table1_model(1, **kwargs)


@register_model("stat_lstm_model2", tiny=_TINY_STAT)
def stat_lstm_model2(**kwargs) -> keras.Model:
    """Emotion VA Image: ResNet-50 face features -> expression + valence/arousal (Do 2020, Table I model 2)."""
    return table1_model(2, **kwargs)


@register_model("stat_lstm_model3", tiny=_TINY_STAT)
def stat_lstm_model3(**kwargs) -> keras.Model:
    """Emotion Frame: face features + STAT over 16 frames -> expression (Do 2020, Table I model 3)."""
    return table1_model(3, **kwargs)


@register_model("stat_lstm_model4", tiny=_TINY_STAT)
def stat_lstm_model4(**kwargs) -> keras.Model:
    """Emotion VA Frame: face features + STAT over 16 frames -> expression + valence/arousal (Do 2020, Table I, 4)."""
    return table1_model(4, **kwargs)


@register_model("stat_lstm_model5", tiny=_TINY_STAT)
def stat_lstm_model5(**kwargs) -> keras.Model:
    """Emotion Frame with LSTM: + STAT + BiLSTM 2x1024 over 16 frames -> expression (Do 2020, Table I model 5)."""
    return table1_model(5, **kwargs)


@register_model("stat_lstm_model6", tiny=_TINY_STAT)
def stat_lstm_model6(**kwargs) -> keras.Model:
    """Emotion VA Frame with LSTM: + STAT + BiLSTM 2x1024 -> expression + valence/arousal (Do 2020, Table I model 6)."""
    return table1_model(6, **kwargs)
