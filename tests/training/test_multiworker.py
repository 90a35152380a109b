"""Several processes preparing one data folder (issue #12): the lock that makes one of them prepare
while the others wait and then reuse its result."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


def wait_all(processes, deadline):
    """Wait for every process until ``deadline`` (time.monotonic); kill all on a timeout."""
    try:
        for p in processes:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        for p in processes:
            p.kill()
        for p in processes:
            p.wait()
        raise
    return [p.returncode for p in processes]



# ---- the lock ---------------------------------------------------------------------------------

LOCK_SCRIPT = r"""
import sys, time
from tfaffect.data.lock import folder_lock
with folder_lock(sys.argv[1], "data", what="test data"):
    start = time.time()
    time.sleep(0.4)
    print(start, time.time())
"""


def test_folder_lock_admits_one_process_at_a_time(tmp_path):
    processes = [subprocess.Popen([sys.executable, "-c", LOCK_SCRIPT, str(tmp_path / "out")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
    outputs = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    intervals = sorted(tuple(map(float, out.split())) for out, _ in outputs)
    for (_, end), (start, _) in zip(intervals, intervals[1:]):
        assert start >= end, intervals  # no two holders at once
    assert (tmp_path / "out" / ".data.lock").exists()


def test_folder_lock_timeout_names_the_lock(tmp_path):
    from tfaffect.data.lock import folder_lock
    from tfaffect.errors import ConfigError

    holder = subprocess.Popen([sys.executable, "-c", LOCK_SCRIPT.replace("0.4", "30"), str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / ".data.lock").exists() or not (tmp_path / ".data.lock").read_text():
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.05)
        with pytest.raises(ConfigError, match=r"\.data\.lock: still held by another process"):
            with folder_lock(tmp_path, "data", timeout_s=0.5):
                pass
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(tmp_path, "data", timeout_s=5):  # released when its holder died
        pass


RESOLVE_SCRIPT = r"""
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
from tfaffect.training.data import synthaffect_shards
print("RESULT", synthaffect_shards(16, smoke=True, cache_dir=sys.argv[1]), flush=True)
"""


def test_two_processes_resolving_one_fresh_cache_both_succeed(tmp_path):
    """Before the lock the second process died on the first one's temporary files
    (FileNotFoundError: ...train-00000-of-00001.tfrecord.tmp-<pid>). The test holds the lock until
    both processes wait for it, so they then really run at the same time."""
    from tfaffect.data.lock import folder_lock
    from tfaffect.data.tfrecord import load_manifest, verify_shards
    from tfaffect.training.data import LOCK_NAME

    cache = tmp_path / "cache"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    logs = [tmp_path / f"resolve-{i}.log" for i in range(2)]
    processes = []
    try:
        with folder_lock(cache, LOCK_NAME):
            for log in logs:
                with open(log, "w") as out:
                    processes.append(subprocess.Popen([sys.executable, "-c", RESOLVE_SCRIPT, str(cache)], env=env,
                                                      cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT))
            deadline = time.monotonic() + 120
            while not all("waiting for another process" in log.read_text() for log in logs):
                assert time.monotonic() < deadline and all(p.poll() is None for p in processes), \
                    [log.read_text()[-2000:] for log in logs]
                time.sleep(0.1)
        codes = wait_all(processes, time.monotonic() + 180)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    outputs = [log.read_text() for log in logs]
    assert codes == [0, 0], "\n".join(outputs)
    results = {line.split(" ", 1)[1] for out in outputs for line in out.splitlines() if line.startswith("RESULT ")}
    assert len(results) == 1, outputs
    data = Path(results.pop())
    text = "\n".join(outputs)
    assert text.count(": preparing SynthAffect shards") == 1, text  # one preparer; the other reused its shards
    manifest = load_manifest(data)
    verify_shards(data, checksums=True, manifest=manifest)
    assert sorted(p.name for p in data.iterdir()) == sorted(["manifest.json", *(s["file"] for s in manifest["shards"])])
    leftovers = [p for p in cache.rglob("*") if ".tmp-" in p.name]
    assert not leftovers, leftovers
