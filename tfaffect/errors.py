"""Typed errors. Every error about input data names the file and, where there is one, the line or frame.

Each class also derives from the built-in exception a caller would naturally catch
(``ValueError``, ``FileNotFoundError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import os


class TfaffectError(Exception):
    """Base class of every error tfaffect raises on purpose."""


class DataError(TfaffectError, ValueError):
    """Bad input data. ``path`` is the offending file; ``line`` (1-based) or ``frame`` (0-based) where known."""

    def __init__(self, message: str, path: str | os.PathLike | None = None, *,
                 line: int | None = None, frame: int | None = None):
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.frame = frame
        self.reason = message
        where = ""
        if self.path is not None:
            where = self.path
            if line is not None:
                where += f", line {line}"
            if frame is not None:
                where += f", frame {frame}"
            where += ": "
        super().__init__(where + message)


class AnnotationError(DataError):
    """An annotation file is malformed (missing header, non-numeric or out-of-range value, wrong row count)."""


class VideoError(DataError):
    """A video or image cannot be read, or is truncated or corrupt."""


class ShardError(DataError):
    """A TFRecord shard is truncated, corrupt or does not match the manifest."""


class MissingResourceError(TfaffectError, FileNotFoundError):
    """A weight file, dataset or model is missing. The message says what to pass instead; nothing is downloaded."""


class ConfigError(TfaffectError, ValueError):
    """An invalid recipe or command-line configuration."""
