"""Paralinguistic audio features: the 1,582 INTERSPEECH 2010 functionals (IS10) of a clip's audio, by ``opensmile``.

Kahou et al. 2015, section 3: the audio model's input. ``opensmile`` (the optional ``audio`` extra; audEERING
research licence, non-commercial) carries its C library and configs in the wheel and runs offline.

Measured here (opensmile 2.6.0, TensorFlow 2.21, 2026-12-02): a process that imported TensorFlow *before*
opensmile crashes (segmentation fault) on its first ``process_signal``; importing opensmile first works. So
:func:`is10_functionals_many` extracts in a worker process (which imports numpy and opensmile only) when
TensorFlow is already loaded, and :func:`is10_functionals` refuses to run in such a process with a typed error.

Where a clip's audio is read (:func:`clip_audio_path`): ``<clip>.wav`` beside the clip's video file (AFEW:
``Train/Angry/000123.avi`` -> ``Train/Angry/000123.wav``). tfaffect decodes no audio stream from a video (OpenCV
reads images only and nothing here needs FFmpeg); a user of the real AFEW extracts each clip's track once, e.g.
``ffmpeg -i 000123.avi -vn -ac 1 -ar 16000 -c:a pcm_s16le 000123.wav``. Read: RIFF/WAVE PCM of 8, 16, 24 or 32
bits, any rate, several channels averaged to mono (:func:`read_wav`).

:func:`cached_is10` keeps each clip's functionals in ``$TFAFFECT_CACHE/is10/opensmile-<version>/<sha256 of the WAV
bytes>.npy`` (content-addressed: a rewritten file with other samples is extracted again, the same samples are not).
"""

from __future__ import annotations

import hashlib
import os
import sys
import wave
from pathlib import Path
from typing import Sequence

import numpy as np

from tfaffect.errors import DataError, MissingResourceError

IS10_SIZE = 1582  # section 3: the INTERSPEECH 2010 paralinguistic challenge set
AUDIO_SUFFIX = ".wav"
CACHE_FOLDER = "is10"
INSTALL_HINT = ('pip install -e ".[audio]" (from a tfaffect checkout), pip install "tfaffect[audio]" or '
                'pip install opensmile')


def _smile():
    try:
        import opensmile
    except ImportError:
        raise MissingResourceError("audio features need the opensmile package (audEERING research licence, "
                                   f"non-commercial): {INSTALL_HINT}") from None
    return opensmile.Smile(feature_set=opensmile.FeatureSet.IS10, feature_level=opensmile.FeatureLevel.Functionals)


def is10_functionals(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """``float32 [1582]``: the IS10 functionals of one mono ``signal`` (in this process; see the module docstring)."""
    if "tensorflow" in sys.modules and "opensmile" not in sys.modules:
        raise MissingResourceError("opensmile crashes in a process that imported TensorFlow first: use "
                                   "is10_functionals_many (a worker process) or import opensmile before TensorFlow")
    return _extract([np.asarray(signal, np.float32)], sample_rate)[0]


def _extract(signals: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
    smile = _smile()
    return np.stack([np.asarray(smile.process_signal(np.asarray(x, np.float32), sample_rate), np.float32).reshape(-1)
                     for x in signals])


_WORKER = """
import sys
import numpy as np
import opensmile
data = np.load(sys.argv[1])
smile = opensmile.Smile(feature_set=opensmile.FeatureSet.IS10, feature_level=opensmile.FeatureLevel.Functionals)
rate = int(data["rate"])
out = [np.asarray(smile.process_signal(data[f"s{i}"], rate), np.float32).reshape(-1) for i in range(int(data["n"]))]
np.save(sys.argv[2], np.stack(out))
"""
"""The worker: a fresh Python that imports numpy and opensmile only. Not multiprocessing's spawn, which imports the
parent's ``__main__`` (a recipe script: TensorFlow) into the worker first, so opensmile crashed there and the pool
waited forever (seen here, 2026-12-03)."""


def is10_functionals_many(signals: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
    """``float32 [N, 1582]`` of ``N`` mono signals; in a worker process (:data:`_WORKER`) when TensorFlow is loaded
    here. A failed worker is a :class:`DataError` with its error output."""
    if "tensorflow" not in sys.modules or "opensmile" in sys.modules:
        return _extract(signals, sample_rate)
    import subprocess
    import tempfile

    _smile_importable()
    with tempfile.TemporaryDirectory(prefix="tfaffect-is10-") as tmp:
        arrays = {f"s{i}": np.asarray(x, np.float32) for i, x in enumerate(signals)}
        np.savez(Path(tmp) / "in.npz", n=len(arrays), rate=int(sample_rate), **arrays)
        done = subprocess.run([sys.executable, "-c", _WORKER, str(Path(tmp) / "in.npz"), str(Path(tmp) / "out.npy")],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise DataError(f"IS10 extraction failed in the opensmile worker (exit {done.returncode}): "
                            f"{done.stderr.strip()[-2000:]}")
        return np.load(Path(tmp) / "out.npy")


def _smile_importable() -> None:
    import importlib.util

    if importlib.util.find_spec("opensmile") is None:
        _smile()  # raises the typed error


def require_opensmile() -> None:
    """Raise the typed error naming the ``audio`` extra when opensmile is not installed (without importing it)."""
    _smile_importable()


# ----------------------------------------------------------------------------- clip audio files


def clip_audio_path(video_path: str | os.PathLike) -> Path:
    """Where a clip's audio is read: ``<clip>.wav`` beside its video (see the module docstring)."""
    return Path(video_path).with_suffix(AUDIO_SUFFIX)


def write_wav(path: str | os.PathLike, signal: np.ndarray, sample_rate: int) -> None:
    """Write mono ``signal`` (floats in [-1, 1], clipped) to ``path`` as 16-bit PCM WAV, atomically."""
    import io

    from tfaffect.io import write_bytes_atomic

    pcm = np.round(np.clip(np.asarray(signal, np.float64), -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.tobytes())
    write_bytes_atomic(path, buffer.getvalue())


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """``(float32 [samples] in [-1, 1], sample rate)`` of a PCM WAV file, channels averaged. A missing file is a
    :class:`MissingResourceError` saying how to extract it, a file that is not PCM WAV a :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(f"no audio file {path}: the audio model reads <clip>.wav beside each clip's "
                                   f"video; extract it, e.g. ffmpeg -i {path.with_suffix('.avi').name} -vn -ac 1 "
                                   f"-ar 16000 -c:a pcm_s16le {path.name}")
    try:
        with wave.open(str(path), "rb") as source:
            channels, width, rate = source.getnchannels(), source.getsampwidth(), source.getframerate()
            data = source.readframes(source.getnframes())
    except (wave.Error, EOFError) as error:
        raise DataError(f"not a PCM WAV file ({error})", path) from None
    if width == 1:
        values = (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        values = np.frombuffer(data, f"<i{width}").astype(np.float32) / float(2 ** (8 * width - 1))
    elif width == 3:
        raw = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        values = ((raw[:, 0] | raw[:, 1] << 8 | raw[:, 2] << 16) << 8 >> 8).astype(np.float32) / 2.0 ** 23
    else:
        raise DataError(f"unsupported sample width of {width} bytes", path)
    if values.size == 0 or values.size % channels:
        raise DataError(f"no audio samples ({values.size} values, {channels} channel(s))", path)
    return values.reshape(-1, channels).mean(axis=1).astype(np.float32), int(rate)


def cached_is10(paths: Sequence[str | os.PathLike], cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """``float32 [N, 1582]``: the IS10 functionals of the WAV files ``paths``, from the per-clip cache where present
    (see the module docstring; ``cache_dir`` default ``$TFAFFECT_CACHE``); the others extracted (one worker
    process) and cached."""
    from importlib.metadata import version

    from tfaffect.data.synth import default_cache_dir
    from tfaffect.io import atomic_path

    _smile_importable()
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / CACHE_FOLDER / f"opensmile-{version('opensmile')}"
    keys = []
    for path in paths:
        if not Path(path).is_file():
            read_wav(path)  # the typed error saying how to extract it
        keys.append(hashlib.sha256(Path(path).read_bytes()).hexdigest())
    features: dict[str, np.ndarray] = {}
    for key in set(keys):
        try:
            values = np.load(folder / f"{key}.npy")
        except (OSError, ValueError):
            continue
        if values.shape == (IS10_SIZE,):
            features[key] = values
    todo = {key: path for key, path in zip(keys, paths) if key not in features}
    if todo:
        signals = [read_wav(path) for path in todo.values()]
        for rate in {rate for _, rate in signals}:
            batch = [(key, signal) for key, (signal, r) in zip(todo, signals) if r == rate]
            extracted = is10_functionals_many([signal for _, signal in batch], rate)
            folder.mkdir(parents=True, exist_ok=True)
            for (key, _), values in zip(batch, extracted):
                with atomic_path(folder / f"{key}.npy") as tmp:
                    np.save(tmp, values)
                features[key] = values
    return np.stack([features[key] for key in keys]).astype(np.float32)


__all__ = ["AUDIO_SUFFIX", "IS10_SIZE", "cached_is10", "clip_audio_path", "is10_functionals", "is10_functionals_many",
           "read_wav", "require_opensmile", "write_wav"]
