"""Tests for unmapfuzz.impls.model.mapping: the roots a Machine allocates and the refcounts each map path leaves."""

import pytest

from unmapfuzz.impls.model.memory import TABLE, VALID
from unmapfuzz.impls.model.mapping import Machine
from unmapfuzz.impls.model.platforms import PLATFORMS
from unmapfuzz.programs import parse
from unmapfuzz.verdict.check import check

ALL = list(PLATFORMS)
IPA = 0x4000_0000          # 1 GB: aligned to every platform's pmd size (2 MB, 512 MB)
TABLE_BITS = TABLE | VALID
PA1, PA2 = 0x10_0000, 0x20_0000   # guest PAs aligned to 4K and 64K pages


def counts(m):
    """Every table's level and per-page refcounts, in allocation order (root first)."""
    return [(t.level, [pg.count for pg in t.pages]) for t in m.memory.tables]


def tables(m, level):
    return [t for t in m.memory.tables if t.level == level]


def page(m, i=1):
    """The IPA of page i above IPA, in this platform's page size."""
    return IPA + i * m.platform.page_size


def referenced(m, table):
    """Whether any entry of any live table points at the given table's first page."""
    return any(v & m.memory.pa_mask == table.pa
               for t in m.memory.tables if t is not table for v in t.entries.values())


# -- roots -----------------------------------------------------------------------------


@pytest.mark.parametrize("name, root", [
    ("arm32-lpae", ("table", 1024, [1, 0])),
    ("arm64-4k-39", ("table", 1024, [1, 0])),
    ("arm64-64k-42", ("table", 8192, [1])),
    ("arm64-4k-48", ("slab", 2, [1])),
    ("arm64-64k-48", ("slab", 1, [1])),
])
def test_stage2_root(name, root):
    """The stage-2 root has the row's entries and first-page-only refcount, and nothing is logged."""
    m = Machine(name)
    assert (m.root.kind, m.root.n, [pg.count for pg in m.root.pages]) == root
    assert m.memory.decode(m.pgd) == (m.root, 0)
    assert m.memory.log == []


def test_fake_pgd_arm64_4k_48():
    """The 3.18 fake pgd has 2 entries pointing at hw_root's two pud pages, taking no reference."""
    m = Machine("arm64-4k-48")
    hw = m.hw_root
    assert (hw.level, hw.n, [pg.count for pg in hw.pages]) == ("pud", 1024, [1, 0])
    assert m.root.entries == {0: hw.pa | TABLE_BITS, 1: (hw.pa + 0x1000) | TABLE_BITS}
    assert counts(m) == [("pgd", [1]), ("pud", [1, 0])]
    pud = m.k.pud_offset(m.pgd + 1, 2**39)
    assert m.memory.decode(pud) == (hw, 512)


def test_fake_pgd_arm64_64k_48():
    """The 3.18 fake pgd has 1 entry pointing at one pmd page (the hardware root), taking no reference."""
    m = Machine("arm64-64k-48")
    hw = m.hw_root
    assert (hw.level, hw.n, [pg.count for pg in hw.pages]) == ("pmd", 8192, [1])
    assert m.root.entries == {0: hw.pa | TABLE_BITS}
    assert counts(m) == [("pgd", [1]), ("pmd", [1])]


@pytest.mark.parametrize("name, n", [(n, PLATFORMS[n].hyp_root_entries) for n in ALL])
def test_hyp_root(name, n):
    """The hyp root is one table page of PTRS_PER_PGD entries at count 1, and is hw_root too."""
    m = Machine(name, "hyp")
    assert (m.root.kind, m.root.n, [pg.count for pg in m.root.pages]) == ("table", n, [1])
    assert m.hw_root is m.root and m.kvm is None


# -- stage-2 pages ------------------------------------------------------------------------

STAGE2_PAGE = {
    "arm32-lpae": [("pgd", [2, 0]), ("pmd", [2]), ("pte", [2])],
    "arm64-4k-39": [("pgd", [2, 0]), ("pmd", [2]), ("pte", [2])],
    "arm64-64k-42": [("pgd", [2]), ("pte", [2])],
    "arm64-4k-48": [("pgd", [1]), ("pud", [2, 0]), ("pmd", [2]), ("pte", [2])],
    "arm64-64k-48": [("pgd", [1]), ("pmd", [2]), ("pte", [2])],
}


@pytest.mark.parametrize("name", ALL)
def test_stage2_page_counts(name):
    """One stage-2 page adds one to the root (or hw root) page, the pmd table and the pte table."""
    m = Machine(name)
    m.map("page", page(m), 0x8000_0000)
    assert counts(m) == STAGE2_PAGE[name]
    pte = tables(m, "pte")[0]
    assert pte.entries == {1: 0x8000_0000 | TABLE_BITS}


@pytest.mark.parametrize("name, expected, root_index", [
    # unmasked pgd_index: entry 512, in the second root page, 0 -> 1
    ("arm32-lpae", [("pgd", [1, 1]), ("pmd", [2]), ("pte", [2])], 512),
    # masked pgd_index: 512 & 511 = entry 0, in the first page
    ("arm64-4k-39", [("pgd", [2, 0]), ("pmd", [2]), ("pte", [2])], 0),
    # fake pgd[1] -> second hw pud page, entry 512, 0 -> 1
    ("arm64-4k-48", [("pgd", [1]), ("pud", [1, 1]), ("pmd", [2]), ("pte", [2])], 512),
])
def test_stage2_page_at_512_gb(name, expected, root_index):
    """An IPA at 512 GB lands in the second root page only where pgd_index does not mask."""
    m = Machine(name)
    m.map("page", 0x80_0000_1000, PA1)
    assert counts(m) == expected
    assert list(m.hw_root.entries) == [root_index]


@pytest.mark.parametrize("name", ALL)
def test_pte_table_counts_its_ptes(name):
    """n pages in one pte table leave it at 1 + n, and the tables above at +1."""
    m = Machine(name)
    for i in range(1, 6):
        m.map("page", page(m, i), PA1 * i)
    assert counts(m)[-1] == ("pte", [6])
    assert counts(m)[:-1] == STAGE2_PAGE[name][:-1]


@pytest.mark.parametrize("name", [n for n, p in PLATFORMS.items() if not p.pmd_folded])
def test_second_pte_table_adds_to_pmd_table(name):
    """A page in a second pmd entry allocates a second pte table and takes the pmd table to 3."""
    m = Machine(name)
    m.map("page", page(m), PA1)
    m.map("page", IPA + m.k.PMD_SIZE, PA2)
    assert [pg.count for pg in tables(m, "pmd")[-1].pages] == [3]
    assert [t.pages[0].count for t in tables(m, "pte")] == [2, 2]


@pytest.mark.parametrize("name", ALL)
def test_stage2_remap_keeps_counts_and_flushes(name):
    """Remapping a mapped stage-2 page rewrites the pte, flushes its IPA and takes no reference."""
    m = Machine(name)
    ipa = page(m)
    m.map("page", ipa, PA1)
    before = counts(m)
    m.memory.log.clear()
    m.map("page", ipa, PA2)
    pte = tables(m, "pte")[0]
    assert counts(m) == before
    assert m.memory.log == [("set", pte, 1, PA1 | TABLE_BITS, PA2 | TABLE_BITS), ("tlbi", ipa)]


# -- hyp pages ----------------------------------------------------------------------------

HYP_PAGE = {
    "arm32-lpae": [("pgd", [2]), ("pmd", [2]), ("pte", [2])],
    "arm64-4k-39": [("pgd", [2]), ("pmd", [2]), ("pte", [2])],
    "arm64-64k-42": [("pgd", [2]), ("pte", [2])],
    "arm64-4k-48": [("pgd", [2]), ("pud", [2]), ("pmd", [2]), ("pte", [2])],
    "arm64-64k-48": [("pgd", [2]), ("pmd", [2]), ("pte", [2])],
}


@pytest.mark.parametrize("name", ALL)
def test_hyp_page_counts(name):
    """A hyp page allocates every real level below the root, each at 2 (4 levels on arm64-4k-48)."""
    m = Machine(name, "hyp")
    m.map("page", page(m), PA1)
    assert counts(m) == HYP_PAGE[name]


@pytest.mark.parametrize("name", ALL)
def test_hyp_remap_over_counts(name):
    """Remapping a hyp page takes another reference: one live pte, count 1 + 2, and no flush."""
    m = Machine(name, "hyp")
    ipa = page(m)
    m.map("page", ipa, PA1)
    m.memory.log.clear()
    m.map("page", ipa, PA1)
    pte = tables(m, "pte")[0]
    assert pte.pages[0].count == 3 and len(pte.entries) == 1
    assert m.memory.log == [("set", pte, 1, PA1 | TABLE_BITS, PA1 | TABLE_BITS),
                            ("get", pte.pages[0])]


def test_hyp_maps_pages_only():
    """Hyp mode has no block map path."""
    with pytest.raises(ValueError):
        Machine("arm64-4k-39", "hyp").map("pmd", IPA, IPA)


# -- stage-2 blocks -------------------------------------------------------------------------

STAGE2_PMD_BLOCK = {
    "arm32-lpae": [("pgd", [2, 0]), ("pmd", [2])],
    "arm64-4k-39": [("pgd", [2, 0]), ("pmd", [2])],
    "arm64-64k-42": [("pgd", [2])],
    "arm64-4k-48": [("pgd", [1]), ("pud", [2, 0]), ("pmd", [2])],
    "arm64-64k-48": [("pgd", [1]), ("pmd", [2])],
}


@pytest.mark.parametrize("name", ALL)
def test_stage2_pmd_block(name):
    """A pmd block is written as a block entry and adds one to the table holding it."""
    m = Machine(name)
    m.map("pmd", IPA, 0x8000_0000)
    assert counts(m) == STAGE2_PMD_BLOCK[name]
    holder = m.memory.tables[-1]        # the pmd table; the root itself on arm64-64k-42
    index = (IPA >> m.k.PMD_SHIFT) % holder.n
    assert holder.entries == {index: 0x8000_0000 | VALID}


@pytest.mark.parametrize("name", ALL)
def test_pmd_block_over_pte_table_leaks_it(name):
    """A block over a pte table overwrites the entry (flush, no put): the table leaks at count 2."""
    m = Machine(name)
    m.map("page", page(m), PA1)
    pte = tables(m, "pte")[0]
    holder = m.memory.tables[-2]                    # the pmd table (the pgd on arm64-64k-42)
    (index, table_entry), = holder.entries.items()
    before = counts(m)
    m.memory.log.clear()
    m.map("pmd", IPA, 0x8000_0000)
    assert counts(m) == before
    assert m.memory.log == [("set", holder, index, table_entry, 0x8000_0000 | VALID), ("tlbi", IPA)]
    assert pte.pages[0].count == 2 and not pte.pages[0].freed
    assert not referenced(m, pte)


@pytest.mark.parametrize("name, level, expected", [
    ("arm64-4k-48", "pud", [("pgd", [1]), ("pud", [2, 0])]),
    ("arm64-4k-39", "pgd", [("pgd", [2, 0])]),
])
def test_stage2_pud_block(name, level, expected):
    """A pud block sits in hw_root: the pud pages on arm64-4k-48, the pgd itself on arm64-4k-39."""
    m = Machine(name)
    m.map("pud", IPA, 0x8000_0000)
    assert counts(m) == expected
    assert m.hw_root.level == level
    assert m.hw_root.entries == {1: 0x8000_0000 | VALID}



def test_arm64_64k_42_root_is_a_whole_zeroed_page():
    """3.16 allocates the arm64-64k-42 stage-2 root as one whole 64K page (8192 entries) of which
    the hardware uses the first 2048 (a 40-bit IPA).  Software indexes it with ``& 8191``, so an
    IPA at or above 1 TB reads and writes the zeroed rest of the page: no fault.  (The 3.15 loop
    still abandons the range at the folded pmd, as everywhere on this platform.)"""
    m = Machine("arm64-64k-42")
    assert m.k.pgd_index(1 << 40) == 2048 and m.memory.read(m.pgd + 2048) == 0
    program = parse("platform arm64-64k-42\nmode stage2\nprofile adversarial\n"
                    "map page 0x10000000000\nunmap 0x10000000000 0x10000\n"
                    "map page 0x10000000000\nunmap 0xffff0000 0x10000000000\n")
    verdict = check(program)
    assert {name: r.status for name, r in verdict.results.items()} == {
        "old": "violation", "v2": "ok", "v3": "ok", "v3-pgdnone": "ok"}
    assert {(v.kind, v.op, v.level) for v in verdict.results["old"].violations} == {("still-mapped", 3, "pte")}
