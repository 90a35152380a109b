"""tfaffect.losses: hand-checked values, masking inside Keras fit/evaluate, finite gradients, the
multi-task total. References are hand arithmetic, audmetric and NumPy, never tfaffect itself."""

import inspect

import audmetric
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfaffect import losses as L


def ccc_loss_reference(t, p, mask=None, dim_weights=None):
    """sum_d w_d (1 - CCC_d) over the kept frames of [N, D] arrays, CCC from audmetric."""
    keep = np.ones(len(t), bool) if mask is None else mask
    d = t.shape[1]
    weights = dim_weights or [1 / d] * d
    return sum(w * (1 - audmetric.concordance_cc(t[keep, j], p[keep, j])) for j, w in enumerate(weights))


# t = [0, 1, 2, 3]; valence predicted exactly (CCC 1), arousal predicted as t + 1:
# var_t = var_p = cov = 1.25 (population), (mean difference)^2 = 1 -> CCC = 2.5 / 3.5 = 5/7.
HAND_T = np.array([[0.0, 0], [1, 1], [2, 2], [3, 3]], np.float32)
HAND_P = np.array([[0.0, 1], [1, 2], [2, 3], [3, 4]], np.float32)


def test_ccc_loss_by_hand():
    assert float(L.CCCLoss()(HAND_T, HAND_P)) == pytest.approx((0 + (1 - 5 / 7)) / 2, abs=1e-6)
    # Do 2020, eq. 4: 0.4 * L_valence + 0.4 * L_arousal
    assert float(L.CCCLoss(dim_weights=(0.4, 0.4))(HAND_T, HAND_P)) == pytest.approx(
        0.4 * (1 - 5 / 7), abs=1e-6)
    assert float(L.CCCLoss(dim_weights=(0.0, 1.0))(HAND_T, HAND_P)) == pytest.approx(2 / 7, abs=1e-6)


def test_ccc_loss_ignores_masked_frames_whatever_they_hold():
    t = np.concatenate([HAND_T, [[np.nan, 100.0]]]).astype(np.float32)
    p = np.concatenate([HAND_P, [[-50.0, 7.0]]]).astype(np.float32)
    weight = np.array([1, 1, 1, 1, 0], np.float32)
    assert float(L.CCCLoss()(t, p, weight)) == pytest.approx(1 / 7, abs=1e-6)
    # a NaN label is an invalid frame even with weight 1
    t[4, 1] = np.nan
    assert float(L.CCCLoss()(t[:, 1:], p[:, 1:])) == pytest.approx(1 - 5 / 7, abs=1e-6)


def test_ccc_loss_per_sequence_by_hand():
    # sequence 0: the hand example (losses 0 and 2/7); sequence 1: valence reversed (CCC -1, loss 2),
    # arousal exact (loss 0). Mean over sequences per column: (0 + 2) / 2 = 1 and (2/7 + 0) / 2 = 1/7.
    t = np.stack([HAND_T, HAND_T])
    p = np.stack([HAND_P, np.stack([HAND_T[::-1, 0], HAND_T[:, 1]], axis=1)])
    assert float(L.CCCLoss(over="sequence")(t, p)) == pytest.approx((1 + 1 / 7) / 2, abs=1e-6)
    # a sequence without a valid frame does not count in the mean
    t3 = np.concatenate([t, np.zeros((1, 4, 2), np.float32)])
    p3 = np.concatenate([p, np.ones((1, 4, 2), np.float32)])
    weight = np.concatenate([np.ones((2, 4)), np.zeros((1, 4))]).astype(np.float32)
    assert float(L.CCCLoss(over="sequence")(t3, p3, weight)) == pytest.approx((1 + 1 / 7) / 2, abs=1e-6)


def test_ccc_loss_on_random_batches_equals_one_minus_mean_ccc():
    rng = np.random.default_rng(0)
    t = rng.uniform(-1, 1, (4, 10, 2)).astype(np.float32)
    p = (0.5 * t + rng.normal(0, 0.3, t.shape)).astype(np.float32)
    weight = (rng.random((4, 10)) > 0.3).astype(np.float32)
    keep = weight.reshape(-1) > 0
    want = ccc_loss_reference(t.reshape(-1, 2), p.reshape(-1, 2), keep)
    assert float(L.CCCLoss()(t, p, weight)) == pytest.approx(want, abs=1e-5)
    per_sequence = np.mean([ccc_loss_reference(t[b], p[b], weight[b] > 0) for b in range(4)])
    assert float(L.CCCLoss(over="sequence")(t, p, weight)) == pytest.approx(per_sequence, abs=1e-5)


def loss_and_gradient(loss, t, p, weight=None):
    p = tf.Variable(p)
    with tf.GradientTape() as tape:
        value = loss(t, tf.identity(p), weight)  # a tensor, as a model output is
    return float(value), tape.gradient(value, p).numpy()


@pytest.mark.parametrize("over", ["batch", "sequence"])
def test_no_valid_frame_gives_zero_loss_and_zero_gradient(over):
    t = np.full((2, 3, 2), np.nan, np.float32)
    p = np.random.default_rng(1).normal(size=(2, 3, 2)).astype(np.float32)
    value, grad = loss_and_gradient(L.CCCLoss(over=over), t, p, np.ones((2, 3), np.float32))
    assert value == 0.0 and np.all(grad == 0)
    value, grad = loss_and_gradient(L.CCCLoss(over=over), np.zeros_like(p), p, np.zeros((2, 3), np.float32))
    assert value == 0.0 and np.all(grad == 0)


@pytest.mark.parametrize("over", ["batch", "sequence"])
def test_gradients_finite_for_constant_and_single_frame_inputs(over):
    rng = np.random.default_rng(2)
    t = rng.uniform(-1, 1, (2, 5, 2)).astype(np.float32)
    constant = np.full_like(t, 0.1)
    cases = [
        (t, constant, None),                      # a freshly initialised model: constant output
        (constant, constant, None),               # identical constants: CCC 1, loss 0
        (constant, constant + 0.5, None),         # different constants: CCC 0
        (t, constant, np.eye(2, 5, dtype=np.float32)),  # one valid frame per sequence
    ]
    for labels, predictions, weight in cases:
        value, grad = loss_and_gradient(L.CCCLoss(over=over), labels, predictions, weight)
        assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert loss_and_gradient(L.CCCLoss(over=over), constant, constant)[0] == 0.0
    assert loss_and_gradient(L.CCCLoss(over=over), constant, constant + 0.5)[0] == pytest.approx(1.0)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    t = rng.uniform(-1, 1, (12, 2))
    p = 0.5 * t + rng.normal(0, 0.3, t.shape)
    mask = rng.random(12) > 0.25
    _, grad = loss_and_gradient(L.CCCLoss(dtype="float64"), t, p, mask.astype(np.float64))
    eps = 1e-6
    for i, j in [(0, 0), (3, 1), (7, 0), (11, 1)]:
        up, down = p.copy(), p.copy()
        up[i, j] += eps
        down[i, j] -= eps
        numeric = (ccc_loss_reference(t, up, mask) - ccc_loss_reference(t, down, mask)) / (2 * eps)
        assert grad[i, j] == pytest.approx(numeric, abs=1e-6)
    assert np.all(grad[~mask] == 0)


def identity_dense_model(shape):
    """A model whose output equals its input (Dense with identity kernel) and has trainable weights."""
    inputs = keras.Input(shape)
    dense = keras.layers.Dense(shape[-1], kernel_initializer="identity", bias_initializer="zeros")
    return keras.Model(inputs, dense(inputs))


@pytest.mark.parametrize("window", [False, True])
def test_compile_and_fit_with_sample_weight_give_the_masked_ccc(window):
    rng = np.random.default_rng(4)
    shape = (6, 5, 2) if window else (30, 2)
    t = rng.uniform(-1, 1, shape).astype(np.float32)
    p = (0.5 * t + rng.normal(0, 0.3, shape)).astype(np.float32)
    weight = (rng.random(shape[:-1]) > 0.3).astype(np.float32)
    t[weight == 0] = 1e3  # garbage on masked frames must not matter
    keep = weight.reshape(-1) > 0
    want = ccc_loss_reference(t.reshape(-1, 2), p.reshape(-1, 2), keep)
    model = identity_dense_model(shape[1:])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss=L.CCCLoss())
    history = model.fit(p, t, sample_weight=weight, batch_size=len(p), epochs=1, verbose=0)
    assert history.history["loss"][0] == pytest.approx(want, abs=1e-5)
    assert model.evaluate(p, t, sample_weight=weight, batch_size=len(p), verbose=0) == pytest.approx(
        want, abs=1e-5)


def test_masked_mse_and_cross_entropy_by_hand():
    t = np.array([[0.0, 1.0], [1.0, np.nan], [0.5, 0.5]], np.float32)
    p = np.array([[1.0, 1.0], [3.0, 9.0], [0.0, 0.0]], np.float32)
    # kept values: (1-0)^2, (1-1)^2, (3-1)^2 [NaN label dropped]; frame 2 weight 0
    assert float(L.MaskedMSE()(t, p, np.array([1, 1, 0], np.float32))) == pytest.approx(5 / 3)
    # Do 2020 eq. 3: sum over the columns, mean over frames; frame 1 invalid as a whole (NaN row)
    t5 = np.array([[0.0, 1.0], [np.nan, np.nan], [0.5, 0.5]], np.float32)
    assert float(L.MaskedMSE(columns="sum")(t5, p, np.array([1, 1, 1], np.float32))) == pytest.approx(
        ((1 + 0) + (0.25 + 0.25)) / 2)
    probs = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [1 / 3] * 3], np.float32)
    labels = np.array([0, 1, -1, 2])
    # frames 0, 1 and 3 count; frame 2 is invalid (-1)
    want = -(np.log(0.5) + np.log(0.8) + np.log(1 / 3)) / 3
    assert float(L.MaskedSparseCategoricalCrossentropy()(labels, probs)) == pytest.approx(want, rel=1e-6)
    weight = np.array([1, 0, 1, 1], np.float32)
    assert float(L.MaskedSparseCategoricalCrossentropy()(labels[:, None], probs, weight)) == pytest.approx(
        -(np.log(0.5) + np.log(1 / 3)) / 2, rel=1e-6)
    assert float(L.MaskedSparseCategoricalCrossentropy()(np.full(4, -1), probs)) == 0.0
    probs[1] = np.nan  # whatever a masked frame holds (padding, a failed face) does not leak
    assert float(L.MaskedSparseCategoricalCrossentropy()(labels, probs, weight)) == pytest.approx(
        -(np.log(0.5) + np.log(1 / 3)) / 2, rel=1e-6)


def test_multitask_total_is_the_weighted_sum_of_its_parts():
    rng = np.random.default_rng(5)
    n = 24
    x = rng.normal(size=(n, 4)).astype(np.float32)
    va = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    expression = rng.integers(-1, 7, n)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, {
        "va": keras.layers.Dense(2, activation="tanh", name="va")(inputs),
        "expression": keras.layers.Dense(7, activation="softmax", name="expression")(inputs),
    })
    model.compile(optimizer="sgd", **L.multitask_losses({
        "va": (L.CCCLoss(dim_weights=(0.4, 0.4)), 1.0),
        "expression": (L.MaskedSparseCategoricalCrossentropy(), 0.7),
    }))
    va_weight = (rng.random(n) > 0.2).astype(np.float32)
    y = {"va": va, "expression": expression}
    sample_weight = {"va": va_weight, "expression": np.ones(n, np.float32)}
    result = model.evaluate(x, y, sample_weight=sample_weight, batch_size=n, verbose=0, return_dict=True)
    out = model.predict(x, verbose=0)
    keep = va_weight > 0
    va_part = ccc_loss_reference(va, out["va"], keep, dim_weights=(0.4, 0.4))
    valid = expression >= 0
    expression_part = -np.log(out["expression"][valid, expression[valid]]).mean()
    assert result["va_loss"] == pytest.approx(va_part, abs=1e-5)
    assert result["expression_loss"] == pytest.approx(expression_part, rel=1e-5)
    assert result["loss"] == pytest.approx(1.0 * va_part + 0.7 * expression_part, rel=1e-5)


def test_multitask_losses_validates_its_spec():
    loss = L.MaskedMSE()
    assert L.multitask_losses({"va": (loss, 1)}) == {"loss": {"va": loss}, "loss_weights": {"va": 1.0}}
    for bad in ({}, {"va": loss}, {"va": (loss, -1.0)}, {"va": ("mse", "x")}, {"va": (3, 1.0)}):
        with pytest.raises(ValueError):
            L.multitask_losses(bad)


@pytest.mark.parametrize("loss", [L.CCCLoss(over="sequence", dim_weights=(0.4, 0.4), name="c"),
                                  L.MaskedMSE(), L.MaskedMSE(columns="sum"),
                                  L.MaskedSparseCategoricalCrossentropy()])
def test_get_config_is_exactly_the_init_arguments(loss):
    config = loss.get_config()
    assert set(config) == set(inspect.signature(type(loss).__init__).parameters) - {"self"}
    assert type(loss).from_config(config).get_config() == config
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss) and restored.get_config() == config


def test_ccc_loss_argument_and_shape_errors():
    with pytest.raises(ValueError, match="over"):
        L.CCCLoss(over="video")
    with pytest.raises(ValueError, match="columns"):
        L.MaskedMSE(columns="max")
    with pytest.raises(ValueError, match="non-negative"):
        L.CCCLoss(dim_weights=(0.4, -1))
    with pytest.raises(ValueError, match="3 columns"):
        L.CCCLoss(dim_weights=(0.4, 0.4))(np.zeros((4, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(4, 3\)"):
        L.CCCLoss()(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\[B, T, D\]"):
        L.CCCLoss(over="sequence")(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\(4,\).*\(3, 7\)"):
        L.MaskedSparseCategoricalCrossentropy()(np.zeros(4), np.zeros((3, 7)))


# --------------------------------------------------------------------------------------------------
# STAT + LSTM (Do 2020): the 5-vector target and eq. 4


def test_five_vector_target_by_hand():
    # (valence, arousal) -> [a, v, m = (a + v) / 2, |a - m|, |v - m|]
    va = np.array([[0.5, -0.3], [-1.0, 1.0], [0.2, 0.2]], np.float32)
    expected = np.array([[-0.3, 0.5, 0.1, 0.4, 0.4],
                         [1.0, -1.0, 0.0, 1.0, 1.0],
                         [0.2, 0.2, 0.2, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(L.five_vector_target(va)), expected, atol=1e-7)
    clip = np.broadcast_to(va[:2], (4, 2, 2))
    assert keras.ops.convert_to_numpy(L.five_vector_target(clip)).shape == (4, 2, 5)


def test_total_loss_is_eq4_weighted_sum_by_hand():
    # 7 expressions. Two valid frames and one masked frame (weight 0, wild values that must not count).
    probs = np.full((3, 7), 0.125, np.float32)
    probs[0] = [0.5] + [0.5 / 6] * 6
    probs[1, 3] = 0.25  # the other six stay 0.125: rows sum to 1
    probs[2] = [0.94] + [0.01] * 6
    labels = np.array([0, 3, 6], np.int32)  # p[label] = 0.5, 0.25; CE = (ln 2 + ln 4) / 2 = 1.5 ln 2
    va_true = np.array([[1.0, 0.0], [-1.0, 1.0], [0.3, 0.3]], np.float32)  # (valence, arousal)
    va_pred = np.array([[0.5, 0.0], [-0.5, 0.5], [-0.9, 0.9]], np.float32)
    # valence: t = (1, -1), p = (0.5, -0.5): means 0, var_t 1, var_p 0.25, cov 0.5 -> CCC 1 / 1.25 = 0.8
    # arousal: t = (0, 1), p = (0, 0.5): means 0.5, 0.25, var 0.25, 0.0625, cov 0.125
    #          -> CCC 0.25 / (0.25 + 0.0625 + 0.0625) = 2/3
    aux_true = keras.ops.convert_to_numpy(L.five_vector_target(va_true))  # f0 [0, 1, .5, .5, .5], f1 [1, -1, 0, 1, 1]
    aux_pred = aux_true + np.array([[0.1, 0, 0, 0, 0], [0, 0, 0, 0.2, -0.2], [0.7, 0.7, 0.7, 0.7, 0.7]], np.float32)
    mse = (0.1 ** 2 + 0.2 ** 2 + 0.2 ** 2) / 2  # eq. 3: sum over the 5 components, mean over 2 frames = 0.045
    ce = 1.5 * np.log(2.0)
    total = 1.0 * ce + 0.4 * (1 - 2 / 3) + 0.4 * (1 - 0.8) + 0.2 * mse  # eq. 4: w1, w2 (arousal), w3 (valence), w4

    inputs = {name: keras.Input((n,), name=name) for name, n in (("p", 7), ("v", 2), ("a", 5))}
    identity = keras.Model(inputs, {"expression": keras.layers.Identity()(inputs["p"]),
                                    "va": keras.layers.Identity()(inputs["v"]),
                                    "va_aux": keras.layers.Identity()(inputs["a"])})
    identity.compile(**L.stat_lstm_losses())
    weight = np.array([1.0, 1.0, 0.0], np.float32)
    result = identity.evaluate({"p": probs, "v": va_pred, "a": aux_pred},
                               {"expression": labels, "va": va_true, "va_aux": aux_true},
                               sample_weight={"expression": weight, "va": weight, "va_aux": weight},
                               batch_size=3, verbose=0, return_dict=True)
    assert result["expression_loss"] == pytest.approx(ce, rel=1e-5)
    assert result["va_loss"] == pytest.approx(0.4 * (1 - 0.8) + 0.4 * (1 - 2 / 3), rel=1e-5)
    assert result["va_aux_loss"] == pytest.approx(mse, rel=1e-4)
    assert result["loss"] == pytest.approx(total, rel=1e-5)
    assert total == pytest.approx(1.262055, abs=1e-6)  # 1.039721 + 0.133333 + 0.08 + 0.009
    assert set(L.stat_lstm_losses(va=False)["loss"]) == {"expression"}
