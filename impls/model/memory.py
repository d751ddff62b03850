"""Physical memory as the page-table code sees it: table pages with refcounts.

This is the one recording object every memory effect goes through (the
``mm_ops`` of the model).  It allocates table pages, counts ``get_page`` and
``put_page``, frees a page when its count reaches zero, and appends every
entry write, get, put, free and TLB flush to :attr:`Memory.log` in order, so
the harness can check what an operation did without trusting the walker that
did it.

A memory-safety error is raised as a :class:`Fault` at the access that commits
it: the kernel would have corrupted memory or oopsed there, so the run of that
implementation stops and the fault becomes its finding.
"""
from __future__ import annotations

TABLE_POOL_PA = 0xF000_0000_0000     # table pages live above every guest PA
PA_MASK_48 = (1 << 48) - 1

# Entry encoding (the ARMv8/LPAE descriptor bits that matter here).
VALID = 0b01
TABLE = 0b10          # a table pointer at upper levels, a page at the pte level


class Fault(Exception):
    """A memory-safety error committed by the code under test."""

    def __init__(self, kind: str, detail: str, level: str = "none", ipa: int | None = None):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.level = level
        self.ipa = ipa


class Page:
    """One struct page: a table page, a slab page or a guest page."""

    __slots__ = ("pa", "kind", "count", "freed", "table", "index")

    def __init__(self, pa: int, kind: str, count: int, table: "Table | None", index: int):
        self.pa = pa
        self.kind = kind          # "table", "slab" (kmalloc'd fake pgd) or "guest"
        self.count = count
        self.freed = False
        self.table = table
        self.index = index        # which page of its allocation

    def __repr__(self) -> str:
        return f"<{self.kind} page {self.pa:#x} count={self.count}{' freed' if self.freed else ''}>"


class Table:
    """One allocation holding a table: ``n`` entries over one or more pages.

    Entries are sparse (a dict from index to non-zero value).  ``level`` is the
    Linux table it holds ("pgd", "pud", "pmd", "pte") and ``shift`` the bytes
    one of its entries maps.  ``base`` is the IPA of entry 0, set when the
    table is linked; the harness uses it to name positions.
    """

    __slots__ = ("pa", "n", "entries", "pages", "level", "shift", "per_page_shift",
                 "kind", "any_freed", "base")

    def __init__(self, pa, n, pages, level, shift, per_page_shift, kind):
        self.pa = pa
        self.n = n
        self.entries: dict[int, int] = {}
        self.pages: list[Page] = pages
        self.level = level
        self.shift = shift
        self.per_page_shift = per_page_shift
        self.kind = kind
        self.any_freed = False
        self.base: int | None = None

    def page_of(self, index: int) -> Page:
        return self.pages[index >> self.per_page_shift]

    def __repr__(self) -> str:
        return f"<{self.level} table {self.pa:#x}>"


class Ptr:
    """A C pointer to one entry: a table and an index into it."""

    __slots__ = ("table", "index")

    def __init__(self, table: Table, index: int):
        self.table = table
        self.index = index

    def __add__(self, n: int) -> "Ptr":
        p = _new_ptr(Ptr)
        p.table = self.table
        p.index = self.index + n
        return p

    def __eq__(self, other) -> bool:
        return isinstance(other, Ptr) and self.table is other.table and self.index == other.index

    def __hash__(self) -> int:
        return hash((id(self.table), self.index))

    def __repr__(self) -> str:
        return f"&{self.table.level}[{self.index}]@{self.table.pa:#x}"


_new_ptr = object.__new__


class Memory:
    """Pages, their refcounts, and the ordered record of every effect.

    ``log`` entries are tuples:
    ``("set", table, index, old, new)``, ``("get", page)``, ``("put", page)``,
    ``("free", page)`` (count reached zero), ``("alloc", table)`` and
    ``("tlbi", ipa)``.
    """

    def __init__(self, page_shift: int, step_budget: int = 200_000):
        self.page_shift = page_shift
        self.page_size = 1 << page_shift
        self.per_page_shift = page_shift - 3
        self.pa_mask = PA_MASK_48 & ~(self.page_size - 1)
        self.next_pa = TABLE_POOL_PA
        self.pages: dict[int, Page] = {}        # pa -> page, for every page ever allocated
        self.tables: list[Table] = []
        self.entries_allocated = 0              # sum of n over self.tables
        self.log: list[tuple] = []
        self.steps = 0
        self.step_budget = step_budget

    # -- allocation ---------------------------------------------------------

    def alloc_table(self, level: str, shift: int, n_pages: int = 1, n: int | None = None,
                    kind: str = "table") -> Table:
        """Allocate zeroed pages for a table; only the first page is counted.

        Order-n allocations in these eras are not compound: the first page
        starts at refcount 1 and every other page at 0.
        """
        pa = self.next_pa
        self.next_pa += n_pages << self.page_shift
        per_page = 1 << self.per_page_shift
        table = Table(pa, n if n is not None else n_pages * per_page, [], level, shift,
                      self.per_page_shift, kind)
        for i in range(n_pages):
            page = Page(pa + (i << self.page_shift), kind, 1 if i == 0 else 0, table, i)
            table.pages.append(page)
            self.pages[page.pa] = page
        self.tables.append(table)
        self.entries_allocated += table.n
        self.log.append(("alloc", table))
        return table

    def table_at(self, pa: int) -> Ptr:
        """The pointer ``__va(pa)`` as a table pointer; no access is made yet."""
        page = self.pages.get(pa)
        if page is None:
            # Not a page the model allocated: a guest page behind a block, or
            # nothing at all.  Any read through it is a fault.
            page = Page(pa, "guest", 0, None, 0)
            table = Table(pa, 0, [page], "guest", 0, self.per_page_shift, "guest")
            page.table = table
            return Ptr(table, 0)
        return Ptr(page.table, page.index << self.per_page_shift)

    # -- entry access -------------------------------------------------------

    def _check(self, p: Ptr, what: str) -> Table:
        t = p.table
        self.steps += 1
        if self.steps > self.step_budget:
            raise Fault("hang", f"more than {self.step_budget} table accesses: the walk does not terminate",
                        t.level)
        if not 0 <= p.index < t.n:
            if t.kind == "guest":
                hint = ": a none entry followed as a table pointer" if t.pa == 0 else ""
                raise Fault("out-of-bounds", f"{what} through a pointer to PA {t.pa:#x}, "
                            f"which is not a table page{hint}", "none")
            raise Fault("out-of-bounds", f"{what} of entry {p.index} of a {t.n}-entry {t.level} "
                        f"table at {t.pa:#x}", t.level)
        if t.any_freed and t.page_of(p.index).freed:
            raise Fault("use-after-free", f"{what} of {t.level}[{p.index}] in freed page "
                        f"{t.page_of(p.index).pa:#x}", t.level)
        return t

    def read(self, p: Ptr) -> int:
        # The common case inline (this is the walkers' hot path); anything
        # unusual goes through _check, which raises the right fault.
        t = p.table
        self.steps += 1
        if self.steps < self.step_budget and 0 <= p.index < t.n and not t.any_freed:
            return t.entries.get(p.index, 0)
        self.steps -= 1
        return self._check(p, "read").entries.get(p.index, 0)

    def write(self, p: Ptr, value: int) -> None:
        t = self._check(p, "write")
        old = t.entries.get(p.index, 0)
        if value:
            t.entries[p.index] = value
        elif old:
            del t.entries[p.index]
        self.log.append(("set", t, p.index, old, value))

    # -- refcounts ------------------------------------------------------------

    def virt_to_page(self, p: Ptr) -> Page:
        t = p.table
        if t.kind == "guest":
            return t.pages[0]
        idx = p.index >> t.per_page_shift
        if not 0 <= idx < len(t.pages):
            raise Fault("out-of-bounds", f"virt_to_page of {t.level}[{p.index}] lies past the "
                        f"{len(t.pages)}-page allocation at {t.pa:#x}", t.level)
        return t.pages[idx]

    def _live(self, page: Page, what: str) -> None:
        self.steps += 1
        if page.kind == "guest":
            raise Fault("freed-non-table", f"{what} on guest page {page.pa:#x}, which is not a "
                        "table page: the kernel would release guest memory", "none")
        if page.kind == "slab":
            raise Fault("freed-non-table", f"{what} on the kmalloc'd fake pgd at {page.pa:#x}",
                        "pgd")

    def get_page(self, page: Page) -> None:
        if page.freed:
            raise Fault("use-after-free", f"get_page on freed page {page.pa:#x}", page.table.level)
        self._live(page, "get_page")
        page.count += 1
        self.log.append(("get", page))

    def put_page(self, page: Page, what: str = "put_page") -> None:
        if page.freed:
            kind = "double-free" if what != "put_page" else "use-after-free"
            raise Fault(kind, f"{what} on page {page.pa:#x}, already freed", page.table.level)
        self._live(page, what)
        if page.count <= 0:
            raise Fault("refcount-underflow", f"{what} on {page.table.level} page {page.pa:#x} "
                        f"whose count is already {page.count}", page.table.level)
        page.count -= 1
        self.log.append(("put", page))
        if page.count == 0:
            page.freed = True
            page.table.any_freed = True
            self.log.append(("free", page))

    def free_page(self, page: Page, what: str) -> None:
        """``free_page()``: drops the allocation's reference, frees at zero."""
        self.put_page(page, what)

    def tlbi(self, ipa: int) -> None:
        self.log.append(("tlbi", ipa))
