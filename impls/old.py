"""``unmap_range()`` as in Linux 3.15: one loop over the whole range.

The loop re-derives the pgd entry from the address on every iteration and
skips a none entry with that level's ``kvm_*_addr_end``.  On a folded level
that is ``end``: the rest of the range is abandoned.  After a pte table or a
huge pmd it walks "back up the ladder", clearing the pmd entry and, when that
emptied the pmd table and the pud's page still holds entries, the pud entry.

``clear_pud_entry`` and ``clear_pmd_entry`` still have their two 3.15
branches: a huge entry is cleared and its table page put; a table entry is
cleared and the child table freed.

The loop's ``k.skip_none_ranges()`` line is the model's fast path over
iterations that only read (none puds, none pmds, none ptes), not kernel code (see
unmapfuzz.impls.model.kernel).
"""
from __future__ import annotations

from unmapfuzz.impls.model import U64


def clear_pud_entry(k, kvm, pud, addr):
    if k.pud_huge(k.load(pud)):
        k.pud_clear(pud)
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)
        k.put_page(k.virt_to_page(pud))
    else:
        pmd_table = k.pmd_offset(pud, 0)
        k.pud_clear(pud)
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)
        k.pmd_free(pmd_table)
        k.put_page(k.virt_to_page(pud))


def clear_pmd_entry(k, kvm, pmd, addr):
    if k.kvm_pmd_huge(k.load(pmd)):
        k.pmd_clear(pmd)
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)
        k.put_page(k.virt_to_page(pmd))
    else:
        pte_table = k.pte_offset_kernel(pmd, 0)
        k.pmd_clear(pmd)
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)
        k.pte_free_kernel(pte_table)
        k.put_page(k.virt_to_page(pmd))


def clear_pte_entry(k, kvm, pte, addr):
    if k.pte_present(k.load(pte)):
        k.kvm_set_pte(pte, 0)
        k.put_page(k.virt_to_page(pte))
        k.kvm_tlb_flush_vmid_ipa(kvm, addr)


def unmap_range(k, kvm, pgdp, start, size):
    addr = start
    end = (start + size) & U64
    next = addr

    while addr < end:
        addr = k.skip_none_ranges(pgdp, addr, end)
        if addr >= end:
            break
        pgd = pgdp + k.pgd_index(addr)
        pud = k.pud_offset(pgd, addr)
        pte = None
        if k.pud_none(k.load(pud)):
            addr = k.kvm_pud_addr_end(addr, end)
            continue

        if k.pud_huge(k.load(pud)):
            # If we are dealing with a huge pud, just clear it and move on.
            clear_pud_entry(k, kvm, pud, addr)
            addr = k.kvm_pud_addr_end(addr, end)
            continue

        pmd = k.pmd_offset(pud, addr)
        if k.pmd_none(k.load(pmd)):
            addr = k.kvm_pmd_addr_end(addr, end)
            continue

        if not k.kvm_pmd_huge(k.load(pmd)):
            pte = k.pte_offset_kernel(pmd, addr)
            clear_pte_entry(k, kvm, pte, addr)
            next = (addr + k.PAGE_SIZE) & U64

        # If the pmd entry is to be cleared, walk back up the ladder.
        if k.kvm_pmd_huge(k.load(pmd)) or (pte is not None and k.page_empty(pte)):
            clear_pmd_entry(k, kvm, pmd, addr)
            next = k.kvm_pmd_addr_end(addr, end)
            if k.page_empty(pmd) and not k.page_empty(pud):
                clear_pud_entry(k, kvm, pud, addr)
                next = k.kvm_pud_addr_end(addr, end)

        addr = next
