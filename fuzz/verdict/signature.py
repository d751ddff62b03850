"""What a finding means, as a key: implementation, kind, platform, mode, level.

Findings are bucketed by signature, never by the line of an assert: a shared
assert would collapse every bug into one bucket, and a changed line would
split one bug into two.  A divergence between implementations that both
satisfy the oracle gets the kind ``divergence`` and, as its level, the aspect
they differ in.
"""
from __future__ import annotations

from dataclasses import dataclass

from .check import ASPECTS, Verdict


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


ASPECT_LEVEL = dict(zip(ASPECTS, ("translations", "tables", "freed", "tlb")))


def signatures(verdict: Verdict) -> list[Signature]:
    """Every distinct signature a verdict shows, in a stable order."""
    if verdict.invalid:
        return []
    prog = verdict.program
    found = set()
    for name, result in verdict.results.items():
        # Only the first operation that went wrong: what follows it runs on a
        # state the kernel should never have reached, and its findings are
        # consequences (the fuzzer meets the independent ones on their own).
        first = result.violations[0].op if result.violations else None
        for v in result.violations:
            if v.op == first:
                found.add(Signature(name, v.kind, prog.platform, prog.mode, v.level))
    clean = {n for n, r in verdict.results.items() if r.status == "ok"}
    for divergence in verdict.divergences:
        if divergence.aspect not in ASPECT_LEVEL:
            continue
        # Only a divergence among implementations the oracle passed is news:
        # otherwise a violation already names it.
        members = [g for g in divergence.groups if set(g) <= clean]
        if len(members) > 1:
            for g in members:
                found.add(Signature(",".join(g), "divergence", prog.platform, prog.mode,
                                    ASPECT_LEVEL[divergence.aspect]))
    return sorted(found)
