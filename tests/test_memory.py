"""Tests for unmapfuzz.impls.model.memory: table pages, refcounts, the effect log and the faults it raises."""

import pytest

from unmapfuzz.impls.model.memory import TABLE_POOL_PA, Fault, Memory, ptr as Ptr

PAGE_SHIFT = 12


@pytest.fixture
def memory():
    return Memory(PAGE_SHIFT)


@pytest.fixture
def root(memory):
    """A two-page, 1024-entry root allocation, with the log cleared."""
    table = memory.alloc_table("pgd", 30, n_pages=2)
    memory.log.clear()
    return table


def fault_kind(fn, *args):
    with pytest.raises(Fault) as info:
        fn(*args)
    return info.value.kind


def freed_pte_table(memory):
    """A one-page pte table whose page has been put to zero, with the log cleared."""
    table = memory.alloc_table("pte", PAGE_SHIFT)
    memory.put_page(table.pages[0])
    memory.log.clear()
    return table


# -- allocation ----------------------------------------------------------------------


def test_multi_page_alloc_counts_only_the_first_page(root, memory):
    """An order-1 allocation starts with the first page at count 1 and the second at 0."""
    assert [pg.count for pg in root.pages] == [1, 0]
    assert [pg.index for pg in root.pages] == [0, 1]
    assert [pg.pa for pg in root.pages] == [TABLE_POOL_PA, TABLE_POOL_PA + 0x1000]
    assert root.n == 1024


def test_alloc_is_logged_and_pages_are_distinct(memory):
    """alloc_table logs ("alloc", table) and successive tables get fresh physical pages."""
    a = memory.alloc_table("pmd", 21)
    b = memory.alloc_table("pte", 12)
    assert memory.log == [("alloc", a), ("alloc", b)]
    assert (a.pa, b.pa) == (TABLE_POOL_PA, TABLE_POOL_PA + 0x1000)
    assert (a.n, b.n) == (512, 512)


def test_virt_to_page_picks_the_page_of_the_entry(root, memory):
    """virt_to_page of entry 511 is the first page and of entry 512 the second."""
    assert memory.virt_to_page(Ptr(root, 511)) is root.pages[0]
    assert memory.virt_to_page(Ptr(root, 512)) is root.pages[1]
    assert memory.table_at(root.pa + 0x1000) == Ptr(root, 512)


# -- refcounts and the log --------------------------------------------------------------


def test_get_and_put_count_and_log_in_order(root, memory):
    """get_page and put_page change the count by one and log in call order."""
    first, second = root.pages
    memory.get_page(first)
    memory.get_page(second)
    memory.put_page(first)
    assert (first.count, second.count) == (1, 1)
    assert memory.log == [("get", first), ("get", second), ("put", first)]


def test_put_to_zero_frees_and_logs(memory):
    """A put that takes a page to zero marks it freed and logs ("put", page) then ("free", page)."""
    table = memory.alloc_table("pte", PAGE_SHIFT)
    page = table.pages[0]
    memory.log.clear()
    memory.put_page(page)
    assert (page.count, page.freed, table.any_freed) == (0, True, True)
    assert memory.log == [("put", page), ("free", page)]


def test_write_logs_old_and_new_and_keeps_entries_sparse(root, memory):
    """write logs ("set", table, index, old, new) and a zero write removes the entry."""
    memory.write(Ptr(root, 3), 0x1003)
    memory.write(Ptr(root, 3), 0)
    assert memory.log == [("set", root, 3, 0, 0x1003), ("set", root, 3, 0x1003, 0)]
    assert root.entries == {}
    assert memory.read(Ptr(root, 3)) == 0


def test_tlbi_is_logged(memory):
    """tlbi logs ("tlbi", ipa)."""
    memory.tlbi(0x4000_1000)
    assert memory.log == [("tlbi", 0x4000_1000)]


# -- faults -----------------------------------------------------------------------------


def test_read_of_freed_page_is_use_after_free(memory):
    """Reading or writing an entry of a freed table page raises use-after-free."""
    table = freed_pte_table(memory)
    assert fault_kind(memory.read, Ptr(table, 7)) == "use-after-free"
    assert fault_kind(memory.write, Ptr(table, 7), 0) == "use-after-free"


def test_only_the_freed_page_of_an_allocation_faults(root, memory):
    """With the second root page freed, entries of the first page stay readable."""
    memory.get_page(root.pages[1])
    memory.put_page(root.pages[1])
    assert memory.read(Ptr(root, 0)) == 0
    assert fault_kind(memory.read, Ptr(root, 512)) == "use-after-free"


@pytest.mark.parametrize("index", [1024, 1025, -1])
def test_index_outside_table_is_out_of_bounds(root, memory, index):
    """An index outside [0, n) raises out-of-bounds and names the table's level."""
    with pytest.raises(Fault) as info:
        memory.read(Ptr(root, index))
    assert (info.value.kind, info.value.level) == ("out-of-bounds", "pgd")


def test_entry_count_smaller_than_page_bounds_the_table(memory):
    """A 4-entry root (arm32 hyp) faults at entry 4 even though its page holds 512."""
    table = memory.alloc_table("pgd", 30, 1, 4)
    assert memory.read(Ptr(table, 3)) == 0
    assert fault_kind(memory.read, Ptr(table, 4)) == "out-of-bounds"


def test_virt_to_page_past_allocation_is_out_of_bounds(root, memory):
    """virt_to_page of an entry past the last page of the allocation raises out-of-bounds."""
    assert fault_kind(memory.virt_to_page, Ptr(root, 1024)) == "out-of-bounds"


def test_put_on_freed_page_is_use_after_free(memory):
    """put_page on a freed page raises use-after-free."""
    table = freed_pte_table(memory)
    assert fault_kind(memory.put_page, table.pages[0]) == "use-after-free"
    assert fault_kind(memory.get_page, table.pages[0]) == "use-after-free"


def test_free_page_on_freed_page_is_double_free(memory):
    """free_page (pte_free_kernel, pmd_free...) on a freed page raises double-free."""
    table = freed_pte_table(memory)
    assert fault_kind(memory.free_page, table.pages[0], "pte_free_kernel") == "double-free"


def test_put_at_count_zero_is_refcount_underflow(root, memory):
    """put_page on the second root page, never got (count 0), raises refcount-underflow and logs nothing."""
    assert fault_kind(memory.put_page, root.pages[1]) == "refcount-underflow"
    assert root.pages[1].count == 0 and not root.pages[1].freed
    assert memory.log == []


def test_guest_page_get_or_put_is_freed_non_table(memory):
    """get/put on a guest page (not a table the model allocated) raises freed-non-table."""
    guest = memory.table_at(0x4000_0000)
    page = memory.virt_to_page(guest)
    assert (memory.table_of(guest).kind, page.kind, page.pa) == ("guest", "guest", 0x4000_0000)
    assert fault_kind(memory.get_page, page) == "freed-non-table"
    assert fault_kind(memory.put_page, page) == "freed-non-table"
    assert memory.log == []


def test_read_through_guest_pointer_is_out_of_bounds(memory):
    """Reading through a pointer into a guest page raises out-of-bounds at level "none"."""
    with pytest.raises(Fault) as info:
        memory.read(memory.table_at(0x4000_0000) + 3)
    assert (info.value.kind, info.value.level) == ("out-of-bounds", "none")


def test_slab_page_get_or_put_is_freed_non_table(memory):
    """get/put on a kmalloc'd (slab) fake pgd raises freed-non-table."""
    fake = memory.alloc_table("pgd", 39, 1, 2, kind="slab")
    assert fault_kind(memory.get_page, fake.pages[0]) == "freed-non-table"
    assert fault_kind(memory.put_page, fake.pages[0]) == "freed-non-table"


def test_step_budget_raises_hang():
    """More table accesses than the step budget raises hang."""
    memory = Memory(PAGE_SHIFT, step_budget=10)
    table = memory.alloc_table("pte", PAGE_SHIFT)
    for i in range(10):
        memory.read(Ptr(table, i))
    assert fault_kind(memory.read, Ptr(table, 10)) == "hang"
