"""A campaign's output directory: one campaign at a time, tidy at every start.

``--out`` is where every finding lives, so two campaigns must never share it
and a campaign that cannot write it must say so and stop.

- **One at a time.**  :meth:`OutputDir.lock` takes an exclusive ``flock`` on
  ``OUT/.lock`` and writes who holds it there (pid, start time, command).  A
  second campaign gets :class:`DirectoryInUse`, whose message names that
  holder, before it has touched anything.  The campaign hands the locked
  descriptor to its workers, so the lock lasts as long as the last of them:
  a campaign killed with ``kill -9`` whose workers are still winding down
  still holds its directory.
- **Tidy at start.**  Writers leave temporaries when they are killed: part
  files of atomic writes, buckets being built (``findings/.new-*``), the
  ``.NAME.*.tmp`` of older versions, a log line cut short.
  :meth:`OutputDir.clean` removes them, and may only run under the lock:
  within a campaign its workers write concurrently, and a temporary is
  stale only when nobody who could own it is alive.
- **Errors of the environment** (read-only, full, over a file size limit, a
  path under a file) become one :class:`OutputError` naming the path and the
  reason, which the command prints as its one line before exiting 2.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shlex
import shutil
import socket
import sys
import time
from pathlib import Path

from unmapfuzz.atomic import PART_SUFFIX

from .log import LOG_NAME, drop_partial_line
from .store import NEW_PREFIX

__all__ = ["CampaignError", "OutputError", "DirectoryInUse", "OutputDir", "LOCK_NAME"]

LOCK_NAME = ".lock"


class CampaignError(Exception):
    """A campaign that cannot run; ``str()`` is the one line to show (exit 2)."""


class OutputError(CampaignError):
    """The output directory could not be written: ``PATH: reason``."""

    def __init__(self, path: str | os.PathLike[str], reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    @classmethod
    def from_os_error(cls, exc: OSError, default: Path) -> OutputError:
        """The error for ``exc``, at the file it names (else ``default``), with the system's reason."""
        path = exc.filename if exc.filename is not None else default
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EFBIG:
            reason += " (the file size limit, ulimit -f)"
        return cls(path, f"cannot write: {reason}")


class DirectoryInUse(CampaignError):
    """Another campaign holds the directory."""


class OutputDir:
    """The ``--out`` directory of one campaign: its lock, and its clean-up at start."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None

    # -- the lock ----------------------------------------------------------------------------------

    def lock(self) -> None:
        """Create the directory if needed and hold it; raise DirectoryInUse or OutputError."""
        lock_path = self.path / LOCK_NAME
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(self.path, "cannot write: not a directory")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise OutputError.from_os_error(exc, self.path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DirectoryInUse(f"{self.path}: in use by {holder}; wait for it to stop, stop it, "
                                 "or give another --out") from None
        self.fd = fd
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                  "command": _command_line()}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        except OSError as exc:
            self.release()
            raise OutputError.from_os_error(exc, lock_path) from None

    def release(self) -> None:
        """Let go of the directory (the workers' copies of the descriptor must be gone too)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    # -- tidying up at start -----------------------------------------------------------------------

    def clean(self) -> list[Path]:
        """Remove what killed writers left; the paths removed.  Only while holding the lock."""
        assert self.fd is not None, "clean() without the lock would race with live writers"
        removed: list[Path] = []
        findings, corpus = self.path / "findings", self.path / "corpus"
        places = [self.path, self.path / "stats", findings]
        for parent in (findings, corpus):
            if parent.is_dir():
                places += [d for d in parent.iterdir() if d.is_dir() and not d.name.startswith(".")]
        for place in places:
            if not place.is_dir():
                continue
            for entry in place.iterdir():
                name = entry.name
                if not name.startswith(".") or name == LOCK_NAME:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    if place == findings and name.startswith(NEW_PREFIX):
                        shutil.rmtree(entry)
                        removed.append(entry)
                elif name.endswith(PART_SUFFIX) or name.endswith(".tmp"):
                    entry.unlink()
                    removed.append(entry)
        return removed

    def repair_log(self) -> int:
        """Drop a cut-off last line of ``log.jsonl``; the bytes dropped.  Only while holding the lock."""
        assert self.fd is not None, "repair_log() without the lock would race with live writers"
        return drop_partial_line(self.path / LOG_NAME)


def _command_line() -> str:
    """How this process was started, as a user would type it."""
    program = sys.argv[0]
    if program.endswith("__main__.py"):
        program = "python -m unmapfuzz"
    elif os.path.basename(program) == "unmapfuzz":
        program = "unmapfuzz"
    return shlex.join([program, *sys.argv[1:]]) if program != "python -m unmapfuzz" else \
        "python -m unmapfuzz " + shlex.join(sys.argv[1:])


def _read_holder(fd: int) -> str:
    """Who holds the lock, in words, from what it wrote into the lock file."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode())
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return "another campaign"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
    host = info.get("host")
    alive = _alive(pid) if host in (None, socket.gethostname()) else True
    who = f"campaign pid {pid}" + ("" if host in (None, socket.gethostname()) else f" on {host}")
    if not alive:
        who += " (gone; its workers still run)"
    return f"{who}, started {when}: {info.get('command', '?')}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
