"""Full-size parameter counts and layer lists, derived by hand from the papers' tables (never from the code).

Formulas (count_params counts every weight, trainable or not):
  conv k x k, c_in -> c_out:  k*k*c_in*c_out (+ c_out with bias)
  batch norm over c channels: 4*c (gamma, beta, moving mean, moving variance)
  dense in -> out:            in*out + out
  Keras 3 GRU (reset_after=True): 3*(in*u + u*u + 2u) (separate input and recurrent biases)
  Keras LSTM:                 4*(in*u + u*u + u); with peepholes + 3u (diagonal i, f, o)
"""

import math

import keras
import pytest

from tfaffect.models import AffWildCNN, AffWildNet, CNNM, build_backbone
from tfaffect.models.affwild import recurrent_layer


def conv(k, c_in, c_out, bias=True):
    return k * k * c_in * c_out + (c_out if bias else 0)


def bn(c):
    return 4 * c


def dense(n_in, n_out):
    return n_in * n_out + n_out


def gru(n_in, u):
    return 3 * (n_in * u + u * u + 2 * u)


def lstm(n_in, u, peepholes=False):
    return 4 * (n_in * u + u * u + u) + (3 * u if peepholes else 0)


# Kollias 2019, Table 7: (number of 3x3 convs, channels) per block; each block ends in a 2x2/2 max pool.
TABLE_7_BLOCKS = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]


def vgg16_conv_params():
    total, c_in = 0, 3
    for n_convs, channels in TABLE_7_BLOCKS:
        for _ in range(n_convs):
            total += conv(3, c_in, channels)
            c_in = channels
    return total


# He et al. 2016, Table 1, ResNet-50: stem 7x7/2 64 + 3x3/2 max pool; stages of bottleneck units
# (1x1 f, 3x3 f, 1x1 4f), (f, units) = (64, 3), (128, 4), (256, 6), (512, 3); the first unit of each
# stage has a 1x1 projection shortcut. keras.applications uses conv biases and batch norm everywhere.
RESNET50_STAGES = [(64, 3), (128, 4), (256, 6), (512, 3)]


def resnet50_conv_params():
    total = conv(7, 3, 64) + bn(64)
    c_in = 64
    for f, units in RESNET50_STAGES:
        for unit in range(units):
            if unit == 0:
                total += conv(1, c_in, 4 * f) + bn(4 * f)
            total += conv(1, c_in, f) + bn(f) + conv(3, f, f) + bn(f) + conv(1, f, 4 * f) + bn(4 * f)
            c_in = 4 * f
    return total


VGG_FLAT_96 = 3 * 3 * 512  # 96 / 2^5 = 3 after the five pools of Table 7
LANDMARKS = 68 * 2  # Kollias 2019, section 4.2.1.2


def test_hand_derivations_agree_with_the_known_totals():
    # The brief's reference numbers for keras.applications (include_top=False), as an arithmetic check.
    assert vgg16_conv_params() == 14_714_688
    assert resnet50_conv_params() == 23_587_712


@pytest.mark.parametrize("name", ["vgg16", "vggface"])
def test_vgg_conv_part_matches_table_7(name):
    backbone = build_backbone(name, 96)
    convs = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)]
    pools = [layer for layer in backbone.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    expected = [channels for n_convs, channels in TABLE_7_BLOCKS for _ in range(n_convs)]
    assert [layer.filters for layer in convs] == expected
    assert all(tuple(layer.kernel_size) == (3, 3) and tuple(layer.strides) == (1, 1) and layer.padding == "same"
               and layer.activation is keras.activations.relu for layer in convs)
    assert len(pools) == 5
    assert all(tuple(p.pool_size) == (2, 2) and tuple(p.strides) == (2, 2) for p in pools)
    assert backbone.count_params() == vgg16_conv_params()
    assert tuple(backbone.output.shape) == (None, VGG_FLAT_96)


def test_resnet50_conv_part_is_standard_resnet50_v1():
    backbone = build_backbone("resnet50", 96)
    convs = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 1 + sum(3 * units + 1 for _, units in RESNET50_STAGES)  # 53: 49 + 4 projections
    strided = sorted(layer.name for layer in convs if tuple(layer.strides) == (2, 2))
    # Keras (Caffe) v1 layout: stride 2 in the stem and in the first unit's 1x1 conv + shortcut of stages 3-5.
    assert strided == sorted(["conv1_conv"] + [f"conv{s}_block1_{i}_conv" for s in (3, 4, 5) for i in (0, 1)])
    assert backbone.count_params() == resnet50_conv_params()
    assert tuple(backbone.output.shape) == (None, 2048)


def test_cnn_m_full_size_matches_table_4():
    model = CNNM()

    def valid(n, k, s):
        return (n - k) // s + 1

    def same(n, s):
        return math.ceil(n / s)

    side = valid(96, 7, 2)  # conv 1: 45
    assert model.get_layer("conv1").output.shape[1:] == (side, side, 96)
    side = valid(side, 3, 2)  # pool 1: 22
    assert model.get_layer("pool1").output.shape[1:] == (side, side, 96)
    side = same(side, 2)  # conv 2: 11
    assert model.get_layer("conv2").output.shape[1:] == (side, side, 256)
    side = same(side, 2)  # pool 2: 6
    assert model.get_layer("pool2").output.shape[1:] == (side, side, 256)
    assert model.get_layer("conv5").output.shape[1:] == (side, side, 512)
    side = same(side, 2)  # pool 5: 3
    assert side == 3
    flat = side * side * 512
    expected = (conv(7, 3, 96, bias=False) + bn(96) + conv(5, 96, 256, bias=False) + bn(256)
                + conv(3, 256, 512, bias=False) + bn(512) + 2 * (conv(3, 512, 512, bias=False) + bn(512))
                + dense(flat, 4096) + dense(4096, 2))
    assert model.count_params() == expected


@pytest.mark.parametrize("landmarks", [False, True])
def test_vggface_cnn_full_size(landmarks):
    model = AffWildCNN(backbone="vggface", landmarks=landmarks)
    first_in = VGG_FLAT_96 + (LANDMARKS if landmarks else 0)
    expected = vgg16_conv_params() + dense(first_in, 4096) + dense(4096, 2048) + dense(2048, 2)
    assert model.count_params() == expected


def test_resnet50_cnn_full_size():
    model = AffWildCNN(backbone="resnet50", landmarks=True)
    expected = resnet50_conv_params() + dense(2048 + LANDMARKS, 1500) + dense(1500, 256) + dense(256, 2)
    assert model.count_params() == expected


@pytest.mark.parametrize("landmarks", [False, True])
def test_affwildnet_vggface_gru_full_size(landmarks):
    model = AffWildNet(backbone="vggface", cell="gru", landmarks=landmarks)
    fc_in = VGG_FLAT_96 + (LANDMARKS if landmarks else 0)
    expected = (vgg16_conv_params() + dense(fc_in, 4096)  # Table 8 blocks 1-2
                + gru(4096, 128) + gru(128, 128)  # blocks 3-4
                + dense(128, 2))  # block 5
    assert model.count_params() == expected
    if not landmarks:
        assert expected == 35_315_266  # the sum written out, as a check of the arithmetic above


def test_affwildnet_resnet50_gru_full_size():
    model = AffWildNet(backbone="resnet50", cell="gru")
    expected = resnet50_conv_params() + dense(2048, 1500) + gru(1500, 128) + gru(128, 128) + dense(128, 2)
    assert model.count_params() == expected


@pytest.mark.parametrize("cell, kwargs, per_layer", [
    ("gru", {}, lambda n, u: gru(n, u)),
    ("gru", {"reset_after": False}, lambda n, u: 3 * (n * u + u * u + u)),
    ("lstm", {}, lambda n, u: lstm(n, u, peepholes=True)),
    ("lstm", {"peepholes": False}, lambda n, u: lstm(n, u)),
])
@pytest.mark.parametrize("units", [100, 128, 150])  # Kollias 2019, Table 14
def test_recurrent_layer_counts(cell, kwargs, per_layer, units):
    layer = recurrent_layer(cell, units, **kwargs)
    layer(keras.Input((None, 24)))
    assert layer.count_params() == per_layer(24, units)


def test_three_recurrent_layers_stack():
    model = AffWildNet(backbone="vgg16", num_layers=3, units=150, image_size=32, fc_units=(24,))
    assert [model.get_layer(f"rnn{i}").count_params() for i in (1, 2, 3)] == [gru(24, 150)] + 2 * [gru(150, 150)]
