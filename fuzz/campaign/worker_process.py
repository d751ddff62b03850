"""One worker process of a campaign, seen from the campaign.

:class:`WorkerProcess` starts ``python -m MODULE ARGS`` through the
:mod:`.lifeline` (so it dies with the campaign), as the leader of a process
group of its own (so stopping it stops whatever it started), holding a copy
of the locked ``--out`` descriptor (so the directory stays locked until the
last worker is gone), with the same environment and working directory as
before.

Its stderr comes to the campaign through a pipe, and a thread here copies
it into ``OUT/workers/NAME.log`` while keeping the last few kilobytes in
memory.  Two things follow.  A log that cannot be written (a full disk, a
file size limit) is an error the campaign sees and reports, not a worker
whose status lines silently stop.  And when a worker dies of an error of the
environment, the campaign can read why from its last words even if the disk
could not take them: :meth:`WorkerProcess.output_error` finds them in either
form a worker writes them, our engines' ``unmapfuzz: PATH: reason`` line
(:mod:`.workers`) or atheris's report of an uncaught :class:`OSError`.
"""
from __future__ import annotations

import builtins
import errno
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from . import lifeline
from .outdir import OutputError

__all__ = ["WorkerProcess", "ENVIRONMENT_EXIT"]

# Our engines exit with this status after an OSError writing the output (see workers.py).
ENVIRONMENT_EXIT = 2
_TAIL = 16384
_OUR_LINE = re.compile(r"^unmapfuzz: (?P<path>.+?): (?P<reason>cannot write: .+)$", re.M)
_PYTHON_OSERROR = re.compile(r"^(?P<type>[A-Za-z]+Error): \[Errno (?P<errno>\d+)\] (?P<reason>[^:\n]+?)"
                             r"(?:: '(?P<path>[^'\n]*)')?$", re.M)


class WorkerProcess:
    """A started worker: ``pid``, ``poll()``, ``wait()``, ``terminate()``, ``kill()``, and its log."""

    def __init__(self, name: str, module: str, args: list[str], *, log: Path, cwd: Path, env: dict,
                 keep_fds: tuple[int, ...] = ()):
        self.name = name
        self.started = time.time()
        self.log_path = Path(log)
        self.tail = bytearray()
        self.log_error: OSError | None = None
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        read_end, write_end = os.pipe()
        try:
            self.proc = subprocess.Popen(
                lifeline.command(os.getpid(), module, args), env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                stdout=write_end, stderr=write_end, pass_fds=keep_fds, process_group=0)
        except BaseException:
            for fd in (log_fd, read_end, write_end):
                os.close(fd)
            raise
        os.close(write_end)
        self.pid = self.proc.pid
        self._copier = threading.Thread(target=self._copy, args=(read_end, log_fd),
                                        name=f"log-{name}", daemon=True)
        self._copier.start()

    # -- the process -------------------------------------------------------------------------------

    def poll(self) -> int | None:
        return self.proc.poll()

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process, then for the last of its output to reach the log."""
        status = self.proc.wait(timeout)
        self._copier.join(5.0)       # a grandchild still holding the pipe must not hang the campaign
        return status

    def terminate(self) -> None:
        """SIGTERM to the worker's whole process group: it and whatever it started stop cleanly."""
        self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass

    # -- its output --------------------------------------------------------------------------------

    def _copy(self, read_end: int, log_fd: int) -> None:
        try:
            while chunk := os.read(read_end, 65536):
                self.tail += chunk
                del self.tail[:-_TAIL]
                if self.log_error is None:
                    try:
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(log_fd, view):]
                    except OSError as exc:
                        self.log_error = OSError(exc.errno, exc.strerror, str(self.log_path))
        finally:
            os.close(read_end)
            os.close(log_fd)

    def output_error(self, out: Path) -> OutputError | None:
        """The error of the environment this worker met, if it met one: its log could not be
        written, or it exited reporting an :class:`OSError` writing the output (``out``)."""
        if self.log_error is not None:
            return OutputError.from_os_error(self.log_error, out)
        status = self.proc.poll()
        if status is None or status == 0:
            return None
        text = self.tail.decode("utf-8", errors="replace")
        if status == ENVIRONMENT_EXIT:
            ours = list(_OUR_LINE.finditer(text))
            if ours:
                return OutputError(ours[-1]["path"], ours[-1]["reason"])
        for found in reversed(list(_PYTHON_OSERROR.finditer(text))):
            if issubclass(getattr(builtins, found["type"], Exception), OSError):
                exc = OSError(int(found["errno"]), found["reason"], found["path"])
                return OutputError.from_os_error(exc, out)
        if "libFuzzer: file size exceeded" in text:
            return OutputError.from_os_error(OSError(errno.EFBIG, os.strerror(errno.EFBIG)), out)
        return None
