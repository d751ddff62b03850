"""Shrink a failing program to a small reproducer that keeps its signature.

A candidate program is judged by :meth:`Minimizer.outcome`, in the
vocabulary of :class:`Outcome`:

- ``fail``: the candidate is valid under the profile and its verdict still
  shows the signature being minimised;
- ``pass``: valid, but the signature is gone (possibly replaced by another
  one: a candidate that *slips* to a different bug is a pass, never accepted);
- ``unresolved``: the candidate is invalid under the profile.

Only ``fail`` candidates are ever accepted.  The passes, repeated until none
changes the program:

(a) :func:`ddmin` over the ops (Zeller's delta debugging, as in the Fuzzing
    Book);
(b) simplify each op's numbers: addresses toward zero and toward table and
    block boundaries (round down to the pgd/pud/pmd/page size, try 0, clear
    high bits one at a time, step one entry down at each level), unmap sizes
    toward one page or one block (the page, pmd, pud and pgd sizes, then
    halving, then rounding to a multiple of a page or block), and explicit
    PAs dropped (``None``: identity);
(c) fewer special features: a pud block becomes a pmd block becomes a page,
    and maps move toward the start of a later unmap or into the table of
    another map.

Every accepted change strictly decreases a well-founded key (fewer ops, then
per op: page-aligned before unaligned, fewer explicit PAs, page before block,
sizes and addresses with fewer bits set, then smaller ones), so minimisation
terminates, and a step down that makes a number less round (0x40000000 ->
0x3ffff000) is never taken.  It is
deterministic: candidates are tried in a fixed order, and check results are
cached by the program's canonical text.
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import TypeVar

from unmapfuzz.impls.model.platforms import PLATFORMS
from unmapfuzz.programs import Map, Op, Program, Unmap
from unmapfuzz.programs import format as format_program
from unmapfuzz.verdict.check import DEFAULT_BASELINE, Verdict
from unmapfuzz.verdict.isolate import check_isolated
from unmapfuzz.verdict.signature import Signature, judged

__all__ = ["Outcome", "ddmin", "Minimizer", "minimize"]

T = TypeVar("T")


class Outcome(str, enum.Enum):
    """What a candidate does: keeps the signature, loses it, or is invalid."""

    FAIL = "fail"
    PASS = "pass"
    UNRESOLVED = "unresolved"

    def __str__(self) -> str:
        return self.value


# -- (a) delta debugging ------------------------------------------------------------

def ddmin(items: Sequence[T], test: Callable[[list[T]], Outcome]) -> list[T]:
    """A 1-minimal sublist of ``items`` on which ``test`` still fails.

    The Fuzzing Book's ddmin: split into ``n`` chunks, keep the first
    complement that still fails (coarsening to ``n - 1`` chunks), otherwise
    refine to ``2n`` chunks, until every single element is needed.
    """
    inp = list(items)
    assert test(inp) == Outcome.FAIL, "ddmin needs a failing input"
    n = 2
    while len(inp) >= 2:
        start = 0.0
        subset_length = len(inp) / n
        some_complement_is_failing = False
        while start < len(inp):
            complement = inp[:int(start)] + inp[int(start + subset_length):]
            if test(complement) == Outcome.FAIL:
                inp = complement
                n = max(n - 1, 2)
                some_complement_is_failing = True
                break
            start += subset_length
        if not some_complement_is_failing:
            if n == len(inp):
                break
            n = min(n * 2, len(inp))
    return inp


# -- (b), (c): simpler ops ------------------------------------------------------------

_KIND_RANK = {"page": 0, "pmd": 1, "pud": 2}


def _number_key(value: int) -> tuple[int, int]:
    """Rounder, then smaller: 0x80000000 beats 0x80001000, 0x40000000 beats 0x3ffff000."""
    return (value.bit_count(), value)


def _op_key(op: Op, page: int) -> tuple:
    """Smaller is simpler; every accepted change to an op decreases this."""
    if isinstance(op, Map):
        return (op.pa is not None, _KIND_RANK[op.kind], *_number_key(op.ipa), op.pa or 0)
    return (op.ipa % page != 0, op.size % page != 0, *_number_key(op.size), *_number_key(op.ipa))


def _representable(op: Op) -> bool:
    """Whether the ``.ops`` format can write ``op`` (numbers below 2**64)."""
    numbers = (op.ipa, op.pa or 0) if isinstance(op, Map) else (op.ipa, op.size)
    return all(0 <= n < 1 << 64 for n in numbers)


def _dedup(values) -> list[int]:
    seen, out = set(), []
    for v in values:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


class Minimizer:
    """Minimises programs against one signature; remembers every verdict it computed.

    ``tested`` maps each candidate's canonical text to its :class:`Outcome`
    (in the order first tried) and ``accepted`` lists the programs accepted,
    so a caller can see what was tried and rejected.
    """

    def __init__(self, signature: Signature, impls: dict | None = None, profile: str | None = None, *,
                 baseline: str | None = DEFAULT_BASELINE, unexplained: bool = False):
        """``unexplained``: a candidate fails only when the baseline does not explain the
        signature on it either (a bucket that is news stays news as it shrinks)."""
        self.signature = signature
        self.impls = impls
        self.profile = profile
        self.baseline = baseline
        self.unexplained = unexplained
        self.tested: dict[str, Outcome] = {}
        self.verdicts: dict[str, Verdict] = {}
        self.accepted: list[Program] = []
        self.checks = 0

    # the property
    def verdict(self, program: Program) -> Verdict:
        text = format_program(program)
        verdict = self.verdicts.get(text)
        if verdict is None:
            self.checks += 1
            verdict = self.verdicts[text] = check_isolated(program, self.impls, self.profile or program.profile,
                                                  baseline=self.baseline)
        return verdict

    def outcome(self, program: Program) -> Outcome:
        text = format_program(program)
        result = self.tested.get(text)
        if result is None:
            verdict = self.verdict(program)
            if verdict.invalid:
                result = Outcome.UNRESOLVED
            elif self.signature in (found := judged(verdict)) and not (self.unexplained and found[self.signature]):
                result = Outcome.FAIL
            else:
                result = Outcome.PASS
            self.tested[text] = result
        return result

    def _accept(self, program: Program) -> Program:
        self.accepted.append(program)
        return program

    # the passes
    def run(self, program: Program) -> Program:
        program = Program(program.platform, program.mode, program.ops,
                          self.profile or program.profile, ())
        if self.outcome(program) != Outcome.FAIL:
            raise ValueError(f"the program does not show {self.signature}"
                             + (f" (it is invalid: {self.verdict(program).invalid})"
                                if self.outcome(program) == Outcome.UNRESOLVED else ""))
        self._accept(program)
        while True:
            before = program
            program = self.reduce_ops(program)
            program = self.simplify_ops(program)
            if program == before:
                return program

    def reduce_ops(self, program: Program) -> Program:
        """Pass (a): ddmin over the ops."""
        ops = ddmin(program.ops, lambda ops: self.outcome(program.with_ops(ops)))
        if len(ops) < len(program.ops):
            program = self._accept(program.with_ops(ops))
        return program

    def simplify_ops(self, program: Program) -> Program:
        """Passes (b) and (c): replace each op by the first simpler op that still fails."""
        page = PLATFORMS[program.platform].page_size
        for i in range(len(program.ops)):
            progress = True
            while progress:
                progress = False
                op = program.ops[i]
                key = _op_key(op, page)
                for cand in self.candidates(program, i):
                    if cand == op or _op_key(cand, page) >= key or not _representable(cand):
                        continue
                    trial = program.with_ops(program.ops[:i] + (cand,) + program.ops[i + 1:])
                    if self.outcome(trial) == Outcome.FAIL:
                        program = self._accept(trial)
                        progress = True
                        break
        return program

    def candidates(self, program: Program, i: int) -> list[Op]:
        """Simpler versions of op ``i``, most ambitious first."""
        plat = PLATFORMS[program.platform]
        blocks = sorted({1 << s for s in (plat.pgdir_shift, plat.pud_shift, plat.pmd_shift,
                                          plat.page_shift)}, reverse=True)    # pgd .. page
        op = program.ops[i]
        out: list[Op] = []
        if isinstance(op, Map):
            shift = {"page": plat.page_shift, "pmd": plat.pmd_shift, "pud": plat.pud_shift}[op.kind]
            align = 1 << shift
            if op.pa is not None:
                out.append(Map(op.kind, op.ipa, None))
            # (c) fewer special features: a block becomes a smaller block or a page
            for kind in ("page", "pmd"):
                if _KIND_RANK[kind] < _KIND_RANK[op.kind]:
                    out.append(Map(kind, op.ipa, op.pa))
            addrs = self._addresses(op.ipa, blocks)
            # (c) toward the start of a later unmap, into another map's tables
            for later in program.ops[i + 1:]:
                if isinstance(later, Unmap):
                    addrs.append(-(-later.ipa // align) * align)
            for j, other in enumerate(program.ops):
                if isinstance(other, Map) and j != i:
                    for b in blocks[:-1]:
                        addrs.append((other.ipa & ~(b - 1)) | (op.ipa & (b - 1)))
            out += [Map(op.kind, a, op.pa) for a in _dedup(addrs) if a % align == 0]
        else:
            page = plat.page_size
            sizes = list(reversed(blocks))                    # one page, one pmd, one pud, one pgd
            half = op.size // 2
            while half >= page:
                sizes.append(half)
                half //= 2
            for b in reversed(blocks):                        # rounding to pages and blocks
                if op.size >= b:
                    sizes.append(op.size - op.size % b)
            sizes.append(-(-op.size // page) * page)
            out += [Unmap(op.ipa, s) for s in _dedup(sizes) if 0 < s]
            out += [Unmap(a, op.size) for a in _dedup(self._addresses(op.ipa, blocks))]
        return out

    @staticmethod
    def _addresses(value: int, blocks: list[int]) -> list[int]:
        """Addresses toward zero and table/block boundaries, most ambitious first.

        The caller keeps only those that decrease the op's key, so a step
        that makes the address less round is never taken.
        """
        addrs = [0]
        addrs += [value & ~(b - 1) for b in blocks]                       # round down
        addrs += [value & ~(1 << bit) for bit in reversed(range(value.bit_length()))
                  if value >> bit & 1]                                    # clear high bits
        addrs += [-(-value // b) * b for b in blocks]                     # round up
        addrs += [value - b for b in blocks if value >= b]                # one entry down
        return [a for a in _dedup(addrs) if a != value]


def minimize(program: Program, signature: Signature, impls: dict | None = None,
             profile: str | None = None, *, baseline: str | None = DEFAULT_BASELINE,
             unexplained: bool = False) -> Program:
    """The smallest program found that keeps ``signature`` and stays valid.

    ``profile`` (default: the program's own) decides validity; the result
    carries it as its profile and has no ``expect`` lines.  Raises
    :class:`ValueError` when ``program`` does not show ``signature``.
    """
    return Minimizer(signature, impls, profile, baseline=baseline, unexplained=unexplained).run(program)
