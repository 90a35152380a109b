"""Throughput of the training input pipeline (tfaffect.data.pipeline), side by side in one run.

Contenders, all producing batches of randomly cropped and flipped uint8 faces from the same JPEGs:

* ``tf.data``: :func:`tfaffect.data.pipeline.make_dataset` in frames mode (decode + crop + flip +
  batch), unbalanced and balanced by valence/arousal quadrant (Kollias 2019 targets) and by
  expression (equal targets); plus 16-frame windows;
* ``tf.data, cache="memory"``: the same pipeline with the opt-in decoded-frame cache: every frame is
  decoded once when the pipeline is built (not timed: the timed stretch is what every epoch after
  that costs), then each batch is gathered, cropped and flipped from memory; unbalanced and
  balanced by expression. The memory it takes is printed (growth of this process's RSS while it
  is built and warmed up, beside the cache's own size);
* ``plain loop``: a Python loop over the same JPEG bytes, already in memory (no file reads):
  ``cv2.imdecode`` + numpy crop and flip + ``np.stack`` per batch.

Each contender gets a fresh pipeline per round, a warm-up, then a timed stretch, and is dropped
before the next one starts, so no prefetching pipeline works in the background of another's
timing. Rounds repeat the sequence; the median rate per contender is reported with the ratios the
project targets (balanced >= 0.6x unbalanced; unbalanced >= 3000 frames/s at 112x112 and >= 5x the
plain loop, on 2 cores), and the CPU time per frame of this process (all threads), which other
processes on the machine disturb less than the rates.

">= 5x the plain loop" is printed for two comparisons:

* "same work per frame (decode every time)": tf.data decodes every frame it delivers, like the
  loop. Both decode with libjpeg-turbo, and decoding is most of the loop's cost, so tf.data can
  gain only by running on more cores: at most ~2x on 2 cores. 5x cannot be met this way there.
* "decoded-frame cache (decoded once; the loop decodes every frame)": from the second epoch the
  pipeline does no decoding, only a gather, crop, flip and batch from memory, while the loop still
  decodes every frame. This is the comparison that can meet 5x on 2 cores; it is a different
  amount of work, paid for with memory (frames x S x S x 3 bytes for stored size S).

    python benchmarks/pipeline.py                     # generates SynthAffect into a temp dir first
    python benchmarks/pipeline.py --data DIR          # a directory written by `tfaffect prepare`
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from _common import positive_int, print_machine


def synthetic_data(workdir: str, videos: int, frames: int, size: int) -> str:
    """SynthAffect (``size`` px crops) prepared at ``size`` px into ``workdir``; returns the prepared dir."""
    from tfaffect.data.prepare import prepare
    from tfaffect.data.synth import generate

    raw = generate(os.path.join(workdir, "synth"), num_train_videos=videos, num_val_videos=1,
                   frames_per_video=frames, size=size, workers=2, progress=False)
    out = os.path.join(workdir, "prepared")
    prepare("affwild2", raw, out, size=size, frames_per_shard=512, progress=False)
    return out


def plain_loop(jpegs: list[bytes], stored: int, crop: int, batch: int, seed: int):
    """Endless batches from a Python loop: decode (OpenCV), random crop, random flip, stack."""
    import cv2

    rng = np.random.default_rng(seed)
    while True:
        for start in range(0, len(jpegs) - batch + 1, batch):
            order = rng.permutation(len(jpegs))[:batch]
            images = []
            for k in order:
                image = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpegs[k], np.uint8), cv2.IMREAD_COLOR),
                                     cv2.COLOR_BGR2RGB)
                y, x = rng.integers(0, stored - crop + 1, 2)
                image = image[y:y + crop, x:x + crop]
                if rng.random() < 0.5:
                    image = image[:, ::-1]
                images.append(image)
            yield np.stack(images)


def resident_bytes() -> int:
    """Resident memory of this process (Linux ``/proc/self/statm``; 0 where there is none)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def measure(make_batches, frames_per_batch: int, warmup: int, batches: int) -> tuple[float, float, int]:
    """(frames/s, CPU microseconds of this process per frame, growth of resident memory in bytes) of a
    fresh batch iterator after ``warmup`` batches; the iterator is dropped afterwards. CPU time counts
    every thread (tf.data's included) and is less disturbed than wall time by other processes
    sharing the cores. The memory growth is taken from before the iterator is made to the end of
    the timed stretch, while the pipeline is alive."""
    rss = resident_bytes()
    iterator = make_batches()
    for _ in range(warmup):
        next(iterator)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(iterator)
    frames = batches * frames_per_batch
    result = (frames / (time.perf_counter() - start), 1e6 * (time.process_time() - cpu) / frames,
              resident_bytes() - rss)
    del iterator
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="prepared directory (default: generate SynthAffect into a temp dir)")
    parser.add_argument("--size", type=positive_int, default=128, help="stored face size when generating")
    parser.add_argument("--crop", type=positive_int, default=112, help="random crop = model input size")
    parser.add_argument("--batch", type=positive_int, default=64)
    parser.add_argument("--videos", type=positive_int, default=8, help="SynthAffect training videos to generate")
    parser.add_argument("--frames", type=positive_int, default=300, help="frames per generated video")
    parser.add_argument("--batches", type=positive_int, default=50, help="timed batches per contender and round")
    parser.add_argument("--rounds", type=positive_int, default=3)
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print_machine("benchmarks/pipeline.py: training input pipeline, frames/s (higher is better)")
    from tfaffect.data.pipeline import cache_bytes, make_dataset
    from tfaffect.data.tfrecord import load_manifest, read_shard, split_shards

    with tempfile.TemporaryDirectory() as workdir:
        data = args.data or synthetic_data(workdir, args.videos, args.frames, args.size)
        manifest = load_manifest(data)
        stored = manifest["image_size"]
        jpegs = [ex["image"] for entry in split_shards(manifest, "train")
                 for ex in read_shard(os.path.join(data, entry["file"])) if ex["has_face"]]
        frames_total = manifest["splits"]["train"]["frames"]
        print(f"data: {data if args.data else 'SynthAffect (generated)'}, {len(jpegs)} training frames with a face, "
              f"stored {stored}x{stored}, random crop {args.crop}x{args.crop} + flip, batch {args.batch}")

        def tf_batches(batch=args.batch, **kwargs):
            def make():
                return iter(make_dataset(data, "train", batch_size=batch, training=True, crop=args.crop, flip=True,
                                         verify=False, **kwargs))
            return make

        window = 16
        unbalanced, plain = "tf.data unbalanced", "plain loop (cv2 + numpy)"
        cached, cached_balanced = "tf.data cache=memory unbalanced", "tf.data cache=memory by expression"
        contenders = {
            unbalanced: (tf_batches(), args.batch),
            "tf.data balanced by quadrant": (tf_batches(balance="quadrant"), args.batch),
            "tf.data balanced by expression": (tf_batches(balance="expression"), args.batch),
            f"tf.data windows of {window}": (
                tf_batches(mode="windows", seq_len=window, stride=window // 2, batch=max(1, args.batch // window)),
                max(1, args.batch // window) * window),
            cached: (tf_batches(cache="memory"), args.batch),
            cached_balanced: (tf_batches(cache="memory", balance="expression"), args.batch),
            plain: (lambda: plain_loop(jpegs, stored, args.crop, args.batch, 0), args.batch),
        }
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        cpu: dict[str, list[float]] = {name: [] for name in contenders}
        memory: dict[str, float] = {}
        for round_index in range(args.rounds):
            for name, (make, frames) in contenders.items():
                rate, cost, grown = measure(make, frames, warmup=5, batches=args.batches)
                if round_index == 0 and name.startswith("tf.data cache"):
                    memory[name] = grown
                rates[name].append(rate)
                cpu[name].append(cost)

    rate = {name: statistics.median(values) for name, values in rates.items()}
    cost = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"\n{'contender':36s} {'frames/s':>9s} {'CPU us/frame':>13s}   frames/s of each round")
    for name in rates:
        print(f"{name:36s} {rate[name]:9,.0f} {cost[name]:13.0f}   {', '.join(f'{v:,.0f}' for v in rates[name])}")
    print(f"\ncache=memory: {len(jpegs)} frames with a face of {frames_total} in the split; the cache holds all "
          f"{frames_total}: {cache_bytes(frames_total, stored) / 2**20:,.0f} MiB (frames x {stored} x {stored} x 3 "
          "+ labels); this process's RSS grew by "
          + ", ".join(f"{memory[name] / 2**20:,.0f} MiB ({name})" for name in memory)
          + " in the first round (the first build includes TensorFlow's own buffers; RSS rarely shrinks)")
    print("\nratios of the medians (target); 'CPU' = the base's CPU time per frame over the other's: for two "
          "tf.data pipelines, the ratio an idle machine would show; a single-threaded loop can be beaten by "
          "at most (cores) x that:")
    for label, other, base, target in (
            ("balanced by quadrant / unbalanced", "tf.data balanced by quadrant", unbalanced, 0.6),
            ("balanced by expression / unbalanced", "tf.data balanced by expression", unbalanced, 0.6),
            ("cache: by expression / unbalanced", cached_balanced, cached, 0.6),
            ("same work per frame (decode every time): unbalanced / plain loop", unbalanced, plain, 5.0),
            ("decoded-frame cache (decoded once; the loop decodes every frame): cache=memory unbalanced / plain "
             "loop", cached, plain, 5.0)):
        ratio = rate[other] / rate[base]
        print(f"  {label}: {ratio:5.2f}x (CPU {cost[base] / cost[other]:5.2f}x)  "
              f">= {target}x: {'met' if ratio >= target else 'NOT met'}")
    print(f"  unbalanced frames/s: {rate[unbalanced]:6,.0f}  >= 3,000 at 112x112: "
          f"{'met' if rate[unbalanced] >= 3000 else 'NOT met'}")
    print(f"load average at end (1/5/15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
