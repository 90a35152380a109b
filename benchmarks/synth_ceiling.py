"""How learnable are SynthAffect's valence and arousal at a given face size? A small CNN vs its shuffled-label control.

Issue #10 asks whether the generator's valence cue (mouth-corner lift and brow tilt, a few pixels) can be
learnt at all before blaming a recipe for not learning it. This script answers with the simplest learner
that sees only pixels: a 4-layer CNN (32-64-64-64 3x3 convs, max pools, global average pool, FC 64, 2 linear
outputs; chosen), trained from random weights with Adam 1e-3 and MSE on the default SynthAffect training
split (24 synthetic people) through the recipes' own pipeline (:func:`tfaffect.data.pipeline.make_dataset`,
frames with a face, shuffled), and scored on the validation split (8 unseen synthetic people, every frame
with a face): CCC per dimension over all frames concatenated and the mean of the per-video CCCs.

Beside it, in the same run, the same network and budget with the shuffled-label control
(:func:`tfaffect.training.task.with_labels_of`: each image paired with the labels of an independent draw), so
a CCC that comes from between-person chance (8 people) shows as the control's. Synthetic figures: they bound
what a recipe at that face size can be expected to reach in a similar number of steps, nothing more.

Run: ``python benchmarks/synth_ceiling.py [--sizes 48 96] [--steps 800] [--batch 64]``;
``--tiny``: smoke-test sizes (the 2-video smoke SynthAffect, a few steps). Times depend on the load (printed).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import load_average, positive_int, print_machine  # noqa: E402

DEFAULTS = {"sizes": [48, 96], "steps": 800, "batch": 64, "seed": 0}
TINY = {"sizes": [32], "steps": 3, "batch": 8}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=positive_int, nargs="+", help="face sizes in pixels (48 96)")
    parser.add_argument("--steps", type=positive_int, help="training steps per model (800)")
    parser.add_argument("--batch", type=positive_int, help="frames per step (64)")
    parser.add_argument("--seed", type=int, help="seed of the weights and of the sampling (0)")
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes on the smoke SynthAffect")
    args = parser.parse_args(argv)
    for key, value in {**DEFAULTS, **(TINY if args.tiny else {})}.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def small_cnn(size: int):
    import keras

    layers = keras.layers
    image = keras.Input((size, size, 3), dtype="uint8", name="image")
    x = layers.Rescaling(1 / 255)(image)
    for i, filters in enumerate((32, 64, 64, 64)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        if i < 3:
            x = layers.MaxPooling2D()(x)
    x = layers.Dense(64, activation="relu")(layers.GlobalAveragePooling2D()(x))
    return keras.Model(image, layers.Dense(2, name="va")(x))


def scores(model, data, size: int, batch: int) -> dict[str, float]:
    """CCC per dimension on the validation frames with a face: concatenated, and the mean over videos."""
    import numpy as np

    from tfaffect.data.pipeline import make_dataset
    from tfaffect.metrics import ccc

    truth, pred, video = [], [], []
    for x, y, _, index in make_dataset(data, "validation", batch_size=batch, training=False, image_size=size,
                                       tasks=("va",), with_index=True):
        face = index["has_face"].numpy().astype(bool)
        truth.append(y["va"].numpy()[face])
        pred.append(model.predict_on_batch(x["image"])[face])
        video.append(index["video_id"].numpy()[face])
    truth, pred, video = np.concatenate(truth), np.concatenate(pred), np.concatenate(video)
    out = {}
    for d, name in enumerate(("valence", "arousal")):
        out[name] = float(ccc(truth[:, d], pred[:, d]))
        out[f"{name} per video"] = float(np.mean([ccc(truth[video == v, d], pred[video == v, d])
                                                 for v in np.unique(video)]))
    return out


def train(size: int, steps: int, batch: int, seed: int, data, control: bool):
    import keras

    from tfaffect.data.pipeline import make_dataset
    from tfaffect.training.task import with_labels_of

    def stream(s):
        return make_dataset(data, "train", batch_size=batch, training=True, image_size=size, tasks=("va",), seed=s)

    batches = stream(seed)
    if control:
        batches = with_labels_of(batches, stream(seed + 1000))
    batches = batches.map(lambda x, y, w: (x["image"], y["va"])).take(steps)
    keras.utils.set_random_seed(seed)
    model = small_cnn(size)
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    start = time.perf_counter()
    model.fit(batches, epochs=1, verbose=0, shuffle=False)
    return model, time.perf_counter() - start


def main(argv=None) -> None:
    args = parse_args(argv)
    print_machine("benchmarks/synth_ceiling.py: a small CNN on SynthAffect pixels vs its shuffled-label control")
    from tfaffect.training.data import resolve_data

    print(f"{args.steps} steps of {args.batch} frames, Adam 1e-3, MSE, seed {args.seed}; validation = unseen "
          "synthetic people, frames with a face (synthetic figures)")
    print(f"{'size':>5} {'model':<9} {'CCC v':>7} {'CCC a':>7} {'per-video v':>12} {'per-video a':>12} {'train s':>8}")
    for size in args.sizes:
        data, _ = resolve_data(None, size, smoke=args.tiny)
        for control in (False, True):
            model, seconds = train(size, args.steps, args.batch, args.seed, data, control)
            s = scores(model, data, size, args.batch)
            print(f"{size:>5} {'control' if control else 'learner':<9} {s['valence']:>7.3f} {s['arousal']:>7.3f} "
                  f"{s['valence per video']:>12.3f} {s['arousal per video']:>12.3f} {seconds:>8.1f}", flush=True)
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
