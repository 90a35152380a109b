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


@dataclasses.dataclass(frozen=True)
class Counted:
    """A stage that counts its runs and needs ``upstream`` stages of its own."""

    label: str
    upstream: tuple = ()
    folder: str = "stage_test"
    action = "run"
    runs: list = dataclasses.field(default_factory=list, compare=False, hash=False)

    def fingerprint(self):
        return self.label.encode()

    def requires(self):
        return {stage.label: stage for stage in self.upstream}

    def finished(self, run_dir):
        return (run_dir / "done").is_file()

    def run(self, run_dir, *, verbose=None):
        self.runs.append(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "done").write_text("")


@dataclasses.dataclass(frozen=True)
class Combined(TinyRecipe):
    """A recipe that trains nothing: two stages sharing one upstream stage (an ensemble's members on one CNN)."""

    shared: object = None

    def requires(self):
        return {"a": Counted("a", (self.shared,)), "b": Counted("b", (self.shared,))}

    def trains(self):
        return False

    def combine_stages(self, run_dir):
        return {"run_dir": str(run_dir)}


def test_a_stage_several_stages_share_is_run_and_logged_once_per_run(cache, tmp_path, caplog):
    shared = Counted("shared")
    with caplog.at_level(logging.INFO, logger="tfaffect"):
        runner.run(Combined(shared=shared), tmp_path / "run")
    assert len(shared.runs) == 1
    assert sum("shared: running stage" in r.getMessage() for r in caplog.records) == 1
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tfaffect"):
        runner.run(Combined(shared=shared), tmp_path / "again")
    assert len(shared.runs) == 1  # finished: reused, and said once, not once per stage that needs it
    assert sum("shared: reusing" in r.getMessage() for r in caplog.records) == 1
