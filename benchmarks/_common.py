"""Helpers shared by ``benchmarks/train.py`` and ``benchmarks/inference.py``.

* :func:`print_machine` -- the header every benchmark prints first: processor, cores, load average,
  TensorFlow / Keras versions, oneDNN on/off, the vector instructions that decide bf16 speed.
* :func:`time_interleaved` -- warm-up calls, then timed calls of several functions in turn, so that a
  change of the machine's load (other processes) hits every contender alike; medians are compared.
  Each call's CPU time is kept beside its wall time (:class:`Timings`).
* :func:`random_sequences` / :func:`build_affwildnet` -- the same random in-memory data and the
  same registered model for both scripts.

The scripts are run as ``python benchmarks/<name>.py``, which puts this folder on ``sys.path``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping

import numpy as np

MODEL_NAME = "affwildnet_vggface_gru"
"""The registered AffWildNet (VGG-Face conv, FC 4096, 2x GRU 128, Kollias 2019, Table 8) both scripts measure."""

_ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
"""CPU flags worth printing: fp32 vector width, and whether bf16 has native dot products / tiles."""


def cpu_description() -> tuple[str, tuple[str, ...]]:
    """Processor name and the subset of :data:`_ISA_FLAGS` it has (read from ``/proc/cpuinfo`` on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return platform.processor() or platform.machine(), ()
    name, flags = platform.machine(), set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            name = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
            break
    return name, tuple(flag for flag in _ISA_FLAGS if flag in flags)


def onednn_state() -> str:
    """``"on"`` / ``"off"``: whether TensorFlow runs its oneDNN CPU kernels.

    TF's own check (its build and ``TF_ENABLE_ONEDNN_OPTS``) lives in a private module; where that
    is gone, the answer falls back to the environment variable, marked as such.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        flag = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower()
        return f"{'off' if flag in ('0', 'false') else 'on'} (from TF_ENABLE_ONEDNN_OPTS)"
    return "on" if _pywrap_util_port.IsMklEnabled() else "off"


def load_average() -> str:
    """The 1/5/15-minute load averages as text (``n/a`` where the OS has none)."""
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "n/a"


def print_machine(title: str) -> None:
    """Print ``title`` and the machine description (see the module docstring)."""
    import keras
    import tensorflow as tf

    name, flags = cpu_description()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    print(title)
    print(f"machine: {name}; {usable} usable of {os.cpu_count()} logical cores; "
          f"flags: {' '.join(flags) or 'none of ' + ' '.join(_ISA_FLAGS)}")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__} (backend {keras.backend.backend()}), "
          f"oneDNN {onednn_state()}, intra-op threads {intra or 'all cores'}, "
          f"GPUs visible {len(tf.config.list_physical_devices('GPU'))}")
    print(f"load average at start (1/5/15 min): {load_average()}")


@dataclasses.dataclass
class Timings:
    """Per-call seconds: ``wall`` (elapsed) and ``cpu`` (this process's CPU time, all threads).

    On a machine shared with other processes the wall time grows with their load; the CPU time
    does not (it counts only cycles this process got), but it also misses cores left idle by poor
    parallelism, so it tells work efficiency, not parallel speed. Quiet machine: trust ``wall``.
    """

    wall: list[float] = dataclasses.field(default_factory=list)
    cpu: list[float] = dataclasses.field(default_factory=list)


def time_interleaved(calls: Mapping[str, Callable[[], object]], warmup: int, steps: int) -> dict[str, Timings]:
    """:class:`Timings` of ``steps`` timed calls per contender, after ``warmup`` untimed calls each.

    The contenders take turns (round 1: a, b, ...; round 2: a, b, ...), so a load change during the
    run slows all of them. Each call must block until its work is done (return host values).
    """
    for _ in range(warmup):
        for call in calls.values():
            call()
    timings = {name: Timings() for name in calls}
    for _ in range(steps):
        for name, call in calls.items():
            wall, cpu = time.perf_counter(), time.process_time()
            call()
            timings[name].cpu.append(time.process_time() - cpu)
            timings[name].wall.append(time.perf_counter() - wall)
    return timings


def median(values: list[float]) -> float:
    """The median of timed values (robust to one step disturbed by another process)."""
    return statistics.median(values)


def random_sequences(batch: int, time_steps: int, image_size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """In-memory inputs and labels: uint8 images ``[B, T, S, S, 3]``, valence/arousal ``[B, T, 2]``, unit weights.

    Returns ``{"image", "va", "weight"}``; the valence/arousal are uniform in [-1, 1].
    """
    rng = np.random.default_rng(seed)
    return {
        "image": rng.integers(0, 256, size=(batch, time_steps, image_size, image_size, 3), dtype=np.uint8),
        "va": rng.uniform(-1.0, 1.0, size=(batch, time_steps, 2)).astype(np.float32),
        "weight": np.ones((batch, time_steps), dtype=np.float32),
    }


def build_affwildnet(tiny: bool):
    """The registered AffWildNet at full size (96x96 input), or its tiny test configuration."""
    from tfaffect.models.registry import build_model

    return build_model(MODEL_NAME, tiny=tiny)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def fill_defaults(parser, args, defaults):
    """Give every option left at ``None`` its value from ``defaults``; reject a negative ``--warmup``."""
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")
    return args
