"""Writing a conversion's result: a Keras file and ``metadata.json`` beside it, each atomically."""

from __future__ import annotations

import logging
import os

from tfaffect.io import atomic_path, write_json_atomic

logger = logging.getLogger(__name__)


def save_converted(out: str | os.PathLike, model, filename: str, metadata: dict) -> str:
    """Save ``model`` (``.keras`` whole model or ``.weights.h5`` weights) and ``metadata.json`` atomically into ``out``.

    Returns the path of the Keras file.
    """
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    final = os.path.join(out, filename)
    # written as <out>/<filename>.tmp-<host>-<pid>/<filename>: keeps the suffix Keras dispatches on, while
    # no result glob (*.weights.h5, *.keras) matches the temporary folder; orphans of killed runs are removed
    with atomic_path(final) as tmp:
        if filename.endswith(".weights.h5"):
            model.save_weights(tmp)
        else:
            model.save(tmp)
    write_json_atomic(os.path.join(out, "metadata.json"), metadata)
    logger.info("wrote %s and metadata.json", final)
    return final


__all__ = ["save_converted"]
