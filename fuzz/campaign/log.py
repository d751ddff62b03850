"""The campaign's event log: structlog JSON lines in ``OUT/log.jsonl``.

Every process of a campaign (the campaign itself, each worker, libFuzzer's
children) appends named events with key/values to the one file; each line is
one JSON object (``event``, ``level``, ``timestamp``, ``pid``, ``role`` and the
event's own fields).

A reader must be able to trust every line, so a line is written whole or not
at all.  :class:`AppendLogger` writes each event with one ``write(2)`` to a
descriptor opened ``O_APPEND``, holding an ``flock`` on the file meanwhile;
when the file cannot take the whole line (a full disk, a file size limit) it
cuts the file back to where the line began and raises :class:`OSError` naming
the log.  The lock makes "where the line began" mean the same for every
process: nobody else appends between the measure and the cut.
:func:`drop_partial_line` removes a line cut off by anything else (a writer of
an older version, a power loss), and is run by the campaign at its start,
while it alone holds the directory.
"""
from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import structlog

__all__ = ["make_logger", "AppendLogger", "drop_partial_line", "LOG_NAME"]

LOG_NAME = "log.jsonl"


class AppendLogger:
    """A structlog logger that appends whole lines to one file shared by many processes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._lock = threading.Lock()      # the campaign logs from its minimiser thread too

    def msg(self, message: str) -> None:
        data = (message + "\n").encode("utf-8")
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                start = os.fstat(self._fd).st_size
                written = 0
                try:
                    while written < len(data):
                        written += os.write(self._fd, data[written:])
                except OSError as exc:
                    if written:
                        os.ftruncate(self._fd, start)
                    raise OSError(exc.errno, exc.strerror, str(self.path)) from None
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    log = debug = info = warn = warning = err = error = critical = exception = fatal = failure = msg

    def close(self) -> None:
        os.close(self._fd)


def make_logger(out: Path, **bound):
    """A structlog logger appending JSON lines to ``out/log.jsonl``."""
    out.mkdir(parents=True, exist_ok=True)
    logger = structlog.wrap_logger(
        AppendLogger(out / LOG_NAME),
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(sort_keys=True)],
    )
    return logger.bind(pid=os.getpid(), **bound)


def drop_partial_line(path: Path) -> int:
    """Cut a last line that has no newline off ``path``; the number of bytes dropped.

    Only for a file nobody is writing (the campaign calls it under its lock).
    """
    try:
        with open(path, "r+b") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return 0
            keep, chunk = size, 65536
            while keep > 0:                      # back to the last newline, a chunk at a time
                start = max(0, keep - chunk)
                f.seek(start)
                block = f.read(keep - start)
                cut = block.rfind(b"\n")
                if cut >= 0:
                    keep = start + cut + 1
                    break
                keep = start
            f.truncate(keep)
            return size - keep
    except FileNotFoundError:
        return 0
