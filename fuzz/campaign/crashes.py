"""From a fuzzing service's crash input back to a reproducer and a bucket.

ClusterFuzzLite and OSS-Fuzz report a finding as the bytes that made a
service target raise (:mod:`unmapfuzz.campaign.service`).  Those bytes mean a
program only under that target's configuration, so :func:`import_crash`
decodes them with it, checks the program, and returns the program as an
``.ops`` reproducer.  Given a campaign directory it also records every
signature there, exactly as a campaign's worker would (a new bucket, or one
more count on an existing one), and minimises the new buckets.

Importing the same crash input twice counts it once: its count file is named
after the input's hash, not after the importing process.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from unmapfuzz.generation.seeds import program_from_input
from unmapfuzz.programs import Program
from unmapfuzz.programs import format as format_program
from unmapfuzz.verdict.check import Verdict, check
from unmapfuzz.verdict.signature import Signature, signatures

from .service import ServiceTarget, finding_text, new_signatures

__all__ = ["CrashInputError", "CrashImport", "import_crash"]


class CrashInputError(ValueError):
    """The crash input cannot be read or decodes to no program; ``str()`` says ``FILE: why``."""


@dataclass
class CrashImport:
    file: str
    target: ServiceTarget
    program: Program
    verdict: Verdict
    shown: list[Signature]
    new: list[Signature]
    text: str                                          # the reproducer, .ops
    buckets: list[str] = field(default_factory=list)   # bucket directories written to (with an out)
    created: list[str] = field(default_factory=list)   # signatures whose bucket this import created


def import_crash(path: str | Path, t: ServiceTarget, out: Path | None = None, *,
                 known: str | None = None, minimize: bool = True) -> CrashImport:
    """Decode the crash input at ``path`` as target ``t`` does and check its program;
    with ``out``, record its signatures in ``out/findings`` and minimise new buckets."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CrashInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    program = program_from_input(data, t.platform, t.mode, t.profile, t.max_ops)
    if program is None:
        raise CrashInputError(f"{path}: an empty input is no program for {t.name} "
                              "(its first byte selects the platform and mode)")
    verdict = check(program, None, t.profile)
    if verdict.invalid:
        raise CrashInputError(f"{path}: decodes to a program that is invalid under {t.profile}: {verdict.invalid}")
    shown = signatures(verdict)
    new = new_signatures(verdict, t.profile, known)
    result = CrashImport(str(path), t, program, verdict, shown, new, finding_text(verdict, shown, t.name, new))
    if out is not None and shown:
        _record(result, data, Path(out), minimize)
    return result


def _record(result: CrashImport, data: bytes, out: Path, minimize: bool) -> None:
    from .log import make_logger
    from .store import FindingStore, slug
    log = make_logger(out, role="crash")
    # One count per input, however often it is imported.
    store = FindingStore(out, log, count_id="crash-" + hashlib.sha1(data).hexdigest()[:16])
    text = format_program(result.program, header=(f"from the crash input {Path(result.file).name} "
                                                  f"of fuzz target {result.target.name}",))
    for sig in result.shown:
        if store.record(sig, text, result.verdict.to_json()):
            result.created.append(str(sig))
        result.buckets.append(str(store.findings / slug(sig)))
    store.flush_all()
    log.info("crash_imported", file=result.file, target=result.target.name,
             signatures=[str(s) for s in result.shown], new=[str(s) for s in result.new])
    if minimize and result.created:
        from .minimizer import Minimizer
        minimizer = Minimizer(out, [], result.target.profile, log)
        while minimizer.step():
            pass
