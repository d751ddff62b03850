"""A VM's (or hyp's) page tables and the map paths that build them.

:class:`Machine` allocates the root the way ``kvm_alloc_stage2_pgd`` (with
``kvm_prealloc_hwpgd`` on the 3.18 platforms) or the hyp init code did, and
offers the three stage-2 map paths and the hyp one of docs/KERNEL_MODEL.md section 6:

- ``stage2_set_pte``: a page, allocating pmd (and pud) tables on the way;
- ``stage2_set_pmd_huge``: a pmd block; a table it overwrites leaks, as it did
  until Linux 5.1;
- ``stage2_set_pud_huge``: a pud block installed directly (no kernel of these
  eras had a map path for it; the unmap code handles them anyway);
- ``hyp_map_page``: ``create_hyp_mappings`` for one page, whose pte write takes
  a reference even when it overwrites a mapped pte.
"""
from __future__ import annotations

from .kernel import Kernel
from .memory import TABLE, VALID, Memory, forget
from .platforms import PLATFORMS, Platform


class Kvm:
    """The ``struct kvm`` argument: only its being non-NULL matters here."""

    def __repr__(self) -> str:
        return "kvm"


class Machine:
    # Every entry of every table may be read a bounded number of times by a
    # terminating walk (the 3.15 loop re-reads about ten entries per pte).  The
    # budget for one operation is that bound over the tables that exist, so a
    # legitimate whole-space walk never trips it and a walk that never ends
    # always does.
    READS_PER_ENTRY = 32

    def __init__(self, platform: Platform | str, mode: str = "stage2", step_budget: int = 10_000,
                 fast: bool = True):
        if isinstance(platform, str):
            platform = PLATFORMS[platform]
        if mode not in ("stage2", "hyp"):
            raise ValueError(f"unknown mode {mode!r} (expected stage2 or hyp)")
        self.platform = p = platform
        self.mode = mode
        self.base_budget = step_budget
        self.memory = m = Memory(p.page_shift, step_budget)
        self.k = k = Kernel(p, m, fast)
        self.kvm = Kvm() if mode == "stage2" else None
        if mode == "hyp":
            root = m.alloc_table("pgd", p.pgdir_shift, 1, p.hyp_root_entries)
            self.hw_root = root
        elif p.prealloc == 0:
            root = m.alloc_table("pgd", p.pgdir_shift, p.s2_root_pages, p.s2_root_entries)
            self.hw_root = root
        else:
            # kmalloc'd fake pgd for the pgtable macros; the hardware starts below it.
            root = m.alloc_table("pgd", p.pgdir_shift, 1, p.s2_root_entries, kind="slab")
            level = "pud" if p.prealloc == 1 else "pmd"
            hw = m.alloc_table(level, p.shift_of(level), p.s2_root_pages)
            self.hw_root = hw
            stride = p.ptrs_per_table
            for i in range(p.s2_root_entries):
                # pgd_populate/pud_populate on the fake pgd take no reference.
                m.write(root.ptr0 + i, (hw.pa + (i * stride << 3)) | TABLE | VALID)
        self.root = root
        self.hw_root.base = 0
        self.pgd = root.ptr0                 # kvm->arch.pgd, or hyp_pgd
        m.log.clear()
        self._pristine_serial = m.next_serial

    def reset(self) -> None:
        """Back to the state ``__init__`` left: every effect since undone, the allocations
        and the stand-ins for guest pages made since forgotten, their serials free again.
        A pristine machine costs less to reset than to build (its kernel is kept)."""
        self.rewind((0, self._pristine_serial))
        m = self.memory
        m.steps, m.step_budget = 0, self.base_budget

    def mark(self) -> tuple[int, int]:
        """Where the machine is now, for :meth:`rewind`: its memory log's length and next serial."""
        m = self.memory
        return len(m.log), m.next_serial

    def rewind(self, mark: tuple[int, int]) -> None:
        """Back to the state at ``mark`` (from :meth:`mark`): every effect since undone, the
        allocations and the stand-ins for guest pages made since forgotten, their serials
        free again, so that what runs next runs exactly as it did from there."""
        log_length, serial = mark
        m = self.memory
        for ev in m.rollback(log_length):
            if ev[0] == "alloc":
                forget(ev[1])
        if m.guests:
            for pa, table in list(m.guests.items()):
                if table.serial >= serial:
                    del m.guests[pa]
                    del m.by_serial[table.serial]
                    forget(table)
        m.next_serial = serial

    def clone(self, into: "Machine | None" = None) -> tuple["Machine", dict[int, object]]:
        """An independent copy of this machine (its memory's log starts empty), and
        the map ``id(old) -> new`` of its tables and pages.

        ``into``: a machine of the same platform, mode and fast paths to overwrite with
        the copy, whatever it held; its kernel is kept (binding one costs more than
        copying a few tables)."""
        if into is None:
            memory, mapping = self.memory.clone()
            m = Machine.__new__(Machine)
            m.memory = memory
            m.k = Kernel(self.platform, memory, self.k.fast)
        else:
            m = into
            _, mapping = self.memory.clone(m.memory)
        m.platform, m.mode, m.base_budget, m.kvm, m.pgd = self.platform, self.mode, self.base_budget, self.kvm, self.pgd
        m.root, m.hw_root = mapping[id(self.root)], mapping[id(self.hw_root)]
        m._pristine_serial = self._pristine_serial
        return m, mapping

    # -- stage 2 ---------------------------------------------------------------

    # stage2_get_pmd() and __create_hyp_mappings() walk down and allocate in
    # the same steps (pgd_none -> pud table on 4 levels, pud_none -> pmd table,
    # pmd_none -> pte table, each populate followed by get_page on the page
    # holding the entry); they differ only in how the pte is written.

    def _stage2_get_pud(self, addr: int) -> int:
        k = self.k
        pgd = self.pgd + k.pgd_index(addr)
        if not self.platform.pud_folded and k.pgd_none(k.load(pgd)):
            pud = k.pud_alloc_one()
            k.pgd_populate(pgd, pud)
            k.get_page(k.virt_to_page(pgd))
        return k.pud_offset(pgd, addr)

    def _stage2_get_pmd(self, addr: int) -> int:
        k = self.k
        pud = self._stage2_get_pud(addr)
        if k.pud_none(k.load(pud)):
            pmd = k.pmd_alloc_one()
            k.pud_populate(pud, pmd)
            k.get_page(k.virt_to_page(pud))
        return k.pmd_offset(pud, addr)

    def _get_pte(self, addr: int) -> int:
        k = self.k
        pmd = self._stage2_get_pmd(addr)
        if k.pmd_none(k.load(pmd)):
            pte = k.pte_alloc_one_kernel()
            k.pmd_populate_kernel(pmd, pte)
            k.get_page(k.virt_to_page(pmd))
        return k.pte_offset_kernel(pmd, addr)

    def stage2_set_pte(self, addr: int, pa: int) -> None:
        k = self.k
        pte = self._get_pte(addr)
        old_pte = k.load(pte)
        k.kvm_set_pte(pte, k.mk_pte(pa))
        if k.pte_present(old_pte):
            k.kvm_tlb_flush_vmid_ipa(self.kvm, addr)
        else:
            k.get_page(k.virt_to_page(pte))

    def stage2_set_pmd_huge(self, addr: int, pa: int) -> None:
        k = self.k
        pmd = self._stage2_get_pmd(addr)
        old_pmd = k.load(pmd)
        k.kvm_set_pmd(pmd, k.mk_block(pa))
        if k.pmd_present(old_pmd):
            k.kvm_tlb_flush_vmid_ipa(self.kvm, addr)
        else:
            k.get_page(k.virt_to_page(pmd))

    def stage2_set_pud_huge(self, addr: int, pa: int) -> None:
        k = self.k
        pud = self._stage2_get_pud(addr)
        old_pud = k.load(pud)
        k.kvm_set_pud(pud, k.mk_block(pa))
        if k.pud_present(old_pud):
            k.kvm_tlb_flush_vmid_ipa(self.kvm, addr)
        else:
            k.get_page(k.virt_to_page(pud))

    # -- hyp ---------------------------------------------------------------------

    def hyp_map_page(self, addr: int, pa: int) -> None:
        k = self.k
        pte = self._get_pte(addr)
        k.kvm_set_pte(pte, k.mk_pte(pa))
        k.get_page(k.virt_to_page(pte))     # even over a mapped pte: remaps over-count

    # -- the program's operations -------------------------------------------------

    def _new_operation(self) -> None:
        m = self.memory
        m.steps = 0
        m.step_budget = self.base_budget + self.READS_PER_ENTRY * m.entries_allocated

    def map(self, kind: str, ipa: int, pa: int) -> None:
        if kind not in self.platform.map_kinds(self.mode):
            raise ValueError(f"{self.platform.name} {self.mode} cannot map a {kind!r} "
                             f"(it maps: {', '.join(self.platform.map_kinds(self.mode))})")
        self._new_operation()
        if self.mode == "hyp":
            self.hyp_map_page(ipa, pa)
        elif kind == "page":
            self.stage2_set_pte(ipa, pa)
        elif kind == "pmd":
            self.stage2_set_pmd_huge(ipa, pa)
        else:
            self.stage2_set_pud_huge(ipa, pa)

    def unmap(self, unmap_range, ipa: int, size: int) -> None:
        """Call an implementation's ``unmap_range(k, kvm, pgdp, start, size)``."""
        self._new_operation()
        unmap_range(self.k, self.kvm, self.pgd, ipa, size)
