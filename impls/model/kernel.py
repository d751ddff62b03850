"""The kernel helpers ``unmap_range`` is written against, for one platform.

Every name here is the kernel's: ``pud_offset``, ``pmd_none``,
``kvm_pmd_addr_end``, ``page_empty``, ``put_page``...  Folding is modelled the
way ``asm-generic/pgtable-nopud.h`` and ``pgtable-nopmd.h`` do it: the folded
level's offset helper returns the parent entry's own pointer, its ``*_none`` is
constantly false, its clear/populate/free are no-ops and its ``*_addr_end``
returns ``end``.  Implementations receive a :class:`Kernel` as ``k`` and
reach memory only through it, so every effect lands in :class:`Memory`'s log.
Each helper is bound once per platform, so no call tests the platform again.

Values are 64-bit unsigned, as ``phys_addr_t`` and ``unsigned long long`` are
on every platform here: arithmetic that can wrap is masked with ``U64``.
Pointers are integers (see :mod:`.memory`): ``pte + 1`` is the next entry.

Fast paths
----------

A walk over a run of none entries reads each entry once and does nothing
else, yet in Python each of those iterations costs a dozen calls.  The
``skip_none_*`` helpers take such a run in one step, with the same effect on
everything the harness can see: the same reads counted against the step
budget (so ``hang`` comes at the same read), and no read that could fault
(an index past the table, a freed page, the read that crosses the budget):
those are left to the walker's own next read, which raises exactly what it
always did.  Each is written for one loop of the built-in walkers and says
which; a user implementation gets them only by calling them.  With
``fast=False`` every one of them returns its arguments unchanged, and
``tests/test_fastpaths.py`` checks that verdicts, final states, signatures and
the per-operation count of table accesses are the same either way.
"""
from __future__ import annotations

from .memory import TABLE, VALID, Memory, Page, Table
from .platforms import Platform

U64 = (1 << 64) - 1
_INFINITE = 1 << 64


class Kernel:
    def __init__(self, platform: Platform, memory: Memory, fast: bool = True):
        p = self.platform = platform
        self.memory = memory
        self.fast = fast
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
        self._bind_geometry()
        self._bind_memory()
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
        self.pmd_huge = self.kvm_pmd_huge = _pmd_huge_arm32 if p.arm32 else _not_table
        # The kvm_ versions are the generic ones (or `end` where folded, and
        # ARM32's kvm_pud_addr_end is `end`); bound directly, every walker
        # iteration calls one.
        self.kvm_pgd_addr_end = self.pgd_addr_end
        self.kvm_pud_addr_end = _end if p.arm32 else self.pud_addr_end
        self.kvm_pmd_addr_end = self.pmd_addr_end
        self._bind_table_empty()
        self._bind_fast_paths()

    # -- geometry -------------------------------------------------------------

    def _bind_geometry(self) -> None:
        p, memory = self.platform, self.memory
        table_at, load, pa_mask, idx_mask = memory.table_at, memory.read, memory.pa_mask, self._idx_mask
        pgdir_shift, pud_shift, pmd_shift, page_shift = p.pgdir_shift, p.pud_shift, p.pmd_shift, p.page_shift

        if p.pgd_index_masked:
            pgd_mask = p.ptrs_per_pgd - 1

            def pgd_index(addr: int) -> int:
                return (addr >> pgdir_shift) & pgd_mask
        else:
            def pgd_index(addr: int) -> int:
                return addr >> pgdir_shift

        def pud_offset(pgd: int, addr: int) -> int:
            return table_at(load(pgd) & pa_mask) + ((addr >> pud_shift) & idx_mask)

        def pmd_offset(pud: int, addr: int) -> int:
            return table_at(load(pud) & pa_mask) + ((addr >> pmd_shift) & idx_mask)

        def pte_offset_kernel(pmd: int, addr: int) -> int:
            return table_at(load(pmd) & pa_mask) + ((addr >> page_shift) & idx_mask)

        self.pgd_index = pgd_index
        self.pud_offset = pud_offset
        self.pmd_offset = pmd_offset
        self.pte_offset_kernel = pte_offset_kernel

    def _bind_memory(self) -> None:
        """The helpers that are one memory operation, bound straight to it: a walker's
        ``k.put_page(...)`` is one call, not a method that calls another."""
        memory = self.memory
        write, virt_to_page, free_page, log_append = (memory.write, memory.virt_to_page, memory.free_page,
                                                      memory.log.append)
        self.kvm_set_pte = self.kvm_set_pmd = self.kvm_set_pud = write
        self.virt_to_page = virt_to_page
        self.get_page = memory.get_page
        self.put_page = memory.put_page
        self.pgd_none = self.pud_none = self.pmd_none = self.pte_none = _is_zero
        self.pgd_present = self.pud_present = self.pmd_present = self.pte_present = _is_valid

        def clear(entry: int) -> None:
            write(entry, 0)

        self.pgd_clear = self.pud_clear = self.pmd_clear = clear

        def page_empty(ptr: int) -> bool:
            """3.15's ``page_empty()`` (3.16's ``kvm_page_empty()``)."""
            return virt_to_page(ptr).count == 1

        self.page_empty = self.kvm_page_empty = page_empty

        def pte_free_kernel(pte_table: int) -> None:
            free_page(virt_to_page(pte_table), "pte_free_kernel")

        def pmd_free(pmd_table: int) -> None:
            free_page(virt_to_page(pmd_table), "pmd_free")

        def pud_free(pud_table: int) -> None:
            free_page(virt_to_page(pud_table), "pud_free")

        self.pte_free_kernel, self.pmd_free, self.pud_free = pte_free_kernel, pmd_free, pud_free

        def kvm_tlb_flush_vmid_ipa(kvm, ipa: int) -> None:
            """Does nothing for hyp tables, where ``kvm`` is NULL."""
            if kvm is not None:
                log_append(("tlbi", ipa))

        self.kvm_tlb_flush_vmid_ipa = kvm_tlb_flush_vmid_ipa

    # -- entry predicates (values, as in C) -----------------------------------
    # (bound per instance in _bind_memory; these document them and serve callers of the class)

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

    # pmd_huge and kvm_pmd_huge (``pmd_huge(pmd) || pmd_trans_huge(pmd)``: a
    # block entry) are bound per platform in __init__: ARM32's also requires a
    # non-zero entry, arm64's is any entry without the table bit.

    @staticmethod
    def pte_none(v: int) -> bool:
        return v == 0

    @staticmethod
    def pte_present(v: int) -> bool:
        return bool(v & VALID)

    # -- writing entries ------------------------------------------------------

    def pgd_clear(self, pgd: int) -> None:
        self.memory.write(pgd, 0)

    def pud_clear(self, pud: int) -> None:
        self.memory.write(pud, 0)

    def pmd_clear(self, pmd: int) -> None:
        self.memory.write(pmd, 0)

    def kvm_set_pte(self, pte: int, value: int) -> None:
        self.memory.write(pte, value)

    def kvm_set_pmd(self, pmd: int, value: int) -> None:
        self.memory.write(pmd, value)

    def kvm_set_pud(self, pud: int, value: int) -> None:
        self.memory.write(pud, value)

    def pgd_populate(self, pgd: int, pud_table: int) -> None:
        self.memory.write(pgd, self._table_entry(pud_table))

    def pud_populate(self, pud: int, pmd_table: int) -> None:
        self.memory.write(pud, self._table_entry(pmd_table))

    def pmd_populate_kernel(self, pmd: int, pte_table: int) -> None:
        self.memory.write(pmd, self._table_entry(pte_table))

    def _table_entry(self, table: int) -> int:
        return self.memory.virt_to_page(table).pa | TABLE | VALID

    def mk_pte(self, pa: int) -> int:
        return (pa & self._pa_mask) | TABLE | VALID

    def mk_block(self, pa: int) -> int:
        return (pa & self._pa_mask) | VALID

    # -- table pages ----------------------------------------------------------

    def pud_alloc_one(self) -> int:
        return self.memory.alloc_table("pud", self.PUD_SHIFT).ptr0

    def pmd_alloc_one(self) -> int:
        return self.memory.alloc_table("pmd", self.PMD_SHIFT).ptr0

    def pte_alloc_one_kernel(self) -> int:
        return self.memory.alloc_table("pte", self.PAGE_SHIFT).ptr0

    def pud_free(self, pud_table: int) -> None:
        self.memory.free_page(self.virt_to_page(pud_table), "pud_free")

    def pmd_free(self, pmd_table: int) -> None:
        self.memory.free_page(self.virt_to_page(pmd_table), "pmd_free")

    def pte_free_kernel(self, pte_table: int) -> None:
        self.memory.free_page(self.virt_to_page(pte_table), "pte_free_kernel")

    def virt_to_page(self, ptr: int) -> Page:
        return self.memory.virt_to_page(ptr)

    def get_page(self, page: Page) -> None:
        self.memory.get_page(page)

    def put_page(self, page: Page) -> None:
        self.memory.put_page(page)

    @staticmethod
    def page_count(page: Page) -> int:
        return page.count

    def page_empty(self, ptr: int) -> bool:
        """3.15's ``page_empty()`` (3.16's ``kvm_page_empty()``)."""
        return self.memory.virt_to_page(ptr).count == 1

    def kvm_page_empty(self, ptr: int) -> bool:
        return self.memory.virt_to_page(ptr).count == 1

    # -- kvm_*_table_empty, per era (docs/KERNEL_MODEL.md section 5) ---------------

    def _bind_table_empty(self) -> None:
        p, page_empty = self.platform, self.kvm_page_empty

        def kvm_pte_table_empty(kvm, ptep: int) -> bool:
            return page_empty(ptep)

        if p.era == "3.16" and p.page_shift == 16:
            kvm_pmd_table_empty = _false2
        elif p.era == "3.16":
            def kvm_pmd_table_empty(kvm, pmdp: int) -> bool:
                return page_empty(pmdp)
        elif p.pmd_folded:
            kvm_pmd_table_empty = _false2
        else:
            def kvm_pmd_table_empty(kvm, pmdp: int) -> bool:
                return page_empty(pmdp) and (kvm is None or p.prealloc < 2)

        if p.era == "3.16" or p.pud_folded:
            kvm_pud_table_empty = _false2
        else:
            def kvm_pud_table_empty(kvm, pudp: int) -> bool:
                return page_empty(pudp) and (kvm is None or p.prealloc < 1)

        self.kvm_pte_table_empty = kvm_pte_table_empty
        self.kvm_pmd_table_empty = kvm_pmd_table_empty
        self.kvm_pud_table_empty = kvm_pud_table_empty

    # -- TLB ------------------------------------------------------------------

    def kvm_tlb_flush_vmid_ipa(self, kvm, ipa: int) -> None:
        """Does nothing for hyp tables, where ``kvm`` is NULL."""
        if kvm is not None:
            self.memory.tlbi(ipa)

    # -- assertions -----------------------------------------------------------

    @staticmethod
    def VM_BUG_ON(condition: bool) -> None:
        """Compiled out: the model is of a production (CONFIG_DEBUG_VM=n) kernel."""

    # -- fast paths (see the module docstring) ----------------------------------------

    def _bind_fast_paths(self) -> None:
        p, zero_run = self.platform, self.memory.zero_run
        page = self.PAGE_SIZE

        def skip_none_ptes(pte: int, addr: int, end: int) -> tuple[int, int]:
            """``unmap_ptes()``'s iterations over none ptes: one read each, ``addr`` a page on."""
            run = zero_run(pte, _page_steps(addr, end, page))
            return (pte + run, (addr + run * page) & U64) if run else (pte, addr)

        def skipper(size: int, reads: int = 1):
            """A run of none entries in a loop that steps ``addr = *_addr_end(addr, end)``
            and reads each none entry ``reads`` times."""
            def skip(ptr: int, addr: int, end: int) -> tuple[int, int]:
                steps = _boundary_steps(addr, end, size)
                run = zero_run(ptr, steps, reads)
                return (ptr + run, _boundary_advance(addr, end, size, run, steps)) if run else (ptr, addr)
            return skip

        # unmap_pmds(): pmd_none() reads the entry; where the pmd is folded it
        # is constantly false and the loop runs once, so there is nothing to skip.
        skip_none_pmds = _keep if p.pmd_folded else skipper(self.PMD_SIZE)
        # unmap_puds(): likewise where the pud is folded (ARM32, whose
        # kvm_pud_addr_end() is `end`, folds it too).
        skip_none_puds = _keep if p.pud_folded else skipper(self.PUD_SIZE)
        # unmap_range() calls unmap_puds() on a pgd entry.  Where the pud is
        # folded, unmap_puds() on a none entry reads it and returns
        # (pud_offset() is the entry itself; kvm_pud_table_empty() is constantly
        # 0): once with pud_none(); where the pmd is folded too, pud_none() and
        # pud_huge() are constants whose argument *pud is still read, and
        # unmap_pmds() reads the entry once more with pmd_none(): three reads.
        # On 4 levels unmap_puds() follows the none entry as a table pointer,
        # which is no run to skip.
        unmap_puds_reads = 3 if p.pmd_folded else 1
        # 3.16's unmap_range(), which calls unmap_puds() on every pgd entry.
        skip_none_folded_pgds = skipper(self.PGDIR_SIZE, unmap_puds_reads) if p.pud_folded else _keep
        # 3.19's unmap_range() tests pgd_none(*pgd) first: on 4 levels that one
        # read skips the entry; where the pud is folded pgd_none() is constantly
        # false but its argument is read, and unmap_puds() is called as above.
        skip_none_pgds = skipper(self.PGDIR_SIZE, 1 + unmap_puds_reads if p.pud_folded else 1)

        skip_none_ranges = self._old_loop_fast_path()

        if not self.fast:
            skip_none_ptes = skip_none_pmds = skip_none_puds = skip_none_pgds = skip_none_folded_pgds = _keep
            skip_none_ranges = _keep_addr
        self.skip_none_ranges = skip_none_ranges
        self.skip_none_ptes = skip_none_ptes
        self.skip_none_pmds = skip_none_pmds
        self.skip_none_puds = skip_none_puds
        self.skip_none_pgds = skip_none_pgds
        self.skip_none_folded_pgds = skip_none_folded_pgds


    def _old_loop_fast_path(self):
        """The fast path of 3.15's ``while (addr < end)`` loop, which re-derives the
        whole path from ``pgdp`` in every iteration.

        Three kinds of iteration do nothing but read: at a none pud in a live pud
        table of a 4-level platform (``addr`` jumps to ``kvm_pud_addr_end()``), at a
        none pmd in a live pmd table (``addr`` jumps to ``kvm_pmd_addr_end()``) and
        at a none pte in a pte table that is not empty (``addr`` steps one page).  Each reads a
        fixed number of entries, counted below from the loop's text: the
        folded levels' helpers are constants, but their arguments are read.
        The helper looks down the path without counting (``peek``); if the
        iteration at ``addr`` is of one of those kinds, it takes the run of
        them in one step, counting every read; otherwise it returns ``addr``
        and the loop does the iteration itself.
        """
        p, memory, k = self.platform, self.memory, self
        peek, zero_run, table_at = memory.peek, memory.zero_run, memory.table_at
        pa_mask, idx_mask, page = self._pa_mask, self._idx_mask, self.PAGE_SIZE
        pgd_index, pud_size, pmd_size = self.pgd_index, self.PUD_SIZE, self.PMD_SIZE
        pud_folded, pmd_folded = p.pud_folded, p.pmd_folded
        # A none pud ends the loop where kvm_pud_addr_end() is `end` (a folded pud,
        # ARM32) and is never none where the pmd is folded (pud_none() is false).
        pud_runs = not (pud_folded or pmd_folded or p.arm32)
        pud_shift, pmd_shift, page_shift = p.pud_shift, p.pmd_shift, p.page_shift
        # pud_offset() reads the pgd entry unless the pud is folded; pmd_offset()
        # reads the pud entry unless the pmd is folded.
        offsets = (not pud_folded) + (not pmd_folded)
        # A none pmd: pud_none(*pud), pud_huge(*pud), pmd_none(*pmd).
        none_pmd_reads = 3 + offsets
        # A none pte: pud_none(*pud), pud_huge(*pud), pmd_none(*pmd),
        # kvm_pmd_huge(*pmd), pte_offset_kernel()'s *pmd, clear_pte_entry()'s
        # pte_present(*pte), and the ladder's kvm_pmd_huge(*pmd) (page_empty()
        # reads no entry).
        none_pte_reads = 7 + offsets
        # A none pud: pud_offset()'s *pgd and pud_none(*pud).
        none_pud_reads = 2

        def skip_none_ranges(pgdp: int, addr: int, end: int) -> int:
            pud = pgd = pgdp + pgd_index(addr)
            if not pud_folded:
                v = peek(pgd)
                if v is None:
                    return addr
                pud = table_at(v & pa_mask) + ((addr >> pud_shift) & idx_mask)
            pud_v = peek(pud)
            if pud_v == 0 and pud_runs:
                # The run stays in the pud page this pgd entry points at: the next
                # entry's iterations follow that entry, whatever it holds.
                steps = _boundary_steps(addr, end, pud_size)
                index = (addr >> pud_shift) & idx_mask
                run = zero_run(pud, min(steps, idx_mask + 1 - index), none_pud_reads)
                return _boundary_advance(addr, end, pud_size, run, steps) if run else addr
            if not pud_v or k.pud_huge(pud_v):
                return addr
            pmd = pud if pmd_folded else table_at(pud_v & pa_mask) + ((addr >> pmd_shift) & idx_mask)
            pmd_v = peek(pmd)
            if pmd_v is None:
                return addr
            if pmd_v == 0:
                if pmd_folded:          # kvm_pmd_addr_end() is `end`: one iteration, no run
                    return addr
                steps = _boundary_steps(addr, end, pmd_size)
                run = zero_run(pmd, steps, none_pmd_reads)
                return _boundary_advance(addr, end, pmd_size, run, steps) if run else addr
            if k.kvm_pmd_huge(pmd_v):
                return addr
            pte = table_at(pmd_v & pa_mask) + ((addr >> page_shift) & idx_mask)
            table, index = memory.decode(pte)
            if table.kind != "table" or table.page_of(index).count == 1:   # the ladder would run
                return addr
            # Iterations until addr >= end, stopping before one whose addr += PAGE_SIZE would wrap.
            iterations = -(-(end - addr) // page)
            if addr + iterations * page > U64:
                iterations -= 1
            run = zero_run(pte, iterations, none_pte_reads)
            return addr + run * page

        return skip_none_ranges


def _addr_end_of(size: int):
    """``*_addr_end()`` for one level: the next boundary strictly after
    ``addr``, capped at ``end``, with the ``- 1``s that make ``end == 0`` (the
    top of the address space) work."""
    mask = ~(size - 1) & U64

    def addr_end(addr: int, end: int) -> int:
        boundary = (addr + size) & mask
        return boundary if (boundary - 1) & U64 < (end - 1) & U64 else end

    return addr_end


def _page_steps(addr: int, end: int, page: int) -> int:
    """Iterations of ``addr += PAGE_SIZE; until addr == end`` (64-bit): the first
    ``j >= 1`` with ``addr + j * page == end``, or more than any table has."""
    distance = (end - addr) & U64
    if distance == 0 or distance % page:
        return _INFINITE
    return distance // page


def _boundary_steps(addr: int, end: int, size: int) -> int:
    """Iterations of ``addr = *_addr_end(addr, end); until addr == end``.

    With ``b1`` the first boundary after ``addr``, the ``j``-th step returns
    ``b1 + (j-1)*size`` while ``b1 + (j-1)*size - 1 < end - 1`` (unsigned,
    where a boundary that wraps to 0 reads as the largest value), else ``end``.
    """
    first = (addr + size) & ~(size - 1) & U64
    first_m1 = (first - 1) & U64
    end_m1 = (end - 1) & U64
    if first_m1 >= end_m1:
        return 1
    return 1 + -(-(end_m1 - first_m1) // size)


def _boundary_advance(addr: int, end: int, size: int, run: int, steps: int) -> int:
    """``addr`` after ``run`` of those iterations (``steps`` of them reach ``end``)."""
    if run >= steps:
        return end
    return (((addr + size) & ~(size - 1)) + (run - 1) * size) & U64


def _keep(ptr: int, addr: int, _end: int) -> tuple[int, int]:
    return ptr, addr


def _keep_addr(_pgdp: int, addr: int, _end: int) -> int:
    return addr


def _is_zero(v: int) -> bool:
    return v == 0


def _is_valid(v: int) -> bool:
    return bool(v & VALID)


def _pmd_huge_arm32(v: int) -> bool:
    return bool(v) and not v & TABLE


def _not_table(v: int) -> bool:
    return not v & TABLE


def _false(*_args) -> bool:
    return False


def _false2(_kvm, _ptr) -> bool:
    return False


def _true(*_args) -> bool:
    return True


def _noop(*_args) -> None:
    return None


def _same(ptr: int, _addr: int) -> int:
    return ptr


def _end(_addr: int, end: int) -> int:
    return end


__all__ = ["Kernel", "U64"]
