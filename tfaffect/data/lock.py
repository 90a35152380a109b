"""An inter-process lock on a folder, so that processes preparing the same output take turns.

Several processes may ask for the same cached data at once: the workers of a multi-worker run all
start by resolving the SynthAffect shards, and without coordination they generate and prepare the
same folders simultaneously, removing each other's temporary files. :func:`folder_lock` makes one
of them do the work while the others wait for it and then find the result in place::

    with folder_lock(cache_root, "synthaffect"):
        ...  # check what exists, generate/prepare what does not

The lock is ``fcntl.flock`` on ``<folder>/.<name>.lock``: the kernel releases it when its holder
exits in any way (also SIGKILL), so a killed preparer never leaves the others waiting; the next
holder finds the unfinished work and resumes or redoes it. The lock file itself stays (it is empty
apart from the holder's pid and host, for the waiting message). ``flock`` is advisory: it
coordinates the processes that take it, on one machine or on a file system that supports it
(local disks; NFSv4 on Linux). Where ``fcntl`` does not exist (Windows) the lock is not taken and
a warning says so once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from pathlib import Path
from typing import Iterator, Optional

from tfaffect.errors import ConfigError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

log = logging.getLogger(__name__)

POLL_S = 0.2
"""How often a process waiting with a timeout tries the lock again (seconds). Chosen: short next to
any preparation."""
_warned_no_fcntl = False


def lock_path(folder: str | os.PathLike, name: str) -> Path:
    """The lock file of ``name`` in ``folder``: ``<folder>/.<name>.lock``."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"lock name must be a plain name, got {name!r}")
    return Path(folder) / f".{name}.lock"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, name: str, *, timeout_s: Optional[float] = None,
                what: str = "") -> Iterator[Path]:
    """Hold the exclusive lock ``name`` of ``folder`` (created if needed) for the ``with`` block.

    Waits while another process holds it, logging once who holds it and what it prepares
    (``what``); ``timeout_s`` bounds the wait (``None``: wait as long as it takes) and then raises
    :class:`~tfaffect.errors.ConfigError` naming the lock file and its holder. Not re-entrant:
    taking the same lock again inside the block waits forever (or until the timeout).
    """
    path = lock_path(folder, name)
    if fcntl is None:
        global _warned_no_fcntl
        if not _warned_no_fcntl:
            log.warning("no fcntl on this platform: %s is not locked; do not prepare the same data from "
                        "two processes at once", path)
            _warned_no_fcntl = True
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, timeout_s, what)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{socket.gethostname()} {os.getpid()}\n".encode(), 0)
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    """``host pid`` of the process that holds the lock, as it wrote it ("unknown" if not yet written)."""
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "unknown"


def _acquire(fd: int, path: Path, timeout_s: Optional[float], what: str) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    started = time.monotonic()
    log.info("waiting for another process (host and pid: %s) to finish%s: it holds %s",
             _holder(fd), f" preparing {what}" if what else "", path)
    if timeout_s is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
    else:
        while True:
            time.sleep(POLL_S)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - started > timeout_s:
                    raise ConfigError(
                        f"{path}: still held by another process (host and pid: {_holder(fd)}) after "
                        f"{timeout_s:g} s; wait for it to finish (the lock is released when it exits)") from None
    log.info("%s is free after %.1f s", path, time.monotonic() - started)
