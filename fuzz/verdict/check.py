"""``check(program) -> Verdict``: the one property every driver calls.

Each implementation runs the program on its own machine; the oracle checks
its machine after every operation.  An implementation's run ends at the first
memory-safety fault (the kernel would have oopsed or corrupted memory there)
or Python exception (a ``crash``: the implementation raised, which is a result,
not a harness error).  The implementations are then compared with each other
on their normalised final state, so a difference shows even where both satisfy
the oracle.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field

from unmapfuzz.impls import BUILTIN
from unmapfuzz.impls.model.mapping import Machine
from unmapfuzz.impls.model.memory import Fault
from unmapfuzz.programs import Map, Program
from unmapfuzz.reference.observe import observe
from unmapfuzz.reference.oracle import Oracle, Violation
from unmapfuzz.reference.profiles import validate

STATUS_BY_KIND = {"hang": "hang", "crash": "crash"}


@dataclass(slots=True)
class ImplResult:
    name: str
    status: str
    violations: list[Violation]
    final: tuple | None = None        # normalised final state, for comparison

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted({v.kind for v in self.violations}))

    def to_json(self) -> dict:
        return {"status": self.status, "violations": [v.to_json() for v in self.violations]}


# Flushes are compared by what they covered (which removed translations and
# unlinked tables saw a flush inside them), not by the exact IPA: 3.15 flushes
# the address it stopped at, 3.16 the start of the table's range, and both are
# right.
ASPECTS = ("translations", "live tables and refcounts", "freed tables", "TLB flush coverage")


@dataclass(frozen=True, slots=True)
class Divergence:
    """Implementations that disagree: on how their runs ended (``aspect == "run"``,
    each group labelled with its status) or on one aspect of their final state.

    Its one text form is ``ASPECT: a, b | c`` (``run: a, b completed | c crash``).
    """

    aspect: str
    groups: tuple[tuple[str, ...], ...]
    labels: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [", ".join(g) + (f" {label}" if label else "")
                 for g, label in zip(self.groups, self.labels or ("",) * len(self.groups))]
        return f"{self.aspect}: " + " | ".join(parts)


@dataclass(slots=True)
class Verdict:
    program: Program
    results: dict[str, ImplResult] = field(default_factory=dict)
    divergences: list[Divergence] = field(default_factory=list)
    invalid: str | None = None

    @property
    def divergent(self) -> bool:
        return bool(self.divergences)

    @property
    def clean(self) -> bool:
        return self.invalid is None and not self.divergent and all(
            r.status == "ok" for r in self.results.values())

    def to_json(self, file: str | None = None) -> dict:
        return {"file": file, "platform": self.program.platform, "mode": self.program.mode,
                "invalid": self.invalid,
                "impls": {name: r.to_json() for name, r in self.results.items()},
                "divergent": self.divergent, "divergences": [str(d) for d in self.divergences]}


class ImplRun:
    """One implementation's machine, stepped one operation at a time."""

    def __init__(self, program: Program, name: str, unmap_range, step_budget: int = 10_000):
        self.name = name
        self.unmap_range = unmap_range
        self.machine = Machine(program.platform, program.mode, step_budget)
        self.oracle = Oracle(self.machine)
        self.violations: list[Violation] = []
        self.status = "ok"
        self.ops = 0

    @property
    def stopped(self) -> bool:
        return self.status in ("hang", "crash") or (self.violations and self.violations[-1].kind in FATAL)

    def apply(self, op) -> list[Violation]:
        """Run one operation and check it; the new violations (none once stopped)."""
        if self.stopped:
            return []
        n = self.ops
        self.ops += 1
        try:
            if isinstance(op, Map):
                self.machine.map(op.kind, op.ipa, op.output_address())
            else:
                self.machine.unmap(self.unmap_range, op.ipa, op.size)
        except Fault as fault:
            found = [Violation(fault.kind, n, fault.level, op.ipa if fault.ipa is None else fault.ipa,
                               fault.detail)]
            self.status = STATUS_BY_KIND.get(fault.kind, "violation")
        except Exception as exc:   # the implementation raised: that is its result
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            found = [Violation("crash", n, "none", op.ipa,
                               f"{type(exc).__name__}: {exc} at {frame.filename}:{frame.lineno}")]
            self.status = "crash"
        else:
            found = self.oracle.check(n, op)
            if found:
                self.status = "violation"
        self.violations.extend(found)
        return found

    def result(self) -> ImplResult:
        final = None
        if self.status in ("ok", "violation"):
            obs = observe(self.machine)
            final = (
                frozenset((ipa, leaf.shift, leaf.pa) for ipa, leaf in obs.leaves.items()),
                frozenset((t.level, base, tuple(p.count for p in t.pages)) for t, (base, _) in obs.tables.items()),
                tuple(sorted(self.oracle.freed_positions)),
                frozenset(self.oracle.flush_coverage),
            )
        return ImplResult(self.name, self.status, self.violations, final)


FATAL = {"out-of-bounds", "use-after-free", "double-free", "freed-non-table", "refcount-underflow",
         "hang", "crash"}


def run_impl(program: Program, name: str, unmap_range, step_budget: int = 10_000) -> ImplResult:
    run = ImplRun(program, name, unmap_range, step_budget)
    for op in program.ops:
        if run.stopped:
            break
        run.apply(op)
    return run.result()


def compare(results: dict[str, ImplResult]) -> list[Divergence]:
    """Where the implementations' final states differ: one :class:`Divergence` per
    aspect, naming the groups that agree, e.g. ``translations: old | v2, v3``."""
    out = []
    if any(r.final is None for r in results.values()):
        groups: dict[str, list[str]] = {}
        for name, r in results.items():
            groups.setdefault(r.status if r.final is None else "completed", []).append(name)
        if len(groups) > 1:
            out.append(Divergence("run", tuple(tuple(ns) for ns in groups.values()), tuple(groups)))
    finished = {name: r.final for name, r in results.items() if r.final is not None}
    for i, aspect in enumerate(ASPECTS):
        groups = {}
        for name, final in finished.items():
            groups.setdefault(final[i], []).append(name)
        if len(groups) > 1:
            out.append(Divergence(aspect, tuple(tuple(ns) for ns in groups.values())))
    return out


def check(program: Program, impls: dict | None = None, profile: str | None = None) -> Verdict:
    impls = BUILTIN if impls is None else impls
    verdict = Verdict(program)
    verdict.invalid = validate(program, profile)
    if verdict.invalid:
        return verdict
    for name, fn in impls.items():
        verdict.results[name] = run_impl(program, name, fn)
    verdict.divergences = compare(verdict.results)
    return verdict
