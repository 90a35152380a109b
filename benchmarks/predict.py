"""End-to-end speed of ``tfaffect predict`` against a naive per-frame pipeline, with a stage breakdown.

One run, on one video, prints:

1. **End to end**: frames/s of :func:`tfaffect.predict.predict_video` (the function ``tfaffect predict``
   calls): decoding, face detection on batches of downscaled frames with tracking in between,
   alignment, the model on windows of crops, the CSV and both PNG plots.
2. **Naive**: what a user would write without batching: for every frame, MTCNN (the ``mtcnn`` package as shipped,
   its networks called eagerly) on the *full* frame,
   the most confident face aligned with :func:`tfaffect.data.faces.align_face`, one model call on that
   one crop (``T = 1``), then the same CSV and plots. Because it is slow it runs on the first
   ``--naive-frames`` frames of the same video (its cost per frame does not depend on the video's length).
3. **Stages** of the end-to-end run, each timed alone on the same frames: decode
   (:func:`~tfaffect.data.video.iter_frames`), faces (:class:`~tfaffect.data.faces.FacePipeline` with
   predict's settings, on frames already in memory), model (:func:`tfaffect.predict.predict_crops` on
   the crops), writing (:func:`tfaffect.predict.write_outputs`). Their sum against the end-to-end time,
   and the row "no overlap" (``overlap=False``: every stage in one thread, one after the
   other), show what the background decode/detection thread gains.
4. **End to end, bf16**: the same with ``precision="bfloat16"`` (an opt-in of ``tfaffect predict``; the
   default stays float32), and the largest difference of its valence/arousal from the float32 run. With
   random weights that difference says little about a trained model's accuracy.
5. The ratios against the targets of issue #5 (2 cores, AffWildNet at 96 px): >= 25 frames/s end to
   end on 640x360 video, and >= 5x the naive pipeline, each marked "met" or "not met".
6. Issue #14: end to end against **the model's own rate** measured in the same run (the "model" stage:
   :func:`~tfaffect.predict.predict_crops` on the video's crops, the recurrent state carried as predict
   carries it), target >= 85 %; the same with **every face** (``max_faces=None``, the default of
   ``tfaffect predict``) on the one-face clip and on a clip with ``--faces`` heads (rate per frame and per
   face-frame, against the model alone on all of that clip's crops); and the **start-up time**: a fresh
   process from ``import tfaffect`` to the first frame's rows handed out by ``tfaffect.stream`` on the clip
   (TensorFlow import, model loading, MTCNN, the first detection and model call), target < 4 s, timed
   ``--rounds`` times (median), beside its floor: ``import tensorflow`` alone in a fresh process (TensorFlow 2.21's
   import already imports Keras and, through Keras's wrappers, scikit-learn).

Every contender gets ``--warmup`` untimed calls (graph tracing, first calls per shape), then
``--rounds`` timed calls taken in turn (``_common.time_interleaved``, so a change of the machine's load
hits all alike); the median counts. CPU time per frame (this process, all threads) is printed beside
the wall rate: on a machine shared with other processes the wall rate measures the neighbours too,
the CPU time does not.

The model is the registered image-only AffWildNet (VGG-Face conv, FC 4096, 2x GRU 128; Kollias 2019,
Table 8) at full size with **random weights**: the speed does not depend on the weights, and tfaffect
ships none. ``--tiny`` uses its tiny test configuration instead (smoke runs only).

The video. Without ``--video``, a 640x360 clip of ``--seconds`` at ``--fps`` is built in a temporary
folder: the astronaut's head from ``skimage.data.astronaut()`` (a real photo bundled in the
scikit-image wheel, so nothing is downloaded) pans across a textured background while it grows and
shrinks (``benchmarks/faces.py``'s ``synthetic_video``), written with ``cv2.VideoWriter`` as MPEG-4
Part 2 (``mp4v``; Motion-JPEG where that encoder is missing). ``--video PATH`` measures any video
OpenCV reads instead.

Run: ``python benchmarks/predict.py [--seconds 10] [--rounds 3] [--naive-frames 60] [--faces 3] [--video clip.mp4]``
(about 4 minutes on 2 idle cores); ``--quick`` (a 2 s clip, one round) and ``--tiny`` for smoke runs.
Timings depend on the machine's load, printed at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import (MODEL_NAME, fill_defaults, load_average, median, positive_int, print_machine,  # noqa: E402
                     time_interleaved)

TARGET_FPS = 25.0  # issue #5: >= 25 frames/s end to end on 640x360 video, 2 cores, AffWildNet-96
TARGET_SPEEDUP = 5.0  # issue #5: >= 5x the naive pipeline
TARGET_MODEL_SHARE = 0.85  # issue #14: predict's per-frame rate >= 85 % of the model's own, same run
TARGET_STARTUP = 4.0  # issue #14: import -> first frame under 4 s
WIDTH, HEIGHT = 640, 360  # issue #5's target resolution

DEFAULTS = {"seconds": 10.0, "fps": 30.0, "rounds": 3, "warmup": 1, "naive_frames": 60}
QUICK = {"seconds": 2.0, "fps": 30.0, "rounds": 1, "warmup": 1, "naive_frames": 8}
"""Defaults: a 10 s clip at 30 fps (300 frames) is long enough for several keyframe batches and
model windows; the naive pipeline costs the same per frame on 60 frames as on 300. ``--quick``: a 2 s
clip, one round (a smoke run; its figures are not representative)."""


def write_test_video(folder: Path, seconds: float, fps: float) -> Path:
    """Write the moving-astronaut clip (module docstring) into ``folder``; return its path."""
    import cv2
    from faces import synthetic_video
    from mtcnn import MTCNN

    num_frames = max(2, round(seconds * fps))
    frames, _, _ = synthetic_video(num_frames, MTCNN())
    for fourcc, suffix in (("mp4v", ".mp4"), ("MJPG", ".avi")):
        path = folder / f"astronaut_{WIDTH}x{HEIGHT}{suffix}"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (WIDTH, HEIGHT))
        if writer.isOpened():
            for frame in frames:
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            writer.release()
            return path
        writer.release()
    raise RuntimeError("this OpenCV build has neither an mp4v nor an MJPG encoder; pass --video")


def several_faces_video(folder: Path, seconds: float, fps: float, faces: int) -> Path:
    """A 640x360 clip with ``faces`` astronaut heads side by side, each bobbing a little (MJPG in an AVI)."""
    import cv2
    import numpy as np
    from skimage import data

    head = data.astronaut()[30:230, 140:310]
    width = (WIDTH - 40) // faces - 20
    patch = cv2.resize(head, (width, int(width * head.shape[0] / head.shape[1])), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(1)
    background = cv2.resize(rng.integers(40, 200, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8), (WIDTH, HEIGHT),
                            interpolation=cv2.INTER_CUBIC)
    path = folder / f"faces{faces}_{WIDTH}x{HEIGHT}.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    for i in range(max(2, round(seconds * fps))):
        frame = background.copy()
        for k in range(faces):
            x = 30 + k * (width + 20) + int(6 * np.sin(0.2 * i + k))
            y = (HEIGHT - patch.shape[0]) // 2 + int(10 * np.sin(0.15 * i + 2 * k))
            frame[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


STARTUP = r"""
import sys, time
start = time.perf_counter()
import tfaffect
rows = next(iter(tfaffect.stream(sys.argv[1], model=sys.argv[2])))
print(time.perf_counter() - start, len(rows))
"""


TF_IMPORT = r"""
import time
start = time.perf_counter()
import tensorflow
print(time.perf_counter() - start)
"""


def startup_seconds(video: Path, model_path: Path, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds from ``import tfaffect`` to the first frame's rows in a fresh process (module docstring, 6.), and,
    in turn with it, seconds of ``import tensorflow`` alone in a fresh process: the floor of any predictor that
    runs TensorFlow in its own process (the face detector, MTCNN, is a TensorFlow model too)."""
    import subprocess
    import sys

    times, floors = [], []
    for _ in range(rounds):
        for script, args, into in ((STARTUP, [str(video), str(model_path)], times), (TF_IMPORT, [], floors)):
            out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=600,
                                 env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            if out.returncode != 0:
                raise RuntimeError(f"start-up run failed: {out.stderr[-2000:]}")
            into.append(float(out.stdout.split()[0]))
    return times, floors


def naive_predict(video, model, detector, out_dir: Path, stop: int):
    """The naive pipeline (module docstring) on frames ``[0, stop)``; returns its table.

    Writes the same files as ``predict_video`` (``frames.csv`` and the two plots).
    """
    import numpy as np
    import pandas as pd

    from tfaffect.data.faces import align_face
    from tfaffect.data.video import iter_frames
    from tfaffect.evaluation import model_data_args
    from tfaffect.predict import write_outputs

    data_args = model_data_args(model)
    size, sequence = data_args["image_size"], data_args["mode"] == "windows"
    rows = []
    for index, time_s, rgb in iter_frames(video, stop=stop):
        row = {"frame": index, "time_s": time_s, "face_found": False, "valence": np.nan, "arousal": np.nan}
        faces = detector.detect_faces(rgb, output_type="numpy", box_format="xyxy")
        if len(faces):
            best = faces[int(np.argmax(faces[:, 5]))]  # columns: image, x0, y0, x1, y1, score, 5 x, 5 y
            crop, _ = align_face(rgb, np.stack([best[6:11], best[11:16]], axis=1), size, margin=0.0)
            image = crop[None, None] if sequence else crop[None]
            va = np.asarray(model.predict_on_batch({"image": image})["va"]).reshape(2)
            row.update(face_found=True, valence=va[0], arousal=va[1])
        rows.append(row)
    table = pd.DataFrame(rows)
    table["interpolated"] = ~table["face_found"]
    write_outputs(table, out_dir, title="naive")
    return table


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Default run: about 3 minutes on 2 idle cores; --quick --tiny: under a minute.")
    parser.add_argument("--video", help="measure this video instead of the generated astronaut clip")
    parser.add_argument("--seconds", type=float, help="length of the generated clip (default 10; --quick: 2)")
    parser.add_argument("--fps", type=float, help="frame rate of the generated clip (default 30)")
    parser.add_argument("--rounds", type=positive_int, help="timed calls per contender, median counts "
                                                            "(default 3; --quick: 1)")
    parser.add_argument("--warmup", type=int, help="untimed calls per contender first (default 1)")
    parser.add_argument("--naive-frames", type=positive_int,
                        help="frames the naive pipeline runs on, from the start (default 60; --quick: 8)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="predict_video's batch_size (default: its own default)")
    parser.add_argument("--faces", type=positive_int, default=3,
                        help="heads in the several-faces clip (default 3)")
    parser.add_argument("--quick", action="store_true", help="a 2 s clip, one round: a smoke run")
    parser.add_argument("--tiny", action="store_true",
                        help="the model's tiny test configuration (32x32, narrow FC/GRU), for smoke runs")
    args = parser.parse_args(argv)
    args = fill_defaults(parser, args, QUICK if args.quick else DEFAULTS)
    if args.seconds <= 0 or args.fps <= 0:
        parser.error("--seconds and --fps must be > 0")
    return args


def _verdict(value: float, target: float) -> str:
    return "met" if value >= target else "not met"


def main(argv=None) -> None:
    import numpy as np
    from mtcnn import MTCNN

    from tfaffect.data.faces import FacePipeline
    from tfaffect.data.video import iter_frames, probe_video
    from tfaffect.evaluation import model_data_args
    from tfaffect.models.registry import build_model
    from tfaffect.predict import (DEFAULT_BATCH_SIZE, DETECT_EVERY, DETECT_MAX_SIDE, DEFAULT_WINDOW, predict,
                                  predict_crops, predict_video, with_precision, write_outputs)

    args = parse_args(argv)
    batch_size = args.batch_size or DEFAULT_BATCH_SIZE
    print_machine("tfaffect predict end to end vs a naive per-frame pipeline")
    with tempfile.TemporaryDirectory(prefix="tfaffect-bench-predict-") as tmp:
        tmp = Path(tmp)
        video = Path(args.video) if args.video else write_test_video(tmp, args.seconds, args.fps)
        info = probe_video(video)
        model = build_model(MODEL_NAME, tiny=args.tiny, landmarks=False)
        bf16 = with_precision(model, "bfloat16")
        detector = MTCNN()  # FacePipeline compiles its networks (tfaffect.data.faces.compile_detector)
        naive_detector = MTCNN()  # the naive pipeline's: the package as shipped, eager
        data_args = model_data_args(model)
        size = data_args["image_size"]

        frames = [rgb for _, _, rgb in iter_frames(video)]
        num_frames, naive_frames = len(frames), min(args.naive_frames, len(frames))
        faces = FacePipeline(size, batch_size=batch_size, detect_every=DETECT_EVERY,
                             detect_max_side=DETECT_MAX_SIDE, detector=detector)
        crops = [c for c in faces.process(enumerate(frames)) if c.image is not None]
        images = np.stack([c.image for c in crops]) if crops else np.zeros((0, size, size, 3), np.uint8)
        table = predict_video(video, model, progress=False, detector=detector, batch_size=batch_size)
        model_path = tmp / "model.keras"
        model.save(model_path)
        crowd = several_faces_video(tmp, args.seconds, args.fps, args.faces)
        crowd_table = predict(crowd, model, progress=False, detector=detector, batch_size=batch_size)
        crowd_crops = [c.image for item in faces.process_faces((i, f) for i, _, f in iter_frames(crowd))
                       for c in item.faces]
        crowd_images = np.stack(crowd_crops) if crowd_crops else np.zeros((0, size, size, 3), np.uint8)
        crowd_frames = int(crowd_table["frame"].nunique())

        print(f"\nvideo: {'generated moving astronaut clip' if not args.video else video.name}, "
              f"{info.width}x{info.height}, {num_frames} frames at {info.fps:g} fps; face found in "
              f"{table['face_found'].mean():.0%} of frames")
        print(f"model: {MODEL_NAME}{' (tiny)' if args.tiny else ''} image-only, {size}x{size} crops, "
              f"{model.count_params():,} parameters, RANDOM weights (speed does not depend on them); "
              + (f"one window of {DEFAULT_WINDOW} crops per model call" if data_args["mode"] == "windows"
                 else f"{batch_size} crops per model call"))
        print(f"predict settings: MTCNN on batches of {batch_size} keyframes, every {DETECT_EVERY}th frame, "
              f"at a longer side of {DETECT_MAX_SIDE} px, tracked in between")

        calls = {
            "decode": lambda: sum(1 for _ in iter_frames(video)),
            "faces": lambda: sum(1 for _ in faces.process(enumerate(frames))),
            "model": lambda: predict_crops(model, images, batch_size=batch_size),
            "write": lambda: write_outputs(table, tmp / "written", title=video.name),
            "end to end": lambda: predict_video(video, model, out_dir=tmp / "predict", progress=False,
                                                detector=detector, batch_size=batch_size),
            "no overlap": lambda: predict_video(video, model, out_dir=tmp / "serial", progress=False,
                                                detector=detector, batch_size=batch_size, overlap=False),
            "end to end, bf16": lambda: predict_video(video, bf16, out_dir=tmp / "bf16", progress=False,
                                                      detector=detector, batch_size=batch_size,
                                                      precision="bfloat16"),
            "naive": lambda: naive_predict(video, model, naive_detector, tmp / "naive", stop=naive_frames),
            "all faces": lambda: predict(video, model, out=tmp / "all", progress=False, detector=detector,
                                         batch_size=batch_size),
            f"{args.faces} faces": lambda: predict(crowd, model, out=tmp / "crowd", progress=False, detector=detector,
                                                   batch_size=batch_size),
            f"model, {args.faces} faces": lambda: predict_crops(model, crowd_images, batch_size=batch_size),
        }
        timings = time_interleaved(calls, args.warmup, args.rounds)
        startup = startup_seconds(video, model_path, args.rounds)
        bf16_table = predict_video(video, bf16, progress=False, detector=detector, batch_size=batch_size,
                                   precision="bfloat16")
        va = ["valence", "arousal"]
        bf16_error = np.nanmax(np.abs(bf16_table[va].to_numpy() - table[va].to_numpy()))
        va_range = np.nanmax(np.abs(table[va].to_numpy()))

    per = {name: num_frames for name in calls}
    per["naive"] = naive_frames
    per[f"{args.faces} faces"] = per[f"model, {args.faces} faces"] = crowd_frames
    wall = {name: median(t.wall) / per[name] for name, t in timings.items()}
    cpu = {name: median(t.cpu) / per[name] for name, t in timings.items()}
    stages = ("decode", "faces", "model", "write")
    stage_sum = sum(wall[s] for s in stages)
    print(f"\n{args.warmup} warm-up + {args.rounds} timed calls per row, taken in turn; median; per frame "
          f"of the video ({num_frames} frames; naive: first {naive_frames})")
    print(f"{'':>16} {'ms/frame':>9} {'frames/s':>9} {'CPU ms/frame':>13} {'share':>6}")
    for name in stages:
        print(f"{name:>16} {1e3 * wall[name]:>9.2f} {1 / wall[name]:>9.1f} {1e3 * cpu[name]:>13.2f} "
              f"{wall[name] / stage_sum:>6.0%}")
    print(f"{'stage sum':>16} {1e3 * stage_sum:>9.2f} {1 / stage_sum:>9.1f} "
          f"{1e3 * sum(cpu[s] for s in stages):>13.2f}")
    for name in ("end to end", "no overlap", "end to end, bf16", "naive"):
        print(f"{name:>16} {1e3 * wall[name]:>9.2f} {1 / wall[name]:>9.1f} {1e3 * cpu[name]:>13.2f}")
    print()
    for name in ("end to end", "end to end, bf16"):
        fps, speedup = 1 / wall[name], wall["naive"] / wall[name]
        print(f"{name}: {fps:.1f} frames/s (target >= {TARGET_FPS:g}): {_verdict(fps, TARGET_FPS)}")
        print(f"{name} / naive (frames/s): {speedup:.2f}x (target >= {TARGET_SPEEDUP:g}x): "
              f"{_verdict(speedup, TARGET_SPEEDUP)}; from CPU time per frame: {cpu['naive'] / cpu[name]:.2f}x")
    print(f"bf16 vs float32 valence/arousal: largest difference {bf16_error:.2g} (largest |value| {va_range:.2g}; "
          "random weights, so not a measure of a trained model's accuracy)")
    print(f"overlap: end to end takes {wall['end to end'] / stage_sum:.0%} of the stage sum and "
          f"{wall['end to end'] / wall['no overlap']:.0%} of the time without the background thread")
    crowd, crowd_model = f"{args.faces} faces", f"model, {args.faces} faces"
    print(f"\nissue #14: predict against the model's own rate, measured in this run "
          f"(target >= {TARGET_MODEL_SHARE:.0%})")
    for name, reference, what in (("end to end", "model", "main face (max_faces=1)"),
                                  ("all faces", "model", "every face (the default), one face in the clip"),
                                  (crowd, crowd_model, f"every face, {args.faces} faces in the clip")):
        share = wall[reference] / wall[name]
        print(f"{what:>48}: {1 / wall[name]:6.1f} frames/s vs the model's {1 / wall[reference]:6.1f} = "
              f"{share:4.0%} ({_verdict(share, TARGET_MODEL_SHARE)}); CPU: "
              f"{cpu[reference] / cpu[name]:.0%}")
    faces_per_frame = len(crowd_images) / max(1, crowd_frames)
    print(f"{args.faces}-face clip: {faces_per_frame:.2f} faces per frame found, "
          f"{faces_per_frame / wall[crowd]:.1f} face-frames/s end to end")
    startup, tf_import = startup
    middle = median(startup)
    print(f"start-up, import tfaffect -> first frame's rows (fresh process, median of {len(startup)}): "
          f"{middle:.2f} s (target < {TARGET_STARTUP:g} s): {'met' if middle < TARGET_STARTUP else 'not met'}; "
          f"each: {', '.join(f'{t:.2f}' for t in startup)}")
    print(f"of which no in-process TensorFlow predictor can go below `import tensorflow` alone (fresh process, "
          f"median): {median(tf_import):.2f} s; start-up beyond it: {middle - median(tf_import):.2f} s")
    print(f"load average at end (1/5/15 min): {load_average()}")


if __name__ == "__main__":
    main()
