"""Behaviour of the Kollias 2019 models: time folding, landmarks, dropout placement, inits, weights, training."""

import dataclasses
import math

import h5py
import keras
import numpy as np
import pytest
from scipy import stats

from tfaffect.errors import ConfigError, MissingResourceError
from tfaffect.models import AffWildCNN, AffWildNet, CNNM, build_backbone, build_model, example_inputs


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def tiny_affwildnet():
    return build_model("affwildnet_vggface_gru", tiny=True, landmarks=True)


def test_sequences_do_not_mix_across_batch_and_time(tiny_affwildnet):
    """Perturbing frame 2 of sequence 0 changes only that sequence's outputs from time 2 on (causal GRU).

    A wrong fold/unfold (mixing the batch and time axes) would leak the change into sequence 1 or
    into earlier times.
    """
    x = example_inputs(tiny_affwildnet, batch_size=2, time_steps=5, seed=3)
    before = _np(tiny_affwildnet(x, training=False)["va"])
    x["image"][0, 2] = 255 - x["image"][0, 2]
    after = _np(tiny_affwildnet(x, training=False)["va"])
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[0, :2], before[0, :2])
    assert np.all(np.abs(after[0, 2:] - before[0, 2:]).max(axis=-1) > 0)


def test_variable_time_length_in_traced_graph(tiny_affwildnet):
    """predict() traces the model; T=5 after T=3 must give [B, 5, 2] whose first 3 steps equal the T=3 run."""
    x = example_inputs(tiny_affwildnet, batch_size=2, time_steps=5, seed=4)
    long = tiny_affwildnet.predict(x, verbose=0)["va"]
    short = tiny_affwildnet.predict({key: value[:, :3] for key, value in x.items()}, verbose=0)["va"]
    assert long.shape == (2, 5, 2) and short.shape == (2, 3, 2)
    np.testing.assert_allclose(long[:, :3], short, rtol=1e-5, atol=1e-6)


def test_batch_order_is_preserved():
    model = build_model("resnet50_cnn", tiny=True)
    x = example_inputs(model, batch_size=3, seed=5)
    y = _np(model(x, training=False)["va"])
    y_reversed = _np(model({"image": x["image"][::-1]}, training=False)["va"])
    np.testing.assert_allclose(y_reversed, y[::-1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("build", [
    lambda: AffWildCNN(backbone="vggface", image_size=32, fc_units=(16, 8), landmarks=True),
    lambda: AffWildNet(backbone="vggface", image_size=32, fc_units=(16,), units=8, landmarks=True),
])
def test_landmarks_enter_the_first_fc_layer(build):
    model = build()
    assert model.get_layer("fc1").kernel.shape[0] == 512 + 68 * 2  # 1x1x512 pool-5 output at 32x32 + 68x2
    x = example_inputs(model, seed=6)
    before = _np(model(x, training=False)["va"])
    x["landmarks"] = 1.0 - x["landmarks"]
    assert not np.allclose(_np(model(x, training=False)["va"]), before)


def test_dropout_placement():
    """Table 8: dropout after FC 1 and RNN layer 1 only; CNN-only: after the first FC only (original code)."""
    def dropouts(model):
        return [(layer.name, layer.rate) for layer in model.layers if isinstance(layer, keras.layers.Dropout)]

    assert dropouts(AffWildNet(image_size=32, fc_units=(16,), units=8)) == [("fc1_dropout", 0.5),
                                                                            ("rnn1_dropout", 0.5)]
    assert dropouts(AffWildNet(image_size=32, fc_units=(), units=8, num_layers=3)) == [("rnn1_dropout", 0.5),
                                                                                      ("rnn2_dropout", 0.5)]
    assert dropouts(AffWildCNN(image_size=32, fc_units=(16, 8))) == [("fc1_dropout", 0.5)]


def test_outputs_are_linear_and_recurrent_options_reach_the_layers():
    model = AffWildNet(image_size=32, fc_units=(16,), units=8, use_cudnn=False, reset_after=False)
    assert model.get_layer("va").activation is keras.activations.linear
    assert model.get_layer("rnn1").use_cudnn is False and model.get_layer("rnn2").cell.reset_after is False
    assert model.get_config()["use_cudnn"] is False


def test_cnn_m_fc_init_is_truncated_normal_variance_0_1_bias_1():
    model = CNNM(image_size=32, fc_units=512)
    stddev = math.sqrt(0.1)  # section 4.1.1: variance 0.1
    expected_std = stddev * stats.truncnorm(-2, 2).std()  # TF/Keras truncate at two standard deviations
    for name in ("fc1", "va"):
        kernel, bias = (_np(w) for w in model.get_layer(name).weights)
        assert np.abs(kernel).max() <= 2 * stddev
        np.testing.assert_array_equal(bias, np.ones_like(bias))
    kernel = _np(model.get_layer("fc1").kernel)  # 512 x 512 samples
    assert kernel.std() == pytest.approx(expected_std, rel=0.02)
    assert abs(kernel.mean()) < 0.01


def test_cnn_m_synthetic_options_glorot_fc_and_bn_momentum_round_trip():
    model = CNNM(image_size=32, fc_units=64, fc_init="glorot", bn_momentum=0.9)  # the SynthAffect overlay
    for name in ("fc1", "va"):
        np.testing.assert_array_equal(_np(model.get_layer(name).bias), 0.0)
        assert np.abs(_np(model.get_layer(name).kernel)).max() < 0.5
    assert all(model.get_layer(f"bn{i}").momentum == 0.9 for i in range(1, 6))
    config = model.get_config()
    assert config["fc_init"] == "glorot" and config["bn_momentum"] == 0.9
    assert CNNM.from_config(config).get_layer("bn1").momentum == 0.9
    assert CNNM(image_size=32, fc_units=8).get_layer("bn1").momentum == 0.99  # Keras's default kept
    with pytest.raises(ConfigError):
        CNNM(image_size=32, fc_init="he")
    with pytest.raises(ConfigError):
        CNNM(image_size=32, bn_momentum=1.0)


@pytest.mark.parametrize("kwargs", [
    {"backbone": "alexnet"}, {"cell": "rnn"}, {"num_layers": 0}, {"dropout": 1.0}, {"fc_units": (0,)},
    {"use_cudnn": "yes"}, {"image_size": 16},
])
def test_bad_arguments_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        AffWildNet(**{"image_size": 32, "fc_units": (4,), "units": 4, **kwargs})


def test_cnn_m_rejects_too_small_images():
    with pytest.raises(ConfigError, match="11"):
        CNNM(image_size=10)


def test_backbone_weights_from_a_local_file(tmp_path):
    source = AffWildCNN(backbone="vgg16", image_size=32, fc_units=(4,))
    path = tmp_path / "vgg16.weights.h5"
    source.get_layer("vgg16").save_weights(path)
    model = AffWildCNN(backbone="vgg16", image_size=32, fc_units=(4,), backbone_weights=str(path))
    for expected, got in zip(source.get_layer("vgg16").weights, model.get_layer("vgg16").weights):
        np.testing.assert_array_equal(_np(got), _np(expected))
    assert model.get_config()["backbone_weights"] is None


def test_missing_or_unreadable_weight_files(tmp_path):
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(MissingResourceError, match="nope.weights.h5"):
        build_backbone("vggface", 32, missing)
    garbage = tmp_path / "garbage.weights.h5"
    garbage.write_text("not hdf5")
    with pytest.raises(ConfigError, match="garbage.weights.h5"):
        build_backbone("vggface", 32, garbage)


@pytest.mark.parametrize("name, file_name", [
    ("vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("resnet50", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
])
def test_imagenet_offline_without_cache_names_the_file(name, file_name, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(MissingResourceError, match=file_name) as error:
        build_backbone(name, 32, "imagenet")
    assert isinstance(error.value, FileNotFoundError)


def test_vggface_has_no_imagenet_weights():
    with pytest.raises(ConfigError, match="VGG-16 layer layout"):
        build_backbone("vggface", 32, "imagenet")


def test_imagenet_weights_are_read_from_the_keras_cache(tmp_path, monkeypatch):
    """A legacy keras.applications .h5 (written here with h5py, layer by layer) in $KERAS_HOME/models is loaded."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    rng = np.random.default_rng(7)
    names, values, c_in = [], {}, 3
    for block, (n_convs, channels) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)], start=1):
        for index in range(1, n_convs + 1):
            name = f"block{block}_conv{index}"
            names.append(name)
            values[name] = (rng.standard_normal((3, 3, c_in, channels), dtype=np.float32),
                            rng.standard_normal(channels, dtype=np.float32))
            c_in = channels
    with h5py.File(tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "w") as f:
        f.attrs["layer_names"] = [n.encode() for n in names]
        for name in names:
            group = f.create_group(name)
            group.attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
            group.create_dataset(f"{name}/kernel:0", data=values[name][0])
            group.create_dataset(f"{name}/bias:0", data=values[name][1])
    backbone = build_backbone("vgg16", 32, "imagenet")
    for name in names:
        kernel, bias = (_np(w) for w in backbone.get_layer(name).weights)
        np.testing.assert_array_equal(kernel, values[name][0])
        np.testing.assert_array_equal(bias, values[name][1])


def _training_loss():
    """The CCC loss of Kollias 2019 eq. 3 when tfaffect.losses exists (written in parallel), else MSE."""
    try:
        from tfaffect.losses import CCCLoss
    except ImportError:
        return "mse"
    return CCCLoss()


@pytest.mark.parametrize("name", ["affwildnet_vggface_gru", "cnn_m"])
def test_one_fit_step_gives_finite_loss_and_moves_the_weights(name):
    keras.utils.set_random_seed(0)
    model = build_model(name, tiny=True)
    x = example_inputs(model, batch_size=4, time_steps=4, seed=8)
    batch_shape = x["image"].shape[:-3]
    rng = np.random.default_rng(9)
    y = {"va": rng.uniform(-1, 1, batch_shape + (2,)).astype(np.float32)}
    weight = {"va": np.ones(batch_shape, np.float32)}
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss={"va": _training_loss()}, jit_compile=False)
    before = [_np(w).copy() for w in model.trainable_weights]
    history = model.fit(x, y, sample_weight=weight, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [not np.array_equal(b, _np(w)) for b, w in zip(before, model.trainable_weights)]
    assert all(changed)


def test_cnn_m_backbone_weights_transfer_the_conv_part_only_and_freeze_keeps_it(tmp_path):
    """Kollias 2019 section 4.1.1: the pretrained CNN-M's conv and pooling parts are transferred; either
    only the FC layers are fine-tuned (freeze="backbone") or the whole network."""
    from tfaffect.errors import DataError, MissingResourceError
    from tfaffect.training import registry

    source = CNNM(image_size=32, fc_units=16, fc_init="glorot")
    source.save(tmp_path / "source.keras")
    source.save_weights(tmp_path / "source.weights.h5")
    recipe_class = registry.find("cnn_m_baseline")
    for image_size in (32, 64):  # the conv part does not depend on the input side
        for freeze in ("none", "backbone"):
            recipe = recipe_class(image_size=image_size, backbone_weights=str(tmp_path / "source.keras"),
                                  freeze=freeze)
            model = recipe.build_model()
            for name in ("conv1", "bn1", "conv5", "bn5"):
                for mine, theirs in zip(model.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
                    np.testing.assert_array_equal(mine, theirs)
                assert model.get_layer(name).trainable is (freeze == "none")
            # the FC layers are the recipe's own (4096 units, the paper's initialisation: biases 1)
            assert model.get_layer("fc1").get_weights()[0].shape[1] == 4096
            assert model.get_layer("fc1").trainable
            np.testing.assert_array_equal(model.get_layer("va").get_weights()[1], 1.0)
    # all-but-fc: the same for CNN-M; for AffWildNet the recurrent layers are frozen too
    only_fc = recipe_class(image_size=32, freeze="all-but-fc").build_model()
    assert {layer.name for layer in only_fc.layers if layer.weights and layer.trainable} == {"fc1", "va"}
    flagship = registry.find("affwildnet")(image_size=32, units=4, landmarks=False, freeze="all-but-fc").build_model()
    assert {layer.name for layer in flagship.layers if layer.weights and layer.trainable} == {"fc1", "va"}
    fresh = recipe_class(image_size=32).build_model()
    assert not np.array_equal(fresh.get_layer("conv1").get_weights()[0], source.get_layer("conv1").get_weights()[0])
    with pytest.raises(MissingResourceError, match="nothere.keras.*random initialisation"):
        recipe_class(image_size=32, backbone_weights=str(tmp_path / "nothere.keras")).build_model()
    with pytest.raises(DataError, match="source.weights.h5.*.keras"):
        recipe_class(image_size=32, backbone_weights=str(tmp_path / "source.weights.h5")).build_model()
    other = keras.Input((4,), name="x")
    keras.Model(other, keras.layers.Dense(2, name="conv1")(other)).save(tmp_path / "other.keras")
    with pytest.raises(DataError, match="other.keras.*missing layers bn1"):
        recipe_class(image_size=32, backbone_weights=str(tmp_path / "other.keras")).build_model()


def test_output_init_zeros_starts_a_frame_cnn_with_a_zero_output_kernel_only():
    """output_init (issue #10): 'zeros' starts a frame CNN's output kernel at zero (no CCC blow-up from random
    outputs; the SynthAffect overlays of the images-only CNNs use it); Keras's default otherwise, and AffWildNet's
    output layer always keeps it."""
    from tfaffect.training import registry

    cnn = registry.find("affwild_cnn")(image_size=32, landmarks=False)
    assert np.abs(cnn.build_model().get_layer("va").get_weights()[0]).min() > 0  # Keras's default
    zeros = dataclasses.replace(cnn, output_init="zeros").build_model()
    np.testing.assert_array_equal(zeros.get_layer("va").get_weights()[0], 0.0)
    flagship = registry.find("affwildnet")(image_size=32, units=4, landmarks=False, output_init="zeros")
    assert np.abs(flagship.build_model().get_layer("va").get_weights()[0]).min() > 0
    assert registry.find("affwild_cnn").configure({"row": "Without Landmarks"}).output_init == "zeros"
    assert registry.find("affwild_cnn").configure({}).output_init == "glorot"
    assert registry.find("affwildnet_released").configure({}).output_init == "zeros"
