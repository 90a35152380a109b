"""TFLite conversion of an export's per-frame part.

The ``per_frame`` signature (for sequence models the first piece, model inputs -> features entering the
first recurrent layer; for frame models the whole model) is converted with
``tf.lite.TFLiteConverter.from_saved_model``; its inputs are crops already at the model's input size
(resizing stays with the caller there). Its output on a random batch is compared with TensorFlow's and
the difference recorded. Where conversion fails the reason goes to ``metadata.json["tflite"]`` and the
export continues.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tfaffect._lazy import lazy_module
from tfaffect.export.streaming import random_inputs

tf = lazy_module("tensorflow")  # imported on first use (tfaffect._lazy)

log = logging.getLogger(__name__)

TFLITE_FILE = "per_frame.tflite"
TFLITE_CHECK_BATCH = 2
"""Random crops on which the TFLite output is compared with TensorFlow's (recorded, not asserted)."""


def convert_tflite(module, saved_model: Path, path: Path) -> dict[str, Any]:
    """Convert the ``per_frame`` signature of the SavedModel ``saved_model`` to TFLite at ``path``;
    return what metadata.json records. ``module``: the export's
    :class:`~tfaffect.export.signatures.ExportModule` (its structure and ``per_frame`` function).

    Converted from the saved signature (``TFLiteConverter.from_saved_model``), where the variables
    become constants: from a concrete function, Keras 3 variables stay uninitialised resource
    variables in the TFLite model (NaN outputs, seen with TF 2.21). Never raises for a conversion
    problem: ``{"file": None, "error": ...}`` says what went wrong. The comparison with TensorFlow
    needs ``tf.lite.Interpreter`` (deprecated in favour of LiteRT); where that fails the file is kept
    and ``check_error`` says why.
    """
    structure = module._structure
    if structure.pieces is None:
        return {"file": None, "error": f"no per-frame part: {structure.not_streamable or 'step unavailable'}"}
    try:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=["per_frame"])
        path.write_bytes(converter.convert())
    except Exception as exc:  # conversion is best effort: record why and carry on (module docstring)
        log.warning("TFLite conversion of the per-frame part failed: %s: %s", type(exc).__name__, exc)
        path.unlink(missing_ok=True)
        return {"file": None, "error": f"{type(exc).__name__}: {exc}"}
    inputs = random_inputs(structure, TFLITE_CHECK_BATCH, None, seed=1)
    reference = module.per_frame(*inputs)
    record = {"file": TFLITE_FILE, "signature": "per_frame",
              "part": ("the per-frame vectors the causal windows are formed from" if structure.windowed is not None
                       else "the per-frame features the sliding windows are formed from" if structure.delayed
                       else "features entering the first recurrent layer" if structure.sequence
                       else "the whole frame model"),
              "inputs": {"image": f"uint8 [N, {structure.image_size[0]}, {structure.image_size[1]}, 3] RGB crops "
                                  "already at the model's input size (no resize inside)"},
              "outputs": {key: f"float32 {list(value.shape[1:])} per crop" for key, value in reference.items()},
              "check_batch": TFLITE_CHECK_BATCH}
    if structure.landmarks:
        record["inputs"]["landmarks"] = "float32 [N, 68, 2] in units of the model's input size"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("per_frame")
        lite = runner(**dict(zip(["image", "landmarks"], inputs)))  # the runner resizes its inputs to the batch
        record["max_abs_diff_vs_tensorflow"] = max(float(np.max(np.abs(lite[key] - reference[key].numpy())))
                                                   for key in reference)
    except Exception as exc:  # the check is best effort too: the converted file stays
        log.warning("could not run the TFLite model to check it: %s: %s", type(exc).__name__, exc)
        record.update(max_abs_diff_vs_tensorflow=None, check_error=f"{type(exc).__name__}: {exc}")
    return record
