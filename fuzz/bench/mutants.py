"""Mutants of ``impls/v3.py``: v3 with one plausible kernel bug each, to measure whether the tool sees it.

Issue 7 asks that a copy of v3 with any single plausible bug, passed as
``--impl`` to a default campaign, be flagged *new*.  Rather than keep copies
of v3 (which would rot as v3's file changes, and read as duplicated code),
each mutant is generated from v3's source text: a :class:`Mutation` is one
edit, an exact piece of v3's text and its replacement, that must apply
exactly once (:func:`mutant_source` raises :class:`MutationError` otherwise,
so an edit that no longer fits v3 is caught, never silently skipped).
:func:`write_mutant` writes the result where ``--impl NAME=FILE`` loads it.

What "flagged" means for a copy of v3
-------------------------------------

The default baseline is ``v3-pgdnone``, and v3 is not it: on ``arm64-4k-48``
hyp, v3 follows an empty pgd entry as a pud table (the 3.19 fix), which the
baseline does not, and ``corpus/known.txt`` names only built-in code.  So the
*unmodified* copy (:data:`CONTROL`) is already flagged new, with
``out-of-bounds/arm64-4k-48/hyp/none`` (:data:`CONTROL_NEWS`).  A mutant
counts as flagged only for a new signature beyond those
(:func:`mutant_news`): otherwise every mutant would be "flagged" for a bug
it did not add.

Which programs can show a mutant
--------------------------------

Each mutation names its ``reach``: the profile whose programs can show the
bug.  ``realistic`` programs never map a pud block (no kernel of these eras
did), so a bug in ``unmap_puds()``'s huge-pud branch shows only under
``adversarial``.  :data:`EQUIVALENT` holds edits that change v3's text but
not its behaviour on any program the profile allows, each with the reason;
they are measured like the others, to show the reasoning holds, and are
expected never to be flagged.

The model's fast paths
----------------------

v3's loops call ``k.skip_none_*()``, the model's fast path over runs of none
entries, each written for the loop it sits in: what v3 reads and does at a
none entry, and how it steps.  An edit that changes either (``next``, the
pointer step, a test that reads the entry) would leave the fast path doing
what v3 does, so such a mutation sets ``slow`` and
:func:`mutant_source` replaces every fast-path call with its arguments
(what ``fast=False`` does).  ``tests/test_mutants.py`` checks every mutant
gives the same verdicts with and without the model's fast paths.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["Mutation", "MutationError", "MUTATIONS", "EQUIVALENT", "CONTROL", "CONTROL_NEWS", "ALL",
           "by_name", "v3_source", "mutant_source", "write_mutant", "file_name", "mutant_news", "tail"]


class MutationError(ValueError):
    """An edit that does not apply exactly once to v3's current text."""


@dataclass(frozen=True, slots=True)
class Mutation:
    """One edit of v3's text: ``old`` (exact, occurring once) becomes ``new``.

    ``category`` groups the bugs (flush, put_page, emptiness, addr_end,
    clear address, loop, branch); ``bug`` says what is wrong in kernel terms.
    ``reach`` is the profile whose programs can show it; ``equivalent``, when
    not empty, says why no program of that profile can.  ``slow``: the edit
    changes what a loop reads or does at a none entry, or how it steps, so the model's
    fast paths (which reproduce v3's) are taken out.
    """

    name: str
    category: str
    bug: str
    old: str
    new: str
    reach: str = "realistic"
    slow: bool = False
    equivalent: str = ""


def _m(name, category, bug, old, new, **kw) -> Mutation:
    return Mutation(name, category, bug, old, new, **kw)


# Pieces of v3's text that several edits start from.
_PTE_BODY = ("            k.kvm_set_pte(pte, 0)\n"
             "            k.put_page(k.virt_to_page(pte))\n"
             "            k.kvm_tlb_flush_vmid_ipa(kvm, addr)\n")
_PMD_HUGE = ("                k.pmd_clear(pmd)\n"
             "                k.kvm_tlb_flush_vmid_ipa(kvm, addr)\n"
             "                k.put_page(k.virt_to_page(pmd))\n")
_PUD_HUGE = ("                k.pud_clear(pud)\n"
             "                k.kvm_tlb_flush_vmid_ipa(kvm, addr)\n"
             "                k.put_page(k.virt_to_page(pud))\n")
_CLEAR_PMD = ("    k.pmd_clear(pmd)\n"
              "    k.kvm_tlb_flush_vmid_ipa(kvm, addr)\n"
              "    k.pte_free_kernel(pte_table)\n"
              "    k.put_page(k.virt_to_page(pmd))\n")
_CLEAR_PUD = ("    k.pud_clear(pud)\n"
              "    k.kvm_tlb_flush_vmid_ipa(kvm, addr)\n"
              "    k.pmd_free(pmd_table)\n"
              "    k.put_page(k.virt_to_page(pud))\n")
_CLEAR_PGD = ("    k.pgd_clear(pgd)\n"
              "    k.kvm_tlb_flush_vmid_ipa(kvm, addr)\n"
              "    k.pud_free(pud_table)\n"
              "    k.put_page(k.virt_to_page(pgd))\n")


def _drop(text: str, line: str) -> str:
    """``text`` without ``line`` (a whole line of it, without its newline)."""
    assert text.count(line + "\n") == 1, line
    return text.replace(line + "\n", "")


def _swap(text: str, first: str, second: str) -> str:
    """``text`` with the adjacent lines ``first`` and ``second`` (first above second) exchanged."""
    pair = first + "\n" + second + "\n"
    assert text.count(pair) == 1, pair
    return text.replace(pair, second + "\n" + first + "\n")


MUTATIONS: list[Mutation] = [
    # -- a missing or misplaced TLB flush -------------------------------------------------------
    _m("pte-no-flush", "flush",
       "unmap_ptes() clears a pte and puts its table page but never flushes the IPA: the guest "
       "keeps using a stale TLB entry for a page the host may reuse",
       _PTE_BODY, _drop(_PTE_BODY, "            k.kvm_tlb_flush_vmid_ipa(kvm, addr)")),
    _m("pte-flush-before-clear", "flush",
       "unmap_ptes() flushes the IPA before clearing the pte: a walk between the flush and the "
       "clear refills the TLB from the live entry",
       _PTE_BODY, ("            k.kvm_tlb_flush_vmid_ipa(kvm, addr)\n"
                   "            k.kvm_set_pte(pte, 0)\n"
                   "            k.put_page(k.virt_to_page(pte))\n")),
    _m("pte-flush-start-addr", "flush",
       "unmap_ptes() flushes start_addr, the first IPA of its range, for every pte it clears: every "
       "page after the first keeps its stale TLB entry",
       _PTE_BODY, _PTE_BODY.replace("flush_vmid_ipa(kvm, addr)", "flush_vmid_ipa(kvm, start_addr)")),
    _m("pmd-huge-no-flush", "flush",
       "unmap_pmds() clears a pmd block without kvm_tlb_flush_vmid_ipa()",
       _PMD_HUGE, _drop(_PMD_HUGE, "                k.kvm_tlb_flush_vmid_ipa(kvm, addr)")),
    _m("pmd-huge-flush-before-clear", "flush",
       "unmap_pmds() flushes a pmd block's IPA before clearing the block",
       _PMD_HUGE, _swap(_PMD_HUGE, "                k.pmd_clear(pmd)",
                        "                k.kvm_tlb_flush_vmid_ipa(kvm, addr)")),
    _m("pud-huge-no-flush", "flush",
       "unmap_puds() clears a pud block without kvm_tlb_flush_vmid_ipa()",
       _PUD_HUGE, _drop(_PUD_HUGE, "                k.kvm_tlb_flush_vmid_ipa(kvm, addr)"),
       reach="adversarial"),
    _m("pmd-table-no-flush", "flush",
       "clear_pmd_entry() unlinks and frees a pte table without a flush: the walker's cached "
       "copy of the pmd entry still points at the freed table",
       _CLEAR_PMD, _drop(_CLEAR_PMD, "    k.kvm_tlb_flush_vmid_ipa(kvm, addr)")),
    _m("pmd-table-free-before-flush", "flush",
       "clear_pmd_entry() frees the pte table before the flush: until the flush the hardware may "
       "still walk the freed page",
       _CLEAR_PMD, _swap(_CLEAR_PMD, "    k.kvm_tlb_flush_vmid_ipa(kvm, addr)",
                         "    k.pte_free_kernel(pte_table)")),
    _m("pmd-table-flush-before-clear", "flush",
       "clear_pmd_entry() flushes before clearing the pmd entry, then frees the pte table the entry "
       "pointed at: the walk cache can refill from the entry in between",
       _CLEAR_PMD, _swap(_CLEAR_PMD, "    k.pmd_clear(pmd)", "    k.kvm_tlb_flush_vmid_ipa(kvm, addr)")),
    _m("pud-table-no-flush", "flush",
       "clear_pud_entry() unlinks and frees a pmd table without a flush",
       _CLEAR_PUD, _drop(_CLEAR_PUD, "    k.kvm_tlb_flush_vmid_ipa(kvm, addr)")),
    _m("pud-table-free-before-flush", "flush",
       "clear_pud_entry() frees the pmd table before the flush",
       _CLEAR_PUD, _swap(_CLEAR_PUD, "    k.kvm_tlb_flush_vmid_ipa(kvm, addr)", "    k.pmd_free(pmd_table)")),

    # -- a missing, extra or misdirected put_page ---------------------------------------------------
    _m("pte-no-put", "put_page",
       "unmap_ptes() clears a pte without put_page() on the pte table page: the table's count "
       "never comes back down, so it is never freed",
       _PTE_BODY, _drop(_PTE_BODY, "            k.put_page(k.virt_to_page(pte))")),
    _m("pte-put-pmd-page", "put_page",
       "unmap_ptes() puts the page holding the pmd entry (virt_to_page(pmd)) instead of the pte "
       "table page",
       _PTE_BODY, _PTE_BODY.replace("k.virt_to_page(pte)", "k.virt_to_page(pmd)")),
    _m("pmd-huge-no-put", "put_page",
       "unmap_pmds() clears a pmd block without put_page() on the pmd table page",
       _PMD_HUGE, _drop(_PMD_HUGE, "                k.put_page(k.virt_to_page(pmd))")),
    _m("pmd-huge-get-page", "put_page",
       "unmap_pmds() calls get_page() where it means put_page() after clearing a pmd block (the "
       "line copied from stage2_set_pmd_huge()): an extra reference",
       _PMD_HUGE, _PMD_HUGE.replace("k.put_page(", "k.get_page(")),
    _m("pmd-table-no-put", "put_page",
       "clear_pmd_entry() unlinks and frees the pte table but does not put the page holding the "
       "pmd entry",
       _CLEAR_PMD, _drop(_CLEAR_PMD, "    k.put_page(k.virt_to_page(pmd))")),
    _m("pte-table-put-and-free", "put_page",
       "clear_pmd_entry() drops the pte table's own reference with put_page() and then frees it "
       "with pte_free_kernel() too: one put too many",
       _CLEAR_PMD, _CLEAR_PMD.replace("    k.pte_free_kernel(pte_table)\n",
                                      "    k.put_page(k.virt_to_page(pte_table))\n"
                                      "    k.pte_free_kernel(pte_table)\n")),
    _m("pud-table-no-put", "put_page",
       "clear_pud_entry() does not put the page holding the pud entry",
       _CLEAR_PUD, _drop(_CLEAR_PUD, "    k.put_page(k.virt_to_page(pud))")),
    _m("pgd-table-no-put", "put_page",
       "clear_pgd_entry() does not put the page holding the pgd entry (4-level hyp tables only)",
       _CLEAR_PGD, _drop(_CLEAR_PGD, "    k.put_page(k.virt_to_page(pgd))")),
    _m("pud-huge-no-put", "put_page",
       "unmap_puds() clears a pud block without put_page() on the page holding it",
       _PUD_HUGE, _drop(_PUD_HUGE, "                k.put_page(k.virt_to_page(pud))"),
       reach="adversarial"),

    # -- a wrong emptiness test -------------------------------------------------------------------
    _m("pte-empty-on-pte", "emptiness",
       "unmap_ptes() asks kvm_pte_table_empty() about pte, the cursor the loop moved one past its "
       "last entry, instead of start_pte: past the table's end when the range reached it",
       "    if k.kvm_pte_table_empty(kvm, start_pte):\n",
       "    if k.kvm_pte_table_empty(kvm, pte):\n"),
    _m("pte-empty-negated", "emptiness",
       "unmap_ptes() frees the pte table when it is NOT empty (a dropped '!' in a rewrite)",
       "    if k.kvm_pte_table_empty(kvm, start_pte):\n",
       "    if not k.kvm_pte_table_empty(kvm, start_pte):\n"),
    _m("pmd-empty-on-pmd", "emptiness",
       "unmap_pmds() asks kvm_pmd_table_empty() about pmd, the cursor past the loop's last entry, "
       "instead of start_pmd",
       "    if k.kvm_pmd_table_empty(kvm, start_pmd):\n",
       "    if k.kvm_pmd_table_empty(kvm, pmd):\n"),
    _m("pmd-empty-pte-test", "emptiness",
       "unmap_pmds() tests the pmd table with kvm_pte_table_empty() (page_count == 1), ignoring "
       "what kvm_pmd_table_empty() knows: a folded pmd (64K pages) and the pre-allocated stage-2 "
       "root of the 48-bit platforms must never be freed",
       "    if k.kvm_pmd_table_empty(kvm, start_pmd):\n",
       "    if k.kvm_pte_table_empty(kvm, start_pmd):\n"),
    _m("pud-empty-pmd-test", "emptiness",
       "unmap_puds() tests the pud table with kvm_pmd_table_empty(): where the pud is folded it "
       "tests the root page itself, and frees a pre-allocated pud page on arm64-4k-48",
       "    if k.kvm_pud_table_empty(kvm, start_pud):\n",
       "    if k.kvm_pmd_table_empty(kvm, start_pud):\n"),

    # -- a wrong *_addr_end ---------------------------------------------------------------------------
    _m("pmd-next-pud-end", "addr_end",
       "unmap_pmds() steps with kvm_pud_addr_end() (copied from unmap_puds()): one unmap_ptes() "
       "call is given a range wider than its pte table",
       "        next = k.kvm_pmd_addr_end(addr, end)\n",
       "        next = k.kvm_pud_addr_end(addr, end)\n", slow=True),
    _m("pud-next-pmd-end", "addr_end",
       "unmap_puds() steps with kvm_pmd_addr_end(): it moves to the next pud entry every pmd-sized "
       "step",
       "        next = k.kvm_pud_addr_end(addr, end)\n",
       "        next = k.kvm_pmd_addr_end(addr, end)\n", slow=True),
    _m("pmd-next-uncapped", "addr_end",
       "unmap_pmds() computes next = (addr + PMD_SIZE) & PMD_MASK without capping it at end: the "
       "last pte walk runs to the pmd boundary past the range",
       "        next = k.kvm_pmd_addr_end(addr, end)\n",
       "        next = (addr + k.PMD_SIZE) & ~(k.PMD_SIZE - 1) & U64\n", slow=True),
    _m("pgd-next-unaligned", "addr_end",
       "unmap_range() computes next = min(addr + PGDIR_SIZE, end), capped but not aligned: a range "
       "starting inside a pgd entry's span hands unmap_puds() a range that crosses into the next",
       "        next = k.kvm_pgd_addr_end(addr, end)\n",
       "        next = min((addr + k.PGDIR_SIZE) & U64, end)\n", slow=True),

    # -- a wrong address passed to a clear ----------------------------------------------------------------
    _m("pmd-clear-end-addr", "clear address",
       "unmap_ptes() passes addr, which the loop left at end, to clear_pmd_entry() instead of "
       "start_addr: the flush for the unlinked pte table misses the table when the range ran to "
       "its end",
       "        clear_pmd_entry(k, kvm, pmd, start_addr)\n",
       "        clear_pmd_entry(k, kvm, pmd, addr)\n"),
    _m("pud-clear-end-addr", "clear address",
       "unmap_pmds() passes addr (== end) to clear_pud_entry() instead of start_addr",
       "        clear_pud_entry(k, kvm, pud, start_addr)\n",
       "        clear_pud_entry(k, kvm, pud, addr)\n"),
    _m("pmd-huge-clear-start-pmd", "clear address",
       "unmap_pmds() clears start_pmd, the range's first pmd entry, instead of pmd when it meets a "
       "block",
       _PMD_HUGE, _PMD_HUGE.replace("k.pmd_clear(pmd)", "k.pmd_clear(start_pmd)")),

    # -- loops and offsets ------------------------------------------------------------------------------------
    _m("range-inclusive-end", "loop",
       "unmap_range() computes an inclusive end, start + size - 1 (as for a 'last' address), while "
       "the walkers stop at addr == end: the pte walk never meets it and runs off its table",
       "    end = (start + size) & U64\n",
       "    end = (start + size - 1) & U64\n"),
    _m("pte-no-pte-advance", "loop",
       "unmap_ptes() advances addr but not pte (a for loop that forgot pte++): it clears the first "
       "pte of the range again and again",
       "        pte, addr = pte + 1, (addr + k.PAGE_SIZE) & U64\n",
       "        pte, addr = pte, (addr + k.PAGE_SIZE) & U64\n", slow=True),
    _m("pmd-offset-at-0", "loop",
       "unmap_pmds() starts at pmd_offset(pud, 0), the table's first entry (as clear_pud_entry() "
       "does), not at the entry of addr",
       "    start_pmd = pmd = k.pmd_offset(pud, addr)\n",
       "    start_pmd = pmd = k.pmd_offset(pud, 0)\n"),

    # -- a missing or wrong branch ----------------------------------------------------------------------------
    _m("no-pmd-huge-branch", "branch",
       "unmap_pmds() has no kvm_pmd_huge() branch: it follows a block entry as if it pointed at a "
       "pte table",
       "            if k.kvm_pmd_huge(k.load(pmd)):\n" + _PMD_HUGE + "            else:\n"
       "                unmap_ptes(k, kvm, pmd, addr, next)\n",
       "            unmap_ptes(k, kvm, pmd, addr, next)\n"),
    _m("no-pud-huge-branch", "branch",
       "unmap_puds() has no pud_huge() branch: it follows a pud block as if it pointed at a pmd "
       "table",
       "            if k.pud_huge(k.load(pud)):\n" + _PUD_HUGE + "            else:\n"
       "                unmap_pmds(k, kvm, pud, addr, next)\n",
       "            unmap_pmds(k, kvm, pud, addr, next)\n", reach="adversarial", slow=True),
    _m("pud-huge-via-pmd-huge", "branch",
       "unmap_puds() tests kvm_pmd_huge(*pud) instead of pud_huge(*pud): where the pmd is folded "
       "into the pud (64K pages, 2 levels) a pmd block takes the pud path, whose pud_clear() does "
       "nothing there",
       "            if k.pud_huge(k.load(pud)):\n",
       "            if k.kvm_pmd_huge(k.load(pud)):\n", slow=True),
]

EQUIVALENT: list[Mutation] = [
    _m("pgd-table-no-flush", "flush",
       "clear_pgd_entry() unlinks and frees a pud table without a flush",
       _CLEAR_PGD, _drop(_CLEAR_PGD, "    k.kvm_tlb_flush_vmid_ipa(kvm, addr)"),
       equivalent="clear_pgd_entry() runs only when kvm_pud_table_empty() is true, which needs a real "
                  "pud level (arm64-4k-48) and, there, kvm == NULL (stage 2 never frees its "
                  "pre-allocated pud pages): only on hyp tables, where kvm_tlb_flush_vmid_ipa() does "
                  "nothing"),
    _m("pgd-table-free-before-flush", "flush",
       "clear_pgd_entry() frees the pud table before the flush",
       _CLEAR_PGD, _swap(_CLEAR_PGD, "    k.kvm_tlb_flush_vmid_ipa(kvm, addr)", "    k.pud_free(pud_table)"),
       equivalent="as pgd-table-no-flush: the flush it moves is a no-op wherever clear_pgd_entry() runs "
                  "(hyp, kvm == NULL)"),
    _m("pte-present-for-none", "branch",
       "unmap_ptes() tests pte_present() where v3 tests !pte_none()",
       "        if not k.pte_none(k.load(pte)):\n",
       "        if k.pte_present(k.load(pte)):\n",
       equivalent="the two differ only for a non-zero pte without the valid bit, which no map path of "
                  "these eras writes (docs/KERNEL_MODEL.md section 3)"),
    _m("pte-put-before-clear", "put_page",
       "unmap_ptes() puts the pte table page before clearing the pte",
       _PTE_BODY, _swap(_PTE_BODY, "            k.kvm_set_pte(pte, 0)",
                        "            k.put_page(k.virt_to_page(pte))"),
       equivalent="the pte being cleared holds one of the table page's references, so the put leaves "
                  "at least the page's base count and frees nothing, and nothing observes the state "
                  "between the two lines (the walk runs under kvm->mmu_lock; the model has no "
                  "concurrency)"),
    _m("pte-loop-ge", "loop",
       "unmap_ptes() stops at addr >= end where v3 stops at addr == end",
       "        pte, addr = pte + 1, (addr + k.PAGE_SIZE) & U64\n        if addr == end:\n",
       "        pte, addr = pte + 1, (addr + k.PAGE_SIZE) & U64\n        if addr >= end:\n", slow=True,
       equivalent="realistic ranges are page-aligned, non-empty and end inside the space, so addr "
                  "meets end exactly and never exceeds it, and end is never 0 (a range ending at "
                  "2**64); an adversarial program can tell them apart"),
]

CONTROL = Mutation("v3-copy", "control", "none: impls/v3.py as it is", "", "")
"""The unmodified copy: what every mutant is compared with."""

CONTROL_NEWS = frozenset({"out-of-bounds/arm64-4k-48/hyp/none"})
"""The new signatures (without the IMPL part) of :data:`CONTROL` against the default
baseline, v3-pgdnone: v3's own 3.16 bug, a 4-level hyp walk that follows an empty
pgd entry, which 3.19's pgd_none() test fixed."""

ALL: list[Mutation] = [*MUTATIONS, *EQUIVALENT]


def by_name(name: str) -> Mutation:
    for m in (CONTROL, *ALL):
        if m.name == name:
            return m
    raise KeyError(f"no mutant {name!r} (known: {', '.join(m.name for m in (CONTROL, *ALL))})")


def v3_source() -> str:
    """The text of ``unmapfuzz/impls/v3.py`` as installed (a checkout's ``impls/v3.py``)."""
    return resources.files("unmapfuzz.impls").joinpath("v3.py").read_text(encoding="utf-8")


_FAST_PATH = re.compile(r"k\.skip_none_\w+\((\w+), addr, end\)")


def mutant_source(mutation: Mutation, source: str | None = None) -> str:
    """v3's text (or ``source``) with ``mutation`` applied, headed by a comment naming it.

    Raises :class:`MutationError` when ``mutation.old`` does not occur exactly once.
    """
    text = v3_source() if source is None else source
    if mutation is not CONTROL:
        n = text.count(mutation.old)
        if n != 1:
            raise MutationError(f"mutation {mutation.name}: its text occurs {n} times in v3.py, "
                                f"not once:\n{mutation.old}")
        text = text.replace(mutation.old, mutation.new)
    if mutation.slow:
        text, n = _FAST_PATH.subn(r"(\1, addr)", text)
        if n == 0:
            raise MutationError(f"mutation {mutation.name}: v3.py has no k.skip_none_*() call to take out")
    head = (f"# Mutant {mutation.name} of unmapfuzz/impls/v3.py, written by unmapfuzz.bench.mutants.\n"
            + textwrap.fill(f"Bug ({mutation.category}): {mutation.bug}.", 100, initial_indent="# ",
                            subsequent_indent="#   ") + "\n")
    if mutation.slow:
        head += ("# The model's k.skip_none_*() fast paths are taken out: the edit changes what a loop\n"
                 "# reads or does at a none entry, or how it steps, which they reproduce.\n")
    return head + text


def file_name(mutation: Mutation) -> str:
    return mutation.name.replace("-", "_") + ".py"


def write_mutant(mutation: Mutation, directory: str | Path) -> Path:
    """Write the mutant to ``directory/NAME.py`` (dashes as underscores); its path, for
    ``--impl NAME=PATH`` or :func:`unmapfuzz.impls.load_impl`."""
    path = Path(directory) / file_name(mutation)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(mutant_source(mutation), encoding="utf-8")
    return path


def tail(signature) -> str:
    """``KIND/PLATFORM/MODE/LEVEL``: a signature without its implementation."""
    return str(signature).split("/", 1)[1]


def mutant_news(signatures) -> list[str]:
    """The new signatures that are the mutation's doing: those whose tail the unmodified
    copy does not show (:data:`CONTROL_NEWS`)."""
    return sorted({str(s) for s in signatures if tail(s) not in CONTROL_NEWS})
