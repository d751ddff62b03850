"""User implementations that attack the process running them, not the page tables.

Each is ``impls/v3.py`` that, on an unmap of exactly one page, first does one
hostile thing a user's code might do by mistake: end the process
(``sys.exit``, ``os._exit``, a ``KeyboardInterrupt``, any ``BaseException``),
never return (a loop that reads no entry, a sleep), eat memory, write
something that is not a descriptor, or kill its own process.  On every other
unmap it is v3, so a campaign has plenty to do besides.  ``HOSTILE`` maps
each to the finding kind it must give (``kill`` gives it only in a campaign,
which survives the worker's death; see tests/test_guard.py).

Loaded by path as a user's would be: ``--impl NAME=tests/hostileimpls.py:FUNC``.
"""
from __future__ import annotations

import os
import signal
import sys
import time

from unmapfuzz.impls import v3


class Hostile(BaseException):
    """An exception of the user's own that ``except Exception`` would miss."""


def _on_one_page(act):
    def unmap_range(k, kvm, pgdp, start, size):
        if size == k.PAGE_SIZE:
            act(k, pgdp, start)
        v3.unmap_range(k, kvm, pgdp, start, size)
    unmap_range.__name__ = unmap_range.__qualname__ = act.__name__
    return unmap_range


def _eat(*_args):
    hoard = []
    while True:
        hoard.append(bytearray(64 << 20))


def _spin(*_args):
    n = 0
    while True:
        n += 1


class _GarbageWriter:
    """``k`` whose ``kvm_set_pte`` stores a string where a descriptor belongs."""

    def __init__(self, k):
        self._k = k

    def __getattr__(self, name):
        return getattr(self._k, name)

    def kvm_set_pte(self, pte, value):
        self._k.kvm_set_pte(pte, str(value))


def garbage(k, kvm, pgdp, start, size):
    """v3, but clearing a pte writes the string "0"."""
    v3.unmap_range(_GarbageWriter(k) if size == k.PAGE_SIZE else k, kvm, pgdp, start, size)


sys_exit = _on_one_page(lambda *_: sys.exit(3))
os_exit = _on_one_page(lambda *_: os._exit(7))
keyboard_interrupt = _on_one_page(lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
base_exception = _on_one_page(lambda *_: (_ for _ in ()).throw(Hostile("mine")))
spin = _on_one_page(_spin)
sleep = _on_one_page(lambda *_: time.sleep(3600))
eat_memory = _on_one_page(_eat)
kill = _on_one_page(lambda *_: os.kill(os.getpid(), signal.SIGKILL))

for _fn, _name in ((sys_exit, "sys_exit"), (os_exit, "os_exit"), (keyboard_interrupt, "keyboard_interrupt"),
                   (base_exception, "base_exception"), (sleep, "sleep"), (kill, "kill")):
    _fn.__name__ = _fn.__qualname__ = _name

HOSTILE = {
    "sys_exit": "crash",
    "os_exit": "crash",
    "keyboard_interrupt": "crash",
    "base_exception": "crash",
    "spin": "hang",
    "sleep": "hang",
    "eat_memory": "crash",
    "garbage": "crash",
}
"""In-process hostility and the finding it must give; ``kill`` is not here: no process survives it."""
