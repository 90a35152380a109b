"""The STAT + LSTM family (Do 2020): parameter counts, trainable split, shapes, windows, fusion, weight files.

Parameter counts are derived by hand from the paper, FORMATS.md and the released code (never from the
code under test); the ResNet-50 conv part reuses the arithmetic of ``test_model_params.py``. Counts
do not depend on the input size (global average pooling), so full-width models are built at 32x32.
Independent anchor: the released notebooks print Keras summaries of models 4 and 6
(dntai/dntai_fg20_affwild2_challenges ``submit1/sel_t31.ipynb``, ``sel_t45.ipynb``); the released
configuration built here must give those totals plus the conv biases that ``keras.applications``
has and the VGGFace2 ResNet-50 lacks.
"""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from test_model_params import RESNET50_STAGES, bn, conv, dense, lstm, resnet50_conv_params

from tfaffect.errors import ConfigError, MissingResourceError
from tfaffect.models.stat_lstm import (CausalWindows, FaceFeatureModel, StatLSTMNet, WindowStats, average_fusion,
                                       load_face_weights, table1_model, with_frame_input)

C = 7  # expressions, Do 2020 section II.A
F = 2048  # face feature width, original model_vggface2_ft.py Dense(2048, name="features")
U = 1024  # LSTM units, section II.C
H = (1024, 1024)  # head hidden widths, released notebooks fc_*_finals

# --------------------------------------------------------------------------------------------------
# Hand arithmetic


def resnet_stages():
    """[(weights trainable when unfrozen, batch-norm moving statistics)] for stem, conv2, .., conv5.

    Same formulas as test_model_params.resnet50_conv_params (keras.applications: conv biases, batch
    norm = gamma, beta, moving mean, moving variance), split by stage.
    """
    stem = (conv(7, 3, 64) + bn(64) // 2, bn(64) // 2)
    stages, c_in = [stem], 64
    for f, units in RESNET50_STAGES:
        trainable = moving = 0
        for unit in range(units):
            shapes = [(1, c_in, f), (3, f, f), (1, f, 4 * f)] + ([(1, c_in, 4 * f)] if unit == 0 else [])
            for k, n_in, n_out in shapes:
                trainable += conv(k, n_in, n_out) + bn(n_out) // 2
                moving += bn(n_out) // 2
            c_in = 4 * f
        stages.append((trainable, moving))
    return stages


def bilstm(n_in, units):
    return 2 * lstm(n_in, units)


def branch(n_in, hidden, n_out):
    widths = [n_in, *hidden, n_out]
    return sum(dense(a, b) for a, b in zip(widths, widths[1:]))


def face_params(feature_units=F):
    # conv part + Dense features (bias) + Dense 7 predictions without bias (original code)
    return resnet50_conv_params() + dense(2048, feature_units) + feature_units * C


def fused_width(temporal, feature_stats=3, lstm_units=U):
    width = F + C  # current frame's features and scores
    if temporal != "none":
        width += 3 * C + feature_stats * F  # STAT: max, min, mean of scores (+ of features)
    if temporal == "stat_lstm":
        width += 2 * lstm_units  # last BiLSTM layer's final state, both directions
    return width


def expected_params(temporal, va, class_units=H, feature_stats=3):
    d = fused_width(temporal, feature_stats)
    total = face_params() + branch(d, class_units, C)
    if temporal == "stat_lstm":
        total += bilstm(C, U) + bilstm(2 * U, U)  # 2 layers, the second reads both directions
    if va:
        total += 2 * branch(d, H, 1) + branch(d, H, 5)  # arousal, valence (CCC), 5-vector (MSE)
    return total


def frozen_params(trainable_stages):
    """Stem and the first 4 - trainable_stages stages entirely, plus every batch norm's moving statistics."""
    stages = resnet_stages()
    first_trainable = 6 - trainable_stages  # stage index: 1 stem .. 5 conv5
    return sum(w + m if index + 1 < first_trainable else m for index, (w, m) in enumerate(stages))


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_stage_split_adds_up_to_the_resnet50_total():
    assert sum(w + m for w, m in resnet_stages()) == resnet50_conv_params() == 23_587_712


TABLE_I = [(1, "none", False), (2, "none", True), (3, "stat", False), (4, "stat", True),
           (5, "stat_lstm", False), (6, "stat_lstm", True)]


@pytest.mark.parametrize("number, temporal, va", TABLE_I)
def test_table1_full_size_counts_trainable_split_and_output_shapes(number, temporal, va):
    model = table1_model(number, image_size=32)
    assert model.count_params() == expected_params(temporal, va)
    # Only conv5 (section II.C), the two face dense layers and everything after the face model train.
    frozen = frozen_params(1)
    assert model.count_params() - trainable_count(model) == frozen
    assert frozen == 9_728 + 220_032 + 1_230_336 + 7_129_088 + 22_528 == 8_611_712  # stem..conv4 + conv5 BN stats
    face = model.get_layer("face").get_layer("resnet50")
    assert {layer.name.split("_")[0] for layer in face.layers if layer.trainable and layer.weights} == {"conv5"}
    lead = (None,) if temporal == "none" else (None, None)
    expected = {"expression": lead + (C,)}
    if va:
        expected.update(va=lead + (2,), va_aux=lead + (5,))
    assert {key: tuple(tensor.shape) for key, tensor in model.output.items()} == expected
    assert tuple(model.input["image"].shape) == lead + (32, 32, 3)


def test_written_out_totals():
    # The sums above for models 2 and 6, written out as a check of the arithmetic.
    assert face_params() == 23_587_712 + 4_196_352 + 14_336
    d6 = 2048 + 7 + 21 + 3 * 2048 + 2048
    assert expected_params("stat_lstm", True) == (
        27_798_400 + 8_454_144 + 25_174_016  # face model, BiLSTM 1 (7 -> 2x1024), BiLSTM 2 (2048 -> 2x1024)
        + (d6 * 1024 + 1024) + 1_049_600 + 7_175  # classification branch
        + 2 * ((d6 * 1024 + 1024) + 1_049_600 + 1_025) + (d6 * 1024 + 1024) + 1_049_600 + 5_125)


@pytest.mark.parametrize("temporal, published_total", [("stat", 39_442_382), ("stat_lstm", 81_459_150)])
def test_released_models_4_and_6_match_the_published_summaries(temporal, published_total):
    # sel_t31.ipynb / sel_t45.ipynb (Table II rows 4 and 6): "Total params" as given, "Non-trainable
    # params: 1,498,048". Released configuration: STAT of the scores only, classification branch of
    # one hidden layer, conv4 and conv5 trainable. keras.applications convs have biases, the VGGFace2
    # ResNet-50 none: one per output channel = one per batch-norm channel = 53,120 / 2 (the base
    # model's printed non-trainable count) in all, 5,056 of them in the frozen stem..conv3.
    model = StatLSTMNet(temporal, va=True, feature_stats=(), class_units=(1024,), trainable_stages=2, image_size=32)
    conv_biases = 53_120 // 2
    frozen_biases = 64 + (3 * (64 + 64 + 256) + 256) + (4 * (128 + 128 + 512) + 512)
    assert model.count_params() == published_total + conv_biases
    assert model.count_params() - trainable_count(model) == 1_498_048 + frozen_biases == frozen_params(2)
    assert model.count_params() == expected_params(temporal, True, class_units=(1024,), feature_stats=0)


# --------------------------------------------------------------------------------------------------
# Windows and STAT


def numpy_windows(x, s):
    """Reference: out[:, t, j] = x[:, max(t - s + 1 + j, 0)]."""
    batch, steps = x.shape[:2]
    out = np.empty((batch, steps, s) + x.shape[2:], x.dtype)
    for t in range(steps):
        for j in range(s):
            out[:, t, j] = x[:, max(t - s + 1 + j, 0)]
    return out


@pytest.mark.parametrize("steps, s", [(6, 3), (2, 4), (5, 1), (4, 4)])
def test_causal_windows_match_numpy(steps, s):
    x = np.random.default_rng(steps * 10 + s).normal(size=(2, steps, 5)).astype(np.float32)
    got = keras.ops.convert_to_numpy(CausalWindows(s)(x))
    np.testing.assert_array_equal(got, numpy_windows(x, s))
    assert CausalWindows(s).context_frames == s  # frame t depends on frames t-s+1 .. t
    if steps == 6 and s == 3:  # spelled out: frame 1's window is (frame 0 repeated, frame 0, frame 1)
        np.testing.assert_array_equal(got[:, 1], x[:, [0, 0, 1]])
        np.testing.assert_array_equal(got[:, 5], x[:, [3, 4, 5]])


def test_window_stats_order_and_values():
    x = np.random.default_rng(3).normal(size=(2, 4, 3, 5)).astype(np.float32)
    got = keras.ops.convert_to_numpy(WindowStats(("mean", "max", "min"))(x))
    expected = np.concatenate([x.max(axis=2), x.min(axis=2), x.mean(axis=2)], axis=-1)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert WindowStats(("mean",)).compute_output_shape((None, 4, 3, 5)) == (None, 4, 5)
    with pytest.raises(ConfigError, match="median"):
        WindowStats(("median",))


TINY = {"image_size": 32, "feature_units": 6, "lstm_units": 4, "class_units": (5,), "regression_units": (5, 4)}


def tiny_clip(steps, seed=0, batch=2):
    return np.random.default_rng(seed).integers(0, 256, size=(batch, steps, 32, 32, 3), dtype=np.uint8)


def test_fusion_is_stat_of_windows_current_frame_and_lstm():
    s, steps = 3, 5
    model = StatLSTMNet("stat_lstm", window=s, **TINY)
    clip = tiny_clip(steps)
    probe = keras.Model(model.input, model.get_layer("fusion").output)
    fused = keras.ops.convert_to_numpy(probe({"image": clip}, training=False))
    face = model.get_layer("face")({"image": clip.reshape((-1, 32, 32, 3))}, training=False)
    feats = keras.ops.convert_to_numpy(face["features"]).reshape(2, steps, -1)
    scores = keras.ops.convert_to_numpy(face["expression"]).reshape(2, steps, C)
    win_s, win_f = numpy_windows(scores, s), numpy_windows(feats, s)
    lstm_in = win_s.reshape(-1, s, C)
    lstm_out = model.get_layer("bilstm2")(model.get_layer("bilstm1")(lstm_in, training=False), training=False)
    expected = np.concatenate([
        win_s.max(2), win_s.min(2), win_s.mean(2), win_f.max(2), win_f.min(2), win_f.mean(2), feats, scores,
        keras.ops.convert_to_numpy(lstm_out).reshape(2, steps, -1)], axis=-1)
    np.testing.assert_allclose(fused, expected, rtol=1e-5, atol=1e-6)


def test_per_clip_equals_window_by_window():
    """The backbone once per frame + gathered windows == the model run on each causal window clip (last frame)."""
    s, steps = 3, 5
    model = StatLSTMNet("stat_lstm", window=s, **TINY)
    clip = tiny_clip(steps, seed=1)
    whole = {k: keras.ops.convert_to_numpy(v) for k, v in model({"image": clip}, training=False).items()}
    for t in range(steps):
        window = clip[:, [max(t - s + 1 + j, 0) for j in range(s)]]
        last = {k: keras.ops.convert_to_numpy(v)[:, -1] for k, v in model({"image": window}, training=False).items()}
        for key in ("expression", "va", "va_aux"):
            np.testing.assert_allclose(whole[key][:, t], last[key], rtol=1e-5, atol=1e-6, err_msg=f"{key} t={t}")


def test_invalid_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="temporal"):
        StatLSTMNet("lstm_only", **TINY)
    with pytest.raises(ConfigError, match="1..6"):
        table1_model(7)
    with pytest.raises(ConfigError, match="trainable_stages"):
        FaceFeatureModel(image_size=32, trainable_stages=6)


def test_bn_momentum_reaches_every_resnet_batch_norm_and_round_trips():
    model = StatLSTMNet("none", bn_momentum=0.9, **TINY)
    norms = [l for l in model.get_layer("face").get_layer("resnet50").layers
             if isinstance(l, keras.layers.BatchNormalization)]
    assert len(norms) == 53 and {l.momentum for l in norms} == {0.9}  # ResNet-50: stem + 52 bottleneck BNs
    rebuilt = StatLSTMNet.from_config(model.get_config())
    assert rebuilt.get_config()["bn_momentum"] == 0.9
    default = FaceFeatureModel(image_size=32, feature_units=6)
    assert default.get_config()["bn_momentum"] is None
    assert {l.momentum for l in default.get_layer("resnet50").layers
            if isinstance(l, keras.layers.BatchNormalization)} == {0.99}  # keras.applications' (= Keras 2) default
    with pytest.raises(ConfigError, match="bn_momentum"):
        FaceFeatureModel(image_size=32, bn_momentum=1.0)


def test_average_fusion_is_the_mean_of_the_members_outputs():
    """An image member inside a clip fusion runs on every frame; each output key is the mean over its members."""
    image = StatLSTMNet("none", va=True, name="m2", **TINY)
    frame = StatLSTMNet("stat", va=True, window=3, name="m4", **TINY)
    expression_only = StatLSTMNet("stat_lstm", va=False, window=3, name="m5", **TINY)
    fused = average_fusion([image, frame, expression_only])
    clip = tiny_clip(4, seed=5)
    got = {k: keras.ops.convert_to_numpy(v) for k, v in fused({"image": clip}, training=False).items()}
    per_frame = {k: keras.ops.convert_to_numpy(v).reshape(2, 4, -1)
                 for k, v in image({"image": clip.reshape(-1, 32, 32, 3)}, training=False).items()}
    clip_outs = [{k: keras.ops.convert_to_numpy(v) for k, v in m({"image": clip}, training=False).items()}
                 for m in (frame, expression_only)]
    np.testing.assert_allclose(got["expression"], (per_frame["expression"] + clip_outs[0]["expression"]
                                                   + clip_outs[1]["expression"]) / 3, rtol=1e-5, atol=1e-6)
    for key in ("va", "va_aux"):  # the expression-only member has none
        np.testing.assert_allclose(got[key], (per_frame[key] + clip_outs[0][key]) / 2, rtol=1e-5, atol=1e-6)
    assert fused.trainable_weights == []


def test_average_fusion_of_image_models_takes_frames_and_rejects_bad_members():
    first, second = StatLSTMNet("none", name="a", **TINY), StatLSTMNet("none", name="b", **TINY)
    fused = average_fusion([first, second])
    assert tuple(fused.input["image"].shape) == (None, 32, 32, 3)
    with pytest.raises(ConfigError, match="at least two"):
        average_fusion([first])
    with pytest.raises(ConfigError, match="distinct names"):
        average_fusion([first, first])
    with pytest.raises(ConfigError, match="image size"):
        average_fusion([first, StatLSTMNet("none", name="c", **{**TINY, "image_size": 40})])


# --------------------------------------------------------------------------------------------------
# Features-input form (frame_input="features"): the temporal models on the face model's per-frame outputs


def face_outputs(model, clip):
    """The face part's ``features`` [B, T, F] and ``scores`` [B, T, 7] of an image-input model on ``clip``."""
    face = model.get_layer("face")({"image": clip.reshape((-1,) + clip.shape[2:])}, training=False)
    return {"features": keras.ops.convert_to_numpy(face["features"]).reshape(clip.shape[:2] + (-1,)),
            "scores": keras.ops.convert_to_numpy(face["expression"]).reshape(clip.shape[:2] + (C,))}


def numpy_outputs(model, x):
    return {k: keras.ops.convert_to_numpy(v) for k, v in model(x, training=False).items()}


@pytest.mark.parametrize("number", [3, 4, 5, 6])
def test_features_input_model_equals_the_image_model_on_the_face_outputs(number):
    """Table I models 3-6: image input == features input fed the face part's outputs, head weights copied by name."""
    keras.utils.set_random_seed(0)  # weights whose outputs vary between frames whatever ran before (CI run)
    image_model = table1_model(number, window=3, **TINY)
    features_model = table1_model(number, window=3, frame_input="features", **TINY)
    assert set(features_model.input) == {"features", "scores"}
    weighted = {layer.name for layer in image_model.layers if layer.weights}
    assert {layer.name for layer in features_model.layers if layer.weights} == weighted - {"face"}
    for layer in features_model.layers:
        if layer.weights:
            layer.set_weights(image_model.get_layer(layer.name).get_weights())
    clip = tiny_clip(5, seed=number)
    expected = numpy_outputs(image_model, {"image": clip})
    got = numpy_outputs(features_model, face_outputs(image_model, clip))
    assert set(got) == set(expected) == ({"expression", "va", "va_aux"} if number % 2 == 0 else {"expression"})
    for key, value in expected.items():
        assert np.ptp(value[..., 0]) > 0  # outputs differ between frames, so the equality says something
        np.testing.assert_allclose(got[key], value, rtol=0, atol=1e-5, err_msg=key)


def test_with_frame_input_moves_the_weights_both_ways_and_the_features_form_round_trips(tmp_path):
    from tfaffect.models.saving import load_model

    image_model = table1_model(6, window=3, **TINY)
    clip = tiny_clip(4, seed=9)
    expected = numpy_outputs(image_model, {"image": clip})
    features_model = with_frame_input(image_model, "features")
    assert features_model.get_config() == {**image_model.get_config(), "frame_input": "features"}
    path = tmp_path / "features.keras"
    features_model.save(path)
    loaded = load_model(path)
    for key, value in numpy_outputs(loaded, face_outputs(image_model, clip)).items():
        np.testing.assert_allclose(value, expected[key], rtol=0, atol=1e-5, err_msg=key)
    face_file = tmp_path / "face.weights.h5"
    image_model.get_layer("face").save_weights(face_file)
    for face in (face_file, image_model.get_layer("face")):  # the face model's weight file, or the model
        back = with_frame_input(loaded, "image", face)
        for key, value in numpy_outputs(back, {"image": clip}).items():
            np.testing.assert_allclose(value, expected[key], rtol=0, atol=1e-5, err_msg=key)
    with pytest.raises(ConfigError, match="face model they came from"):
        with_frame_input(loaded, "image")
    with pytest.raises(ConfigError, match="temporal StatLSTMNet"):
        with_frame_input(StatLSTMNet("none", **TINY), "features")
    with pytest.raises(ConfigError, match="frame_input"):
        StatLSTMNet("none", frame_input="features", **TINY)
    with pytest.raises(ConfigError, match="frame_input"):
        StatLSTMNet("stat", frame_input="landmarks", **TINY)


# --------------------------------------------------------------------------------------------------
# Face feature weights


def test_keras3_weights_file_and_missing_file(tmp_path):
    model = FaceFeatureModel(image_size=32, feature_units=6)
    path = tmp_path / "face.weights.h5"
    model.save_weights(path)
    other = FaceFeatureModel(image_size=32, feature_units=6)
    load_face_weights(other, path)
    faces = np.random.default_rng(4).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    for key in ("features", "expression"):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(other({"image": faces})[key]),
                                      keras.ops.convert_to_numpy(model({"image": faces})[key]))
    with pytest.raises(MissingResourceError, match="nowhere.h5"):
        StatLSTMNet("none", face_weights=tmp_path / "nowhere.h5", **TINY)


def test_random_init_is_announced(caplog):
    with caplog.at_level("WARNING", logger="tfaffect.models.stat_lstm"):
        FaceFeatureModel(image_size=32, feature_units=6)
    assert "random initialisation" in caplog.text


def test_vggface2_preprocessing_is_bgr_minus_mean():
    model = FaceFeatureModel(image_size=32, feature_units=6)
    probe = keras.Model(model.input, model.get_layer("vggface2_preprocess").output)
    rgb = np.zeros((1, 32, 32, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 10  # R, G, B
    got = keras.ops.convert_to_numpy(probe({"image": rgb}))[0, 0, 0]
    np.testing.assert_allclose(got, [10 - 91.4953, 100 - 103.8827, 200 - 131.0912], atol=1e-4)  # B, G, R


# --------------------------------------------------------------------------------------------------
# JAX backend (the backend is fixed at import, so each check runs in a subprocess)

JAX_LAYERS_SCRIPT = r"""
import sys
import keras
import numpy as np
from tfaffect.models.layers import FoldTime, UnfoldTime
from tfaffect.losses import five_vector_target
from tfaffect.models.stat_lstm import CausalWindows, VGGFace2Preprocess, WindowStats

data = np.load(sys.argv[1])
scores = keras.Input((None, 7))
windows = CausalWindows(3)(scores)
lstm = keras.layers.Bidirectional(keras.layers.LSTM(4, recurrent_dropout=0.1))(FoldTime()(windows))
model = keras.Model(scores, [windows, WindowStats()(windows), UnfoldTime()([lstm, scores])])
windows, stats, state = model.predict(data["scores"], verbose=0)
image = VGGFace2Preprocess()(data["image"])
np.savez(sys.argv[2], windows=windows, stats=stats, state=state, image=keras.ops.convert_to_numpy(image),
         five=keras.ops.convert_to_numpy(five_vector_target(data["va"])))
print("BACKEND", keras.backend.backend())
"""


def run_under_jax(script, args, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2",
           "KERAS_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "BACKEND jax" in done.stdout
    return done.stdout


def test_layers_run_under_jax(tmp_path):
    pytest.importorskip("jax")
    rng = np.random.default_rng(6)
    scores = rng.random((2, 5, C)).astype(np.float32)
    image = rng.integers(0, 256, (1, 2, 2, 3), dtype=np.uint8)
    va = rng.uniform(-1, 1, (3, 2)).astype(np.float32)
    np.savez(tmp_path / "in.npz", scores=scores, image=image, va=va)
    run_under_jax(JAX_LAYERS_SCRIPT, [str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], tmp_path)
    out = np.load(tmp_path / "out.npz")
    windows = numpy_windows(scores, 3)
    np.testing.assert_array_equal(out["windows"], windows)
    np.testing.assert_allclose(out["stats"], np.concatenate([windows.max(2), windows.min(2), windows.mean(2)], -1),
                               rtol=1e-6)
    assert out["state"].shape == (2, 5, 8) and np.isfinite(out["state"]).all()
    np.testing.assert_allclose(out["image"], image[..., ::-1] - np.array([91.4953, 103.8827, 131.0912]),
                               atol=1e-4)  # float32 means
    a, v = va[:, 1], va[:, 0]
    m = (a + v) / 2
    np.testing.assert_allclose(out["five"], np.stack([a, v, m, abs(a - m), abs(v - m)], -1), rtol=1e-6)


JAX_MODEL_SCRIPT = r"""
import sys
import keras
import numpy as np
from tfaffect.losses import stat_lstm_losses
from tfaffect.models.stat_lstm import StatLSTMNet
from tfaffect.training.stat_lstm import add_five_vector_target

config, folder = eval(sys.argv[1]), sys.argv[2]
model = StatLSTMNet(**config)
model.load_weights(folder + "/tiny.weights.h5")
data = np.load(folder + "/io.npz")
out = model.predict({"image": data["clip"]}, verbose=0)
np.savez(folder + "/jax.npz", **out)
model.compile(optimizer=keras.optimizers.SGD(0.01), **stat_lstm_losses())
x, y, w = add_five_vector_target({"image": data["clip"]}, {"va": data["va"], "expression": data["labels"]},
                                 {"va": np.ones((1, 4), "float32"), "expression": np.ones((1, 4), "float32")})
y = {k: np.asarray(v) for k, v in y.items()}
w = {k: np.asarray(v) for k, v in w.items()}
loss = model.fit(x, y, sample_weight=w, epochs=1, verbose=0).history["loss"][0]
print("BACKEND", keras.backend.backend(), "LOSS", loss)
"""


@pytest.mark.large  # about 100 s on 2 shared cores: XLA compiles the whole ResNet-50 twice (predict, fit)
def test_model_runs_and_trains_under_jax_and_matches_tensorflow(tmp_path):
    pytest.importorskip("jax")
    config = {"temporal": "stat_lstm", "window": 2, **TINY}
    model = StatLSTMNet(**config)
    model.save_weights(tmp_path / "tiny.weights.h5")
    rng = np.random.default_rng(5)
    clip = tiny_clip(4, seed=5, batch=1)
    np.savez(tmp_path / "io.npz", clip=clip, va=rng.uniform(-1, 1, (1, 4, 2)).astype(np.float32),
             labels=rng.integers(0, C, (1, 4)).astype(np.int32))
    stdout = run_under_jax(JAX_MODEL_SCRIPT, [repr(config), str(tmp_path)], tmp_path)
    assert np.isfinite(float(stdout.split("LOSS ")[1].split()[0]))
    jax_out = np.load(tmp_path / "jax.npz")
    for key, value in model.predict({"image": clip}, verbose=0).items():
        np.testing.assert_allclose(jax_out[key], value, rtol=1e-4, atol=1e-5, err_msg=key)


# --------------------------------------------------------------------------------------------------
# Benchmark script (speed is printed, never asserted: DESIGN.md)


def load_benchmark(monkeypatch):
    """benchmarks/stat_lstm.py as a module (its folder on sys.path for _common)."""
    folder = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
    monkeypatch.syspath_prepend(str(folder))
    spec = importlib.util.spec_from_file_location("benchmark_stat_lstm", folder / "stat_lstm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_script_runs_tiny(monkeypatch, capsys):
    module = load_benchmark(monkeypatch)
    module.main(["--tiny", "--steps", "1", "--warmup", "0"])
    out = capsys.readouterr().out
    assert "load average at start" in out and "load average at end" in out
    difference = float(re.search(r"max \|shared - recompute\| over 2 frames = (\S+)", out).group(1))
    assert difference < 1e-5  # the two contenders compute the same outputs
    for label in ("wall", "CPU"):
        assert re.search(rf"^ratio recompute / shared \({label}\): \d+\.\d\dx", out, re.M), out
        assert re.search(rf"^ratio shared / backbone \({label}\): \d+\.\d\dx", out, re.M), out


def test_benchmark_training_comparison_runs_tiny(monkeypatch, capsys):
    module = load_benchmark(monkeypatch)
    module.main(["--train", "--tiny", "--steps", "1", "--warmup", "0"])
    out = capsys.readouterr().out
    for label in ("wall", "CPU"):
        assert re.search(rf"^ratio cached / end to end \({label}\): \d+\.\d\dx", out, re.M), out
