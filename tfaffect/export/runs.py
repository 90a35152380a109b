"""A trainer run directory as an export's source: its model, the metadata an export records about it, what it was
trained on (:func:`training_data`, which :mod:`tfaffect.predict` reads too)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tfaffect._lazy import lazy_module
from tfaffect.errors import ConfigError, DataError, MissingResourceError
from tfaffect.export.signatures import KERAS_FILE
from tfaffect.io import IMAGE_MODEL_FILE, identifier_problem, read_json, safe_filename

# Imported on first use: `tfaffect export --help` loads no Keras (tfaffect._lazy).
keras = lazy_module("keras")
_saving = lazy_module("tfaffect.models.saving")

def load_run(run_dir: str | os.PathLike, weights: str = "final") -> tuple[keras.Model, dict[str, Any], str]:
    """A trainer run directory -> ``(model, metadata for export_model, default export name)``.

    The export name is the run's recipe name made a safe file name (:func:`tfaffect.io.safe_filename`:
    it comes from data, ``config.json``).

    ``weights="final"`` uses ``RUN/model.keras`` as it is; ``"best"`` loads the best epoch's
    checkpoint (``metrics.json["best_checkpoint"]``) into that architecture. The metadata holds the
    recipe (name, class, fields), its training data (:func:`training_data`) and metrics.json's
    validation metrics.

    A run whose model.keras reads cached per-frame features (Kahou's IRNN, ANCLaF-S / -SA) writes beside it
    ``RUN/image_model.keras`` (:data:`~tfaffect.io.IMAGE_MODEL_FILE`), the same model from face
    crops: the export serves that one, with the weights of every layer it shares by name with the trained model
    (final or best) copied in from it.
    """
    run_dir = Path(run_dir)
    model_path = run_dir / KERAS_FILE
    if not model_path.is_file():
        raise MissingResourceError(f"{run_dir}: no {KERAS_FILE} (is the run finished? re-run its training "
                                   "command with --run-dir to finish it), or pass --model PATH.keras")
    config = read_json(run_dir / "config.json", "is RUN a tfaffect run directory?")
    metrics = read_json(run_dir / "metrics.json", "is RUN a tfaffect run directory?")
    source = KERAS_FILE
    model = _saving.load_model(model_path)
    if weights == "best":
        checkpoint = metrics.get("best_checkpoint")
        if checkpoint is not None and not _inside_run(checkpoint):
            raise DataError(f"best_checkpoint {str(checkpoint)[:80]!r} is not a file inside the run directory "
                            "(names from data are never paths elsewhere)", run_dir / "metrics.json")
        if not checkpoint or not (run_dir / checkpoint).is_file():
            raise MissingResourceError(f"{run_dir}: no best checkpoint (metrics.json best_checkpoint = "
                                       f"{checkpoint!r}); pass --weights final")
        try:
            model.load_weights(run_dir / checkpoint)
        except ValueError as exc:  # Keras: the checkpoint's layers do not match the model's
            raise ConfigError(f"{run_dir / checkpoint}: does not fit {model_path} ({exc})") from exc
        except Exception as exc:  # h5py/OS errors for a damaged file
            raise DataError(f"cannot read the checkpoint ({type(exc).__name__}: {str(exc)[:200]})",
                            run_dir / checkpoint) from None
        source = checkpoint
    elif weights != "final":
        raise ConfigError(f"weights must be 'final' or 'best', got {weights!r}")
    if (run_dir / IMAGE_MODEL_FILE).is_file():
        model = _image_model(run_dir / IMAGE_MODEL_FILE, model)
    fields = config.get("fields") if isinstance(config.get("fields"), dict) else {}
    metadata = {
        "recipe": {"name": config.get("recipe"), "class": config.get("class"), "fields": fields},
        "training_data": training_data(fields, metrics),
        "metrics": {key: metrics.get(key) for key in ("final", "monitor", "monitor_mode", "best_epoch",
                                                      "best_value", "epochs")},
        "weights": {"run_dir": str(run_dir), "file": source},
    }
    if (run_dir / IMAGE_MODEL_FILE).is_file():
        metadata["weights"]["from_frames"] = (f"{IMAGE_MODEL_FILE} (the model from face crops), the weights of the "
                                              f"layers it shares with {source} taken from {source}")
    recipe = config.get("recipe")
    name = recipe if isinstance(recipe, str) and recipe else run_dir.resolve().name
    return model, metadata, safe_filename(name)


def _image_model(path: Path, trained: keras.Model) -> keras.Model:
    """The model in ``path`` with the weights of the layers it shares by name with ``trained`` copied from it."""
    image_model = _saving.load_model(path)
    names = {layer.name for layer in image_model.layers if layer.weights}
    shared = [layer for layer in trained.layers if layer.weights and layer.name in names]
    if not shared:
        raise DataError(f"shares no layer with weights with {KERAS_FILE} of the run", path)
    for layer in shared:
        try:
            image_model.get_layer(layer.name).set_weights(layer.get_weights())
        except ValueError as exc:  # Keras: shapes differ
            raise DataError(f"layer {layer.name!r} does not fit {KERAS_FILE}'s ({exc})", path) from None
    return image_model


SYNTHAFFECT = "SynthAffect (synthetic)"
"""How metadata names the embedded generated dataset (the name ``tfaffect report`` uses too)."""


def training_data(fields: dict, metrics: dict) -> dict[str, Any]:
    """What a run was trained on, from its ``config.json`` fields and ``metrics.json``: ``{"name", "synthetic",
    "location", "source"}``.

    ``metrics.json["evaluation"]`` (written by the recipe's evaluation) says whether the data were SynthAffect
    (``synthetic``) and where they were (``data``); the recipe's ``data`` field is what the command line gave
    (``None``: the recipe's default dataset). ``synthetic`` is ``None`` where neither tells.
    """
    evaluation = metrics.get("evaluation") if isinstance(metrics.get("evaluation"), dict) else {}
    given = fields.get("data")
    location = evaluation.get("data") if isinstance(evaluation.get("data"), str) else given
    synthetic = evaluation.get("synthetic") if isinstance(evaluation.get("synthetic"), bool) else None
    if synthetic:
        name = SYNTHAFFECT
    elif synthetic is False:
        name = f"the dataset at {location}" if location else "a real dataset (not named in the run)"
    elif given:
        name = f"the dataset at {given}"
    else:
        name = "the recipe's default dataset (not recorded in metrics.json; tfaffect's recipes default to SynthAffect)"
    return {"name": name, "synthetic": synthetic, "location": location,
            "source": "run directory: config.json fields.data and metrics.json evaluation.synthetic / .data"}


def _inside_run(relative) -> bool:
    """Whether ``relative`` (read from a run's metrics.json) names a file below the run directory."""
    if not isinstance(relative, str) or not relative:
        return False
    parts = Path(relative).parts
    return not Path(relative).is_absolute() and all(identifier_problem(part) is None for part in parts)


