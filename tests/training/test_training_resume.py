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
    assert "SavedModel: not exported (this run used KERAS_BACKEND=jax" in out  # the end-of-run export is TF's
    session, = json.loads((tmp_path / "run" / "provenance.json").read_text())["sessions"]
    assert session["environment"]["keras_backend"] == "jax"
    # 5 steps per epoch; epoch 1 starts at step 0 with warm-up factor 1/5 of 0.01; epoch 2 at step 5
    # with the warm-up over and one decay period of 0.1 behind it
    np.testing.assert_allclose([float(r["lr"]) for r in rows(tmp_path / "run" / "history.csv")],
                               [0.002, 0.001], rtol=1e-6)


def dead_pid():
    """The pid of a process that has exited (reaped), so no process of this host owns it now."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_temporary_files_of_dead_processes_are_removed_at_the_next_start(tmp_path):
    """A write killed mid-way leaves its temporary name behind (issue #12: ``checkpoints/tmp<pid>.weights.h5``,
    up to 67 MB, matched by ``*.weights.h5``). Temporary names now end in ``.tmp-<host>-<pid>``; the next
    start removes those whose process is gone (and the old names), and keeps a live process's."""
    from tfaffect.io import temp_path

    run_dir = tmp_path / "run"
    checkpoints, backup = run_dir / "checkpoints", run_dir / "backup"
    checkpoints.mkdir(parents=True)
    backup.mkdir()
    pid = dead_pid()

    def temp_of_dead(path):  # <name>.tmp-<this host>-<pid of the dead process>
        return path.with_name(f"{temp_path(path).name.rsplit('-', 1)[0]}-{pid}")

    folder = temp_of_dead(checkpoints / "epoch_002.weights.h5")  # a killed checkpoint write
    folder.mkdir()
    (folder / "epoch_002.weights.h5").write_bytes(b"half")
    dead = [folder, checkpoints / f"tmp{pid}.weights.h5", run_dir / f"tmp{pid}.keras",  # earlier names
            temp_of_dead(run_dir / "model.keras"), run_dir / f"metrics.json.tmp-{pid}",
            backup / "latest.tmp.weights.h5", temp_of_dead(backup / "training_metadata.json")]
    for path in dead[1:]:
        path.write_bytes(b"half")
    alive = [temp_path(checkpoints / "epoch_003.weights.h5"),  # this process's: alive
             checkpoints / f"epoch_004.weights.h5.tmp-otherhost-{pid}"]  # another host's: cannot be checked
    for path in alive:
        path.write_bytes(b"in use")
    assert sorted(p.name for p in checkpoints.glob("*.weights.h5")) == ["tmp%d.weights.h5" % pid]

    rc, out = finish(launch(run_dir, "--smoke", "--no-deterministic"))
    assert rc == 0, out
    assert [p for p in dead if os.path.lexists(p)] == []
    assert all(p.exists() for p in alive)
    assert sorted(p.name for p in checkpoints.glob("*.weights.h5")) == ["epoch_001.weights.h5"]
    assert "left by a process that is gone" in (run_dir / "train.log").read_text()


def test_checkpoint_writes_are_never_matched_by_result_globs(tmp_path):
    import keras

    from tfaffect.io import temp_path
    from tfaffect.training.trainer import EpochCheckpoint

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    seen = []
    save = model.save_weights

    def save_and_look(path, **kwargs):
        save(path, **kwargs)  # written in full under its temporary name: what a kill would leave
        seen.append((Path(path).relative_to(tmp_path).parts,
                     sorted(p.name for p in tmp_path.glob("*.weights.h5")),
                     sorted(p.name for p in tmp_path.glob("epoch_*.h5"))))

    model.save_weights = save_and_look
    callback = EpochCheckpoint(tmp_path, keep=1)
    callback.set_model(model)
    for epoch in range(2):
        callback.on_epoch_end(epoch)
    assert len(seen) == 2
    for epoch, ((folder, name), weights, epochs) in enumerate(seen, 1):
        assert name == f"epoch_{epoch:03d}.weights.h5"  # Keras picks the format from the suffix...
        assert folder == temp_path(tmp_path / name).name  # ... so it is written in a temporary folder
        done = [f"epoch_{e:03d}.weights.h5" for e in range(1, epoch)]
        assert weights == done and epochs == done  # the half-written file matches neither glob
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_002.weights.h5"]


def test_a_damaged_config_json_is_a_typed_error_naming_the_file_and_line(tmp_path):
    from tfaffect.errors import DataError
    from tfaffect.training.trainer import _read_json

    path = tmp_path / "config.json"
    path.write_text('{"recipe": "tiny",\n "fields": {oops}\n}', encoding="utf-8")
    with pytest.raises(DataError, match="line 2") as info:
        _read_json(path)
    assert "config.json" in str(info.value)
