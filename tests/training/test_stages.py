"""Cached training stages (tfaffect.training.stages): one run per configuration and data, reused after."""

import dataclasses
import logging

import pytest

from tfaffect.training import stages
from tiny_recipe import TinyRecipe


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFAFFECT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_stage_trains_once_and_is_reused_until_its_configuration_changes(cache, caplog):
    recipe = TinyRecipe(epochs=1)
    with caplog.at_level(logging.INFO, logger="tfaffect"):
        first = stages.train_cached(recipe, "stage_test", "tiny")
    assert first.parent == cache / "stage_test" and first.name.startswith("tiny-")
    assert (first / "metrics.json").is_file()
    written = (first / "metrics.json").stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tfaffect"):
        again = stages.train_cached(recipe, "stage_test", "tiny")
    assert again == first and (first / "metrics.json").stat().st_mtime_ns == written  # nothing retrained
    assert any("reusing the finished stage" in r.getMessage() for r in caplog.records)
    other = stages.train_cached(dataclasses.replace(recipe, hidden_units=8), "stage_test", "tiny")
    assert other != first and (other / "metrics.json").is_file()
