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
