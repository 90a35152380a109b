"""MM-Net (Li 2017): CRU-Net parameter counts, the CRU stage's weight sharing, the BDLSTM memory network and the
stride-1 window averaging.

Parameter counts are derived by hand from Table 1 and the CRU facts of issue #15 (never from the code under
test). Counts do not depend on the input side (global average pooling), so full-width nets are built at 32 px.

Gap to Table 1 (12.4 M tiny / 25.5 M CRU-Net-56, with the ImageNet 1000-d fc): the same arithmetic with that
fc in place of our two heads gives 12,573,608 (+1.4 %) and 25,613,352 (+0.4 %) trainable parameters (conv
weights, batch-norm gamma and beta, fc). The paper gives no breakdown; the count of issue #15 (~12.57 M with
conv5 x4) agrees with ours. Candidates for the difference, none confirmed: the table's rounding or a
different count of batch norms. The tiny net's conv5 has 4 units as Table 1 prints it (x3, as CRU-Net-56's, would
give 11.23 M, further off).
"""

import keras
import numpy as np
import pytest

from tfaffect.errors import ConfigError
from tfaffect.models.mmnet import CRUNet, MemoryNetwork, overlap_average, window_indices


def conv(k, c_in, c_out, groups=1):
    """A k x k convolution without bias (pre-activation units: a batch norm follows every conv)."""
    return k * k * (c_in // groups) * c_out


def bn(c):
    """Trainable gamma and beta (moving mean and variance counted apart)."""
    return 2 * c


def dense(n_in, n_out):
    return n_in * n_out + n_out


def lstm(n_in, units):
    return 4 * (n_in * units + units * units + units)


# Table 1 per stage: (kind, units, a, out, R, mid), as the paper prints it.
TINY = [("res", 3, 256, 256, 32, None), ("res", 4, 512, 256, 32, None), ("cru", 6, 512, 256, 512, 1024),
        ("res", 4, 1024, 512, 32, None)]
FULL = [("res", 3, 128, 256, 32, None), ("res", 4, 256, 512, 32, None), ("cru", 6, 640, 1024, 640, 640),
        ("res", 3, 1024, 2048, 32, None)]


def stage_params(kind, units, a, out, groups, mid, c_in):
    """(trainable weights, batch-norm channels) of one stage."""
    weights = channels = 0
    if kind == "res":  # per unit: BN(in) 1x1 a, BN(a) 3x3 a/R, BN(a) 1x1 out; unit 1 adds a 1x1 projection
        for unit in range(units):
            n_in = c_in if unit == 0 else out
            weights += conv(1, n_in, a) + conv(3, a, a, groups) + conv(1, a, out)
            weights += conv(1, n_in, out) if unit == 0 else 0
            channels += n_in + a + a
    else:  # BN(in) + 1x1 projection once; ONE shared 1x1 out->a and ONE depthwise 3x3; per unit 4 BNs, 1x1 a->mid, mid->out
        weights += conv(1, c_in, out) + conv(1, out, a) + conv(3, a, a, a)
        channels += c_in
        for _ in range(units):
            weights += conv(1, a, mid) + conv(1, mid, out)
            channels += out + a + a + mid
    return weights + bn(channels), channels


def cru_net_params(stages, heads):
    """(trainable, non-trainable) of a CRU-Net: stem conv 7x7/64 + BN, the stages, final BN, the heads."""
    trainable, channels = conv(7, 3, 64) + bn(64), 64
    c_in = 64
    for kind, units, a, out, groups, mid in stages:
        weights, bn_channels = stage_params(kind, units, a, out, groups, mid, c_in)
        trainable += weights
        channels += bn_channels
        c_in = out
    trainable += bn(c_in) + sum(dense(c_in, n) for n in heads)
    return trainable, 2 * (channels + c_in)


def counts(model):
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return trainable, model.count_params() - trainable


def test_cru_net_56_tiny_parameters_by_hand():
    trainable, moving = cru_net_params(TINY, heads=(7, 2))  # expression softmax 7 + valence/arousal 2
    assert trainable == 12_065_225
    assert counts(CRUNet("tiny", image_size=32)) == (trainable, moving)
    # with Table 1's ImageNet head instead of ours: 12.57 M against the printed 12.4 M (module docstring)
    assert cru_net_params(TINY, heads=(1000,))[0] == 12_573_608


def test_cru_net_56_parameters_by_hand():
    trainable, moving = cru_net_params(FULL, heads=(7, 2))
    assert trainable == 23_582_793
    assert counts(CRUNet("full", image_size=32)) == (trainable, moving)
    assert cru_net_params(FULL, heads=(1000,))[0] == 25_613_352  # Table 1: 25.5 M


def test_tiny_net_feature_is_512_wide_and_conv5_is_7x7_at_224():
    model = CRUNet("tiny", image_size=224, width_divisor=8)  # narrow, the spatial plan of Table 1 at 224 px
    assert model.get_layer("conv1").output.shape[1:3] == (112, 112)  # Table 1, conv1 112x112
    assert model.get_layer("conv2_1_add").output.shape[1:3] == (56, 56)
    assert model.get_layer("conv5_1_add").output.shape[1:3] == (7, 7)
    assert CRUNet("tiny", image_size=32).get_layer("features").output.shape[-1] == 512  # section 3.1.2


@pytest.mark.parametrize("memory,window,features", [(250, 11, 512), (50, 11, 512), (50, 5, 512), (25, 5, 512),
                                                    (16, 5, 512), (250, 11, 1024)])
def test_memory_network_parameters_by_hand(memory, window, features):
    model = MemoryNetwork(memory=memory, window=window, feature_units=features)
    # one bidirectional LSTM (2 directions) + one FC with 2 linear outputs on the 2C-wide output (section 3.1.2)
    assert model.count_params() == 2 * lstm(features, memory) + dense(2 * memory, 2)
    assert model.get_layer("bdlstm").output.shape[-1] == 2 * memory
    assert model.get_layer("va_fc").activation.__name__ == "linear"
    if (memory, window, features) == (250, 11, 512):
        assert model.count_params() == 1_527_002


def branch_outputs(model):
    """A model: image -> each conv4 unit's residual branch output (its last, unshared 1x1)."""
    names = [layer.name for layer in model.layers if layer.name.startswith("conv4_") and layer.name.endswith("_1x1c")
             and isinstance(layer, keras.layers.Conv2D)]
    return names, keras.Model(model.input, [model.get_layer(name).output for name in names])


def test_the_cru_stage_has_one_shared_1x1_and_one_shared_depthwise_3x3_used_by_every_unit():
    keras.utils.set_random_seed(0)
    model = CRUNet("tiny", image_size=32, width_divisor=16, units=(1, 1, 3, 1))
    depthwise = [layer for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]
    assert [layer.name for layer in depthwise] == ["conv4_shared_3x3"]  # one per CRU stage
    shared_1x1 = model.get_layer("conv4_shared_1x1")
    names, branches = branch_outputs(model)
    assert names == ["conv4_1_1x1c", "conv4_2_1x1c", "conv4_3_1x1c"]
    rng = np.random.default_rng(0)
    images = {"image": rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)}

    def run():
        return [keras.ops.convert_to_numpy(out) for out in branches(images, training=False)]

    before = run()
    for out in before:  # each branch depends on the image
        assert not np.allclose(out[0], out[1])
    kernel = shared_1x1.get_weights()[0]
    shared_1x1.set_weights([kernel + rng.normal(0, 0.5, kernel.shape).astype(kernel.dtype)])
    for unit, (old, new) in enumerate(zip(before, run()), 1):  # perturbing the shared 1x1 changes every unit
        assert not np.allclose(old, new), unit
    # Zeroing the shared depthwise kernel makes every unit's branch the same for any image: every unit computes
    # its branch through that one kernel (a unit with its own 3x3 would still depend on the image).
    shared_1x1.set_weights([kernel])
    model.get_layer("conv4_shared_3x3").set_weights([np.zeros_like(depthwise[0].get_weights()[0])])
    for unit, out in enumerate(run(), 1):
        np.testing.assert_allclose(out[0], out[1], atol=1e-5, err_msg=f"unit {unit}")
    # the other units' own convs are not shared: zeroing unit 2's last 1x1 zeroes unit 2's branch only
    model.get_layer("conv4_shared_3x3").set_weights([depthwise[0].get_weights()[0] + 1.0])
    model.get_layer("conv4_2_1x1c").set_weights([np.zeros_like(model.get_layer("conv4_2_1x1c").get_weights()[0])])
    after = run()
    assert np.all(after[1] == 0) and np.any(after[0] != 0) and np.any(after[2] != 0)


def test_window_indices_cover_every_stride_1_window_and_repeat_the_last_frame_of_short_sequences():
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(window_indices(5, 3)),
                                  [[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(window_indices(2, 3)), [[0, 1, 1]])


def test_stride_1_average_equals_the_hand_computed_mean_over_the_windows_containing_each_frame():
    # T = 5 frames, L = 3: windows n = 0, 1, 2 cover frames n..n+2; window n predicts 10 n + j at its position j
    windows = np.array([[[[10.0 * n + j] for j in range(3)] for n in range(3)]], np.float32)  # [1, 3, 3, 1]
    hand = [0.0,  # frame 0: window 0 only
            (1 + 10) / 2,  # frame 1: windows 0 (position 1), 1 (position 0)
            (2 + 11 + 20) / 3,  # frame 2: all three
            (12 + 21) / 2,  # frame 3: windows 1, 2
            22.0]  # frame 4: window 2 only
    np.testing.assert_allclose(keras.ops.convert_to_numpy(overlap_average(windows, 5))[0, :, 0], hand, rtol=1e-6)


def test_the_memory_network_on_a_sequence_is_the_mean_of_its_predictions_on_each_window():
    keras.utils.set_random_seed(1)
    model = MemoryNetwork(memory=3, window=4, feature_units=5)
    x = np.random.default_rng(1).normal(size=(2, 9, 5)).astype(np.float32)
    whole = keras.ops.convert_to_numpy(model({"features": x})["va"])
    assert whole.shape == (2, 9, 2)
    per_window = [keras.ops.convert_to_numpy(model({"features": x[:, n:n + 4]})["va"]) for n in range(6)]
    for t in range(9):
        mine = [per_window[n][:, t - n] for n in range(6) if n <= t < n + 4]
        np.testing.assert_allclose(whole[:, t], np.mean(mine, axis=0), rtol=1e-4, atol=1e-6)
    assert keras.ops.convert_to_numpy(model({"features": x[:, :2]})["va"]).shape == (2, 2, 2)  # shorter than L


def test_a_stage_net_has_only_its_head_and_the_same_trunk():
    expression = CRUNet("tiny", image_size=32, width_divisor=16, heads=("expression",))
    va = CRUNet("tiny", image_size=32, width_divisor=16, heads=("va",))
    assert set(expression.output) == {"expression"} and set(va.output) == {"va"}
    # the trunk is the same: the two differ by the heads' dense layers only (512/16 = 32-d features)
    assert expression.count_params() - va.count_params() == dense(32, 7) - dense(32, 2)


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="variant"):
        CRUNet("medium", image_size=32)
    with pytest.raises(ConfigError, match="units"):
        CRUNet("tiny", image_size=32, units=(1, 1, 1))
    with pytest.raises(ConfigError, match="heads"):
        CRUNet("tiny", image_size=32, width_divisor=16, heads=("va", "va"))
    with pytest.raises(ConfigError, match="memory"):
        MemoryNetwork(memory=0)
    with pytest.raises(ConfigError, match="feature_units"):
        MemoryNetwork(frame_input="image", image_size=32, width_divisor=16, feature_units=512)


def test_image_model_equals_features_model_on_cnn_features():
    """Issue #15 item 7: the composed model on frames == the trained features model on the CNN's features of the
    same frames, computed separately (the CNN alone, then the BDLSTM alone)."""
    from tfaffect.models.mmnet import image_model

    cnn_args = {"variant": "tiny", "image_size": 32, "width_divisor": 16, "units": [1, 1, 2, 1]}
    keras.utils.set_random_seed(3)
    cnn = CRUNet(**cnn_args, heads=("va",))
    width = cnn.get_layer("features").output.shape[-1]
    memory = MemoryNetwork(memory=4, window=3, feature_units=width, frame_input="features", **cnn_args)
    whole = image_model(cnn, memory)
    frames = np.random.default_rng(0).integers(0, 256, (2, 5, 32, 32, 3), dtype=np.uint8)
    pooled = keras.Model(cnn.input, cnn.get_layer("features").output)
    features = np.asarray(pooled({"image": frames.reshape(10, 32, 32, 3)})).reshape(2, 5, width)
    expected = np.asarray(memory({"features": features})["va"])
    got = np.asarray(whole({"image": frames})["va"])
    assert got.shape == (2, 5, 2)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    with pytest.raises(ConfigError):
        image_model(cnn, whole)
    # whole faces in, the centre crop cut inside at the pipeline's offset (stored - crop) // 2 = 4 of 41
    faces = np.random.default_rng(5).integers(0, 256, (2, 5, 41, 41, 3), dtype=np.uint8)
    faces[:, :, 4:36, 4:36] = frames
    np.testing.assert_allclose(np.asarray(image_model(cnn, memory, face_size=41)({"image": faces})["va"]), expected,
                               atol=1e-5)
    with pytest.raises(ConfigError, match="face_size"):
        image_model(cnn, memory, face_size=31)


def test_image_model_of_two_cnns_concatenates_their_features_in_order():
    """Table 3 "FT + No FT": two CNNs' features concatenated per frame, in the order given."""
    from tfaffect.models.mmnet import image_model

    cnn_args = {"variant": "tiny", "image_size": 32, "width_divisor": 16, "units": [1, 1, 2, 1]}
    keras.utils.set_random_seed(4)
    cnns = [CRUNet(**cnn_args, heads=("va",)), CRUNet(**cnn_args, heads=("expression",))]
    width = cnns[0].get_layer("features").output.shape[-1]
    memory = MemoryNetwork(memory=4, window=3, feature_units=2 * width, frame_input="features", **cnn_args)
    frames = np.random.default_rng(1).integers(0, 256, (1, 4, 32, 32, 3), dtype=np.uint8)
    features = np.concatenate([np.asarray(keras.Model(c.input, c.get_layer("features").output)(
        {"image": frames[0]})) for c in cnns], axis=-1)[None]
    expected = np.asarray(memory({"features": features})["va"])
    np.testing.assert_allclose(np.asarray(image_model(cnns, memory)({"image": frames})["va"]), expected, atol=1e-5)
    swapped = np.asarray(image_model(cnns[::-1], memory)({"image": frames})["va"])
    assert np.abs(swapped - expected).max() > 1e-6
