"""What a worker is running right now, where its campaign can read it after the worker died.

A worker that dies in the middle of a program (a user's ``unmap_range``
killed its own process, or crashed the interpreter: nothing the guard of
:mod:`unmapfuzz.verdict.guard` can catch in-process) leaves no finding behind,
and for a ``SIGKILL`` not even a libFuzzer artifact.  So each worker keeps
the input it is running in a small memory-mapped file,
``OUT/workers/NAME.current``: setting it is a copy into shared memory, no
system call, so it costs nothing per execution, and it survives the death of
the process because the kernel owns the pages.  The campaign reads it when
the worker exits early (:mod:`.deaths`).

Layout: one byte of kind (``B``: libFuzzer bytes, ``T``: ``.ops`` text),
three zero bytes, the length (4 bytes, little-endian; 0 between programs),
then the input.  An input longer than :data:`CAPACITY` is recorded as
:data:`TOO_LONG`, with no bytes.
"""
from __future__ import annotations

import mmap
import os
from pathlib import Path

__all__ = ["CurrentInput", "read_current", "CAPACITY", "TOO_LONG"]

HEADER = 8
CAPACITY = 1 << 20
TOO_LONG = 0xFFFFFFFF


class CurrentInput:
    """The input a worker is running, kept in ``path`` (created or reused)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.ftruncate(fd, HEADER + CAPACITY)
            self.map = mmap.mmap(fd, HEADER + CAPACITY)
        finally:
            os.close(fd)
        self.clear()

    def set(self, data: bytes, kind: bytes = b"B") -> None:
        """Record ``data`` (``kind`` ``B`` for bytes, ``T`` for text) as the input now running."""
        n = len(data)
        if n > CAPACITY:
            self.map[:HEADER] = kind + b"\0\0\0" + TOO_LONG.to_bytes(4, "little")
            return
        self.map[4:HEADER] = b"\0\0\0\0"           # never a length with another input's bytes
        self.map[HEADER:HEADER + n] = data
        self.map[:HEADER] = kind + b"\0\0\0" + n.to_bytes(4, "little")

    def clear(self) -> None:
        """Between programs: nothing is running."""
        self.map[4:HEADER] = b"\0\0\0\0"


def read_current(path: Path) -> tuple[str, bytes] | None:
    """``(kind, input)`` from a worker's file, or None when it held none (or cannot be read).
    ``kind`` is ``"bytes"``, ``"text"`` or ``"too long"`` (then without the input)."""
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return None
    if len(raw) < HEADER:
        return None
    n = int.from_bytes(raw[4:HEADER], "little")
    kind = {b"B": "bytes", b"T": "text"}.get(raw[:1])
    if n == 0 or kind is None:
        return None
    if n == TOO_LONG:
        return "too long", b""
    return kind, raw[HEADER:HEADER + n]
