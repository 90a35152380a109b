"""Inference speed of AffWildNet-96 as a fraction of this machine's measured dense-matmul peak, fp32 and bf16.

One run prints:

1. the dense-matmul peak measured now: ``tf.linalg.matmul`` of random square matrices (sizes
   ``--matmul-sizes``) inside a ``tf.function``, best of ``--repeats`` calls, GFLOP/s = 2 n^3 / t,
   in float32 and bfloat16;
2. AffWildNet (Kollias 2019, Table 8: VGG-Face conv part on 96x96 crops, FC 4096, 2x GRU 128, FC 2)
   inference frames/s for each ``--batches`` shape ``BxT``, in float32 and in bfloat16 (the same
   model built under Keras's ``"mixed_bfloat16"`` policy, float32 weights copied in, computing in
   bf16), called as a compiled ``tf.function`` of ``model(x, training=False)`` on an in-memory uint8
   batch (not ``model.predict``, whose per-call data handling would be timed too);
3. achieved GFLOP/s = FLOPs per frame x frames/s, and that as a fraction of the peak of the same
   precision. FLOPs per frame come from the layer shapes (:func:`flops_per_frame`): conv
   ``2 k_h k_w c_in c_out H_out W_out``, dense ``2 in out``, GRU per frame (one time step)
   ``2 * 3 (in u + u u)``; pooling, activations, biases and GRU gates are not counted (a few tenths
   of a percent of the total). The median call gives "of peak"; the fastest call ("best of peak")
   compares like with like against the best-of-N peak when other processes load the machine; "CPU of
   peak" divides GFLOP per CPU second of this process by the matmul's (see ``_common.Timings``).

``--xla`` adds rows with the model function compiled by XLA (``jit_compile=True``).

Run: ``python benchmarks/inference.py [--batches 1x80,8x16] [--steps 3] [--quick] [--tiny] [--xla]``.
Timings depend on the machine's load (printed).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import (build_affwildnet, fill_defaults, load_average, median, positive_int, print_machine,  # noqa: E402
                     random_sequences, time_interleaved)

PRECISIONS = ("fp32", "bf16")
QUICK = {"batches": [(1, 16)], "matmul_sizes": [2048], "repeats": 3, "steps": 2, "warmup": 1}
DEFAULTS = {"batches": [(1, 80), (8, 16)], "matmul_sizes": [2048, 4096], "repeats": 5, "steps": 3, "warmup": 1}
"""Batches: 1 x 80 is one sequence of the original code's length (FORMATS.md "Aff-Wild"); 8 x 16 a
batch of short windows. Neither is fixed by the paper; they cover both shapes a deployment meets."""


def iter_layers(model):
    """Every layer of ``model``, descending into nested models (the backbone), in order."""
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from iter_layers(layer)
        else:
            yield layer


def flops_per_frame(model) -> dict[str, int]:
    """Multiply-add FLOPs per frame of an image-sequence model, by kind: ``{"conv", "dense", "gru"}``.

    Conv2D: ``2 k_h k_w c_in c_out H_out W_out``; Dense: ``2 in out`` (applied once per frame);
    GRU: ``2 * 3 (in u + u u)`` per time step, i.e. per frame. Layers without weights (pooling,
    reshapes, activations, dropout, scaling) are not counted; a layer with weights of another kind
    raises ``ConfigError`` rather than being left out silently.
    """
    import keras

    from tfaffect.errors import ConfigError

    counts = {"conv": 0, "dense": 0, "gru": 0}
    for layer in iter_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            k_h, k_w, c_in, c_out = layer.kernel.shape
            _, h_out, w_out, _ = layer.output.shape
            counts["conv"] += 2 * k_h * k_w * c_in * c_out * h_out * w_out
        elif isinstance(layer, keras.layers.Dense):
            fan_in, fan_out = layer.kernel.shape
            counts["dense"] += 2 * fan_in * fan_out
        elif isinstance(layer, keras.layers.GRU):
            units, fan_in = layer.units, layer.cell.kernel.shape[0]
            counts["gru"] += 2 * 3 * (fan_in * units + units * units)
        elif layer.weights:
            raise ConfigError(f"no FLOP formula for layer {layer.name!r} ({type(layer).__name__})")
    return counts


def matmul_gflops(size: int, dtype: str, repeats: int) -> tuple[float, float]:
    """GFLOP/s of ``size x size`` matmuls in ``dtype``: best of ``repeats`` timed calls (after one untimed).

    Returns ``(per wall second, per CPU second of this process)``, each from its fastest call.
    """
    import tensorflow as tf

    a = tf.cast(tf.random.uniform((size, size), seed=1), dtype)
    b = tf.cast(tf.random.uniform((size, size), seed=2), dtype)
    product = tf.function(tf.linalg.matmul)
    timings = time_interleaved({"matmul": lambda: product(a, b).numpy()}, warmup=1, steps=repeats)["matmul"]
    flops = 2 * size ** 3
    return flops / min(timings.wall) / 1e9, flops / min(timings.cpu) / 1e9


def build_precision_models(tiny: bool) -> dict[str, object]:
    """``{"fp32": model, "bf16": the same under "mixed_bfloat16" with the fp32 weights}``."""
    import keras

    fp32 = build_affwildnet(tiny)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        bf16 = build_affwildnet(tiny)
    finally:
        keras.config.set_dtype_policy(previous)
    bf16.set_weights(fp32.get_weights())
    return {"fp32": fp32, "bf16": bf16}


def inference_call(model, image, jit_compile: bool):
    """A no-argument call running ``model(image, training=False)`` compiled, returning host values."""
    import tensorflow as tf

    function = tf.function(lambda x: model({"image": x}, training=False)["va"], jit_compile=jit_compile)
    return lambda: function(image).numpy()


def parse_batches(text: str) -> list[tuple[int, int]]:
    """``"1x80,8x16"`` -> ``[(1, 80), (8, 16)]``."""
    batches = []
    for item in text.split(","):
        parts = item.lower().split("x")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"expected BxT items like 1x80, got {item!r}")
        batches.append((positive_int(parts[0]), positive_int(parts[1])))
    return batches


def parse_sizes(text: str) -> list[int]:
    """``"2048,4096"`` -> ``[2048, 4096]``."""
    return [positive_int(item) for item in text.split(",")]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Default run: a few minutes on 2 cores; --quick: under a minute.")
    parser.add_argument("--batches", type=parse_batches,
                        help="comma-separated BxT input shapes (default 1x80,8x16; --quick: 1x16)")
    parser.add_argument("--steps", type=positive_int, help="timed model calls per shape and precision "
                                                           "(default 3; --quick: 2)")
    parser.add_argument("--warmup", type=int, help="untimed calls first, tracing included (default 1)")
    parser.add_argument("--matmul-sizes", type=parse_sizes,
                        help="square matmul sizes for the peak (default 2048,4096; --quick: 2048)")
    parser.add_argument("--repeats", type=positive_int, help="timed matmuls per size, best counts "
                                                             "(default 5; --quick: 3)")
    parser.add_argument("--xla", action="store_true", help="also time the model compiled with XLA")
    parser.add_argument("--quick", action="store_true", help="one small shape, few steps: under a minute")
    parser.add_argument("--tiny", action="store_true",
                        help="the model's tiny test configuration (32x32, narrow FC/GRU), for smoke runs")
    args = parser.parse_args(argv)
    return fill_defaults(parser, args, QUICK if args.quick else DEFAULTS)


def main(argv=None) -> None:
    import tensorflow as tf

    args = parse_args(argv)
    print_machine("AffWildNet inference vs the measured dense-matmul peak")

    dtypes = {"fp32": "float32", "bf16": "bfloat16"}
    peak = {precision: 0.0 for precision in PRECISIONS}
    cpu_peak = dict(peak)
    print(f"\nmatmul peak (tf.linalg.matmul in a tf.function, best of {args.repeats}), GFLOP/s = 2 n^3 / t; "
          f"per wall second (per CPU second)")
    print(f"{'n':>6} " + " ".join(f"{precision:>18}" for precision in PRECISIONS))
    for size in args.matmul_sizes:
        rates = {precision: matmul_gflops(size, dtypes[precision], args.repeats) for precision in PRECISIONS}
        print(f"{size:>6} " + " ".join(f"{rates[p][0]:>10.1f} ({rates[p][1]:>5.1f})" for p in PRECISIONS))
        peak = {p: max(peak[p], rates[p][0]) for p in PRECISIONS}
        cpu_peak = {p: max(cpu_peak[p], rates[p][1]) for p in PRECISIONS}
    print(f"{'peak':>6} " + " ".join(f"{peak[p]:>10.1f} ({cpu_peak[p]:>5.1f})" for p in PRECISIONS))

    models = build_precision_models(args.tiny)
    counts = flops_per_frame(models["fp32"])
    per_frame = sum(counts.values())
    image_size = models["fp32"].input["image"].shape[2]
    print(f"\nAffWildNet-{image_size} ({models['fp32'].count_params():,} parameters), FLOPs per frame "
          f"(analytic): conv {counts['conv'] / 1e9:.4f} G, dense {counts['dense'] / 1e6:.2f} M, "
          f"GRU {counts['gru'] / 1e6:.2f} M, total {per_frame / 1e9:.4f} GFLOP")
    variants = [(precision, False) for precision in PRECISIONS]
    if args.xla:
        variants += [(precision, True) for precision in PRECISIONS]
    print(f"model(x, training=False) in a tf.function; {args.warmup} warm-up + {args.steps} timed calls "
          f"per row, alternating within a shape; median")
    print(f"{'B x T':>7} {'precision':>10} {'XLA':>4} {'median s':>9} {'frames/s':>9} {'GFLOP/s':>9} "
          f"{'of peak':>8} {'best s':>7} {'best of peak':>13} {'CPU s':>7} {'CPU of peak':>12}")
    for batch, time_steps in args.batches:
        image = tf.constant(random_sequences(batch, time_steps, image_size)["image"])
        calls = {(precision, jit): inference_call(models[precision], image, jit) for precision, jit in variants}
        timings = time_interleaved(calls, args.warmup, args.steps)
        flops = per_frame * batch * time_steps / 1e9  # GFLOP per call
        for (precision, jit), timing in timings.items():
            wall, best, cpu = median(timing.wall), min(timing.wall), median(timing.cpu)
            print(f"{f'{batch}x{time_steps}':>7} {precision:>10} {'on' if jit else 'off':>4} {wall:>9.3f} "
                  f"{batch * time_steps / wall:>9.1f} {flops / wall:>9.1f} {flops / wall / peak[precision]:>8.1%} "
                  f"{best:>7.3f} {flops / best / peak[precision]:>13.1%} "
                  f"{cpu:>7.3f} {flops / cpu / cpu_peak[precision]:>12.1%}")
    print(f"load average at end (1/5/15 min): {load_average()}")


if __name__ == "__main__":
    main()
