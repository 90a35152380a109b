"""Training speed of AffWildNet: time folded into the batch (tfaffect) vs ``TimeDistributed`` around the CNN.

Both contenders are the same network -- AffWildNet (Kollias 2019, Table 8: VGG-Face conv part on
96x96 crops, FC 4096, 2x GRU 128, FC 2), CCC loss (:class:`tfaffect.losses.CCCLoss`), Adam -- and
differ only in how the per-frame CNN meets the ``[B, T, ...]`` sequence batch:

* fold: :class:`tfaffect.models.AffWildNet` reshapes ``[B, T, S, S, 3] -> [B*T, S, S, 3]``, runs the
  CNN once on all B*T frames and reshapes back (``FoldTime`` / ``UnfoldTime``);
* TimeDistributed: ``keras.layers.TimeDistributed(cnn)`` on an input with a FIXED time length T.
  (With ``T=None`` it is wrong inside traced graphs, DESIGN.md "Known traps"; with a fixed T Keras
  unrolls T calls of the CNN on B frames each.)

The TimeDistributed twin is built here from clones of the fold model's own layers, with the same
weights copied in, so the parameter counts match and the two give the same outputs (printed as a
check). Both models train on the same random uint8 batch held in memory (no input pipeline), with
``train_on_batch`` (Keras's compiled train step, as ``fit`` runs it). Warm-up steps (tracing) are
excluded; the timed steps alternate between the two models and the median is reported, with the
median CPU time of the process beside it (see ``_common.Timings``: robust to other processes' load,
blind to idle cores).

Run: ``python benchmarks/train.py [--batch 5] [--time 16] [--steps 5] [--warmup 2] [--quick] [--tiny]``.
Timings depend on the machine's load (printed).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from _common import (build_affwildnet, fill_defaults, load_average, median, positive_int, print_machine,  # noqa: E402
                     random_sequences, time_interleaved)

LEARNING_RATE = 1e-3  # Kollias 2019, sections 4.2.1 and 4.2.1.3: learning rate 0.001 (CNN and CNN-RNN alike)
QUICK = {"batch": 1, "time": 8, "steps": 2, "warmup": 1}
"""What ``--quick`` sets (under a minute on 2 cores); explicit options still win."""


def _clone(layer):
    """A fresh, unbuilt copy of ``layer`` (same class and configuration, new weights)."""
    return type(layer).from_config(layer.get_config())


def time_distributed_twin(model, time_steps: int):
    """``model`` (a landmark-free :class:`~tfaffect.models.AffWildNet`) rebuilt with ``TimeDistributed`` around its CNN.

    The layers between ``FoldTime`` and ``UnfoldTime`` (input scaling, conv part) become a per-frame
    model wrapped in ``keras.layers.TimeDistributed`` over a fixed ``time_steps``; the layers after
    ``UnfoldTime`` (FC, dropout, GRUs, output) follow unchanged. Every layer is a clone with the
    original's weights copied in.
    """
    import keras

    from tfaffect.errors import ConfigError
    from tfaffect.models.layers import FoldTime, UnfoldTime

    if list(model.input) != ["image"]:
        raise ConfigError(f"time_distributed_twin needs an image-only AffWildNet, got inputs {list(model.input)}")
    kinds = [type(layer) for layer in model.layers]
    fold, unfold = kinds.index(FoldTime), kinds.index(UnfoldTime)
    per_frame, head = model.layers[fold + 1:unfold], model.layers[unfold + 1:]
    image_shape = tuple(model.input["image"].shape[2:])

    frame = keras.Input(shape=image_shape, dtype="uint8", name="frame")
    x, pairs = frame, []
    for layer in per_frame:
        copy = _clone(layer)
        x = copy(x)
        pairs.append((layer, copy))
    cnn = keras.Model(frame, x, name="per_frame_cnn")

    image = keras.Input(shape=(time_steps,) + image_shape, dtype="uint8", name="image")
    x = keras.layers.TimeDistributed(cnn, name="time_distributed_cnn")(image)
    for layer in head:
        copy = _clone(layer)
        x = copy(x)
        pairs.append((layer, copy))
    twin = keras.Model({"image": image}, {"va": x}, name=f"{model.name}_time_distributed")
    for layer, copy in pairs:
        copy.set_weights(layer.get_weights())
    return twin


def compile_for_training(model, jit_compile: bool) -> None:
    """Adam + CCC loss on ``"va"``, as an AffWildNet recipe compiles it."""
    import keras

    from tfaffect.losses import CCCLoss

    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss={"va": CCCLoss()}, jit_compile=jit_compile)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Prints frames/s of both variants and their ratio. Default run: a few minutes on 2 cores.")
    parser.add_argument("--batch", type=positive_int, help="sequences per batch (default 5; --quick: 1)")
    parser.add_argument("--time", type=positive_int,
                        help="frames per sequence, the fixed T of the TimeDistributed twin (default 16; --quick: 8)")
    parser.add_argument("--steps", type=positive_int, help="timed training steps per variant (default 5; --quick: 2)")
    parser.add_argument("--warmup", type=int, help="untimed steps per variant first, tracing included "
                                                   "(default 2; --quick: 1)")
    parser.add_argument("--jit", action="store_true", help="compile the train steps with XLA (default: off, as "
                                                           "the recipes)")
    parser.add_argument("--quick", action="store_true", help="small batch and few steps: under a minute")
    parser.add_argument("--tiny", action="store_true",
                        help="the model's tiny test configuration (32x32, narrow FC/GRU), for smoke runs")
    args = parser.parse_args(argv)
    return fill_defaults(parser, args, QUICK if args.quick else {"batch": 5, "time": 16, "steps": 5, "warmup": 2})


def main(argv=None) -> None:
    args = parse_args(argv)
    print_machine("AffWildNet training: time folded into the batch vs TimeDistributed(CNN)")

    fold = build_affwildnet(args.tiny)
    twin = time_distributed_twin(fold, args.time)
    image_size = fold.input["image"].shape[2]
    data = random_sequences(args.batch, args.time, image_size)
    x, y, weight = {"image": data["image"]}, {"va": data["va"]}, {"va": data["weight"]}
    difference = np.max(np.abs(np.asarray(fold(x, training=False)["va"]) - np.asarray(twin(x, training=False)["va"])))

    models = {"fold time into batch (tfaffect)": fold, f"TimeDistributed(CNN), T={args.time}": twin}
    for model in models.values():
        compile_for_training(model, args.jit)
    frames = args.batch * args.time
    print(f"batch {args.batch} sequences x {args.time} frames = {frames} frames of {image_size}x{image_size}; "
          f"{args.warmup} warm-up + {args.steps} timed steps each, alternating; XLA {'on' if args.jit else 'off'}")
    print(f"same network check: max |output difference| before training = {difference:.2e}")
    timings = time_interleaved({name: (lambda m=model: m.train_on_batch(x, y, sample_weight=weight))
                                for name, model in models.items()}, args.warmup, args.steps)

    print(f"{'variant':<34} {'parameters':>12} {'median s/step':>14} {'min s/step':>11} {'frames/s':>9} "
          f"{'median CPU s/step':>18}")
    for name, model in models.items():
        wall = timings[name].wall
        print(f"{name:<34} {model.count_params():>12,} {median(wall):>14.3f} {min(wall):>11.3f} "
              f"{frames / median(wall):>9.1f} {median(timings[name].cpu):>18.3f}")
    fold_time, twin_time = (timings[name] for name in models)
    print(f"ratio fold / TimeDistributed (frames/s): {median(twin_time.wall) / median(fold_time.wall):.2f}x")
    print(f"same ratio from CPU time (work per frame; less disturbed by other processes): "
          f"{median(twin_time.cpu) / median(fold_time.cpu):.2f}x")
    print(f"load average at end (1/5/15 min): {load_average()}")


if __name__ == "__main__":
    main()
