"""The synthetic emotional voice (tfaffect/data/synth_audio.py): pitch, syllable rate and level measured back from
the signal by independent means (autocorrelation, envelope spectrum, RMS), against the class's table entry."""

import numpy as np
import pytest

from tfaffect.data.synth_audio import PROSODY, Prosody, synth_voice
from tfaffect.errors import ConfigError

SR = 16000


def pitch_by_autocorrelation(x, sr=SR, low=60.0, high=400.0) -> float:
    x = x - x.mean()
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[:len(x)]
    lags = np.arange(int(sr / high), int(sr / low))
    return sr / lags[np.argmax(ac[lags])]


def envelope_rate(x, sr=SR) -> float:
    """The strongest frequency of the squared signal's envelope between 1 and 10 Hz (10 ms frames)."""
    frame = sr // 100
    energy = (x[:len(x) // frame * frame].reshape(-1, frame) ** 2).mean(axis=1)
    spectrum = np.abs(np.fft.rfft(energy - energy.mean(), 8 * len(energy)))
    freqs = np.fft.rfftfreq(8 * len(energy), 1 / 100)
    band = (freqs >= 1) & (freqs <= 10)
    return float(freqs[band][np.argmax(spectrum[band])])


def rms(v) -> float:
    return float(np.sqrt(np.mean(v.astype(np.float64) ** 2)))


def test_one_prosody_per_class_in_package_order():
    from tfaffect import EXPRESSIONS_7

    assert tuple(PROSODY) == EXPRESSIONS_7


@pytest.mark.parametrize("expression", [0, 1, 5])
def test_pitch_rate_and_level_measured_back(expression):
    table = PROSODY[list(PROSODY)[expression]]
    flat = table._replace(range_semitones=0.0)  # a level contour: one pitch to measure
    x = synth_voice(expression, 4.0, seed=1, prosody=flat)
    assert abs(pitch_by_autocorrelation(x) - table.pitch_hz) / table.pitch_hz < 0.02
    assert abs(envelope_rate(x) - table.syllables_per_s) < 0.15
    neutral = synth_voice(0, 4.0, seed=1, prosody=PROSODY["Neutral"]._replace(range_semitones=0.0,
                                                                             syllables_per_s=table.syllables_per_s))
    db = 20 * np.log10(rms(x) / rms(neutral))
    assert abs(db - table.level_db) < 0.5, db


def test_speaker_shift_moves_pitch_by_semitones_and_output_is_bounded():
    base = Prosody(150.0, 0.0, 0.0, 4.0)
    up = synth_voice(0, 3.0, seed=2, prosody=base, pitch_shift=12.0)  # one octave
    assert abs(pitch_by_autocorrelation(up) - 300.0) / 300.0 < 0.02
    loud = synth_voice(1, 2.0, seed=3)
    assert loud.dtype == np.float32 and len(loud) == 2 * SR and np.abs(loud).max() <= 1.0
    with pytest.raises(ConfigError, match="expression"):
        synth_voice(7, 1.0)


def _varied(expression, seed, **spread):
    """A 3 s clip of ``expression`` with a level contour and only the given spreads of the clip variation."""
    from tfaffect.data.synth_audio import ClipVariation

    fields = {"pitch_semitones": 0.0, "range_log": 0.0, "rate_log": 0.0, "gain_db": 0.0, "snr_db": (200.0, 200.0)}
    table = PROSODY[list(PROSODY)[expression]]._replace(range_semitones=0.0)
    return synth_voice(expression, 3.0, seed=seed, prosody=table, variation=ClipVariation(**{**fields, **spread}))


def test_clip_variation_draws_from_its_own_stream():
    """No spread and no noise: the varied clip is the exact one (same phases and floor noise from the seed)."""
    exact = synth_voice(2, 3.0, seed=4, prosody=PROSODY["Disgust"]._replace(range_semitones=0.0))
    np.testing.assert_allclose(_varied(2, 4), exact, atol=1e-6)


def test_clip_variation_spreads_pitch_and_level_as_specified():
    """Pitch offsets measured by autocorrelation spread with the given standard deviation in semitones; the
    recording gain moves the RMS level uniformly within +-gain_db (40 clips, measured against the exact clip)."""
    table = PROSODY["Neutral"]
    offsets = [12 * np.log2(pitch_by_autocorrelation(_varied(0, seed, pitch_semitones=2.0)) / table.pitch_hz)
               for seed in range(40)]
    assert 1.4 < np.std(offsets) < 2.6 and abs(np.mean(offsets)) < 0.9, offsets
    exact = [rms(_varied(0, seed)) for seed in range(40)]
    levels = np.array([20 * np.log10(rms(_varied(0, seed, gain_db=8.0)) / base) for seed, base in enumerate(exact)])
    assert np.abs(levels).max() <= 8.05 and 3.4 < levels.std() < 5.8, levels  # uniform +-8 dB: std 4.6


def test_clip_variation_noise_is_at_the_drawn_snr():
    """At 0 dB SNR the added noise has the voiced signal's RMS."""
    quiet, noisy = _varied(5, 7), _varied(5, 7, snr_db=(0.0, 0.0))
    assert 0.9 < rms(noisy - quiet) / rms(quiet) < 1.1


def test_synthaffect_clips_vary_enough_to_overlap():
    """CLIP_VARIATION: the measured pitch of Neutral and Disgust clips (1.5 semitones apart in the table) overlaps:
    a threshold halfway between the table pitches misclassifies a sizeable share of them (exact clips: none)."""
    from tfaffect.data.synth_audio import CLIP_VARIATION

    def pitch(expression, seed):
        table = PROSODY[list(PROSODY)[expression]]._replace(range_semitones=0.0)
        return pitch_by_autocorrelation(synth_voice(expression, 2.0, seed=seed, prosody=table, variation=CLIP_VARIATION))

    middle = np.sqrt(PROSODY["Neutral"].pitch_hz * PROSODY["Disgust"].pitch_hz)
    wrong = [pitch(0, s) < middle for s in range(20)] + [pitch(2, s) > middle for s in range(20)]
    assert 0.15 < np.mean(wrong) < 0.5, np.mean(wrong)
