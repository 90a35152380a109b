"""``tfaffect report``: the published rows with ours beside them, from run folders made here in tmp_path."""

import json

from tfaffect import report

DO_COLUMNS = ["row", "source", "accuracy", "f1_macro", "expression_score", "ccc_arousal", "ccc_valence", "va_score",
              "run"]
"""Do 2020, Table II's columns in the paper's order (Acc., F1, Expr. Score, Aro., Val., VA Score)."""


def _run(root, name, evaluation):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"final": {}, "evaluation": evaluation}))
    return folder


def _stat_evaluation(row, **metrics):
    return {"published_row": ["do2020", "Table II", row], "synthetic": True, "data": "synth", "frames": 100,
            **metrics}


def test_stat_lstm_columns_in_the_papers_order_with_ours_beside_the_published_row(tmp_path):
    folder = _run(tmp_path, "model4", _stat_evaluation(
        "4", accuracy=0.25, f1_macro=0.3, expression_score=0.284, ccc_arousal=0.1, ccc_valence=0.2,
        va_score=0.15, ccc_mean=0.15, mse_valence=0.5))
    frame = report.table_frame("do2020", "Table II", report.collect_runs([tmp_path]))
    # the paper's columns first, in its order; a metric only the run has (its MSE) after them
    assert list(frame.columns) == DO_COLUMNS[:-1] + ["mse_valence", "run"]
    text = report.report("do2020", ["Table II"], [tmp_path])
    lines = text.splitlines()
    assert ("| row | source | accuracy | f1_macro | expression_score | ccc_arousal | ccc_valence | va_score | "
            "mse_valence | run |") in lines
    assert "| 4 | published (Aff-Wild2 validation) | 0.479 | 0.507 | 0.492 | 0.564 | 0.504 | 0.534 |  |  |" in lines
    assert (f"| 4 | ours, SynthAffect (synthetic) | 0.250 | 0.300 | 0.284 | 0.100 | 0.200 | 0.150 | 0.500 | "
            f"{folder} |") in lines
    # expression-only rows print the expression columns and leave the VA cells empty
    assert "| 1 | published (Aff-Wild2 validation) | 0.408 | 0.417 | 0.409 |  |  |  |  |  |" in lines
    assert "*synthetic*" in text


def test_expression_only_run_and_fusion_row(tmp_path):
    _run(tmp_path, "model5", _stat_evaluation("5", accuracy=0.5, f1_macro=0.25, expression_score=0.3325))
    _run(tmp_path, "fusion", _stat_evaluation("Fusion", accuracy=0.1, f1_macro=0.2, expression_score=0.167,
                                              ccc_arousal=0.3, ccc_valence=0.4, va_score=0.35))
    runs = report.collect_runs([tmp_path])
    assert {r["row"] for r in runs} == {"5", "Fusion"}
    lines = report.report("do2020", None, [tmp_path]).splitlines()
    ours = [line for line in lines if "ours" in line]
    assert ours[0].startswith("| 5 | ours, SynthAffect (synthetic) | 0.500 | 0.250 | 0.333 |  |  |  | ")
    assert ours[1].startswith("| Fusion | ours, SynthAffect (synthetic) | 0.100 | 0.200 | 0.167 | 0.300 | 0.400 "
                              "| 0.350 | ")


def test_kollias_tables_keep_their_columns(tmp_path):
    _run(tmp_path, "affwildnet", {"published_row": ["kollias2019", "Table 12", "best CNN-GRU"], "synthetic": False,
                                  "data": "shards", "frames": 10, "ccc_valence": 0.5, "ccc_arousal": 0.4,
                                  "mse_valence": 0.1, "mse_arousal": 0.2, "ccc_mean": 0.45})
    frame = report.table_frame("kollias2019", "Table 12", report.collect_runs([tmp_path]))
    assert list(frame.columns) == ["row", "source", "ccc_valence", "ccc_arousal", "mse_valence", "mse_arousal", "run"]
    ours = frame[frame["source"] == "ours (shards)"].iloc[0]
    assert (ours["ccc_valence"], ours["mse_arousal"]) == (0.5, 0.2)


def test_runs_without_a_published_row_or_with_broken_metrics_are_skipped(tmp_path):
    _run(tmp_path, "plain", {"frames": 3})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.json").write_text("{not json")
    assert report.collect_runs([tmp_path]) == []


def test_one_evaluation_can_fill_several_published_tables(tmp_path):
    """AFEW-VA cross-validation: one mean over the folds is Table 16's Pearson CC and Table 17's CCC."""
    rows = [["kollias2019", "Table 16", "Fine-tuned AffWildNet"], ["kollias2019", "Table 17", "Fine-tuned AffWildNet"]]
    _run(tmp_path, "afew_va", {"published_row": rows[0], "published_rows": rows, "synthetic": True, "data": "synth",
                               "frames": 50, "pcc_valence": 0.11, "pcc_arousal": 0.22, "ccc_valence": 0.33,
                               "ccc_arousal": 0.44})
    runs = report.collect_runs([tmp_path])
    assert [r["table"] for r in runs] == ["Table 16", "Table 17"]
    text = report.report("kollias2019", None, [tmp_path])
    assert "Table 16" in text and "Table 17" in text
    ours = [line for line in text.splitlines() if "ours" in line]
    assert len(ours) == 2
    assert "| 0.110 | 0.220 |" in ours[0] and "| 0.330 | 0.440 |" in ours[1]


def test_table_18_shows_the_per_class_accuracies(tmp_path):
    accuracies = {"accuracy_neutral": 0.5, "accuracy_anger": 0.25, "accuracy_disgust": None, "accuracy_fear": 0.0,
                  "accuracy_happiness": 1.0, "accuracy_sadness": 0.75, "accuracy_surprise": 0.125}
    _run(tmp_path, "emotiw", {"published_row": ["kollias2019", "Table 18", "fine-tuned AffWildNet"],
                              "synthetic": True, "data": "synth", "frames": 10, "accuracy": 0.4, **accuracies})
    frame = report.table_frame("kollias2019", "Table 18", report.collect_runs([tmp_path]))
    assert list(frame.columns)[2:9] == list(accuracies)  # the paper's order: Neutral ... Surprise, then total
    assert list(frame.columns)[9] == "accuracy"
    ours = frame[frame["source"].str.startswith("ours")].iloc[0]
    assert ours["accuracy_happiness"] == 1.0 and ours["accuracy"] == 0.4
    published_row = frame[(frame["row"] == "fine-tuned AffWildNet") & frame["source"].str.startswith("published")]
    assert published_row.iloc[0]["accuracy_sadness"] == 0.709  # Kollias 2019, Table 18


def test_aspandi_table_2_shows_its_ccc_avg_column(tmp_path):
    _run(tmp_path, "anclaf_sewa", {"published_row": ["aspandi2021", "Table 2", "ANCLaF"], "synthetic": True,
                                   "data": "synth", "frames": 10, "rmse_valence": 0.3, "rmse_arousal": 0.4,
                                   "rmse_mean": 0.35, "pcc_valence": 0.5, "pcc_arousal": 0.6, "pcc_mean": 0.55,
                                   "ccc_valence": 0.2, "ccc_arousal": 0.4, "ccc_mean": 0.3})
    frame = report.table_frame("aspandi2021", "Table 2", report.collect_runs([tmp_path]))
    # Table 2's columns: RMSE, COR, CCC; VAL, ARO, AVG (Aspandi 2021)
    assert list(frame.columns) == ["row", "source", "rmse_valence", "rmse_arousal", "rmse_mean", "pcc_valence",
                                   "pcc_arousal", "pcc_mean", "ccc_valence", "ccc_arousal", "ccc_mean", "run"]


def test_li_all_rows_take_the_runs_all_frames_scores(tmp_path):
    rows = [["li2017", "Table 4", "BDLSTM-FACE"], ["li2017", "Table 4", "BDLSTM-ALL"]]
    folder = _run(tmp_path, "bdlstm", {"published_rows": rows, "synthetic": True, "data": "synth", "frames": 90,
                                       "ccc_valence": 0.1, "ccc_arousal": 0.2, "mse_valence": 0.3, "mse_arousal": 0.4,
                                       "all_frames": 100, "all_ccc_valence": 0.5, "all_ccc_arousal": 0.6,
                                       "all_mse_valence": 0.7, "all_mse_arousal": 0.8, "mse_validation": 0.35})
    lines = report.report("li2017", ["Table 4"], [tmp_path]).splitlines()
    face = [line for line in lines if line.startswith("| BDLSTM-FACE | ours")]
    every = [line for line in lines if line.startswith("| BDLSTM-ALL | ours")]
    # Table 4's columns: Val. MSE, Aro. MSE, Val. CCC, Aro. CCC; mse_validation is not one of them (PAPER_ONLY)
    assert face == [f"| BDLSTM-FACE | ours, SynthAffect (synthetic) | 0.300 | 0.400 | 0.100 | 0.200 | {folder} |"]
    assert every == [f"| BDLSTM-ALL | ours, SynthAffect (synthetic) | 0.700 | 0.800 | 0.500 | 0.600 | {folder} |"]


def test_kahou_tables_show_train_valid_and_test_accuracy_in_the_papers_order(tmp_path):
    """Kahou 2015 Table 2's columns are partitions: Train, Valid, Test (Table 1: Train, Val); a swapped run (submission
    4) records its Train accuracy (the search partition) under train_accuracy like the published row."""
    folder = _run(tmp_path, "fusion", {"published_row": ["kahou2015", "Table 2", "4"], "synthetic": True,
                                       "data": "synth", "frames": 9, "accuracy": 0.9, "train_accuracy": 0.6})
    lines = report.report("kahou2015", ["Table 2"], [tmp_path]).splitlines()
    assert "| row | source | train_accuracy | accuracy | test_accuracy | run |" in lines
    assert "| 4 | published (AFEW 5.0 (EmotiW 2015)) | 0.523 | 0.720 | 0.501 |  |" in lines
    assert f"| 4 | ours, SynthAffect (synthetic) | 0.600 | 0.900 |  | {folder} |" in lines
    table_1 = report.report("kahou2015", ["Table 1"], [tmp_path]).splitlines()
    assert "| RNN | published (AFEW 5.0 validation (EmotiW 2015)) | 0.848 | 0.396 |" in table_1
