"""The coverage-guided target: libFuzzer bytes -> program -> check -> findings.

Run it as a libFuzzer binary (``-fork``, ``-jobs``, ``-merge``,
``-minimize_crash`` all work, because a finding is recorded, not raised)::

    UNMAPFUZZ_CONFIG='{"out": "out/af", "platform": "arm64-4k-39", "mode": "stage2"}' \\
        python -m unmapfuzz.campaign.atheris_target out/af/corpus -max_total_time=60

``unmapfuzz fuzz --engine atheris`` runs it for you.  Only the
implementations are instrumented (:mod:`unmapfuzz.campaign.instrument`):
coverage of the model, the oracle or the logging would slow every run and
guide nothing.  That is why this module imports the implementations before
anything else of unmapfuzz does: ``atheris.instrument_imports`` only sees
modules imported inside it.

The configuration comes from the environment (``UNMAPFUZZ_CONFIG``, JSON), so
that libFuzzer's own children inherit it.  When it covers several
(platform, mode) pairs, the first input byte selects one; the rest is the
byte layout of :mod:`unmapfuzz.generation.generator`.  Each pair then runs
its own instrumented copy of the built-in walkers (:func:`coverage_per_geometry`).
"""
from __future__ import annotations

import json
import os
import signal
import sys

import atheris

from unmapfuzz.campaign.instrument import import_instrumented  # noqa: E402

import_instrumented()

from unmapfuzz.campaign.harness import CONFIG_ENV, worker_harness  # noqa: E402
from unmapfuzz.campaign.libfuzzer import child_argv  # noqa: E402
from unmapfuzz.generation.seeds import program_from_input  # noqa: E402
from unmapfuzz.impls import builtin_copies, is_builtin  # noqa: E402
from unmapfuzz.programs import geometries  # noqa: E402

DEFAULTS = {"out": "out/atheris", "platform": "arm64-4k-39", "mode": "stage2",
            "profile": "realistic", "impls": [], "max_ops": 12}


def load_config() -> dict:
    raw = os.environ.get(CONFIG_ENV)
    cfg = dict(DEFAULTS)
    if raw:
        try:
            cfg.update(json.loads(raw))
        except ValueError as exc:
            sys.exit(f"atheris_target: {CONFIG_ENV} is not JSON: {exc}")
    return cfg


def _instrument_module_of(fn) -> None:
    """Instrument every function defined in the module of ``fn``.

    ``instrument_imports`` only sees import statements; a file loaded by path
    (a user's ``--impl``, a copy of a built-in) is instrumented function by function.
    """
    module_dict = fn.__globals__          # a file loaded by path may not be in sys.modules
    for value in list(module_dict.values()):
        if getattr(value, "__module__", None) == fn.__module__ and hasattr(value, "__code__"):
            atheris.instrument_func(value)


def instrument_user_impls(chosen: dict) -> None:
    """Instrument every function of a user's ``--impl`` module."""
    for fn in chosen.values():
        if not is_builtin(fn):
            _instrument_module_of(fn)


def coverage_per_geometry(harness, platform: str, mode: str) -> None:
    """Give each (platform, mode) of a campaign over several its own instrumented copy of the
    built-in implementations (:func:`unmapfuzz.impls.builtin_copies`).

    libFuzzer keeps an input when it covers an edge no earlier input covered, and one
    walker's code serves every geometry: with one copy, an edge first reached on
    arm64-4k-48 counts as covered on all of them, and libFuzzer's time drifts to the
    geometries with the deepest tables (in a 60 s campaign, 51% of it to arm64-4k-48 and
    under 1% to each of two hyp modes).  With a copy per geometry, an edge is an edge of
    one geometry.  A user's ``--impl`` keeps one copy (its module may not bear being run
    twice).  The copies are the same source: every verdict is the same.

    The copies are made and instrumented here, before libFuzzer starts (about 0.1 s per
    geometry, 1 s for all ten).  Made lazily, at a geometry's first program, the counters
    atheris reserves mid-run do not count for the input that reserved them: which input
    of a geometry came first then changed what libFuzzer kept, and ``-merge=1`` of the
    same corpora twice no longer changed nothing (``tests/test_merge.py``).
    """
    pairs = geometries(platform, mode)
    if len(pairs) < 2:
        return
    shared = harness.impls

    def own(p: str, m: str) -> dict:
        copies = builtin_copies(f"{p}/{m}")
        for fn in copies.values():
            _instrument_module_of(fn)
        return {name: copies[name] if is_builtin(fn) else fn for name, fn in shared.items()}

    harness.geometry_impls = own
    for p, m in pairs:
        harness.impls_of(p, m)


def make_test_one_input(cfg: dict):
    harness = worker_harness(cfg, "atheris", instrument_user_impls)
    platform, mode, profile, max_ops = cfg["platform"], cfg["mode"], cfg["profile"], int(cfg["max_ops"])
    coverage_per_geometry(harness, platform, mode)

    current = harness.current
    sigmask, pending, deferred = signal.pthread_sigmask, signal.sigpending, {signal.SIGTERM}

    def test_one_input(data: bytes) -> None:
        if signal.SIGTERM in pending():                # one system call per input, not two
            sigmask(signal.SIG_UNBLOCK, deferred)      # a SIGTERM that came during the last input ends us here
            sigmask(signal.SIG_BLOCK, deferred)
        if current is not None:
            current.set(data)
        program = program_from_input(data, platform, mode, profile, max_ops)
        if program is not None:
            harness.run(program, keep_text=False)
        if current is not None:
            current.clear()

    return test_one_input, harness


_C_HANDLERS: list = []
"""The C ``atexit`` handlers registered by :func:`close_at_exit`, kept alive until the end."""


def close_at_exit(harness) -> None:
    """Close ``harness`` (its last counts and stats written) however the worker ends normally.

    libFuzzer ends a worker whose ``-runs`` or ``-max_total_time`` are done with C's
    ``exit()``, which runs C's ``atexit`` handlers but never returns to Python, so Python's
    own handlers do not run: without a C one, the counts of the last second and the stats
    of the last two were lost at the end of every atheris worker.  The C handler is
    registered with ``__cxa_atexit`` (what C's ``atexit`` calls: glibc exports no
    ``atexit`` symbol) and runs on the thread that called ``exit()``, between two inputs.
    Registered with Python too, it runs once.
    Ends that skip every handler (a kill, or libFuzzer's ``_Exit`` on SIGTERM, a crash or a
    timeout) lose at most those seconds, as before.
    """
    import atexit
    import ctypes

    closed = []

    def close(_arg=None) -> None:
        if not closed:
            closed.append(True)
            harness.close()

    atexit.register(close)
    try:
        handler = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(close)
        if ctypes.CDLL(None).__cxa_atexit(handler, None, None) == 0:
            _C_HANDLERS.append(handler)
    except (OSError, AttributeError):       # no C library to ask: Python's handler alone
        pass


def main(argv: list[str]) -> None:
    # libFuzzer ends the process inside its SIGTERM handler, wherever the target is:
    # in the middle of writing a bucket, that bucket would be lost half-built.  So
    # SIGTERM waits for the start of the next input (test_one_input), blocked in
    # every thread libFuzzer starts too (they inherit this mask).  A worker stuck in
    # one input is killed by whoever stops it (the campaign, the lifeline's backstop).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    cfg = load_config()
    test_one_input, harness = make_test_one_input(cfg)
    close_at_exit(harness)
    atheris.Setup(child_argv(argv, "unmapfuzz.campaign.atheris_target"), test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
