"""Upstream stages (tfaffect.training.stages, resolved by tfaffect.training.runner): one run per
configuration and data, reused after; a recipe finds its stage by name, and nothing trains as a side effect."""

import dataclasses
import logging

import pytest

from tfaffect.errors import MissingResourceError
from tfaffect.training import registry, runner, stages
from tiny_recipe import TinyRecipe


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFAFFECT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_stage_trains_once_and_is_reused_until_its_configuration_changes(cache, caplog):
    stage = stages.RecipeStage(TinyRecipe(epochs=1), "stage_test", "tiny")
    with caplog.at_level(logging.INFO, logger="tfaffect"):
        first = runner.resolve(stage)
    assert first.parent == cache / "stage_test" and first.name.startswith("tiny-")
    assert (first / "metrics.json").is_file()
    written = (first / "metrics.json").stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tfaffect"):
        again = runner.resolve(stage)
    assert again == first and (first / "metrics.json").stat().st_mtime_ns == written  # nothing retrained
    assert any("reusing the finished stage" in r.getMessage() for r in caplog.records)
    other = runner.resolve(dataclasses.replace(stage, recipe=dataclasses.replace(stage.recipe, hidden_units=8)))
    assert other != first and (other / "metrics.json").is_file()


@dataclasses.dataclass(frozen=True)
class WithStage(TinyRecipe):
    """A recipe that starts from an upstream run of TinyRecipe (two epochs of it)."""

    def requires(self):
        return {"upstream": stages.RecipeStage(TinyRecipe(epochs=2, seed=self.seed), "stage_test", "upstream")}

    def build_model(self):
        from tfaffect.models.saving import load_model

        model = super().build_model()
        upstream = load_model(self.stage_dir("upstream") / "model.keras")
        model.set_weights(upstream.get_weights())
        return model


def test_the_runner_trains_a_recipes_stages_first_and_the_recipe_finds_them(cache, tmp_path):
    recipe = WithStage(epochs=1)
    with pytest.raises(MissingResourceError, match="'upstream'.*has not been trained"):
        recipe.stage_dir("upstream")  # a lookup: nothing trains behind the caller's back
    metrics = runner.run(recipe, tmp_path / "run")
    upstream = recipe.stage_dir("upstream")
    assert upstream.parent == cache / "stage_test" and (upstream / "metrics.json").is_file()
    assert (tmp_path / "run" / "metrics.json").is_file() and metrics["run_dir"] == str(tmp_path / "run")


def test_recipes_that_differ_only_in_the_recurrent_part_share_one_cnn_stage(cache):
    """The flagship, its LSTM variant and the Table 14 grid rows train the same frame CNN first: one cached stage
    (each grid row trained its own before); what the CNN reads (here the image size) still separates them."""
    def fingerprint(name, *args):
        return registry.find(name).from_args(["--smoke", *args]).requires()["cnn"].fingerprint()

    flagship = fingerprint("affwildnet")
    assert fingerprint("affwildnet_lstm") == flagship
    assert fingerprint("affwildnet_grid", "--row", "150 units, 1 layer") == flagship
    assert fingerprint("affwildnet", "--sequence-length", "8") == flagship
    assert fingerprint("affwildnet", "--image-size", "48") != flagship
