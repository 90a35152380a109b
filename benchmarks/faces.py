"""Cost of face preprocessing per frame: batching, detection resolution, detect-every-k tracking.

Builds a synthetic 640x360 video from ``skimage.data.astronaut()`` (a photo bundled in the
scikit-image wheel): the head moves across a textured background and grows and shrinks, so the
true face box of every frame is known (the MTCNN box on the original photo, moved and scaled
like the head). Every configuration processes the same frames with one shared detector, after a
warm-up pass, timed ``--repeat`` times (the fastest run counts: on a shared machine the slower
runs measure the neighbours), and the table reports side by side:

* ms/frame and frames/s of ``FacePipeline.process`` (detection, tracking, alignment, crop);
* the speed-up over one frame per MTCNN call at full resolution, detecting on every frame;
* the mean IoU of the reported box with the true box; the mean absolute difference (0-255) of
  the crop from the crop aligned on the true five points; the share of frames with a face.

Run: ``python benchmarks/faces.py [--frames 64] [--repeat 3] [--size 96] [--every 5] [--video clip.mp4]``.
With ``--video`` the frames come from that file instead (IoU and crop difference then compare
with the reference configuration rather than with a known truth). Timings depend on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tfaffect.data.faces import FacePipeline, align_face, box_iou  # noqa: E402
from tfaffect.data.video import iter_frames  # noqa: E402

WIDTH, HEIGHT = 640, 360
HEAD = (slice(30, 230), slice(140, 310))  # rows, columns of the astronaut's head and hair


def synthetic_video(num_frames: int, detector) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Frames of the moving, scaling astronaut head, the true face box ``[N, 4]`` and five points ``[N, 5, 2]``."""
    from skimage import data

    photo = data.astronaut()
    rows = detector.detect_faces(photo, output_type="numpy", box_format="xyxy")
    origin = np.array([HEAD[1].start, HEAD[0].start])
    face = rows[0, 1:5] - np.tile(origin, 2)
    points = np.stack([rows[0, 6:11], rows[0, 11:16]], axis=1) - origin
    head = photo[HEAD]
    rng = np.random.default_rng(0)
    background = cv2.resize(rng.integers(40, 200, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8),
                            (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    frames, boxes, landmarks = [], [], []
    for i in range(num_frames):
        phase = i / max(1, num_frames - 1)
        scale = 0.9 + 0.35 * np.sin(2 * np.pi * phase)
        patch = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        x = int(20 + phase * (WIDTH - 40 - patch.shape[1]))
        y = int((HEIGHT - patch.shape[0]) / 2 + 15 * np.sin(6 * np.pi * phase))
        frame = background.copy()
        frame[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
        frames.append(frame)
        # cv2.resize maps pixel centres: p -> (p + 0.5) * scale - 0.5
        boxes.append((face + 0.5) * scale - 0.5 + [x, y, x, y])
        landmarks.append((points + 0.5) * scale - 0.5 + [x, y])
    return frames, np.array(boxes), np.array(landmarks)


def run(pipeline: FacePipeline, frames: list[np.ndarray]) -> tuple[float, list]:
    start = time.perf_counter()
    crops = list(pipeline.process(enumerate(frames)))
    return time.perf_counter() - start, crops


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=64, help="frames per configuration (default 64)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per configuration; the fastest counts")
    parser.add_argument("--size", type=int, default=96, help="crop side (default 96, AffWildNet)")
    parser.add_argument("--every", type=int, default=5, help="k of the detect-every-k rows (default 5)")
    parser.add_argument("--reduced", type=int, default=320, help="reduced detection side (default 320)")
    parser.add_argument("--video", help="benchmark on this video's first --frames frames instead")
    args = parser.parse_args(argv)

    from mtcnn import MTCNN

    detector = MTCNN()
    if args.video:
        frames = [rgb for _, _, rgb in iter_frames(args.video, stop=args.frames)]
        truth = None
    else:
        frames, boxes, points = synthetic_video(args.frames, detector)
        margin = FacePipeline(args.size, detector=detector).margin  # the default every row uses
        truth = boxes, [align_face(f, p, args.size, margin)[0] for f, p in zip(frames, points, strict=True)]
    height, width = frames[0].shape[:2]

    configs = [(batch, side, every)
               for every in (1, args.every)
               for side in (None, args.reduced)
               for batch in (1, 8, 16)]
    results = {}
    for batch, side, every in configs:
        pipeline = FacePipeline(args.size, batch_size=batch, detect_every=every, detect_max_side=side,
                                detector=detector)
        run(pipeline, frames[: min(len(frames), 2 * batch * every)])  # warm-up: first calls per shape
        runs = [run(pipeline, frames) for _ in range(max(1, args.repeat))]
        results[batch, side, every] = min(runs, key=lambda r: r[0])

    base_seconds, base_crops = results[1, None, 1]
    if truth is None:
        truth = ([c.box for c in base_crops], [c.image for c in base_crops])
    print(f"{len(frames)} frames of {width}x{height}, crops {args.size}x{args.size}; IoU and crop "
          f"difference against the {'truth' if args.video is None else 'first row (batch 1, full, every 1)'}")
    print(f"{'batch':>5} {'detect at':>10} {'detect every':>12} {'ms/frame':>9} {'frames/s':>9} "
          f"{'speed-up':>9} {'mean IoU':>9} {'crop diff':>10} {'faces':>6} {'tracked':>8}")
    for (batch, side, every), (seconds, crops) in results.items():
        pairs = [(c, box, image) for c, box, image in zip(crops, *truth, strict=True)
                 if c.box is not None and box is not None]
        iou = np.mean([box_iou(np.array(c.box), np.array(box)) for c, box, _ in pairs]) if pairs else 0.0
        diff = np.mean([np.abs(c.image.astype(float) - image).mean() for c, _, image in pairs]) if pairs else 0.0
        detect_at = "full" if side is None or side >= max(width, height) else f"{side} px"
        print(f"{batch:>5} {detect_at:>10} {every:>12} {1000 * seconds / len(frames):>9.1f} "
              f"{len(frames) / seconds:>9.1f} {base_seconds / seconds:>8.2f}x {iou:>9.3f} {diff:>10.2f} "
              f"{sum(c.box is not None for c in crops) / len(frames):>6.0%} "
              f"{sum(c.tracked for c in crops) / len(frames):>8.0%}")

if __name__ == "__main__":
    main()
