"""Shared layers: time folding, the Aff-Wild input scaling, the peephole LSTM cell."""

import keras
import numpy as np
import pytest

from tfaffect.models.layers import FoldTime, PeepholeLSTMCell, UnfoldTime, scale_uint8_to_unit_range


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_scaling_is_x_minus_128_over_128():
    pixels = np.array([0, 1, 127, 128, 255], dtype=np.uint8)
    expected = np.array([-1.0, -127 / 128, -1 / 128, 0.0, 127 / 128], dtype=np.float32)  # (x - 128) / 128
    np.testing.assert_array_equal(_np(scale_uint8_to_unit_range()(pixels)), expected)


def test_fold_and_unfold_follow_row_major_order_with_unknown_time():
    sequences = keras.Input((None, 2, 3))
    folded = FoldTime()(sequences)
    assert tuple(folded.shape) == (None, 2, 3)
    features = keras.layers.Flatten()(folded)
    unfolded = UnfoldTime()([features, sequences])
    assert tuple(unfolded.shape) == (None, None, 6)
    model = keras.Model(sequences, [folded, unfolded])
    for time in (1, 4):  # two time lengths through one traced graph
        x = np.arange(5 * time * 6, dtype=np.float32).reshape(5, time, 2, 3)
        got_folded, got_unfolded = model.predict(x, verbose=0)
        for b in range(5):
            for t in range(time):
                np.testing.assert_array_equal(got_folded[b * time + t], x[b, t])
        np.testing.assert_array_equal(got_unfolded, x.reshape(5, time, 6))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _numpy_peephole_lstm(x, kernel, recurrent, bias, p_i, p_f, p_o):
    """Gers & Schmidhuber 2000 peephole LSTM, written from the equations, gate order i, f, c, o."""
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))
    c = np.zeros((x.shape[0], units))
    outputs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        z_i, z_f, z_c, z_o = (z[:, k * units:(k + 1) * units] for k in range(4))
        i = _sigmoid(z_i + p_i * c)
        f = _sigmoid(z_f + p_f * c)
        c = f * c + i * np.tanh(z_c)
        o = _sigmoid(z_o + p_o * c)
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


@pytest.fixture
def peephole_rnn():
    layer = keras.layers.RNN(PeepholeLSTMCell(5), return_sequences=True)
    layer(keras.Input((None, 3)))
    return layer


def test_peephole_lstm_matches_numpy_equations(peephole_rnn):
    rng = np.random.default_rng(1)
    kernel, recurrent, bias = (rng.normal(0, 0.5, w.shape).astype(np.float32) for w in peephole_rnn.weights[:3])
    peepholes = [rng.normal(0, 0.5, 5).astype(np.float32) for _ in range(3)]
    peephole_rnn.set_weights([kernel, recurrent, bias, *peepholes])
    x = rng.normal(size=(2, 6, 3)).astype(np.float32)
    expected = _numpy_peephole_lstm(x.astype(np.float64), kernel, recurrent, bias, *peepholes)
    np.testing.assert_allclose(_np(peephole_rnn(x)), expected, rtol=1e-5, atol=1e-6)


def test_peephole_lstm_without_peepholes_equals_keras_lstm(peephole_rnn):
    lstm = keras.layers.LSTM(5, return_sequences=True, use_cudnn=False)
    lstm(keras.Input((None, 3)))
    rng = np.random.default_rng(2)
    kernel, recurrent, bias = (rng.normal(0, 0.5, w.shape).astype(np.float32) for w in lstm.weights)
    lstm.set_weights([kernel, recurrent, bias])
    peephole_rnn.set_weights([kernel, recurrent, bias] + [np.zeros(5, np.float32)] * 3)
    x = rng.normal(size=(2, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(_np(peephole_rnn(x)), _np(lstm(x)), rtol=1e-5, atol=1e-6)


def test_peephole_lstm_initial_forget_bias_is_one(peephole_rnn):
    bias = _np(peephole_rnn.cell.bias)
    np.testing.assert_array_equal(bias, np.r_[np.zeros(5), np.ones(5), np.zeros(10)])


def test_standardize_landmarks_by_hand_and_unknown_frames_stay_zero():
    from tfaffect.models.layers import StandardizeLandmarks

    mean, std = [0.5, 0.25, 0.75], [0.1, 0.5, 0.25]
    layer = StandardizeLandmarks(mean, std)
    x = np.array([[[0.6, 0.25, 0.25], [0.0, 0.0, 0.0]]], np.float32)  # [1, 2 frames, 3 coordinates]
    out = np.asarray(layer(x))
    np.testing.assert_allclose(out[0, 0], [(0.6 - 0.5) / 0.1, 0.0, (0.25 - 0.75) / 0.25], rtol=1e-6)
    np.testing.assert_array_equal(out[0, 1], 0.0)  # all-zero = unknown landmarks: no made-up values
    clone = StandardizeLandmarks.from_config(layer.get_config())
    np.testing.assert_array_equal(np.asarray(clone(x)), out)
    with pytest.raises(ValueError):
        StandardizeLandmarks([0.0], [0.0])
