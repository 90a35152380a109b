"""tfaffect.io: temporary names no result glob matches, orphans of killed writers removed at the next start,
safe file names from data names, output-path checks."""

import glob
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tfaffect.errors import ConfigError
from tfaffect.io import (atomic_path, check_output_dir, check_output_file, clean_orphans, identifier_problem,
                         parse_temp_name, safe_filename, temp_path, write_json_atomic, write_text_atomic)

RESULT_GLOBS = ("*.json", "*.csv", "*.weights.h5", "*.keras", "*.tfrecord", "*.png", "*.md", "*.txt")


def dead_pid() -> int:
    """The pid of a process that has exited (reaped), so no process owns it now."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_temp_names_match_no_result_glob(tmp_path):
    for name in ("metrics.json", "history.csv", "epoch_003.weights.h5", "model.keras", "train-00000-of-00001.tfrecord",
                 "va_over_time.png", "report.md"):
        tmp = temp_path(tmp_path / name)
        assert tmp.parent == tmp_path and tmp.name.startswith(name + ".tmp-")
        tmp.write_text("x")
        assert parse_temp_name(tmp.name) == (name, parse_temp_name(tmp.name)[1], os.getpid())
        for pattern in RESULT_GLOBS:
            assert not glob.glob(str(tmp_path / pattern)), (name, pattern)
        tmp.unlink()
    assert temp_path(tmp_path / "export", hidden=True).name.startswith(".export.tmp-")


def test_clean_orphans_removes_dead_owners_only(tmp_path):
    dead = dead_pid()
    orphan_file = tmp_path / temp_path("metrics.json").name.replace(f"-{os.getpid()}", f"-{dead}")
    orphan_dir = tmp_path / temp_path("export", hidden=True).name.replace(f"-{os.getpid()}", f"-{dead}")
    legacy = tmp_path / f"train-00000-of-00001.tfrecord.tmp-{dead}"  # name of older versions (no host)
    mine = temp_path(tmp_path / "history.csv")
    other_host = tmp_path / f"config.json.tmp-another-machine-{dead}"
    unrelated = tmp_path / "notes.tmp-x.txt"
    orphan_file.write_text("half")
    orphan_dir.mkdir()
    (orphan_dir / "saved_model.pb").write_bytes(b"half")
    for path in (legacy, mine, other_host, unrelated):
        path.write_text("x")
    removed = clean_orphans(tmp_path)
    assert sorted(removed) == sorted([orphan_file, orphan_dir, legacy])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other_host.name, unrelated.name])
    # only that file's orphans when a name is given
    orphan_file.write_text("half")
    legacy.write_text("half")
    assert clean_orphans(tmp_path, "metrics.json") == [orphan_file]
    assert legacy.exists()


def test_atomic_writers_clean_their_orphans_and_leave_nothing(tmp_path):
    orphan = tmp_path / f"metrics.json.tmp-{dead_pid()}"
    orphan.write_text("{half")
    write_json_atomic(tmp_path / "metrics.json", {"a": 1})
    write_text_atomic(tmp_path / "history.csv", "epoch\n1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "metrics.json"]
    with atomic_path(tmp_path / "epoch_001.weights.h5") as path:
        assert path.name == "epoch_001.weights.h5" and path.parent.name.startswith("epoch_001.weights.h5.tmp-")
        assert not glob.glob(str(tmp_path / "*.weights.h5"))  # the temporary folder does not match
        path.write_bytes(b"weights")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_001.weights.h5", "history.csv", "metrics.json"]
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "epoch_002.weights.h5") as path:
            path.write_bytes(b"half")
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_001.weights.h5", "history.csv", "metrics.json"]


def test_write_killed_with_sigkill_leaves_an_orphan_the_next_write_removes(tmp_path):
    """A writer killed between writing and renaming leaves only a temporary name (no result glob matches it);
    the next write of that file removes it."""
    code = textwrap.dedent(f"""
        import os, signal, tfaffect.io as io
        real_replace = os.replace
        def die(*args):
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace = die
        io.write_text_atomic({str(tmp_path / 'history.csv')!r}, "epoch\\n" * 1000)
    """)
    process = subprocess.run([sys.executable, "-c", code], timeout=120)
    assert process.returncode == -signal.SIGKILL
    (left,) = tmp_path.iterdir()
    assert parse_temp_name(left.name)[0] == "history.csv" and not glob.glob(str(tmp_path / "*.csv"))
    write_text_atomic(tmp_path / "history.csv", "epoch\n")
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]


@pytest.mark.parametrize("name", ["../../../../outside/pwned", "/etc/passwd", "..", ".", "a\\b", "C:evil", "",
                                  "x\x00y", " padded", "a/b"])
def test_identifier_problem_refuses_paths(name):
    assert identifier_problem(name) is not None


@pytest.mark.parametrize("name", ["vid01", "118-30-640x480_left", "clip.v2", "vidéo", "a b", "..hidden-ish"])
def test_identifier_problem_accepts_names(name):
    assert identifier_problem(name) is None


def test_safe_filename_is_one_component_and_unique(tmp_path):
    names = ["../../../../outside/pwned", "/etc/passwd", "..", ".", "a/b", "a_b", "a\\b", "", "x" * 400, "vid01",
             "C:evil", "nul\x00byte", ".hidden"]
    made = [safe_filename(name) for name in names]
    assert len(set(made)) == len(made)
    assert safe_filename("vid01") == "vid01" and safe_filename("a_b") == "a_b"
    for name in made:
        assert name and "/" not in name and "\\" not in name and not name.startswith(".") and len(name) <= 120
        path = tmp_path / f"va_over_time_{name}.png"
        path.write_text("x")
        assert path.resolve().parent == tmp_path.resolve()
    assert safe_filename("a/b") == safe_filename("a/b")  # deterministic


def test_check_output_paths(tmp_path):
    existing_file = tmp_path / "file.txt"
    existing_file.write_text("x")
    with pytest.raises(ConfigError, match="existing file, but a folder is expected") as info:
        check_output_dir(existing_file)
    assert str(existing_file) in str(info.value) and "--out" in str(info.value)
    with pytest.raises(ConfigError, match="is a file"):
        check_output_dir(existing_file / "sub" / "dir", "--run-dir")
    with pytest.raises(ConfigError, match="existing folder, but a file is expected"):
        check_output_file(tmp_path)
    assert check_output_dir(tmp_path / "new" / "folder") == tmp_path / "new" / "folder"
    assert not (tmp_path / "new").exists()  # nothing created
    assert check_output_file(tmp_path / "report.md") == tmp_path / "report.md"


@pytest.mark.skipif(not os.path.isdir("/proc/self") or not os.access("/proc", os.R_OK), reason="needs /proc")
def test_check_output_dir_refuses_an_unwritable_folder():
    with pytest.raises(ConfigError, match="cannot write"):
        check_output_dir("/proc/tfaffect-out")  # not writable even for root
