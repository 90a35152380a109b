"""Tiny fixture datasets written in the exact published layouts (FORMATS.md), for tests.

Every ``write_<dataset>(root)`` function writes a small dataset under ``root`` (a pytest
``tmp_path``) including the awkward parts of the real layout (header lines, invalid markers,
missing images, frames without annotation, two-subject videos, a video in two splits) and returns
the ground truth it wrote, typed by hand in this file, never computed by the importers. Mostly

    {(split, video_id): {"num_frames": int, "valence": [...], "arousal": [...], ...}}

(each function's docstring says its exact shape) with NaN for an invalid valence/arousal, -1 for an
invalid expression or AU, and key ``"images"``: per frame, True if the image file exists. Other test modules may
reuse these writers; the smaller building blocks (:func:`write_video`, :func:`write_image`,
:func:`write_text`) are public too.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

nan = float("nan")

AU_NAMES_8 = ("AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25")
"""The 8 AUs of the ABAW1 AU_Set header (FORMATS.md)."""
EXPR_HEADER_7 = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise"
EXPR_HEADER_8 = EXPR_HEADER_7 + ",Other"


def write_text(path: str | os.PathLike, text: str, newline: str = "\n") -> Path:
    """Write ``text`` (lines joined by ``\\n``) to ``path`` with the given line ending, making folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def frame_pixels(index: int, size: tuple[int, int] = (32, 24), noise: bool = False) -> np.ndarray:
    """BGR ``[h, w, 3]`` uint8 content of frame ``index``: a uniform grey level ``(37 * index) % 256``
    (so frames are told apart after lossy coding), or seeded noise when ``noise``."""
    width, height = size
    if noise:
        return np.random.default_rng(index).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return np.full((height, width, 3), (37 * index) % 256, np.uint8)


def write_video(path: str | os.PathLike, num_frames: int, *, fps: float = 25.0, size: tuple[int, int] = (32, 24),
                noise: bool = False) -> Path:
    """A Motion-JPEG video (``.avi``; ``.mp4`` gets MPEG-4 part 2) with :func:`frame_pixels` frames."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.suffix.lower() == ".mp4" else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    for index in range(num_frames):
        writer.write(frame_pixels(index, size, noise))
    writer.release()
    return path


def write_edit_list_mp4(path: str | os.PathLike, num_frames: int, hidden: int, *, fps: float = 25.0,
                        size: tuple[int, int] = (32, 24)) -> Path:
    """An ordinary MP4 (:func:`write_video`) whose edit list presents only the first ``num_frames - hidden``
    frames: its header (the sample table) still announces ``num_frames``, OpenCV decodes fewer. The
    ``elst`` box OpenCV's muxer writes is edited in place (segment duration shortened), as video editors
    trim a clip without re-encoding it."""
    path = write_video(path, num_frames, fps=fps, size=size)
    data = bytearray(path.read_bytes())
    boxes = {}

    def walk(start: int, end: int) -> None:
        while start + 8 <= end:
            box_size, kind = struct.unpack(">I4s", data[start:start + 8])
            boxes.setdefault(kind, start)
            if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"):
                walk(start + 8, start + box_size)
            start += box_size

    walk(0, len(data))
    if b"elst" not in boxes or b"mvhd" not in boxes:
        raise RuntimeError(f"OpenCV wrote {path} without an edit list: cannot make the fixture")
    mvhd, elst = boxes[b"mvhd"], boxes[b"elst"]
    if data[mvhd + 8] != 0 or data[elst + 8] != 0:
        raise RuntimeError("version-1 mvhd/elst boxes are not handled by this fixture")
    movie_timescale = struct.unpack(">I", data[mvhd + 20:mvhd + 24])[0]
    duration, media_time, rate = struct.unpack(">IiI", data[elst + 16:elst + 28])
    shorter = duration - round(hidden * movie_timescale / fps)
    struct.pack_into(">IiI", data, elst + 16, shorter, media_time, rate)
    path.write_bytes(bytes(data))
    return path


def write_image(path: str | os.PathLike, index: int, size: tuple[int, int] = (16, 16)) -> Path:
    """A small JPEG or PNG (by suffix) holding :func:`frame_pixels` of ``index``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), frame_pixels(index, size)):
        raise RuntimeError(f"OpenCV cannot write {path}")
    return path


def truncate(path: str | os.PathLike, fraction: float) -> Path:
    """Cut a file to ``fraction`` of its bytes (a truncated download)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    return path


def _rows(*columns) -> str:
    return "\n".join(",".join(_fmt(v) for v in row) for row in zip(*columns))


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# ----------------------------------------------------------------------------- Aff-Wild


def write_affwild(root: str | os.PathLike) -> dict:
    """Aff-Wild: ``videos/{train,test}/<id>.{avi,mp4}`` + ``annotations/{train,test}/{valence,arousal}/<id>.txt``.

    Train: ``105`` (5 frames, .avi, values at the ends of [-1, 1]), ``212`` (3 frames, .mp4, CRLF line
    endings and a trailing blank line). Test: ``301`` (4 frames, .avi).
    """
    root = Path(root)
    truth = {
        ("train", "105"): {"num_frames": 5, "ext": ".avi", "valence": [0.5, -1.0, 1.0, 0.0, -0.25],
                           "arousal": [0.125, 0.25, -0.5, 1.0, -1.0]},
        ("train", "212"): {"num_frames": 3, "ext": ".mp4", "valence": [0.1, 0.2, 0.3],
                           "arousal": [-0.1, -0.2, -0.3], "newline": "\r\n"},
        ("test", "301"): {"num_frames": 4, "ext": ".avi", "valence": [0.0, 0.0, 0.5, 0.5],
                          "arousal": [0.75, 0.5, 0.25, 0.0]},
    }
    for (split, vid), t in truth.items():
        write_video(root / "videos" / split / f"{vid}{t['ext']}", t["num_frames"], fps=30.0)
        newline = t.get("newline", "\n")
        for dim in ("valence", "arousal"):
            text = "\n".join(_fmt(v) for v in t[dim]) + ("\n\n" if newline != "\n" else "\n")
            write_text(root / "annotations" / split / dim / f"{vid}.txt", text, newline)
        t["fps"] = 30.0
    return truth


# ----------------------------------------------------------------------------- Aff-Wild2


def write_affwild2(root: str | os.PathLike, *, train_folder: str = "Training_Set", eight_classes: bool = False,
                   landmarks: bool = True) -> dict:
    """Aff-Wild2 / ABAW in the per-task layout (FORMATS.md), ABAW1 style by default.

    ``train_folder="Train_Set"`` and ``eight_classes=True`` give the later years' layout.

    Train:
      * ``1-30-640x360``: 6 frames, VA + EXPR + AU; VA row 2 is ``-5,-5``, EXPR row 2 is -1, AU row 4 all
        -1; image ``00003.jpg`` missing (frame 2); landmarks with frame 1 all -1 (if ``landmarks``).
      * ``10-60-1280x720_left`` / ``_right``: a two-subject video, 4 frames each, VA only, each side its
        own image folder; ``_right`` lacks ``00001.jpg``.
      * ``video5``: EXPR only in train (its VA is in validation).
    Validation:
      * ``video5``: 5 frames, VA only (same video, other split).
      * ``video7``: 3 frames, VA + AU, no image folder at all.
    """
    root = Path(root)
    other = 7 if eight_classes else 6
    expr_header = EXPR_HEADER_8 if eight_classes else EXPR_HEADER_7
    classes = tuple(expr_header.split(","))
    truth = {
        ("train", "1-30-640x360"): {
            "num_frames": 6,
            "valence": [0.5, nan, 0.1, 1.0, 0.0, -0.3], "arousal": [-0.25, nan, 0.2, -1.0, 0.0, 0.7],
            "expression": [0, -1, 4, 4, other, 1],
            "aus": [[1, 0, 0, 1, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1],
                    [-1] * 8, [0, 1, 0, 1, 0, 1, 0, 1], [1, 0, 1, 0, 1, 0, 1, 0]],
            "images": [True, True, False, True, True, True]},
        ("train", "10-60-1280x720_left"): {
            "num_frames": 4, "valence": [0.2, 0.3, 0.4, 0.5], "arousal": [0.6, 0.7, 0.8, 0.9],
            "images": [True, True, True, True]},
        ("train", "10-60-1280x720_right"): {
            "num_frames": 4, "valence": [-0.2, -0.3, nan, -0.5], "arousal": [-0.6, -0.7, nan, -0.9],
            "images": [False, True, True, True]},
        ("train", "video5"): {"num_frames": 5, "expression": [5, 5, 3, 2, -1], "images": [True] * 5},
        ("validation", "video5"): {"num_frames": 5, "valence": [0.0, 0.1, 0.2, 0.3, 0.4],
                                   "arousal": [0.9, 0.8, 0.7, 0.6, 0.5], "images": [True] * 5},
        ("validation", "video7"): {"num_frames": 3, "valence": [0.1, 0.1, 0.1], "arousal": [0.2, 0.2, 0.2],
                                   "aus": [[0] * 8, [1] * 8, [0, 0, 0, 0, 1, 1, 1, 1]],
                                   "images": [False, False, False]},
    }
    folders = {"train": train_folder, "validation": "Validation_Set"}
    for (split, vid), t in truth.items():
        ann = root / "annotations"
        if "valence" in t:
            va = [[-5 if np.isnan(x) else x for x in t[key]] for key in ("valence", "arousal")]
            write_text(ann / "VA_Set" / folders[split] / f"{vid}.txt", "valence,arousal\n" + _rows(*va) + "\n")
        if "expression" in t:
            t["expression_classes"] = classes
            write_text(ann / "EXPR_Set" / folders[split] / f"{vid}.txt",
                       expr_header + "\n" + _rows(t["expression"]) + "\n")
        if "aus" in t:
            t["au_names"] = AU_NAMES_8
            write_text(ann / "AU_Set" / folders[split] / f"{vid}.txt",
                       ",".join(AU_NAMES_8) + "\n" + _rows(*zip(*t["aus"])) + "\n")
        for i, present in enumerate(t["images"]):
            if present:
                write_image(root / "cropped_aligned" / vid / f"{i + 1:05d}.jpg", i)
    if landmarks:
        t = truth[("train", "1-30-640x360")]
        points = np.arange(6 * 136, dtype=np.float64).reshape(6, 136) % 97 / 4.0
        header = ",".join(f"{axis}{k}" for k in range(68) for axis in "xy")
        rows = [",".join("-1" if i == 1 else f"{v:g}" for v in points[i]) for i in range(6)]
        write_text(root / "landmarks" / "1-30-640x360.txt", header + "\n" + "\n".join(rows) + "\n")
        expected = points.reshape(6, 68, 2).copy()
        expected[1] = nan
        t["landmarks"] = expected
    return truth


MULTITASK_AU_NAMES = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24", "AU25", "AU26")


def write_affwild2_multitask(root: str | os.PathLike,
                             relative: str = "MTL/training_set_annotations.txt") -> tuple[str, dict]:
    """A later-ABAW multi-task file ``root/relative`` listing sampled frames of two videos.

    Header ``image,valence,arousal,expression,aus``; ``vidA`` lists images 2, 5 and 3 (out of order;
    the VA of image 5 is -5); ``vidB_left`` lists image 1 only, with expression -1 and AUs -1.
    Returns ``(relative, truth)`` with truth keyed by ``("train", video)``.
    """
    root = Path(root)
    rows = [
        "vidA/00002.jpg,0.5,-0.5,7,1,0,0,0,0,0,0,0,0,0,0,1",
        "vidA/00005.jpg,-5,-5,3,0,0,0,0,0,0,0,0,0,0,0,0",
        "vidA/00003.jpg,0.25,0.75,0,1,1,1,1,1,1,1,1,1,1,1,1",
        "vidB_left/00001.jpg,-1,1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1",
    ]
    write_text(root / relative, "image,valence,arousal,expression,aus\n" + "\n".join(rows) + "\n")
    for i in (1, 2, 3, 5):
        write_image(root / "cropped_aligned" / "vidA" / f"{i:05d}.jpg", i)
    invalid_aus = [-1] * 12
    truth = {
        ("train", "vidA"): {"num_frames": 5, "valence": [nan, 0.5, 0.25, nan, nan],
                            "arousal": [nan, -0.5, 0.75, nan, nan], "expression": [-1, 7, 0, -1, 3],
                            "aus": [invalid_aus, [1] + [0] * 10 + [1], [1] * 12, invalid_aus, [0] * 12],
                            "images": [True, True, True, False, True]},
        ("train", "vidB_left"): {"num_frames": 1, "valence": [-1.0], "arousal": [1.0], "expression": [-1],
                                 "aus": [invalid_aus], "images": [False]},
    }
    return relative, truth


# ----------------------------------------------------------------------------- AFEW-VA


def write_afew_va(root: str | os.PathLike) -> dict:
    """AFEW-VA: ``<part>/<clip>/%05d.png`` + ``<clip>.json`` for six clips in parts ``01`` and ``02``.

    * ``001`` (part 01): 5 PNGs; frame 2 absent from the JSON (not annotated); frame 3 has no
      ``landmarks`` key.
    * ``002`` (part 01): 3 frames annotated, PNG ``00001.png`` missing.
    * ``003``..``006`` (part 02): 2 frames each, fully annotated.
    The JSON also has keys that are not verified (``actor``, ``video_id``) and must be ignored.
    Returns ``{clip: {"num_frames", "images", "valence", "arousal" ([-1, 1]: file integers / 10),
    "landmarks" [n, 68, 2] (NaN where absent)}}``.
    """
    root = Path(root)
    clips = {
        "001": ("01", 5, {0: (3, -2), 1: (10, -10), 3: (0, 5), 4: (-7, 1)}, [True] * 5),
        "002": ("01", 3, {0: (1, 1), 1: (2, 2), 2: (-1, -3)}, [True, False, True]),
        "003": ("02", 2, {0: (4, 4), 1: (5, 5)}, [True, True]),
        "004": ("02", 2, {0: (0, 0), 1: (0, 1)}, [True, True]),
        "005": ("02", 2, {0: (-4, 2), 1: (-5, 3)}, [True, True]),
        "006": ("02", 2, {0: (6, -6), 1: (7, -7)}, [True, True]),
    }
    truth = {}
    for clip, (part, n, ann, images) in clips.items():
        clip_dir = root / part / clip
        frames_json = []
        landmarks = np.full((n, 68, 2), nan)
        for frame, (v, a) in sorted(ann.items()):
            points = (np.arange(136).reshape(68, 2) + 10 * frame + int(clip)) / 2.0
            entry = f'"valence": {v}, "arousal": {a}'
            if not (clip == "001" and frame == 3):
                entry += ', "landmarks": [' + ", ".join(f"[{x:g}, {y:g}]" for x, y in points) + "]"
                landmarks[frame] = points
            frames_json.append(f'"{frame:05d}": {{{entry}}}')
        body = ",\n".join(frames_json)
        write_text(clip_dir / f"{clip}.json",
                   '{"actor": "someone", "frames": {\n' + body + f'\n}}, "video_id": "{clip}"}}\n')
        for i, present in enumerate(images):
            if present:
                write_image(clip_dir / f"{i:05d}.png", i)
        truth[clip] = {"num_frames": n, "images": images, "landmarks": landmarks,
                       "valence": [ann[i][0] / 10 if i in ann else nan for i in range(n)],
                       "arousal": [ann[i][1] / 10 if i in ann else nan for i in range(n)]}
    return truth


# ----------------------------------------------------------------------------- AFEW / EmotiW


def write_afew(root: str | os.PathLike) -> dict:
    """AFEW / EmotiW: ``{Train,Val}/<Class>/<id>.avi``, five clips.

    Returns ``{(split, id): (class name in EXPRESSIONS_7, num_frames)}``.
    """
    root = Path(root)
    truth = {("train", "000123"): ("Anger", "Angry", 4), ("train", "000200"): ("Happiness", "Happy", 3),
             ("train", "000201"): ("Neutral", "Neutral", 2),
             ("validation", "000300"): ("Sadness", "Sad", 5),
             ("validation", "000301"): ("Surprise", "Surprise", 2)}
    folders = {"train": "Train", "validation": "Val"}
    for (split, clip), (_, folder, n) in truth.items():
        write_video(root / folders[split] / folder / f"{clip}.avi", n, fps=25.0)
    return {key: (name, n) for key, (name, _, n) in truth.items()}


# ----------------------------------------------------------------------------- SEWA


def write_sewa_avec2017(root: str | os.PathLike, videos: str | os.PathLike) -> dict:
    """SEWA AVEC 2017: ``labels/{Train,Devel}_01.csv`` rows ``name;time;arousal;valence;liking`` every 0.1 s,
    and 20 fps videos ``videos/<stem>.avi`` (frames at 0.05 s steps: every other frame lies exactly
    halfway between two ratings, an exact tie).

    ``Train_01``: 6 ratings (0.0 .. 0.5 s), header line, 14 frames (0 .. 0.65 s).
    ``Devel_01``: 3 ratings (0.0 .. 0.2 s), no header, quoted names, 5 frames.
    Truth holds the ratings (``times``, ``valence``, ``arousal``) and ``num_frames``; the expected
    per-frame values are derived by hand in the tests.
    """
    root, videos = Path(root), Path(videos)
    truth = {
        ("train", "Train_01"): {"times": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], "num_frames": 14,
                                "arousal": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
                                "valence": [-0.1, -0.3, -0.5, -0.7, -0.9, -1.0]},
        ("validation", "Devel_01"): {"times": [0.0, 0.1, 0.2], "num_frames": 5,
                                     "arousal": [0.0, 0.5, 1.0], "valence": [1.0, 0.5, 0.0]},
    }
    for (split, stem), t in truth.items():
        quoted = f"'{stem}'" if split == "validation" else stem
        rows = [f"{quoted};{tm:.6f};{a:.6f};{v:.6f};0.000000"
                for tm, a, v in zip(t["times"], t["arousal"], t["valence"])]
        header = "name;time;arousal;valence;liking\n" if split == "train" else ""
        write_text(root / "labels" / f"{stem}.csv", header + "\n".join(rows) + "\n")
        write_video(videos / f"{stem}.avi", t["num_frames"], fps=20.0)
    return truth


def write_sewa_db(root: str | os.PathLike,
                  ids: tuple[str, ...] = ("SEW1101", "SEW1102", "SEW2201", "SEW2202")) -> dict:
    """SEWA DB: ``<vid>/{valence,arousal}/<vid>_{Valence,Arousal}_A_Aligned.csv``, header ``frame,...``.

    Recording ``k`` (0-based in ``ids``) has ``k + 2`` rows; the first counts frames from 1, the others
    from 0. Returns ``{vid: {"num_frames", "valence", "arousal"}}``.
    """
    root = Path(root)
    truth = {}
    for k, vid in enumerate(ids):
        n = k + 2
        start = 1 if k == 0 else 0
        valence = [round(0.1 * (i + k), 3) for i in range(n)]
        arousal = [round(-0.05 * (i + 1), 3) for i in range(n)]
        for dim, values in (("valence", valence), ("arousal", arousal)):
            rows = "\n".join(f"{start + i},{v:g}" for i, v in enumerate(values))
            write_text(root / vid / dim / f"{vid}_{dim.capitalize()}_A_Aligned.csv", f"frame,{dim}\n{rows}\n")
        truth[vid] = {"num_frames": n, "valence": valence, "arousal": arousal}
    return truth


# ----------------------------------------------------------------------------- RECOLA


def arff_text(name: str, times, values) -> str:
    """An AVEC 2016 style gold-standard ARFF (``?`` where a value is NaN)."""
    rows = [f"{name},{t:.2f},{'?' if np.isnan(v) else format(v, '.6f')}" for t, v in zip(times, values)]
    return ("@relation GoldStandard\n\n% ratings averaged over the annotators\n"
            "@attribute Instance_name string\n@attribute frameTime numeric\n@attribute GoldStandard numeric\n\n"
            "@data\n\n" + "\n".join(rows) + "\n")


def write_recola(root: str | os.PathLike) -> dict:
    """RECOLA (AVEC 2016): ``ratings_gold_standard/{arousal,valence}/{train_1,dev_1}.arff`` every 40 ms
    and 25 fps videos ``recordings_video/<name>.avi`` (frame i at exactly rating i's time).

    ``train_1``: 6 ratings, 6 frames, valence rating 2 missing (``?``). ``dev_1``: 4 ratings (0 .. 0.12 s)
    and 7 frames (0 .. 0.24 s): the video runs past the end of the ratings.
    """
    root = Path(root)
    truth = {
        ("train", "train_1"): {"num_frames": 6, "times": [0.0, 0.04, 0.08, 0.12, 0.16, 0.2],
                               "valence": [0.1, 0.2, nan, 0.4, 0.5, 0.6],
                               "arousal": [-0.1, -0.2, -0.3, -0.4, -0.5, -0.6]},
        ("validation", "dev_1"): {"num_frames": 7, "times": [0.0, 0.04, 0.08, 0.12],
                                  "valence": [0.0, 0.25, 0.5, 0.75], "arousal": [1.0, 0.5, 0.0, -0.5]},
    }
    for (_, name), t in truth.items():
        for dim in ("valence", "arousal"):
            write_text(root / "ratings_gold_standard" / dim / f"{name}.arff", arff_text(name, t["times"], t[dim]))
        write_video(root / "recordings_video" / f"{name}.avi", t["num_frames"], fps=25.0)
    return truth
