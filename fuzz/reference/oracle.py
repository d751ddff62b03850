"""The oracle: what a correct map or unmap leaves behind (docs/KERNEL_MODEL.md section 8).

The oracle keeps its own flat map of translations
(:mod:`unmapfuzz.reference.translations`) and updates it with the *meaning*
of each operation: a map replaces whatever it
overlaps with one translation; an unmap removes every translation that
intersects ``[start, start + size)``, a block only partly inside the range
included, whole.  It then checks the concrete state, read with the generic
walker of :mod:`unmapfuzz.reference.observe` and the memory's record of the operation:

- translations: ``still-mapped``, ``over-unmapped``, ``map-mismatch``;
- tables: ``leaked-table`` (unreachable, not freed), ``freed-live-page``
  (reachable, freed), ``retained-empty-table`` (emptied by an unmap, freeable
  on this platform by section 5, yet kept);
- refcounts: ``refcount-mismatch`` (not base + live entries);
- TLB (stage 2 only): ``missing-tlbi``, ``tlbi-order``.

Memory-safety errors (``use-after-free``, ``double-free``, ``out-of-bounds``,
``freed-non-table``, ``refcount-underflow``, ``hang``) are raised by the model at
the access itself and reported by :mod:`unmapfuzz.verdict.check`.

Each defect is reported once, at the operation that commits it: after checking
an operation the oracle adopts the observed state as its new baseline, and a
refcount that was already off carries its excess forward instead of being
reported again.  An operation's violations come in a canonical order (by kind
and level, then IPA; tables by address), never in the order some dict happened
to be filled, so that a verdict is the same byte for byte however it was run.  The oracle calls none of the walkers and none of the kernel
helpers.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from unmapfuzz.impls.model.memory import Table
from unmapfuzz.impls.model.platforms import Platform

from .observe import Leaf, Observation, observe, path
from .translations import apply_map, apply_unmap


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    op: int
    level: str
    ipa: int | None
    detail: str
    context: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self) -> dict:
        return {"kind": self.kind, "op": self.op, "level": self.level,
                "ipa": None if self.ipa is None else f"{self.ipa:#x}", "detail": self.detail}


def table_freeable(platform: Platform, mode: str, level: str) -> bool:
    """Whether ``kvm_<level>_table_empty`` can ever be true here (section 5)."""
    kvm = mode == "stage2"
    if level == "pte":
        return True
    if platform.era == "3.16":
        return level == "pmd" and platform.page_shift != 16
    if level == "pmd":
        return not platform.pmd_folded and (not kvm or platform.prealloc < 2)
    if level == "pud":
        return not platform.pud_folded and (not kvm or platform.prealloc < 1)
    return False


# -- the checks -------------------------------------------------------------------

def _pa(table: Table) -> int:
    return table.pa


def _hex(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


class Oracle:
    """Checks one implementation's machine after every operation."""

    def __init__(self, machine, context: bool = True):
        """``context``: whether each violation carries the descriptors on its IPA's path
        (:attr:`Violation.context`, what ``unmapfuzz check`` prints); a campaign needs none."""
        self.machine = machine
        self.context = context
        self.platform = machine.platform
        self.mode = machine.mode
        self.roots = {machine.root, machine.hw_root}
        self.expected: dict[int, tuple[int, int]] = {}
        self.excess: dict = {}                # page -> refcount above base + live, already reported
        self.reported_freed: set = set()      # pages reported as freed-live-page
        self.obs: Observation = observe(machine)
        self.log_mark = len(machine.memory.log)
        self.flush_coverage: set[tuple] = set()   # removed translations and unlinked tables that saw a flush
        self.freed_positions: list[tuple[str, int]] = []

    def clone(self, machine, mapping: dict[int, object]) -> "Oracle":
        """This oracle's state, over ``machine``, a clone of its machine (``mapping``
        from ``Machine.clone``): what it expects, what it reported, what it saw."""
        def new(obj):
            return mapping[id(obj)]
        o = Oracle.__new__(Oracle)
        o.machine, o.platform, o.mode, o.context = machine, self.platform, self.mode, self.context
        o.roots = {new(t) for t in self.roots}
        o.expected = dict(self.expected)
        o.excess = {new(page): n for page, n in self.excess.items()}
        o.reported_freed = {new(page) for page in self.reported_freed}
        obs = self.obs
        o.obs = Observation(
            {ipa: Leaf(leaf.ipa, leaf.shift, leaf.pa, new(leaf.table), leaf.index) for ipa, leaf in obs.leaves.items()},
            {new(t): (base, None if parent is None else (new(parent[0]), parent[1]))
             for t, (base, parent) in obs.tables.items()},
            {new(t): n for t, n in obs.live.items()},
            dict(obs.keys))
        o.log_mark = 0
        o.flush_coverage = set(self.flush_coverage)
        o.freed_positions = list(self.freed_positions)
        return o

    def snapshot(self) -> tuple:
        """What this oracle knows now, for :meth:`restore` once its machine is rewound to
        the same point (the observation is never changed once made: it is kept as is)."""
        return (dict(self.expected), dict(self.excess), set(self.reported_freed), self.obs, self.log_mark,
                set(self.flush_coverage), len(self.freed_positions))

    def restore(self, snapshot: tuple) -> None:
        """Back to what it knew at ``snapshot`` (which stays usable for another restore)."""
        expected, excess, reported_freed, self.obs, self.log_mark, coverage, freed = snapshot
        self.expected, self.excess, self.reported_freed = dict(expected), dict(excess), set(reported_freed)
        self.flush_coverage = set(coverage)
        del self.freed_positions[freed:]

    def check(self, op_index: int, op) -> list[Violation]:
        m = self.machine
        mlog = m.memory.log
        log = mlog[self.log_mark:]
        self.log_mark = len(mlog)
        before = self.obs
        # Every change to the tables and pages goes through the memory, which logs it: an
        # operation that logged nothing left the state as it was, and so its observation.
        after = observe(m) if log else before
        out: list[Violation] = []
        is_map = hasattr(op, "kind")
        # What the operation means.
        if is_map:
            shift = self.platform.map_shift(op.kind)
            lo, hi = op.ipa, op.ipa + (1 << shift)
            apply_map(self.expected, op.ipa, shift, op.output_address())
        else:
            lo, hi = op.ipa, op.ipa + op.size
            apply_unmap(self.expected, lo, hi)
        ctx = _Context(m, log) if self.context else _NO_CONTEXT
        translations_wrong = self._check_leaves(op_index, is_map, lo, hi, before, after, ctx, out)
        if log:     # an unchanged state has no new table or refcount to report (see _check_tables)
            self._check_tables(op_index, is_map, lo, hi, before, after, log, ctx, out)
        # Only an overwritten non-zero entry can remove a translation or unlink a table:
        # without one there is nothing for a TLB flush to cover.
        overwrote = False
        freed = self.freed_positions
        for ev in log:
            what = ev[0]
            if what == "set":
                if ev[3]:
                    overwrote = True
            elif what == "free":
                table = ev[1].table
                freed.append((table.level, table.base if table.base is not None else -1))
        if overwrote and m.kvm is not None:
            self._check_tlb(op_index, before, after, log, ctx, out)
        # Adopt what is there as the baseline for the next operation (where every
        # translation was as expected, it already is).
        if translations_wrong:
            self.expected = dict(after.keys)
        self.obs = after
        return out

    # translations
    def _check_leaves(self, op_index, is_map, lo, hi, before, after, ctx, out) -> bool:
        """Append the translation violations; whether there were any."""
        if after.keys == self.expected:     # every translation as expected: the common case
            return False
        plat = self.platform
        groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for ipa, want in self.expected.items():
            got = after.leaves.get(ipa)
            if got is None:
                kind = "map-mismatch" if is_map and lo <= ipa < hi else "over-unmapped"
                groups.setdefault((kind, plat.level_of_shift(want[0])), []).append(
                    (ipa, f"translation {_hex(ipa)} -> {_hex(want[1])} is gone"))
            elif got.key != want:
                groups.setdefault(("map-mismatch", got.table.level), []).append(
                    (ipa, f"{_hex(ipa)} translates to {_hex(got.pa)} ({got.size:#x} bytes), "
                          f"expected {_hex(want[1])} ({1 << want[0]:#x} bytes)"))
        for ipa, got in after.leaves.items():
            if ipa in self.expected:
                continue
            if not is_map and ipa in before.leaves and ipa < hi and lo < ipa + got.size:
                kind, what = "still-mapped", f"{_hex(ipa)} -> {_hex(got.pa)} intersects the range and is still mapped"
            else:
                kind, what = "map-mismatch", f"unexpected translation {_hex(ipa)} -> {_hex(got.pa)} ({got.size:#x} bytes)"
            groups.setdefault((kind, got.table.level), []).append((ipa, what))
        for (kind, level), items in sorted(groups.items()):
            items.sort()
            ipa = items[0][0]
            detail = items[0][1] + (f" (and {len(items) - 1} more)" if len(items) > 1 else "")
            out.append(Violation(kind, op_index, level, ipa, detail, ctx.lines(ipa)))
        return bool(groups)

    # tables and refcounts
    def _check_tables(self, op_index, is_map, lo, hi, before, after, log, ctx, out):
        plat, mode = self.platform, self.mode
        after_tables, before_tables = after.tables, before.tables
        # A leaked table is reported once: it is in neither the next operation's
        # baseline nor its allocations.
        gone = [t for t in before_tables if t not in after_tables]
        gone += [ev[1] for ev in log if ev[0] == "alloc" and ev[1] not in after_tables and ev[1] not in before_tables]
        # Everything in address order: tables iterate in identity-hash order,
        # which differs between processes, and verdicts must be byte-identical.
        for table in sorted(gone, key=_pa) if len(gone) > 1 else gone:
            if not all(page.freed for page in table.pages):
                base = before_tables.get(table, (table.base, None))[0]
                out.append(Violation("leaked-table", op_index, table.level, base,
                                     f"{table.level} table page {table.pa:#x} was unlinked but not freed "
                                     f"(count {table.pages[0].count})", ctx.lines(base)))
        found: list[tuple[int, int, Violation]] = []     # (table address, order within the table, violation)
        excess, live_of = self.excess, after.live
        for table, (base, _) in after_tables.items():
            pages = table.pages
            counted = table.kind == "table"
            if len(pages) == 1:
                page = pages[0]
                if not page.freed and counted and page.count == 1 + live_of[table] and not excess:
                    if is_map or live_of[table]:     # the common case: nothing to say of this table
                        continue
                per_page = [live_of[table]]
            else:
                per_page = [0] * len(pages)
                for index in table.entries:
                    per_page[index >> table.per_page_shift] += 1
            for page, live in zip(pages, per_page):
                if page.freed:
                    if page not in self.reported_freed:
                        self.reported_freed.add(page)
                        page_ipa = base + ((page.index << table.per_page_shift) << table.shift)
                        found.append((table.pa, len(found), Violation(
                            "freed-live-page", op_index, table.level, page_ipa,
                            f"{table.level} table page {page.pa:#x} (page {page.index} of its "
                            f"allocation) was freed while still in use", ctx.lines(page_ipa))))
                    continue
                if not counted:
                    continue
                want = (1 if page.index == 0 else 0) + live + excess.get(page, 0)
                if page.count != want:
                    found.append((table.pa, len(found), Violation(
                        "refcount-mismatch", op_index, table.level, base,
                        f"{table.level} table page {page.pa:#x} has count {page.count}, "
                        f"expected {want} ({live} live entries)", ctx.lines(base))))
                    excess[page] = page.count - want + excess.get(page, 0)
            # A freed table is not retained: it was reported as freed-live-page above.
            if (not is_map and table not in self.roots and live_of[table] == 0
                    and not any(page.freed for page in pages)
                    and before.live.get(table, 0) > 0 and not excess.get(pages[0], 0)
                    and base < hi and lo < base + (table.n << table.shift)
                    and table_freeable(plat, mode, table.level)):
                found.append((table.pa, len(found), Violation(
                    "retained-empty-table", op_index, table.level, base,
                    f"{table.level} table page {table.pa:#x} covering {_hex(base)} was emptied "
                    "but not freed", ctx.lines(base))))
        if len(found) > 1:
            found.sort()
        out.extend(v for _, _, v in found)

    # TLB maintenance
    def _check_tlb(self, op_index, before, after, log, ctx, out):
        flushes: list[tuple[int, int]] = []         # (IPA, position in the log), by IPA
        first_set: dict[tuple[int, int], int] = {}
        frees: dict = {}
        for i, ev in enumerate(log):
            what = ev[0]
            if what == "set":
                first_set.setdefault((id(ev[1]), ev[2]), i)
            elif what == "tlbi":
                flushes.append((ev[1], i))
            elif what == "free":
                frees.setdefault(ev[1], i)
        flushes.sort()
        flush_ipas = [ipa for ipa, _ in flushes]
        tables = before.tables
        above: dict = {}          # table -> the first write of a slot on its path from the root

        def cleared_at(table: Table, index: int) -> int | None:
            """The first write of a slot on the path from the root to ``table[index]``."""
            if table in above:
                up = above[table]
            else:
                parent = tables[table][1]
                up = above[table] = None if parent is None else cleared_at(*parent)
            here = first_set.get((id(table), index))
            if here is None or (up is not None and up < here):
                return up
            return here

        def judge(lo: int, hi: int, after_i: int, before_i: int | None) -> str | None:
            j = bisect_left(flush_ipas, lo)
            inside = False
            while j < len(flushes) and flushes[j][0] < hi:
                inside = True
                i = flushes[j][1]
                if after_i < i and (before_i is None or i < before_i):
                    self.flush_coverage.add((lo, hi))
                    return None
                j += 1
            if inside:
                self.flush_coverage.add((lo, hi))
                return "tlbi-order"
            return "missing-tlbi"

        found: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for ipa, leaf in before.leaves.items():
            now = after.leaves.get(ipa)
            if now is not None and now.key == leaf.key and now.table is leaf.table:
                continue
            at = cleared_at(leaf.table, leaf.index)
            if at is None:
                continue
            verdict = judge(ipa, ipa + leaf.size, at, None)
            if verdict:
                found.setdefault((verdict, leaf.table.level), []).append(
                    (ipa, f"translation {_hex(ipa)} ({leaf.size:#x} bytes) was removed without a TLB flush "
                          "inside it after the entry was cleared"))
        for table, (base, parent) in before.tables.items():
            if table in after.tables or parent is None:
                continue
            at = cleared_at(*parent)
            free_i = frees.get(table.pages[0])
            if at is None or free_i is None:
                continue
            verdict = judge(base, base + (table.n << table.shift), at, free_i)
            if verdict:
                found.setdefault((verdict, table.level), []).append(
                    (base, f"{table.level} table page {table.pa:#x} was freed without a TLB flush inside "
                           "its range between unlinking and freeing"))
        for (kind, level), items in sorted(found.items()):
            items.sort()
            ipa = items[0][0]
            detail = items[0][1] + (f" (and {len(items) - 1} more)" if len(items) > 1 else "")
            out.append(Violation(kind, op_index, level, ipa, detail, ctx.lines(ipa)))


class _NoContext:
    """What an oracle made without ``context`` gives each violation: nothing."""

    @staticmethod
    def lines(ipa: int | None) -> tuple[str, ...]:
        return ()


_NO_CONTEXT = _NoContext()


class _Context:
    """Renders the descriptors on an IPA's translation path, before and after the
    operation whose effects are ``log``."""

    def __init__(self, machine, log):
        self.machine = machine
        self.log = log
        self.befores: dict | None = None

    def lines(self, ipa: int | None) -> tuple[str, ...]:
        if ipa is None:
            return ()
        if self.befores is None:         # made for the first violation: most operations have none
            self.befores = {}
            for ev in self.log:
                if ev[0] == "set":
                    self.befores.setdefault((id(ev[1]), ev[2]), ev[3])
        old = path(self.machine, ipa, self.befores)
        new = {(id(t), i): v for t, i, v in path(self.machine, ipa)}
        out = []
        for table, index, value in old:
            now = table.entries.get(index, 0)
            mark = "" if now == value else f" -> {now:#x}"
            out.append(f"{table.level}[{index}] @ {table.pa:#x}: {value:#x}{mark}")
            new.pop((id(table), index), None)
        for (tid, index), value in new.items():
            out.append(f"(new path) entry {index}: {value:#x}")
        return tuple(out)
