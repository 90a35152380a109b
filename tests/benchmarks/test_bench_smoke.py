"""Smoke tests of benchmarks/train.py, inference.py and predict.py, and checks of the pieces they rely on.

Nothing here asserts on speed (DESIGN.md: performance is measured, never asserted): the scripts must
run on the tiny model and print their result lines; the TimeDistributed twin must be the same
network as the fold model; the analytic FLOP count must match a count derived by hand.
"""

import importlib.util
import pathlib
import re
import sys

import numpy as np
import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def load_script(monkeypatch):
    """Import ``benchmarks/<name>.py`` as a module (the scripts import ``_common`` from their folder)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def load(name):
        spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)  # what `import` does (dataclasses look it up)
        spec.loader.exec_module(module)
        return module

    return load


def test_train_script_prints_ratio(load_script, capsys):
    load_script("train").main(["--quick", "--tiny", "--batch", "1", "--time", "2", "--steps", "1", "--warmup", "0"])
    out = capsys.readouterr().out
    assert "oneDNN" in out and "load average at start" in out
    assert re.search(r"^ratio fold / TimeDistributed \(frames/s\): \d+\.\d\dx$", out, re.M), out
    assert re.search(r"^same ratio from CPU time .*: \d+\.\d\dx$", out, re.M), out
    counts = re.findall(r"^(?:fold time|TimeDistributed).*?\s(\d{1,3}(?:,\d{3})+)\s", out, re.M)
    assert len(counts) == 2 and counts[0] == counts[1], out


def test_inference_script_prints_fraction_of_peak(load_script, capsys):
    load_script("inference").main(["--quick", "--tiny", "--batches", "1x2", "--steps", "1", "--warmup", "0",
                                   "--matmul-sizes", "64", "--repeats", "1"])
    out = capsys.readouterr().out
    assert re.search(r"^\s+peak(\s+\d+\.\d \(\s*\d+\.\d\)){2}$", out, re.M), out
    number, percent = r"\s+\d+\.\d+", r"\s+\d+\.\d%"
    for precision in ("fp32", "bf16"):
        row = rf"^\s+1x2\s+{precision}\s+off({number}){{4}}%({number}{percent}){{2}}$"
        assert re.search(row, out, re.M), out


def test_time_distributed_twin_is_the_same_network(load_script):
    import keras

    from tfaffect.models.registry import build_model

    train = load_script("train")
    fold = build_model("affwildnet_vggface_gru", tiny=True)
    twin = train.time_distributed_twin(fold, time_steps=3)
    assert any(isinstance(layer, keras.layers.TimeDistributed) for layer in twin.layers)
    assert twin.count_params() == fold.count_params()
    image = np.random.default_rng(0).integers(0, 256, size=(2, 3, 32, 32, 3), dtype=np.uint8)
    expected = np.asarray(fold({"image": image}, training=False)["va"])
    actual = np.asarray(twin({"image": image}, training=False)["va"])
    assert actual.shape == (2, 3, 2)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
    # Different frames must give different features, or the equality above proves little.
    assert np.ptp(expected[:, :, 0]) > 0


def test_flops_per_frame_matches_hand_count(load_script):
    """AffWildNet-96 FLOPs per frame, derived by hand from Kollias 2019, Table 7-8 (never from the code)."""
    from tfaffect.models import AffWildNet

    inference = load_script("inference")
    # VGG-16 "D" conv part, 3x3 'same' convs: (c_in, c_out, output side) at a 96x96 input;
    # the side halves after each of the 5 blocks: 96, 48, 24, 12, 6.
    convs = [(3, 64, 96), (64, 64, 96), (64, 128, 48), (128, 128, 48),
             (128, 256, 24), (256, 256, 24), (256, 256, 24),
             (256, 512, 12), (512, 512, 12), (512, 512, 12),
             (512, 512, 6), (512, 512, 6), (512, 512, 6)]
    conv = sum(2 * 9 * c_in * c_out * side * side for c_in, c_out, side in convs)
    features = 3 * 3 * 512  # last pool 3x3x512, flattened
    dense = 2 * features * 4096 + 2 * 128 * 2  # FC 4096, output FC 2
    gru = 2 * 3 * (4096 * 128 + 128 * 128) + 2 * 3 * (128 * 128 + 128 * 128)  # 2x GRU 128
    assert conv == 5_637_537_792  # the sum written out once by hand, as a check of the table above
    counts = inference.flops_per_frame(AffWildNet())
    assert counts == {"conv": conv, "dense": dense, "gru": gru}


def test_predict_script_prints_rates_stages_and_verdicts(load_script, capsys):
    load_script("predict").main(["--quick", "--tiny", "--seconds", "0.5", "--naive-frames", "2", "--warmup", "0"])
    out = capsys.readouterr().out
    assert "load average at start" in out and "RANDOM weights" in out
    assert re.search(r"^video: generated moving astronaut clip, 640x360, 15 frames at 30 fps", out, re.M), out
    number = r"\s+\d+\.\d+"
    for name in ("decode", "faces", "model", "write"):
        assert re.search(rf"^\s+{name}({number}){{3}}\s+\d+%$", out, re.M), out
    for name in ("stage sum", "end to end", "no overlap", "end to end, bf16", "naive"):
        assert re.search(rf"^\s*{name}({number}){{3}}$", out, re.M), out
    assert re.search(r"^end to end: \d+\.\d frames/s \(target >= 25\): (met|not met)$", out, re.M), out
    assert re.search(r"^end to end / naive \(frames/s\): \d+\.\d\dx \(target >= 5x\): (met|not met); "
                     r"from CPU time per frame: \d+\.\d\dx$", out, re.M), out
    # issue #14: against the model's own rate, with every face, and the start-up time
    assert len(re.findall(r"frames/s vs the model's +\d+\.\d = +\d+% \((met|not met)\); CPU: \d+%$", out, re.M)) == 3, out
    assert re.search(r"^3-face clip: \d+\.\d\d faces per frame found", out, re.M), out
    assert re.search(r"^start-up, import tfaffect -> first frame's rows .*: \d+\.\d\d s \(target < 4 s\): "
                     r"(met|not met)", out, re.M), out
    assert re.search(r"^of which .* `import tensorflow` alone .*: \d+\.\d\d s; start-up beyond it: -?\d+\.\d\d s$",
                     out, re.M), out


@pytest.mark.parametrize("family", ["mmnet", "kahou"])  # anclaf's pair: the same code (not run, for CI time)
def test_families_script_trains_the_same_weights_both_ways_and_prints_the_ratio(load_script, capsys, family):
    load_script("families").main(["--family", family, "--tiny", "--quick", "--warmup", "0", "--frames", "12"])
    out = capsys.readouterr().out
    assert re.search(r"^model: .* trained weights in both contenders \(equal\);", out, re.M), out
    unit = "clips" if family == "kahou" else "frames"
    assert re.search(rf"^ratio cached / end to end \({unit}/s\): \d+\.\d\dx", out, re.M), out
    assert ("stride-1 scan" in out) == (family == "mmnet"), out


def test_families_script_freezes_exactly_the_frame_network(load_script):
    """The image contender trains the features contender's weights and nothing else (the frame network frozen):
    same weight names, and a step leaves every frame-network weight unchanged."""
    import keras

    families = load_script("families")
    spec = families.FAMILIES["kahou"]
    features, image, _, same = families.build_pair(spec, "paper", tiny=True)
    assert same
    assert sorted(w.path for w in features.trainable_weights) == sorted(w.path for w in image.trainable_weights)
    frozen = {w.path: keras.ops.convert_to_numpy(w) for w in image.non_trainable_weights}
    assert any(path.startswith("conv1") for path in frozen)
    image.train_on_batch(families.inputs(image, 2, 4), families.targets(spec, 2, 4))
    for w in image.non_trainable_weights:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), frozen[w.path], err_msg=w.path)


def test_synth_ceiling_script_prints_learner_and_control_rows(load_script, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TFAFFECT_CACHE", str(tmp_path))
    load_script("synth_ceiling").main(["--tiny"])
    out = capsys.readouterr().out
    rows = re.findall(r"^\s+32 (learner|control)(\s+-?\d+\.\d{3}){4}\s+\d+\.\d$", out, re.M)
    assert [row[0] for row in rows] == ["learner", "control"], out
