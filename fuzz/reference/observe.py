"""The harness's one generic walker: what the hardware would translate.

It starts at the hardware root (below the fake pgd on the 3.18 prealloc
platforms) and follows descriptors by their bits alone: a valid entry with the
table bit above the last level is a table, any other valid entry is a leaf.
It uses none of the kernel helpers the implementations use (no ``pgd_index``,
no folding, no ``*_addr_end``), so an implementation's mistake in those cannot
hide from it.  Tables are sparse, so a walk costs only the live entries.
"""
from __future__ import annotations

from dataclasses import dataclass

from unmapfuzz.impls.model.memory import TABLE, VALID, Table


@dataclass(slots=True)
class Leaf:
    ipa: int
    shift: int
    pa: int
    table: Table
    index: int

    @property
    def size(self) -> int:
        return 1 << self.shift

    @property
    def key(self) -> tuple[int, int]:
        """What a translation is: its size and output address."""
        return (self.shift, self.pa)


@dataclass(slots=True)
class Observation:
    leaves: dict[int, Leaf]                           # ipa -> leaf
    tables: dict[Table, tuple[int, "tuple[Table, int] | None"]]   # table -> (base ipa, parent slot)
    live: dict[Table, int]                            # table -> live entries
    keys: dict[int, tuple[int, int]]                  # ipa -> leaf.key, in the order of leaves

    def chain(self, table: Table, index: int) -> list[tuple[Table, int]]:
        """The entry slots from the root down to ``table[index]``."""
        slots = [(table, index)]
        parent = self.tables[table][1]
        while parent is not None:
            slots.append(parent)
            parent = self.tables[parent[0]][1]
        slots.reverse()
        return slots


def observe(machine) -> Observation:
    memory = machine.memory
    pa_mask = memory.pa_mask
    page_at = memory.pages.get
    page_shift = machine.platform.page_shift
    root = machine.hw_root
    leaves: dict[int, Leaf] = {}
    keys: dict[int, tuple[int, int]] = {}
    tables: dict[Table, tuple[int, tuple[Table, int] | None]] = {root: (0, None)}
    live: dict[Table, int] = {}
    stack = [(root, 0)]
    while stack:
        table, base = stack.pop()
        table.base = base
        shift = table.shift
        entries = table.entries
        live[table] = len(entries)
        upper = shift != page_shift
        for index, value in entries.items():
            if not value & VALID:
                continue
            ipa = base + (index << shift)
            if upper and value & TABLE:
                page = page_at(value & pa_mask)
                if page is not None and page.kind == "table" and page.table not in tables:
                    child = page.table
                    tables[child] = (ipa, (table, index))
                    stack.append((child, ipa))
                    continue
                # A table pointer to memory that is no table: the kernel
                # never writes one; show it as a leaf so it is not lost.
            pa = value & pa_mask
            leaves[ipa] = Leaf(ipa, shift, pa, table, index)
            keys[ipa] = (shift, pa)
    return Observation(leaves, tables, live, keys)


def path(machine, ipa: int, before: dict[tuple[int, int], int] | None = None) -> list[tuple[Table, int, int]]:
    """The descriptors the hardware reads to translate ``ipa``: (table, index, value).

    With ``before`` (slot -> old value), walks the state as it was before the
    writes that map records.
    """
    memory = machine.memory
    table = machine.hw_root
    base = 0
    out = []
    while True:
        index = (ipa - base) >> table.shift
        if not 0 <= index < table.n:
            return out
        value = table.entries.get(index, 0)
        if before is not None:
            value = before.get((id(table), index), value)
        out.append((table, index, value))
        if not value & VALID or table.shift == machine.platform.page_shift or not value & TABLE:
            return out
        page = memory.pages.get(value & memory.pa_mask)
        if page is None or page.kind != "table":
            return out
        base += index << table.shift
        table = page.table
