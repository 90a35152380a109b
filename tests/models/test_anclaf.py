"""ANCLaF (Aspandi 2021): parameter counts by hand, the attention of ANCLaF-SA against a NumPy re-implementation,
the affect loss (eq. 10-14) against NumPy, the quadrant channel, G's distortions, the SA-from-S initialisation,
and eq. 9's WGAN-GP step (the gradient penalty against finite differences, update counts against n_critic).

Parameter counts are derived here from the released code's layers (FORMATS.md, issue #17), never from the code
under test: PyTorch convs ``k*k*cin*cout (+ cout bias)``, affine instance norms ``2c``, Keras LSTMs
``4u(in + u + 1)`` (PyTorch would add 4u for its second bias).
"""

import keras
import numpy as np
import pytest

from tfaffect.losses import AnclafAffectLoss, inverse_frequency_table, va_grid_cell
from tfaffect.models import anclaf as net


def conv(k, cin, cout, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def norm(c):
    return 2 * c


# --------------------------------------------------------------------------------------------------
# Parameter counts (released sizes: 128 px, G 16 -> 64 channels, D 64 -> 2048 over six convs, C 64 -> 1024)

G_PARAMS = (conv(7, 3, 16, False) + norm(16) + conv(4, 16, 32, False) + norm(32) + conv(4, 32, 64, False) + norm(64)
            + 2 * conv(3, 64, 64, False) + 2 * norm(64)  # one residual block
            + conv(4, 64, 32, False) + norm(32) + conv(4, 32, 16, False) + norm(16) + conv(7, 16, 3, False))
D_PARAMS = (conv(4, 3, 64) + conv(4, 64, 128) + conv(4, 128, 256) + conv(4, 256, 512) + conv(4, 512, 1024)
            + conv(4, 1024, 2048) + conv(3, 2048, 1, False)  # PatchGAN source head
            + conv(2, 2048, 4, False))  # quadrant head over the remaining 2x2 map (128 / 2^6)
C_ENCODER = conv(4, 65, 64) + conv(4, 64, 128) + conv(4, 128, 256) + conv(4, 256, 512) + conv(4, 512, 1024)
VA_FROM_1024 = 1024 * 2 + 2
LSTM_S = 4 * 512 * (1024 + 512 + 1)
LSTM_SA = 4 * 512 * (1024 + 1024 + 512 + 1) + (4 * 512 + 1)  # input [vector; context [h; c]] + alignment layer
VA_FROM_512 = 512 * 2 + 2


def test_hand_arithmetic_in_numbers():
    assert (G_PARAMS, D_PARAMS, C_ENCODER) == (160_928, 44_753_856, 11_209_664)
    assert (LSTM_S, LSTM_SA) == (3_147_776, 5_246_977)


def test_anclaf_parameter_counts_at_the_released_size():
    model = net.ANCLaFNet()
    assert model.get_layer("generator").count_params() == G_PARAMS
    assert model.get_layer("discriminator").count_params() == D_PARAMS
    assert model.get_layer("combiner_encoder").count_params() == C_ENCODER
    assert model.count_params() == G_PARAMS + D_PARAMS + C_ENCODER + VA_FROM_1024
    assert model.get_layer("generator").output["latent"].shape[1:] == (32, 32, 64)  # Z: 64 x 32 x 32
    assert model.get_layer("zq").output.shape[1:] == (32, 32, 65)


def test_sequence_parameter_counts_and_feature_input():
    s = net.ANCLaFSeqNet(attention=False, frame_input="features")
    sa = net.ANCLaFSeqNet(attention=True, attention_span=8, frame_input="features")
    assert s.count_params() == C_ENCODER + LSTM_S + VA_FROM_512
    assert sa.count_params() == C_ENCODER + LSTM_SA + VA_FROM_512
    assert tuple(s.input["zq"].shape) == (None, None, 32 * 32 * 65)  # flattened, as the feature cache stores it
    image = net.ANCLaFSeqNet(attention=False)
    assert image.count_params() == G_PARAMS + D_PARAMS + C_ENCODER + LSTM_S + VA_FROM_512


def test_released_va_head_variant_has_two_outputs():
    model = net.ANCLaFNet(quadrant_head="va")
    assert model.get_layer("discriminator").count_params() == D_PARAMS - conv(2, 2048, 4, False) + conv(2, 2048, 2,
                                                                                                            False)


# --------------------------------------------------------------------------------------------------
# Quadrants, ZQ and distortions


def test_quadrant_index_and_channel():
    va = np.array([[0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5], [0.5, -0.5], [0.0, 0.0]], np.float32)
    assert keras.ops.convert_to_numpy(net.quadrant_index(va)).tolist() == [0, 1, 2, 3, 0]
    latent = np.random.default_rng(0).normal(size=(5, 2, 2, 3)).astype(np.float32)
    zq = keras.ops.convert_to_numpy(net.QuadrantChannel("va")([latent, va]))
    np.testing.assert_array_equal(zq[..., :3], latent)
    np.testing.assert_allclose(zq[..., 3].reshape(5, -1), np.repeat([[-1.0], [-1 / 3], [1 / 3], [1.0], [-1.0]], 4, 1),
                               atol=1e-6)
    logits = np.eye(4, dtype=np.float32)[[2, 0, 3, 1, 1]]
    zq = keras.ops.convert_to_numpy(net.QuadrantChannel("quadrant")([latent, logits]))
    np.testing.assert_allclose(zq[:, 0, 0, 3], 2 * np.array([2, 0, 3, 1, 1]) / 3 - 1, atol=1e-6)


def test_distortions():
    rng = np.random.default_rng(1)
    n, s = 6, 8
    image = rng.uniform(-0.5, 0.5, size=(n, s, s, 3)).astype(np.float32)
    noise = rng.normal(size=image.shape).astype(np.float32)
    corner = np.zeros((n, 2), np.float32)
    out = keras.ops.convert_to_numpy(net.distort(image, np.arange(n), np.ones(n, bool), noise,
                                                 np.full(n, 0.5, np.float32), corner))
    down = image[0].reshape(s // 2, 2, s // 2, 2, 3).mean(axis=(1, 3)).repeat(2, 0).repeat(2, 1)
    np.testing.assert_allclose(out[0], down, atol=1e-6)
    padded = np.pad(image[1], ((1, 1), (1, 1), (0, 0)), mode="edge")
    blur = sum(w * padded[i:i + s] for i, w in enumerate((0.25, 0.5, 0.25)))
    blur = sum(w * blur[:, j:j + s] for j, w in enumerate((0.25, 0.5, 0.25)))
    np.testing.assert_allclose(out[1], blur, atol=1e-6)
    np.testing.assert_allclose(out[2], np.clip(image[2] + 0.1 * noise[2], -1, 1), atol=1e-6)
    np.testing.assert_allclose(out[3], image[3] + 0.15, atol=1e-6)
    luma = image[4] @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(out[4], np.repeat(luma[..., None], 3, -1), atol=1e-6)
    expected = image[5].copy()
    expected[:2, :2] = 0  # a quarter of the side (2 px) at the corner (0, 0)
    np.testing.assert_allclose(out[5], expected, atol=1e-6)
    untouched = keras.ops.convert_to_numpy(net.distort(image, np.arange(n), np.zeros(n, bool), noise,
                                                       np.full(n, 0.5, np.float32), corner))
    np.testing.assert_array_equal(untouched, image)


# --------------------------------------------------------------------------------------------------
# Attention (eq. 5-8) against NumPy


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def numpy_attention_lstm(x, kernel, recurrent, bias, w_att, b_att, span):
    """Eq. 5-8 written directly: per step align S_{t-1} with the stored previous states, context, LSTM step."""
    batch, steps, _ = x.shape
    units = recurrent.shape[0]
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    history = []  # S_0, S_1, ... (combined states after each step)
    hs, weights = [], []
    for t in range(steps):
        previous = history[-span:]  # the n most recent states
        a = np.zeros((batch, span))
        context = np.zeros((batch, 2 * units))
        if previous:
            current = np.concatenate([h, c], -1)
            scores = np.stack([np.concatenate([current, s], -1) @ w_att[:, 0] + b_att[0] for s in previous], -1)
            e = np.exp(scores - scores.max(-1, keepdims=True))
            alpha = e / e.sum(-1, keepdims=True)
            context = sum(alpha[:, k:k + 1] * s for k, s in enumerate(previous))
            a[:, span - len(previous):] = alpha
        z = np.concatenate([x[:, t], context], -1) @ kernel + h @ recurrent + bias
        zi, zf, zc, zo = np.split(z, 4, -1)
        c = _sigmoid(zf) * c + _sigmoid(zi) * np.tanh(zc)
        h = _sigmoid(zo) * np.tanh(c)
        history.append(np.concatenate([h, c], -1))
        hs.append(h)
        weights.append(a)
    return np.stack(hs, 1), np.stack(weights, 1)


def test_attention_matches_numpy_sums_to_one_and_looks_at_the_previous_n_states():
    span, units, steps = 3, 4, 7
    cell = net.AttentionLSTMCell(units, span)
    layer = keras.layers.RNN(cell, return_sequences=True)
    x = np.random.default_rng(2).normal(size=(2, steps, 5)).astype(np.float32)
    layer.build(x.shape)
    cell.attention_kernel.assign(np.random.default_rng(3).normal(size=(4 * units, 1)).astype(np.float32))
    cell.attention_bias.assign(np.array([0.3], np.float32))
    out = keras.ops.convert_to_numpy(layer(x))
    h, a = out[..., :units], out[..., 2 * units:]
    get = keras.ops.convert_to_numpy
    h_np, a_np = numpy_attention_lstm(x, get(cell.kernel), get(cell.recurrent_kernel), get(cell.bias),
                                      get(cell.attention_kernel), get(cell.attention_bias), span)
    np.testing.assert_allclose(h, h_np, atol=1e-5)
    np.testing.assert_allclose(a, a_np, atol=1e-5)
    sums = a.sum(-1)
    np.testing.assert_allclose(sums[:, 0], 0)  # no previous state at the first frame
    np.testing.assert_allclose(sums[:, 1:], 1, atol=1e-5)
    nonzero = (a > 0).sum(-1)
    assert nonzero[0].tolist() == [min(t, span) for t in range(steps)]


def test_attention_ignores_states_older_than_n():
    # Change only frame 0: with span 2 the context at t >= 3 no longer sees S_0 directly, but h carries it, so
    # check the cell step itself: the memory handed to step t holds exactly S_{t-2}, S_{t-1}.
    span, units = 2, 3
    cell = net.AttentionLSTMCell(units, span)
    cell.build((None, 4))
    rng = np.random.default_rng(4)
    h, c = rng.normal(size=(1, units)).astype(np.float32), rng.normal(size=(1, units)).astype(np.float32)
    memory = rng.normal(size=(1, span * 2 * units)).astype(np.float32)
    states = [h, c, memory, np.array([[2.0]], np.float32)]
    out, new = cell(rng.normal(size=(1, 4)).astype(np.float32), states)
    new_memory = keras.ops.convert_to_numpy(new[2]).reshape(span, 2 * units)
    np.testing.assert_allclose(new_memory[0], memory.reshape(span, 2 * units)[1])  # oldest dropped
    np.testing.assert_allclose(new_memory[1], np.concatenate([keras.ops.convert_to_numpy(new[0])[0],
                                                              keras.ops.convert_to_numpy(new[1])[0]]), atol=1e-6)


def test_sa_from_s_starts_as_the_s_model():
    kwargs = dict(frame_input="features", image_size=32, g_dim=2, d_dim=2, d_layers=5, c_dim=4, lstm_units=6)
    s = net.ANCLaFSeqNet(attention=False, **kwargs)
    sa = net.ANCLaFSeqNet(attention=True, attention_span=3, **kwargs)
    net.attention_from_sequence(s, sa)
    zq = np.random.default_rng(5).normal(size=(2, 5, 8 * 8 * 9)).astype(np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(sa({"zq": zq})["va"]),
                               keras.ops.convert_to_numpy(s({"zq": zq})["va"]), atol=1e-5)
    weights = keras.ops.convert_to_numpy(net.attention_weights_model(sa)({"zq": zq}))
    assert weights.shape == (2, 5, 3)


# --------------------------------------------------------------------------------------------------
# Affect loss (eq. 10-14) against NumPy


def numpy_affect_loss(t, p, w):
    total = []
    for d in range(2):
        x, y, ww = p[:, d], t[:, d], w
        mx, my = np.average(x, weights=ww), np.average(y, weights=ww)
        vx, vy = np.average((x - mx) ** 2, weights=ww), np.average((y - my) ** 2, weights=ww)
        cov = np.average((x - mx) * (y - my), weights=ww)
        rmse = np.sqrt(np.average((x - y) ** 2, weights=ww))
        cor = cov / np.sqrt(vx * vy)
        ccc = 2 * cov / (vx + vy + (mx - my) ** 2)
        icc = 2 * cov / (vx + vy)
        total.append(rmse + (1 - cor) + (1 - ccc) + (1 - icc))
    return np.mean(total)


def test_inverse_frequency_table_by_hand():
    va = np.array([[0.05, 0.05], [0.05, 0.05], [0.05, 0.05], [-0.95, 0.95], [1.0, -1.0], [np.nan, 0.1]])
    table = np.array(inverse_frequency_table(va))
    # 5 valid frames in 3 cells: (5, 5) x3, (0, 9) x1, (9, 0) x1 -> 5 / (3 * count)
    assert table[5, 5] == pytest.approx(5 / 9)
    assert table[0, 9] == pytest.approx(5 / 3) and table[9, 0] == pytest.approx(5 / 3)
    assert table[0, 0] == 1.0  # empty cell
    assert keras.ops.convert_to_numpy(va_grid_cell(va[:5])).tolist() == [[5, 5]] * 3 + [[0, 9], [9, 0]]


def test_affect_loss_equals_numpy_with_grid_weights_and_mask():
    rng = np.random.default_rng(6)
    t = rng.uniform(-1, 1, size=(40, 2)).astype(np.float32)
    p = (0.6 * t + rng.normal(scale=0.3, size=t.shape)).astype(np.float32)
    table = rng.uniform(0.5, 3.0, size=(10, 10))
    mask = (rng.uniform(size=40) > 0.2).astype(np.float32)
    loss = AnclafAffectLoss(table.tolist())
    got = float(keras.ops.convert_to_numpy(loss(t, p, sample_weight=mask)))
    iv = np.clip(np.floor((t[:, 0] + 1) * 5), 0, 9).astype(int)
    ia = np.clip(np.floor((t[:, 1] + 1) * 5), 0, 9).astype(int)
    w = table[iv, ia] * mask  # valence indexes rows, arousal columns (not the released bug)
    assert got == pytest.approx(numpy_affect_loss(t.astype(np.float64), p.astype(np.float64), w), rel=1e-4)
    # arousal weights indexed by the valence label (the released bug) would give another value
    bug = table[iv, iv] * mask
    assert abs(got - numpy_affect_loss(t.astype(np.float64), p.astype(np.float64), bug)) > 1e-3
    plain = float(keras.ops.convert_to_numpy(AnclafAffectLoss()(t.reshape(4, 10, 2), p.reshape(4, 10, 2))))
    assert plain == pytest.approx(numpy_affect_loss(t.astype(np.float64), p.astype(np.float64), np.ones(40)),
                                  rel=1e-4)


def test_affect_loss_of_a_perfect_prediction_is_zero_and_round_trips():
    t = np.random.default_rng(7).uniform(-1, 1, size=(10, 2)).astype(np.float32)
    assert float(keras.ops.convert_to_numpy(AnclafAffectLoss()(t, t))) == pytest.approx(0.0, abs=1e-4)
    loss = AnclafAffectLoss(np.ones((10, 10)).tolist())
    assert AnclafAffectLoss.from_config(loss.get_config()).table == loss.table


# --------------------------------------------------------------------------------------------------
# Eq. 9: WGAN-GP step


def _tiny_gan(n_critic=3):
    keras.utils.set_random_seed(0)
    model = net.ANCLaFNet(image_size=32, g_dim=2, d_dim=2, d_layers=5, c_dim=4)
    model.compile(optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.999), loss={"va": AnclafAffectLoss()},
                  adversarial=net.make_adversarial(n_critic=n_critic))
    return model


def test_gradient_penalty_matches_finite_differences():
    keras.utils.set_random_seed(1)
    discriminator = net.build_discriminator(image_size=8, d_dim=2, d_layers=3)
    rng = np.random.default_rng(8)
    real = rng.uniform(-1, 1, size=(2, 8, 8, 3)).astype(np.float32)
    fake = rng.uniform(-1, 1, size=(2, 8, 8, 3)).astype(np.float32)
    eps = np.array([0.25, 0.7], np.float32)
    got = float(keras.ops.convert_to_numpy(net.gradient_penalty(discriminator, real, fake, eps)))

    def total(images):  # sum of the patch scores per image, float64 weights copied into NumPy
        return keras.ops.convert_to_numpy(discriminator(images.astype(np.float32))["source"]).reshape(
            len(images), -1).sum(-1).astype(np.float64)

    mixed = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake
    h = 1e-2
    norms = []
    for i in range(2):
        basis = np.eye(mixed[i].size, dtype=np.float32).reshape(-1, 8, 8, 3) * h
        plus, minus = total(mixed[i] + basis), total(mixed[i] - basis)
        norms.append(np.linalg.norm((plus - minus) / (2 * h)))
    expected = np.mean((np.array(norms) - 1) ** 2)
    assert got == pytest.approx(expected, rel=2e-2)


def test_update_counts_follow_n_critic_and_c_learns_on_the_fly():
    model = _tiny_gan(n_critic=3)
    rng = np.random.default_rng(9)
    x = {"image": rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)}
    y = {"va": rng.uniform(-1, 1, size=(8, 2)).astype(np.float32)}
    g_before = [keras.ops.convert_to_numpy(v).copy() for v in model.generator.trainable_variables]
    c_before = [keras.ops.convert_to_numpy(v).copy() for v in model.combiner_variables()]
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # 2 iterations: critic 2x, G none
    adv = model.adversarial
    assert int(adv.discriminator_optimizer.iterations) == 2 and int(adv.generator_optimizer.iterations) == 0
    assert all(np.array_equal(a, keras.ops.convert_to_numpy(b))
               for a, b in zip(g_before, model.generator.trainable_variables))
    assert int(model.optimizer.iterations) == 2  # C every iteration
    assert not all(np.array_equal(a, keras.ops.convert_to_numpy(b)) for a, b in zip(c_before, model.combiner_variables()))
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)  # iterations 3..6: G after the 3rd and the 6th
    assert int(adv.discriminator_optimizer.iterations) == 6 and int(adv.generator_optimizer.iterations) == 2
    assert np.isfinite(history.history["loss"][0]) and np.isfinite(history.history["gradient_penalty"][0])


def test_weights_files_carry_the_adversarial_optimizers_state(tmp_path):
    """A resumed run (BackupAndRestore: ``save_weights`` / ``load_weights``) continues D's and G's Adam moments
    and their update counts, so the n_critic schedule keeps its phase; before, they restarted from zero."""
    model = _tiny_gan(n_critic=2)
    rng = np.random.default_rng(10)
    x = {"image": rng.integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)}
    y = {"va": rng.uniform(-1, 1, size=(12, 2)).astype(np.float32)}
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # 3 iterations: critic 3x, G once
    path = tmp_path / "backup.weights.h5"
    model.save_weights(path)
    restored = _tiny_gan(n_critic=2)
    restored.load_weights(path)
    for name in ("discriminator_optimizer", "generator_optimizer"):
        saved, loaded = getattr(model.adversarial, name), getattr(restored.adversarial, name)
        assert int(loaded.iterations) == int(saved.iterations) > 0, name
        moments = [v for v in saved.variables if "momentum" in v.path or "velocity" in v.path]
        assert moments and any(np.abs(keras.ops.convert_to_numpy(v)).max() > 0 for v in moments), name
        for a, b in zip(saved.variables, loaded.variables, strict=True):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), err_msg=name)
