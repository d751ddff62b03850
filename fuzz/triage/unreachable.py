"""The branches no program can take, where, and why: the list ``unmapfuzz coverage`` judges by.

Each :class:`Unreachable` is one reason in kernel terms (``docs/COVERAGE.md``
has the same list, grouped the same way), the geometries it holds on (fnmatch
patterns over ``PLATFORM/MODE``, as ``known.txt`` writes them) and the
branches it makes unreachable there, named by key
(:mod:`unmapfuzz.triage.coverage`: ``FUNCTION: LINE -> TARGET``, the source
text of the lines, so that the list survives edits elsewhere in the file).
``fast_paths`` says whether an entry holds only with the model's fast paths on
(``True``), only with them off (``False``), or either way (``None``).

The list is checked both ways by ``tests/test_coverage.py``: a branch missed
on a geometry and not listed is a hole in the corpus, and a listed branch
that some program covers there is a mistake in this list.  A key that names
no branch any more (its line changed) is reported, never skipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Unreachable", "B", "UNREACHABLE"]


class B(NamedTuple):
    """Branches by key in some of the sources (``old``, ``v2``, ``v3``, ``v3_pgdnone``,
    ``mapping``), and, when they differ from their entry's, the geometries."""

    sources: tuple[str, ...]
    key: str
    where: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Unreachable:
    """One reason some branches cannot be taken: its ``name`` (stable, ``docs/COVERAGE.md`` has a
    section of that name), the geometries it holds on, the reason in kernel terms, the branches,
    and the setting of the fast paths it holds for (None: either)."""

    name: str
    where: tuple[str, ...]
    reason: str
    branches: tuple[B, ...]
    fast_paths: bool | None = None


OLD, V2, MAP = ("old",), ("v2",), ("mapping",)
V3S = ("v3", "v3_pgdnone")
WALKERS = ("v2", "v3", "v3_pgdnone")
PGDNONE = ("v3_pgdnone",)

ALL = ("*/*",)
PUD_FOLDED = ("arm32-lpae/*", "arm64-4k-39/*", "arm64-64k-42/*", "arm64-64k-48/*")
PMD_FOLDED = ("arm64-64k-42/*",)

UNREACHABLE: tuple[Unreachable, ...] = (
    # -- the harness's argument checks ------------------------------------------------------------
    Unreachable(
        "harness-arguments", ALL,
        "Argument checks of the model, not kernel code: check() builds a machine from the program's "
        "platform name and a mode the parser accepted, and the profiles refuse a map kind the geometry "
        "has not (such a program is invalid and never runs).",
        (B(MAP, "Machine.__init__: if isinstance(platform, str): -> if mode not in (\"stage2\", \"hyp\"):"),
         B(MAP, "Machine.__init__: if mode not in (\"stage2\", \"hyp\"): -> "
                "raise ValueError(f\"unknown mode {mode!r} (expected stage2 or hyp)\")"),
         B(MAP, "Machine.map: if kind not in self.platform.map_kinds(self.mode): -> "
                "raise ValueError(f\"{self.platform.name} {self.mode} cannot map a {kind!r} \""))),
    Unreachable(
        "hyp-maps-pages", ("*/hyp",),
        "create_hyp_mappings() maps pages only (hyp_map_page() writes a pte, taking a reference), so no "
        "block ever reaches a hyp table, and hyp never takes the stage-2 map paths (stage2_set_pte(), "
        "stage2_set_pmd_huge()) nor allocates the stage-2 root.",
        (B(OLD, "clear_pmd_entry: if k.kvm_pmd_huge(k.load(pmd)): -> k.pmd_clear(pmd)"),
         B(OLD, "unmap_range: if not k.kvm_pmd_huge(k.load(pmd)): -> "
                "if k.kvm_pmd_huge(k.load(pmd)) or (pte is not None and k.page_empty(pte)):"),
         B(V2, "clear_pmd_entry: if k.kvm_pmd_huge(k.load(pmd)): -> k.pmd_clear(pmd)"),
         B(V2, "unmap_pmds: if k.kvm_pmd_huge(k.load(pmd)): -> clear_pmd_entry(k, kvm, pmd, addr)"),
         B(V3S, "unmap_pmds: if k.kvm_pmd_huge(k.load(pmd)): -> k.pmd_clear(pmd)"),
         B(MAP, "Machine.__init__: if mode == \"hyp\": -> elif p.prealloc == 0:"),
         B(MAP, "Machine.__init__: elif p.prealloc == 0: -> "
                "root = m.alloc_table(\"pgd\", p.pgdir_shift, p.s2_root_pages, p.s2_root_entries)"),
         B(MAP, "Machine.__init__: elif p.prealloc == 0: -> "
                "root = m.alloc_table(\"pgd\", p.pgdir_shift, 1, p.s2_root_entries, kind=\"slab\")"),
         B(MAP, "Machine.__init__: for i in range(p.s2_root_entries): -> "
                "m.write(root.ptr0 + i, (hw.pa + (i * stride << 3)) | TABLE | VALID)"),
         B(MAP, "Machine.__init__: for i in range(p.s2_root_entries): -> self.root = root"),
         B(MAP, "Machine.stage2_set_pte: if k.pte_present(old_pte): -> k.kvm_tlb_flush_vmid_ipa(self.kvm, addr)"),
         B(MAP, "Machine.stage2_set_pte: if k.pte_present(old_pte): -> k.get_page(k.virt_to_page(pte))"),
         B(MAP, "Machine.stage2_set_pmd_huge: if k.pmd_present(old_pmd): -> "
                "k.kvm_tlb_flush_vmid_ipa(self.kvm, addr)"),
         B(MAP, "Machine.stage2_set_pmd_huge: if k.pmd_present(old_pmd): -> k.get_page(k.virt_to_page(pmd))"),
         B(MAP, "Machine.map: if self.mode == \"hyp\": -> elif kind == \"page\":"),
         B(MAP, "Machine.map: elif kind == \"page\": -> self.stage2_set_pte(ipa, pa)"),
         B(MAP, "Machine.map: elif kind == \"page\": -> elif kind == \"pmd\":"),
         B(MAP, "Machine.map: elif kind == \"pmd\": -> self.stage2_set_pmd_huge(ipa, pa)"))),
    Unreachable(
        "stage2-is-not-hyp", ("*/stage2",),
        "A stage-2 machine has a kvm, so it allocates the stage-2 root and maps through the stage-2 "
        "paths, never create_hyp_mappings().",
        (B(MAP, "Machine.__init__: if mode == \"hyp\": -> "
                "root = m.alloc_table(\"pgd\", p.pgdir_shift, 1, p.hyp_root_entries)"),
         B(MAP, "Machine.map: if self.mode == \"hyp\": -> self.hyp_map_page(ipa, pa)"))),
    Unreachable(
        "stage2-root-is-one-allocation", ("arm32-lpae/stage2", "arm64-4k-39/stage2", "arm64-64k-42/stage2"),
        "3.16's kvm_alloc_stage2_pgd() allocates the stage-2 root itself (KVM_PREALLOC_LEVEL is 0): no "
        "fake pgd to fill.",
        (B(MAP, "Machine.__init__: elif p.prealloc == 0: -> "
                "root = m.alloc_table(\"pgd\", p.pgdir_shift, 1, p.s2_root_entries, kind=\"slab\")"),
         B(MAP, "Machine.__init__: for i in range(p.s2_root_entries): -> "
                "m.write(root.ptr0 + i, (hw.pa + (i * stride << 3)) | TABLE | VALID)"),
         B(MAP, "Machine.__init__: for i in range(p.s2_root_entries): -> self.root = root"))),
    Unreachable(
        "stage2-root-is-preallocated", ("arm64-4k-48/stage2", "arm64-64k-48/stage2"),
        "3.18's 48-bit hosts pre-allocate the stage-2 hardware root below a kmalloc'd fake pgd "
        "(kvm_prealloc_hwpgd(), KVM_PREALLOC_LEVEL 1 or 2): the root is never one plain allocation.",
        (B(MAP, "Machine.__init__: elif p.prealloc == 0: -> "
                "root = m.alloc_table(\"pgd\", p.pgdir_shift, p.s2_root_pages, p.s2_root_entries)"),)),

    # -- pud blocks ---------------------------------------------------------------------------------------
    Unreachable(
        "no-pud-block", ("arm32-lpae/*", "arm64-64k-42/*", "arm64-64k-48/*", "*/hyp"),
        "A pud entry holds a block only where stage2_set_pud_huge() can write one: arm64 with 4K pages, "
        "stage 2 (and no kernel of these eras called it: only adversarial programs map pud blocks).  "
        "ARM32's pud_huge() is 0, and so is a folded pmd's (arm64-64k-42); the 64K granule has no "
        "level-1 block (arm64-64k-48, whose pud_huge() would see one); hyp maps pages only.",
        (B(OLD, "clear_pud_entry: if k.pud_huge(k.load(pud)): -> k.pud_clear(pud)"),
         B(OLD, "unmap_range: if k.pud_huge(k.load(pud)): -> clear_pud_entry(k, kvm, pud, addr)"),
         B(V2, "clear_pud_entry: if k.pud_huge(k.load(pud)): -> k.pud_clear(pud)"),
         B(V2, "unmap_puds: if k.pud_huge(k.load(pud)): -> clear_pud_entry(k, kvm, pud, addr)"),
         B(V3S, "unmap_puds: if k.pud_huge(k.load(pud)): -> k.pud_clear(pud)"),
         B(MAP, "Machine.map: elif kind == \"pmd\": -> self.stage2_set_pud_huge(ipa, pa)"),
         B(MAP, "Machine.stage2_set_pud_huge: if k.pud_present(old_pud): -> "
                "k.kvm_tlb_flush_vmid_ipa(self.kvm, addr)"),
         B(MAP, "Machine.stage2_set_pud_huge: if k.pud_present(old_pud): -> k.get_page(k.virt_to_page(pud))"))),

    # -- folded levels ---------------------------------------------------------------------------------------
    Unreachable(
        "folded-pmd-pud-none", PMD_FOLDED,
        "With 64K pages and 42-bit VAs the pmd is folded into the pud, and the pud into the pgd "
        "(pgtable-nopmd.h): pud_none() is constantly 0, so a none pud is never seen, by the walkers or "
        "by the map path, which never allocates a pmd table.",
        (B(OLD, "unmap_range: if k.pud_none(k.load(pud)): -> addr = k.kvm_pud_addr_end(addr, end)"),
         B(WALKERS, "unmap_puds: if not k.pud_none(k.load(pud)): -> pud, addr = pud + 1, next"),
         B(MAP, "Machine._stage2_get_pmd: if k.pud_none(k.load(pud)): -> pmd = k.pmd_alloc_one()"))),
    Unreachable(
        "folded-pmd-addr-end", PMD_FOLDED,
        "Where the pmd is folded, pmd_addr_end() (and so kvm_pmd_addr_end()) is `end`: unmap_pmds() "
        "runs its loop once, and its first `addr == end` test ends it.",
        (B(WALKERS, "unmap_pmds: if addr == end: -> pmd, addr = k.skip_none_pmds(pmd, addr, end)"),
         B(WALKERS, "unmap_pmds: if addr == end: (2nd) -> while True:"),
         B(WALKERS, "unmap_pmds: if addr == end: (2nd) -> break"))),
    Unreachable(
        "folded-pmd-same-page", PMD_FOLDED,
        "Where the pmd is folded, pmd_offset() returns the pud entry itself: the 3.15 ladder's "
        "`page_empty(pmd) && !page_empty(pud)` asks the same page both ways and is never true, so the "
        "loop never clears a pud entry as a table.",
        (B(OLD, "unmap_range: if k.page_empty(pmd) and not k.page_empty(pud): -> "
                "clear_pud_entry(k, kvm, pud, addr)"),
         B(OLD, "clear_pud_entry: if k.pud_huge(k.load(pud)): -> pmd_table = k.pmd_offset(pud, 0)"))),
    Unreachable(
        "pmd-table-never-freed", ("arm64-64k-42/*", "arm64-64k-48/stage2"),
        "kvm_pmd_table_empty() is constantly 0 with 64K pages in 3.16 (arm64-64k-42), and in 3.18 for "
        "stage 2 when the pmd page is the pre-allocated hardware root (arm64-64k-48, "
        "KVM_PREALLOC_LEVEL 2): the walkers never free a pmd table there, and v2's clear_pud_entry() "
        "meets no table.",
        (B(WALKERS, "unmap_pmds: if k.kvm_pmd_table_empty(kvm, start_pmd): -> "
                    "clear_pud_entry(k, kvm, pud, start_addr)"),
         B(V2, "clear_pud_entry: if k.pud_huge(k.load(pud)): -> pmd_table = k.pmd_offset(pud, 0)"))),
    Unreachable(
        "folded-pud-addr-end", PUD_FOLDED,
        "Where the pud is folded into the pgd, kvm_pud_addr_end() is `end` (pud_addr_end() of "
        "pgtable-nopud.h; ARM32's kvm_pud_addr_end() always): unmap_puds() runs its loop once.",
        (B(WALKERS, "unmap_puds: if addr == end: -> pud, addr = k.skip_none_puds(pud, addr, end)"),
         B(WALKERS, "unmap_puds: if addr == end: (2nd) -> while True:"),
         B(WALKERS, "unmap_puds: if addr == end: (2nd) -> break"))),
    Unreachable(
        "folded-pud-pgd-none", PUD_FOLDED,
        "Where the pud is folded, pgd_none() is constantly 0 (pgtable-nopud.h): 3.19's pgd_none() test "
        "always calls unmap_puds(), and the map path never allocates a pud table.",
        (B(PGDNONE, "unmap_range: if not k.pgd_none(k.load(pgd)): -> pgd, addr = pgd + 1, next"),
         B(MAP, "Machine._stage2_get_pud: if not self.platform.pud_folded and k.pgd_none(k.load(pgd)): -> "
                "pud = k.pud_alloc_one()"))),
    Unreachable(
        "pud-table-never-freed", ("arm32-lpae/*", "arm64-4k-39/*", "arm64-64k-42/*", "arm64-64k-48/*",
                                  "arm64-4k-48/stage2"),
        "kvm_pud_table_empty() is constantly 0 in 3.16 and wherever the pud is folded, and in 3.18 for "
        "the stage-2 pud pages that arm64-4k-48 pre-allocates (KVM_PREALLOC_LEVEL 1): only a 4-level hyp "
        "table frees an emptied pud table (clear_pgd_entry()).",
        (B(WALKERS, "unmap_puds: if k.kvm_pud_table_empty(kvm, start_pud): -> "
                    "clear_pgd_entry(k, kvm, pgd, start_addr)"),)),

    # -- 3.18's fake stage-2 pgd --------------------------------------------------------------------------
    Unreachable(
        "fake-pgd-never-none", ("arm64-4k-48/stage2", "arm64-64k-48/stage2"),
        "3.18's 48-bit stage 2 walks from a kmalloc'd fake pgd whose entries kvm_prealloc_hwpgd() points "
        "at the pre-allocated hardware root (arm64-4k-48: 2 entries, one per pud page; arm64-64k-48: "
        "1 entry, the pud folded into it, to the pmd page), and nothing clears them (see "
        "pud-table-never-freed, pmd-table-never-freed, fake-pgd-page-looks-empty).  So no walk meets a "
        "none entry there, the map path allocates nothing at that level, and the fast paths find no run "
        "of none entries to take: past the last entry lies the end of the fake pgd.",
        (B(PGDNONE, "unmap_range: if not k.pgd_none(k.load(pgd)): -> pgd, addr = pgd + 1, next",
           ("arm64-4k-48/stage2",)),
         B(MAP, "Machine._stage2_get_pud: if not self.platform.pud_folded and k.pgd_none(k.load(pgd)): -> "
                "pud = k.pud_alloc_one()", ("arm64-4k-48/stage2",)),
         B(PGDNONE, "unmap_range: if addr == end: (2nd) -> break"),
         B(OLD, "unmap_range: if k.pud_none(k.load(pud)): -> addr = k.kvm_pud_addr_end(addr, end)",
           ("arm64-64k-48/stage2",)),
         B(WALKERS, "unmap_puds: if not k.pud_none(k.load(pud)): -> pud, addr = pud + 1, next",
           ("arm64-64k-48/stage2",)),
         B(MAP, "Machine._stage2_get_pmd: if k.pud_none(k.load(pud)): -> pmd = k.pmd_alloc_one()",
           ("arm64-64k-48/stage2",)),
         B(("v2", "v3"), "unmap_range: if addr == end: (2nd) -> break", ("arm64-64k-48/stage2",)))),
    Unreachable(
        "fake-pgd-page-looks-empty", ("arm64-64k-48/stage2",),
        "The 3.15 ladder clears the pud entry only if !page_empty(pud).  On arm64-64k-48's stage 2 the "
        "pud is folded into the fake pgd, a kmalloc'd page whose count is 1 and stays 1 (pgd_populate() "
        "on it takes no reference): page_empty(pud) is always true, and the loop never clears a pud.",
        (B(OLD, "unmap_range: if k.page_empty(pmd) and not k.page_empty(pud): -> "
                "clear_pud_entry(k, kvm, pud, addr)"),
         B(OLD, "clear_pud_entry: if k.pud_huge(k.load(pud)): -> pmd_table = k.pmd_offset(pud, 0)"))),

    # -- the model's fast paths ---------------------------------------------------------------------------
    Unreachable(
        "four-levels-no-pgd-run", ("arm64-4k-48/*",),
        "On 4 levels 3.16's unmap_range() hands every pgd entry to unmap_puds(), which follows a none "
        "one as a pud table pointer: there is no run of none entries for the fast path to take "
        "(skip_none_folded_pgds() returns its arguments), so the second `addr == end` repeats the first, "
        "which just failed.",
        (B(("v2", "v3"), "unmap_range: if addr == end: (2nd) -> break"),)),
    Unreachable(
        "no-fast-path-no-second-test", ALL,
        "With the fast paths off every skip_none_*() returns its arguments, so the test after it "
        "repeats the loop's own test, which just failed: model lines, not kernel code.",
        (B(OLD, "unmap_range: if addr >= end: -> break"),
         B(WALKERS, "unmap_ptes: if addr == end: (2nd) -> break"),
         B(WALKERS, "unmap_pmds: if addr == end: (2nd) -> break"),
         B(WALKERS, "unmap_puds: if addr == end: (2nd) -> break"),
         B(WALKERS, "unmap_range: if addr == end: (2nd) -> break")),
        fast_paths=False),
)
