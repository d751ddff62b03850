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

Pointers
--------

A C pointer to an entry (``pte_t *``) is a Python ``int``, so that the
walkers' pointer arithmetic (``pte + 1``, ``pgdp + pgd_index(addr)``) is
plain integer arithmetic, as in C.  Unlike a C address, the integer remembers
which allocation it was derived from: it is ``table.ptr0 + index`` where
``table.ptr0 = (serial << PTR_SHIFT) + PTR_BIAS``, ``serial`` numbering the
allocations.  Walking one past the end of a table therefore gives index ``n``
of *that* table, an out-of-bounds access, where real memory would silently
hold the next page's entries (docs/KERNEL_MODEL.md: "an index past the end of
a table is an out-of-bounds access, not a silently extended list").  The bias
keeps negative indexes (``pte - 1``) decodable as negative indexes, and the
index field is wide enough for any index a walk computes.

Step budget
-----------

Every read of an entry counts one step; an operation whose walk takes more
than ``step_budget`` steps raises ``hang`` at the read that crosses it.  The
implementations' fast paths (:meth:`Memory.zero_run`) count their reads
exactly as the reads they stand for.
"""
from __future__ import annotations

TABLE_POOL_PA = 0xF000_0000_0000     # table pages live above every guest PA
PA_MASK_48 = (1 << 48) - 1
U64 = (1 << 64) - 1

# Entry encoding (the ARMv8/LPAE descriptor bits that matter here).
VALID = 0b01
TABLE = 0b10          # a table pointer at upper levels, a page at the pte level

# 48 bits of index: ARM32's unmasked pgd_index() reaches 2**34 for a 64-bit
# address, and a pointer derived that far must still name its own table.
PTR_SHIFT = 48
PTR_BIAS = 1 << 47
_PTR_LOW = (1 << PTR_SHIFT) - 1


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
    table is observed linked; the harness uses it to name positions.
    ``ptr0`` is the pointer to entry 0 (see the module docstring).
    """

    __slots__ = ("pa", "n", "entries", "pages", "level", "shift", "per_page_shift",
                 "kind", "any_freed", "base", "serial", "ptr0")

    def __init__(self, pa, n, pages, level, shift, per_page_shift, kind, serial):
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
        self.serial = serial
        self.ptr0 = (serial << PTR_SHIFT) + PTR_BIAS

    def page_of(self, index: int) -> Page:
        return self.pages[index >> self.per_page_shift]

    def __repr__(self) -> str:
        return f"<{self.level} table {self.pa:#x}>"


def forget(table: Table) -> None:
    """Drop the references between a table nothing refers to any more and its pages (they
    refer to each other), so that reference counting frees them at once, not the garbage
    collector later."""
    for page in table.pages:
        page.table = None


def ptr(table: Table, index: int = 0) -> int:
    """``&table[index]``: the pointer to one entry of ``table``."""
    return table.ptr0 + index


class Memory:
    """Pages, their refcounts, and the ordered record of every effect.

    ``log`` entries are tuples:
    ``("set", table, index, old, new)``, ``("get", page)``, ``("put", page)``,
    ``("free", page)`` (count reached zero), ``("alloc", table)`` and
    ``("tlbi", ipa)``.  :meth:`rollback` undoes the effects after a mark and
    :meth:`redo` applies a recorded slice again, so that one machine can run
    several implementations' unmaps in turn (see ``unmapfuzz.verdict.lockstep``).
    """

    def __init__(self, page_shift: int, step_budget: int = 200_000):
        self.page_shift = page_shift
        self.page_size = 1 << page_shift
        self.per_page_shift = page_shift - 3
        self.pa_mask = PA_MASK_48 & ~(self.page_size - 1)
        self.next_pa = TABLE_POOL_PA
        self.pages: dict[int, Page] = {}        # pa -> page, for every page ever allocated
        self.tables: list[Table] = []
        self.by_serial: dict[int, Table] = {}   # serial -> table, for decoding pointers
        self.guests: dict[int, Table] = {}      # pa -> the stand-in "table" of a page that is no table
        self.next_serial = 1                    # serial 0 is never a table: ptr 0 is NULL
        self.entries_allocated = 0              # sum of n over self.tables
        self.log: list[tuple] = []
        self.steps = 0
        self.step_budget = step_budget

    # -- allocation ---------------------------------------------------------

    def _serial(self) -> int:
        serial = self.next_serial
        self.next_serial += 1
        return serial

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
                      self.per_page_shift, kind, self._serial())
        for i in range(n_pages):
            page = Page(pa + (i << self.page_shift), kind, 1 if i == 0 else 0, table, i)
            table.pages.append(page)
            self.pages[page.pa] = page
        self.tables.append(table)
        self.by_serial[table.serial] = table
        self.entries_allocated += table.n
        self.log.append(("alloc", table))
        return table

    def table_at(self, pa: int) -> int:
        """The pointer ``__va(pa)`` as a table pointer; no access is made yet."""
        page = self.pages.get(pa)
        if page is None:
            # Not a page the model allocated: a guest page behind a block, or
            # nothing at all.  Any read through it is a fault.
            table = self.guests.get(pa)
            if table is None:
                page = Page(pa, "guest", 0, None, 0)
                table = Table(pa, 0, [page], "guest", 0, self.per_page_shift, "guest", self._serial())
                page.table = table
                self.guests[pa] = table
                self.by_serial[table.serial] = table
            return table.ptr0
        return page.table.ptr0 + (page.index << self.per_page_shift)

    def table_of(self, p: int) -> Table:
        """The allocation a pointer was derived from (a fault if it is no pointer of ours)."""
        try:
            return self.by_serial[p >> PTR_SHIFT]
        except (KeyError, TypeError):
            raise Fault("out-of-bounds", f"dereference of {p!r}, which is not a pointer into any table") from None

    def decode(self, p: int) -> tuple[Table, int]:
        """``(table, index)`` of a pointer: the allocation it was derived from and the entry."""
        return self.table_of(p), (p & _PTR_LOW) - PTR_BIAS

    # -- entry access -------------------------------------------------------

    def _check(self, p: int, what: str) -> tuple[Table, int]:
        t = self.table_of(p)
        index = (p & _PTR_LOW) - PTR_BIAS
        self.steps += 1
        if self.steps > self.step_budget:
            raise Fault("hang", f"more than {self.step_budget} table accesses: the walk does not terminate",
                        t.level)
        if not 0 <= index < t.n:
            if t.kind == "guest":
                hint = ": a none entry followed as a table pointer" if t.pa == 0 else ""
                raise Fault("out-of-bounds", f"{what} through a pointer to PA {t.pa:#x}, "
                            f"which is not a table page{hint}", "none")
            raise Fault("out-of-bounds", f"{what} of entry {index} of a {t.n}-entry {t.level} "
                        f"table at {t.pa:#x}", t.level)
        if t.any_freed and t.page_of(index).freed:
            raise Fault("use-after-free", f"{what} of {t.level}[{index}] in freed page "
                        f"{t.page_of(index).pa:#x}", t.level)
        return t, index

    def read(self, p: int) -> int:
        # The common case inline (this is the walkers' hot path); anything
        # unusual goes through _check, which raises the right fault.
        try:
            t = self.by_serial[p >> PTR_SHIFT]
        except (KeyError, TypeError):
            pass
        else:
            self.steps += 1
            index = (p & _PTR_LOW) - PTR_BIAS
            if self.steps <= self.step_budget and 0 <= index < t.n and not t.any_freed:
                return t.entries.get(index, 0)
            self.steps -= 1
        t, index = self._check(p, "read")
        return t.entries.get(index, 0)

    def write(self, p: int, value: int) -> None:
        # The common case inline, as in read(); anything unusual takes the slow path below.
        try:
            t = self.by_serial[p >> PTR_SHIFT]
        except (KeyError, TypeError):
            pass
        else:
            index = (p & _PTR_LOW) - PTR_BIAS
            steps = self.steps + 1
            if (steps <= self.step_budget and 0 <= index < t.n and not t.any_freed
                    and type(value) is int and 0 <= value <= U64):
                self.steps = steps
                entries = t.entries
                old = entries.get(index, 0)
                if value:
                    entries[index] = value
                elif old:
                    del entries[index]
                self.log.append(("set", t, index, old, value))
                return
        t, index = self._check(p, "write")
        if type(value) is not int or not 0 <= value <= U64:
            raise Fault("crash", f"write of {value!r} to {t.level}[{index}]: a descriptor is a 64-bit "
                        "unsigned integer", t.level)
        old = t.entries.get(index, 0)
        if value:
            t.entries[index] = value
        elif old:
            del t.entries[index]
        self.log.append(("set", t, index, old, value))

    def peek(self, p: int) -> int | None:
        """``*p`` if reading it would not fault (not counted as a step), else None.

        Only the fast paths use it, to see whether the iterations ahead are
        a run they may take; every read a walk makes is still :meth:`read`.
        """
        try:
            t = self.by_serial[p >> PTR_SHIFT]
        except (KeyError, TypeError):
            return None
        index = (p & _PTR_LOW) - PTR_BIAS
        if not 0 <= index < t.n or (t.any_freed and t.page_of(index).freed):
            return None
        return t.entries.get(index, 0)

    def zero_run(self, p: int, limit: int, reads: int = 1) -> int:
        """How many of the next ``limit`` entries from ``p`` a walk reads as zero,
        ``reads`` times each, without a fault; those reads are counted.

        This is the model's side of the implementations' fast paths: a walk
        over a run of none entries reads each (a fixed number of times) and
        does nothing else, so the run is taken in one call.  It stops short of
        anything the real reads must do themselves: a non-zero entry, an index
        outside the table, a freed page, an entry whose reads would cross the
        step budget.
        """
        try:
            t = self.by_serial[p >> PTR_SHIFT]
        except (KeyError, TypeError):
            return 0
        index = (p & _PTR_LOW) - PTR_BIAS
        stop = min(index + limit, t.n, index + (self.step_budget - self.steps) // reads)
        if index < 0 or stop <= index:
            return 0
        if t.any_freed:
            per_page = t.per_page_shift
            for page in t.pages[index >> per_page:]:
                if page.freed:
                    stop = min(stop, max(index, page.index << per_page))
                    break
        entries = t.entries
        if stop <= index or index in entries:
            return 0
        if entries:
            if len(entries) * 4 < stop - index:       # few entries: look at each
                for i in entries:
                    if index < i < stop:
                        stop = i
            else:                                      # many: probe the run itself
                i = index + 1
                while i < stop and i not in entries:
                    i += 1
                stop = i
        run = stop - index
        self.steps += run * reads
        return run

    # -- refcounts ------------------------------------------------------------

    def virt_to_page(self, p: int) -> Page:
        try:
            t = self.by_serial[p >> PTR_SHIFT]
        except (KeyError, TypeError):
            t = self.table_of(p)          # raises the fault
        if t.kind == "guest":
            return t.pages[0]
        index = (p & _PTR_LOW) - PTR_BIAS
        idx = index >> t.per_page_shift
        if not 0 <= idx < len(t.pages):
            raise Fault("out-of-bounds", f"virt_to_page of {t.level}[{index}] lies past the "
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
        if type(page) is Page and not page.freed and page.kind == "table":     # the common case
            self.steps += 1
            page.count += 1
            self.log.append(("get", page))
            return
        if not isinstance(page, Page):
            raise Fault("crash", f"get_page of {page!r}, which is not a struct page")
        if page.freed:
            raise Fault("use-after-free", f"get_page on freed page {page.pa:#x}", page.table.level)
        self._live(page, "get_page")
        page.count += 1
        self.log.append(("get", page))

    def put_page(self, page: Page, what: str = "put_page") -> None:
        if type(page) is Page and not page.freed and page.kind == "table" and page.count > 1:   # the common case
            self.steps += 1
            page.count -= 1
            self.log.append(("put", page))
            return
        if not isinstance(page, Page):
            raise Fault("crash", f"{what} of {page!r}, which is not a struct page")
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

    # -- running several implementations on one machine ---------------------------

    def clone(self, into: "Memory | None" = None) -> tuple["Memory", dict[int, object]]:
        """An independent copy of this memory, and the map ``id(old) -> new`` of its
        tables and pages (so that other state referring to them can follow).
        The copy's log starts empty.

        ``into``: a memory of the same page size to overwrite with the copy, whatever
        it held, keeping its containers (a kernel bound to it stays bound)."""
        if into is None:
            m = Memory.__new__(Memory)
            m.log, m.pages, m.tables, m.by_serial, m.guests = [], {}, [], {}, {}
        else:
            m = into
            for t in m.by_serial.values():     # what it held is forgotten
                forget(t)
            for container in (m.log, m.pages, m.tables, m.by_serial, m.guests):
                container.clear()
        m.page_shift, m.page_size, m.per_page_shift = self.page_shift, self.page_size, self.per_page_shift
        m.pa_mask, m.next_pa, m.next_serial = self.pa_mask, self.next_pa, self.next_serial
        m.entries_allocated, m.steps, m.step_budget = self.entries_allocated, self.steps, self.step_budget
        mapping: dict[int, object] = {}
        for t in [*self.tables, *self.guests.values()]:
            c = Table.__new__(Table)
            c.pa, c.n, c.entries, c.level, c.shift = t.pa, t.n, dict(t.entries), t.level, t.shift
            c.per_page_shift, c.kind, c.any_freed, c.base = t.per_page_shift, t.kind, t.any_freed, t.base
            c.serial, c.ptr0 = t.serial, t.ptr0
            c.pages = []
            for pg in t.pages:
                q = Page(pg.pa, pg.kind, pg.count, c, pg.index)
                q.freed = pg.freed
                c.pages.append(q)
                mapping[id(pg)] = q
            mapping[id(t)] = c
            m.by_serial[c.serial] = c
            if t.kind == "guest":
                m.guests[t.pa] = c
            else:
                m.tables.append(c)
                for q in c.pages:
                    m.pages[q.pa] = q
        return m, mapping

    def rollback(self, mark: int) -> list[tuple]:
        """Undo every effect logged after ``mark``; return them (in order) for :meth:`redo`."""
        undone = self.log[mark:]
        for ev in reversed(undone):
            what = ev[0]
            if what == "set":
                _, t, index, old, _new = ev
                if old:
                    t.entries[index] = old
                else:
                    t.entries.pop(index, None)
            elif what == "get":
                ev[1].count -= 1
            elif what == "put":
                ev[1].count += 1
            elif what == "free":
                page = ev[1]
                page.freed = False
                page.table.any_freed = any(pg.freed for pg in page.table.pages)
            elif what == "alloc":
                t = ev[1]
                self.tables.pop()
                del self.by_serial[t.serial]
                for page in t.pages:
                    del self.pages[page.pa]
                self.next_pa = t.pa
                self.entries_allocated -= t.n
        del self.log[mark:]
        return undone

    def redo(self, effects: list[tuple], mapping: dict[int, object] | None = None) -> None:
        """Apply ``effects`` (a slice :meth:`rollback` returned) again, logging them.

        With ``mapping`` (from :meth:`clone`), effects recorded on the original
        memory are applied to the copy's tables and pages instead.
        """
        if mapping:
            effects = [_remap(ev, mapping) for ev in effects]
        for ev in effects:
            what = ev[0]
            if what == "set":
                _, t, index, _old, new = ev
                if new:
                    t.entries[index] = new
                else:
                    t.entries.pop(index, None)
            elif what == "get":
                ev[1].count += 1
            elif what == "put":
                ev[1].count -= 1
            elif what == "free":
                page = ev[1]
                page.freed = True
                page.table.any_freed = True
            elif what == "alloc":
                t = ev[1]
                self.tables.append(t)
                self.by_serial[t.serial] = t
                for page in t.pages:
                    self.pages[page.pa] = page
                self.next_pa = t.pa + (len(t.pages) << self.page_shift)
                self.entries_allocated += t.n
        self.log.extend(effects)


def _remap(ev: tuple, mapping: dict[int, object]) -> tuple:
    """An effect with its table or page replaced by its copy (new tables stay as they are)."""
    if ev[0] == "tlbi":
        return ev
    return (ev[0], mapping.get(id(ev[1]), ev[1]), *ev[2:])
