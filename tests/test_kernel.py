"""Tests for unmapfuzz.impls.model.kernel: folding, the entry helpers and kvm_*_table_empty (docs/KERNEL_MODEL.md 3, 5)."""

import pytest

from unmapfuzz.impls.model.kernel import U64
from unmapfuzz.impls.model.mapping import Machine
from unmapfuzz.impls.model.memory import TABLE, VALID, ptr as Ptr
from unmapfuzz.impls.model.platforms import PLATFORMS

ALL = list(PLATFORMS)
PUD_FOLDED = [n for n, p in PLATFORMS.items() if p.pud_folded]
PMD_FOLDED = [n for n, p in PLATFORMS.items() if p.pmd_folded]
MODES = ["stage2", "hyp"]

BLOCK = 0x4000_0000 | VALID                  # a block entry: no table bit
TABLE_ENTRY = 0xF000_0000_0000 | TABLE | VALID


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


def kernel(name, mode="stage2"):
    return Machine(name, mode).k


def linked_entry(m, child_level="pmd"):
    """Entry 1 of a fresh 4-entry upper table, holding a table entry for a fresh child table.

    Returns the entry pointer and the child table; the log is cleared.
    """
    p = m.platform
    holder = m.memory.alloc_table("pgd", p.pgdir_shift, n=4)
    child = m.memory.alloc_table(child_level, p.shift_of(child_level))
    entry = Ptr(holder, 1)
    m.memory.write(entry, child.pa | TABLE | VALID)
    m.memory.log.clear()
    return entry, child


# -- folding (section 3) ---------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_pud_offset_is_the_pgd_entry_when_pud_folded(name, mode):
    """pud_offset(pgd, a) returns the pgd pointer itself exactly when the pud is folded."""
    m = Machine(name, mode)
    pgd, child = linked_entry(m, "pud")
    pud = m.k.pud_offset(pgd, 0x4000_1000)
    if PLATFORMS[name].pud_folded:
        assert pud is pgd
    else:
        assert m.memory.decode(pud) == (child, 1)    # (0x40001000 >> 30) & 511


@pytest.mark.parametrize("name", ALL)
def test_pmd_offset_is_the_pud_entry_when_pmd_folded(name, mode):
    """pmd_offset(pud, a) returns the pud pointer itself exactly when the pmd is folded."""
    m = Machine(name, mode)
    pud, child = linked_entry(m, "pmd")
    pmd = m.k.pmd_offset(pud, 3 * m.k.PMD_SIZE + 0x1000)
    if PLATFORMS[name].pmd_folded:
        assert pmd is pud
    else:
        assert m.memory.decode(pmd) == (child, 3)


@pytest.mark.parametrize("name", ALL)
def test_pgd_none_constant_false_where_pud_folded(name, mode):
    """pgd_none is constantly false (and pgd_present true) where the pud is folded, else tests zero."""
    k = kernel(name, mode)
    if PLATFORMS[name].pud_folded:
        assert (k.pgd_none(0), k.pgd_none(TABLE_ENTRY), k.pgd_present(0)) == (False, False, True)
    else:
        assert (k.pgd_none(0), k.pgd_none(TABLE_ENTRY)) == (True, False)


@pytest.mark.parametrize("name", ALL)
def test_pud_none_constant_false_where_pmd_folded(name, mode):
    """pud_none is constantly false where the pmd is folded; otherwise it is the real test for zero."""
    k = kernel(name, mode)
    if PLATFORMS[name].pmd_folded:
        assert (k.pud_none(0), k.pud_present(0)) == (False, True)
    else:
        assert (k.pud_none(0), k.pud_none(TABLE_ENTRY)) == (True, False)


@pytest.mark.parametrize("name", PUD_FOLDED)
def test_pgd_clear_and_populate_are_noops_where_pud_folded(name):
    """pgd_clear and pgd_populate leave the entry unchanged and log nothing where the pud is folded."""
    m = Machine(name, "hyp")
    pgd, child = linked_entry(m)
    other = Ptr(m.memory.alloc_table("pud", m.platform.pud_shift), 0)
    m.memory.log.clear()
    m.k.pgd_clear(pgd)
    m.k.pgd_populate(pgd, other)
    assert m.memory.read(pgd) == child.pa | TABLE | VALID
    assert m.memory.log == []


@pytest.mark.parametrize("name", PMD_FOLDED)
def test_pud_clear_and_populate_are_noops_where_pmd_folded(name):
    """pud_clear and pud_populate leave the shared entry unchanged and log nothing where the pmd is folded."""
    m = Machine(name, "hyp")
    pud, child = linked_entry(m)
    other = Ptr(m.memory.alloc_table("pmd", m.platform.pmd_shift), 0)
    m.memory.log.clear()
    m.k.pud_clear(pud)
    m.k.pud_populate(pud, other)
    assert m.memory.read(pud) == child.pa | TABLE | VALID
    assert m.memory.log == []


@pytest.mark.parametrize("name", ["arm64-4k-48"])
def test_pgd_clear_and_populate_act_on_a_real_pud_level(name):
    """On 4-level arm64 pgd_populate writes a table entry and pgd_clear zeroes it, both logged."""
    m = Machine(name, "hyp")
    pud_table = m.memory.alloc_table("pud", m.platform.pud_shift)
    m.memory.log.clear()
    m.k.pgd_populate(m.pgd + 3, Ptr(pud_table, 0))
    assert m.memory.read(m.pgd + 3) == pud_table.pa | TABLE | VALID
    m.k.pgd_clear(m.pgd + 3)
    assert m.memory.read(m.pgd + 3) == 0
    assert [e[0] for e in m.memory.log] == ["set", "set"]


@pytest.mark.parametrize("name", ALL)
def test_pud_free_and_pmd_free_are_noops_where_folded(name):
    """pud_free/pmd_free of a folded level neither put nor free; on a real level they free a fresh table."""
    p = PLATFORMS[name]
    m = Machine(name, "hyp")
    for level, folded, free in (("pud", p.pud_folded, m.k.pud_free), ("pmd", p.pmd_folded, m.k.pmd_free)):
        table = m.memory.alloc_table(level, p.shift_of(level))
        m.memory.log.clear()
        free(Ptr(table, 0))
        if folded:
            assert (table.pages[0].count, table.pages[0].freed, m.memory.log) == (1, False, [])
        else:
            assert (table.pages[0].count, table.pages[0].freed) == (0, True)
            assert [e[0] for e in m.memory.log] == ["put", "free"]


@pytest.mark.parametrize("name", ALL)
def test_addr_end_is_end_where_folded(name, mode):
    """pud_addr_end (pud folded), pmd_addr_end (pmd folded) and their kvm_ forms return end."""
    p = PLATFORMS[name]
    k = kernel(name, mode)
    addr, end = 0x1000, 2**60
    if p.pud_folded:
        assert k.pud_addr_end(addr, end) == end
        assert k.kvm_pud_addr_end(addr, end) == end
    if p.pmd_folded:
        assert k.pmd_addr_end(addr, end) == end
        assert k.kvm_pmd_addr_end(addr, end) == end
    assert k.pgd_addr_end(addr, end) == 1 << p.pgdir_shift


def test_arm32_kvm_pud_addr_end_is_end():
    """ARM32's kvm_pud_addr_end is defined as plain end."""
    k = kernel("arm32-lpae")
    assert k.kvm_pud_addr_end(0, 2**40) == 2**40


def test_arm64_4k_48_pud_addr_end_is_real():
    """With a real pud level, kvm_pud_addr_end stops at the next 1 GB boundary."""
    k = kernel("arm64-4k-48")
    assert k.kvm_pud_addr_end(0x1000, 2**40) == 2**30


# -- huge predicates ---------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_pud_huge(name, mode):
    """pud_huge is 0 on arm32 and where the pmd is folded, else 'table bit clear' on arm64."""
    p = PLATFORMS[name]
    k = kernel(name, mode)
    got = (k.pud_huge(BLOCK), k.pud_huge(TABLE_ENTRY), k.pud_huge(0))
    if p.arm32 or p.pmd_folded:
        assert got == (False, False, False)
    else:
        assert got == (True, False, True)


@pytest.mark.parametrize("name", ALL)
def test_pmd_huge(name):
    """pmd_huge(0) is false on arm32 (tests non-zero) but true on arm64; blocks are huge, tables not."""
    k = kernel(name)
    assert k.pmd_huge(0) is (not PLATFORMS[name].arm32)
    assert (k.pmd_huge(BLOCK), k.pmd_huge(TABLE_ENTRY)) == (True, False)
    assert (k.kvm_pmd_huge(BLOCK), k.kvm_pmd_huge(TABLE_ENTRY)) == (True, False)


def test_pte_none_and_present_differ_for_non_valid_nonzero():
    """pte_none tests zero and pte_present the valid bit."""
    k = kernel("arm64-4k-39")
    assert (k.pte_none(0), k.pte_present(0)) == (True, False)
    assert (k.pte_none(TABLE), k.pte_present(TABLE)) == (False, False)
    assert (k.pte_none(TABLE | VALID), k.pte_present(TABLE | VALID)) == (False, True)


# -- *_addr_end arithmetic ---------------------------------------------------------

# Every real (unfolded) kvm_*_addr_end, with the size of its level.
REAL_ADDR_ENDS = [(n, "kvm_pgd_addr_end", "PGDIR_SIZE") for n in ALL] + [
    (n, "kvm_pmd_addr_end", "PMD_SIZE") for n, p in PLATFORMS.items() if not p.pmd_folded] + [
    ("arm64-4k-48", "kvm_pud_addr_end", "PUD_SIZE")]


@pytest.fixture(params=REAL_ADDR_ENDS, ids=lambda r: f"{r[0]}-{r[1]}")
def addr_end(request):
    """(kvm_*_addr_end bound to a stage-2 kernel, the size of its level)."""
    name, helper, size = request.param
    k = kernel(name)
    return getattr(k, helper), getattr(k, size)


def test_addr_end_last_block_with_end_zero(addr_end):
    """From the last block of the address space, a range ending at 0 (the top) returns 0."""
    fn, size = addr_end
    assert fn(2**64 - size, 0) == 0
    assert fn(2**64 - 0x1000, 0) == 0


def test_addr_end_near_top_with_end_zero(addr_end):
    """Below the last block, a range ending at 0 stops at the next boundary, not at 0."""
    fn, size = addr_end
    assert fn(2**64 - 2 * size + 0x1000, 0) == 2**64 - size
    assert fn(2**64 - 2 * size, 0) == 2**64 - size


def test_addr_end_caps_at_end(addr_end):
    """When end comes before the next boundary, *_addr_end returns end."""
    fn, size = addr_end
    assert fn(0x1000, 0x3000) == 0x3000
    assert fn(size, size + 0x1000) == size + 0x1000
    assert fn(0x1000, size) == size


def test_addr_end_boundary_strictly_after_addr(addr_end):
    """From an address on a boundary, *_addr_end returns the next boundary, never addr itself."""
    fn, size = addr_end
    assert fn(size, 2**63) == 2 * size
    assert fn(size - 1, 2**63) == size
    assert fn(0, 2**63) == size
    assert fn(size, U64) == 2 * size


# -- pgd_index -----------------------------------------------------------------------


def test_pgd_index_masks_on_arm64_4k_39():
    """arm64's pgd_index masks with PTRS_PER_PGD - 1, so IPAs at 512 GB alias entry 0."""
    k = kernel("arm64-4k-39")
    assert k.pgd_index(0x80_0000_0000) == 0
    assert k.pgd_index(0x80_4000_0000) == 1
    assert k.pgd_index(0x7F_C000_0000) == 511


def test_pgd_index_unmasked_on_arm32():
    """arm32's pgd_index is a plain shift: 512 GB is entry 512 and 1 TB entry 1024 (past the root)."""
    k = kernel("arm32-lpae")
    assert k.pgd_index(0x80_0000_0000) == 512
    assert k.pgd_index(2**40) == 1024


@pytest.mark.parametrize("name, ipa, index", [
    ("arm64-64k-42", 0x4000_0000, 2),
    ("arm64-64k-42", 2**42, 0),
    ("arm64-4k-48", 2**39, 1),
    ("arm64-4k-48", 2**48, 0),
    ("arm64-64k-48", 2**42, 1),
    ("arm64-64k-48", 2**48, 0),
])
def test_pgd_index_other_platforms(name, ipa, index):
    """pgd_index shifts by PGDIR_SHIFT and masks by the host's PTRS_PER_PGD."""
    assert kernel(name).pgd_index(ipa) == index


# -- kvm_*_table_empty (section 5) -----------------------------------------------------

# (platform, level, mode): the answer for a table page at count 1 (no live entries)
TABLE_EMPTY_AT_1 = {
    **{(n, "pte", md): True for n in ALL for md in MODES},
    **{(n, "pud", md): False for n in ("arm32-lpae", "arm64-4k-39", "arm64-64k-42") for md in MODES},
    ("arm32-lpae", "pmd", "stage2"): True, ("arm32-lpae", "pmd", "hyp"): True,
    ("arm64-4k-39", "pmd", "stage2"): True, ("arm64-4k-39", "pmd", "hyp"): True,
    ("arm64-64k-42", "pmd", "stage2"): False, ("arm64-64k-42", "pmd", "hyp"): False,
    ("arm64-4k-48", "pmd", "stage2"): True, ("arm64-4k-48", "pmd", "hyp"): True,
    ("arm64-4k-48", "pud", "stage2"): False, ("arm64-4k-48", "pud", "hyp"): True,
    ("arm64-64k-48", "pmd", "stage2"): False, ("arm64-64k-48", "pmd", "hyp"): True,
    ("arm64-64k-48", "pud", "stage2"): False, ("arm64-64k-48", "pud", "hyp"): False,
}


@pytest.mark.parametrize("name, level, mode", sorted(TABLE_EMPTY_AT_1))
def test_kvm_table_empty(name, level, mode):
    """kvm_<level>_table_empty follows the era/prealloc rules at count 1 and is false at count 2."""
    m = Machine(name, mode)
    k = m.k
    table = m.memory.alloc_table(level, PLATFORMS[name].shift_of(level))
    ptr = Ptr(table, 5)
    assert (m.kvm is None) is (mode == "hyp")
    test = {"pte": k.kvm_pte_table_empty, "pmd": k.kvm_pmd_table_empty,
            "pud": k.kvm_pud_table_empty}[level]
    assert test(m.kvm, ptr) is TABLE_EMPTY_AT_1[name, level, mode]
    k.get_page(table.pages[0])
    assert test(m.kvm, ptr) is False


def test_page_empty_is_count_one():
    """page_empty is page_count == 1 of the page holding the pointer (0-based root pages are not empty)."""
    m = Machine("arm32-lpae")
    assert m.k.page_empty(m.pgd) is True
    assert m.k.page_empty(m.pgd + 512) is False      # second root page, count 0
    m.k.get_page(m.root.pages[1])
    assert m.k.page_empty(m.pgd + 512) is True


def test_tlb_flush_only_with_kvm():
    """kvm_tlb_flush_vmid_ipa logs a flush for stage 2 and nothing when kvm is NULL."""
    m = Machine("arm64-4k-39")
    m.k.kvm_tlb_flush_vmid_ipa(m.kvm, 0x4000_1000)
    m.k.kvm_tlb_flush_vmid_ipa(None, 0x4000_2000)
    assert m.memory.log == [("tlbi", 0x4000_1000)]
