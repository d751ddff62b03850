"""The platforms of KVM/ARM's 2014-2015 page-table code, as data.

A platform is a geometry (page size, the Linux levels and which of them are
folded) plus the helper semantics of its kernel era.  Everything else in
``impls/`` derives its constants from a row of :data:`PLATFORMS`, so adding an
era is adding a row.
"""
from __future__ import annotations

from dataclasses import dataclass

KVM_PHYS_SHIFT = 40
KVM_PHYS_SIZE = 1 << KVM_PHYS_SHIFT


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    era: str                 # "3.16" or "3.18": selects the kvm_*_table_empty rules
    page_shift: int
    pgdir_shift: int
    pud_shift: int           # == pgdir_shift when the pud is folded
    pmd_shift: int           # == pud_shift when the pmd is folded
    pud_folded: bool
    pmd_folded: bool
    ptrs_per_pgd: int        # the host's PTRS_PER_PGD (what pgd_index masks with)
    pgd_index_masked: bool   # arm32's pgd_index is a plain shift
    arm32: bool              # pud_huge() is constantly 0 on ARM32
    s2_root_entries: int     # stage-2 root entries allocated (the fake pgd's, on prealloc platforms)
    s2_root_pages: int       # pages of the stage-2 root (or hardware root) allocation
    prealloc: int            # KVM_PREALLOC_LEVEL: 0, 1 (pud pages) or 2 (pmd page)
    hyp_root_entries: int

    @property
    def page_size(self) -> int:
        return 1 << self.page_shift

    @property
    def ptrs_per_table(self) -> int:
        """Entries in one table page: 512 with 4K pages, 8192 with 64K."""
        return 1 << (self.page_shift - 3)

    @property
    def levels(self) -> int:
        return 4 - self.pud_folded - self.pmd_folded

    def shift_of(self, level: str) -> int:
        """Bytes mapped by one entry of a table of this Linux level, as a shift."""
        return {"pgd": self.pgdir_shift, "pud": self.pud_shift,
                "pmd": self.pmd_shift, "pte": self.page_shift}[level]

    def real_shifts(self) -> tuple[int, ...]:
        """The shifts of the levels that exist as tables, top down."""
        shifts = [self.pgdir_shift]
        if not self.pud_folded:
            shifts.append(self.pud_shift)
        if not self.pmd_folded:
            shifts.append(self.pmd_shift)
        shifts.append(self.page_shift)
        return tuple(shifts)

    @property
    def has_pud_blocks(self) -> bool:
        """Whether a pud entry can hold a block: not on ARM32 (``pud_huge()`` is 0)
        nor with the 64K granule (no level-1 block)."""
        return not self.arm32 and self.page_shift == 12

    def map_shift(self, kind: str) -> int:
        """Bytes one ``map KIND`` installs, as a shift: a page, a pmd block or a pud block."""
        return {"page": self.page_shift, "pmd": self.pmd_shift, "pud": self.pud_shift}[kind]

    def space(self, mode: str) -> int:
        """Bytes of IPA (stage 2: ``KVM_PHYS_SIZE``) or hyp VA space the root covers."""
        if mode == "stage2":
            return KVM_PHYS_SIZE
        return self.hyp_root_entries << self.pgdir_shift

    def map_kinds(self, mode: str) -> tuple[str, ...]:
        """What a map may install here: hyp maps pages only (``create_hyp_mappings``
        has no block path); stage 2 maps pages, pmd blocks and, where they exist,
        pud blocks.  The model refuses anything else, and the profiles call it invalid."""
        if mode == "hyp":
            return ("page",)
        return ("page", "pmd", "pud") if self.has_pud_blocks else ("page", "pmd")

    def level_of_shift(self, shift: int) -> str:
        """The Linux name of the table whose entries map 1 << shift bytes."""
        if shift == self.page_shift:
            return "pte"
        if shift == self.pgdir_shift:
            return "pgd"
        if shift == self.pud_shift and not self.pud_folded:
            return "pud"
        return "pmd"


PLATFORMS: dict[str, Platform] = {p.name: p for p in (
    Platform("arm32-lpae", "3.16", 12, 30, 30, 21, True, False, 4, False, True,
             1024, 2, 0, 4),
    Platform("arm64-4k-39", "3.16", 12, 30, 30, 21, True, False, 512, True, False,
             1024, 2, 0, 512),
    Platform("arm64-64k-42", "3.16", 16, 29, 29, 29, True, True, 8192, True, False,
             8192, 1, 0, 8192),
    Platform("arm64-4k-48", "3.18", 12, 39, 30, 21, False, False, 512, True, False,
             2, 2, 1, 512),
    Platform("arm64-64k-48", "3.18", 16, 42, 42, 29, True, False, 64, True, False,
             1, 1, 2, 64),
)}

DEFAULT_PLATFORM = "arm64-4k-39"
