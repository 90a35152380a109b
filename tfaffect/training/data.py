"""The data a recipe trains on: prepared shards given with ``--data``, or the embedded SynthAffect default.

``python recipes/<name>.py`` with no ``--data`` generates SynthAffect (cached), prepares its shards
at the recipe's image size (cached, resumable) and trains on them. With ``--data DIR`` the recipe
reads ``DIR``: shards written by ``tfaffect prepare`` (a directory with ``manifest.json``).

The transfer recipes (Kollias 2019, section 5) ask for "SynthAffect in layout X, prepared at size S"
(``resolve_data(None, S, layout=X)``): SynthAffect rewritten in the AFEW-VA, RECOLA or AFEW layout
(:mod:`tfaffect.data.synth_layouts`), read back by that dataset's own importer and prepared like the
real dataset (:func:`synthaffect_layout_shards`).

Several processes may resolve the same SynthAffect data at once (the workers of a multi-worker run
do). Generation and preparation run under :func:`~tfaffect.data.lock.folder_lock` on the cache
folder: one process generates and prepares, the others wait and then reuse its result. Data that
is already prepared is returned without taking the lock.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tfaffect.data.lock import folder_lock
from tfaffect.errors import ConfigError, MissingResourceError

log = logging.getLogger(__name__)

LOCK_NAME = "synthaffect"
"""The lock (:func:`~tfaffect.data.lock.folder_lock`) in the cache folder under which SynthAffect is
generated and prepared: one lock for the whole cache, so a preparation also waits for the generation
of the SynthAffect set it reads."""

SMOKE_SYNTH = {"num_train_videos": 2, "num_val_videos": 1, "frames_per_video": 40}
"""The tiny SynthAffect a ``--smoke`` run uses (a few seconds to generate)."""
SMOKE_LAYOUT_SYNTH = {"num_train_videos": 4, "num_val_videos": 2, "frames_per_video": 30}
"""The tiny SynthAffect behind a ``--smoke`` run in a transfer layout: six identities, so that AFEW-VA's
five subject-independent folds each get one (about a second to generate)."""
TEST_VIDEOS = 8
"""SynthAffect's labelled test split, for the recipes that score a test set apart from the validation set they
select on (``test_split`` below; e.g. Li 2017 Table 9): as many unseen people as the validation split
(:data:`~tfaffect.data.synth.DEFAULT_VAL_VIDEOS`); a ``--smoke`` run gets one test video."""


def synth_params(smoke: bool, seed: int, smoke_params: dict, test_split: bool = False) -> dict:
    """:func:`~tfaffect.data.synth.ensure_synthaffect`'s arguments: ``smoke_params`` for a ``--smoke`` run,
    the generator's ``seed`` when it is not the default 0 (another seed: other synthetic people) and, with
    ``test_split``, a labelled test split (:data:`TEST_VIDEOS` people; one in a smoke run)."""
    return {**(smoke_params if smoke else {}), **({"seed": int(seed)} if seed else {}),
            **({"num_test_videos": 1 if smoke else TEST_VIDEOS} if test_split else {})}


TEST_LAYOUTS = ("afew",)
"""The SynthAffect layouts written with a labelled test split (:data:`TEST_VIDEOS` people): AFEW's ``Test/`` clips,
which the Kahou 2015 submissions retrained on Train + Val are scored on (Table 2). The others keep two splits."""


def layout_synth_params(layout: str, smoke: bool, seed: int) -> dict:
    """:func:`synth_params` of the SynthAffect folder written in ``layout``: the test split for :data:`TEST_LAYOUTS`.
    Its training and validation videos are those of the folder without it (the test people are generated after them,
    tests/data/test_synth.py), so the layout's Train and Val clips do not change with it."""
    return synth_params(smoke, seed, SMOKE_LAYOUT_SYNTH, test_split=layout in TEST_LAYOUTS)


def synthaffect_shards(image_size: int, *, smoke: bool = False, cache_dir: str | os.PathLike | None = None,
                       seed: int = 0, test_split: bool = False) -> Path:
    """Shards of the embedded SynthAffect dataset (generator ``seed``; a labelled test split with ``test_split``)
    at ``image_size`` pixels, generated and prepared on first use and cached under ``$TFAFFECT_CACHE`` (default
    ``~/.cache/tfaffect``)."""
    from tfaffect.data.prepare import prepare
    from tfaffect.data.synth import cache_path, ensure_synthaffect

    params = synth_params(smoke, seed, SMOKE_SYNTH, test_split)
    raw = cache_path(cache_dir, **params)
    out = raw.parent / "prepared" / f"{raw.name}-size{int(image_size)}"
    if (out / "manifest.json").exists():  # written last: the shards are complete
        return out
    with folder_lock(raw.parent, LOCK_NAME, what=f"SynthAffect shards at {int(image_size)} px"):
        # one worker for the tiny set: starting worker processes costs more than it saves there
        raw = ensure_synthaffect(cache_dir, workers=1 if smoke else 2, **params)
        if not (out / "manifest.json").exists():
            log.info("preparing SynthAffect shards at %d px in %s", image_size, out)
            prepare("affwild2", raw, out, size=int(image_size))
    return out


def synthaffect_layout_root(layout: str, *, smoke: bool = False, cache_dir: str | os.PathLike | None = None,
                            seed: int = 0) -> Path:
    """The raw folder of SynthAffect written in ``layout`` (what the dataset's importer reads, e.g. the AFEW clips
    and their audio), generated on first use and cached beside the SynthAffect cache."""
    from tfaffect.data.synth import cache_path, ensure_synthaffect
    from tfaffect.data.synth_layouts import ensure_layout, layout_path, read_layout_map

    params = layout_synth_params(layout, smoke, seed)
    raw = cache_path(cache_dir, **params)
    if read_layout_map(layout_path(raw, layout)) is not None:  # written last: complete
        return layout_path(raw, layout)
    with folder_lock(raw.parent, LOCK_NAME, what=f"SynthAffect in the {layout} layout"):
        raw = ensure_synthaffect(cache_dir, workers=1 if smoke else 2, **params)
        return ensure_layout(raw, layout)


def synthaffect_layout_shards(layout: str, image_size: int, *, smoke: bool = False,
                              cache_dir: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """Shards of SynthAffect written in ``layout`` (``"afew_va"``, ``"recola"``, ``"afew"``) and prepared
    at ``image_size`` pixels through that dataset's importer, cached beside the SynthAffect cache.

    * ``afew_va``: every clip, with the importer's ``subjects=`` map (clip -> SynthAffect identity),
      so the splits are the five subject-independent folds ``fold0`` .. ``fold4``; the faces are
      aligned from the clips' own 68 landmarks, as for real AFEW-VA.
    * ``recola``, ``afew``: splits ``train`` and ``validation``; the importer's records get
      SynthAffect's exact landmarks (:func:`~tfaffect.data.synth_layouts.with_known_landmarks`) so
      the faces are aligned from them instead of by MTCNN (see that module for why).

    Frames without a face stay without one (:class:`~tfaffect.data.synth_layouts.NoDetector`).
    """
    from tfaffect.data.faces import FacePipeline
    from tfaffect.data.formats import get_format
    from tfaffect.data.prepare import prepare_records
    from tfaffect.data.synth import cache_path, ensure_synthaffect
    from tfaffect.data.synth_layouts import (SUBJECTS_FILE, NoDetector, ensure_layout, layout_path,
                                             with_known_landmarks)

    params = layout_synth_params(layout, smoke, seed)
    raw = cache_path(cache_dir, **params)
    out = raw.parent / "prepared" / f"{layout_path(raw, layout).name}-size{int(image_size)}"
    if (out / "manifest.json").exists():  # written last: the shards are complete
        return out
    with folder_lock(raw.parent, LOCK_NAME, what=f"SynthAffect in the {layout} layout at {int(image_size)} px"):
        raw = ensure_synthaffect(cache_dir, workers=1 if smoke else 2, **params)
        root = ensure_layout(raw, layout)
        if not (out / "manifest.json").exists():
            log.info("preparing SynthAffect (%s layout) shards at %d px in %s", layout, image_size, out)
            importer = get_format(layout)
            if layout == "afew_va":
                records = list(importer.iter_records(root, subjects=root / SUBJECTS_FILE))
            elif layout == "sewa":  # SEWA DB's 5 folds, subject-independent through the layout's subjects file
                records = with_known_landmarks(list(importer.iter_records(
                    root, subjects=root / SUBJECTS_FILE, videos=root / "videos")), root, raw)
            else:
                records = with_known_landmarks(list(importer.iter_records(root)), root, raw)
            faces = FacePipeline(int(image_size), detector=NoDetector())
            prepare_records(records, out, dataset=layout, size=int(image_size), faces=faces)
    return out


def resolve_data(data: str | None, image_size: int, *, smoke: bool = False,
                 layout: str | None = None, synth_seed: int = 0, test_split: bool = False) -> tuple[Path, bool]:
    """``(shard directory, synthetic)`` for a recipe's ``data`` field (``None`` = SynthAffect from the
    generator seed ``synth_seed``, with a labelled test split when ``test_split``, in ``layout`` when given: see
    :func:`synthaffect_layout_shards`)."""
    if data is None:
        if layout is not None:
            if test_split and layout not in TEST_LAYOUTS:
                raise ConfigError(f"SynthAffect in the {layout} layout has no test split (the Aff-Wild2 and "
                                  f"{', '.join(TEST_LAYOUTS)} layouts have one)")
            return synthaffect_layout_shards(layout, image_size, smoke=smoke, seed=synth_seed), True
        return synthaffect_shards(image_size, smoke=smoke, seed=synth_seed, test_split=test_split), True
    path = Path(data)
    if not (path / "manifest.json").exists():
        raise MissingResourceError(
            f"{path} has no manifest.json: --data takes a directory written by `tfaffect prepare "
            f"--dataset NAME --root RAW --out DIR --size {image_size}` (or omit --data to use the "
            f"embedded SynthAffect dataset)")
    return path, False
