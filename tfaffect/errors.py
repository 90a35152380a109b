"""Typed errors. Every error about input data names the file and, where there is one, the line or frame.

Each class also derives from the built-in exception a caller would naturally catch
(``ValueError``, ``FileNotFoundError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import os


class TfaffectError(Exception):
    """Base class of every error tfaffect raises on purpose.

    ``hint`` says what to do in general; the command-line boundary (:mod:`tfaffect.boundary`) adds it
    to the one line it prints when the message does not already say so.
    """

    hint = ""


class DataError(TfaffectError, ValueError):
    """Bad input data. ``path`` is the offending file; ``line`` (1-based) or ``frame`` (0-based) where known."""

    hint = "fix or replace that file, or leave it out of the input"

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

    hint = "fix that line of the annotation file, or leave the video out"


class VideoError(DataError):
    """A video or image cannot be read, or is truncated or corrupt."""

    hint = "check that the file opens in a player or viewer; re-encode or replace it, or leave it out"


class ShardError(DataError):
    """A TFRecord shard is truncated, corrupt or does not match the manifest."""

    hint = "prepare the dataset again (tfaffect prepare ... --out DIR)"


class MissingResourceError(TfaffectError, FileNotFoundError):
    """A weight file, dataset or model is missing. The message says what to pass instead; nothing is downloaded."""


class ConfigError(TfaffectError, ValueError):
    """An invalid recipe or command-line configuration."""

    hint = "see the command's --help"
