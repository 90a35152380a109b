"""Li 2017's ensembles (section 2, sections 3.2.4-3.2.5): the 2CL-d frame representation of one BDLSTM, with
the circular fill of the edge frames, and the prediction-level ensemble's choice by validation MSE. Expected
values are written out by hand from the paper's description."""

import numpy as np
import pytest

from tfaffect.errors import ConfigError
from tfaffect.training.mmnet import frame_representation, prediction_ensemble


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


def test_the_prediction_ensemble_averages_the_members_below_0_1_validation_mse():
    predictions = {"a": [[0.2, 0.4], [0.0, -0.2]], "b": [[0.9, 0.9], [0.9, 0.9]], "c": [[0.4, 0.0], [0.2, 0.6]]}
    mean, chosen = prediction_ensemble(predictions, {"a": 0.05, "b": 0.12, "c": 0.0999})
    assert chosen == ["a", "c"]  # b's 0.12 is not below 0.1
    np.testing.assert_allclose(mean, [[0.3, 0.2], [0.1, 0.2]])  # (a + c) / 2 by hand


def test_the_prediction_ensemble_needs_a_qualifying_member_and_every_mse():
    with pytest.raises(ConfigError, match="below 0.1"):
        prediction_ensemble({"a": [[0.0, 0.0]]}, {"a": 0.1})
    with pytest.raises(ConfigError, match="no validation MSE for b"):
        prediction_ensemble({"a": [[0.0, 0.0]], "b": [[0.0, 0.0]]}, {"a": 0.05})
