"""Each new family's temporal model trained from cached per-frame features vs end to end from images, side by side.

For a family (``--family``), the same registered model is built twice with the same sizes: with
``frame_input="features"`` (what its recipes train on the per-frame feature cache) and ``frame_input="image"``
(the frame network inside, run on every frame of every step: what training without the cache costs). In the
image model every layer that the features model does not have (the frame network) is frozen, so both
contenders train exactly the same weights; the image model only adds the frame network's forward pass.

``mmnet``
    Li 2017: the BDLSTM memory network C = 250, L = 11 (``mmnet_bdlstm``), trained on windows of L frames
    (section 3.1.2), RMSprop; frame network CRU-Net-56-tiny. Issue #15 target: cached >= 20x end to end.
    Also the test-time cost: stride-1 scoring of a ``--frames``-frame sequence (every frame in L windows,
    section 2), per frame, beside one pass of a single L-frame window.
``kahou``
    Kahou 2015: the IRNN (200 units) on the frame CNN's conv2 features (``kahou_cnn_irnn``), clips of
    ``--clip`` frames, SGD with momentum; the rate is in clips/s. Issue #16 asks for the ratio (no target).
``anclaf``
    Aspandi 2021: ANCLaF-S-8 (``anclaf_s``: C's encoder + LSTM 512) on the cached ZQ latents vs through G and
    D, clips of 8 frames, Adam. Issue #17 target: >= 4x (the paper reports 1:4 for its latents).

Both contenders read in-memory random inputs (uint8 frames, or float features of the cache's width), so the
ratio is the compute saved; reading JPEG shards (``benchmarks/features.py`` measures the real cache read against
image decoding) would only widen it. The contenders take turns (``_common.time_interleaved``); the median call
counts; CPU time is printed beside the wall rate.

``--sizes paper`` (default) builds the published sizes (MM-Net at 224 px, ANCLaF at 128 px, Kahou at 44 px);
``--sizes demo`` the sizes of the SynthAffect demo recipes (MM-Net 42 px, widths / 8, one unit per stage; ANCLaF 64 px, D 8 and
C 16 wide; Kahou unchanged), what the recipes run on 2 CPU cores. ``--tiny``: the registry's tiny test sizes.

Run: ``python benchmarks/families.py --family mmnet [--sizes demo] [--batch 4] [--steps 3]``; ``--quick``:
fewer calls. Timings depend on the machine's load (printed at start and end).
"""

from __future__ import annotations

import argparse
import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from _common import fill_defaults, load_average, median, positive_int, print_machine, time_interleaved  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Family:
    model: str  # the registered model (tfaffect.models.registry)
    key: str  # the features model's input (the cache's layer output, one vector per frame)
    output: str  # the trained output
    time_steps: int  # frames per training sequence
    batch: int  # sequences per step (reduced from the paper's for 2 CPU cores: speed per frame barely depends on it)
    unit: str  # what the rate counts
    target: float | None  # the target ratio
    demo: dict  # the SynthAffect demo recipe's sizes
    paper_note: str


FAMILIES = {
    "mmnet": Family("mmnet_bdlstm", "features", "va", 11, 4, "frames", 20.0,
                    {"image_size": 42, "width_divisor": 8, "units": (1, 1, 1, 1), "feature_units": 64},
                    "windows of L = 11 (section 3.1.2); the paper's batch is not given"),
    "kahou": Family("kahou_cnn_irnn", "conv2", "expression", 32, 8, "clips", None, {},
                    "the paper's batch is 64 clips (released code); clip length chosen: 32 frames"),
    "anclaf": Family("anclaf_s", "zq", "va", 8, 4, "frames", 4.0,
                     {"image_size": 64, "d_dim": 8, "c_dim": 16},
                     "clips of n = 8 (ANCLaF-S-8); the released batch is 4,000 frames"),
}
DEFAULTS = {"family": "mmnet", "sizes": "paper", "batch": None, "steps": 3, "warmup": 1, "frames": 200}
QUICK = {"steps": 1, "frames": 60}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=sorted(FAMILIES), help="the family to measure (mmnet)")
    parser.add_argument("--sizes", choices=("paper", "demo"), help="published sizes or the SynthAffect demo's (paper)")
    parser.add_argument("--batch", type=positive_int, help="sequences per training step (per family: mmnet 4 "
                                                           "windows, kahou 8 clips, anclaf 4 clips)")
    parser.add_argument("--steps", type=positive_int, help="timed training steps per contender (3)")
    parser.add_argument("--warmup", type=int, help="untimed steps per contender first (1)")
    parser.add_argument("--frames", type=positive_int, help="mmnet: frames of the stride-1 test sequence (200)")
    parser.add_argument("--quick", action="store_true", help="one timed step, a 60-frame test sequence")
    parser.add_argument("--tiny", action="store_true", help="the registry's tiny sizes (smoke runs)")
    args = parser.parse_args(argv)
    return fill_defaults(parser, args, {**DEFAULTS, **(QUICK if args.quick else {})})


def build_pair(family: Family, sizes: str, tiny: bool):
    """The features model and the image model of ``family`` (same sizes), the image model's frame network
    frozen; each compiled with its family's optimizer and loss."""
    import keras

    from tfaffect.models.registry import build_model

    overrides = family.demo if sizes == "demo" and not tiny else {}
    keras.utils.set_random_seed(0)
    features = build_model(family.model, tiny=tiny, frame_input="features", **overrides)
    image = build_model(family.model, tiny=tiny, frame_input="image", **overrides)
    head = {layer.name for layer in features.layers if not isinstance(layer, keras.layers.InputLayer)}
    for layer in image.layers:
        layer.trainable = layer.name in head
    trainable = sum(int(np.prod(w.shape)) for w in features.trainable_weights)
    same = trainable == sum(int(np.prod(w.shape)) for w in image.trainable_weights)
    for model in (features, image):
        model.compile(optimizer=_optimizer(family), loss={family.output: _loss(family)})
    return features, image, trainable, same


def _optimizer(family: Family):
    import keras

    if family.model == "mmnet_bdlstm":
        return keras.optimizers.RMSprop(0.02)  # Li 2017, section 3.1.2
    if family.model == "kahou_cnn_irnn":
        return keras.optimizers.SGD(0.005, momentum=0.9, clipnorm=1.0)  # Kahou 2015 / released code (issue #16 item 2)
    return keras.optimizers.Adam(1e-4)  # Aspandi 2021, released code


def _loss(family: Family) -> str:
    return "categorical_crossentropy" if family.output == "expression" else "mse"


def inputs(model, batch: int, time_steps: int, seed: int = 0) -> dict:
    from tfaffect.models.registry import example_inputs

    return example_inputs(model, batch_size=batch, time_steps=time_steps, seed=seed)


def targets(family: Family, batch: int, time_steps: int) -> dict:
    rng = np.random.default_rng(1)
    if family.output == "expression":
        y = np.eye(7, dtype=np.float32)[rng.integers(0, 7, size=(batch, time_steps))]
    else:
        y = rng.uniform(-1, 1, size=(batch, time_steps, 2)).astype(np.float32)
    return {family.output: y}


def trainer(model, x: dict, y: dict):
    def call():
        model.train_on_batch(x, y)
    return call


def predictor(model, x: dict):
    def call():
        model.predict_on_batch(x)
    return call


def main(argv=None) -> None:
    args = parse_args(argv)
    family = FAMILIES[args.family]
    batch = args.batch or family.batch
    print_machine(f"benchmarks/families.py --family {args.family}: training from cached features vs from images")
    features, image, trainable, same = build_pair(family, args.sizes, args.tiny)
    width = features.input[family.key].shape[-1]
    print(f"model: {family.model} ({'tiny' if args.tiny else args.sizes} sizes), {trainable:,} trained weights in both "
          f"contenders ({'equal' if same else 'NOT EQUAL'}); frame input {image.input['image'].shape[2:]} uint8 vs "
          f"{width:,}-d features; {batch} sequences of {family.time_steps} frames per step ({family.paper_note})")
    y = targets(family, batch, family.time_steps)
    cached, end_to_end = "cached", "end to end"
    calls = {cached: trainer(features, inputs(features, batch, family.time_steps), y),
             end_to_end: trainer(image, inputs(image, batch, family.time_steps), y)}
    timings = time_interleaved(calls, args.warmup, args.steps)
    count = batch * (family.time_steps if family.unit == "frames" else 1)
    print(f"{'contender':<12} {family.unit + '/step':>12} {'wall ' + family.unit + '/s':>16} "
          f"{'CPU ' + family.unit + '/s':>15}")
    rates = {}
    for name, timing in timings.items():
        rates[name] = (count / median(timing.wall), count / median(timing.cpu))
        print(f"{name:<12} {count:>12,} {rates[name][0]:>16.1f} {rates[name][1]:>15.1f}")
    target = f" (target >= {family.target:g}x)" if family.target else ""
    print(f"ratio cached / end to end ({family.unit}/s): {rates[cached][0] / rates[end_to_end][0]:.2f}x{target}")
    print(f"same ratio from CPU time: {rates[cached][1] / rates[end_to_end][1]:.2f}x")
    if args.family == "mmnet":
        window = features.get_config()["window"]
        sequence, one = "stride-1 scan", "one window"
        test = {sequence: predictor(features, inputs(features, 1, args.frames)),
                one: predictor(features, inputs(features, 1, window))}
        scored = time_interleaved(test, args.warmup, args.steps)
        per_frame = median(scored[sequence].wall) / args.frames * 1e3
        per_window = median(scored[one].wall) * 1e3
        print(f"test time on features ({args.frames} frames, L = {window}): stride-1 scan {per_frame:.3f} ms per frame, "
              f"one {window}-frame window pass {per_window:.3f} ms; ratio per frame / window pass "
              f"{per_frame / per_window:.2f} (each frame lies in up to L windows)")
    print(f"load average at end (1/5/15 min): {load_average()}")


if __name__ == "__main__":
    main()
