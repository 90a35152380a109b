"""The data a recipe trains on: prepared shards given with ``--data``, or the embedded SynthAffect default.

``python recipes/<name>.py`` with no ``--data`` generates SynthAffect (cached), prepares its shards
at the recipe's image size (cached, resumable) and trains on them. With ``--data DIR`` the recipe
reads ``DIR``: shards written by ``tfaffect prepare`` (a directory with ``manifest.json``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tfaffect.errors import MissingResourceError

log = logging.getLogger(__name__)

SMOKE_SYNTH = {"num_train_videos": 2, "num_val_videos": 1, "frames_per_video": 40}
"""The tiny SynthAffect a ``--smoke`` run uses (a few seconds to generate)."""


def synthaffect_shards(image_size: int, *, smoke: bool = False, cache_dir: str | os.PathLike | None = None) -> Path:
    """Shards of the embedded SynthAffect dataset at ``image_size`` pixels, generated and prepared on
    first use and cached under ``$TFAFFECT_CACHE`` (default ``~/.cache/tfaffect``)."""
    from tfaffect.data.prepare import prepare
    from tfaffect.data.synth import ensure_synthaffect

    # one worker for the tiny set: starting worker processes costs more than it saves there
    raw = ensure_synthaffect(cache_dir, workers=1 if smoke else 2, **(SMOKE_SYNTH if smoke else {}))
    out = raw.parent / "prepared" / f"{raw.name}-size{int(image_size)}"
    if not (out / "manifest.json").exists():
        log.info("preparing SynthAffect shards at %d px in %s", image_size, out)
        prepare("affwild2", raw, out, size=int(image_size))
    return out


def resolve_data(data: str | None, image_size: int, *, smoke: bool = False) -> tuple[Path, bool]:
    """``(shard directory, synthetic)`` for a recipe's ``data`` field (``None`` = SynthAffect)."""
    if data is None:
        return synthaffect_shards(image_size, smoke=smoke), True
    path = Path(data)
    if not (path / "manifest.json").exists():
        raise MissingResourceError(
            f"{path} has no manifest.json: --data takes a directory written by `tfaffect prepare "
            f"--dataset NAME --root RAW --out DIR --size {image_size}` (or omit --data to use the "
            f"embedded SynthAffect dataset)")
    return path, False
