"""Inference cost per frame of the STAT + LSTM model (Do 2020, Table I model 6) with shared per-frame features.

Three contenders, the same weights, timed in turns (``_common.time_interleaved``) in one run:

``shared``
    tfaffect's model on one clip ``[1, T, S, S, 3]``: the face feature model (ResNet-50) runs once
    per frame, the causal windows of s frames are gathered from the per-frame scores/features, the
    BiLSTM runs over each frame's window; per-frame outputs ``[1, T, ...]``.
``recompute``
    the original code's scheme: every frame's window ``[s, S, S, 3]`` goes through the model
    separately (the backbone sees each frame s times), keeping the last frame's output. The cost
    per frame does not depend on T, so only the last ``--recompute-frames`` frames of the clip are
    timed (their windows batched together, ``[n, s, S, S, 3]``); their outputs are checked against
    ``shared``'s for the same frames (printed as the maximum absolute difference).
``backbone``
    the face feature model alone on the clip's T frames ``[T, S, S, 3]``.

Printed: seconds per frame of each (median call / frames), the ratios recompute / shared (target
>= 10x at s = 16: it approaches s + 1 when the backbone dominates) and shared / backbone (target
<= 1.3x: the BiLSTM, 2 layers x 2 directions x 1024 units over s steps per frame, and the heads are
the extra), once from wall time and once from this process's CPU time (less disturbed by other
processes on a shared machine). Calls are Keras's compiled ``predict_on_batch`` (``tf.function`` or
``jax.jit``), weights random (costs do not depend on them). Runs under either Keras backend.

``--train``: training instead, the temporal model (``--model``, Table I model 4 by default, the recipes'
default row) trained on clips of ``--clip`` frames, ``--batch`` clips a step (the recipe's 32 and 2), two
contenders timed in turns with the same head weights:

``end to end``
    the image-input model on uint8 clips ``[B, T, S, S, 3]`` (face_features="end_to_end": the backbone runs
    forward on every frame, its last stage and the face head also backward, section II.C);
``cached``
    the features-input model (``frame_input="features"``) on the face model's outputs ``[B, T, F]`` and
    ``[B, T, 7]`` (face_features="cached": the face model frozen, extracted once into the feature cache).

Printed: training frames/s of each (frames = B x T per step, median call) and the ratio cached / end to
end (target >= 10x on 2 cores), from wall and CPU time. Both read in-memory arrays: the data pipelines
(JPEG decode vs reading feature shards) are not timed here (``benchmarks/features.py`` times them), nor
the one-off extraction (one inference pass of the face model per frame).

Run: ``python benchmarks/stat_lstm.py [--frames 64] [--window 16] [--steps 3] [--quick] [--tiny]``;
``python benchmarks/stat_lstm.py --train [--model 4] [--size 224] [--clip 32] [--batch 2] [--steps 3]``.
``--quick`` = 2 recomputed windows, 1 timed call (about a minute on 2 cores); ``--tiny`` = the
registry's tiny configuration (smoke tests).
Timings depend on the machine's load (printed at start and end).
"""

from __future__ import annotations

import argparse
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from _common import load_average, median, positive_int, time_interleaved  # noqa: E402

MODEL_NUMBER = 6  # Do 2020, Table I model 6: STAT + LSTM, expression + valence/arousal
DEFAULTS = {"frames": 64, "recompute_frames": 4, "steps": 3, "warmup": 1}
"""T = 64: the BiLSTM runs over B*T windows at once, and with few rows its matrix products are bound by
reading the 1024-unit weights (T = 16 measured 1.5-1.8x backbone here, T = 32 1.35x, T = 64 1.2x);
prediction over a video uses long clips. 4 recomputed windows = 64 backbone frames per call, as shared."""
QUICK = {"recompute_frames": 2, "steps": 1}
TINY_FRAMES = {"frames": 4, "recompute_frames": 2}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=positive_int, help="T, frames of the clip (64)")
    parser.add_argument("--window", type=positive_int, help="s, frames per causal window (16, Do 2020 III.B)")
    parser.add_argument("--recompute-frames", type=positive_int,
                        help="frames whose windows the recompute contender runs (4; quick 2)")
    parser.add_argument("--steps", type=positive_int, help="timed calls per contender (3; quick 1)")
    parser.add_argument("--warmup", type=int, help="untimed calls per contender first (1)")
    parser.add_argument("--quick", action="store_true", help="fewer recomputed windows and timed calls")
    parser.add_argument("--tiny", action="store_true", help="the tiny registry configuration (smoke test)")
    parser.add_argument("--train", action="store_true", help="training: cached features vs end to end from images")
    parser.add_argument("--model", type=int, choices=(3, 4, 5, 6), default=4, help="--train: Table I model (4)")
    parser.add_argument("--size", type=positive_int, help="--train: face side in pixels (224, Do 2020; tiny 32)")
    parser.add_argument("--clip", type=positive_int, default=32, help="--train: frames per clip (32, the recipe's)")
    parser.add_argument("--batch", type=positive_int, default=2, help="--train: clips per step (2, the recipe's)")
    args = parser.parse_args(argv)
    defaults = {**DEFAULTS, **(QUICK if args.quick else {}), **(TINY_FRAMES if args.tiny else {})}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.recompute_frames = min(args.recompute_frames, args.frames)
    if args.size is None:
        args.size = 32 if args.tiny else 224
    if args.tiny and args.train:
        args.clip = min(args.clip, 4)
    return args


def print_header(title: str) -> None:
    """Title, backend and load average; the full machine description where TensorFlow is the backend."""
    import keras

    if keras.backend.backend() == "tensorflow":
        from _common import print_machine

        print_machine(title)
        return
    print(title)
    print(f"Keras {keras.__version__} (backend {keras.backend.backend()}), {os.cpu_count()} logical cores")
    print(f"load average at start (1/5/15 min): {load_average()}")


def build(tiny: bool, window: int | None):
    """Table I model 6 (full size, or the registry's tiny configuration) and its face feature model."""
    from tfaffect.models.registry import build_model

    overrides = {} if window is None else {"window": window}
    model = build_model(f"stat_lstm_model{MODEL_NUMBER}", tiny=tiny, **overrides)
    return model, model.get_layer("face")


def training(args) -> None:
    """``--train``: training frames/s of the temporal model from cached features vs end to end from images."""
    import keras

    from tfaffect.losses import stat_lstm_losses
    from tfaffect.models.registry import build_model
    from tfaffect.models.stat_lstm import with_frame_input

    print_header("STAT + LSTM training (Do 2020, Table I model %d): from cached face features vs end to end from "
                 "images" % args.model)
    overrides = {"image_size": args.size, **({} if args.window is None else {"window": args.window})}
    end_to_end = build_model(f"stat_lstm_model{args.model}", tiny=args.tiny, **overrides)
    cached = with_frame_input(end_to_end, "features")
    config = end_to_end.get_config()
    b, t, size = args.batch, args.clip, args.size
    rng = np.random.default_rng(0)
    y = {"expression": rng.integers(0, 7, (b, t)).astype(np.int32)}
    if config["va"]:
        va = rng.uniform(-1, 1, (b, t, 2)).astype(np.float32)
        y.update(va=va, va_aux=rng.uniform(-1, 1, (b, t, 5)).astype(np.float32))
    inputs = {"end to end": {"image": rng.integers(0, 256, (b, t, size, size, 3), dtype=np.uint8)},
              "cached": {"features": rng.uniform(0, 1, (b, t, config["feature_units"])).astype(np.float32),
                         "scores": rng.dirichlet(np.ones(7), (b, t)).astype(np.float32)}}
    calls = {}
    for name, model in (("end to end", end_to_end), ("cached", cached)):
        model.compile(optimizer=keras.optimizers.Adam(1e-4), **stat_lstm_losses(va=config["va"]))
        calls[name] = (lambda m, x: lambda: m.train_on_batch(x, y))(model, inputs[name])
    trainable = {name: sum(int(np.prod(w.shape)) for w in m.trainable_weights)
                 for name, m in (("end to end", end_to_end), ("cached", cached))}
    print(f"{size}x{size} faces, window s = {config['window']}, {b} clips of {t} frames per step; "
          f"{args.warmup} warm-up + {args.steps} timed steps each, alternating; trainable parameters: "
          + ", ".join(f"{name} {n:,}" for name, n in trainable.items()))
    timings = time_interleaved(calls, args.warmup, args.steps)
    frames = b * t
    rates = {name: (frames / median(tm.wall), frames / median(tm.cpu)) for name, tm in timings.items()}
    print(f"{'contender':<11} {'frames/step':>11} {'wall frames/s':>14} {'CPU frames/s':>13}")
    for name, (wall, cpu) in rates.items():
        print(f"{name:<11} {frames:>11} {wall:>14.1f} {cpu:>13.1f}")
    for label, index in (("wall", 0), ("CPU", 1)):
        print(f"ratio cached / end to end ({label}): {rates['cached'][index] / rates['end to end'][index]:.2f}x "
              f"(target >= 10x)")
    print(f"load average at end (1/5/15 min): {load_average()}")


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.getLogger("tfaffect.models.stat_lstm").setLevel(logging.ERROR)  # random weights are intended here
    if args.train:
        training(args)
        return
    print_header("STAT + LSTM inference (Do 2020, Table I model 6): shared per-frame features vs recomputed "
                 "backbone per window vs backbone alone")
    model, face = build(args.tiny, args.window)
    config = model.get_config()
    s, size, frames, n = config["window"], config["image_size"], args.frames, args.recompute_frames
    clip = np.random.default_rng(0).integers(0, 256, size=(1, frames, size, size, 3), dtype=np.uint8)
    last = range(frames - n, frames)
    windows = np.stack([clip[0, [max(t - s + 1 + j, 0) for j in range(s)]] for t in last])  # [n, s, S, S, 3]

    calls = {
        "shared": lambda: model.predict_on_batch({"image": clip}),
        "recompute": lambda: model.predict_on_batch({"image": windows}),
        "backbone": lambda: face.predict_on_batch({"image": clip[0]}),
    }
    frames_per_call = {"shared": frames, "recompute": n, "backbone": frames}
    shared_out, recompute_out = calls["shared"](), calls["recompute"]()
    difference = max(float(np.max(np.abs(shared_out[key][0, frames - n:] - recompute_out[key][:, -1])))
                     for key in shared_out)
    print(f"{size}x{size} frames, window s = {s}, clip of T = {frames} frames, recompute on the last {n}; "
          f"{args.warmup} warm-up + {args.steps} timed calls each, alternating; {model.count_params():,} parameters")
    print(f"same outputs check: max |shared - recompute| over {n} frames = {difference:.2e}")
    timings = time_interleaved(calls, args.warmup, args.steps)

    per_frame = {name: (median(t.wall) / frames_per_call[name], median(t.cpu) / frames_per_call[name])
                 for name, t in timings.items()}
    print(f"{'contender':<10} {'frames/call':>11} {'backbone passes/frame':>22} {'wall s/frame':>13} "
          f"{'CPU s/frame':>12}")
    passes = {"shared": 1, "recompute": s, "backbone": 1}
    for name, (wall, cpu) in per_frame.items():
        print(f"{name:<10} {frames_per_call[name]:>11} {passes[name]:>22} {wall:>13.4f} {cpu:>12.4f}")
    for label, index in (("wall", 0), ("CPU", 1)):
        shared, recompute, backbone = (per_frame[name][index] for name in ("shared", "recompute", "backbone"))
        print(f"ratio recompute / shared ({label}): {recompute / shared:.2f}x (target >= 10x at s = 16)")
        print(f"ratio shared / backbone ({label}): {shared / backbone:.2f}x (target <= 1.3x)")
    print(f"load average at end (1/5/15 min): {load_average()}")


if __name__ == "__main__":
    main()
