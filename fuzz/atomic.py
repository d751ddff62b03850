"""Writing files so that a crash or ``kill -9`` never leaves half of one."""
from __future__ import annotations

import os
import tempfile


def atomic_write(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to a temporary file in the same directory and rename it
    over ``path``; the file keeps its permission bits."""
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
