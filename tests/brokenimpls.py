"""Deliberately broken ``unmap_range`` implementations, one per finding kind.

They test the oracle and the comparator: each must make ``check()`` report
exactly its finding kind.  :class:`V3` is a copy of ``impls/v3.py`` with the
walkers as methods, so each broken variant is a subclass that overrides the
one function holding its bug, written against ``k`` exactly as v3 is; the
broken variants derive from :class:`Baseline`, the copy of v3-pgdnone.  The
module-level functions (``still_mapped``, ``over_unmapped``, ...) are the
implementations; :data:`BROKEN` maps each finding kind to its implementation.
"""
from __future__ import annotations

from unmapfuzz.impls.model.kernel import U64


class V3:
    """impls/v3.py, method by method (tests check it behaves exactly as v3)."""

    def clear_pgd_entry(self, k, kvm, pgd, addr):
        pud_table = k.pud_offset(pgd, 0)
        k.pgd_clear(pgd)
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)
        k.pud_free(pud_table)
        k.put_page(k.virt_to_page(pgd))

    def clear_pud_entry(self, k, kvm, pud, addr):
        pmd_table = k.pmd_offset(pud, 0)
        k.pud_clear(pud)
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)
        k.pmd_free(pmd_table)
        k.put_page(k.virt_to_page(pud))

    def clear_pmd_entry(self, k, kvm, pmd, addr):
        pte_table = k.pte_offset_kernel(pmd, 0)
        k.pmd_clear(pmd)
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)
        k.pte_free_kernel(pte_table)
        k.put_page(k.virt_to_page(pmd))

    def clear_pte(self, k, kvm, pte, addr):
        """The body of unmap_ptes' loop for one non-none pte."""
        k.kvm_set_pte(pte, 0)
        k.put_page(k.virt_to_page(pte))
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)

    def unmap_ptes(self, k, kvm, pmd, addr, end):
        start_addr = addr
        start_pte = pte = k.pte_offset_kernel(pmd, addr)
        while True:
            if not k.pte_none(k.load(pte)):
                self.clear_pte(k, kvm, pte, addr)
            pte, addr = pte + 1, (addr + k.PAGE_SIZE) & U64
            if addr == end:
                break

        if k.kvm_pte_table_empty(kvm, start_pte):
            self.clear_pmd_entry(k, kvm, pmd, start_addr)

    def unmap_pmds(self, k, kvm, pud, addr, end):
        start_addr = addr
        start_pmd = pmd = k.pmd_offset(pud, addr)
        while True:
            next = k.kvm_pmd_addr_end(addr, end)
            if not k.pmd_none(k.load(pmd)):
                if k.kvm_pmd_huge(k.load(pmd)):
                    k.pmd_clear(pmd)
                    k.kvm_tlb_flush_vmid_ipa(kvm, addr)
                    k.put_page(k.virt_to_page(pmd))
                else:
                    self.unmap_ptes(k, kvm, pmd, addr, next)
            pmd, addr = pmd + 1, next
            if addr == end:
                break

        if k.kvm_pmd_table_empty(kvm, start_pmd):
            self.clear_pud_entry(k, kvm, pud, start_addr)

    def unmap_puds(self, k, kvm, pgd, addr, end):
        start_addr = addr
        start_pud = pud = k.pud_offset(pgd, addr)
        while True:
            next = k.kvm_pud_addr_end(addr, end)
            if not k.pud_none(k.load(pud)):
                if k.pud_huge(k.load(pud)):
                    k.pud_clear(pud)
                    k.kvm_tlb_flush_vmid_ipa(kvm, addr)
                    k.put_page(k.virt_to_page(pud))
                else:
                    self.unmap_pmds(k, kvm, pud, addr, next)
            pud, addr = pud + 1, next
            if addr == end:
                break

        if k.kvm_pud_table_empty(kvm, start_pud):
            self.clear_pgd_entry(k, kvm, pgd, start_addr)

    def unmap_range(self, k, kvm, pgdp, start, size):
        addr = start
        end = (start + size) & U64

        pgd = pgdp + k.pgd_index(addr)
        while True:
            next = k.kvm_pgd_addr_end(addr, end)
            self.unmap_puds(k, kvm, pgd, addr, next)
            pgd, addr = pgd + 1, next
            if addr == end:
                break


class Baseline(V3):
    """impls/v3_pgdnone.py: v3 with the 3.19 pgd_none() test.  Every broken variant
    below is this plus one bug, so that against the baseline it differs by its bug alone."""

    def unmap_range(self, k, kvm, pgdp, start, size):
        addr = start
        end = (start + size) & U64

        pgd = pgdp + k.pgd_index(addr)
        while True:
            next = k.kvm_pgd_addr_end(addr, end)
            if not k.pgd_none(k.load(pgd)):
                self.unmap_puds(k, kvm, pgd, addr, next)
            pgd, addr = pgd + 1, next
            if addr == end:
                break


class SkipLastPte(Baseline):
    """still-mapped: each pte loop leaves the last pte of its range mapped."""

    def unmap_ptes(self, k, kvm, pmd, addr, end):
        start_addr = addr
        start_pte = pte = k.pte_offset_kernel(pmd, addr)
        while True:
            last = (addr + k.PAGE_SIZE) & U64 == end
            if not k.pte_none(k.load(pte)) and not last:       # BUG
                self.clear_pte(k, kvm, pte, addr)
            pte, addr = pte + 1, (addr + k.PAGE_SIZE) & U64
            if addr == end:
                break

        if k.kvm_pte_table_empty(kvm, start_pte):
            self.clear_pmd_entry(k, kvm, pmd, start_addr)


def _table_end(k, start_pte, start_addr):
    """The pointer one past the last entry of the pte table ``start_pte`` points into."""
    return start_pte - ((start_addr >> k.PAGE_SHIFT) & (k.PTRS_PER_TABLE - 1)) + k.PTRS_PER_TABLE


class ClearPastEnd(Baseline):
    """over-unmapped: each pte loop also clears the pte just past ``end`` when it
    lies in the same table (an inclusive end), with put and flush, so only the
    translation is wrong."""

    def unmap_ptes(self, k, kvm, pmd, addr, end):
        start_addr = addr
        start_pte = pte = k.pte_offset_kernel(pmd, addr)
        while True:
            if not k.pte_none(k.load(pte)):
                self.clear_pte(k, kvm, pte, addr)
            pte, addr = pte + 1, (addr + k.PAGE_SIZE) & U64
            if addr == end:
                break
        if pte < _table_end(k, start_pte, start_addr) and not k.pte_none(k.load(pte)):   # BUG
            self.clear_pte(k, kvm, pte, addr)

        if k.kvm_pte_table_empty(kvm, start_pte):
            self.clear_pmd_entry(k, kvm, pmd, start_addr)


class MapsPastEnd(Baseline):
    """map-mismatch: after its loop, unmap_ptes installs a new translation in the
    empty pte just past ``end`` (reference taken, so only the translation is
    wrong)."""

    def unmap_ptes(self, k, kvm, pmd, addr, end):
        start_addr = addr
        start_pte = pte = k.pte_offset_kernel(pmd, addr)
        while True:
            if not k.pte_none(k.load(pte)):
                self.clear_pte(k, kvm, pte, addr)
            pte, addr = pte + 1, (addr + k.PAGE_SIZE) & U64
            if addr == end:
                break
        if pte < _table_end(k, start_pte, start_addr) and k.pte_none(k.load(pte)):        # BUG
            k.kvm_set_pte(pte, k.mk_pte(0x5000))
            k.get_page(k.virt_to_page(pte))

        if k.kvm_pte_table_empty(kvm, start_pte):
            self.clear_pmd_entry(k, kvm, pmd, start_addr)


class NeverFreePteTable(Baseline):
    """leaked-table: clear_pmd_entry unlinks the pte table but never frees it."""

    def clear_pmd_entry(self, k, kvm, pmd, addr):
        k.pmd_clear(pmd)
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)
        # BUG: no pte_free_kernel(pte_table)
        k.put_page(k.virt_to_page(pmd))


class NeverClearPmd(Baseline):
    """retained-empty-table: unmap_ptes never calls clear_pmd_entry, so emptied
    pte tables stay linked."""

    def unmap_ptes(self, k, kvm, pmd, addr, end):
        pte = k.pte_offset_kernel(pmd, addr)
        while True:
            if not k.pte_none(k.load(pte)):
                self.clear_pte(k, kvm, pte, addr)
            pte, addr = pte + 1, (addr + k.PAGE_SIZE) & U64
            if addr == end:
                break
        # BUG: no kvm_pte_table_empty() / clear_pmd_entry()


class FreeWithoutUnlink(Baseline):
    """freed-live-page: clear_pmd_entry frees the pte table but leaves the pmd
    entry pointing at it (and so, consistently, keeps the pmd page's reference)."""

    def clear_pmd_entry(self, k, kvm, pmd, addr):
        pte_table = k.pte_offset_kernel(pmd, 0)
        # BUG: no pmd_clear(pmd) (and no put_page of the pmd page)
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)
        k.pte_free_kernel(pte_table)


class PutGuestPage(Baseline):
    """freed-non-table: puts the guest page a pte maps (``pte_page``) instead of
    the pte table page."""

    def clear_pte(self, k, kvm, pte, addr):
        guest = k.memory.table_at(k.load(pte) & k.memory.pa_mask)
        k.kvm_set_pte(pte, 0)
        k.put_page(k.virt_to_page(guest))                     # BUG: not virt_to_page(pte)
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)


class NoPutPte(Baseline):
    """refcount-mismatch: clears a pte without put_page on its table page."""

    def clear_pte(self, k, kvm, pte, addr):
        k.kvm_set_pte(pte, 0)
        # BUG: no put_page(virt_to_page(pte))
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)


class PutNonePud(Baseline):
    """refcount-underflow: unmap_puds puts the page holding a pud entry even when
    the entry is none, dropping a reference nobody took (on a root page that
    starts at 0 that is an underflow)."""

    def unmap_puds(self, k, kvm, pgd, addr, end):
        start_addr = addr
        start_pud = pud = k.pud_offset(pgd, addr)
        while True:
            next = k.kvm_pud_addr_end(addr, end)
            if k.pud_none(k.load(pud)):
                k.put_page(k.virt_to_page(pud))                # BUG
            elif k.pud_huge(k.load(pud)):
                k.pud_clear(pud)
                k.kvm_tlb_flush_vmid_ipa(kvm, addr)
                k.put_page(k.virt_to_page(pud))
            else:
                self.unmap_pmds(k, kvm, pud, addr, next)
            pud, addr = pud + 1, next
            if addr == end:
                break

        if k.kvm_pud_table_empty(kvm, start_pud):
            self.clear_pgd_entry(k, kvm, pgd, start_addr)


class FreePteTableTwice(Baseline):
    """double-free: clear_pmd_entry calls pte_free_kernel twice."""

    def clear_pmd_entry(self, k, kvm, pmd, addr):
        pte_table = k.pte_offset_kernel(pmd, 0)
        k.pmd_clear(pmd)
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)
        k.pte_free_kernel(pte_table)
        k.pte_free_kernel(pte_table)                           # BUG
        k.put_page(k.virt_to_page(pmd))


class ReadAfterFree(Baseline):
    """use-after-free: clear_pmd_entry reads the first pte after freeing its table."""

    def clear_pmd_entry(self, k, kvm, pmd, addr):
        pte_table = k.pte_offset_kernel(pmd, 0)
        k.pmd_clear(pmd)
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)
        k.pte_free_kernel(pte_table)
        k.VM_BUG_ON(not k.pte_none(k.load(pte_table)))       # BUG: reads freed memory
        k.put_page(k.virt_to_page(pmd))


class _WithoutTlbi:
    """``k`` with kvm_tlb_flush_vmid_ipa compiled out."""

    def __init__(self, k):
        self._k = k

    def __getattr__(self, name):
        return getattr(self._k, name)

    def kvm_tlb_flush_vmid_ipa(self, kvm, ipa):
        pass


class NoFlush(Baseline):
    """missing-tlbi: v3 without any kvm_tlb_flush_vmid_ipa."""

    def unmap_range(self, k, kvm, pgdp, start, size):
        super().unmap_range(_WithoutTlbi(k), kvm, pgdp, start, size)   # BUG: never flushes


class FlushBeforeClear(Baseline):
    """tlbi-order: unmap_ptes flushes the IPA before clearing the pte, not after."""

    def clear_pte(self, k, kvm, pte, addr):
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)                   # BUG: too early
        k.kvm_set_pte(pte, 0)
        k.put_page(k.virt_to_page(pte))


class ScanPastTable(Baseline):
    """out-of-bounds: decides a pte table is empty by scanning entries 0..512
    inclusive (``<=`` for ``<``), reading one entry past the table."""

    def unmap_ptes(self, k, kvm, pmd, addr, end):
        start_addr = addr
        pte = k.pte_offset_kernel(pmd, addr)
        while True:
            if not k.pte_none(k.load(pte)):
                self.clear_pte(k, kvm, pte, addr)
            pte, addr = pte + 1, (addr + k.PAGE_SIZE) & U64
            if addr == end:
                break

        table = k.pte_offset_kernel(pmd, 0)
        i = 0
        while i <= k.PTRS_PER_TABLE:                           # BUG: <=
            if not k.pte_none(k.load(table + i)):
                return
            i += 1
        self.clear_pmd_entry(k, kvm, pmd, start_addr)


class Spin(Baseline):
    """hang: spins reading the pgd forever (the step budget stops it)."""

    def unmap_range(self, k, kvm, pgdp, start, size):
        while True:                                            # BUG
            k.load(pgdp)


class Typo(Baseline):
    """crash: a typo'd helper name raises AttributeError."""

    def unmap_ptes(self, k, kvm, pmd, addr, end):
        k.pte_offest_kernel(pmd, addr)                         # BUG: typo


def _impl(cls):
    """The class's ``unmap_range`` as a plain function carrying its docstring."""
    instance = cls()

    def unmap_range(k, kvm, pgdp, start, size):
        return instance.unmap_range(k, kvm, pgdp, start, size)

    unmap_range.__doc__ = cls.__doc__
    unmap_range.__name__ = unmap_range.__qualname__ = cls.__name__
    return unmap_range


v3_copy = _impl(V3)
baseline_copy = _impl(Baseline)
still_mapped = _impl(SkipLastPte)
over_unmapped = _impl(ClearPastEnd)
map_mismatch = _impl(MapsPastEnd)
leaked_table = _impl(NeverFreePteTable)
retained_empty_table = _impl(NeverClearPmd)
freed_live_page = _impl(FreeWithoutUnlink)
freed_non_table = _impl(PutGuestPage)
refcount_mismatch = _impl(NoPutPte)
refcount_underflow = _impl(PutNonePud)
double_free = _impl(FreePteTableTwice)
use_after_free = _impl(ReadAfterFree)
missing_tlbi = _impl(NoFlush)
tlbi_order = _impl(FlushBeforeClear)
out_of_bounds = _impl(ScanPastTable)
hang = _impl(Spin)
crash = _impl(Typo)

BROKEN = {
    "still-mapped": still_mapped,
    "over-unmapped": over_unmapped,
    "map-mismatch": map_mismatch,
    "leaked-table": leaked_table,
    "retained-empty-table": retained_empty_table,
    "freed-live-page": freed_live_page,
    "freed-non-table": freed_non_table,
    "refcount-mismatch": refcount_mismatch,
    "refcount-underflow": refcount_underflow,
    "double-free": double_free,
    "use-after-free": use_after_free,
    "missing-tlbi": missing_tlbi,
    "tlbi-order": tlbi_order,
    "out-of-bounds": out_of_bounds,
    "hang": hang,
    "crash": crash,
}
