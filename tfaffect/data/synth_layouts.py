"""SynthAffect rewritten in the layouts of the transfer datasets: AFEW-VA, RECOLA (AVEC 2016), AFEW (EmotiW),
SEWA DB.

The transfer recipes (Kollias 2019, section 5) must run out of the box without the licensed data, and
must do so through the *real* importer of their dataset. :func:`ensure_layout` takes a generated
SynthAffect folder (:func:`tfaffect.data.synth.ensure_synthaffect`, read back with the ``affwild2``
importer) and writes a copy in the layout FORMATS.md gives for the target dataset; the target's own
importer (:mod:`tfaffect.data.formats.afew_va`, ``recola``, ``afew``, ``sewa``) then reads it like the real thing.
Everything stays SYNTHETIC: every layout folder holds a ``SYNTHETIC.md`` note and ``synth_layout.json``
(which SynthAffect frames each clip or recording holds, the ground truth the tests check against).

Layouts written (FORMATS.md), from SynthAffect videos whose frames ``i`` have a face image, valence,
arousal, an expression and 68 landmarks (or none of them, for the ~2% frames without a face):

``afew_va``
    ``<part>/<clip>/%05d.png`` + ``<clip>.json`` ``{"frames": {"00000": {"valence", "arousal",
    "landmarks"}}}``. Each SynthAffect video is cut into consecutive clips of at most
    :data:`AFEW_VA_CLIP_FRAMES` frames (nearly equal pieces); clips are numbered ``001``, ``002``, ...
    in SynthAffect's video order and put 50 to a part (``01``, ``02``, ...). Valence and arousal are
    written as the integers ``round(10 * v)`` in [-10, 10] (AFEW-VA's discrete scale, Kollias 2019
    section 5.1.2), so the importer gives back ``round(10 * v) / 10``. A frame without a face has no
    PNG and no entry. ``subjects.csv`` (``clip,subject``; tfaffect extension, the importer's
    ``subjects=`` option) names the SynthAffect video (= identity) of each clip, so subject-independent
    folds keep all clips of one identity together.
``recola``
    ``recordings_video/<name>.avi`` (MJPG, :data:`RECOLA_FPS` fps) and
    ``ratings_gold_standard/{arousal,valence}/<name>.arff`` (attributes ``instance_name``,
    ``frameTime``, ``GoldStandard``; one row every :data:`RECOLA_STEP_S` s at the frame times, so
    the importer's nearest-timestamp resampling gives back every frame's value exactly). SynthAffect
    training videos become ``train_1``, ``train_2``, ..., validation videos ``dev_1``, ... A frame
    without a face is black in the video and ``?`` (missing) in the ratings.
``afew``
    ``{Train,Val,Test}/<Emotion>/<clip>.avi`` (MJPG, SynthAffect's 30 fps). Each SynthAffect video is cut
    into clips of at most :data:`AFEW_CLIP_FRAMES` frames; training videos give ``Train`` clips,
    validation videos ``Val`` clips, test videos (when the SynthAffect folder has a test split) ``Test`` clips,
    numbered after the others (identities stay disjoint). A labelled ``Test`` is a SynthAffect extension:
    EmotiW never released its test labels. A clip's one label is the **majority
    expression of its frames with a valid expression label** (ties: the lower class index of
    ``EXPRESSIONS_7``); a clip without any valid expression frame is left out and listed under
    ``skipped`` in ``synth_layout.json``. Clip ids are ``000001``, ``000002``, ... Frames without a
    face are black.

    **Audio** (SYNTHETIC: no speech, no words, no real voice): ``<clip>.wav`` beside each ``<clip>.avi``,
    mono 16-bit PCM at :data:`~tfaffect.data.synth_audio.SAMPLE_RATE` Hz, as long as the clip's frames
    (``frames / 30`` s), :func:`~tfaffect.data.synth_audio.synth_voice` of the **clip label** (prosody per
    emotion) with the speaker's ``pitch_shift`` (semitones, one per SynthAffect identity: uniform in
    +-:data:`SPEAKER_PITCH_RANGE`, drawn from the identity's video id), ``seed`` = the clip number and the clip's own
    deviations from its class's prosody, recording gain and background noise
    (:data:`~tfaffect.data.synth_audio.CLIP_VARIATION`, drawn from the seed).
    ``synth_layout.json`` gives each clip's ``audio`` (``file``, ``pitch_shift``, ``seed``). Why a ``.wav``
    beside the clip and not the AVI's audio stream, where real AFEW clips carry their sound: OpenCV's
    writer muxes no audio and nothing here may need FFmpeg; tfaffect reads every clip's audio from
    ``<clip>.wav`` (:func:`tfaffect.data.audio.clip_audio_path`), which a real AFEW user extracts once
    from the clip (``ffmpeg -i <clip>.avi -vn -ac 1 -ar 16000 -c:a pcm_s16le <clip>.wav``).
``sewa``
    SEWA DB: one recording ``001``, ``002``, ... per SynthAffect video (train videos first), each
    ``<id>/valence/<id>_Valence_A_Aligned.csv`` and ``<id>/arousal/<id>_Arousal_A_Aligned.csv``
    (``frame,value``, labels in [-1, 1] as generated) and ``videos/<id>.avi`` (MJPG, 30 fps), plus
    ``subjects.csv`` (recording -> SynthAffect identity) for the importer's subject-independent 5 folds.
    Frames without a face are black; their ratings are interpolated (see :func:`_write_sewa`).

The video layouts carry no landmarks (RECOLA, AFEW and SEWA DB's ratings ship none). :func:`with_known_landmarks` puts
SynthAffect's exact landmarks on the records the importer yields, so that preparation aligns the
faces from them (with :class:`NoDetector` in place of MTCNN) instead of detecting them: MTCNN finds
these cartoon faces (64 of 64 frames in a check here) but costs ~30 ms a frame on 2 CPU cores, ~7 minutes
for the default SynthAffect, against seconds. Real RECOLA/AFEW data go through MTCNN
(``tfaffect prepare``).

Deterministic (same SynthAffect, same bytes, up to the OpenCV build's MJPG encoder), written into a
temporary folder and renamed into place, cached beside the SynthAffect folder in
``<cache>/layouts/<synthaffect name>-<layout>-v<LAYOUT_VERSION>``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import zlib
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from tfaffect import EXPRESSIONS_7
from tfaffect.data.formats import VideoRecord, get_format
from tfaffect.data.formats._common import progress
from tfaffect.data.synth import FPS, read_manifest
from tfaffect.errors import ConfigError, MissingResourceError

logger = logging.getLogger(__name__)

LAYOUT_VERSION = "3"  # 2: AFEW clips carry their synthetic audio (<clip>.wav); adding the sewa layout changed
# no file of the others, so no bump; 3: the clips' voices vary per clip (synth_audio.CLIP_VARIATION)
"""Bump whenever the files written for a given SynthAffect change (part of the cache folder name)."""
LAYOUTS = ("afew_va", "recola", "afew", "sewa")
MAP_FILE = "synth_layout.json"
NOTE_FILE = "SYNTHETIC.md"
SUBJECTS_FILE = "subjects.csv"

AFEW_VA_CLIP_FRAMES = 60  # not fixed by a paper; AFEW-VA clips last "around 10 frames to more than 120"
# (Kollias 2019, section 2.3): 60 chosen near the middle, giving ~250 clips from the default SynthAffect
AFEW_VA_CLIPS_PER_PART = 50  # 600 clips in parts 01..12 (FORMATS.md, AFEW-VA): 50 per part
AFEW_VA_SCALE = 10  # valence/arousal integers in [-10, 10] (FORMATS.md, AFEW-VA)
AFEW_CLIP_FRAMES = 45  # not fixed by a paper; AFEW clips are short film excerpts (Kahou 2015: about 1-5 s);
# 1.5 s at SynthAffect's 30 fps chosen
RECOLA_FPS = 25.0  # not in FORMATS.md: AVEC 2016 gold standard every 40 ms (25 Hz), as remembered (unverified);
# the video is written at the same rate so every frame has one rating at its own time
RECOLA_STEP_S = 1.0 / RECOLA_FPS
RECOLA_PREFIXES = {"train": "train", "validation": "dev"}  # FORMATS.md, RECOLA (AVEC 2016)
AFEW_FOLDERS = {"train": "Train", "validation": "Val", "test": "Test"}  # FORMATS.md, AFEW / EmotiW
AFEW_CLASS_FOLDER = {"Neutral": "Neutral", "Anger": "Angry", "Disgust": "Disgust", "Fear": "Fear",
                     "Happiness": "Happy", "Sadness": "Sad", "Surprise": "Surprise"}
"""Class name of :data:`tfaffect.EXPRESSIONS_7` -> EmotiW folder name (FORMATS.md)."""
SPEAKER_PITCH_RANGE = 2.0  # semitones; chosen: speakers differ in pitch by a few semitones, less than most of the
# synthetic classes' mean pitches do (tfaffect.data.synth_audio.PROSODY: 120 Hz Neutral .. 200 Hz Surprise)
_FOURCC = "MJPG"  # OpenCV's own Motion-JPEG writer: present in every OpenCV build, no FFmpeg needed


class NoDetector:
    """An MTCNN stand-in for :class:`~tfaffect.data.faces.FacePipeline` that never finds a face.

    Used to prepare the synthetic layouts: every SynthAffect frame with a face carries its exact 68
    landmarks (the pipeline aligns from them and never calls a detector for it); the frames without
    a face must stay without one.
    """

    def detect_faces(self, images, **kwargs):
        return np.zeros((0, 16))


# ----------------------------------------------------------------------------- plan


def source_records(synth_root: str | os.PathLike) -> list[VideoRecord]:
    """The SynthAffect videos as the ``affwild2`` importer reads them (train, then validation)."""
    root = Path(synth_root)
    if read_manifest(root) is None:
        raise MissingResourceError(f"{root} is not a complete SynthAffect folder (no synthaffect.json); "
                                   "make one with `tfaffect synth --out DIR`")
    return list(get_format("affwild2").iter_records(root, tasks=("VA", "EXPR")))


def cut(num_frames: int, max_frames: int) -> list[tuple[int, int]]:
    """``[start, stop)`` pieces covering ``0 .. num_frames``: ``ceil(num_frames / max_frames)`` pieces
    of nearly equal length (the first ones one frame longer), in order."""
    pieces = max(1, math.ceil(num_frames / max_frames))
    base, extra = divmod(num_frames, pieces)
    out, start = [], 0
    for k in range(pieces):
        stop = start + base + (k < extra)
        out.append((start, stop))
        start = stop
    return out


def majority_expression(expression: np.ndarray) -> int | None:
    """The most frequent valid (>= 0) class of ``expression``; ties go to the lower class index;
    ``None`` when no frame has a valid class."""
    valid = np.asarray(expression)[np.asarray(expression) >= 0]
    if valid.size == 0:
        return None
    return int(np.argmax(np.bincount(valid, minlength=len(EXPRESSIONS_7))))


def plan_clips(records: Sequence[VideoRecord], layout: str) -> list[dict]:
    """What ``layout`` holds: one dict per clip/recording with ``id``, ``source`` (SynthAffect video),
    ``start``, ``stop`` (its frames ``[start, stop)``), ``split`` and, for AFEW, ``label`` (class index,
    ``None`` for a clip without a valid expression, which is not written)."""
    _check_layout(layout)
    clips: list[dict] = []
    if layout == "sewa":  # one recording per SynthAffect video, ids as SEWA DB's numbered recordings
        return [{"id": f"{number:03d}", "source": record.video_id, "start": 0, "stop": record.num_frames,
                 "split": record.split} for number, record in enumerate(records, start=1)]
    if layout == "recola":
        counters = {"train": 0, "validation": 0}
        for record in records:
            counters[record.split] += 1
            clips.append({"id": f"{RECOLA_PREFIXES[record.split]}_{counters[record.split]}",
                          "source": record.video_id, "start": 0, "stop": record.num_frames, "split": record.split})
        return clips
    size = AFEW_VA_CLIP_FRAMES if layout == "afew_va" else AFEW_CLIP_FRAMES
    for record in records:
        for start, stop in cut(record.num_frames, size):
            clip = {"id": "", "source": record.video_id, "start": start, "stop": stop, "split": record.split}
            if layout == "afew":
                clip["label"] = majority_expression(record.expression[start:stop])
            clips.append(clip)
    for number, clip in enumerate(clips, start=1):
        clip["id"] = f"{number:03d}" if layout == "afew_va" else f"{number:06d}"
        if layout == "afew" and clip["label"] is not None:
            folder = f"{AFEW_FOLDERS[clip['split']]}/{AFEW_CLASS_FOLDER[EXPRESSIONS_7[clip['label']]]}"
            clip["audio"] = {"file": f"{folder}/{clip['id']}.wav", "seed": number,
                             "pitch_shift": speaker_pitch_shift(clip["source"])}
    return clips


def speaker_pitch_shift(video_id: str) -> float:
    """The synthetic speaker's pitch shift (semitones, uniform in +-:data:`SPEAKER_PITCH_RANGE`) of a SynthAffect
    identity (its video id), the same on every run (drawn with the id's CRC-32 as the seed), rounded to 4 decimals."""
    rng = np.random.default_rng(zlib.crc32(video_id.encode("utf-8")))
    return round(float(rng.uniform(-SPEAKER_PITCH_RANGE, SPEAKER_PITCH_RANGE)), 4)


# ----------------------------------------------------------------------------- writing


def layout_path(synth_root: str | os.PathLike, layout: str) -> Path:
    """Where :func:`ensure_layout` keeps ``layout`` of the SynthAffect folder ``synth_root``."""
    _check_layout(layout)
    root = Path(synth_root)
    return root.parent / "layouts" / f"{root.name}-{layout}-v{LAYOUT_VERSION}"


def read_layout_map(layout_root: str | os.PathLike) -> dict | None:
    """``synth_layout.json`` of a complete layout folder, or ``None`` (written last, so present = complete)."""
    try:
        data = json.loads((Path(layout_root) / MAP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("synthetic") is True else None


def ensure_layout(synth_root: str | os.PathLike, layout: str) -> Path:
    """The cached ``layout`` copy of the SynthAffect folder ``synth_root``, written first if absent."""
    out = layout_path(synth_root, layout)
    if read_layout_map(out) is not None:
        logger.info("using cached synthetic %s layout at %s", layout, out)
        return out
    return write_layout(synth_root, layout, out)


def write_layout(synth_root: str | os.PathLike, layout: str, out_dir: str | os.PathLike) -> Path:
    """Write SynthAffect ``synth_root`` in ``layout`` to ``out_dir`` (atomically: a temporary folder
    beside it, renamed when complete). An existing complete layout there is replaced; any other
    existing non-empty folder is refused with :class:`ConfigError`."""
    _check_layout(layout)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and read_layout_map(out) is None:
        raise ConfigError(f"{out} exists and is not a synthetic layout (no {MAP_FILE}); refusing to overwrite it")
    records = source_records(synth_root)
    clips = plan_clips(records, layout)
    by_id = {r.video_id: r for r in records}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        logger.info("writing SynthAffect (synthetic) in the %s layout to %s", layout, out)
        writer = {"afew_va": _write_afew_va, "recola": _write_recola, "afew": _write_afew, "sewa": _write_sewa}[layout]
        for clip in progress(clips, desc=f"SynthAffect -> {layout}"):
            writer(tmp, clip, by_id[clip["source"]])
        if layout in ("afew_va", "sewa"):  # each SynthAffect video is one identity: subject-independent folds
            rows = "".join(f"{c['id']},{c['source']}\n" for c in clips)
            (tmp / SUBJECTS_FILE).write_text("clip,subject\n" + rows, encoding="utf-8")
        synth_manifest = read_manifest(synth_root)
        mapping = {
            "dataset": f"SynthAffect in the {layout} layout",
            "synthetic": True,
            "layout": layout,
            "layout_version": LAYOUT_VERSION,
            "source": {"name": Path(synth_root).name, "parameters": synth_manifest["parameters"],
                       "synth_version": synth_manifest["version"]},
            "fps": RECOLA_FPS if layout == "recola" else FPS,
            "clips": [c for c in clips if c.get("label", 0) is not None],
            "skipped": [c for c in clips if c.get("label", 0) is None],
        }
        (tmp / NOTE_FILE).write_text(_note(layout, mapping), encoding="utf-8")
        (tmp / MAP_FILE).write_text(json.dumps(mapping, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        if out.exists():
            old = out.parent / f"{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown synthetic layout {layout!r}; known: {', '.join(LAYOUTS)}")


def _frame_rgb(record: VideoRecord, i: int) -> np.ndarray | None:
    """Frame ``i`` of a SynthAffect video as RGB, or ``None`` without a face."""
    from tfaffect.data.video import read_image

    path = record.frame_paths[i]
    return None if path is None else read_image(path)


def _image_shape(record: VideoRecord) -> tuple[int, int, int]:
    from tfaffect.data.video import read_image

    first = next(p for p in record.frame_paths if p is not None)
    return read_image(first).shape


def _write_afew_va(root: Path, clip: dict, record: VideoRecord) -> None:
    part = (int(clip["id"]) - 1) // AFEW_VA_CLIPS_PER_PART + 1
    folder = root / f"{part:02d}" / clip["id"]
    folder.mkdir(parents=True)
    frames = {}
    for j, i in enumerate(range(clip["start"], clip["stop"])):
        rgb = _frame_rgb(record, i)
        if rgb is None:
            continue
        cv2.imwrite(str(folder / f"{j:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        entry = {"valence": int(round(AFEW_VA_SCALE * float(record.valence[i]))),
                 "arousal": int(round(AFEW_VA_SCALE * float(record.arousal[i])))}
        points = record.landmarks[i]
        if np.isfinite(points).all():
            entry["landmarks"] = [[round(float(x), 4), round(float(y), 4)] for x, y in points]
        frames[f"{j:05d}"] = entry
    (folder / f"{clip['id']}.json").write_text(json.dumps({"frames": frames}), encoding="utf-8")


def _write_video(path: Path, record: VideoRecord, start: int, stop: int, fps: float) -> None:
    height, width, _ = _image_shape(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*_FOURCC), fps, (width, height))
    if not writer.isOpened():
        raise ConfigError(f"OpenCV cannot write {_FOURCC} video {path}")
    black = np.zeros((height, width, 3), np.uint8)
    try:
        for i in range(start, stop):
            rgb = _frame_rgb(record, i)
            writer.write(black if rgb is None else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def _write_recola(root: Path, clip: dict, record: VideoRecord) -> None:
    _write_video(root / "recordings_video" / f"{clip['id']}.avi", record, clip["start"], clip["stop"], RECOLA_FPS)
    for dim, values in (("valence", record.valence), ("arousal", record.arousal)):
        lines = [f"@relation {clip['id']}_{dim}", "",
                 "@attribute instance_name string", "@attribute frameTime numeric",
                 "@attribute GoldStandard numeric", "", "@data"]
        for j, i in enumerate(range(clip["start"], clip["stop"])):
            value = "?" if not np.isfinite(values[i]) else f"{float(values[i]):.6f}"
            lines.append(f"'{clip['id']}',{j * RECOLA_STEP_S:.2f},{value}")
        path = root / "ratings_gold_standard" / dim / f"{clip['id']}.arff"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_afew(root: Path, clip: dict, record: VideoRecord) -> None:
    if clip["label"] is None:
        return
    folder = root / AFEW_FOLDERS[clip["split"]] / AFEW_CLASS_FOLDER[EXPRESSIONS_7[clip["label"]]]
    _write_video(folder / f"{clip['id']}.avi", record, clip["start"], clip["stop"], FPS)
    from tfaffect.data.audio import write_wav
    from tfaffect.data.synth_audio import CLIP_VARIATION, SAMPLE_RATE, synth_voice

    audio = clip["audio"]
    voice = synth_voice(clip["label"], (clip["stop"] - clip["start"]) / FPS, pitch_shift=audio["pitch_shift"],
                        seed=audio["seed"], variation=CLIP_VARIATION)
    write_wav(root / audio["file"], voice, SAMPLE_RATE)


def _write_sewa(root: Path, clip: dict, record: VideoRecord) -> None:
    """SEWA DB layout (FORMATS.md, SEWA): ``<id>/valence/<id>_Valence_A_Aligned.csv`` (``frame,value``), the
    arousal file beside it and ``videos/<id>.avi``; :data:`SUBJECTS_FILE` gives each recording's identity.

    read_sewadb refuses gaps, and SynthAffect's labels are missing (NaN) on its frames without a face (written
    black in the video). Chosen rule: such a frame gets the rating interpolated linearly between the nearest
    labelled frames (held at the ends), as a continuous SEWA rating trace would be; the face pipeline finds no
    face there at prepare time, so these values never reach training or scoring."""
    _write_video(root / "videos" / f"{clip['id']}.avi", record, clip["start"], clip["stop"], FPS)
    for dim, values in (("Valence", record.valence), ("Arousal", record.arousal)):
        values = np.asarray(values[clip["start"]:clip["stop"]], np.float64)
        known = np.flatnonzero(np.isfinite(values))
        if not len(known):
            raise ConfigError(f"SynthAffect video {record.video_id}: no {dim.lower()} label on any frame")
        filled = np.interp(np.arange(len(values)), known, values[known])
        rows = "".join(f"{j},{v:.6f}\n" for j, v in enumerate(filled))
        path = root / clip["id"] / dim.lower() / f"{clip['id']}_{dim}_A_Aligned.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"frame,{dim}\n" + rows, encoding="utf-8")


def _note(layout: str, mapping: dict) -> str:
    source = mapping["source"]
    return f"""# SynthAffect in the {layout} layout (SYNTHETIC data)

Written by tfaffect (tfaffect/data/synth_layouts.py, layout version {LAYOUT_VERSION}) from the SynthAffect
folder {source['name']} (generator version {source['synth_version']}, parameters {json.dumps(source['parameters'])}).
It is NOT the real dataset: every face is a procedurally rendered cartoon with known labels, laid out as
FORMATS.md describes the real {layout} release so that tfaffect's importer reads it unchanged. Numbers
measured on it say nothing about real faces.

- {len(mapping['clips'])} clips/recordings; synth_layout.json gives the SynthAffect frames each one holds
  (and, for AFEW, the majority-expression clip label); {len(mapping['skipped'])} clip(s) without a valid
  expression were left out.
- How each layout is derived: see the docstring of tfaffect/data/synth_layouts.py.{_audio_note(layout)}
"""


def _audio_note(layout: str) -> str:
    if layout != "afew":
        return ""
    return """
- Audio: <clip>.wav beside each clip is a SYNTHETIC voice-like signal (no speech, no words) whose pitch,
  level and syllable rate depend on the clip label (tfaffect/data/synth_audio.py), shifted in pitch per
  synthetic person; it says nothing about real emotional speech."""


# ----------------------------------------------------------------------------- reading back


def with_known_landmarks(records: Sequence[VideoRecord], layout_root: str | os.PathLike,
                         synth_root: str | os.PathLike) -> list[VideoRecord]:
    """Copies of ``records`` (read by the importer from a synthetic video layout) with SynthAffect's exact
    68 landmarks of each frame (NaN for frames without a face), matched through ``synth_layout.json``.

    Only for the synthetic layouts: real RECOLA/AFEW videos carry no landmarks and are aligned by
    MTCNN. A record whose frame count differs from its clip's is an error (the video did not decode
    to the frames written).
    """
    import dataclasses

    mapping = read_layout_map(layout_root)
    if mapping is None:
        raise MissingResourceError(f"{layout_root} is not a complete synthetic layout (no {MAP_FILE})")
    clips = {c["id"]: c for c in mapping["clips"]}
    sources = {r.video_id: r for r in source_records(synth_root)}
    out = []
    for record in records:
        clip = clips.get(record.video_id)
        if clip is None:
            raise ConfigError(f"{record.video_id!r} is not a clip of the synthetic layout {layout_root}")
        if record.num_frames != clip["stop"] - clip["start"]:
            raise ConfigError(f"{record.video_id}: the video has {record.num_frames} frames, the layout wrote "
                              f"{clip['stop'] - clip['start']}")
        landmarks = sources[clip["source"]].landmarks[clip["start"]:clip["stop"]]
        out.append(dataclasses.replace(record, landmarks=landmarks))
    return out


__all__ = ["LAYOUTS", "LAYOUT_VERSION", "MAP_FILE", "SUBJECTS_FILE", "NoDetector", "cut", "ensure_layout",
           "layout_path", "majority_expression", "plan_clips", "read_layout_map", "source_records", "speaker_pitch_shift",
           "with_known_landmarks", "write_layout"]
