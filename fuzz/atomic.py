"""Writing files so that a crash or ``kill -9`` never leaves half of one.

boltons' :class:`~boltons.fileutils.AtomicSaver` does the work (a part file in
the same directory, flushed and fsynced, renamed over the destination, the
destination's permission bits kept).  Its default part file is always
``DEST.part``, which a ``kill -9`` leaves behind to block the next save, so
each write here gets a part file of its own, named ``.DEST.PID.RANDOM.part``;
:func:`stale_parts` finds the ones a killed writer left.

A write that fails (a full disk, a file size limit, a read-only directory)
removes its part file and raises :class:`OSError` naming the destination, so
the message a user reads says which file could not be written, not which
temporary.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from boltons.fileutils import AtomicSaver

PART_SUFFIX = ".part"


def atomic_write(path: str | os.PathLike[str], text: str | bytes) -> None:
    """Replace ``path`` with ``text`` (UTF-8 when a ``str``) in one rename."""
    path = os.fspath(path)
    part = f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}{PART_SUFFIX}"
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        with AtomicSaver(path, part_file=part, overwrite_part=True) as f:
            f.write(data)
    except OSError as exc:
        # AtomicSaver's own clean-up is skipped when its final flush is what failed.
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(os.path.dirname(path) or ".", part))
        raise OSError(exc.errno, exc.strerror or str(exc), path) from exc


def replace_file(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` in one rename, without ``fsync``: for a file written
    many times a second whose last version may be lost to a power cut, never to a
    ``kill -9`` (the page cache outlives the process) and never half-written (a
    campaign's per-process count files).  The part file is named as
    :func:`atomic_write`'s, so :func:`stale_parts` finds it."""
    path = os.fspath(path)
    part = os.path.join(os.path.dirname(path) or ".",
                        f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}{PART_SUFFIX}")
    try:
        with open(part, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(part, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise OSError(exc.errno, exc.strerror or str(exc), path) from exc


def stale_parts(directory: str | os.PathLike[str]) -> list[Path]:
    """Part files a killed writer left in ``directory`` (not recursive)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return [p for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(PART_SUFFIX)]
