"""``check()`` in a child process, for code that may kill the process running it.

The guard (:mod:`.guard`) turns whatever a user's ``unmap_range`` does inside
the process into a ``crash`` or ``hang`` finding.  What it cannot catch ends
the process: ``os.kill`` of itself, a crash of the interpreter (``ctypes``), a
signal it blocked.  A campaign survives that by restarting its worker; the
commands (``check``, ``replay``, ``minimize``) survive it here:
:func:`check_isolated` runs :func:`~.check.check` in a forked child when any
implementation is not built in, and the child sends its verdict back through
a pipe.

While it runs, the child keeps the operation and the implementation of each
guarded call in memory shared with the parent (:meth:`Guard.note`).  If it
dies, the parent knows who was running where, and checks the program again in
a new child in which that implementation's call at that operation raises
:class:`~.guard.ImplCrashed` ("the process was killed by SIGKILL") instead of
running: a ``crash`` of that implementation at that operation, judged like any
other finding.  A child that outlives :data:`CHILD_SECONDS` is a ``hang`` of
the call it was in.  Each round replaces one call, so there are at most as many
rounds as implementations.

With built-in implementations only, or where ``fork`` does not exist,
:func:`check_isolated` is :func:`~.check.check` itself.
"""
from __future__ import annotations

import mmap
import os
import pickle
import select
import signal
import struct
import time

from unmapfuzz.impls import is_builtin
from unmapfuzz.programs import Map, Program

from .check import DEFAULT_BASELINE, Verdict, check
from .guard import PROGRAM_SECONDS, Guard, ImplCrashed

__all__ = ["check_isolated", "CHILD_SECONDS"]

CHILD_SECONDS = 2 * PROGRAM_SECONDS + 30
"""How long one child may take before the call it is in counts as a hang."""

_NOTE = struct.Struct("<iH64s")       # operation, name length, name


class _NotingGuard(Guard):
    """A guard that writes, before each call, which operation and implementation it is."""

    def __init__(self, shared: mmap.mmap, **kw):
        super().__init__(**kw)
        self.shared = shared

    def note(self, n: int, name: str) -> None:
        raw = name.encode()[:64]
        self.shared[:_NOTE.size] = _NOTE.pack(n, len(raw), raw)


def _read_note(shared: mmap.mmap) -> tuple[int, str] | None:
    n, length, raw = _NOTE.unpack(shared[:_NOTE.size])
    return None if n < 0 else (n, raw[:length].decode(errors="replace"))


def _killed(fn, calls_before: int, why: str):
    """``fn``, except that its call number ``calls_before`` (counting from 0) raises ``why``."""
    seen = [0]

    def unmap_range(*args):
        seen[0] += 1
        if seen[0] > calls_before:
            raise ImplCrashed(why)
        return fn(*args)

    unmap_range.__wrapped__ = fn
    return unmap_range


def _how(status: int | None) -> str:
    if status is None:
        return f"ran for more than {CHILD_SECONDS:g} s and was killed"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"was killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"was killed by signal {sig}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def _run_child(program: Program, impls: dict, profile, baseline, kw) -> tuple[Verdict | None, int | None,
                                                                               tuple[int, str] | None]:
    """Check in a forked child: ``(verdict, None, None)``, or ``(None, status, note)`` when the
    child died (``status`` None: it ran out of time and was killed)."""
    shared = mmap.mmap(-1, _NOTE.size)
    shared[:_NOTE.size] = _NOTE.pack(-1, 0, b"")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                     # the child: check, send, leave without cleanup
        status = 70
        try:
            os.close(read_end)
            guard = _NotingGuard(shared)
            verdict = check(program, impls, profile, baseline=baseline, guard=guard, **kw)
            data = pickle.dumps(verdict, protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(data)
            while view:
                view = view[os.write(write_end, view):]
            status = 0
        except BaseException:                         # noqa: BLE001 - the parent reports the death
            pass
        finally:
            os._exit(status)
    os.close(write_end)
    chunks, deadline, status = [], time.monotonic() + CHILD_SECONDS, None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([read_end], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(read_end, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        else:
            _, status = os.waitpid(pid, 0)
    finally:
        os.close(read_end)
    note = _read_note(shared)
    shared.close()
    if status == 0 and chunks:
        return pickle.loads(b"".join(chunks)), None, None
    return None, status, note


def check_isolated(program: Program, impls: dict | None = None, profile: str | None = None, *,
                   baseline: str | None = DEFAULT_BASELINE, **kw) -> Verdict:
    """:func:`~.check.check`, in a child process when any implementation is a user's (see the
    module docstring); the same verdict, or one with a ``crash``/``hang`` for the code that
    killed the child."""
    if impls is None or all(is_builtin(fn) for fn in impls.values()) or not hasattr(os, "fork"):
        return check(program, impls, profile, baseline=baseline, **kw)
    impls = dict(impls)
    for _ in range(len(impls) + 1):
        verdict, status, note = _run_child(program, impls, profile, baseline, kw)
        if verdict is not None:
            return verdict
        if note is None or note[1] not in impls:
            break                                      # it died outside any implementation's call
        n, name = note
        calls_before = sum(1 for op in program.ops[:n] if not isinstance(op, Map))
        what = "hang" if status is None else "crash"
        why = f"the process running it {_how(status)} during this call"
        if what == "hang":
            impls[name] = _hanging(impls[name], calls_before, why)
        else:
            impls[name] = _killed(impls[name], calls_before, why)
    return _unexplained(program, impls, profile, baseline, kw)


def _hanging(fn, calls_before: int, why: str):
    """``fn``, except that its call number ``calls_before`` is a hang (raised as the guard
    raises one)."""
    from unmapfuzz.impls.model.memory import Fault
    seen = [0]

    def unmap_range(*args):
        seen[0] += 1
        if seen[0] > calls_before:
            raise Fault("hang", why)
        return fn(*args)

    unmap_range.__wrapped__ = fn
    return unmap_range


def _unexplained(program, impls, profile, baseline, kw) -> Verdict:
    """The child died where no implementation was running: every user implementation's first
    call is marked a crash, so that the death is a finding and not a silent pass."""
    user = {name: _killed(fn, 0, "the process checking this program died outside any call")
            for name, fn in impls.items() if not is_builtin(fn)}
    return check(program, {**impls, **user}, profile, baseline=baseline, **kw)
