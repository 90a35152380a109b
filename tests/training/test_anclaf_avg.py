"""The -AVG rows of Aspandi 2021 Tables 1-2 (``--row "ANCLaF-S-AVG"`` / ``"ANCLaF-SA-AVG"``): the mean of the
n = 2..32 rows' scores, every n a cached stage shared with the curriculum, nothing trained of its own; the folds'
mean names the published AVG row, which ``tfaffect report`` puts beside it. Hand numbers, no training."""

import json
from pathlib import Path

import pytest

from tfaffect.report import report
from tfaffect.training import runner
from tfaffect.training.anclaf import AnclafRecipe, mean_scores
from tfaffect.training.registry import find

S_RECIPE = find("anclaf_s_afew_va")
SA_RECIPE = find("anclaf_sa_afew_va")

# hand numbers: one evaluation per n (RMSE on [-10, 10], Pearson, ICC), chosen so that the means are exact
ROWS = {2: (2.0, 3.0, 0.1, 0.2, 0.05, 0.1), 4: (2.5, 2.0, 0.3, 0.4, 0.15, 0.2), 8: (1.5, 2.5, 0.5, 0.3, 0.25, 0.3),
        16: (3.0, 1.5, 0.2, 0.6, 0.35, 0.0), 32: (1.0, 1.0, 0.4, 0.5, 0.2, 0.4)}
KEYS = ("rmse_valence", "rmse_arousal", "pcc_valence", "pcc_arousal", "icc_valence", "icc_arousal")
MEAN = {"rmse_valence": 2.0, "rmse_arousal": 2.0, "pcc_valence": 0.3, "pcc_arousal": 0.4, "icc_valence": 0.2,
        "icc_arousal": 0.2}  # (2 + 2.5 + 1.5 + 3 + 1) / 5 = 2, ... by hand


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    monkeypatch.setattr(AnclafRecipe, "data_dir", lambda self: (tmp_path / "data", False))


def evaluation(values, **extra):
    scores = dict(zip(KEYS, values))
    return {"split": "fold0", "data": "/data/afew_va", "synthetic": False, "frames": 10, **scores, **extra}


def test_mean_scores_by_hand():
    got = mean_scores([evaluation(values) for values in ROWS.values()])
    assert got == pytest.approx(MEAN, abs=1e-12)
    assert "ccc_valence" not in got  # only the scores every evaluation has
    assert mean_scores([evaluation(ROWS[2], ccc_valence=0.5), evaluation(ROWS[4])]).keys() == set(KEYS)


@pytest.mark.parametrize("cls, kind", [(S_RECIPE, "s"), (SA_RECIPE, "sa")])
def test_avg_row_requires_every_n_as_the_curriculum_caches_it(no_data, cls, kind):
    recipe = cls.configure({"data": "/data/afew_va", "row": f"ANCLaF-{kind.upper()}-AVG", "fold": 0})
    assert recipe.average and not recipe.trains()
    stages = recipe.requires()
    assert {name: stage.label for name, stage in stages.items()} == {
        f"n{n}": f"fold0_{kind}{n}" for n in (2, 4, 8, 16, 32)}
    # the stage of n = 8 is the one the curriculum trains before n = 16 (same configuration: one cache entry)
    sixteen = stages["n16"].recipe
    previous = sixteen.requires()["previous"].recipe
    if kind == "sa":  # SA-16 starts from S-16, whose own previous stage is S-8
        previous = previous.requires()["previous"].recipe
        assert sixteen.requires()["previous"].recipe.attention is False
    expected = stages["n8"].recipe if kind == "s" else cls.configure(
        {"data": "/data/afew_va", "row": "ANCLaF-SA-8", "fold": 0}).requires()["previous"].recipe
    assert previous.to_dict() == expected.to_dict()
    all_folds = cls.configure({"data": "/data/afew_va", "row": f"ANCLaF-{kind.upper()}-AVG"})
    assert all_folds.requires() == {} and [f.fold for f in all_folds.folds()] == [0, 1, 2, 3, 4]
    assert all_folds.published_keys() == (("aspandi2021", "Table 1", f"ANCLaF-{kind.upper()}-AVG"),)


def test_avg_run_combines_the_stages_then_the_folds_and_the_report_shows_it(no_data, tmp_path, monkeypatch):
    stage_dirs = {}
    for n, values in ROWS.items():
        stage_dirs[f"n{n}"] = tmp_path / "cache" / f"s{n}"
        stage_dirs[f"n{n}"].mkdir(parents=True)
        (stage_dirs[f"n{n}"] / "metrics.json").write_text(json.dumps({"evaluation": evaluation(values)}))
    trained = []
    monkeypatch.setattr(runner, "resolve", lambda stage, **kwargs: trained.append(stage.label))
    monkeypatch.setattr(runner, "train", lambda *args, **kwargs: pytest.fail("an -AVG row trains nothing"))
    monkeypatch.setattr(S_RECIPE, "stage_dir", lambda self, name: stage_dirs[name])

    recipe = S_RECIPE.configure({"data": "/data/afew_va", "row": "ANCLaF-S-AVG"})
    result = runner.run(recipe, tmp_path / "run")
    assert sorted(trained) == sorted(f"fold{k}_s{n}" for k in range(5) for n in ROWS)  # each fold's stages
    fold = json.loads((tmp_path / "run" / "fold0" / "metrics.json").read_text())["evaluation"]
    assert {k: fold[k] for k in KEYS} == pytest.approx(MEAN, abs=1e-12)
    assert fold["rows"]["ANCLaF-S-16"]["pcc_arousal"] == 0.6
    assert {k: result["evaluation"][k] for k in KEYS} == pytest.approx(MEAN, abs=1e-12)  # 5 equal folds
    assert result["evaluation"]["published_row"] == ["aspandi2021", "Table 1", "ANCLaF-S-AVG"]
    text = report("aspandi2021", ["Table 1"], [tmp_path / "run"])
    line = next(row for row in text.splitlines() if "ANCLaF-S-AVG" in row and "ours" in row)
    assert "2.000" in line and "0.300" in line and str(Path(tmp_path / "run")) in line
