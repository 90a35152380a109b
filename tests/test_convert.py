"""`tfaffect convert`: the released AffWildNet TF1 checkpoints, keras-vggface VGG16 weights and Do 2020's face model.

The must-show: the ORIGINAL TF1 graphs (tests/tf1_affwildnet.py: VGG-Face-GRU, and ResNet-GRU with
slim's resnet_v1_50 written in tf.compat.v1 ops under slim's variable names; TF1's own GRUCell)
with random weights are run on frames and saved as TF1 checkpoints; the converted Keras models give
the same valence/arousal to < 1e-5, and so do the SavedModels `convert --out` exports, loaded in a
fresh process with TensorFlow alone (``serve`` on the sequence and ``step`` frame by frame).
"""

from __future__ import annotations

import json
import re
import shlex

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from export_helpers import load_in_fresh_process
from tf1_affwildnet import (build_resnet_gru, build_vggface_gru, initialize, random_resnet_values, random_values,
                            rnn_cell_impl)
from tfaffect import cli
from tfaffect.convert.affwildnet_tf1 import affwildnet_tf1_variable_names, convert_affwildnet_tf1, tf1_gru_to_keras
from tfaffect.convert.stat_lstm import convert_stat_lstm_face
from tfaffect.convert.vggface import VGG_CONV_LAYERS, VGGFACE_H5_LAYERS, load_vggface_h5
from tfaffect.errors import ConfigError, DataError, MissingResourceError
from tfaffect.models.backbones import build_backbone, slim_resnet_v1_50_convs
from tfaffect.models.stat_lstm import FaceFeatureModel, load_face_weights

# TF1's legacy GRUCell warns that it is deprecated each time the original graph is built.
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated and will be removed:UserWarning")

v1 = tf.compat.v1
BATCH, SEQ_LEN, SIZE = 2, 4, 96
RESNET_SIZE = 64  # small frames for speed; the whole 50-layer structure still runs (pooled to 2 x 2 at the end)
TOLERANCE = 1e-5  # issue #5: max abs difference from the original graph


def write_tf1_checkpoint(prefix, arrays: dict) -> str:
    """A TF1 ``Saver`` checkpoint holding ``arrays`` under their names; returns its prefix."""
    with tf.Graph().as_default():
        variables = {name: v1.Variable(value, name=name.replace("/", "_")) for name, value in arrays.items()}
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            return v1.train.Saver(variables).save(session, str(prefix))


# --------------------------------------------------------------------------------------------------
# The GRU mapping alone, against TF1's own GRUCell.

def tf1_gru_sequence(inputs: np.ndarray, units: int, rng: np.random.Generator):
    """Run TF1's GRUCell over ``inputs`` [B, T, D] with random weights; return (outputs, {name: value})."""
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, inputs.shape)
        outputs, _ = v1.nn.dynamic_rnn(rnn_cell_impl.GRUCell(units), x, dtype=tf.float32)
        values = {variable: rng.normal(0.0, 0.7, tuple(variable.shape)).astype(np.float32)
                  for variable in v1.global_variables()}
        with v1.Session() as session:
            initialize(session, values)
            result = session.run(outputs, {x: inputs})
    return result, {variable.name.split(":")[0]: value for variable, value in values.items()}


def keras_gru(inputs, kernel, recurrent_kernel, bias):
    layer = keras.layers.GRU(kernel.shape[1] // 3, return_sequences=True, reset_after=False)
    layer.build(inputs.shape)
    layer.set_weights([kernel, recurrent_kernel, bias])
    return keras.ops.convert_to_numpy(layer(inputs))


def test_tf1_gru_cell_equals_keras_gru_reset_after_false():
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(2, 6, 5)).astype(np.float32)
    expected, values = tf1_gru_sequence(inputs, 3, rng)
    cell = "rnn/gru_cell"
    assert sorted(values) == [f"{cell}/candidate/bias", f"{cell}/candidate/kernel",
                              f"{cell}/gates/bias", f"{cell}/gates/kernel"]
    converted = tf1_gru_to_keras(values[f"{cell}/gates/kernel"], values[f"{cell}/gates/bias"],
                                 values[f"{cell}/candidate/kernel"], values[f"{cell}/candidate/bias"], 5)
    np.testing.assert_allclose(keras_gru(inputs, *converted), expected, atol=1e-6)

    # Negative control: TF1's [r, u] taken as Keras's [z, r] without swapping gives other numbers,
    # so the test above can tell the two orders apart.
    gates, candidate = values[f"{cell}/gates/kernel"], values[f"{cell}/candidate/kernel"]
    stacked = np.concatenate([gates, candidate], axis=1)
    unswapped = (stacked[:5], stacked[5:], np.concatenate([values[f"{cell}/gates/bias"],
                                                            values[f"{cell}/candidate/bias"]]))
    assert np.max(np.abs(keras_gru(inputs, *unswapped) - expected)) > 1e-2


# --------------------------------------------------------------------------------------------------
# The whole released network.

def run_original(build, randomize, frames, directory, features=None):
    """Build an original graph for ``frames`` [B, T, S, S, 3] uint8, give it random weights, run it and save it.

    Returns ``{"prefix", "frames", "output" [B, T, 2], "names" (sorted variable names), "features"}``,
    ``features`` being the value of the graph tensor named ``features`` (if given) per frame.
    """
    batch, time, size = frames.shape[:3]
    graph, images, prediction, _ = build(batch, time, size)
    scaled = (frames.astype(np.float32) - 128.0) / 128.0  # original eval_script.py, before the network
    with graph.as_default(), v1.Session(graph=graph) as session:
        values = randomize(v1.global_variables(), np.random.default_rng(0))
        initialize(session, values)
        fetches = [prediction] + ([graph.get_tensor_by_name(features)] if features else [])
        results = session.run(fetches, {images: scaled.reshape((batch * time,) + scaled.shape[2:])})
        prefix = v1.train.Saver().save(session, str(directory / "model.ckpt"), global_step=0)
        names = sorted(variable.name.split(":")[0] for variable in values)
    return {"prefix": prefix, "frames": frames, "output": results[0].reshape(batch, time, 2), "names": names,
            "features": results[1].reshape(batch * time, -1) if features else None}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """The original VGG-Face-GRU graph with random weights on random frames: (prefix, frames, output, names)."""
    frames = np.random.default_rng(0).integers(0, 256, size=(BATCH, SEQ_LEN, SIZE, SIZE, 3), dtype=np.uint8)
    run = run_original(build_vggface_gru, random_values, frames, tmp_path_factory.mktemp("tf1"))
    return run["prefix"], run["frames"], run["output"], run["names"]


@pytest.fixture(scope="module")
def converted(released, tmp_path_factory):
    """Converted and exported through the command line (backbone detected from the names): (model.keras, folder)."""
    out = tmp_path_factory.mktemp("converted") / "affwildnet"
    assert cli.main(["convert", "affwildnet-tf1", released[0], "--out", str(out), "--no-tflite"]) == 0
    return keras.saving.load_model(out / "model.keras"), out


def smooth_frames(rng, batch, time, size):
    """uint8 frames [B, T, S, S, 3] with image-like structure: 4 x 4 random colours upsampled bilinearly.

    With white noise, globally pooled ResNet features hardly differ between frames; these differ by ~15%.
    """
    coarse = rng.integers(0, 256, (batch * time, 4, 4, 3)).astype(np.float32)
    frames = np.clip(np.round(tf.image.resize(coarse, [size, size]).numpy()), 0, 255).astype(np.uint8)
    return frames.reshape(batch, time, size, size, 3)


@pytest.fixture(scope="module")
def released_resnet(tmp_path_factory):
    """The original ResNet-GRU graph (slim resnet_v1_50 + 2 x GRU 128) with random weights, run and saved."""
    frames = smooth_frames(np.random.default_rng(1), BATCH, SEQ_LEN, RESNET_SIZE)
    return run_original(build_resnet_gru, random_resnet_values, frames, tmp_path_factory.mktemp("tf1_resnet"),
                        features="resnet_v1_50/Mean:0")


@pytest.fixture(scope="module")
def converted_resnet(released_resnet, tmp_path_factory):
    """The ResNet-GRU converted (backbone detected) and exported: (model, export folder)."""
    out = tmp_path_factory.mktemp("converted_resnet") / "resnet_gru"
    model = convert_affwildnet_tf1(released_resnet["prefix"], image_size=RESNET_SIZE, out=out, tflite=False)
    return model, out


def predict(model, frames):
    return keras.ops.convert_to_numpy(model({"image": frames}, training=False)["va"])


def test_converted_model_reproduces_the_original_graph(released, converted):
    _, frames, expected, _ = released
    restored = converted[0]  # the exported model.keras
    assert restored.get_config()["reset_after"] is False
    got = predict(restored, frames)
    # The comparison means something only if the output depends on the frames and the time step.
    assert np.std(expected) > 0.05
    assert np.max(np.abs(np.diff(expected, axis=1))) > 1e-3
    assert np.max(np.abs(got - expected)) < TOLERANCE


def test_converted_resnet_gru_reproduces_the_original_graph(released_resnet, converted_resnet):
    model = converted_resnet[0]
    frames, expected = released_resnet["frames"], released_resnet["output"]
    assert model.get_config()["backbone"] == "resnet_v1_50" and model.get_config()["fc_units"] == []
    # The slim conv part alone: pooled features per frame, which differ between frames by O(0.1).
    scaled = (frames.reshape((-1, RESNET_SIZE, RESNET_SIZE, 3)).astype(np.float32) - 128.0) / 128.0
    features = keras.ops.convert_to_numpy(model.get_layer("resnet_v1_50")(scaled, training=False))
    assert features.shape == (BATCH * SEQ_LEN, 2048)
    assert np.mean(np.std(released_resnet["features"], axis=0)) > 0.05
    assert np.max(np.abs(features - released_resnet["features"])) < TOLERANCE
    got = predict(model, frames)
    assert np.max(np.abs(np.diff(expected, axis=1))) > 1e-2  # the GRU state matters
    assert np.max(np.abs(expected[0] - expected[1])) > 1e-3  # the frames matter
    assert np.max(np.abs(got - expected)) < TOLERANCE


def test_exports_load_with_tensorflow_alone_and_match_the_original(released, converted, released_resnet,
                                                                    converted_resnet, tmp_path):
    """``serve`` on the whole sequence and ``step`` frame by frame, in a process without tfaffect or keras."""
    jobs, expected = [], []
    for name, folder, frames, output in (("vgg", converted[1], released[1], released[2]),
                                         ("resnet", converted_resnet[1], released_resnet["frames"],
                                          released_resnet["output"])):
        np.savez(tmp_path / f"{name}_in.npz", frames_seq=frames)
        jobs.append({"saved_model": str(folder), "inputs": str(tmp_path / f"{name}_in.npz"),
                     "outputs": str(tmp_path / f"{name}_out.npz")})
        expected.append(output)
    report = load_in_fresh_process(tmp_path, jobs)
    assert report["blocked_imports"] == []
    for job, output in zip(jobs, expected):
        assert report["signatures"][job["saved_model"]] == ["initial_state", "metadata", "per_frame", "serve",
                                                            "serving_default", "step"]
        assert report["metadata"][job["saved_model"]]["face_crop"]["colour_order"] == "RGB"  # read by TF alone
        results = np.load(job["outputs"])
        for mode in ("serve", "step"):
            for index, key in enumerate(("valence", "arousal")):
                np.testing.assert_allclose(results[f"{mode}/seq/{key}"], output[..., index], rtol=0,
                                           atol=TOLERANCE, err_msg=f"{job['saved_model']} {mode} {key}")


def test_resnet_export_metadata_names_the_origin_and_every_variable(released_resnet, converted_resnet):
    metadata = json.loads((converted_resnet[1] / "metadata.json").read_text())
    names = [name for name in released_resnet["names"] if name != "global_step"]
    assert sorted(metadata["variable_map"]) == names
    assert sorted(affwildnet_tf1_variable_names(backbone="resnet50")) == names
    assert len(names) == 5 * 53 + 8 + 2  # 53 convs (weights + 4 BatchNorm), 2 GRU cells x 4, output layer
    assert len(slim_resnet_v1_50_convs()) == 53
    assert metadata["variable_map"]["resnet_v1_50/block1/unit_3/bottleneck_v1/conv2/weights"]["to"] == [
        "resnet_v1_50/block1_unit3_conv2/kernel"]
    assert metadata["variable_map"]["resnet_v1_50/conv1/BatchNorm/moving_variance"]["to"] == [
        "resnet_v1_50/conv1_bn/moving_variance"]
    assert metadata["variable_map"]["rnn/weights_output"]["to"] == ["va/kernel"]
    assert metadata["source"]["released_model"] == "ResNet-GRU"
    assert "released AffWildNet ResNet-GRU TF1 checkpoint" in metadata["weights"]["origin"]
    assert metadata["weights"]["checkpoint"] == released_resnet["prefix"]
    assert metadata["skipped_training_state"] == ["global_step"]
    assert metadata["input"]["image_size"] == [RESNET_SIZE, RESNET_SIZE]
    assert metadata["step_unavailable"] is None and metadata["state"]["size"] == 2 * 128
    assert str(RESNET_SIZE) in metadata["input_preprocessing"]["input"]


def test_metadata_records_every_variable_and_the_preprocessing(released, converted):
    names = released[3]
    metadata = json.loads((converted[1] / "metadata.json").read_text())
    assert sorted(metadata["variable_map"]) == [name for name in names if name != "global_step"]
    assert sorted(metadata["variable_map"]) == sorted(affwildnet_tf1_variable_names())
    assert metadata["skipped_training_state"] == ["global_step"]
    assert metadata["source"]["checkpoint"] == released[0]
    assert metadata["source"]["released_model"] == "VGG-Face-GRU"
    assert "released AffWildNet VGG-Face-GRU TF1 checkpoint" in metadata["weights"]["origin"]
    assert (converted[1] / "saved_model.pb").is_file()
    assert metadata["variable_map"]["conv_13/weights"]["to"] == ["vggface/block5_conv3/kernel"]
    assert metadata["variable_map"]["rnn_1/weights_rnn"]["to"] == ["va/kernel"]
    assert "(x - 128) / 128" in metadata["input_preprocessing"]["scaling"]
    assert metadata["input_preprocessing"]["sequence_length"] == 80
    assert metadata["model"]["config"]["fc_units"] == [4096]
    assert not [p.name for p in converted[1].iterdir() if p.name.startswith(".tmp")]


# --------------------------------------------------------------------------------------------------
# Errors.

def test_missing_checkpoint_says_what_to_pass(tmp_path):
    with pytest.raises(MissingResourceError, match="checkpoint prefix"):
        convert_affwildnet_tf1(tmp_path / "model.ckpt-0")


def test_unreadable_checkpoint_names_the_path(tmp_path):
    (tmp_path / "model.ckpt-0.index").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="model.ckpt-0"):
        convert_affwildnet_tf1(tmp_path / "model.ckpt-0")


def test_missing_and_unexpected_variables_are_named(tmp_path):
    prefix = write_tf1_checkpoint(tmp_path / "model.ckpt", {
        "conv_1/weights": np.zeros((3, 3, 3, 64), np.float32), "conv_1/biases": np.zeros(64, np.float32),
        "conv_1/weights/Adam": np.zeros((3, 3, 3, 64), np.float32), "conv_14/weights": np.zeros(3, np.float32)})
    with pytest.raises(DataError) as error:
        convert_affwildnet_tf1(prefix)
    message = str(error.value)
    assert prefix in message
    assert "missing variable(s): conv_2/weights, conv_2/biases" in message
    assert "rnn_1/rnn/multi_rnn_cell/cell_1/gru_cell/candidate/kernel" in message
    assert "unexpected variable(s): conv_14/weights" in message
    assert "Adam" not in message  # optimizer slots are training state, skipped


def test_wrong_backbone_gets_a_hint(tmp_path):
    prefix = write_tf1_checkpoint(tmp_path / "model.ckpt",
                                  {"resnet_v1_50/conv1/weights": np.zeros((7, 7, 3, 64), np.float32)})
    with pytest.raises(DataError, match="looks like the ResNet-GRU checkpoint: pass --backbone resnet50"):
        convert_affwildnet_tf1(prefix, backbone="vggface")
    with pytest.raises(DataError) as error:  # detected as ResNet-GRU: the missing variables are named
        convert_affwildnet_tf1(prefix)
    assert "not the released AffWildNet ResNet-GRU checkpoint: missing variable(s): " \
           "resnet_v1_50/conv1/BatchNorm/gamma" in str(error.value)
    assert "looks like" not in str(error.value)
    with pytest.raises(ConfigError, match="unknown backbone 'resnet'"):
        convert_affwildnet_tf1(prefix, backbone="resnet")
    vgg = write_tf1_checkpoint(tmp_path / "vgg.ckpt", {"conv_1/weights": np.zeros((3, 3, 3, 64), np.float32)})
    with pytest.raises(DataError, match="looks like the VGG-Face-GRU checkpoint: pass --backbone vggface"):
        convert_affwildnet_tf1(vgg, backbone="resnet50")
    with pytest.raises(ConfigError, match="image_size=96"):
        convert_affwildnet_tf1(vgg, image_size=64)


def test_wrong_shape_is_named(tmp_path):
    prefix = write_tf1_checkpoint(tmp_path / "model.ckpt",
                                  {name: np.zeros(1, np.float32) for name in affwildnet_tf1_variable_names()})
    with pytest.raises(DataError, match=r"variable conv_1/weights has shape \[1\], the model expects \[3, 3, 3, 64\]"):
        convert_affwildnet_tf1(prefix)


def test_cli_reports_errors_with_status_1(tmp_path, capsys):
    assert cli.main(["convert", "affwildnet-tf1", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 1
    assert "TF1 checkpoint not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_refuses_an_existing_export_without_overwrite(released, converted, capsys):
    before = (converted[1] / "metadata.json").read_text()
    assert cli.main(["convert", "affwildnet-tf1", released[0], "--out", str(converted[1]), "--no-tflite"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (converted[1] / "metadata.json").read_text() == before


# --------------------------------------------------------------------------------------------------
# keras-vggface VGG16 H5 files.

VGG_SHAPES = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
              (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]


def write_vggface_h5(path, rng, *, full_model=False, skip=(), kernel_shape=None) -> dict:
    """A keras-vggface VGG16 weight file (Keras 2 HDF5 layout) with random weights; returns {layer: (kernel, bias)}."""
    weights = {}
    with h5py.File(path, "w") as handle:
        root = handle.create_group("model_weights") if full_model else handle
        layer_names = []
        for block in range(1, 6):
            for name in [n for n in VGGFACE_H5_LAYERS if n.startswith(f"conv{block}_")] + [f"pool{block}"]:
                layer_names.append(name)
                group = root.create_group(name)
                if name.startswith("pool") or name in skip:
                    group.attrs["weight_names"] = np.array([], dtype="S")
                    continue
                c_in, c_out = VGG_SHAPES[VGGFACE_H5_LAYERS.index(name)]
                shape = kernel_shape or (3, 3, c_in, c_out)
                kernel = rng.normal(size=shape).astype(np.float32)
                bias = rng.normal(size=c_out).astype(np.float32)
                group.attrs["weight_names"] = np.array([f"{name}/kernel:0", f"{name}/bias:0"], dtype="S")
                group.create_dataset(f"{name}/kernel:0", data=kernel)
                group.create_dataset(f"{name}/bias:0", data=bias)
                weights[name] = (kernel, bias)
        root.attrs["layer_names"] = np.array(layer_names, dtype="S")
    return weights


@pytest.fixture(scope="module")
def vgg_backbone():
    return build_backbone("vggface", 32)


def test_load_vggface_h5_copies_every_conv_layer(vgg_backbone, tmp_path):
    weights = write_vggface_h5(tmp_path / "vggface.h5", np.random.default_rng(2))
    layer_map = load_vggface_h5(vgg_backbone, tmp_path / "vggface.h5")
    assert layer_map == dict(zip(VGGFACE_H5_LAYERS, VGG_CONV_LAYERS))
    for index, (h5_name, layer_name) in enumerate(layer_map.items()):
        kernel, bias = vgg_backbone.get_layer(layer_name).get_weights()
        expected = weights[h5_name][0][:, :, ::-1, :] if index == 0 else weights[h5_name][0]  # BGR -> RGB
        np.testing.assert_array_equal(kernel, expected)
        np.testing.assert_array_equal(bias, weights[h5_name][1])


def test_load_vggface_h5_verbatim_and_full_model_layout(vgg_backbone, tmp_path):
    weights = write_vggface_h5(tmp_path / "vggface.h5", np.random.default_rng(3), full_model=True)
    load_vggface_h5(vgg_backbone, tmp_path / "vggface.h5", bgr_input=False)
    np.testing.assert_array_equal(vgg_backbone.get_layer("block1_conv1").get_weights()[0], weights["conv1_1"][0])


def test_load_vggface_h5_errors_name_file_and_layer(vgg_backbone, tmp_path):
    before = vgg_backbone.get_layer("block1_conv1").get_weights()[0]
    write_vggface_h5(tmp_path / "missing.h5", np.random.default_rng(4), skip=("conv5_3",))
    with pytest.raises(DataError, match=r"missing.h5: layer conv5_3 has no kernel"):
        load_vggface_h5(vgg_backbone, tmp_path / "missing.h5")
    write_vggface_h5(tmp_path / "theano.h5", np.random.default_rng(5), kernel_shape=(64, 3, 3, 3))
    with pytest.raises(DataError, match=r"theano.h5: layer conv1_1 kernel has shape \[64, 3, 3, 3\]"):
        load_vggface_h5(vgg_backbone, tmp_path / "theano.h5")
    # Nothing was assigned by the failed loads (the first one failed only at the last layer).
    np.testing.assert_array_equal(vgg_backbone.get_layer("block1_conv1").get_weights()[0], before)
    with pytest.raises(MissingResourceError):
        load_vggface_h5(vgg_backbone, tmp_path / "absent.h5")
    with pytest.raises(ConfigError, match="no VGG backbone"):
        load_vggface_h5(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), tmp_path / "missing.h5")


def test_cli_vggface_h5_writes_backbone_weights(tmp_path, capsys):
    weights = write_vggface_h5(tmp_path / "vggface.h5", np.random.default_rng(6))
    out = tmp_path / "out"
    assert cli.main(["convert", "vggface-h5", str(tmp_path / "vggface.h5"), "--out", str(out), "--keep-bgr"]) == 0
    assert "vggface.weights.h5" in capsys.readouterr().out
    loaded = build_backbone("vggface", 64, weights=out / "vggface.weights.h5")  # the models' own loader
    for h5_name, layer_name in zip(VGGFACE_H5_LAYERS, VGG_CONV_LAYERS):
        kernel, bias = loaded.get_layer(layer_name).get_weights()
        np.testing.assert_array_equal(kernel, weights[h5_name][0])
        np.testing.assert_array_equal(bias, weights[h5_name][1])
    assert json.loads((out / "metadata.json").read_text())["bgr_input_reversed_to_rgb"] is False


# --------------------------------------------------------------------------------------------------
# The slim resnet_v1_50 layout of the ResNet-GRU backbone.

def test_slim_resnet_v1_50_layout_and_parameter_count():
    backbone = build_backbone("resnet_v1_50", RESNET_SIZE)
    convs = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)]
    assert sorted(layer.name for layer in convs) == sorted(name for _, name in slim_resnet_v1_50_convs())
    assert len(convs) == 1 + 3 * (3 + 4 + 6 + 3) + 4  # root, 3 per unit, 4 projection shortcuts
    assert not any(layer.use_bias for layer in convs)
    # slim resnet_v1_block: the stride is in conv2 (3x3) of the LAST unit of blocks 1-3, nowhere else but the root.
    strided = sorted(layer.name for layer in convs if tuple(layer.strides) == (2, 2))
    assert strided == ["block1_unit3_conv2", "block2_unit4_conv2", "block3_unit6_conv2", "conv1"]
    assert {layer.epsilon for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)} == {1e-5}
    # torchvision's resnet50 has the same layout (no conv biases) and 25,557,032 parameters with its
    # 1000-class FC layer (2048 * 1000 + 1000); batch-norm moving statistics are not parameters there.
    trainable = sum(int(np.prod(weight.shape)) for weight in backbone.trainable_weights)
    assert trainable == 25_557_032 - (2048 * 1000 + 1000)
    assert tuple(backbone.output.shape) == (None, 2048)


# --------------------------------------------------------------------------------------------------
# Do 2020's released face feature model (a Keras 2 HDF5 file) -> face.weights.h5.

RESNET50_STAGES = [(64, 3), (128, 4), (256, 6), (512, 3)]  # (filters, units) of conv2..conv5 (He 2016, Table 1)


def original_names():
    """Layer names of the released VGGFace2 ResNet-50 (model_vggface2.py conv_block / identity_block), in order."""
    names = ["conv1/7x7_s2"]
    for stage, (_, units) in enumerate(RESNET50_STAGES, start=2):
        for unit in range(1, units + 1):
            names += [f"conv{stage}_{unit}_{part}" for part in ("1x1_reduce", "3x3", "1x1_increase")]
            if unit == 1:
                names.append(f"conv{stage}_{unit}_1x1_proj")
    return names


def write_original_h5(path, feature_units, drop=None):
    """A Keras 2 ``model.save`` file in the original layout, random values; returns {name: {variable: array}}."""
    rng = np.random.default_rng(7)
    shapes, c_in = {"conv1/7x7_s2": (7, 7, 3, 64)}, 64
    for stage, (f, units) in enumerate(RESNET50_STAGES, start=2):
        for unit in range(1, units + 1):
            shapes[f"conv{stage}_{unit}_1x1_reduce"] = (1, 1, c_in, f)
            shapes[f"conv{stage}_{unit}_3x3"] = (3, 3, f, f)
            shapes[f"conv{stage}_{unit}_1x1_increase"] = (1, 1, f, 4 * f)
            if unit == 1:
                shapes[f"conv{stage}_{unit}_1x1_proj"] = (1, 1, c_in, 4 * f)
            c_in = 4 * f
    layers = {}
    for name in original_names():
        channels = shapes[name][-1]
        layers[name] = {"kernel": rng.normal(0, 0.05, shapes[name]).astype(np.float32)}
        layers[name + "/bn"] = {v: rng.uniform(0.5, 1.5, channels).astype(np.float32)
                                for v in ("gamma", "beta", "moving_mean", "moving_variance")}
    layers["features"] = {"kernel": rng.normal(0, 0.05, (2048, feature_units)).astype(np.float32),
                          "bias": rng.normal(0, 0.05, feature_units).astype(np.float32)}
    layers["predictions"] = {"kernel": rng.normal(0, 0.05, (feature_units, 7)).astype(np.float32)}  # 7 expressions
    with h5py.File(path, "w") as handle:
        root = handle.create_group("model_weights")
        stored = [name for name in layers if name != drop]
        root.attrs["layer_names"] = [name.encode() for name in ["base_input", *stored]]
        root.create_group("base_input").attrs["weight_names"] = []
        for name in stored:
            group = root.create_group(name)
            group.attrs["weight_names"] = [f"{name}/{v}:0".encode() for v in layers[name]]
            for variable, value in layers[name].items():
                group.create_dataset(f"{name}/{variable}:0", data=value)
    return layers


def test_original_h5_weights_map_onto_keras_layers(tmp_path):
    path = tmp_path / "vggface2_emotion.h5"
    layers = write_original_h5(path, feature_units=6)
    out = tmp_path / "converted"
    assert cli.main(["convert", "stat-lstm-face", str(path), "--out", str(out)]) == 0
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["feature_units"] == 6 and metadata["layer_map"]["conv1_conv"] == "conv1/7x7_s2"
    model = FaceFeatureModel(image_size=32, feature_units=6, weights_path=out / "face.weights.h5")
    backbone = model.get_layer("resnet50")
    checks = {"conv1_conv": "conv1/7x7_s2", "conv2_block1_0_conv": "conv2_1_1x1_proj",
              "conv3_block4_2_conv": "conv3_4_3x3", "conv5_block3_3_conv": "conv5_3_1x1_increase",
              "conv4_block6_1_conv": "conv4_6_1x1_reduce"}
    for ours, theirs in checks.items():
        kernel, bias = backbone.get_layer(ours).get_weights()
        np.testing.assert_array_equal(kernel, layers[theirs]["kernel"])
        np.testing.assert_array_equal(bias, 0.0)
        gamma, beta, mean, variance = backbone.get_layer(ours.replace("_conv", "_bn")).get_weights()
        for value, variable in zip((gamma, beta, mean, variance), ("gamma", "beta", "moving_mean", "moving_variance")):
            np.testing.assert_array_equal(value, layers[theirs + "/bn"][variable])
    kernel, bias = model.get_layer("features").get_weights()
    np.testing.assert_array_equal(kernel, layers["features"]["kernel"])
    np.testing.assert_array_equal(bias, layers["features"]["bias"])
    np.testing.assert_array_equal(model.get_layer("predictions").get_weights()[0], layers["predictions"]["kernel"])
    # every ResNet weight came from the file: the loaded total is the file's total plus zero conv biases
    loaded = sum(np.abs(w).sum() for layer in backbone.layers for w in layer.get_weights())
    stored = sum(np.abs(v).sum() for name, vs in layers.items() if name not in ("features", "predictions")
                 for v in vs.values())
    assert loaded == pytest.approx(stored, rel=1e-5)


def test_original_h5_with_a_missing_layer_names_it(tmp_path):
    path = tmp_path / "broken.h5"
    write_original_h5(path, feature_units=6, drop="conv4_2_3x3/bn")
    with pytest.raises(DataError, match=r"broken\.h5.*conv4_2_3x3/bn"):
        convert_stat_lstm_face(path, tmp_path / "out")
    assert not (tmp_path / "out" / "face.weights.h5").exists()


def test_a_keras2_file_is_refused_with_the_command_that_converts_it(tmp_path):
    path = tmp_path / "vggface2_emotion.h5"
    layers = write_original_h5(path, feature_units=6)
    with pytest.raises(ConfigError, match=re.escape(str(path))) as refused:
        FaceFeatureModel(image_size=32, feature_units=6, weights_path=path)
    model = FaceFeatureModel(image_size=32, feature_units=6)
    with pytest.raises(ConfigError, match="tfaffect convert stat-lstm-face"):
        load_face_weights(model, path)
    # the command the message names converts the file; the file it says to pass loads
    message = str(refused.value)
    out = tmp_path / "converted"
    argv = shlex.split(re.search(r"`tfaffect (convert [^`]+)`", message).group(1).replace("DIR", str(out)))
    assert cli.main(argv) == 0
    weights = re.search(r"pass (DIR/\S+)", message).group(1).replace("DIR", str(out))
    load_face_weights(model, weights)
    np.testing.assert_array_equal(model.get_layer("features").get_weights()[0], layers["features"]["kernel"])
