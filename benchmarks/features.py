"""Training a temporal model from the per-frame feature cache vs end to end from images, frames/s.

Both contenders train the same head, a 1-layer LSTM (64 units) over 16-frame windows of a frozen frame
CNN's 512-d features with a per-frame valence/arousal output, on the same prepared SynthAffect data
(``benchmarks/pipeline.py``'s generator), batches of 8 windows, training pipelines (shuffled, stride 8):

``cached``
    the windows come from the feature cache (:class:`tfaffect.training.features.FeatureStage`, extracted
    once here, then read with :func:`tfaffect.data.pipeline.make_feature_dataset`); a step trains the head.
``end to end``
    the windows come from the image shards (:func:`tfaffect.data.pipeline.make_dataset`: JPEG decode per
    frame); a step runs the frozen CNN over the B x 16 frames (time folded into the batch) and trains the
    head on its features.

The contenders take turns (``_common.time_interleaved``), each call ``--batches`` training steps from its own
iterator. Printed: frames/s of each (frames = windows x 16, from the median call), the ratio cached / end to
end (target >= 10x on 2 cores) from wall and from CPU time, and the one-off extraction time. The frame CNN
here is small (8 convs, about 0.24 GFLOP per 96 px frame); the published frame models cost far more per
frame (VGG-16's conv part about 5.6 GFLOP at 96 px, ``benchmarks/inference.py``), which only the end-to-end
contender pays.

Run: ``python benchmarks/features.py [--videos 6] [--frames 120] [--size 96] [--batches 10] [--steps 3]``;
``--quick``: fewer videos and steps (about a minute on 2 cores); ``--tiny``: smoke-test sizes.
Timings depend on the machine's load (printed at start and end).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import fill_defaults, load_average, median, positive_int, print_machine, time_interleaved  # noqa: E402

WINDOW, STRIDE, BATCH, FEATURES, UNITS = 16, 8, 8, 512, 64
"""16-frame windows (Do 2020's s = 16), stride 8 (Li 2017: half the window in training), 8 windows a batch,
512-d features (MM-Net's CNN features), a 64-unit LSTM. Chosen for the benchmark."""
DEFAULTS = {"videos": 6, "frames": 120, "size": 96, "batches": 10, "steps": 3, "warmup": 1}
QUICK = {"videos": 3, "frames": 80, "batches": 5, "steps": 2}
TINY = {"videos": 2, "frames": 40, "size": 32, "batches": 1, "steps": 1, "warmup": 0}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=positive_int, help="SynthAffect training videos to generate (6)")
    parser.add_argument("--frames", type=positive_int, help="frames per video (120)")
    parser.add_argument("--size", type=positive_int, help="face size in pixels, the CNN's input (96)")
    parser.add_argument("--batches", type=positive_int, help="training steps per timed call (10)")
    parser.add_argument("--steps", type=positive_int, help="timed calls per contender (3)")
    parser.add_argument("--warmup", type=int, help="untimed calls per contender first (1)")
    parser.add_argument("--quick", action="store_true", help="fewer videos and calls")
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes")
    args = parser.parse_args(argv)
    return fill_defaults(parser, args, {**DEFAULTS, **(QUICK if args.quick else {}), **(TINY if args.tiny else {})})


def frame_cnn(size: int):
    """The frozen frame model: 4 stages of two 3x3 convs (the first strided; 32-256 channels), global pooling,
    Dense 512 "features": about 0.24 GFLOP per 96 px frame."""
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((size, size, 3), dtype="uint8", name="image")
    h = keras.layers.Rescaling(1 / 127.5, offset=-1)(image)
    for channels in (32, 64, 128, 256):
        h = keras.layers.Conv2D(channels, 3, strides=2, padding="same", activation="relu")(h)
        h = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")(h)
    features = keras.layers.Dense(FEATURES, activation="relu", name="features")(keras.layers.GlobalAveragePooling2D()(h))
    return keras.Model({"image": image}, features)


def lstm_head():
    """``[B, T, 512]`` -> per-frame valence/arousal ``[B, T, 2]``; compiled, MSE weighted by valid frames."""
    import keras

    features = keras.Input((WINDOW, FEATURES), name="features")
    va = keras.layers.Dense(2, name="va")(keras.layers.LSTM(UNITS, return_sequences=True)(features))
    head = keras.Model(features, va)
    head.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return head


def end_to_end_model(cnn, head):
    """Frozen ``cnn`` over every frame of ``[B, T, S, S, 3]`` windows (time folded into the batch), then ``head``."""
    import keras
    from keras import ops

    cnn.trainable = False

    class EndToEnd(keras.Model):
        def __init__(self):
            super().__init__()
            self.cnn, self.head = cnn, head

        def call(self, images):
            batch = ops.shape(images)[0]
            frames = ops.reshape(images, (-1, *images.shape[2:]))
            return self.head(ops.reshape(self.cnn({"image": frames}, training=False), (batch, WINDOW, FEATURES)))

    model = EndToEnd()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model


def trainer(model, dataset, key: str, steps: int):
    """A call: ``steps`` training steps on the next batches of ``dataset`` (x[key] -> y["va"], weighted)."""
    batches = iter(dataset)

    def call():
        for _ in range(steps):
            x, y, weight = next(batches)
            model.train_on_batch(x[key], y["va"], sample_weight=weight["va"])
    return call


def main(argv=None) -> None:
    args = parse_args(argv)
    print_machine("benchmarks/features.py: temporal-model training from cached features vs from images, frames/s")
    from pipeline import synthetic_data

    from tfaffect.data.pipeline import make_dataset, make_feature_dataset, num_elements
    from tfaffect.training import runner
    from tfaffect.training.features import FeatureStage

    with tempfile.TemporaryDirectory() as workdir:
        os.environ["TFAFFECT_CACHE"] = os.path.join(workdir, "cache")
        data = synthetic_data(workdir, args.videos, args.frames, args.size)
        cnn = frame_cnn(args.size)
        cnn.save(os.path.join(workdir, "frame_cnn.keras"))
        started = time.perf_counter()
        features = runner.resolve(FeatureStage(os.path.join(workdir, "frame_cnn.keras"), {"features": "features"},
                                               data=data, splits=("train",)))
        extraction = time.perf_counter() - started
        windows = num_elements(data, "train", mode="windows", seq_len=WINDOW, stride=STRIDE)
        print(f"data: SynthAffect, {args.videos} videos x {args.frames} frames at {args.size} px, {windows} training "
              f"windows of {WINDOW} (stride {STRIDE}), batch {BATCH}, LSTM {UNITS} over {FEATURES}-d features")
        print(f"one-off extraction of every frame's features: {extraction:.1f} s")

        common = dict(batch_size=BATCH, training=True, mode="windows", seq_len=WINDOW, stride=STRIDE, tasks=("va",),
                      verify=False)
        cached, end_to_end = "cached", "end to end"
        calls = {cached: trainer(lstm_head(), make_feature_dataset(features, "train", **common), "features",
                                 args.batches),
                 end_to_end: trainer(end_to_end_model(cnn, lstm_head()), make_dataset(data, "train", **common),
                                     "image", args.batches)}
        timings = time_interleaved(calls, args.warmup, args.steps)
    frames = args.batches * BATCH * WINDOW
    print(f"{'contender':<12} {'frames/call':>11} {'wall frames/s':>14} {'CPU frames/s':>13}")
    rates = {}
    for name, timing in timings.items():
        rates[name] = (frames / median(timing.wall), frames / median(timing.cpu))
        print(f"{name:<12} {frames:>11,} {rates[name][0]:>14.1f} {rates[name][1]:>13.1f}")
    print(f"ratio cached / end to end (frames/s): {rates[cached][0] / rates[end_to_end][0]:.2f}x (target >= 10x)")
    print(f"same ratio from CPU time: {rates[cached][1] / rates[end_to_end][1]:.2f}x")
    print(f"load average at end (1/5/15 min): {load_average()}")


if __name__ == "__main__":
    main()
