"""The service fuzz targets at run time: libFuzzer bytes -> program -> check -> raise if new.

``fuzzers/NAME.py`` (what ``compile_python_fuzzer`` builds) is two lines that
call :func:`main` with the target's name; see :mod:`unmapfuzz.campaign.service`
for the targets and why they raise.  Like :mod:`unmapfuzz.campaign.atheris_target`,
this module imports the implementations itself, inside
``atheris.instrument_imports``, before anything else of unmapfuzz can: only
:mod:`unmapfuzz.impls` is instrumented.

It writes nothing: no finding store, no log, no stats.  What a service keeps
is its corpus and its crash inputs, and ``unmapfuzz crash`` turns a crash
input back into a reproducer and a bucket.
"""
from __future__ import annotations

import os
import sys

import atheris

from unmapfuzz.campaign.instrument import import_instrumented

import_instrumented()

from unmapfuzz.campaign.libfuzzer import child_argv  # noqa: E402
from unmapfuzz.campaign.service import KNOWN_ENV, NewFinding, finding_text, new_signatures, target  # noqa: E402
from unmapfuzz.generation.seeds import program_from_input  # noqa: E402
from unmapfuzz.verdict.check import check  # noqa: E402
from unmapfuzz.verdict.known import KnownListError, read_known  # noqa: E402


def make_test_one_input(name: str, known: str | None = None):
    """The ``TestOneInput`` of target ``name``: raises :class:`NewFinding` on a new finding."""
    t = target(name)

    def test_one_input(data: bytes) -> None:
        program = program_from_input(data, t.platform, t.mode, t.profile, t.max_ops)
        if program is None:
            return
        verdict = check(program, None, t.profile)
        new = new_signatures(verdict, t.profile, known)
        if new:
            raise NewFinding("\n" + finding_text(verdict, new, t.name))

    return test_one_input


def main(name: str, argv: list[str]) -> None:
    """Run target ``name`` under libFuzzer with ``argv``'s flags (``-runs``, ``-max_total_time``, ...)."""
    known = os.environ.get(KNOWN_ENV) or None
    if known is not None:
        try:
            read_known(known)
        except KnownListError as exc:
            sys.exit(f"{name}: {exc}")
    atheris.Setup(child_argv(argv), make_test_one_input(name, known))
    atheris.Fuzz()
