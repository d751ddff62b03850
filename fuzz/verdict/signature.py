"""What a finding means, as a key: implementation, kind, platform, mode, level.

Findings are bucketed by signature, never by the line of an assert: a shared
assert would collapse every bug into one bucket, and a changed line would
split one bug into two.  ``IMPL`` is an implementation's name or ``map`` (the
shared map path, see :mod:`unmapfuzz.verdict.check`); ``KIND`` is a finding
kind, or ``divergence`` for a state that differs from the baseline's, whose
level is then the aspect (``translations``, ``tables``, ``freed``, ``tlb``).
"""
from __future__ import annotations

from dataclasses import dataclass

from .check import ASPECT_LEVEL, Verdict

__all__ = ["Signature", "signatures", "judged", "ASPECT_LEVEL"]


@dataclass(frozen=True, slots=True, order=True)
class Signature:
    impl: str
    kind: str
    platform: str
    mode: str
    level: str

    def __str__(self) -> str:
        return f"{self.impl}/{self.kind}/{self.platform}/{self.mode}/{self.level}"

    @classmethod
    def parse(cls, text: str) -> "Signature":
        parts = text.strip().split("/")
        if len(parts) != 5 or not all(parts):
            raise ValueError(f"signature {text!r}: expected IMPL/KIND/PLATFORM/MODE/LEVEL")
        return cls(*parts)

    def to_json(self) -> dict:
        return {"signature": str(self), "impl": self.impl, "kind": self.kind,
                "platform": self.platform, "mode": self.mode, "level": self.level}


def judged(verdict: Verdict) -> dict[Signature, bool]:
    """Every signature the verdict shows, and whether the baseline explains it: True when
    every finding with that signature is one the baseline shows too on this program."""
    if verdict.invalid:
        return {}
    prog = verdict.program
    out: dict[Signature, bool] = {}
    for f in verdict.findings:
        sig = Signature(f.impl, f.kind, prog.platform, prog.mode, f.level)
        out[sig] = out.get(sig, True) and f.as_baseline
    return dict(sorted(out.items()))


def signatures(verdict: Verdict) -> list[Signature]:
    """Every distinct signature a verdict shows, in a stable order."""
    return list(judged(verdict))
