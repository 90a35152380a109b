"""The five-fold summary an ANCLaF run prints shows its table's columns: ICC for AFEW-VA (Aspandi 2021, Table 1),
CCC for SEWA (Table 2). Hand numbers, no training."""

import pytest

from tfaffect.training.registry import find

SCORES = {"rmse_valence": 0.1, "rmse_arousal": 0.2, "pcc_valence": 0.3, "pcc_arousal": 0.4, "icc_valence": 0.5,
          "icc_arousal": 0.6, "ccc_valence": 0.7, "ccc_arousal": 0.8}


@pytest.mark.parametrize("name, shown, hidden", [("anclaf_afew_va", "icc_valence", "ccc_valence"),
                                                 ("anclaf_sewa", "ccc_valence", "icc_valence"),
                                                 ("anclaf_s_sewa", "ccc_valence", "icc_valence")])
def test_the_fold_table_shows_the_papers_columns(name, shown, hidden):
    recipe = find(name).configure({})
    metrics = {"run_dir": "runs/x", "evaluation": {**SCORES, "synthetic": True},
               "folds": [{"fold": k, **SCORES} for k in range(5)]}
    header = next(line for line in recipe.summary(metrics).splitlines() if line.startswith("fold "))
    assert shown in header and hidden not in header
