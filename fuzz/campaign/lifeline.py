"""A worker does not outlive its campaign.

Every campaign worker is started as ::

    python -m unmapfuzz.campaign.lifeline PARENT_PID MODULE [ARG...]

which, in the same process, arranges to be told of the campaign's death and
then runs ``python -m MODULE ARG...`` (the atheris target, or one of the
in-process engines of :mod:`.workers`).  Without it a ``kill -9`` of the
campaign alone left its workers fuzzing, orphaned, until somebody noticed.

How it is told: Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``),
set to SIGHUP, and, where there is no prctl, a thread that watches
``getppid()``.  Either way the worker then sends SIGTERM to its whole
process group: the campaign starts every worker as the leader of a group of
its own, so that the group is the worker and whatever it started (libFuzzer's
``-fork``/``-jobs`` children), and each stops as it does on any SIGTERM (the
engines flush their counts; libFuzzer prints its final stats).

Two details matter.  The parent-death signal comes when the *thread* that
started the worker ends, so the campaign starts workers from its main thread
(a restart loop must too).  And the campaign may already be gone by the time
the signal is armed; the lifeline compares ``getppid()`` with PARENT_PID
right after arming it, so that window is closed too.

Nothing of :mod:`unmapfuzz.impls` is imported here: the atheris target must
be the first to import it, inside ``atheris.instrument_imports``.
"""
from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time

__all__ = ["command", "hold", "main"]

PR_SET_PDEATHSIG = 1
SIGNAL = signal.SIGHUP
BACKSTOP_SECONDS = 15.0


def command(parent_pid: int, module: str, args: list[str]) -> list[str]:
    """The command line that runs ``python -m MODULE ARGS`` tied to process ``parent_pid``."""
    return [sys.executable, "-m", "unmapfuzz.campaign.lifeline", str(parent_pid), module, *args]


def _orphaned(*_args) -> None:
    """The campaign is gone: stop this worker and everything it started, and make sure
    of it: a worker that has not stopped :data:`BACKSTOP_SECONDS` later (it is stuck in
    code that never returns, with SIGTERM deferred) is killed."""
    group = os.getpgrp() == os.getpid()
    if group:
        os.killpg(os.getpid(), signal.SIGTERM)
    else:                        # not a group leader (run by hand): stop just this process
        os.kill(os.getpid(), signal.SIGTERM)

    def backstop() -> None:
        time.sleep(BACKSTOP_SECONDS)
        if group:
            os.killpg(os.getpid(), signal.SIGKILL)
        else:
            os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=backstop, name="lifeline-backstop", daemon=True).start()


def _arm_pdeathsig() -> bool:
    """Ask the kernel for SIGNAL when the parent dies; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(SIGNAL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int, every: float = 1.0) -> None:
    while os.getppid() == parent_pid:
        time.sleep(every)
    os.kill(os.getpid(), SIGNAL)


def hold(parent_pid: int) -> None:
    """Stop this process group when process ``parent_pid`` (our parent) dies."""
    signal.signal(SIGNAL, _orphaned)
    if not _arm_pdeathsig():
        threading.Thread(target=_watch, args=(parent_pid,), name="lifeline", daemon=True).start()
    if os.getppid() != parent_pid:           # it died before the signal was armed
        _orphaned()


def main(argv: list[str]) -> None:
    if len(argv) < 3 or not argv[1].isdigit():
        sys.exit("usage: python -m unmapfuzz.campaign.lifeline PARENT_PID MODULE [ARG...]")
    parent_pid, module = int(argv[1]), argv[2]
    hold(parent_pid)
    sys.argv = [module, *argv[3:]]           # run_module puts the module's path in argv[0]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv)
