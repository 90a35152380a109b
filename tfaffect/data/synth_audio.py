"""Synthetic speech-like audio whose prosody depends on the emotion: the audio track SynthAffect's AFEW-layout clips
are to carry for the Kahou 2015 audio model (issue #16 item 4). *Synthetic*: no speech, no words, no real voice.

:func:`synth_voice` draws a voiced harmonic complex (10 harmonics, amplitude 1/k) whose pitch follows a slow
sinusoidal contour, gated into syllables by a raised-cosine envelope at a syllable rate, at a sound level relative
to Neutral, plus a little white noise. Per class (:data:`PROSODY`): mean pitch, pitch range, level and syllable
rate. The values are chosen, not measured: only their directions follow what acted emotional speech is commonly
reported to show (anger, happiness, fear and surprise higher in pitch, level and rate than neutral; sadness
lower in all three; disgust low and slow). A speaker's ``pitch_shift`` (semitones) moves every class, so people
differ as they do in the face data.

A fixed table per class would make the label a deterministic function of the prosody (an SVM on SynthAffect's
clips reached 0.988 validation accuracy with it, against 0.332 for real speech in the paper). SynthAffect's
clips therefore pass :data:`CLIP_VARIATION`: each clip draws its own deviation from its class's table (pitch,
range, syllable rate), an unknown recording gain and a background noise level, so neighbouring classes overlap as
real voices do (measured, synthetic: that SVM's validation accuracy fell to 0.643, its shuffled-label control
0.143, the majority class 0.310; recipes/kahou_audio.py). Without ``variation`` the table values are rendered
exactly (what the measuring tests check).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tfaffect import EXPRESSIONS_7
from tfaffect.errors import ConfigError

SAMPLE_RATE = 16000  # Hz; chosen: what the INTERSPEECH 2010 features are usually computed at
HARMONICS = 10  # chosen: enough for a voice-like spectrum up to ~2 kHz at 200 Hz
NEUTRAL_AMPLITUDE = 0.02  # chosen: peak-safe in [-1, 1] at +17 dB (Anger +9 dB with CLIP_VARIATION's +8 dB gain) and 0 dB SNR
NOISE = 0.0008  # chosen: white noise standard deviation (a floor for the unvoiced gaps), 4 % of NEUTRAL_AMPLITUDE
CONTOUR_HZ = 0.7  # chosen: how often the pitch contour rises and falls per second


class ClipVariation(NamedTuple):
    """Per-clip random deviations from the class prosody (all chosen; synthetic)."""

    pitch_semitones: float  # standard deviation of the clip's pitch offset
    range_log: float  # standard deviation of the log factor on the pitch range
    rate_log: float  # standard deviation of the log factor on the syllable rate
    gain_db: float  # recording gain uniform in +-gain_db (microphone distance, level normalisation)
    snr_db: tuple[float, float]  # background white noise at a signal-to-noise ratio uniform in this range


CLIP_VARIATION = ClipVariation(pitch_semitones=2.0, range_log=0.3, rate_log=0.15, gain_db=8.0, snr_db=(0.0, 25.0))
"""What SynthAffect's AFEW-layout clips use (chosen): a 2-semitone spread blurs the pitch steps between neighbouring
classes (Neutral, Disgust and Sadness lie 1.5-3.2 semitones apart), a +-8 dB gain covers most of the classes'
level differences (-6 .. +9 dB), and noise down to 0 dB SNR masks the weaker cues."""


class Prosody(NamedTuple):
    pitch_hz: float  # mean fundamental frequency
    range_semitones: float  # peak-to-peak pitch range of the contour
    level_db: float  # sound level relative to Neutral
    syllables_per_s: float  # syllable rate


PROSODY = {  # chosen (synthetic; directions only, see the module docstring)
    "Neutral": Prosody(120.0, 2.0, 0.0, 4.0),
    "Anger": Prosody(160.0, 6.0, 9.0, 5.5),
    "Disgust": Prosody(110.0, 3.0, -2.0, 3.5),
    "Fear": Prosody(190.0, 5.0, 3.0, 6.0),
    "Happiness": Prosody(170.0, 8.0, 5.0, 5.0),
    "Sadness": Prosody(100.0, 1.5, -6.0, 2.8),
    "Surprise": Prosody(200.0, 9.0, 6.0, 4.5),
}


def synth_voice(expression: int, seconds: float, *, sample_rate: int = SAMPLE_RATE, pitch_shift: float = 0.0,
                seed: int = 0, prosody: Prosody | None = None, variation: ClipVariation | None = None) -> np.ndarray:
    """``float32 [round(seconds * sample_rate)]`` in [-1, 1]: the class ``expression``'s voice (index into
    :data:`tfaffect.EXPRESSIONS_7`), or ``prosody`` when given. ``seed`` draws the contour's and syllables' phases
    and the noise, and with ``variation`` (e.g. :data:`CLIP_VARIATION`) the clip's deviations from the prosody
    (from a stream of their own: the phases and the noise are the same with and without it)."""
    if not 0 <= int(expression) < len(EXPRESSIONS_7):
        raise ConfigError(f"expression must be 0..{len(EXPRESSIONS_7) - 1}, got {expression}")
    if not seconds > 0 or sample_rate < 8000:
        raise ConfigError(f"need seconds > 0 and sample_rate >= 8000, got {seconds}, {sample_rate}")
    p = prosody or PROSODY[EXPRESSIONS_7[int(expression)]]
    gain_db, snr_db = 0.0, None
    if variation is not None:
        draw = np.random.default_rng([seed, 1])
        p = Prosody(p.pitch_hz * 2.0 ** (draw.normal(0, variation.pitch_semitones) / 12.0),
                    p.range_semitones * np.exp(draw.normal(0, variation.range_log)), p.level_db,
                    p.syllables_per_s * np.exp(draw.normal(0, variation.rate_log)))
        gain_db = draw.uniform(-variation.gain_db, variation.gain_db)
        snr_db = draw.uniform(*variation.snr_db)
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    semitones = pitch_shift + p.range_semitones / 2 * np.sin(2 * np.pi * CONTOUR_HZ * t + rng.uniform(0, 2 * np.pi))
    f0 = p.pitch_hz * 2.0 ** (semitones / 12.0)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voice = sum(np.sin(k * phase) / k for k in range(1, HARMONICS + 1) if k * f0.max() < sample_rate / 2)
    syllables = 0.5 * (1 - np.cos(2 * np.pi * p.syllables_per_s * t + rng.uniform(0, 2 * np.pi)))
    amplitude = NEUTRAL_AMPLITUDE * 10 ** ((p.level_db + gain_db) / 20)
    signal = amplitude * syllables * voice + rng.normal(0, NOISE, len(t))
    if snr_db is not None:  # background noise relative to the voiced signal's RMS
        signal = signal + rng.normal(0, np.sqrt(np.mean((amplitude * syllables * voice) ** 2)) * 10 ** (-snr_db / 20),
                                     len(t))
    return np.clip(signal, -1, 1).astype(np.float32)


__all__ = ["CLIP_VARIATION", "ClipVariation", "PROSODY", "Prosody", "SAMPLE_RATE", "synth_voice"]
