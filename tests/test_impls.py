"""Tests for the unmap_range implementations in unmapfuzz.impls.BUILTIN, run directly on a Machine (no oracle)."""

import pytest

from unmapfuzz.impls import BUILTIN
from unmapfuzz.impls.model.mapping import Machine
from unmapfuzz.impls.model.memory import TABLE, VALID, Fault, Page, Table
from unmapfuzz.impls.model.platforms import PLATFORMS

ALL = list(PLATFORMS)
GB = 2**30
TB = 2**40
PA = 0x10_0000     # a guest PA aligned to every page size


def machine(name, mode="stage2", maps=()):
    """A Machine with the given (kind, ipa) mappings made, and the log cleared."""
    m = Machine(name, mode)
    for kind, ipa in maps:
        m.map(kind, ipa, PA)
    m.memory.log.clear()
    return m


def unmap(m, impl, start, size):
    """Run one implementation's unmap_range; return the Fault it raised, or None."""
    try:
        m.unmap(BUILTIN[impl], start, size)
    except Fault as fault:
        return fault
    return None


def normalized(log):
    """The log with tables and pages named by physical address, so two machines compare."""
    return [tuple(x.pa if isinstance(x, (Table, Page)) else x for x in event) for event in log]


def freed(m):
    """The tables whose first page has been freed, in order of freeing."""
    return [e[1].table for e in m.memory.log if e[0] == "free"]


# -- old: abandoning the rest of the range -------------------------------------------------

# arm64-4k-39 stage 2: a page alone in pgd[1]'s pmd table, and a page in pgd[2]'s.
FIRST, SECOND = 0x4000_1000, 0x8040_0000


@pytest.fixture
def two_pmd_tables():
    m = machine("arm64-4k-39", maps=[("page", FIRST), ("page", SECOND)])
    _root, pmd1, pte1, pmd2, pte2 = m.memory.tables
    return m, (pmd1, pte1, pmd2, pte2)


def test_old_jumps_to_end_after_emptying_a_pmd_table(two_pmd_tables):
    """old frees the first pte and pmd tables, then kvm_pud_addr_end (folded: end) skips the second page."""
    m, (pmd1, pte1, pmd2, pte2) = two_pmd_tables
    assert unmap(m, "old", GB, 2 * GB) is None
    assert freed(m) == [pte1, pmd1]
    assert pte2.entries == {0: PA | TABLE | VALID}
    assert m.root.entries == {2: pmd2.pa | TABLE | VALID}
    assert (pmd2.pages[0].count, pte2.pages[0].count, m.root.pages[0].count) == (2, 2, 2)


@pytest.mark.parametrize("impl", ["v2", "v3", "v3-pgdnone"])
def test_refactored_walkers_remove_both_pages(two_pmd_tables, impl):
    """The per-level walkers visit every pgd entry of the range and free all four tables."""
    m, (pmd1, pte1, pmd2, pte2) = two_pmd_tables
    assert unmap(m, impl, GB, 2 * GB) is None
    assert freed(m) == [pte1, pmd1, pte2, pmd2]
    assert m.root.entries == {}
    assert m.root.pages[0].count == 1


@pytest.mark.parametrize("impl", list(BUILTIN))
def test_unmap_within_one_pmd_table_removes_both_pages(impl):
    """While the pmd table keeps entries old walks on: pages under pmd[0] and pmd[2] both go, for all."""
    m = machine("arm64-4k-39", maps=[("page", 0x4000_1000), ("page", 0x4040_0000)])
    assert unmap(m, impl, 0x4000_0000, 0x80_0000) is None
    _root, pmd, pte1, pte2 = m.memory.tables
    assert freed(m) == [pte1, pte2, pmd]
    assert m.root.entries == {}


# -- preconditions: size not a page multiple -----------------------------------------------


@pytest.mark.parametrize("impl", ["v2", "v3", "v3-pgdnone"])
def test_walkers_run_off_the_pte_table_on_unaligned_size(impl):
    """With size 0x1800, addr never equals end: unmap_ptes reads entry 512 of the pte table."""
    m = machine("arm64-4k-39", maps=[("page", 0x4000_1000)])
    fault = unmap(m, impl, 0x4000_0000, 0x1800)
    assert (fault.kind, fault.level) == ("out-of-bounds", "pte")
    assert "entry 512 of a 512-entry pte table" in fault.detail


def test_old_tolerates_unaligned_size():
    """old's 'while (addr < end)' stops after the page at 0x40001000 and frees its tables."""
    m = machine("arm64-4k-39", maps=[("page", 0x4000_1000)])
    _root, pmd, pte = m.memory.tables
    assert unmap(m, "old", 0x4000_0000, 0x1800) is None
    assert freed(m) == [pte, pmd]
    assert m.root.entries == {}


# -- 48-bit hyp: the empty pgd entry (the 3.19 fix) ------------------------------------------


@pytest.fixture
def hyp_48():
    m = machine("arm64-4k-48", "hyp", maps=[("page", 0x1000)])
    _root, pud, pmd, pte = m.memory.tables
    return m, (pud, pmd, pte)


@pytest.mark.parametrize("impl", ["v2", "v3"])
def test_walk_follows_empty_pgd_entry(hyp_48, impl):
    """Without the pgd_none check, the walk of pgd[1] (empty) reads through PA 0, which is no table."""
    m, (pud, pmd, pte) = hyp_48
    fault = unmap(m, impl, 0, 2 * 2**39)
    assert (fault.kind, fault.level) == ("out-of-bounds", "none")
    assert "PA 0x0" in fault.detail
    assert freed(m) == [pte, pmd, pud]          # pgd[0] was fully torn down first


def test_pgdnone_skips_empty_pgd_entry(hyp_48):
    """v3-pgdnone skips pgd[1] and frees the pte, pmd and pud tables of pgd[0], in that order."""
    m, (pud, pmd, pte) = hyp_48
    assert unmap(m, "v3-pgdnone", 0, 2 * 2**39) is None
    assert freed(m) == [pte, pmd, pud]
    assert m.root.entries == {}
    assert m.root.pages[0].count == 1
    assert not any(e[0] == "tlbi" for e in m.memory.log)    # kvm is NULL: no flushes


# -- blocks partly in range ----------------------------------------------------------------


def test_v3_removes_partly_covered_pmd_block_whole():
    """A block overlapping the range by one page is cleared, its pmd table put to 1 and then freed."""
    m = machine("arm64-4k-39", maps=[("pmd", 0x4020_0000)])
    root, pmd = m.memory.tables
    block, table_entry = pmd.entries[1], root.entries[1]
    assert block == PA | VALID
    assert unmap(m, "v3", 0x4030_0000, 0x1000) is None
    assert normalized(m.memory.log) == [
        ("set", pmd.pa, 1, block, 0), ("tlbi", 0x4030_0000), ("put", pmd.pa),
        ("set", root.pa, 1, table_entry, 0), ("tlbi", 0x4030_0000),
        ("put", pmd.pa), ("free", pmd.pa), ("put", root.pa),
    ]
    assert (pmd.entries, root.entries) == ({}, {})


# -- v2 and v3 behave the same --------------------------------------------------------------


def stage2_programs(k):
    """(name, maps, unmaps) for stage 2, in this platform's sizes."""
    page, pmd = k.PAGE_SIZE, k.PMD_SIZE
    programs = [
        ("one-page", [("page", GB + page)], [(GB + page, page)]),
        ("pages-in-range", [("page", GB + page), ("page", GB + 3 * page)], [(GB, pmd)]),
        ("partial-pmd-block", [("pmd", GB)], [(GB + pmd // 2, page)]),
        ("teardown", [("pmd", GB), ("page", 2 * GB + page), ("page", 3 * GB)], [(0, TB)]),
        ("high-ipa-teardown", [("page", page), ("page", TB // 2 + page)], [(0, TB)]),
        ("two-unmaps", [("page", GB + page), ("page", GB + pmd)], [(GB, page), (GB + pmd, page)]),
    ]
    if page == 4096 and not k.platform.arm32:      # the only platforms with a level-1 block
        programs.append(("pud-block", [("pud", GB), ("page", 2 * GB + page)], [(GB + page, 2 * GB)]))
    return programs


def hyp_programs(k):
    """(name, maps, unmaps) for hyp: single pages and a PGDIR_SIZE chunk, as hyp teardown does."""
    page, chunk = k.PAGE_SIZE, k.PGDIR_SIZE
    base = GB & ~(chunk - 1)
    return [
        ("one-page", [("page", GB + page)], [(GB + page, page)]),
        ("chunk", [("page", GB + page), ("page", GB + 5 * page)], [(base, chunk)]),
        ("remap-then-unmap", [("page", GB + page), ("page", GB + page)], [(GB + page, page)]),
    ]


PROGRAMS = [(name, "stage2", prog) for name in ALL
            for prog in stage2_programs(Machine(name).k)] + \
           [(name, "hyp", prog) for name in ALL for prog in hyp_programs(Machine(name, "hyp").k)]


def outcome(name, mode, maps, unmaps, impl):
    """The normalized log and the fault kind (or None) of one implementation on one program."""
    m = machine(name, mode, maps)
    fault = None
    for start, size in unmaps:
        fault = unmap(m, impl, start, size)
        if fault:
            break
    return normalized(m.memory.log), fault and fault.kind


@pytest.mark.parametrize("name, mode, prog", PROGRAMS,
                         ids=[f"{n}-{md}-{p[0]}" for n, md, p in PROGRAMS])
def test_v2_and_v3_identical_logs(name, mode, prog):
    """v2 and v3 make the same writes, gets, puts, frees and flushes, and fault the same way."""
    _, maps, unmaps = prog
    v2 = outcome(name, mode, maps, unmaps, "v2")
    assert v2[0], "the program must do something"
    assert v2 == outcome(name, mode, maps, unmaps, "v3")
