"""Every recipe under recipes/ (registry-driven: a new recipe file is tested without editing this file):
parse + validate every table row and build its model (rows that start from trained stages: their stages'
configurations) -> one smoke training run with evaluation of the default row, its stages first."""

import importlib.util
import json
import warnings

import keras
import pytest

from tfaffect.errors import MissingResourceError
from tfaffect.training import registry, runner

RECIPES = list(registry.discover(registry.recipes_dir(None)).values())
ROWS = [(cls, row) for cls in RECIPES for row in cls.rows]  # the default rows also train below
OPTIONAL_EXTRAS = {"opensmile": "audio"}
"""Modules of optional extras (pyproject.toml) a recipe may need: without them its run must stop with the typed
error naming the extra (recipes/kahou_audio.py: opensmile, the ``audio`` extra)."""


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """SynthAffect and its shards go to a temporary cache, shared by the tests of this module."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TFAFFECT_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def test_the_recipes_folder_is_found_and_holds_the_flagship():
    assert "affwildnet" in {cls.recipe_name() for cls in RECIPES}


@pytest.mark.parametrize("cls,row", ROWS, ids=[f"{c.recipe_name()}-{r}" for c, r in ROWS])
def test_every_table_row_validates_and_builds(cls, row):
    recipe = cls.from_args(["--smoke", "--row", row])
    assert recipe.row == row
    for field, value in cls.rows[row].items():
        assert getattr(recipe, field) == value
    if not recipe.trains():  # a row computed from other rows' runs (ANCLaF's -AVG: tests/training/test_anclaf_avg.py)
        assert recipe.requires(), f"{row} trains nothing and requires no stage"
        return
    stages = recipe.requires()
    if stages:
        # A row that starts from trained stages (a CNN stage, a face model, curriculum stages) builds from their
        # weights: training them for every row cost CI ~8 minutes. Its stages' configurations resolve here; the
        # recipe's default row trains and builds in test_every_recipe_trains_one_smoke_run, and the rows'
        # architectures are built in tests/models (every Table 14 size, STAT model, memory size, sequence length).
        assert all(stage.fingerprint() for stage in stages.values())
        return
    keras.backend.clear_session()
    model = recipe.build_model()
    # every Kollias model predicts valence/arousal; Do 2020 models 1, 3, 5 predict expressions only
    assert "va" in model.output or "expression" in model.output


@pytest.mark.parametrize("cls", RECIPES, ids=[c.recipe_name() for c in RECIPES])
def test_every_recipe_trains_one_smoke_run(cls, tmp_path):
    recipe = cls.from_args(["--smoke"])
    keras.backend.clear_session()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            metrics = runner.run(recipe, tmp_path / "run", verbose=0)  # its stages first
        except MissingResourceError as error:
            absent = [m for m in OPTIONAL_EXTRAS if m in str(error) and importlib.util.find_spec(m) is None]
            if not absent:
                raise
            assert f'pip install -e ".[{OPTIONAL_EXTRAS[absent[0]]}]"' in str(error)
            pytest.skip(f"needs the optional {absent[0]} (not installed): stopped with the typed error naming it")
    assert not [str(w.message) for w in caught if "ran out of data" in str(w.message)]  # issue #14 item 9
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert not recipe.trains() or saved["best_epoch"] == 1  # a recipe computed from its stages has no epochs
    evaluation = saved["evaluation"]
    assert evaluation["synthetic"] is True
    assert evaluation["frames"] > 0
    if "ccc_valence" in evaluation:
        assert -1 <= evaluation["ccc_valence"] <= 1
    else:  # expression-only recipes (affwildnet_emotiw): clip accuracy
        assert 0 <= evaluation["accuracy"] <= 1
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    # the smoke run changed epochs etc.: every change from the published values is recorded
    assert "epochs" in config["derived"]["deviations"] or recipe.epochs == cls.__dataclass_fields__["epochs"].default
    assert (tmp_path / "run" / "frames.csv").exists() and (tmp_path / "run" / "plots").is_dir()
    assert metrics["final"]


def test_a_smoke_final_ensemble_averages_its_members_and_two_mlps(tmp_path):
    """MM-Net (Li 2017), here to reuse the stages the smoke run of recipes/mmnet_f_ensemble.py cached above (alone,
    it trains them itself). One smoke run of Table 8 end to end: its memory networks and both MLP stages (each an
    MLP, combined by the runner from its own stages, not a BDLSTM trained by the trainer), then the frame-by-frame
    mean of their per-frame predictions, recomputed here with pandas from the stages' frames.csv."""
    import numpy as np
    import pandas as pd

    from tfaffect import evaluation
    from tfaffect.models.saving import load_model
    from tfaffect.training.stages import stage_dir

    recipe = registry.find("mmnet_f_ensemble").from_args(["--smoke"])
    runner.run(recipe, tmp_path / "run", verbose=0)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    stages = recipe.requires()
    for layers in (1, 2):
        mlp = load_model(stage_dir(stages[f"MLP{layers}"]) / "model.keras")
        assert mlp.name == f"mmnet_mlp{layers}" and len(mlp.layers) == layers + 2  # input, hidden, output
    members = [n for n, s in metrics["evaluation"]["members"].items() if s["chosen"]]
    assert "MLP1" in members and "MLP2" in members and len(members) >= 3
    keys = ["video_id", "frame"]
    tables = [pd.read_csv(stage_dir(stages[n]) / "frames.csv", dtype={"video_id": str}).set_index(keys)
              for n in members]
    expected = sum(t[["valence", "arousal"]] for t in tables) / len(tables)
    got = pd.read_csv(tmp_path / "run" / "frames.csv", dtype={"video_id": str}).set_index(keys)
    np.testing.assert_allclose(got.loc[expected.index, ["valence", "arousal"]], expected, atol=1e-9)
    scores = evaluation.score_va(got.reset_index(), protocol="face")
    assert metrics["evaluation"]["ccc_valence"] == pytest.approx(scores["ccc_valence"])
    assert metrics["evaluation"]["mse_validation"] == pytest.approx((scores["mse_valence"] + scores["mse_arousal"]) / 2)
