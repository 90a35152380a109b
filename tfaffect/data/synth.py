"""SynthAffect: the embedded default dataset. SYNTHETIC cartoon faces with known affect labels.

SynthAffect lets every tfaffect recipe run and learn without the licensed datasets (Aff-Wild,
Aff-Wild2, AFEW-VA, ...). It is procedurally rendered, labelled synthetic everywhere, and says
nothing about how a model does on real faces.

Layout written (the Aff-Wild2 layout of the first ABAW competition, 2020, FORMATS.md, so the
``affwild2`` importer reads it unchanged, plus tfaffect's landmark extension)::

    <out>/cropped_aligned/<video>/00001.jpg ...     size x size RGB JPEG faces; no file = no face
    <out>/annotations/VA_Set/{Training_Set,Validation_Set,Test_Set}/<video>.txt
          header ``valence,arousal``, rows ``v,a``; ``-5,-5`` for a frame without a face
    <out>/annotations/EXPR_Set/{Training_Set,Validation_Set,Test_Set}/<video>.txt
          header ``Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise``, one int per row, ``-1`` invalid
    <out>/landmarks/<video>.txt
          header ``x0,y0,...,x67,y67``, one row of 136 pixel coordinates per frame, all ``-1`` without a face
    <out>/SYNTHETIC.md        a note for people: what this is, how it was made
    <out>/synthaffect.json    the manifest: version, seed, parameters, fps, every video's split, frame
                              counts, identity and nuisance parameters, occluded frame ranges

Frame ``i`` (0-based) of a video is annotation row ``i + 1`` after the header and image ``%05d`` of
``i + 1``. Videos are named ``synth_train_001`` ..., ``synth_val_001`` ... and ``synth_test_001`` ...; every
video is its own identity, so train, validation and test identities are disjoint.

The test split (``Test_Set``) is optional and off by default (``num_test_videos = 0``): a labelled test split
is a SynthAffect extension (the ABAW releases publish no test labels), for the recipes that score a test set
apart from the validation set they select on (:data:`tfaffect.training.data.TEST_VIDEOS`). Adding it leaves the
training and validation videos byte-identical (each video draws from its own stream), and a dataset without it
keeps the cache key it had before the test split existed (``num_test_videos`` enters the parameters only when
non-zero).

How a video is made
-------------------
* Identity: face width and length, jaw shape, eye/brow/nose/mouth size and placement, skin tone,
  hair colour and style, clothing and a blurred background "room", all drawn once per video.
* Affect: valence and arousal are ``tanh(gain * latent)`` of a latent Gaussian process per dimension:
  a per-video mood offset plus a smooth stationary process (an Ornstein-Uhlenbeck process with a
  correlation time of seconds, low-pass filtered so the face moves smoothly). Latent means are set so
  the raw data is more skewed than the Aff-Wild training set the paper used AFTER oversampling
  (Kollias 2019, section 4.2: 43% (+v,+a), 24% (-v,+a), 19% (+v,-a), 14% (-v,-a)): here about 50%
  (+v,+a), 26% (-v,+a), 16% (+v,-a), 8% (-v,-a) (measured in tests/data/test_synth.py); duplicating
  the two negative-arousal quadrants 1.5x, as the paper did, gives roughly its numbers (45/23/21/11%).
* Geometry: 68 landmarks (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, outer mouth 48-59, inner
  mouth 60-67) are computed from identity, affect and pose; the face is drawn FROM these points
  (smooth curves through them, anti-aliased, 1/16 pixel precision), so the landmarks are exact.
  Valence moves the mouth corners (smile/frown) and tilts the brows; arousal opens the mouth and eyes
  and raises the brows.
* Nuisances: slow head roll, yaw (a horizontal squash plus a depth-dependent shift of the features),
  scale and shift; blinks; a lighting gradient, global brightness and colour cast; sensor noise; JPEG
  quality per video; occasional occluders (a hand or a bar over part of the face for a few frames);
  short runs of frames without a face (no JPEG, VA ``-5,-5``, expression ``-1``, landmarks ``-1``).
* Expressions: the class whose prototype point in the valence-arousal plane is nearest
  (:data:`EXPRESSION_PROTOTYPES`); in runs covering about 10% of the frames the label is the
  second-nearest class instead (annotator disagreement), and in runs covering about 4% it is ``-1``
  although valence and arousal are valid, as in real data.

Everything is deterministic from the seed: the same seed and parameters give byte-identical files
(with the same numpy and OpenCV builds), whatever the number of worker processes. Each video draws
from its own random stream, so adding videos leaves the existing ones unchanged.

Use :func:`generate` to write a dataset to a folder (``tfaffect synth --out DIR``) and
:func:`ensure_synthaffect` to get a cached one (what recipes call). The default size, 24 train + 8
validation videos of 300-600 frames (~14.6k frames, ~80 MB), takes about 25 s with 2 workers on 2
idle cores.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import hashlib
import json
import logging
import math
import multiprocessing
import os
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from tfaffect import EXPRESSIONS_7, __version__
from tfaffect.errors import ConfigError

logger = logging.getLogger(__name__)

SYNTH_VERSION = "1"
"""Version of the generator. Bump it whenever the output for a given seed changes (cache key)."""

MANIFEST = "synthaffect.json"
NOTE = "SYNTHETIC.md"
FPS = 30.0  # not fixed by any paper; chosen because most Aff-Wild/Aff-Wild2 videos are 30 fps

DEFAULT_TRAIN_VIDEOS = 24  # not fixed by a paper; chosen so AffWildNet (~17 frames/s per train step on
DEFAULT_VAL_VIDEOS = 8  # 2 CPU cores) sees about one epoch of ~11k train frames in ~10 minutes
DEFAULT_FRAMES = (300, 600)  # frames per video, drawn uniformly per video: 10-20 s at FPS

SPLITS = (("train", "Training_Set", "synth_train"), ("validation", "Validation_Set", "synth_val"),
          ("test", "Test_Set", "synth_test"))
"""(split name used by tfaffect, Aff-Wild2 folder name, video name prefix)."""

INVALID_VA = -5  # FORMATS.md, Aff-Wild2 VA_Set: -5 marks an invalid frame
INVALID_LABEL = -1  # FORMATS.md, Aff-Wild2 EXPR_Set: -1 marks an invalid frame

# ---------------------------------------------------------------------------------------------
# Affect process. None of these numbers comes from a paper except the quadrant targets they are
# tuned against (Kollias 2019, section 4.2); the rest is chosen as stated.
# ---------------------------------------------------------------------------------------------
AFFECT_TAU_S = 2.0  # correlation time of the OU process: expressions last seconds (chosen)
AFFECT_SMOOTH_S = 0.2  # one-pole low-pass after the OU so the face does not jitter frame to frame (chosen)
MOOD_SHARE = 0.3  # share of the latent variance that is a per-video constant mood (chosen)
LATENT_MEAN = (0.41, 0.71)  # (valence, arousal) latent means = Phi^-1(0.66), Phi^-1(0.76): P(v > 0) = 0.66,
# P(a > 0) = 0.76, so quadrants ~50/26/16/8%, more skewed than Kollias 2019 section 4.2's
# post-oversampling 43/24/19/14% (the paper oversampled the two negative-arousal quadrants)
SQUASH_GAIN = (0.6, 0.5)  # valence = tanh(0.6 * latent), arousal = tanh(0.5 * latent): 5-95% ranges about
# [-0.65, 0.84] and [-0.46, 0.83], medians 0.24 and 0.34 -- mostly mildly positive, few values near +-1,
# as in the Aff-Wild histograms (Kollias 2019, Fig. 6) (chosen; measured in tests/data/test_synth.py)
LABEL_DECIMALS = 4  # VA written with 4 decimals; the face is rendered from the rounded values

EXPRESSION_PROTOTYPES = {
    # (valence, arousal) prototype of each class; the label is the nearest prototype. Placed after
    # Russell's circumplex as the issue describes (not from the papers): Happiness at high valence,
    # Anger/Fear at low valence and high arousal, Sadness low/low, Surprise high arousal and
    # near-neutral valence, Disgust low valence and mid arousal, Neutral near the origin (slightly
    # positive, where most resting frames lie).
    "Neutral": (0.05, 0.15),
    "Anger": (-0.6, 0.6),
    "Disgust": (-0.7, 0.15),
    "Fear": (-0.35, 0.85),
    "Happiness": (0.6, 0.35),
    "Sadness": (-0.45, -0.35),
    "Surprise": (0.15, 0.85),
    # Resulting class shares before disagreement (300 videos, measured): Neutral 24%, Anger 7.5%,
    # Disgust 6%, Fear 6%, Happiness 37%, Sadness 7%, Surprise 13% -- imbalanced like real data.
}
DISAGREEMENT_FRACTION = 0.10  # frames relabelled to the second-nearest class (issue #3 suggests 10%)
NO_EXPRESSION_FRACTION = 0.04  # frames with VA but expression -1 (chosen; real data has some)
NO_FACE_FRACTION = 0.02  # frames without a face, in short runs (issue #3 suggests ~2%)
OCCLUDED_VIDEO_PROBABILITY = 0.5  # share of videos with occluder runs (chosen)

# ---------------------------------------------------------------------------------------------
# Face geometry, in face units: the face is 2 units wide (half-width 1), the eye line is y = 0 and
# y points down. Affect gains are chosen so the cues are a few pixels at 96x96 (learnable by a CNN)
# while identity differences and pose keep them from being trivial.
# ---------------------------------------------------------------------------------------------
SMILE_GAIN = 0.2  # mouth corners rise by 0.2 * valence face units (~6 px at 112 px for v = 1) (chosen)
# (learnable on unseen people even at 48 px: benchmarks/synth_ceiling.py, a small CNN's validation CCC 0.77)
BROW_TILT_GAIN = 0.1  # inner brow ends drop by 0.1 * (-valence) (chosen)
BROW_RAISE_GAIN = 0.09  # brows rise by 0.09 * arousal (chosen)
EYE_OPEN_GAIN = 0.4  # eye opening scales by 1 + 0.4 * arousal (chosen)
MOUTH_OPEN_GAIN = 0.30  # inner-lip gap = 0.30 * ((arousal + 1) / 2) ** 1.5 face units (chosen)
FACE_SCALE = 0.29  # one face unit = 0.29 * image size pixels: forehead to chin fill ~75% (chosen)
FACE_PIVOT_Y = 0.2  # canonical point (0, 0.2) sits at the image centre before pose shift (chosen)

SKIN_TONES = np.array([(255, 224, 196), (241, 194, 160), (224, 172, 105), (198, 134, 66),
                       (141, 85, 36), (92, 58, 40)], np.float64)  # RGB, light to dark (chosen)
HAIR_COLOURS = np.array([(28, 24, 22), (70, 45, 30), (115, 78, 45), (205, 170, 110), (150, 70, 40),
                         (165, 165, 160)], np.float64)  # black, dark brown, brown, blond, red, grey
IRIS_COLOURS = np.array([(70, 45, 25), (40, 90, 140), (80, 110, 60), (110, 80, 40)], np.float64)
HAIR_STYLES = ("short", "long", "bald", "fringe")


# =============================================================================================
# Random processes and labels
# =============================================================================================

def smooth_process(rng: np.random.Generator, num_frames: int, tau_frames: float,
                   smooth_frames: float) -> np.ndarray:
    """A stationary Gaussian process with zero mean and unit variance, ``num_frames`` long.

    An AR(1) with coefficient ``a1 = exp(-1 / tau_frames)`` (an Ornstein-Uhlenbeck process sampled
    once per frame) drives a one-pole low-pass ``a2 = exp(-1 / smooth_frames)``. Together they are an
    AR(2) whose stationary variance is ``(1 + a1 a2) / ((1 - a1 a2)(1 - a1^2)(1 - a2^2))`` times the
    innovation variance; the innovations are scaled so the output variance is 1. The start-up
    transient is run off for ``10 * (tau + smooth)`` frames and discarded.
    """
    a1 = math.exp(-1.0 / tau_frames)
    a2 = math.exp(-1.0 / smooth_frames)
    var = (1 + a1 * a2) / ((1 - a1 * a2) * (1 - a1 * a1) * (1 - a2 * a2))
    burn = int(10 * (tau_frames + smooth_frames))
    noise = rng.standard_normal(num_frames + burn) / math.sqrt(var)
    x = y = 0.0
    out = np.empty(num_frames + burn)
    for t, e in enumerate(noise):
        x = a1 * x + e
        y = a2 * y + x
        out[t] = y
    return out[burn:]


def sample_affect(rng: np.random.Generator, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame ``(valence, arousal)`` of one video, each in (-1, 1), rounded as written to disk.

    latent = mean + sqrt(MOOD_SHARE) * mood + sqrt(1 - MOOD_SHARE) * smooth process, with ``mood`` a
    standard normal per video, so the latent is N(mean, 1) over videos and time; then
    ``tanh(gain * latent)``.
    """
    out = []
    for mean, gain in zip(LATENT_MEAN, SQUASH_GAIN):
        mood = rng.standard_normal()
        process = smooth_process(rng, num_frames, AFFECT_TAU_S * FPS, AFFECT_SMOOTH_S * FPS)
        latent = mean + math.sqrt(MOOD_SHARE) * mood + math.sqrt(1 - MOOD_SHARE) * process
        out.append(np.round(np.tanh(gain * latent), LABEL_DECIMALS))
    return out[0], out[1]


def expression_from_affect(valence, arousal) -> tuple[np.ndarray, np.ndarray]:
    """The nearest and the second-nearest expression class (indices into EXPRESSIONS_7) per frame.

    Distances are Euclidean in the valence-arousal plane to :data:`EXPRESSION_PROTOTYPES`.
    """
    points = np.stack([np.asarray(valence, np.float64), np.asarray(arousal, np.float64)], -1)
    protos = np.array([EXPRESSION_PROTOTYPES[name] for name in EXPRESSIONS_7])
    dist = np.linalg.norm(points[..., None, :] - protos, axis=-1)
    order = np.argsort(dist, axis=-1, kind="stable")
    return order[..., 0], order[..., 1]


def _runs(rng: np.random.Generator, num_frames: int, fraction: float, min_len: int,
          max_len: int) -> list[tuple[int, int]]:
    """Random half-open frame ranges ``[start, stop)`` covering about ``fraction`` of the video.

    At least one run is placed in every video (so even a tiny dataset exercises every code path
    downstream); a run is at most a fifth of the video.
    """
    max_len = max(1, min(max_len, num_frames // 5))
    min_len = min(min_len, max_len)
    mean_len = (min_len + max_len) / 2
    count = max(1, int(rng.poisson(fraction * num_frames / mean_len)))
    runs = []
    for _ in range(count):
        length = int(rng.integers(min_len, max_len + 1))
        start = int(rng.integers(0, num_frames - length + 1))
        runs.append((start, start + length))
    return sorted(runs)


def _mask(num_frames: int, runs) -> np.ndarray:
    mask = np.zeros(num_frames, bool)
    for start, stop in runs:
        mask[start:stop] = True
    return mask


# =============================================================================================
# Identity and geometry
# =============================================================================================

def _mix(rng: np.random.Generator, palette: np.ndarray) -> np.ndarray:
    """A colour between two neighbouring palette entries."""
    i = int(rng.integers(0, len(palette) - 1))
    t = rng.uniform()
    return (1 - t) * palette[i] + t * palette[i + 1]


def _sample_identity(rng: np.random.Generator) -> dict:
    """Shape, colour and background parameters of one synthetic person (all ranges chosen)."""
    skin = _mix(rng, SKIN_TONES)
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.85, 1.15)
    lips = skin * np.array([0.82, 0.55, 0.55]) + np.array([30, 0, 5])
    return {
        "face_width": rng.uniform(0.9, 1.08),
        "face_length": rng.uniform(0.92, 1.12),
        "jaw_exponent": rng.uniform(0.75, 1.0),  # superellipse exponent: < 1 squarer jaw
        "forehead": rng.uniform(0.95, 1.15),
        "eye_spacing": rng.uniform(0.38, 0.46),
        "eye_size": rng.uniform(0.85, 1.15),
        "brow_height": rng.uniform(0.25, 0.33),
        "brow_thickness": rng.uniform(0.045, 0.08),
        "nose_length": rng.uniform(0.9, 1.1),
        "nose_width": rng.uniform(0.85, 1.2),
        "mouth_y": rng.uniform(0.86, 0.98),
        "mouth_width": rng.uniform(0.27, 0.36),
        "lip_thickness": rng.uniform(0.05, 0.09),
        "smile_bias": rng.uniform(-0.02, 0.02),  # resting mouth shape differs between people
        "brow_bias": rng.uniform(-0.03, 0.03),
        "brow_tilt_bias": rng.uniform(-0.02, 0.02),
        "mouth_gap_bias": rng.uniform(0.0, 0.03),  # some people rest with parted lips
        "skin": np.clip(skin, 0, 255),
        "hair": np.clip(hair, 0, 255),
        "hair_style": HAIR_STYLES[int(rng.integers(len(HAIR_STYLES)))],
        "iris": IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))],
        "lips": np.clip(lips, 0, 255),
        "clothes": rng.uniform(20, 235, 3),
        "background": (rng.uniform(30, 230, 3), rng.uniform(30, 230, 3)),
        "background_seed": int(rng.integers(2**31)),
    }


def _identity_json(identity: dict) -> dict:
    """The identity as plain JSON values (floats rounded to 4 decimals, colours as RGB integers)."""
    def plain(value):
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, np.ndarray):
            return [int(round(float(v))) for v in value]
        if isinstance(value, float):
            return round(value, 4)
        return value
    return {key: plain(value) for key, value in identity.items()}


def _superellipse_arc(num: int, half_width: float, top: float, bottom: float, exponent: float,
                      lower: bool) -> np.ndarray:
    """``num`` points on half a superellipse from x = -half_width to +half_width (lower) or back (upper)."""
    phi = np.linspace(0.0, math.pi, num)
    c, s = np.cos(phi), np.sin(phi)
    x = half_width * np.sign(c) * np.abs(c) ** exponent
    if lower:
        return np.stack([-x, top + (bottom - top) * np.abs(s) ** exponent], -1)
    return np.stack([x, top - (top - bottom) * np.abs(s) ** exponent], -1)


def _face_points(identity: dict, valence: float, arousal: float, eye_open: float) -> tuple[np.ndarray, dict]:
    """Canonical (face units, frontal) 68 landmarks and the extra outline points used for drawing."""
    ident = identity
    w = ident["face_width"]
    chin = 1.45 * ident["face_length"]
    jaw_top = 0.05
    pts = np.zeros((68, 2))
    pts[0:17] = _superellipse_arc(17, w, jaw_top, chin, ident["jaw_exponent"], lower=True)

    # Brows: 17-21 image-left (outer -> inner), 22-26 image-right (inner -> outer).
    ex = ident["eye_spacing"]
    t = np.linspace(0.0, 1.0, 5)
    brow_y = -(ident["brow_height"] + ident["brow_bias"] + BROW_RAISE_GAIN * arousal)
    brow_inner_drop = BROW_TILT_GAIN * (-valence) + ident["brow_tilt_bias"]
    left_x = -(ex + 0.27) + t * 0.5
    left_y = brow_y - 0.07 * np.sin(math.pi * (0.15 + 0.7 * t)) + brow_inner_drop * t
    pts[17:22] = np.stack([left_x, left_y], -1)
    pts[22:27] = np.stack([-left_x[::-1], left_y[::-1]], -1)

    # Nose: bridge 27-30 top -> tip, nostrils 31-35 left -> right.
    nl, nw = ident["nose_length"], ident["nose_width"]
    pts[27:31] = np.stack([np.zeros(4), np.array([0.03, 0.17, 0.31, 0.45]) * nl], -1)
    pts[31:36] = np.stack([np.array([-0.15, -0.075, 0.0, 0.075, 0.15]) * nw,
                           np.array([0.53, 0.555, 0.57, 0.555, 0.53]) * nl], -1)

    # Eyes: 36 outer, 37-38 upper lid, 39 inner, 40-41 lower lid (image-left eye); 42-47 mirrored.
    ew, eh = 0.16 * ident["eye_size"], 0.075 * ident["eye_size"] * eye_open
    left_eye = np.array([[-(ex + ew), 0.0], [-(ex + ew / 3), -eh], [-(ex - ew / 3), -eh],
                         [-(ex - ew), 0.01], [-(ex - ew / 3), 0.8 * eh], [-(ex + ew / 3), 0.8 * eh]])
    pts[36:42] = left_eye
    pts[42:48] = left_eye[[3, 2, 1, 0, 5, 4]] * np.array([-1.0, 1.0])

    # Mouth: the midline bends with valence, the lips part with arousal.
    mw = ident["mouth_width"] * (1 + 0.12 * valence)  # a smile widens the mouth
    my = ident["mouth_y"] * ident["face_length"]
    lift = SMILE_GAIN * valence + ident["smile_bias"]
    gap = MOUTH_OPEN_GAIN * ((arousal + 1) / 2) ** 1.5 + ident["mouth_gap_bias"]
    lip = ident["lip_thickness"]

    def midline(u):  # u = x / mw in [-1, 1]
        return my - lift * u ** 2

    def bulge(u):
        return np.sqrt(np.clip(1 - u ** 2, 0, None))

    outer_u = np.array([-1.0, -0.62, -0.28, 0.0, 0.28, 0.62, 1.0, 0.62, 0.28, 0.0, -0.28, -0.62])
    upper = np.arange(12) <= 6
    cupid = np.where(np.abs(np.abs(outer_u) - 0.28) < 1e-9, 0.015, 0.0)  # Cupid's bow peaks
    outer_y = np.where(upper,
                       midline(outer_u) - gap / 2 * bulge(outer_u) - lip * (0.3 + 0.7 * bulge(outer_u)) - cupid,
                       midline(outer_u) + gap / 2 * bulge(outer_u) + 1.2 * lip * (0.3 + 0.7 * bulge(outer_u)))
    pts[48:60] = np.stack([outer_u * mw, outer_y], -1)
    inner_u = np.array([-0.88, -0.45, 0.0, 0.45, 0.88, 0.45, 0.0, -0.45])
    inner_upper = np.arange(8) <= 4
    inner_y = np.where(inner_upper, midline(inner_u) - gap / 2 * bulge(inner_u),
                       midline(inner_u) + gap / 2 * bulge(inner_u))
    pts[60:68] = np.stack([inner_u * mw, inner_y], -1)

    forehead = _superellipse_arc(13, w, jaw_top, -1.0 * ident["forehead"], 0.8, lower=False)[1:-1]
    extra = {
        "forehead": forehead,
        "hair_outer": _superellipse_arc(15, 1.1 * w, 0.35, -1.22 * ident["forehead"], 0.75, lower=False),
        "hairline": _superellipse_arc(11, 0.98 * w, 0.1, -0.62 * ident["forehead"], 0.6, lower=False),
        "fringe": _superellipse_arc(11, 0.98 * w, 0.0, -0.42 * ident["forehead"], 0.9, lower=False),
        "long_hair": np.array([[-1.12 * w, -0.5], [-1.28 * w, 0.6], [-1.32 * w, 1.65], [-0.95 * w, 1.95],
                               [0.95 * w, 1.95], [1.32 * w, 1.65], [1.28 * w, 0.6], [1.12 * w, -0.5],
                               [0.0, -1.22 * ident["forehead"]]]),
        "ears": np.array([[-w, 0.3], [w, 0.3]]),
        "iris": np.array([[-ex, 0.0], [ex, 0.0]]),
        "neck": np.array([[-0.42 * w, 0.9], [-0.45 * w, 2.3], [0.45 * w, 2.3], [0.42 * w, 0.9]]),
        "clothes": np.array([[-2.6, 3.5], [-2.3, 2.05], [-1.1, 1.75], [-0.45 * w, 1.62], [0, 1.75],
                             [0.45 * w, 1.62], [1.1, 1.75], [2.3, 2.05], [2.6, 3.5]]),
    }
    return pts, extra


def _depth(points: np.ndarray, half_width: float) -> np.ndarray:
    """Depth (towards the camera) of canonical points on a head approximated by an elliptic cylinder."""
    return 0.7 * np.sqrt(np.clip(1 - (points[..., 0] / (1.05 * half_width)) ** 2, 0, None))


_LANDMARK_EXTRA_DEPTH = np.zeros(68)
_LANDMARK_EXTRA_DEPTH[27:31] = (0.05, 0.12, 0.2, 0.3)  # nose bridge rises to the tip
_LANDMARK_EXTRA_DEPTH[31:36] = (0.1, 0.15, 0.2, 0.15, 0.1)  # nostrils
_LANDMARK_EXTRA_DEPTH[36:48] = -0.04  # eyes sit in their sockets
_LANDMARK_EXTRA_DEPTH[48:68] = 0.05  # lips


def _project(points: np.ndarray, depth: np.ndarray, pose: dict, size: int) -> np.ndarray:
    """Canonical face units -> pixel coordinates: yaw (squash + depth shift), roll, scale, shift."""
    yaw, roll = math.radians(pose["yaw"]), math.radians(pose["roll"])
    x = points[..., 0] * math.cos(yaw) + depth * math.sin(yaw)
    y = points[..., 1] - FACE_PIVOT_Y
    c, s = math.cos(roll), math.sin(roll)
    scale = FACE_SCALE * size * pose["scale"]
    px = (c * x - s * y) * scale + size / 2 + pose["dx"] * size
    py = (s * x + c * y) * scale + size / 2 + pose["dy"] * size
    return np.stack([px, py], -1)


# =============================================================================================
# Drawing
# =============================================================================================

_SHIFT = 4  # cv2 fractional bits: coordinates are drawn with 1/16 pixel precision


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points) * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)


@functools.lru_cache(maxsize=None)
def _catmull_rom_matrix(num_points: int, closed: bool, steps: int) -> np.ndarray:
    """The linear map from ``num_points`` control points to a uniform Catmull-Rom curve through them.

    Open curves get mirrored phantom end points, so the curve starts and ends at the first and last point.
    """
    t = np.arange(steps)[:, None] / steps
    basis = 0.5 * np.concatenate([-t + 2 * t ** 2 - t ** 3, 2 - 5 * t ** 2 + 3 * t ** 3,
                                  t + 4 * t ** 2 - 3 * t ** 3, -t ** 2 + t ** 3], 1)  # weights of p0..p3
    segments = num_points if closed else num_points - 1
    rows = np.zeros((segments * steps + (0 if closed else 1), num_points))
    for i in range(segments):
        for k in range(4):
            j = i - 1 + k
            if closed:
                rows[i * steps:(i + 1) * steps, j % num_points] += basis[:, k]
            elif j < 0:  # phantom 2 * p[0] - p[1]
                rows[i * steps:(i + 1) * steps, 0] += 2 * basis[:, k]
                rows[i * steps:(i + 1) * steps, 1] -= basis[:, k]
            elif j >= num_points:  # phantom 2 * p[-1] - p[-2]
                rows[i * steps:(i + 1) * steps, -1] += 2 * basis[:, k]
                rows[i * steps:(i + 1) * steps, -2] -= basis[:, k]
            else:
                rows[i * steps:(i + 1) * steps, j] += basis[:, k]
    if not closed:
        rows[-1, -1] = 1.0
    return rows


def _catmull_rom(points: np.ndarray, closed: bool, steps: int = 4) -> np.ndarray:
    """A smooth curve through ``points`` (they stay on it), ``steps`` segments between neighbours."""
    p = np.asarray(points, np.float64)
    return _catmull_rom_matrix(len(p), closed, steps) @ p


def _fill(img, points, colour, closed_smooth=True):
    pts = _catmull_rom(points, closed=True) if closed_smooth else points
    cv2.fillPoly(img, [_fixed(pts)], tuple(float(c) for c in colour), cv2.LINE_AA, _SHIFT)


def _line(img, points, colour, thickness, smooth=True, closed=False):
    pts = _catmull_rom(points, closed=closed) if smooth else points
    cv2.polylines(img, [_fixed(pts)], closed, tuple(float(c) for c in colour), max(1, int(round(thickness))),
                  cv2.LINE_AA, _SHIFT)


def _clipped(img: np.ndarray, clip_polygon: np.ndarray, draw) -> None:
    """Run ``draw(layer)`` on a copy of the polygon's bounding box and keep it only inside the polygon."""
    x0, y0 = np.floor(clip_polygon.min(0)).astype(int) - 1
    x1, y1 = np.ceil(clip_polygon.max(0)).astype(int) + 2
    h, w = img.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    layer = roi.copy()
    offset = np.array([x0, y0])
    draw(layer, offset)
    mask = np.zeros(roi.shape[:2], np.uint8)
    cv2.fillPoly(mask, [_fixed(clip_polygon - offset)], 255, cv2.LINE_AA, _SHIFT)
    m = (mask.astype(np.float32) / 255)[..., None]
    roi[:] = (roi * (1 - m) + layer * m + 0.5).astype(np.uint8)


def _background(identity: dict, size: int) -> np.ndarray:
    """A blurred "room": a vertical colour gradient and a few soft rectangles and discs."""
    rng = np.random.default_rng(identity["background_seed"])
    top, bottom = identity["background"]
    ramp = np.linspace(0, 1, size)[:, None, None]
    img = ((1 - ramp) * top + ramp * bottom) * np.ones((size, size, 3))
    img = img.astype(np.uint8)
    for _ in range(int(rng.integers(2, 6))):
        colour = tuple(float(c) for c in rng.uniform(20, 240, 3))
        if rng.uniform() < 0.5:
            p0 = rng.uniform(-0.2, 1.0, 2) * size
            p1 = p0 + rng.uniform(0.15, 0.6, 2) * size
            cv2.rectangle(img, tuple(int(v) for v in p0), tuple(int(v) for v in p1), colour, -1)
        else:
            centre = tuple(int(v) for v in rng.uniform(0, 1, 2) * size)
            cv2.circle(img, centre, int(rng.uniform(0.05, 0.25) * size), colour, -1, cv2.LINE_AA)
    sigma = 0.03 * size
    return cv2.GaussianBlur(img, (0, 0), sigma)


def _shade(colour, factor):
    return np.clip(np.asarray(colour) * factor, 0, 255)


def _draw_face(img: np.ndarray, lm: np.ndarray, extra: dict, identity: dict, mouth_gap_px: float) -> None:
    """Draw one face onto ``img`` (RGB uint8, in place) from pixel landmarks ``lm`` and outline points."""
    skin, hair, size = identity["skin"], identity["hair"], img.shape[0]
    unit = float(np.linalg.norm(lm[16] - lm[0])) / 2  # face half-width in pixels
    style = identity["hair_style"]
    if style == "long":
        _fill(img, extra["long_hair"], _shade(hair, 0.85))
    _fill(img, extra["neck"], _shade(skin, 0.85), closed_smooth=False)
    _fill(img, extra["clothes"], identity["clothes"], closed_smooth=False)
    for ear in extra["ears"]:
        cv2.ellipse(img, tuple(int(v) for v in np.round(ear * 16)), (int(0.13 * unit * 16), int(0.25 * unit * 16)),
                    0, 0, 360, tuple(float(c) for c in _shade(skin, 0.93)), -1, cv2.LINE_AA, _SHIFT)
    outline = np.concatenate([lm[0:17], extra["forehead"]])
    _fill(img, outline, skin)
    _line(img, lm[0:17], _shade(skin, 0.8), max(1, size / 112))
    if style != "bald":
        cap = np.concatenate([extra["hair_outer"], extra["fringe" if style == "fringe" else "hairline"][::-1]])
        _fill(img, cap, hair)

    # Brows: a band around the curve through the 5 landmarks.
    thickness = identity["brow_thickness"] * unit
    brow_colour = np.minimum(_shade(hair, 0.8), _shade(skin, 0.45))  # always darker than the skin
    for brow in (lm[17:22], lm[22:27]):
        _line(img, brow, brow_colour, thickness)

    # Eyes: white, iris clipped to the lids, lash line on the upper lid.
    iris_r = 0.075 * identity["eye_size"] * unit
    for eye, centre in ((lm[36:42], extra["iris"][0]), (lm[42:48], extra["iris"][1])):
        eye_curve = _catmull_rom(eye, closed=True)
        _fill(img, eye, (245, 245, 240))

        def draw_iris(layer, offset, centre=centre):
            c = _fixed(centre - offset)[0, 0]
            cv2.circle(layer, (int(c[0]), int(c[1])), int(iris_r * 16), tuple(float(v) for v in identity["iris"]),
                       -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(layer, (int(c[0]), int(c[1])), int(iris_r * 0.45 * 16), (15, 15, 15), -1, cv2.LINE_AA, _SHIFT)
        _clipped(img, eye_curve, draw_iris)
        _line(img, eye[[0, 1, 2, 3]], (35, 25, 25), max(1, size / 112))

    # Nose: a soft bridge shadow and the nostril curve.
    _line(img, lm[27:31], _shade(skin, 0.88), max(1, size / 112))
    _line(img, np.concatenate([lm[31:32] + (lm[30] - lm[33]) * 0.6, lm[31:36],
                               lm[35:36] + (lm[30] - lm[33]) * 0.6]), _shade(skin, 0.6), max(1, size / 112))

    # Mouth: lips, then the dark opening with the upper teeth, or the closed lip line.
    outer = lm[48:60]
    _fill(img, outer, identity["lips"])
    inner = lm[60:68]
    if mouth_gap_px > 0.6:
        inner_curve = _catmull_rom(inner, closed=True)
        _fill(img, inner, (70, 20, 30))

        def draw_teeth(layer, offset):
            top = inner_curve[inner_curve[:, 1] <= np.interp(inner_curve[:, 0], inner[[0, 2, 4], 0],
                                                              inner[[0, 2, 4], 1]) + 0.01]
            top = top[np.argsort(top[:, 0])] - offset
            depth = min(0.25 * mouth_gap_px, 0.04 * unit + 0.5)
            band = np.concatenate([top, top[::-1] + (0, depth)])
            cv2.fillPoly(layer, [_fixed(band)], (240, 240, 232), cv2.LINE_AA, _SHIFT)
        _clipped(img, inner_curve, draw_teeth)
    else:
        _line(img, np.concatenate([lm[48:49], lm[60:65], lm[54:55]]), _shade(identity["lips"], 0.55),
              max(1, size / 112))


def _draw_occluder(img: np.ndarray, kind: str, anchor: np.ndarray, colour, angle: float, unit: float) -> None:
    """A hand (palm and fingers) or a bar centred near ``anchor`` (pixels); ``unit`` = face half-width."""
    colour = tuple(float(c) for c in colour)
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])

    def place(points):
        return anchor + np.asarray(points) @ rot.T * unit

    if kind == "hand":
        palm = place(_superellipse_arc(12, 0.42, 0.2, 0.95, 1.0, lower=True).tolist()
                     + _superellipse_arc(12, 0.42, 0.2, -0.2, 1.0, lower=False)[1:-1].tolist())
        _fill(img, palm, colour)
        for k, fx in enumerate((-0.3, -0.1, 0.1, 0.3)):
            length = (0.55, 0.7, 0.65, 0.5)[k]
            finger = place([[fx, 0.0], [fx * 1.1, -length]])
            _line(img, finger, colour, 0.17 * unit, smooth=False)
    else:
        bar = place([[-1.2, -0.16], [1.2, -0.16], [1.2, 0.16], [-1.2, 0.16]])
        _fill(img, bar, colour, closed_smooth=False)


# =============================================================================================
# One video
# =============================================================================================

def _write_text(path: Path, header: str, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.write(header + "\n")
        for row in rows:
            f.write(row + "\n")


def _draw_num_frames(rng: np.random.Generator, task: dict) -> int:
    """The video's length: the first draw from its random stream, uniform in the task's range."""
    lo, hi = task["frames"]
    return int(rng.integers(lo, hi + 1))


def _labels(rng: np.random.Generator, n: int) -> dict:
    """Per-frame valence, arousal, expression (-1 where unlabelled) and the no-face mask."""
    valence, arousal = sample_affect(rng, n)
    no_face = _mask(n, _runs(rng, n, NO_FACE_FRACTION, 3, 10))
    nearest, second = expression_from_affect(valence, arousal)
    disagree = _mask(n, _runs(rng, n, DISAGREEMENT_FRACTION, 10, 40))
    no_expression = _mask(n, _runs(rng, n, NO_EXPRESSION_FRACTION, 5, 20))
    expression = np.where(disagree, second, nearest)
    expression = np.where(no_expression | no_face, INVALID_LABEL, expression)
    return {"valence": valence, "arousal": arousal, "expression": expression, "no_face": no_face}


def _nuisances(rng: np.random.Generator, n: int, size: int) -> dict:
    """Per-video and per-frame nuisances: pose, lighting, noise, JPEG quality, blinks, occluders (all chosen)."""
    tau = 3.0 * FPS  # pose and brightness drift over seconds
    pose_sd = {"roll": 4.0, "yaw": 10.0, "scale": 0.04, "dx": 0.015, "dy": 0.015}  # degrees, log, image sizes
    pose_mean = {k: rng.normal(0, sd) for k, sd in pose_sd.items()}  # each person's habitual pose
    pose = {k: np.clip(pose_mean[k] + sd * smooth_process(rng, n, tau, 3.0), -3 * sd, 3 * sd)
            for k, sd in pose_sd.items()}
    pose["scale"] = np.exp(pose["scale"])
    brightness = rng.uniform(0.75, 1.15) * np.exp(0.06 * smooth_process(rng, n, tau, 3.0))
    light_angle = rng.uniform(0, 2 * math.pi)
    light_strength = rng.uniform(0.0, 0.5)  # brightness ratio across the image
    colour_cast = rng.uniform(0.92, 1.08, 3)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    gradient = 1 + light_strength * (xx * math.cos(light_angle) + yy * math.sin(light_angle))
    blink = np.ones(n)
    for start in np.flatnonzero(rng.uniform(size=n) < 1 / (4.0 * FPS)):  # about one blink per 4 s
        blink[start:start + 3] *= np.array([0.5, 0.1, 0.5])[:len(blink[start:start + 3])]
    occluders = [None] * n
    occlusions = []
    if rng.uniform() < OCCLUDED_VIDEO_PROBABILITY:
        for start, stop in _runs(rng, n, 0.04, 8, 30):
            occluder = {"frames": [start, stop], "kind": ("hand", "bar")[int(rng.integers(2))],
                        "target": (48, 36, 45, 57)[int(rng.integers(4))],  # the landmark it covers
                        "angle": float(rng.uniform(-0.6, 0.6)),
                        "colour": _mix(rng, SKIN_TONES) if rng.uniform() < 0.7 else rng.uniform(0, 255, 3)}
            occlusions.append(occluder)
            occluders[start:stop] = [occluder] * (stop - start)
    return {
        "pose": pose, "brightness": brightness, "blink": blink, "occluders": occluders,
        "lighting": (gradient[..., None] * colour_cast).astype(np.float32),
        "noise_sigma": rng.uniform(1.0, 7.0), "jpeg_quality": int(rng.integers(50, 96)),
        "summary": {"light_strength": round(light_strength, 4), "light_angle": round(light_angle, 4),
                    "pose_mean": {k: round(float(v), 4) for k, v in pose_mean.items()}},
        "occlusions": [{"frames": occ["frames"], "kind": occ["kind"]} for occ in occlusions],
    }


def _render_frame(identity: dict, background: np.ndarray, valence: float, arousal: float, eye_open: float,
                  pose: dict, occluder: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """One face image (RGB uint8, before lighting and noise) and its 68 landmarks in pixels."""
    size, w = background.shape[0], identity["face_width"]
    pts, extra = _face_points(identity, valence, arousal, eye_open)
    lm = _project(pts, _depth(pts, w) + _LANDMARK_EXTRA_DEPTH, pose, size)
    # Ears, neck and clothes sit further back than the face plane: they follow yaw less.
    extra_px = {k: _project(v, _depth(v, w) * (0.3 if k in ("ears", "neck", "clothes") else 1.0), pose, size)
                for k, v in extra.items()}
    img = background.copy()
    _draw_face(img, lm, extra_px, identity, float(np.linalg.norm(lm[62] - lm[66])))
    if occluder is not None:
        _draw_occluder(img, occluder["kind"], lm[occluder["target"]], occluder["colour"],
                       occluder["angle"] + math.radians(pose["roll"]), float(np.linalg.norm(lm[16] - lm[0])) / 2)
    return img, lm


def _render_video(task: dict) -> dict:
    """Render and write one video (images, annotations, landmarks); return its manifest entry.

    Runs in a worker process; ``task`` holds plain values only. Its random stream depends on
    (seed, split, index) alone.
    """
    size, root, name = task["size"], Path(task["root"]), task["name"]
    rng = np.random.default_rng(task["entropy"])
    n = _draw_num_frames(rng, task)
    identity = _sample_identity(rng)
    labels = _labels(rng, n)
    nuisance = _nuisances(rng, n, size)
    background = _background(identity, size)
    eye_open = (1 + EYE_OPEN_GAIN * labels["arousal"]) * nuisance["blink"]

    image_dir = root / "cropped_aligned" / name
    image_dir.mkdir(parents=True, exist_ok=True)
    landmarks = np.full((n, 136), -1.0)
    for i in np.flatnonzero(~labels["no_face"]):
        pose = {k: float(v[i]) for k, v in nuisance["pose"].items()}
        img, lm = _render_frame(identity, background, float(labels["valence"][i]), float(labels["arousal"][i]),
                                float(eye_open[i]), pose, nuisance["occluders"][i])
        lit = img.astype(np.float32) * (nuisance["lighting"] * np.float32(nuisance["brightness"][i]))
        lit += rng.standard_normal(lit.shape, dtype=np.float32) * np.float32(nuisance["noise_sigma"])
        rgb = np.clip(lit + 0.5, 0, 255).astype(np.uint8)
        ok, jpeg = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, nuisance["jpeg_quality"]])
        if not ok:  # pragma: no cover - cv2 encodes any uint8 image
            raise RuntimeError(f"{name}: JPEG encoding failed at frame {i}")
        (image_dir / f"{i + 1:05d}.jpg").write_bytes(jpeg.tobytes())
        landmarks[i] = lm.reshape(-1)

    no_face, v, a = labels["no_face"], labels["valence"], labels["arousal"]
    annotations = root / "annotations"
    _write_text(annotations / "VA_Set" / task["split_dir"] / f"{name}.txt", "valence,arousal",
                (f"{INVALID_VA},{INVALID_VA}" if no_face[i] else f"{v[i]:.{LABEL_DECIMALS}f},{a[i]:.{LABEL_DECIMALS}f}"
                 for i in range(n)))
    _write_text(annotations / "EXPR_Set" / task["split_dir"] / f"{name}.txt", ",".join(EXPRESSIONS_7),
                (str(int(e)) for e in labels["expression"]))
    _write_text(root / "landmarks" / f"{name}.txt", ",".join(f"x{k},y{k}" for k in range(68)),
                (",".join(["-1"] * 136) if no_face[i] else ",".join(f"{c:.3f}" for c in landmarks[i])
                 for i in range(n)))
    return {
        "name": name,
        "split": task["split"],
        "num_frames": n,
        "frames_with_face": int((~no_face).sum()),
        "frames_with_expression": int((labels["expression"] >= 0).sum()),
        "identity": _identity_json(identity),
        "nuisance": {"jpeg_quality": nuisance["jpeg_quality"], "noise_sigma": round(nuisance["noise_sigma"], 4),
                     **nuisance["summary"]},
        "occluded_frames": nuisance["occlusions"],
    }


# =============================================================================================
# Dataset
# =============================================================================================

def _parameters(num_train_videos, num_val_videos, frames_per_video, seed, size, num_test_videos=0) -> dict:
    """Validated, normalised generation parameters (the cache key and the manifest's ``parameters``);
    ``num_test_videos`` only when non-zero, so a dataset without a test split keeps its earlier key."""
    if isinstance(frames_per_video, (int, np.integer)):
        frames = [int(frames_per_video), int(frames_per_video)]
    else:
        frames = [int(v) for v in frames_per_video]
    checks = [
        (len(frames) == 2 and 5 <= frames[0] <= frames[1],
         f"frames_per_video must be an int >= 5 or a (min, max) pair with 5 <= min <= max, got {frames_per_video!r}"),
        (min(int(num_train_videos), int(num_val_videos), int(num_test_videos)) >= 0
         and int(num_train_videos) + int(num_val_videos) + int(num_test_videos) > 0,
         f"need at least one video and no negative count, got {num_train_videos} train, {num_val_videos} "
         f"validation and {num_test_videos} test"),
        (int(seed) >= 0, f"seed must be >= 0, got {seed}"),
        (int(size) >= 32, f"size must be >= 32 pixels, got {size}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    return {"num_train_videos": int(num_train_videos), "num_val_videos": int(num_val_videos),
            **({"num_test_videos": int(num_test_videos)} if int(num_test_videos) else {}),
            "frames_per_video": frames, "seed": int(seed), "size": int(size)}


def read_manifest(path: str | os.PathLike) -> dict | None:
    """The manifest of a complete SynthAffect dataset at ``path``, or ``None`` if it is not one.

    The manifest is written last and the dataset folder appears by an atomic rename, so a folder
    with a readable manifest is complete. A temporary folder of an interrupted run has no manifest
    under its final name.
    """
    manifest = Path(path) / MANIFEST
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("dataset") != "SynthAffect":
        return None
    return data


def _matches(manifest: dict | None, params: dict) -> bool:
    return manifest is not None and manifest.get("version") == SYNTH_VERSION and manifest.get("parameters") == params


def _note(manifest: dict) -> str:
    p = manifest["parameters"]
    total = sum(v["num_frames"] for v in manifest["videos"])
    faces = sum(v["frames_with_face"] for v in manifest["videos"])
    return f"""# SynthAffect (SYNTHETIC data)

This folder was generated by tfaffect {manifest['tfaffect_version']} (SynthAffect generator version
{manifest['version']}). It is NOT a real dataset: every face is a procedurally rendered cartoon whose
valence, arousal, expression and 68 landmarks are known exactly. Use it to check that code runs and
learns; numbers measured on it say nothing about real faces.

- seed {p['seed']}; {p['num_train_videos']} train + {p['num_val_videos']} validation
  + {p.get('num_test_videos', 0)} test videos; {p['frames_per_video'][0]}-{p['frames_per_video'][1]} frames per video
  at {manifest['fps']:g} fps (chosen); {p['size']}x{p['size']} images; {total} frames, {faces} with a face.
- Layout: Aff-Wild2 as distributed for ABAW 2020 (cropped_aligned/, annotations/VA_Set, EXPR_Set),
  plus landmarks/<video>.txt (tfaffect extension: 136 pixel coordinates per frame, -1 without a face).
- Valence moves the mouth corners and brow tilt; arousal opens mouth and eyes and raises the brows.
  Expressions are the nearest class prototype in the valence-arousal plane, with annotator-like
  disagreement runs and some frames without an expression label.
- Regenerate: `tfaffect synth --out DIR --seed {p['seed']} --train-videos {p['num_train_videos']} \\
  --val-videos {p['num_val_videos']} --test-videos {p.get('num_test_videos', 0)} \\
  --frames {p['frames_per_video'][0]} {p['frames_per_video'][1]} --size {p['size']}`
- Details per video (identity, nuisances, occluded frames): synthaffect.json.
"""


def _tasks(params: dict, root: Path) -> list[dict]:
    tasks = []
    counts = (params["num_train_videos"], params["num_val_videos"], params.get("num_test_videos", 0))
    for split_code, ((split, split_dir, prefix), count) in enumerate(zip(SPLITS, counts)):
        for index in range(1, count + 1):
            tasks.append({"name": f"{prefix}_{index:03d}", "split": split, "split_dir": split_dir,
                          "entropy": [params["seed"], split_code, index], "frames": params["frames_per_video"],
                          "size": params["size"], "root": str(root)})
    return tasks


def _can_spawn() -> bool:
    """Spawned workers re-import the parent's ``__main__`` script: impossible when it is not a file (stdin)."""
    main_path = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_path is None or os.path.isfile(main_path)


def _render_all(tasks: list[dict], workers: int, progress: bool) -> list[dict]:
    """Render every video, in ``workers`` spawned processes if more than one; entries in task order.

    Spawn, not fork: the caller may already hold TensorFlow's threads. If the worker processes
    cannot start (a ``__main__`` that cannot be re-imported, or one that starts work at import
    time), the videos they did not finish are rendered in this process, with a warning. The
    progress bar counts frames.
    """
    total = sum(_draw_num_frames(np.random.default_rng(task["entropy"]), task) for task in tasks)
    results = {}
    with tqdm(total=total, unit="frame", desc="SynthAffect", disable=not progress) as bar:
        if workers > 1 and len(tasks) > 1 and _can_spawn():
            context = multiprocessing.get_context("spawn")
            try:
                with concurrent.futures.ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context) as pool:
                    futures = [pool.submit(_render_video, task) for task in tasks]
                    for future in concurrent.futures.as_completed(futures):
                        entry = future.result()
                        results[entry["name"]] = entry
                        bar.update(entry["num_frames"])
            except concurrent.futures.process.BrokenProcessPool as exc:
                logger.warning("SynthAffect worker processes failed (%s); rendering in this process", exc)
        elif workers > 1:
            logger.info("SynthAffect: rendering in this process (%d video(s); __main__ re-importable: %s)",
                        len(tasks), _can_spawn())
        for task in tasks:
            if task["name"] not in results:
                results[task["name"]] = entry = _render_video(task)
                bar.update(entry["num_frames"])
    return [results[task["name"]] for task in tasks]


def _build(out: Path, params: dict, workers: int, progress: bool, replace: bool) -> Path:
    """Generate into ``<out>.tmp-<pid>`` and rename it to ``out``.

    ``replace``: an existing SynthAffect dataset at ``out`` is swapped out (generate); otherwise an
    existing matching dataset that appeared meanwhile (another process) is kept (ensure_synthaffect).
    A non-empty folder that is not SynthAffect is never touched.
    """
    _refuse_foreign(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)  # our own pid: a leftover of this very process
    try:
        tmp.mkdir()
        logger.info("generating SynthAffect %s into %s", params, out)
        videos = _render_all(_tasks(params, tmp), workers, progress)
        manifest = {
            "dataset": "SynthAffect",
            "synthetic": True,
            "version": SYNTH_VERSION,
            "tfaffect_version": __version__,
            "seed": params["seed"],
            "parameters": params,
            "fps": FPS,
            "fps_note": "chosen (most Aff-Wild/Aff-Wild2 videos are 30 fps); frames are rendered, not captured",
            "layout": "Aff-Wild2, ABAW 2020 (FORMATS.md) + landmarks/<video>.txt",
            "expression_classes": list(EXPRESSIONS_7),
            "expression_prototypes": {k: list(v) for k, v in EXPRESSION_PROTOTYPES.items()},
            "frame_indexing": "frame i (0-based) = annotation row i+1 after the header = image %05d of i+1",
            "videos": videos,
        }
        (tmp / NOTE).write_text(_note(manifest), encoding="utf-8")
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        _swap_in(tmp, out, params, replace)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _refuse_foreign(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and read_manifest(out) is None)):
        raise ConfigError(f"{out} exists and is not a SynthAffect dataset (no {MANIFEST}); "
                          "refusing to overwrite it: pass an empty or new folder")


def _swap_in(tmp: Path, out: Path, params: dict, replace: bool) -> None:
    """Rename the finished ``tmp`` to ``out`` (an empty folder is replaced by the rename itself)."""
    try:
        os.replace(tmp, out)
        return
    except OSError:
        existing = read_manifest(out)
        if existing is None:
            _refuse_foreign(out)  # a foreign folder appeared meanwhile: ConfigError
            raise  # anything else (another file system, permissions) as it is
    if not replace and _matches(existing, params):
        logger.info("%s was completed by another process meanwhile; keeping it", out)
        return
    old = out.parent / f"{out.name}.old-{os.getpid()}"
    os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def generate(out_dir: str | os.PathLike, *, num_train_videos: int = DEFAULT_TRAIN_VIDEOS,
             num_val_videos: int = DEFAULT_VAL_VIDEOS, num_test_videos: int = 0,
             frames_per_video: int | tuple[int, int] = DEFAULT_FRAMES, seed: int = 0, size: int = 112,
             workers: int = 2, progress: bool = True) -> Path:
    """Generate SynthAffect into ``out_dir`` and return its path.

    ``frames_per_video`` is either a fixed count or a ``(min, max)`` range drawn uniformly per video.
    ``workers`` > 1 renders videos in that many processes; the output is byte-identical either way.
    An existing SynthAffect dataset at ``out_dir`` is replaced; any other non-empty folder is refused
    with :class:`~tfaffect.errors.ConfigError`. Nothing appears at ``out_dir`` until the dataset is
    complete.
    """
    params = _parameters(num_train_videos, num_val_videos, frames_per_video, seed, size, num_test_videos)
    return _build(Path(out_dir), params, int(workers), progress, replace=True)


def default_cache_dir() -> Path:
    """``$TFAFFECT_CACHE`` if set, else ``~/.cache/tfaffect``."""
    return Path(os.environ.get("TFAFFECT_CACHE") or Path.home() / ".cache" / "tfaffect")


def cache_path(cache_dir: str | os.PathLike | None = None, **kwargs) -> Path:
    """Where :func:`ensure_synthaffect` keeps the dataset for these parameters (generator version + hash)."""
    params = _parameters(**{**_defaults(), **kwargs})
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    root = default_cache_dir() if cache_dir is None else Path(cache_dir)
    return root / f"synthaffect-v{SYNTH_VERSION}-{digest}"


def _defaults() -> dict:
    return {"num_train_videos": DEFAULT_TRAIN_VIDEOS, "num_val_videos": DEFAULT_VAL_VIDEOS, "num_test_videos": 0,
            "frames_per_video": DEFAULT_FRAMES, "seed": 0, "size": 112}


def ensure_synthaffect(cache_dir: str | os.PathLike | None = None, *, workers: int = 2, progress: bool = True,
                       **kwargs) -> Path:
    """The cached SynthAffect dataset for these parameters, generated first if it is not there.

    ``kwargs`` are :func:`generate`'s (``num_train_videos``, ``num_val_videos``, ``num_test_videos``,
    ``frames_per_video``, ``seed``, ``size``). The cache folder is ``cache_dir`` (default :func:`default_cache_dir`) /
    ``synthaffect-v<version>-<parameter hash>``; it is reused when its manifest matches.
    """
    unknown = set(kwargs) - set(_defaults())
    if unknown:
        raise TypeError(f"ensure_synthaffect() got unexpected arguments {sorted(unknown)}")
    params = _parameters(**{**_defaults(), **kwargs})
    out = cache_path(cache_dir, **kwargs)
    if _matches(read_manifest(out), params):
        logger.info("using cached SynthAffect at %s", out)
        return out
    return _build(out, params, int(workers), progress, replace=read_manifest(out) is not None)


# =============================================================================================
# Command line: tfaffect synth
# =============================================================================================

def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Generate SynthAffect, tfaffect's embedded SYNTHETIC dataset: rendered cartoon face videos with known "
        "per-frame valence/arousal, 7 expressions and 68 landmarks, written in the Aff-Wild2 (ABAW 2020) "
        "layout so every recipe can run without the licensed datasets. Deterministic from --seed.")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder to write (created; an existing SynthAffect there is replaced, any other "
                             "non-empty folder is refused). Default: the cache folder that recipes use "
                             "($TFAFFECT_CACHE or ~/.cache/tfaffect), reused if already generated.")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    parser.add_argument("--train-videos", type=int, default=DEFAULT_TRAIN_VIDEOS,
                        help="number of training videos (each a different synthetic person)")
    parser.add_argument("--val-videos", type=int, default=DEFAULT_VAL_VIDEOS,
                        help="number of validation videos (people disjoint from the training ones)")
    parser.add_argument("--test-videos", type=int, default=0,
                        help="number of test videos (Test_Set, labelled: a SynthAffect extension; people disjoint "
                             "from the others); default none")
    parser.add_argument("--frames", type=int, nargs="+", default=list(DEFAULT_FRAMES), metavar="N",
                        help="frames per video: one number, or MIN MAX to draw each video's length uniformly "
                             f"(at {FPS:g} fps)")
    parser.add_argument("--size", type=int, default=112, help="image side in pixels (Aff-Wild2 crops are 112)")
    parser.add_argument("--workers", type=int, default=2,
                        help="processes rendering videos in parallel; does not change the output")


def cli_main(args: argparse.Namespace) -> int:
    if len(args.frames) not in (1, 2):
        print("tfaffect synth: error: --frames takes one number or MIN MAX", file=sys.stderr)
        return 2
    frames = args.frames[0] if len(args.frames) == 1 else tuple(args.frames)
    kwargs = {"num_train_videos": args.train_videos, "num_val_videos": args.val_videos,
              "num_test_videos": args.test_videos, "frames_per_video": frames, "seed": args.seed, "size": args.size}
    try:
        if args.out is None:
            out = ensure_synthaffect(workers=args.workers, **kwargs)
        else:
            out = generate(args.out, workers=args.workers, **kwargs)
    except ConfigError as exc:
        print(f"tfaffect synth: error: {exc}", file=sys.stderr)
        return 2
    manifest = read_manifest(out)
    videos = manifest["videos"]
    total = sum(v["num_frames"] for v in videos)
    faces = sum(v["frames_with_face"] for v in videos)
    print(f"SynthAffect (synthetic) written to {out}: {len(videos)} videos "
          f"({manifest['parameters']['num_train_videos']} train, {manifest['parameters']['num_val_videos']} "
          f"validation, {manifest['parameters'].get('num_test_videos', 0)} test), {total} frames, {faces} with a face")
    return 0


__all__ = ["generate", "ensure_synthaffect", "read_manifest", "cache_path", "default_cache_dir",
           "sample_affect", "expression_from_affect", "smooth_process", "add_cli_arguments", "cli_main",
           "EXPRESSION_PROTOTYPES", "SYNTH_VERSION", "FPS"]
