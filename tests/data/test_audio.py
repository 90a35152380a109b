"""IS10 audio functionals (tfaffect/data/audio.py) and the Kahou audio SVM (section 3). opensmile is the optional
``audio`` extra: without it the extraction tests are skipped and the typed error is checked instead."""

import importlib.util

import numpy as np
import pytest

from tfaffect.data.synth_audio import synth_voice
from tfaffect.errors import MissingResourceError

HAVE_OPENSMILE = importlib.util.find_spec("opensmile") is not None


@pytest.mark.skipif(HAVE_OPENSMILE, reason="opensmile is installed")
def test_without_opensmile_a_typed_error_says_what_to_install():
    from tfaffect.data.audio import is10_functionals_many

    with pytest.raises(MissingResourceError, match="pip install"):
        is10_functionals_many([np.zeros(16000, np.float32)], 16000)


@pytest.mark.skipif(not HAVE_OPENSMILE, reason="opensmile (the audio extra) is not installed")
def test_is10_in_a_worker_process_when_tensorflow_is_loaded():
    tensorflow = pytest.importorskip("tensorflow")  # the crash this guards against needs TensorFlow imported first
    assert tensorflow.__version__

    from tfaffect.data.audio import IS10_SIZE, is10_functionals, is10_functionals_many

    voices = [synth_voice(5, 1.0, seed=0), synth_voice(1, 1.5, seed=1)]  # sad, angry
    features = is10_functionals_many(voices, 16000)
    assert features.shape == (2, IS10_SIZE) and np.isfinite(features).all()
    assert not np.allclose(features[0], features[1])
    import sys

    if "opensmile" not in sys.modules:  # this process never imported it: in-process extraction is refused
        with pytest.raises(MissingResourceError, match="TensorFlow first"):
            is10_functionals(voices[0], 16000)


def test_audio_svm_pca_whitened_learns_and_its_shuffled_label_control_does_not():
    """Vectors correlated as functionals of the same signals are (200-d here, not IS10's 1,582, for speed): a 5-d class
    code (+-1 per class, plus N(0, 0.5)) spread over every dimension by one random basis, plus N(0, 1) noise; 20
    training and 10 validation clips per class. Measured (seed 0, 2 cores at load ~5, 22 s): validation accuracy
    0.800, shuffled training labels 0.171 (chance 1/7). Bounds: half the margin over chance; the control half that
    margin below the learner."""
    pytest.importorskip("sklearn")
    from tfaffect.training.kahou import fit_audio_svm, svm_probabilities

    rng = np.random.default_rng(0)
    code = rng.choice([-1.0, 1.0], (7, 5))
    basis = rng.normal(0, 1.0, (5, 200))

    def clips(per_class):
        y = np.repeat(np.arange(7), per_class)
        return (code[y] + rng.normal(0, 0.5, (len(y), 5))) @ basis + rng.normal(0, 1.0, (len(y), 200)), y

    x, y = clips(20)
    val_x, val_y = clips(10)
    svm, found = fit_audio_svm(x, y, seed=0)
    accuracy = float((svm.predict(val_x) == val_y).mean())
    control, _ = fit_audio_svm(x, rng.permutation(y), seed=0)
    control_accuracy = float((control.predict(val_x) == val_y).mean())
    assert found["C"] in (1.0, 10.0, 100.0, 1000.0, 10000.0) and found["gamma"] in (1e-3, 1e-4, 1e-5)
    np.testing.assert_allclose(svm_probabilities(svm, val_x).sum(axis=1), 1.0, rtol=1e-6)
    margin = (0.800 - 1 / 7) / 2
    assert accuracy >= 1 / 7 + margin, accuracy
    assert control_accuracy <= accuracy - margin, (control_accuracy, accuracy)


def _write_pcm(path, frames: np.ndarray, width: int, rate: int = 16000) -> None:
    """A WAV file written with the standard library from integer samples ``frames [samples, channels]``."""
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(frames.shape[1])
        out.setsampwidth(width)
        out.setframerate(rate)
        if width == 3:  # little-endian 24-bit: the low three bytes of each int32
            data = frames.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
        else:
            data = frames.astype({1: np.uint8, 2: "<i2"}[width]).tobytes()
        out.writeframes(data)


def test_read_wav_scales_and_mixes_down_pcm_and_names_bad_files(tmp_path):
    from tfaffect.data.audio import read_wav, write_wav
    from tfaffect.errors import DataError

    stereo = np.array([[16384, -16384], [32767, 32767], [-32768, 0]])
    _write_pcm(tmp_path / "s16.wav", stereo, 2)
    signal, rate = read_wav(tmp_path / "s16.wav")
    assert rate == 16000
    np.testing.assert_allclose(signal, [0.0, 32767 / 32768, -0.5], atol=1e-7)  # (l + r) / 2 / 2**15
    _write_pcm(tmp_path / "s24.wav", np.array([[-8388608], [4194304], [-1]]), 3, rate=8000)
    np.testing.assert_allclose(read_wav(tmp_path / "s24.wav")[0], [-1.0, 0.5, -2.0 ** -23], atol=1e-9)
    _write_pcm(tmp_path / "u8.wav", np.array([[0], [128], [192]]), 1)
    np.testing.assert_allclose(read_wav(tmp_path / "u8.wav")[0], [-1.0, 0.0, 0.5])
    write_wav(tmp_path / "out.wav", np.array([0.5, -2.0, 0.25], np.float32), 16000)  # -2 is clipped to -1
    np.testing.assert_allclose(read_wav(tmp_path / "out.wav")[0], np.array([16384, -32767, 8192]) / 32768,
                               atol=1e-7)
    (tmp_path / "bad.wav").write_bytes(b"RIFF....not a wave file")
    with pytest.raises(DataError, match="bad.wav"):
        read_wav(tmp_path / "bad.wav")
    with pytest.raises(MissingResourceError, match="ffmpeg -i gone.avi"):
        read_wav(tmp_path / "gone.wav")


@pytest.mark.skipif(not HAVE_OPENSMILE, reason="opensmile (the audio extra) is not installed")
def test_cached_is10_extracts_once_per_audio_content(tmp_path, monkeypatch):
    from tfaffect.data import audio
    from tfaffect.data.audio import IS10_SIZE, cached_is10, write_wav

    for name, expression in (("a", 1), ("b", 5), ("c", 1)):  # c has a's samples
        write_wav(tmp_path / f"{name}.wav", synth_voice(expression, 0.5, seed=0), 16000)
    paths = [tmp_path / f"{name}.wav" for name in "abc"]
    features = cached_is10(paths, tmp_path / "cache")
    assert features.shape == (3, IS10_SIZE)
    np.testing.assert_array_equal(features[0], features[2])
    assert not np.allclose(features[0], features[1])
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2

    def no_extraction(*args):
        raise AssertionError("extracted again")

    monkeypatch.setattr(audio, "is10_functionals_many", no_extraction)
    np.testing.assert_array_equal(cached_is10(paths[::-1], tmp_path / "cache"), features[::-1])
