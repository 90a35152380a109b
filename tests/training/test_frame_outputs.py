"""The evaluation's per-frame outputs and plots (tfaffect.training.task.write_frame_outputs): every validation
video in the grid, the first ones large, histograms of the frames with a face only."""

import numpy as np
import pandas as pd

from tfaffect.training.task import PLOT_VIDEOS, histogram_values, video_traces, write_frame_outputs


def frames(videos=5, length=20):
    rng = np.random.default_rng(0)
    rows = []
    for v in range(videos):
        for t in range(length):
            rows.append({"video_id": f"vid{v}", "frame": t, "has_face": t % 4 != 3,
                         "valence_true": rng.uniform(-1, 1), "arousal_true": rng.uniform(-1, 1),
                         "valence": rng.normal(0, 0.7), "arousal": rng.normal(0, 0.7)})
    return pd.DataFrame(rows)


def test_histograms_count_only_frames_with_a_face():
    table = frames()
    table.loc[~table["has_face"], ["valence", "arousal"]] = 9.0  # interpolated: must not be counted
    predicted, truth = histogram_values(table)
    assert len(predicted) == len(truth) == int(table["has_face"].sum()) == 75
    assert (predicted != 9.0).all()


def test_video_traces_mark_the_frames_without_a_face():
    table = frames(videos=2)
    traces = video_traces(table)
    assert [t.name for t in traces] == ["vid0", "vid1"]
    np.testing.assert_array_equal(traces[1].flagged, np.arange(20) % 4 == 3)
    np.testing.assert_array_equal(traces[1].predicted, table[table.video_id == "vid1"][["valence", "arousal"]])


def test_every_video_is_drawn(tmp_path):
    write_frame_outputs(frames(), tmp_path, "test data")
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == ["va_grid_01.png", "va_histogram.png",
                     *[f"va_over_time_vid{k}.png" for k in range(PLOT_VIDEOS)]]
    assert (tmp_path / "frames.csv").is_file() and (tmp_path / "per_video.csv").is_file()
