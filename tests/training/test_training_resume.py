"""Trainer runs in subprocesses of ``python tests/training/tiny_recipe.py``.

Must-show test (issue #4): a run SIGKILLed after epoch 2 and re-run continues from epoch 3 and ends
with the same metrics and weights as an uninterrupted run (seeded, deterministic ops; the recipe has
dropout and reshuffles each epoch, so the random-generator states and the shuffle order must be
restored). The uninterrupted run and the run that kills itself run side by side, then the resume.

Large tests: the multi-worker strategy (one worker, no cluster) and the JAX backend, each needing a
fresh interpreter.
"""

import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

RECIPE = Path(__file__).with_name("tiny_recipe.py")
COLUMNS = ("loss", "mse", "val_loss", "val_mse")


def launch(run_dir, *options, kill_after=None, **env_vars):
    """Start ``python tiny_recipe.py --run-dir RUN_DIR OPTIONS`` in run_dir's parent."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1",
           "KERAS_HOME": str(run_dir.parent / "keras_home"), **env_vars}
    env.pop("TFAFFECT_TEST_KILL_AFTER_EPOCH", None)
    if kill_after is not None:
        env["TFAFFECT_TEST_KILL_AFTER_EPOCH"] = str(kill_after)
    return subprocess.Popen([sys.executable, str(RECIPE), "--run-dir", str(run_dir), *options],
                            env=env, cwd=run_dir.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(process):
    out, _ = process.communicate(timeout=300)
    return process.returncode, out


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def weights(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def test_killed_run_resumes_from_its_last_epoch_and_matches_the_uninterrupted_run(tmp_path):
    full_dir, resumed_dir = tmp_path / "full", tmp_path / "resumed"
    full, killed = launch(full_dir), launch(resumed_dir, kill_after=2)  # side by side: 2 cores
    (rc_full, out_full), (rc_killed, out_killed) = finish(full), finish(killed)
    assert rc_full == 0, out_full
    assert rc_killed == -signal.SIGKILL, out_killed

    # the crash left two finished epochs, a backup, and no final files
    assert [r["epoch"] for r in rows(resumed_dir / "training_log.csv")] == ["0", "1"]
    assert (resumed_dir / "backup" / "training_metadata.json").exists()
    assert not (resumed_dir / "metrics.json").exists()

    rc, out = finish(launch(resumed_dir))
    assert rc == 0, out
    assert "continuing at epoch 3/4" in out
    assert "epoch 1/4:" not in out and "epoch 2/4:" not in out  # it did not start over
    assert "epoch 3/4:" in out and "epoch 4/4:" in out
    assert [r["epoch"] for r in rows(resumed_dir / "training_log.csv")] == ["0", "1", "2", "3"]

    got, want = rows(resumed_dir / "history.csv"), rows(full_dir / "history.csv")
    assert [r["epoch"] for r in got] == [r["epoch"] for r in want] == ["1", "2", "3", "4"]
    for column in COLUMNS:
        np.testing.assert_allclose([float(r[column]) for r in got], [float(r[column]) for r in want],
                                   rtol=0, atol=1e-6, err_msg=column)

    m_got = json.loads((resumed_dir / "metrics.json").read_text())
    m_want = json.loads((full_dir / "metrics.json").read_text())
    assert m_got["final"].keys() == m_want["final"].keys() == {"val_loss", "val_mse"}
    for key in m_want["final"]:
        assert abs(m_got["final"][key] - m_want["final"][key]) <= 1e-6, key
    assert m_got["best_epoch"] == m_want["best_epoch"]
    assert (m_got["sessions"], m_want["sessions"]) == (2, 1)

    w_got = weights(resumed_dir / "checkpoints" / "epoch_004.weights.h5")
    w_want = weights(full_dir / "checkpoints" / "epoch_004.weights.h5")
    assert w_got.keys() == w_want.keys() and len(w_got) > 4  # layers and optimizer state
    for name in w_want:
        np.testing.assert_allclose(w_got[name], w_want[name], rtol=0, atol=1e-6, err_msg=name)

    sessions = json.loads((resumed_dir / "provenance.json").read_text())["sessions"]
    assert [s["resuming"] for s in sessions] == [False, True]


@pytest.mark.large  # one more TensorFlow process (about 9 s of CPU)
def test_multiworker_strategy_without_a_cluster_trains_as_one_worker(tmp_path):
    rc, out = finish(launch(tmp_path / "run", "--smoke", "--no-deterministic", "--distribute", "multiworker"))
    assert rc == 0, out
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 1


@pytest.mark.large  # a JAX process compiles every step anew (about 20 s of CPU)
def test_trainer_under_the_jax_backend(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not importable")
    rc, out = finish(launch(tmp_path / "run", "--no-deterministic", "--epochs", "2", "--lr-schedule",
                            "exponential", "--warmup-epochs", "1", KERAS_BACKEND="jax", JAX_PLATFORMS="cpu"))
    assert rc == 0, out
    session, = json.loads((tmp_path / "run" / "provenance.json").read_text())["sessions"]
    assert session["environment"]["keras_backend"] == "jax"
    # 5 steps per epoch; epoch 1 starts at step 0 with warm-up factor 1/5 of 0.01; epoch 2 at step 5
    # with the warm-up over and one decay period of 0.1 behind it
    np.testing.assert_allclose([float(r["lr"]) for r in rows(tmp_path / "run" / "history.csv")],
                               [0.002, 0.001], rtol=1e-6)
