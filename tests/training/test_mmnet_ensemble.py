"""Li 2017's ensembles (section 2, sections 3.2.4-3.2.5): the 2CL-d frame representation of one BDLSTM, with
the circular fill of the edge frames, and the prediction-level ensemble's choice by validation MSE. Expected
values are written out by hand from the paper's description."""

import numpy as np
import pytest

from tfaffect.errors import ConfigError
from tfaffect.training.mmnet import frame_representation


def _outputs(count, window):
    """[N, L, 2] with output (10 s + j, -(10 s + j)) at window s, position j: every value names its source."""
    value = 10 * np.arange(count)[:, None] + np.arange(window)[None, :]
    return np.stack([value, -value], axis=-1).astype(np.float32)


def test_frame_representation_is_2cl_wide_with_the_edges_filled_circularly():
    # T = 5 frames, L = 3: windows 0, 1, 2 cover frames 0-2, 1-3, 2-4; 2C = 2
    got = frame_representation(_outputs(3, 3), 5)
    assert got.shape == (5, 2 * 3)  # 2CL per frame
    expected = np.array([
        [0, -0, 0, -0, 0, -0],  # frame 0: window 0 only (position 0), repeated
        [1, -1, 10, -10, 1, -1],  # frame 1: windows 0 (pos 1), 1 (pos 0), then window 0 again (circular)
        [2, -2, 11, -11, 20, -20],  # frame 2: in all L windows, no fill
        [12, -12, 21, -21, 12, -12],  # frame 3: windows 1 (pos 2), 2 (pos 1), then window 1 again
        [22, -22, 22, -22, 22, -22],  # frame 4: window 2 only (position 2), repeated
    ], np.float32)
    np.testing.assert_array_equal(got, expected)


def test_frame_representation_of_a_video_shorter_than_the_window():
    # T = 2 < L = 3: one window, frames 0, 1 at positions 0, 1 (position 2 is the repeated last frame, dropped)
    got = frame_representation(_outputs(1, 3), 2)
    np.testing.assert_array_equal(got, [[0, 0, 0, 0, 0, 0], [1, -1, 1, -1, 1, -1]])


def test_frame_representation_rejects_a_window_count_that_does_not_fit():
    with pytest.raises(ConfigError, match="do not fit"):
        frame_representation(_outputs(2, 3), 5)


# --------------------------------------------------------------------------------------------------
# The ensemble recipes (Tables 2, 6-8): members, selection, averaging, the MLP (a smoke run end to end:
# tests/training/test_training_recipes_smoke.py, which shares its stages' cache with the recipes' smoke runs).

import pandas as pd  # noqa: E402

from tfaffect.training import registry  # noqa: E402
from tfaffect.training.mmnet import (MMNetEnsembleRecipe, MMNetFeatureEnsembleRecipe, average_frames,  # noqa: E402
                                     feature_mlp)


def test_the_members_are_tables_3_and_5_without_the_shared_row():
    members = MMNetEnsembleRecipe(data="real-data").memory_networks()
    got = {name: (m.features, m.memory, m.window) for name, m in members.items()}
    assert got == {  # Table 3 (C=250, L=11: FT, No FT, FT+No FT) and Table 5's other four (FT), typed in from the paper
        "FT C=250, L=11": ("ft", 250, 11), "No FT C=250, L=11": ("noft", 250, 11),
        "FT+No FT C=250, L=11": ("ft+noft", 250, 11), "FT C=50, L=11": ("ft", 50, 11), "FT C=50, L=5": ("ft", 50, 5),
        "FT C=25, L=5": ("ft", 25, 5), "FT C=16, L=5": ("ft", 16, 5)}
    assert {m.epochs for m in members.values()} == {200} and {m.learning_rate for m in members.values()} == {0.02}
    shuffled = MMNetEnsembleRecipe(data="real-data", label_control="shuffled", seed=3).memory_networks()
    assert all(m.label_control == "shuffled" and m.seed == 3 for m in shuffled.values())


def test_members_below_0_1_are_chosen_else_all_of_them():
    recipe = MMNetEnsembleRecipe(data="real-data")
    scores = {"a": {"mse": 0.05}, "b": {"mse": 0.1}, "c": {"mse": 0.0999}}
    assert recipe.chosen(scores, ["a", "b", "c"]) == (["a", "c"], "validation MSE below 0.1")
    assert recipe.chosen(scores, ["b"]) == (["b"], "all: none has a validation MSE below 0.1")


def test_the_final_ensemble_needs_both_mlps_and_table_2_refuses_another_split():
    stages = MMNetEnsembleRecipe(data="real-data").requires()
    assert len(stages) == 7 and not any(name.startswith("MLP") for name in stages)
    final = registry.find("mmnet_f_ensemble")(data="real-data").requires()
    assert [final[k].recipe.mlp_layers for k in ("MLP1", "MLP2")] == [1, 2]
    assert all(isinstance(final[k].recipe, MMNetFeatureEnsembleRecipe) for k in ("MLP1", "MLP2"))
    with pytest.raises(ConfigError, match="Table 2"):
        registry.find("mmnet_cnn")(data="real-data", split="test").validate()
    # Table 9 scores the test split with the stages of Tables 5-8: the same stages (their split is not theirs)
    test = registry.find("mmnet_test").configure({"data": "real-data", "row": "F. Ensemble"})
    assert test.split == "test" and test.ensemble == "final"
    assert {n: s.recipe.to_json() for n, s in test.requires().items()} == {
        n: s.recipe.to_json() for n, s in registry.find("mmnet_f_ensemble")(data="real-data").requires().items()}


def test_average_frames_by_hand_and_refuses_members_of_other_frames():
    a = pd.DataFrame({"video_id": ["v2", "v1", "v1"], "frame": [0, 1, 0], "has_face": [True, True, False],
                      "valence": [0.2, 0.4, -0.6], "arousal": [0.0, 0.1, 0.2]})
    b = a.iloc[[1, 2, 0]].assign(valence=[0.0, 0.6, 0.4], arousal=[0.3, 0.4, 0.0])  # other order, same frames
    got = average_frames({"a": a, "b": b}).set_index(["video_id", "frame"])
    # v1/0: (-0.6 + 0.6) / 2, (0.2 + 0.4) / 2; v1/1: (0.4 + 0.0) / 2, (0.1 + 0.3) / 2; v2/0: (0.2 + 0.4) / 2, 0
    np.testing.assert_allclose(got.loc[("v1", 0), ["valence", "arousal"]], [0.0, 0.3])
    np.testing.assert_allclose(got.loc[("v1", 1), ["valence", "arousal"]], [0.2, 0.2])
    np.testing.assert_allclose(got.loc[("v2", 0), ["valence", "arousal"]], [0.3, 0.0])
    assert not got.loc[("v1", 0), "has_face"]
    with pytest.raises(Exception, match="cover different frames"):
        average_frames({"a": a, "b": b.iloc[:2]})


def test_the_mlps_parameter_counts():
    # MLP1: 2010 x 32 + 32, then 32 x 2 + 2; MLP2 adds 32 x 32 + 32 (section 3.2.5: 1 x 32 and 2 x 32 hidden units)
    assert feature_mlp(2010, 1).count_params() == 2010 * 32 + 32 + 32 * 2 + 2 == 64_418
    assert feature_mlp(2010, 2).count_params() == 64_418 + 32 * 32 + 32 == 65_474


# --------------------------------------------------------------------------------------------------
# Table 9 (recipes/mmnet_test.py): chosen on validation, scored on SynthAffect's labelled test split.

def test_table_9_chooses_on_validation_and_scores_every_member_on_the_test_split(tmp_path, monkeypatch):
    from tfaffect.data.tfrecord import load_manifest
    from tfaffect.io import read_json
    from tfaffect.models.saving import load_model
    from tfaffect.training import runner

    monkeypatch.setenv("TFAFFECT_CACHE", str(tmp_path / "cache"))
    final = registry.find("mmnet_test").from_args(["--smoke", "--row", "F. Ensemble"])
    metrics = runner.run(final, tmp_path / "final", verbose=0)
    data = final.data_dir()[0]
    test_videos = {video for shard in load_manifest(data)["shards"] if shard["split"] == "test"
                   for video, _ in shard["videos"]}
    assert test_videos and all(v.startswith("synth_test_") for v in test_videos)
    got = pd.read_csv(tmp_path / "final" / "frames.csv", dtype={"video_id": str})
    assert set(got["video_id"]) == test_videos and metrics["evaluation"]["split"] == "test"

    keys = ["video_id", "frame"]
    members = {}
    for name, stage in final.requires().items():
        folder = final.stage_dir(name)
        stored = read_json(folder / "metrics.json", "")["evaluation"]
        assert stored["split"] == "validation"  # every member was scored, and is chosen, on validation
        assert metrics["evaluation"]["members"][name]["ccc_arousal"] == stored["ccc_arousal"]
        model, recipe = load_model(folder / "model.keras"), stage.recipe
        if name.startswith("MLP"):
            inputs = stored["mlp_members"]  # in the order of the MLP's input (metrics.json's members are sorted)
            assert sorted(inputs) == sorted(m for m, s in stored["members"].items() if s["chosen"])
            validation, test = (recipe.mlp_frames(model, inputs, split) for split in ("validation", "test"))
        else:
            validation, test = (recipe.evaluation_frames(model, split)[1] for split in ("validation", "test"))
        # the saved model, run again, gives the validation predictions the stage wrote when it was trained
        written = pd.read_csv(folder / "frames.csv", dtype={"video_id": str}).sort_values(keys)
        validation = validation.sort_values(keys)
        np.testing.assert_allclose(validation[["valence", "arousal"]], written[["valence", "arousal"]], atol=1e-5)
        members[name] = test.sort_values(keys).reset_index(drop=True)
    # the final ensemble on the test split: every member's test predictions averaged (all chosen in a smoke run)
    assert all(s["chosen"] for s in metrics["evaluation"]["members"].values())
    expected = np.mean([m[["valence", "arousal"]].to_numpy() for m in members.values()], axis=0)
    got = got.sort_values(keys).reset_index(drop=True)
    assert (got[keys].to_numpy() == members["MLP1"][keys].to_numpy()).all()
    np.testing.assert_allclose(got[["valence", "arousal"]], expected, atol=1e-5)

    # the single best model: the member of the lowest validation MSE, its test predictions
    single = registry.find("mmnet_test").from_args(["--smoke", "--row", "Single Model"])
    chosen = runner.run(single, tmp_path / "single", verbose=0)["evaluation"]["members"]
    mse = {name: s["mse"] for name, s in chosen.items()}
    best = [name for name, s in chosen.items() if s["chosen"]]
    assert best == [min(mse, key=mse.get)]
    alone = pd.read_csv(tmp_path / "single" / "frames.csv", dtype={"video_id": str}).sort_values(keys)
    np.testing.assert_allclose(alone[["valence", "arousal"]], members[best[0]][["valence", "arousal"]], atol=1e-6)
