import numpy as np
from PIL import Image

from tfaffect import plots


def test_plots_write_png_files_even_for_degenerate_inputs(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(50)
    truth = np.clip(rng.normal(0, 0.4, (50, 2)), -1, 1)
    flagged = t % 10 == 0
    path = plots.va_over_time(tmp_path / "time.png", t, truth * 0.5, truth, flagged=flagged, title="x")
    assert Image.open(path).size[0] > 300
    plots.va_histogram(tmp_path / "hist.png", truth)
    # all predictions outside [-1, 1] (an untrained linear output) and NaNs: still a picture, no error
    plots.va_histogram(tmp_path / "far.png", np.full((20, 2), 250.0))
    plots.va_histogram(tmp_path / "nan.png", np.full((5, 2), np.nan))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["far.png", "hist.png", "nan.png", "time.png"]


def test_y_limits_show_unit_range_and_every_prediction_outside_it():
    assert plots.y_limits(np.array([0.2, -0.5])) == (-1.05, 1.05)  # 2.5 % of the width 2 on each side
    low, high = plots.y_limits(np.array([0.0, 3.0, np.nan, -1.5]))
    assert low < -1.5 and high > 3.0
    assert plots.y_limits(np.array([np.nan])) == (-1.05, 1.05)


def traces(n, frames=30):
    rng = np.random.default_rng(1)
    out = []
    for k in range(n):
        truth = np.clip(rng.normal(0, 0.4, (frames, 2)), -1, 1)
        out.append(plots.Trace(f"video_{k}", np.arange(frames), truth * 0.8 + 0.1, truth, np.arange(frames) % 7 == 0))
    return out


def test_the_grid_draws_every_video_on_pages_and_states_a_cap(tmp_path):
    (tmp_path / "va_grid_09.png").write_bytes(b"left by an earlier run")
    written = plots.va_grid(tmp_path, traces(14), title="validation", per_page=12)
    assert [p.name for p in written] == ["va_grid_01.png", "va_grid_02.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["va_grid_01.png", "va_grid_02.png"]
    assert Image.open(written[0]).size[0] > 600
    capped = plots.va_grid(tmp_path / "cap", traces(5), per_page=2, max_videos=3)
    assert len(capped) == 2


def test_trace_ccc_leaves_out_the_frames_without_a_face():
    trace = traces(1)[0]
    predicted = trace.predicted.copy()
    predicted[trace.flagged] = 50.0  # interpolated nonsense on the no-face frames only
    assert plots.trace_ccc(trace._replace(predicted=predicted), 0) == plots.trace_ccc(trace, 0)
    assert plots.trace_ccc(trace._replace(truth=None), 0) is None


def test_histograms_side_by_side_and_learning_curves(tmp_path):
    rng = np.random.default_rng(2)
    plots.va_histograms(tmp_path / "hist.png", {"predicted": rng.normal(0, 2, (40, 2)),
                                                "annotation": rng.uniform(-1, 1, (40, 2))})
    rows = [{"epoch": e, "loss": 1 / e, "val_loss": 1.2 / e, "ccc_mean": 0.1 * e, "val_ccc_mean": 0.08 * e}
            for e in (1, 2, 3)]
    plots.learning_curve(tmp_path / "curve.png", rows, "val_ccc_mean", best_epoch=3, title="run")
    plots.learning_curve(tmp_path / "one.png", rows[:1], "val_loss")  # one epoch, monitor is the loss
    assert Image.open(tmp_path / "hist.png").size[0] > Image.open(tmp_path / "hist.png").size[1] * 1.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png", "hist.png", "one.png"]
