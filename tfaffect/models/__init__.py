"""Keras 3 models (``keras`` / ``keras.ops`` only, so they also run under ``KERAS_BACKEND=jax``).

Every model takes a dict ``{"image": uint8 RGB, ["landmarks": float32]}`` and returns
``{"va": ...}`` (index 0 valence, 1 arousal); preprocessing happens inside the model. Build
models by name through :func:`build_model` (see :mod:`tfaffect.models.registry`; each family module
registers its own published architectures) or directly from their classes; variants are constructor
arguments. The imports below are the public names, not the registry's list of families.
"""

from tfaffect.models.affwild import AffWildCNN, AffWildNet
from tfaffect.models.backbones import BACKBONES, build_backbone
from tfaffect.models.cnn_m import CNNM
from tfaffect.models.stat_lstm import FaceFeatureModel, StatLSTMNet, table1_model
from tfaffect.models.registry import (MODELS, ModelEntry, build_model, example_inputs, import_families, model_names,
                                     register_model)

__all__ = [
    "AffWildCNN", "AffWildNet", "BACKBONES", "CNNM", "FaceFeatureModel", "MODELS", "ModelEntry", "StatLSTMNet",
    "build_backbone", "build_model", "example_inputs", "import_families", "model_names", "register_model",
    "table1_model",
]
