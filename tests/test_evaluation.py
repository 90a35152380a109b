import audmetric
import numpy as np
import pandas as pd
import pytest

from tfaffect import evaluation


def _batch(video_ids, frames, va_true, va_weight, has_face, pred):
    """One (x, y, w, index) element shaped like make_dataset(..., with_index=True) windows."""
    x = {"image": np.zeros(np.shape(frames) + (2, 2, 3), np.uint8)}
    y = {"va": np.asarray(va_true, np.float32)}
    w = {"va": np.asarray(va_weight, np.float32)}
    index = {"video_id": np.asarray(video_ids, object), "frame": np.asarray(frames),
             "has_face": np.asarray(has_face)}
    return (x, y, w, index), {"va": np.asarray(pred, np.float32)}


def test_overlapping_windows_are_averaged_per_frame_and_padding_dropped():
    # Video "a" has 3 frames, windows of 2 with stride 1: [0, 1], [1, 2]. Video "b" has 1 frame, padded.
    elements = [
        _batch(["a", "a"], [[0, 1], [1, 2]],
               [[[0.1, 0.2], [0.3, 0.4]], [[0.3, 0.4], [0.5, 0.6]]], [[1, 1], [1, 1]],
               [[1, 1], [1, 1]], [[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]),
        _batch(["b"], [[0, -1]], [[[0.9, -0.9], [0.9, -0.9]]], [[1, 0]], [[1, 1]],
               [[[0.5, 0.5], [99.0, 99.0]]]),
    ]
    preds = iter(p for _, p in elements)
    frames = evaluation.collect_predictions(lambda x: next(preds), [e for e, _ in elements], progress=False)
    assert list(zip(frames.video_id, frames.frame)) == [("a", 0), ("a", 1), ("a", 2), ("b", 0)]
    # frame a/1 is in both windows: (3 + 5) / 2 and (4 + 6) / 2
    np.testing.assert_allclose(frames.valence, [1.0, 4.0, 7.0, 0.5])
    np.testing.assert_allclose(frames.arousal, [2.0, 5.0, 8.0, 0.5])
    np.testing.assert_allclose(frames.valence_true, [0.1, 0.3, 0.5, 0.9], rtol=1e-6)


def _frames_table(rng, n_videos=3, n=50, no_face_every=7):
    rows = []
    for v in range(n_videos):
        t = np.arange(n)
        true = rng.uniform(-1, 1, (n, 2))
        true[::11] = np.nan  # invalid labels
        pred = 0.6 * np.nan_to_num(true) + rng.normal(0, 0.3, (n, 2))
        rows.append(pd.DataFrame({"video_id": f"v{v}", "frame": t, "has_face": t % no_face_every != 3,
                                  "valence_true": true[:, 0], "arousal_true": true[:, 1],
                                  "valence": pred[:, 0], "arousal": pred[:, 1]}))
    return pd.concat(rows, ignore_index=True)


def test_dataset_level_scores_match_audmetric_on_concatenated_frames():
    frames = _frames_table(np.random.default_rng(0))
    scores = evaluation.score_va(frames, protocol="face")
    kept = frames[frames.has_face & frames.valence_true.notna()]
    for dim in ("valence", "arousal"):
        assert scores[f"ccc_{dim}"] == pytest.approx(audmetric.concordance_cc(kept[f"{dim}_true"], kept[dim]),
                                                     abs=1e-9)
        assert scores[f"mse_{dim}"] == pytest.approx(
            audmetric.mean_squared_error(kept[f"{dim}_true"], kept[dim]), abs=1e-9)
    assert scores["frames"] == len(kept)
    per_video = [audmetric.concordance_cc(g.valence_true, g.valence) for _, g in kept.groupby("video_id")]
    assert scores["video_mean_ccc_valence"] == pytest.approx(np.mean(per_video), abs=1e-9)


def test_all_protocol_interpolates_frames_without_a_face():
    frames = pd.DataFrame({"video_id": "v", "frame": [0, 1, 2, 3, 4], "has_face": [False, True, False, False, True],
                           "valence_true": 0.0, "arousal_true": 0.0,
                           "valence": [9.0, 1.0, 9.0, 9.0, 4.0], "arousal": [9.0, 0.0, 9.0, 9.0, 0.0]})
    filled = evaluation.fill_missing_faces(frames)
    np.testing.assert_allclose(filled.valence, [1.0, 1.0, 2.0, 3.0, 4.0])  # held before, linear between
    np.testing.assert_allclose(frames.valence, [9.0, 1.0, 9.0, 9.0, 4.0])  # input untouched
    scores_all = evaluation.score_va(_frames_table(np.random.default_rng(1)), protocol="all")
    scores_face = evaluation.score_va(_frames_table(np.random.default_rng(1)), protocol="face")
    assert scores_all["frames"] > scores_face["frames"]


def test_unknown_protocol_is_rejected():
    with pytest.raises(ValueError, match="protocol"):
        evaluation.score_va(_frames_table(np.random.default_rng(0)), protocol="faces")


def test_evaluate_command_on_a_tiny_model_and_synthaffect(tmp_path):
    import argparse
    import json

    from tfaffect.models import build_model
    from tfaffect.training.data import synthaffect_shards

    data = synthaffect_shards(32, smoke=True, cache_dir=tmp_path / "cache")
    model = build_model("affwildnet_vggface_gru", tiny=True, image_size=32, landmarks=True)
    model.save(tmp_path / "model.keras")
    args = argparse.Namespace(model=str(tmp_path / "model.keras"), data=str(data), split="validation",
                              seq_len=4, stride=None, batch_size=3, out=str(tmp_path / "eval"))
    assert evaluation.cli_main(args) == 0
    result = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert (result["mode"], result["image_size"], result["landmarks"]) == ("windows", 32, True)
    frames = pd.read_csv(tmp_path / "eval" / "frames.csv")
    manifest = json.loads((data / "manifest.json").read_text())
    videos = [v for shard in manifest["shards"] if shard["split"] == "validation" for v in shard["videos"]]
    assert len(frames) == sum(n for _, n in videos)  # every frame of the split, once
    kept = frames[frames.has_face & frames.valence_true.notna()]
    assert result["ccc_valence"] == pytest.approx(audmetric.concordance_cc(kept.valence_true, kept.valence), abs=1e-9)
    assert result["frames"] == len(kept)
