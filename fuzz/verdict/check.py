"""``check(program) -> Verdict``: the one property every driver calls.

Every implementation runs the program; the oracle checks the machine after
every operation.  An implementation's run ends at the first memory-safety
fault (the kernel would have oopsed or corrupted memory there) or exception
(a ``crash``: the implementation raised, which is a result, not a harness
error).

What a finding is, and whose
----------------------------

A program's findings are judged per program, against a *baseline*
implementation (``--baseline``, by default ``v3-pgdnone``, the most-fixed
built-in), and attributed to their cause:

- **The map path.**  A finding raised while a ``map`` operation runs comes
  from the shared map path (``stage2_set_pte``, ``create_hyp_mappings``...),
  not from any ``unmap_range``: it is reported once, under the pseudo
  implementation ``map`` (:data:`MAP_PATH`).  It is taken from the runs of
  implementations that had done nothing wrong of their own before that map
  (after an implementation's own mistake, what the map path meets is a
  consequence), and only the first map that went wrong counts.
- **The baseline.**  Its findings are those of its first ``unmap`` that went
  wrong; what follows runs on a state the kernel should never have reached.
- **Every other implementation X.**  At each ``unmap``, X is compared with the
  baseline on the same program: a violation the baseline does not show (same
  kind, same operation, same level) is X's own; and when X's state after the
  unmap (translations, live tables and refcounts, freed tables, TLB-flush
  coverage) differs from the baseline's while X has no violation of its own
  there, that difference is X's finding of kind ``divergence`` (one per
  aspect), whether or not either satisfies the oracle -- unless X is clean
  where the baseline is not (X fixed something; that is no bug of X's, and
  from then on only X's own violations count, since their states now differ
  for that reason alone).
  X's findings are those of the first operation where X differs from the
  baseline, plus the ones it shares with the baseline at its first
  operation that went wrong (marked ``as_baseline``: they are the baseline's
  bugs, not news about X).

How the implementations run: lockstep
-------------------------------------

Implementations with the same history share one machine and one oracle: a
``map`` runs once per group, and at an ``unmap`` each member runs on the
shared machine in turn, its effects rolled back from the memory log.  Members
whose unmaps had the same outcome and exactly the same effects stay together;
the others continue on clones (made on spare machines of the same geometry,
whose kernels stay bound).  This is an optimisation only: the same program
run with ``lockstep=False`` (one machine per implementation, as a reader would
write it) gives the same verdict, byte for byte (``tests/test_fastpaths.py``).

A campaign's harness also passes :class:`Prefixes`: a new program that begins
with the operations of one checked shortly before resumes from that one's
state after them, as long as every implementation still shared the home
machine there.  Only built-in implementations are resumed (a user's guarded
code may keep state of its own), and the verdict is again the same byte for
byte (``tests/test_fastpaths.py``).
"""
from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field

import unmapfuzz
from unmapfuzz.impls import BUILTIN
from unmapfuzz.impls import model as _model
from unmapfuzz.impls.model.mapping import Machine
from unmapfuzz.impls.model.memory import Fault
from unmapfuzz.programs import Map, Program
from unmapfuzz.reference.observe import observe
from unmapfuzz.reference.oracle import Oracle, Violation
from unmapfuzz.reference.profiles import validate

from .guard import Deadline, Guard, ImplCrashed

_OURS = tuple(os.path.dirname(os.path.abspath(f)) + os.sep for f in (unmapfuzz.__file__, _model.__file__))
"""Frames of the harness (the guard, the isolation) and of the model are not where an
implementation crashed: the crash is located at its own deepest frame."""

DEFAULT_BASELINE = "v3-pgdnone"
MAP_PATH = "map"
"""The pseudo implementation findings of the shared map path are attributed to."""

STATUS_BY_KIND = {"hang": "hang", "crash": "crash"}
FATAL = {"out-of-bounds", "use-after-free", "double-free", "freed-non-table", "refcount-underflow",
         "hang", "crash"}

# Flushes are compared by what they covered (which removed translations and
# unlinked tables saw a flush inside them), not by the exact IPA: 3.15 flushes
# the address it stopped at, 3.16 the start of the table's range, and both are
# right.
ASPECTS = ("translations", "live tables and refcounts", "freed tables", "TLB flush coverage")
ASPECT_LEVEL = dict(zip(ASPECTS, ("translations", "tables", "freed", "tlb")))


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


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that went wrong, attributed: to an implementation, or to the map path
    (``impl == "map"``).  ``as_baseline``: the baseline shows it too, on this program."""

    impl: str
    kind: str
    op: int
    level: str
    ipa: int | None
    detail: str
    as_baseline: bool = False

    def to_json(self) -> dict:
        return {"impl": self.impl, "kind": self.kind, "op": self.op, "level": self.level,
                "ipa": None if self.ipa is None else f"{self.ipa:#x}", "detail": self.detail,
                "as_baseline": self.as_baseline}


@dataclass(slots=True)
class ImplResult:
    name: str
    status: str
    violations: list[Violation]
    final: tuple | None = None        # normalised final state, for comparison
    steps: tuple[int, ...] = ()       # table accesses of each operation it ran

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted({v.kind for v in self.violations}))

    def to_json(self) -> dict:
        return {"status": self.status, "violations": [v.to_json() for v in self.violations]}


@dataclass(slots=True)
class Verdict:
    program: Program
    results: dict[str, ImplResult] = field(default_factory=dict)
    divergences: list[Divergence] = field(default_factory=list)
    invalid: str | None = None
    baseline: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def divergent(self) -> bool:
        return bool(self.divergences)

    @property
    def clean(self) -> bool:
        return self.invalid is None and not self.divergent and all(
            r.status == "ok" for r in self.results.values())

    def to_json(self, file: str | None = None) -> dict:
        return {"file": file, "platform": self.program.platform, "mode": self.program.mode,
                "invalid": self.invalid, "baseline": self.baseline,
                "impls": {name: r.to_json() for name, r in self.results.items()},
                "divergent": self.divergent, "divergences": [str(d) for d in self.divergences],
                "findings": [f.to_json() for f in self.findings]}


# -- running: groups of implementations with one history ---------------------------------

class _Group:
    """One history: a machine, its oracle, the implementations that share them."""

    __slots__ = ("machine", "oracle", "members", "_state")

    def __init__(self, machine: Machine, oracle: Oracle, members: list):
        self.machine, self.oracle, self.members = machine, oracle, members
        self._state = None

    def clone(self, into: Machine | None = None) -> tuple["_Group", dict]:
        """A copy of this history (no members yet), and the map of its tables and pages;
        on ``into`` (a spare machine of the same geometry) when given."""
        machine, mapping = self.machine.clone(into)
        return _Group(machine, self.oracle.clone(machine, mapping), []), mapping

    def state(self) -> tuple:
        """The normalised state after the last operation: what implementations are compared on."""
        if self._state is None:
            self._state = _normalised(self.oracle.obs, self.oracle)
        return self._state

    def state_after_fault(self) -> tuple:
        """The normalised state of a machine a fault stopped part-way through an operation."""
        return _normalised(observe(self.machine), self.oracle)


def _normalised(obs, oracle) -> tuple:
    return (
        frozenset((ipa, leaf.shift, leaf.pa) for ipa, leaf in obs.leaves.items()),
        frozenset((t.level, base, tuple(p.count for p in t.pages)) for t, (base, _) in obs.tables.items()),
        tuple(sorted(oracle.freed_positions)),
        frozenset(oracle.flush_coverage),
    )


class _Impl:
    """One implementation's run: its findings per operation, how it ended."""

    __slots__ = ("name", "fn", "guarded", "group", "status", "violations", "by_op", "steps", "final", "diff")

    def __init__(self, name: str, fn, guarded: bool = False):
        self.name, self.fn, self.guarded = name, fn, guarded
        self.group: _Group | None = None
        self.status = "ok"
        self.violations: list[Violation] = []
        self.by_op: dict[int, list[Violation]] = {}
        self.steps: list[int] = []
        self.final: tuple | None = None
        self.diff: dict[int, tuple[str, ...] | None] = {}    # unmap op -> aspects differing from the baseline

    @property
    def stopped(self) -> bool:
        return self.group is None

    def record(self, n: int, found: list[Violation], steps: int) -> None:
        self.steps.append(steps)
        if found:
            self.by_op[n] = found
            self.violations.extend(found)
            if self.status == "ok":
                self.status = "violation"

    def stop(self, n: int, found: Violation, steps: int, group: _Group) -> None:
        """End the run at a fault: its status, and (for a memory-safety fault, not a hang
        or a crash) the final state the machine was left in."""
        self.record(n, [found], steps)
        self.status = STATUS_BY_KIND.get(found.kind, "violation")
        if self.status == "violation":
            self.final = group.state_after_fault()
        self.group = None


class Runner:
    """Every implementation run over a program one operation at a time, in lockstep.

    ``apply(op)`` runs one operation on every implementation still running;
    ``verdict()`` is the verdict of the operations so far.
    """

    def __init__(self, program: Program, impls: dict, *, baseline: str | None = DEFAULT_BASELINE,
                 step_budget: int = 10_000, fast: bool = True, lockstep: bool = True, guard: Guard | None = None,
                 context: bool = True, resumable: bool = False):
        """``resumable``: keep a snapshot after each operation, so that :meth:`rewind` can go
        back to it (what :class:`Prefixes` needs; it costs a copy of the oracle's state per
        operation, so a runner that will not be kept takes none)."""
        if baseline is not None and baseline not in impls:
            raise ValueError(f"the baseline {baseline!r} is not among the implementations ({', '.join(impls)})")
        self.header = Program(program.platform, program.mode, (), program.profile)
        self.ops: list = []
        self.baseline = baseline
        self.guard = guard or Guard()
        self.impls = {}
        for name, fn in impls.items():
            wrapped = self.guard.wrap(fn)
            self.impls[name] = _Impl(name, wrapped, wrapped is not fn)
        self.pool_key = (program.platform, program.mode, step_budget, fast)
        self.home: Machine | None = None
        self.clones: list[Machine] = []       # the machines of the groups split off the home one

        def new_group(members, machine):
            group = _Group(machine, Oracle(machine, context), members)
            for x in members:
                x.group = group
            return group

        members = list(self.impls.values())
        # Snapshots of the state after each operation, while every implementation still
        # running shares the home machine (see rewind()); None where rewinding is impossible.
        self.snapshots: list[tuple] | None = None
        self.first: _Group | None = None        # the home machine's group
        if lockstep:
            self.home = _pristine_machine(self.pool_key)
            self.groups = [new_group(members, self.home)]
            self.first = self.groups[0]
            if resumable and not any(x.guarded for x in members):   # a guard's shared deadline is per program
                self.snapshots = []
                self._snapshot()
        else:
            self.groups = [new_group([x], Machine(program.platform, program.mode, step_budget, fast))
                           for x in members]

    @property
    def program(self) -> Program:
        """The program of the operations applied so far."""
        return self.header.with_ops(self.ops)

    def release(self) -> None:
        """Give the shared machine back to the pool, reset, once its verdict is taken,
        and the clones' machines to the spares."""
        if self.home is not None:
            _release_machine(self.pool_key, self.home)
            self.home = None
        self._release_clones()

    def _clone(self, group: _Group) -> tuple[_Group, dict]:
        """``group.clone()``, on a spare machine when there is one."""
        clone, mapping = group.clone(_spare_machine(self.pool_key))
        self.clones.append(clone.machine)
        return clone, mapping

    def _release_clones(self) -> None:
        for machine in self.clones:
            _release_spare(self.pool_key, machine)
        self.clones.clear()

    # -- going back ----------------------------------------------------------------------

    def _snapshot(self) -> None:
        """Record the state after the operations so far, while it is one group's on the
        home machine (or no group's: every run ended); from the first split on, none."""
        snapshots = self.snapshots
        if snapshots is None:
            return
        groups, first = self.groups, self.first
        if len(snapshots) != len(self.ops) or (groups and groups != [first]):
            return
        snapshots.append((first.machine.mark(), list(first.members), first.oracle.snapshot(), bool(groups),
                          [(x.status, len(x.violations), len(x.steps), x.final, x.group is first)
                           for x in self.impls.values()]))

    @property
    def resumable(self) -> int:
        """How many of the operations applied so far :meth:`rewind` can go back to (-1: none)."""
        return -1 if self.snapshots is None else len(self.snapshots) - 1

    def rewind(self, n: int, program: Program) -> None:
        """Back to the state after the first ``n`` operations (``n <= resumable``), to go on
        with another ``program`` that begins with them: every run, the home machine, its
        oracle and each implementation's record are as they were then, so the operations
        that follow give exactly what they give on a new runner."""
        mark, members, oracle, alive, impls = self.snapshots[n]
        del self.snapshots[n + 1:]
        first = self.first
        first.machine.rewind(mark)
        first.members = list(members)
        first._state = None
        first.oracle.restore(oracle)
        for x, (status, violations, steps, final, running) in zip(self.impls.values(), impls):
            x.status, x.final = status, final
            x.group = first if running else None
            del x.violations[violations:], x.steps[steps:]
            for done in (x.by_op, x.diff):
                for later in [k for k in done if k >= n]:
                    del done[later]
        del self.ops[n:]
        self.groups = [first] if alive else []
        self._release_clones()        # every split came after the last snapshot: no group is left on them
        self.header = Program(program.platform, program.mode, (), program.profile)

    # -- one operation -------------------------------------------------------------------

    def apply(self, op) -> None:
        n = len(self.ops)
        self.ops.append(op)
        groups = []
        for group in self.groups:
            if isinstance(op, Map):
                groups += self._map(group, n, op)
            elif len(group.members) == 1:
                groups += self._unmap_alone(group, n, op)
            else:
                groups += self._unmap_together(group, n, op)
        self.groups = groups
        if not isinstance(op, Map) and self.baseline is not None:
            self._compare_with_baseline(n)
        self._snapshot()

    def _map(self, group: _Group, n: int, op) -> list[_Group]:
        machine = group.machine
        try:
            machine.map(op.kind, op.ipa, op.output_address())
        except Fault as fault:
            return self._stop_all(group, n, _fault_violation(fault, n, op), machine.memory.steps)
        except Exception as exc:   # the model raised: a crash, as for any code under test
            return self._stop_all(group, n, _crash_violation(exc, n, op), machine.memory.steps)
        found = group.oracle.check(n, op)
        group._state = None
        for x in group.members:
            x.record(n, found, machine.memory.steps)
        return [group]

    def _stop_all(self, group: _Group, n: int, found: Violation, steps: int) -> list[_Group]:
        for x in group.members:
            x.stop(n, found, steps, group)
        return []

    def _run_unmap(self, machine: Machine, x: _Impl, n: int, op) -> Violation | None:
        """Run ``x``'s unmap on ``machine``; the violation that ended it, if one did."""
        try:
            if x.guarded:
                self.guard.note(n, x.name)
            machine.unmap(x.fn, op.ipa, op.size)
        except Fault as fault:
            return _fault_violation(fault, n, op)
        except Exception as exc:   # the implementation raised (or the guard stopped it): a result
            return _crash_violation(exc, n, op)
        except Deadline:           # the deadline's signal, landing as the call returned
            return _fault_violation(Fault("hang", "the call ran past its deadline"), n, op)
        return None

    def _unmap_alone(self, group: _Group, n: int, op) -> list[_Group]:
        x = group.members[0]
        ended = self._run_unmap(group.machine, x, n, op)
        if ended is not None:
            x.stop(n, ended, group.machine.memory.steps, group)
            return []
        found = group.oracle.check(n, op)
        group._state = None
        x.record(n, found, group.machine.memory.steps)
        return [group]

    def _unmap_together(self, group: _Group, n: int, op) -> list[_Group]:
        memory = group.machine.memory
        log = memory.log
        mark = len(log)
        # Parts, in order of first appearance: [outcome, effects, [(member, steps)]].  A part
        # is found by comparing outcomes and effect lists (entries compare their tables and
        # pages by identity), which costs less than hashing them.
        parts: list[list] = []
        kept = False            # the machine holds the first part's effects (its last member's, unrolled)
        last = group.members[-1]
        for x in group.members:
            ended = self._run_unmap(group.machine, x, n, op)
            steps = memory.steps
            effects = log[mark:]
            outcome = None if ended is None else (ended.kind, ended.level, ended.detail)
            part = next((q for q in parts if q[0] == outcome and q[2] == effects), None)
            if x is last and part is not None and part is parts[0]:
                kept = True        # it did what the first part did: keep its effects, skip undo and redo
            else:
                memory.rollback(mark)
            if part is None:
                part = [outcome, ended, effects, []]
                parts.append(part)
            part[3].append((x, steps))
        if kept and len(parts) > 1:
            memory.rollback(mark)       # the other parts' machines are clones of the state before the unmap
            kept = False
        homes = [(group, None)] + [self._clone(group) for _ in parts[1:]]
        out = []
        for (home, mapping), (_, ended, effects, members) in zip(homes, parts):
            if not (kept and home is group):
                home.machine.memory.redo(effects, mapping)
            home._state = None
            home.members = [x for x, _ in members]
            for x, _ in members:
                x.group = home
            if ended is not None:
                for x, steps in members:
                    x.stop(n, ended, steps, home)
                continue
            found = home.oracle.check(n, op)
            for x, steps in members:
                x.record(n, found, steps)
            out.append(home)
        return out

    # -- the baseline ------------------------------------------------------------------------

    def _compare_with_baseline(self, n: int) -> None:
        """After unmap ``n``: which aspects of each implementation's state differ from the
        baseline's (None where there is nothing to compare: a run that did not reach or
        finish the operation)."""
        base = self.impls[self.baseline]
        for x in self.impls.values():
            if x is base or len(x.steps) <= n:
                continue
            if x.group is not None and x.group is base.group:
                x.diff[n] = ()
                continue
            if x.stopped or base.stopped:
                # A run that a fault ended part-way through this operation has no state to
                # compare (the kernel would have oopsed there), nor one that ended before it.
                x.diff[n] = None
            else:
                mine, theirs = x.group.state(), base.group.state()
                x.diff[n] = tuple(a for a, m, t in zip(ASPECTS, mine, theirs) if m != t)

    # -- the verdict ---------------------------------------------------------------------------

    def results(self) -> dict[str, ImplResult]:
        out = {}
        for x in self.impls.values():
            final = x.final if x.stopped else x.group.state()
            out[x.name] = ImplResult(x.name, x.status, list(x.violations), final, tuple(x.steps))
        return out

    def verdict(self, finals: bool = True) -> Verdict:
        """The verdict so far.  ``finals=False``: findings and each run's status and
        violations only, no final states or divergences (a campaign needs no more)."""
        if finals:
            results = self.results()
            divergences = compare(results)
        else:
            results = {x.name: ImplResult(x.name, x.status, list(x.violations), None, tuple(x.steps))
                       for x in self.impls.values()}
            divergences = []
        verdict = Verdict(self.program, results, divergences, None, self.baseline)
        verdict.findings = self._findings()
        return verdict

    def _findings(self) -> list[Finding]:
        if not any(x.by_op or any(x.diff.values()) for x in self.impls.values()):
            return []       # no violation and no state unlike the baseline's: nothing to attribute
        ops = self.ops
        is_unmap = [not isinstance(op, Map) for op in ops]
        base = self.impls.get(self.baseline) if self.baseline else None

        def kinds_of(x: _Impl) -> dict[int, set[tuple[str, str]]]:
            return {n: {(v.kind, v.level) for v in vs} for n, vs in x.by_op.items()}

        base_kinds = kinds_of(base) if base is not None else {}
        base_ran = len(base.steps) if base is not None else 0
        nothing: set = set()

        def theirs_at(n: int) -> set[tuple[str, str]]:
            return base_kinds.get(n, nothing) if n < base_ran else nothing

        def first_difference(x: _Impl, mine_at: dict, events: list[int]) -> int | None:
            """The first unmap where ``x`` differs from the baseline: a violation the baseline
            does not show, or a different state while ``x`` has none of its own.  Once ``x``
            was clean where the baseline was not (``x`` fixed something), their states stay
            apart for that reason alone, and only ``x``'s own violations count."""
            better = False
            for n in events:
                mine, theirs = mine_at.get(n, nothing), theirs_at(n)
                if mine - theirs:
                    return n
                if x.diff.get(n) and not better:
                    if not mine and theirs:
                        better = True
                    else:
                        return n
            return None

        own: dict[str, list[Finding]] = {}
        first_own: dict[str, int] = {}
        for x in self.impls.values():
            # The unmaps where anything happened to x: a violation, or a state unlike the baseline's.
            events = sorted({n for n in x.by_op if is_unmap[n]} | {n for n, d in x.diff.items() if d})
            wrong = next((n for n in events if n in x.by_op), None)
            if base is None or x is base:
                if wrong is not None:
                    own[x.name] = [_finding(x.name, v) for v in x.by_op[wrong]]
                first_own[x.name] = len(ops) if wrong is None else wrong
                continue
            mine_at = kinds_of(x)
            differ = first_difference(x, mine_at, events)
            found: list[Finding] = []
            if wrong is not None and (differ is None or wrong <= differ):
                shared = theirs_at(wrong)
                found += [_finding(x.name, v, True) for v in x.by_op[wrong] if (v.kind, v.level) in shared]
            if differ is not None:
                shared = theirs_at(differ)
                new = [v for v in x.by_op.get(differ, ()) if (v.kind, v.level) not in shared]
                if new:
                    found += [_finding(x.name, v) for v in new]
                else:
                    op = ops[differ]
                    found += [Finding(x.name, "divergence", differ, ASPECT_LEVEL[aspect], op.ipa,
                                      f"after op {differ} its {aspect} differ from the baseline "
                                      f"{self.baseline}'s", False)
                              for aspect in x.diff[differ]]
            if found:
                own[x.name] = found
            first_own[x.name] = min([n for n in (wrong, differ) if n is not None], default=len(ops))

        # The map path: the first map that went wrong in each run that had done nothing wrong of its own.
        mapped: dict[tuple[str, str], Finding] = {}
        for x in self.impls.values():
            limit = min(len(x.steps), first_own[x.name])
            first_map = min((n for n in x.by_op if n < limit and not is_unmap[n]), default=None)
            if first_map is not None:
                for v in x.by_op[first_map]:
                    key = (v.kind, v.level)
                    if key not in mapped or mapped[key].op > first_map:
                        mapped[key] = _finding(MAP_PATH, v)
        findings = sorted(mapped.values(), key=lambda f: (f.op, f.kind, f.level))
        for name in self.impls:
            findings += own.get(name, [])
        return findings


def _finding(impl: str, v: Violation, as_baseline: bool = False) -> Finding:
    return Finding(impl, v.kind, v.op, v.level, v.ipa, v.detail, as_baseline)


def _fault_violation(fault: Fault, n: int, op) -> Violation:
    return Violation(fault.kind, n, fault.level, op.ipa if fault.ipa is None else fault.ipa, fault.detail)


def _crash_violation(exc: BaseException, n: int, op) -> Violation:
    raised = exc.__cause__ if isinstance(exc, ImplCrashed) and exc.__cause__ is not None else exc
    frames = [f for f in traceback.extract_tb(raised.__traceback__) if not f.filename.startswith(_OURS)]
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    what = str(exc) if isinstance(exc, ImplCrashed) else f"{type(exc).__name__}: {exc}"
    return Violation("crash", n, "none", op.ipa, f"{what}{where}")


# -- comparing final states -------------------------------------------------------------------

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


# -- the property -------------------------------------------------------------------------------

class Prefixes:
    """Runners of the last few programs checked, kept to resume from where a new program
    begins with some of the same operations (a campaign's mutations mostly change a tail).

    ``check(..., prefixes=p)`` takes the runner that shares the longest prefix with the
    program, rewinds it there (:meth:`Runner.rewind`) and runs only the rest; the verdict
    is the one a new runner gives, byte for byte (``tests/test_fastpaths.py``).  A runner
    is kept only while its implementations share one machine, and for as many operations
    as they did.  Not thread-safe: one per thread (a campaign worker's harness has one).
    """

    def __init__(self, size: int = 8):
        self.size = size
        self.runners: list[tuple[tuple, Runner]] = []     # (key, runner), oldest first

    def take(self, key: tuple, program: Program) -> tuple[Runner | None, int]:
        """The kept runner of ``key`` that shares the most leading operations with ``program``
        (the latest on a tie), rewound to the end of them, and how many there are; or (None, 0)
        when none shares any."""
        best, best_n = None, 0
        ops = program.ops
        for i, (k, runner) in enumerate(self.runners):
            if k != key:
                continue
            n, limit = 0, min(len(ops), runner.resumable)
            theirs = runner.ops
            while n < limit and ops[n] == theirs[n]:
                n += 1
            if n and n >= best_n:
                best, best_n = i, n
        if best is None:
            return None, 0
        _, runner = self.runners.pop(best)
        runner.rewind(best_n, program)
        return runner, best_n

    def keep(self, key: tuple, runner: Runner) -> None:
        """Keep ``runner`` (its verdict taken) to resume from; the oldest kept goes back to the pool."""
        self.runners.append((key, runner))
        if len(self.runners) > self.size:
            self.runners.pop(0)[1].release()

    def clear(self) -> None:
        """Give every kept runner's machine back to the pool."""
        while self.runners:
            self.runners.pop()[1].release()


def check(program: Program, impls: dict | None = None, profile: str | None = None, *,
          baseline: str | None = DEFAULT_BASELINE, step_budget: int = 10_000, fast: bool = True,
          lockstep: bool = True, guard: Guard | None = None, finals: bool = True,
          prefixes: Prefixes | None = None) -> Verdict:
    """Run ``program`` through ``impls`` (default: the built-in ones) and judge it.

    The baseline always runs: when ``impls`` lacks it, the built-in of that
    name is added.  ``baseline=None`` judges without one (each implementation
    by its first operation that went wrong).  ``fast``, ``lockstep``: the
    model's fast paths and the shared machines, which change nothing but speed.
    ``finals=False`` skips what only a reader of the whole verdict needs (final
    states, divergences, each violation's ``context``): the findings are the same.  ``prefixes``: resume from a
    runner of an earlier program with the same first operations (see
    :class:`Prefixes`), which changes nothing but speed.
    """
    impls = dict(BUILTIN if impls is None else impls)
    if baseline is not None and baseline not in impls:
        if baseline not in BUILTIN:
            raise ValueError(f"unknown baseline {baseline!r} (expected one of: {', '.join(impls)})")
        impls[baseline] = BUILTIN[baseline]
    verdict = Verdict(program, baseline=baseline)
    verdict.invalid = validate(program, profile)
    if verdict.invalid:
        return verdict
    runner, done, key = None, 0, None
    if prefixes is not None and lockstep and guard is None:
        key = (program.platform, program.mode, step_budget, fast, baseline, tuple(impls.items()),
               Machine.READS_PER_ENTRY, finals)
        runner, done = prefixes.take(key, program)
    if runner is None:
        runner = Runner(program, impls, baseline=baseline, step_budget=step_budget, fast=fast,
                        lockstep=lockstep, guard=guard, context=finals, resumable=key is not None)
    for op in program.ops[done:]:
        if all(x.stopped for x in runner.impls.values()):
            break
        runner.apply(op)
    verdict = runner.verdict(finals)
    if key is not None and runner.resumable > 0:
        prefixes.keep(key, runner)
    else:
        runner.release()
    return verdict


# -- pristine machines ------------------------------------------------------------------------

_POOL: dict[tuple, list[Machine]] = {}
_POOL_SIZE = 4      # per geometry: enough for a check and a nested one (the minimiser's)


def _take(pool: dict[tuple, list[Machine]], key: tuple) -> Machine | None:
    """A machine of geometry ``key`` from ``pool``; None if it has none."""
    free = pool.get(key)
    if free:
        try:
            return free.pop()
        except IndexError:        # another thread took the last one
            pass
    return None


def _put(pool: dict[tuple, list[Machine]], size: int, key: tuple, machine: Machine) -> None:
    """Keep ``machine`` in ``pool`` under geometry ``key`` while it holds fewer than ``size`` of them."""
    free = pool.setdefault(key, [])
    if len(free) < size:
        free.append(machine)


def _pristine_machine(key: tuple) -> Machine:
    """A machine as ``Machine(*key)`` builds it: from the pool when one is there."""
    return _take(_POOL, key) or Machine(*key)


def _release_machine(key: tuple, machine: Machine) -> None:
    machine.reset()
    _put(_POOL, _POOL_SIZE, key, machine)


_SPARES: dict[tuple, list[Machine]] = {}
_SPARES_SIZE = 8    # per geometry: a split of four implementations needs three


def _spare_machine(key: tuple) -> Machine | None:
    """A machine of geometry ``key`` in whatever state, to clone a group onto; None if none is spare."""
    return _take(_SPARES, key)


def _release_spare(key: tuple, machine: Machine) -> None:
    _put(_SPARES, _SPARES_SIZE, key, machine)
