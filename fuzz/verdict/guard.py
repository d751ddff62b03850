"""Calling code under test so that nothing it does can take the caller down with it.

A user's ``unmap_range`` may do anything: raise any exception (``SystemExit``
and ``KeyboardInterrupt`` included), call ``os._exit``, loop forever without
touching the tables (where the model's step budget would catch it), sleep,
eat memory, write garbage into an entry.  Whatever it does must come back as
a verdict, ``crash`` or ``hang``, never as a dead, hung or traceback-printing
check, minimiser, replay or campaign.  :class:`Guard` wraps each call:

- **Any exception** is re-raised as :class:`ImplCrashed` (an ordinary
  ``Exception``) naming it, which the runner records as a ``crash``: the
  implementation raised, and that is its result.  A real Ctrl-C of the
  person at the keyboard is not the implementation's: the command line marks
  it (:func:`interrupt`) and it is re-raised as itself.
- **``os._exit``** is replaced while the implementation runs by a function
  that raises, so it becomes a ``crash`` too.  (``os.kill`` of its own
  process, or a crash of the interpreter, cannot be caught in-process: a
  campaign notices the worker die and turns its last program into a bucket.)
- **A deadline** (:data:`DEADLINE_SECONDS` per call, :data:`PROGRAM_SECONDS`
  for all of one program's calls): a watchdog thread
  signals the main thread (``SIGUSR2``), whose handler raises
  :class:`Deadline`; a signal interrupts ``time.sleep`` as well as a Python
  loop.  In another thread (the campaign's minimiser) the exception is raised
  asynchronously, which stops a loop but waits for a sleep to end.  It
  becomes a ``hang``, as a runaway walk does.  libFuzzer's own ``-timeout``
  (30 s) stays above it as the last resort.
- **Memory**: a call runs with the process's address space capped at what
  it uses plus :data:`MEMORY_LIMIT_MB` (``RLIMIT_AS``, lifted after the
  call), so a runaway allocation is a ``MemoryError``, hence a ``crash``,
  long before the machine swaps or libFuzzer's RSS limit kills the worker.
- **Garbage in an entry** is refused by the model itself at the write
  (:meth:`~unmapfuzz.impls.model.memory.Memory.write`: a ``crash``).

The built-in implementations cannot do any of this and are called directly;
:meth:`Guard.wrap` guards only the functions that are not ours.
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import threading
import time

from unmapfuzz.impls import is_builtin
from unmapfuzz.impls.model.memory import Fault

__all__ = ["Guard", "ImplCrashed", "Deadline", "interrupt", "DEADLINE_SECONDS",
           "PROGRAM_SECONDS", "MEMORY_LIMIT_MB"]

DEADLINE_SECONDS = float(os.environ.get("UNMAPFUZZ_DEADLINE", "2"))
"""Wall-clock seconds one call of a user's ``unmap_range`` may take (``UNMAPFUZZ_DEADLINE``)."""

PROGRAM_SECONDS = float(os.environ.get("UNMAPFUZZ_PROGRAM_DEADLINE", "10"))
"""Wall-clock seconds all the calls of one program may take together (``UNMAPFUZZ_PROGRAM_DEADLINE``)."""

MEMORY_LIMIT_MB = int(os.environ.get("UNMAPFUZZ_MEMORY_LIMIT_MB", "512"))
"""The memory one call of a user's ``unmap_range`` may take on top of what the process uses
(``UNMAPFUZZ_MEMORY_LIMIT_MB``)."""

_interrupted = threading.Event()


def interrupt() -> None:
    """Mark that a real interrupt (Ctrl-C, SIGTERM) is under way: the ``KeyboardInterrupt``
    it raises inside an implementation is the person's, not the implementation's."""
    _interrupted.set()


class ImplCrashed(Exception):
    """The implementation raised something an ordinary ``except Exception`` would miss,
    or tried to end the process; the message names what."""


class Deadline(BaseException):
    """Raised into an implementation that ran past its deadline."""


class _ExitCalled(BaseException):
    def __init__(self, status):
        super().__init__(f"os._exit({status!r}) called")


def _refuse_exit(status=0):
    raise _ExitCalled(status)


class _AddressSpace:
    """The address-space cap (``RLIMIT_AS``) a guarded call runs under: what the process
    uses now (measured by the watchdog about once a second) plus :data:`MEMORY_LIMIT_MB`.

    It is set for the call and lifted after it, not left on the process: a cap
    a process keeps is inherited by everything it starts (a campaign's workers,
    a browser), and a cap below what the process grows to would fail the
    harness's own allocations.  Two system calls per call."""

    def __init__(self, megabytes: int):
        self.budget = megabytes << 20
        self.soft, self.hard = resource.getrlimit(resource.RLIMIT_AS)
        self.page = resource.getpagesize()
        self.cap = self.soft
        self.measure()

    def measure(self) -> None:
        try:
            with open("/proc/self/statm", "rb") as f:
                used = int(f.read().split()[0]) * self.page
        except (OSError, ValueError, IndexError):
            self.cap = self.soft          # nowhere to measure: no cap
            return
        cap = used + self.budget
        if self.hard != resource.RLIM_INFINITY:
            cap = min(cap, self.hard)
        if self.soft != resource.RLIM_INFINITY:
            cap = min(cap, self.soft)
        self.cap = cap

    def enter(self) -> None:
        if self.cap != self.soft:
            try:
                resource.setrlimit(resource.RLIMIT_AS, (self.cap, self.hard))
            except (ValueError, OSError):
                pass

    def leave(self) -> None:
        if self.cap != self.soft:
            try:
                resource.setrlimit(resource.RLIMIT_AS, (self.soft, self.hard))
            except (ValueError, OSError):
                pass


class _Watchdog:
    """One daemon thread per process that ends overdue calls.

    A call past its deadline is interrupted, and again every quarter of a second after
    that while it is still running (an implementation may catch the first one).  Arming,
    disarming and firing hold one lock, so an interruption never outlives its call: one
    raised asynchronously but not yet delivered when the call ends is withdrawn."""

    _lock = threading.Lock()
    _instance: "_Watchdog | None" = None
    REPEAT = 0.25

    def __init__(self):
        self.armed: dict[int, list[float]] = {}      # thread id -> [deadline, next firing]
        self.memory = _AddressSpace(MEMORY_LIMIT_MB)
        self.fired: set[int] = set()
        self.lock = threading.Lock()
        self.main = threading.main_thread().ident
        try:
            signal.signal(signal.SIGUSR2, self._on_signal)
            self.signals = True
        except ValueError:            # set up from a non-main thread: asynchronous exceptions only
            self.signals = False
        threading.Thread(target=self._watch, name="unmapfuzz-watchdog", daemon=True).start()

    @classmethod
    def get(cls) -> "_Watchdog":
        with cls._lock:
            if cls._instance is None:
                cls._instance = _Watchdog()
            return cls._instance

    def _on_signal(self, *_args) -> None:
        if threading.get_ident() in self.fired and threading.get_ident() in self.armed:
            raise Deadline

    def _watch(self) -> None:
        measured = time.monotonic()
        while True:
            time.sleep(0.05)
            now = time.monotonic()
            if now - measured >= 1.0 and not self.armed:      # between calls: what the harness uses
                self.memory.measure()
                measured = now
            with self.lock:
                for ident, times in self.armed.items():
                    if now < times[1]:
                        continue
                    times[1] = now + self.REPEAT
                    self.fired.add(ident)
                    if ident == self.main and self.signals:
                        signal.pthread_kill(ident, signal.SIGUSR2)
                    else:
                        _set_async_exc(ident, Deadline)

    def arm(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self.lock:
            self.armed[threading.get_ident()] = [deadline, deadline]

    def disarm(self) -> None:
        ident = threading.get_ident()
        with self.lock:
            self.armed.pop(ident, None)
            if ident in self.fired:
                self.fired.discard(ident)
                if ident != self.main or not self.signals:
                    _set_async_exc(ident, None)      # withdraw one not delivered yet


def _forget_watchdog() -> None:
    """In a forked child the watchdog's thread is gone: the next guarded call starts another."""
    _Watchdog._instance = None
    _Watchdog._lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_watchdog)


def _set_async_exc(ident: int, exc) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                               None if exc is None else ctypes.py_object(exc))


class Guard:
    """Calls an implementation so that whatever it does comes back as an exception the
    runner records: a :class:`~unmapfuzz.impls.model.memory.Fault` (``hang`` past the
    deadline) or an ordinary exception (``crash``).

    One guard serves one program: besides each call's own deadline, the calls of a
    program share :data:`PROGRAM_SECONDS`, so that a program of many slow calls is a
    ``hang`` too, well before libFuzzer's ``-timeout`` ends the worker."""

    def __init__(self, deadline: float = DEADLINE_SECONDS, program: float = PROGRAM_SECONDS):
        self.deadline = deadline
        self.left = program

    def note(self, n: int, name: str) -> None:
        """Implementation ``name`` is about to run operation ``n`` (see :mod:`.isolate`)."""

    def wrap(self, fn):
        """``fn`` itself when it is built in, else ``fn`` guarded."""
        if is_builtin(fn):
            return fn
        watchdog = _Watchdog.get()
        memory = watchdog.memory

        def guarded(*args):
            seconds = min(self.deadline, self.left)
            if seconds <= 0:
                raise Fault("hang", "the program's calls ran out of their shared time "
                                    f"({PROGRAM_SECONDS:g} s)")
            real_exit = os._exit
            os._exit = _refuse_exit
            began = time.monotonic()
            watchdog.arm(seconds)
            memory.enter()
            try:
                return fn(*args)
            except Deadline:
                watchdog.disarm()
                raise Fault("hang", f"the call ran for more than {seconds:g} s without ending "
                                    "(a loop that reads no entry, a sleep)") from None
            except Exception:
                raise
            except KeyboardInterrupt as exc:
                if _interrupted.is_set():
                    raise
                raise ImplCrashed("KeyboardInterrupt raised") from exc
            except _ExitCalled as exc:
                raise ImplCrashed(str(exc)) from exc
            except BaseException as exc:
                raise ImplCrashed(f"{type(exc).__name__} raised: {exc}") from exc
            finally:
                memory.leave()
                watchdog.disarm()
                os._exit = real_exit
                self.left -= time.monotonic() - began

        guarded.__wrapped__ = fn
        return guarded
