"""The kernel helpers ``unmap_range`` is written against, for one platform.

Every name here is the kernel's: ``pud_offset``, ``pmd_none``,
``kvm_pmd_addr_end``, ``page_empty``, ``put_page``...  Folding is modelled the
way ``asm-generic/pgtable-nopud.h`` and ``pgtable-nopmd.h`` do it: the folded
level's offset helper returns the parent entry's own pointer, its ``*_none`` is
constantly false, its clear/populate/free are no-ops and its ``*_addr_end``
returns ``end``.  Implementations receive a :class:`Kernel` as ``k`` and
reach memory only through it, so every effect lands in :class:`Memory`'s log.

Values are 64-bit unsigned, as ``phys_addr_t`` and ``unsigned long long`` are
on every platform here: arithmetic that can wrap is masked with ``U64``.
"""
from __future__ import annotations

from .memory import TABLE, VALID, Fault, Memory, Page, Ptr
from .platforms import Platform

U64 = (1 << 64) - 1


class Kernel:
    def __init__(self, platform: Platform, memory: Memory):
        p = self.platform = platform
        self.memory = memory
        self.PAGE_SHIFT = p.page_shift
        self.PAGE_SIZE = 1 << p.page_shift
        self.PAGE_MASK = U64 & ~(self.PAGE_SIZE - 1)
        self.PGDIR_SHIFT, self.PUD_SHIFT, self.PMD_SHIFT = p.pgdir_shift, p.pud_shift, p.pmd_shift
        self.PGDIR_SIZE = 1 << p.pgdir_shift
        self.PUD_SIZE = 1 << p.pud_shift
        self.PMD_SIZE = 1 << p.pmd_shift
        self.PTRS_PER_PGD = p.ptrs_per_pgd
        self.PTRS_PER_TABLE = p.ptrs_per_table
        self.KVM_PREALLOC_LEVEL = p.prealloc
        self.load = memory.read      # ``*ptr``; bound directly, it is the hot path
        self.pgd_addr_end = _addr_end_of(self.PGDIR_SIZE)
        self.pud_addr_end = _addr_end_of(self.PUD_SIZE)
        self.pmd_addr_end = _addr_end_of(self.PMD_SIZE)
        self._pa_mask = memory.pa_mask
        self._idx_mask = p.ptrs_per_table - 1
        # Folded levels get the asm-generic versions.
        if p.pud_folded:
            self.pgd_none = _false
            self.pgd_present = _true
            self.pgd_clear = _noop
            self.pgd_populate = _noop
            self.pud_free = _noop
            self.pud_offset = _same
            self.pud_addr_end = _end
        if p.pmd_folded:
            self.pud_none = _false
            self.pud_present = _true
            self.pud_clear = _noop
            self.pud_populate = _noop
            self.pmd_free = _noop
            self.pmd_offset = _same
            self.pmd_addr_end = _end
        if p.arm32 or p.pmd_folded:
            self.pud_huge = _false
        if p.arm32:
            self.kvm_pud_addr_end = _end
        # The kvm_ versions are the generic ones (or `end` where folded); bind
        # them directly, since every walker iteration calls one.
        self.kvm_pgd_addr_end = self.pgd_addr_end
        if not p.arm32:
            self.kvm_pud_addr_end = self.pud_addr_end
        self.kvm_pmd_addr_end = self.pmd_addr_end

    # -- geometry -------------------------------------------------------------

    def pgd_index(self, addr: int) -> int:
        if self.platform.pgd_index_masked:
            return (addr >> self.PGDIR_SHIFT) & (self.PTRS_PER_PGD - 1)
        return addr >> self.PGDIR_SHIFT

    def _table(self, entry: int) -> Ptr:
        return self.memory.table_at(entry & self._pa_mask)

    def pud_offset(self, pgd: Ptr, addr: int) -> Ptr:
        return self._table(self.load(pgd)) + ((addr >> self.PUD_SHIFT) & self._idx_mask)

    def pmd_offset(self, pud: Ptr, addr: int) -> Ptr:
        return self._table(self.load(pud)) + ((addr >> self.PMD_SHIFT) & self._idx_mask)

    def pte_offset_kernel(self, pmd: Ptr, addr: int) -> Ptr:
        return self._table(self.load(pmd)) + ((addr >> self.PAGE_SHIFT) & self._idx_mask)

    # -- entry predicates (values, as in C) -----------------------------------

    @staticmethod
    def pgd_none(v: int) -> bool:
        return v == 0

    @staticmethod
    def pgd_present(v: int) -> bool:
        return bool(v & VALID)

    @staticmethod
    def pud_none(v: int) -> bool:
        return v == 0

    @staticmethod
    def pud_present(v: int) -> bool:
        return bool(v & VALID)

    @staticmethod
    def pud_huge(v: int) -> bool:
        """arm64: a non-table entry; callers test ``pud_none`` first."""
        return not v & TABLE

    @staticmethod
    def pmd_none(v: int) -> bool:
        return v == 0

    @staticmethod
    def pmd_present(v: int) -> bool:
        return bool(v & VALID)

    def pmd_huge(self, v: int) -> bool:
        if self.platform.arm32:
            return bool(v) and not v & TABLE
        return not v & TABLE

    def kvm_pmd_huge(self, v: int) -> bool:
        """``pmd_huge(pmd) || pmd_trans_huge(pmd)``: a block entry."""
        return self.pmd_huge(v)

    @staticmethod
    def pte_none(v: int) -> bool:
        return v == 0

    @staticmethod
    def pte_present(v: int) -> bool:
        return bool(v & VALID)

    # -- writing entries ------------------------------------------------------

    def pgd_clear(self, pgd: Ptr) -> None:
        self.memory.write(pgd, 0)

    def pud_clear(self, pud: Ptr) -> None:
        self.memory.write(pud, 0)

    def pmd_clear(self, pmd: Ptr) -> None:
        self.memory.write(pmd, 0)

    def kvm_set_pte(self, pte: Ptr, value: int) -> None:
        self.memory.write(pte, value)

    def kvm_set_pmd(self, pmd: Ptr, value: int) -> None:
        self.memory.write(pmd, value)

    def kvm_set_pud(self, pud: Ptr, value: int) -> None:
        self.memory.write(pud, value)

    def pgd_populate(self, pgd: Ptr, pud_table: Ptr) -> None:
        self.memory.write(pgd, self._table_entry(pud_table))

    def pud_populate(self, pud: Ptr, pmd_table: Ptr) -> None:
        self.memory.write(pud, self._table_entry(pmd_table))

    def pmd_populate_kernel(self, pmd: Ptr, pte_table: Ptr) -> None:
        self.memory.write(pmd, self._table_entry(pte_table))

    def _table_entry(self, table: Ptr) -> int:
        return self.memory.virt_to_page(table).pa | TABLE | VALID

    def mk_pte(self, pa: int) -> int:
        return (pa & self._pa_mask) | TABLE | VALID

    def mk_block(self, pa: int) -> int:
        return (pa & self._pa_mask) | VALID

    # -- table pages ----------------------------------------------------------

    def pud_alloc_one(self) -> Ptr:
        return Ptr(self.memory.alloc_table("pud", self.PUD_SHIFT), 0)

    def pmd_alloc_one(self) -> Ptr:
        return Ptr(self.memory.alloc_table("pmd", self.PMD_SHIFT), 0)

    def pte_alloc_one_kernel(self) -> Ptr:
        return Ptr(self.memory.alloc_table("pte", self.PAGE_SHIFT), 0)

    def pud_free(self, pud_table: Ptr) -> None:
        self.memory.free_page(self.virt_to_page(pud_table), "pud_free")

    def pmd_free(self, pmd_table: Ptr) -> None:
        self.memory.free_page(self.virt_to_page(pmd_table), "pmd_free")

    def pte_free_kernel(self, pte_table: Ptr) -> None:
        self.memory.free_page(self.virt_to_page(pte_table), "pte_free_kernel")

    def virt_to_page(self, ptr: Ptr) -> Page:
        return self.memory.virt_to_page(ptr)

    def get_page(self, page: Page) -> None:
        self.memory.get_page(page)

    def put_page(self, page: Page) -> None:
        self.memory.put_page(page)

    @staticmethod
    def page_count(page: Page) -> int:
        return page.count

    def page_empty(self, ptr: Ptr) -> bool:
        """3.15's ``page_empty()`` (3.16's ``kvm_page_empty()``)."""
        return self.virt_to_page(ptr).count == 1

    kvm_page_empty = page_empty

    # -- kvm_*_table_empty, per era (docs/KERNEL_MODEL.md section 5) ---------------

    def kvm_pte_table_empty(self, kvm, ptep: Ptr) -> bool:
        return self.kvm_page_empty(ptep)

    def kvm_pmd_table_empty(self, kvm, pmdp: Ptr) -> bool:
        p = self.platform
        if p.era == "3.16":
            return p.page_shift != 16 and self.kvm_page_empty(pmdp)
        if p.pmd_folded:
            return False
        return self.kvm_page_empty(pmdp) and (kvm is None or p.prealloc < 2)

    def kvm_pud_table_empty(self, kvm, pudp: Ptr) -> bool:
        p = self.platform
        if p.era == "3.16" or p.pud_folded:
            return False
        return self.kvm_page_empty(pudp) and (kvm is None or p.prealloc < 1)

    # -- TLB ------------------------------------------------------------------

    def kvm_tlb_flush_vmid_ipa(self, kvm, ipa: int) -> None:
        """Does nothing for hyp tables, where ``kvm`` is NULL."""
        if kvm is not None:
            self.memory.tlbi(ipa)

    # -- assertions -----------------------------------------------------------

    @staticmethod
    def VM_BUG_ON(condition: bool) -> None:
        """Compiled out: the model is of a production (CONFIG_DEBUG_VM=n) kernel."""


def _addr_end_of(size: int):
    """``*_addr_end()`` for one level: the next boundary strictly after
    ``addr``, capped at ``end``, with the ``- 1``s that make ``end == 0`` (the
    top of the address space) work."""
    mask = ~(size - 1) & U64

    def addr_end(addr: int, end: int) -> int:
        boundary = (addr + size) & mask
        return boundary if (boundary - 1) & U64 < (end - 1) & U64 else end

    return addr_end


def _false(*_args) -> bool:
    return False


def _true(*_args) -> bool:
    return True


def _noop(*_args) -> None:
    return None


def _same(ptr: Ptr, _addr: int) -> Ptr:
    return ptr


def _end(_addr: int, end: int) -> int:
    return end


__all__ = ["Kernel", "Fault", "U64"]
