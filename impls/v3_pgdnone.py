"""``unmap_range()`` with the 3.19 fix "arm64: KVM: fix unmapping with 48-bit VAs".

The walkers are v3's; ``unmap_range`` now skips a pgd entry that is none.
Without the check, a 4-level walk meeting an empty pgd entry followed a pud
table pointer that did not exist.  Where the pud is folded ``pgd_none`` is
constantly false, so this equals v3 there.
"""
from __future__ import annotations

from unmapfuzz.impls.model import U64
from unmapfuzz.impls.v3 import unmap_puds


def unmap_range(k, kvm, pgdp, start, size):
    addr = start
    end = (start + size) & U64

    pgd = pgdp + k.pgd_index(addr)
    while True:
        next = k.kvm_pgd_addr_end(addr, end)
        if not k.pgd_none(k.load(pgd)):
            unmap_puds(k, kvm, pgd, addr, next)
        pgd, addr = pgd + 1, next
        if addr == end:
            break
