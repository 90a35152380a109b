"""Files: atomic writes, temporary names, orphan clean-up, output-path checks and safe file names.

A file appears whole under its name or not at all: it is written under a temporary name, fsynced and
moved into place with ``os.replace`` in the same folder. Every output of tfaffect that a reader may
pick up goes through here.

Temporary names (:func:`temp_path`) put a suffix ``.tmp-<host>-<pid>`` after the *whole* name
(``metrics.json.tmp-node1-4711``, ``model.weights.h5.tmp-node1-4711``), so no result glob
(``*.json``, ``*.weights.h5``, ``*.tfrecord``) ever matches a half-written file, and the owner is
known: :func:`clean_orphans` removes the temporary files and folders whose owner process on this
host is gone (killed mid-write), and leaves alone those of live processes and of other hosts (a
shared file system). A file that needs its real suffix while it is written (Keras dispatches
``save_weights`` on ``.weights.h5``) is written inside a temporary folder of that name
(:func:`atomic_path`).

Names read from data (video ids, clip ids, recipe names in a run directory) are identifiers, never
paths: :func:`identifier_problem` says why a name cannot be one, and :func:`safe_filename` turns any
name into one path component for output files.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import unicodedata
from pathlib import Path
from typing import Any, Iterator

from tfaffect.errors import ConfigError, DataError, MissingResourceError

log = logging.getLogger(__name__)

TEMP_MARK = ".tmp-"
"""What every temporary name contains (``*.tmp-*`` is the glob readers skip)."""
_TEMP_NAME = re.compile(r"(?P<hidden>\.?)(?P<base>.+)\.(?P<kind>tmp|old)-(?:(?P<host>[A-Za-z0-9_.-]*)-)?(?P<pid>\d+)\Z",
                        re.DOTALL)
"""``[.]<base>.tmp-<host>-<pid>`` (and ``.old-``); names of older versions without ``<host>`` count as this host's."""
MAX_FILENAME = 120
"""Longest name :func:`safe_filename` returns (well under the 255 bytes of common file systems, leaving
room for a prefix such as ``va_over_time_`` and a suffix). Chosen."""


# ----------------------------------------------------------------------------- names from data


def identifier_problem(name) -> str | None:
    """Why ``name`` cannot be an identifier read from data (a video or clip id), or ``None`` if it can.

    An identifier is a non-empty string that is not ``.`` or ``..``, contains no path separator
    (``/``, ``\\``), no control character and no drive prefix (``C:``), and has no surrounding blanks:
    joined to a folder, it always names an entry of that folder.
    """
    if not isinstance(name, str):
        return f"not text ({type(name).__name__})"
    if not name:
        return "empty"
    if name in (".", ".."):
        return f"{name!r} is a path, not a name"
    if "/" in name or "\\" in name:
        return f"{name[:60]!r} contains a path separator"
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        return f"{name[:60]!r} contains a control character"
    if re.match(r"[A-Za-z]:", name):
        return f"{name[:60]!r} starts with a drive letter"
    if name != name.strip():
        return f"{name[:60]!r} has leading or trailing blanks"
    return None


def safe_filename(name) -> str:
    """One path component built from ``name`` (a name read from data), safe to join to an output folder.

    Letters, digits, ``-``, ``_``, ``+`` and ``.`` are kept, anything else becomes ``_``, leading dots
    are dropped (no hidden files, no ``..``) and the result is at most :data:`MAX_FILENAME`
    characters. A name that had to be changed gets ``-`` and 8 hex digits of its SHA-256 appended,
    so two different names never share a file (``a/b`` -> ``a_b-<hash>``, while ``a_b`` stays
    ``a_b``). Deterministic: the same name always gives the same file name.
    """
    text = name if isinstance(name, str) else str(name)
    cleaned = "".join(c if c.isalnum() or c in "-_+." else "_" for c in text)
    cleaned = cleaned.lstrip(".")
    if cleaned == text and 0 < len(cleaned) <= MAX_FILENAME:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned[:MAX_FILENAME - 9] or '_'}-{digest}"


# ----------------------------------------------------------------------------- temporary names


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"


def temp_path(path: str | os.PathLike, *, hidden: bool = False, kind: str = "tmp") -> Path:
    """The temporary name of ``path``: ``<name>.tmp-<host>-<pid>`` in the same folder.

    ``hidden`` adds a leading dot (folders the user lists, e.g. an export's). ``kind="old"`` names a
    previous version moved aside while a folder is replaced. :func:`clean_orphans` recognises both.
    """
    if kind not in ("tmp", "old"):
        raise ValueError(f"kind must be 'tmp' or 'old', got {kind!r}")
    path = Path(path)
    return path.with_name(f"{'.' if hidden else ''}{path.name}.{kind}-{_host()}-{os.getpid()}")


def parse_temp_name(name: str) -> tuple[str, str, int] | None:
    """``(base name, host, pid)`` of a name made by :func:`temp_path`, else ``None`` (host ``""`` for the
    names of older versions, which did not record it: taken as this host's)."""
    match = _TEMP_NAME.fullmatch(name)
    if match is None:
        return None
    return match["base"], match["host"] if match["host"] is not None else "", int(match["pid"])


def _boot_time() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _process_start(pid: int) -> float | None:
    """Start time (epoch seconds) of process ``pid`` on Linux; ``None`` where it cannot be told."""
    boot = _boot_time()
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK") if boot is not None else None
    except (OSError, ValueError, IndexError):
        return None


def owner_alive(pid: int, since: float | None = None) -> bool:
    """Whether process ``pid`` of this host runs and may own a temporary file last changed at ``since``.

    A process that started after ``since`` (its pid reused) cannot be the owner. Errs on the side of
    "alive" where it cannot tell, so a file in use is never removed.
    """
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return True
    if since is not None:
        started = _process_start(pid)
        if started is not None and started > since + 2.0:  # 2 s: clock-tick rounding of the start time
            return False
    return True


def clean_orphans(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Remove the temporary files and folders in ``folder`` whose owner process is gone; return them.

    Only names made by :func:`temp_path` on this host are considered (``name``: only those of that
    base name); a live owner's are kept, as are other hosts' (their processes cannot be checked from
    here). Nothing is raised: a file that cannot be removed is logged and left.
    """
    folder = Path(folder)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    host = _host()
    for entry in entries:
        parsed = parse_temp_name(entry.name)
        if parsed is None:
            continue
        base, owner_host, pid = parsed
        if (name is not None and base != name) or owner_host not in (host, ""):
            continue
        try:
            changed = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if owner_alive(pid, changed):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot remove %s, left by a process that is gone: %s", path, exc)
            continue
        log.info("removed %s, left by process %d that is gone (killed mid-write)", path, pid)
        removed.append(path)
    return removed


# ----------------------------------------------------------------------------- atomic writes


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (removing orphaned temporary copies of ``path`` first)."""
    path = Path(path)
    clean_orphans(path.parent, path.name)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """For writers that must write a file under its own name (a suffix they dispatch on, such as
    Keras's ``.weights.h5``): yields ``<folder>/<name>.tmp-<host>-<pid>/<name>`` to write; on success
    the file is moved to ``path``, and the temporary folder is removed either way."""
    path = Path(path)
    clean_orphans(path.parent, path.name)
    tmp_dir = temp_path(path)
    tmp_dir.mkdir()
    try:
        yield tmp_dir / path.name
        os.replace(tmp_dir / path.name, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


# ----------------------------------------------------------------------------- output paths


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    return probe


def _writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (tried for real: ``os.access`` says yes to root on
    read-only mounts)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        fd, name = _probe_file(folder)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return True


def _probe_file(folder: Path) -> tuple[int, str]:
    name = os.path.join(folder, f".tfaffect-write-probe.tmp-{_host()}-{os.getpid()}")
    return os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), name


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Check, before any work, that ``path`` can be an output folder: ConfigError naming it otherwise.

    It must be an existing writable folder, or creatable: not an existing file, not under a file,
    and its nearest existing ancestor writable. Nothing is created.
    """
    path = Path(path)
    if os.path.lexists(path) and not path.is_dir():
        raise ConfigError(f"{option} {path}: is an existing file, but a folder is expected; pass another {option}")
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise ConfigError(f"{option} {path}: {existing} is a file, so the folder cannot be created there; "
                          f"pass another {option}")
    if not _writable(existing):
        raise ConfigError(f"{option} {path}: cannot write in {existing} ({os.strerror(errno.EACCES)}); "
                          f"pass a writable {option}")
    return path


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """As :func:`check_output_dir` for an output file: not an existing folder, its folder creatable."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is an existing folder, but a file is expected; pass another {option}")
    existing = _nearest_existing(path.parent if str(path.parent) else Path("."))
    if not existing.is_dir():
        raise ConfigError(f"{option} {path}: {existing} is a file, so {path.name} cannot be created there; "
                          f"pass another {option}")
    if not _writable(existing):
        raise ConfigError(f"{option} {path}: cannot write in {existing} ({os.strerror(errno.EACCES)}); "
                          f"pass a writable {option}")
    return path


def make_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """:func:`check_output_dir`, then create the folder (and its parents)."""
    path = check_output_dir(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot create the folder ({exc.strerror or exc})") from None
    return path


__all__ = ["TEMP_MARK", "MAX_FILENAME", "identifier_problem", "safe_filename", "temp_path", "parse_temp_name",
           "owner_alive", "clean_orphans", "write_bytes_atomic", "write_text_atomic", "write_json_atomic",
           "atomic_path", "check_output_dir", "check_output_file", "make_output_dir"]


def read_json(path: str | os.PathLike, hint: str, kind: type = dict) -> Any:
    """The JSON object in ``path``; :class:`MissingResourceError` (with ``hint``) when it is missing,
    :class:`DataError` naming it (and the line) when it is not UTF-8 JSON holding a ``kind``."""
    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(f"{path}: missing; {hint}")
    try:
        with open(path, "rb") as f:
            data = f.read()
        value = json.loads(data.decode("utf-8"))
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", path) from None
    except UnicodeDecodeError as exc:
        raise DataError("not valid JSON (not UTF-8 text)", path, line=data[:exc.start].count(b"\n") + 1) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg})", path, line=exc.lineno) from None
    except (ValueError, RecursionError) as exc:
        raise DataError(f"not valid JSON ({str(exc)[:100]})", path) from None
    if not isinstance(value, kind):
        raise DataError(f"must hold a JSON {'object' if kind is dict else kind.__name__}, got "
                        f"{type(value).__name__}", path)
    return value


IMAGE_MODEL_FILE = "image_model.keras"
"""Beside ``model.keras`` in a run whose model reads cached per-frame features (Kahou's IRNN, ANCLaF-S / -SA,
MM-Net): the same model with its per-frame part put back in front, taking face crops; what ``tfaffect export`` (with the
trained weights copied in by layer name) and ``tfaffect predict`` use. Here, the lowest layer, so that the training
modules that write it and the export and predict that read it share one name."""
