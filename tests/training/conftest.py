"""Fixtures of the training tests: the SynthAffect subset the learning tests share."""

import pytest

from tfaffect.data.prepare import prepare
from tfaffect.data.synth import ensure_synthaffect

LEARNING_SUBSET = {"num_train_videos": 12, "num_val_videos": 4, "frames_per_video": 150, "size": 48}
"""12 training and 4 validation people (disjoint identities), 150 frames each, stored at 48 px."""


@pytest.fixture(scope="session")
def learning_data(tmp_path_factory):
    """``(cache folder, prepared data)``: :data:`LEARNING_SUBSET` generated once per session, prepared at 32 px."""
    root = tmp_path_factory.mktemp("learning")
    raw = ensure_synthaffect(root / "cache", workers=1, progress=False, **LEARNING_SUBSET)
    prepare("affwild2", raw, root / "prepared", size=32)
    return root / "cache", root / "prepared"


@pytest.fixture
def learning_subset(learning_data, monkeypatch, tmp_path):
    """``(folder for this test's runs, prepared data)``, with the runs' stages cached beside the subset."""
    cache, data = learning_data
    monkeypatch.setenv("TFAFFECT_CACHE", str(cache))
    return tmp_path, data
