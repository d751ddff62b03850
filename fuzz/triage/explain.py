"""Findings in kernel terms: one line per signature, and reproducer files.

:func:`explain` turns a verdict's first violation for a signature into one
sentence a maintainer reads in a minute ("op 1 (unmap 0x0 0x100000000): the
pte at IPA 0x80001000 is still mapped: ..."); :func:`reproducer_text` writes a
program as a commented ``.ops`` reproducer with its ``expect`` lines.
"""
from __future__ import annotations

import shlex

from unmapfuzz.programs import Expect, Program, format_op
from unmapfuzz.programs import format as format_program
from unmapfuzz.verdict.check import DEFAULT_BASELINE, MAP_PATH, Verdict, check
from unmapfuzz.verdict.signature import Signature

__all__ = ["explain", "reproducer_text", "replay_options"]

_WHAT = {
    "still-mapped": "the {level} at {at} is still mapped",
    "over-unmapped": "the {level} at {at} was unmapped though the operation did not cover it",
    "map-mismatch": "the {level} at {at} does not translate as mapped",
    "leaked-table": "the {level} table at {at} was unlinked but never freed",
    "retained-empty-table": "the {level} table covering {at} was emptied but not freed",
    "freed-live-page": "a {level} table page covering {at} was freed while still in use",
    "freed-non-table": "a page that is not a table was freed as a {level} table at {at}",
    "refcount-mismatch": "the {level} table covering {at} has the wrong page refcount",
    "refcount-underflow": "a {level} table page refcount went below zero at {at}",
    "double-free": "a {level} table page was freed twice at {at}",
    "use-after-free": "a freed {level} table was used at {at}",
    "missing-tlbi": "the {level} at {at} was removed without a TLB flush",
    "tlbi-order": "the TLB flush for the {level} at {at} came at the wrong time",
    "out-of-bounds": "the walk went outside a {level} table at {at}",
    "hang": "the walk did not terminate ({level} level, {at})",
    "crash": "the implementation raised at {at}",
}


def explain(verdict: Verdict, signature: Signature) -> str:
    """One line: what went wrong for ``signature``, in kernel terms, from its first finding.

    E.g. ``op 1 (unmap 0x0 0x100000000): the pte at IPA 0x80001000 is still
    mapped: 0x80001000 -> 0x80001000 intersects the range and is still mapped``.
    A map-path finding says so (``the map path: ...``); a finding the baseline
    shows too says that.  Raises :class:`ValueError` when the verdict does not
    show the signature.
    """
    prog = verdict.program
    for f in verdict.findings:
        if (f.impl, f.kind, f.level) != (signature.impl, signature.kind, signature.level):
            continue
        where = f"op {f.op} ({format_op(prog.ops[f.op])})" if f.op < len(prog.ops) else f"op {f.op}"
        if f.kind == "divergence":
            return f"{where}: {f.detail}"
        level = "entry" if f.level == "none" else f"{f.level}"
        if f.level == "none" and f.kind in ("out-of-bounds", "use-after-free"):
            level = "none entry's"
        at = "no IPA" if f.ipa is None else f"IPA {f.ipa:#x}"
        what = _WHAT.get(f.kind, f.kind + " of the {level} at {at}").format(level=level, at=at)
        who = "the map path: " if f.impl == MAP_PATH else ""
        also = f" (the baseline {verdict.baseline} shows it too)" if f.as_baseline else ""
        return f"{where}: {who}{what}: {f.detail}{also}"
    raise ValueError(f"the verdict does not show {signature}")


def replay_options(specs: dict[str, str] | None, baseline: str | None = DEFAULT_BASELINE) -> list[str]:
    """The options that run the same implementations again: ``--impl NAME=SPEC`` for each
    user implementation (``specs``: name -> spec, built-ins naming themselves) and
    ``--baseline`` when it is not the default."""
    options = [f"--impl {shlex.quote(f'{name}={spec}')}" for name, spec in (specs or {}).items() if spec != name]
    if baseline not in (None, DEFAULT_BASELINE):
        options.append(f"--baseline {shlex.quote(baseline)}")
    return options


def reproducer_text(program: Program, signature: Signature, explanation: str, *,
                    verdict: Verdict | None = None, impls: dict | None = None,
                    profile: str | None = None, file: str = "FILE", options: list[str] | tuple = (),
                    baseline: str | None = DEFAULT_BASELINE) -> str:
    """The ``.ops`` text of a reproducer: a ``#`` header (signature, explanation,
    how to replay: ``unmapfuzz check FILE OPTIONS``), the program, and one
    ``expect`` line per implementation that ran, yours included, recording its
    current verdict.  ``verdict`` defaults to checking ``program`` with
    ``impls``, ``profile`` and ``baseline``.
    """
    if verdict is None:
        verdict = check(program, impls, profile or program.profile, baseline=baseline)
    if verdict.invalid:
        raise ValueError(f"cannot record an invalid program: {verdict.invalid}")
    expects = tuple(Expect(name, r.kinds) for name, r in verdict.results.items())
    header = (f"signature: {signature}",
              explanation,
              " ".join(["replay: unmapfuzz check", file, *options]))
    return format_program(Program(program.platform, program.mode, program.ops,
                                  program.profile, expects), header=header)
