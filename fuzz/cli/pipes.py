"""Exit statuses that survive ``| head``.

``unmapfuzz check corpus/*.ops | head -1`` must exit with check's status,
not with a broken-pipe traceback, not 0 and not Python's 120.  Python
ignores SIGPIPE, so once the reader has gone every write to stdout raises
:class:`BrokenPipeError`, from the middle of a command or from the flush at
exit.  While a command runs, :func:`pipe_safe_streams` puts a thin wrapper
around ``sys.stdout`` and ``sys.stderr``: the first write that finds the pipe
broken points the file descriptor at ``/dev/null`` (so the buffered bytes and
every later write go nowhere, quietly), and the command runs to its end and
returns its own status.  Nobody is reading any more; what would have been
printed does not matter, what the command does and how it ends does.

Any other error writing stdout (``> /dev/full``) is the command's to report
(exit 2); when the command has ended, whatever stdout still could not take is
dropped the same way, so that Python's own flush at exit cannot turn the
status into 120.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys

__all__ = ["pipe_safe_streams"]


class _PipeSafe:
    """A text stream that turns into ``/dev/null`` when its reader goes away."""

    def __init__(self, stream, name: str):
        self._stream = stream
        self._name = name
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._divert()
            except OSError as exc:
                raise self._named(exc)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._divert()
            except OSError as exc:
                raise self._named(exc)

    def _named(self, exc: OSError) -> OSError:
        """``exc`` naming the stream, so the message says what could not be written."""
        if exc.filename is None:
            exc.filename = self._name
        return exc

    def _divert(self) -> None:
        self.broken = True
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return          # not a file descriptor (a test's capture): dropping the writes is enough
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()          # what the buffer held goes to /dev/null now

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def pipe_safe_streams():
    """Run the body with broken-pipe-proof ``sys.stdout``/``sys.stderr``; restore them after."""
    saved = sys.stdout, sys.stderr
    wrapped = _PipeSafe(sys.stdout, "<stdout>"), _PipeSafe(sys.stderr, "<stderr>")
    sys.stdout, sys.stderr = wrapped
    try:
        yield
    finally:
        for stream in wrapped:
            try:
                stream.flush()
            except (OSError, ValueError):
                stream._divert()
        sys.stdout, sys.stderr = saved
