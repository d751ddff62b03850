"""``unmap_range()`` as merged for Linux 3.16 (and carried into 3.18).

The walkers of v2 with the review's suggestion applied: the huge paths are
inlined in ``unmap_pmds``/``unmap_puds`` (clear, flush, put the containing
table page), and ``clear_pmd_entry``/``clear_pud_entry`` handle tables only,
asserting with ``VM_BUG_ON`` that the entry is not huge.  Addresses are
``phys_addr_t``.  At run time it should behave exactly as v2.

The file holds every function of this version, so a copy of it is a complete
``--impl`` to start from.  Each loop's ``k.skip_none_*()`` line is the model's
fast path over none entries, not kernel code (see unmapfuzz.impls.model.kernel).
"""
from __future__ import annotations

from unmapfuzz.impls.model import U64


def clear_pgd_entry(k, kvm, pgd, addr):
    pud_table = k.pud_offset(pgd, 0)
    k.pgd_clear(pgd)
    k.kvm_tlb_flush_vmid_ipa(kvm, addr)
    k.pud_free(pud_table)
    k.put_page(k.virt_to_page(pgd))


def clear_pud_entry(k, kvm, pud, addr):
    pmd_table = k.pmd_offset(pud, 0)
    k.VM_BUG_ON(k.pud_huge(k.load(pud)))
    k.pud_clear(pud)
    k.kvm_tlb_flush_vmid_ipa(kvm, addr)
    k.pmd_free(pmd_table)
    k.put_page(k.virt_to_page(pud))


def clear_pmd_entry(k, kvm, pmd, addr):
    pte_table = k.pte_offset_kernel(pmd, 0)
    k.VM_BUG_ON(k.kvm_pmd_huge(k.load(pmd)))
    k.pmd_clear(pmd)
    k.kvm_tlb_flush_vmid_ipa(kvm, addr)
    k.pte_free_kernel(pte_table)
    k.put_page(k.virt_to_page(pmd))


def unmap_ptes(k, kvm, pmd, addr, end):
    start_addr = addr
    start_pte = pte = k.pte_offset_kernel(pmd, addr)
    while True:
        if not k.pte_none(k.load(pte)):
            k.kvm_set_pte(pte, 0)
            k.put_page(k.virt_to_page(pte))
            k.kvm_tlb_flush_vmid_ipa(kvm, addr)
        pte, addr = pte + 1, (addr + k.PAGE_SIZE) & U64
        if addr == end:
            break
        pte, addr = k.skip_none_ptes(pte, addr, end)
        if addr == end:
            break

    if k.kvm_pte_table_empty(kvm, start_pte):
        clear_pmd_entry(k, kvm, pmd, start_addr)


def unmap_pmds(k, kvm, pud, addr, end):
    start_addr = addr
    start_pmd = pmd = k.pmd_offset(pud, addr)
    while True:
        next = k.kvm_pmd_addr_end(addr, end)
        if not k.pmd_none(k.load(pmd)):
            if k.kvm_pmd_huge(k.load(pmd)):
                k.pmd_clear(pmd)
                k.kvm_tlb_flush_vmid_ipa(kvm, addr)
                k.put_page(k.virt_to_page(pmd))
            else:
                unmap_ptes(k, kvm, pmd, addr, next)
        pmd, addr = pmd + 1, next
        if addr == end:
            break
        pmd, addr = k.skip_none_pmds(pmd, addr, end)
        if addr == end:
            break

    if k.kvm_pmd_table_empty(kvm, start_pmd):
        clear_pud_entry(k, kvm, pud, start_addr)


def unmap_puds(k, kvm, pgd, addr, end):
    start_addr = addr
    start_pud = pud = k.pud_offset(pgd, addr)
    while True:
        next = k.kvm_pud_addr_end(addr, end)
        if not k.pud_none(k.load(pud)):
            if k.pud_huge(k.load(pud)):
                k.pud_clear(pud)
                k.kvm_tlb_flush_vmid_ipa(kvm, addr)
                k.put_page(k.virt_to_page(pud))
            else:
                unmap_pmds(k, kvm, pud, addr, next)
        pud, addr = pud + 1, next
        if addr == end:
            break
        pud, addr = k.skip_none_puds(pud, addr, end)
        if addr == end:
            break

    if k.kvm_pud_table_empty(kvm, start_pud):
        clear_pgd_entry(k, kvm, pgd, start_addr)


def unmap_range(k, kvm, pgdp, start, size):
    addr = start
    end = (start + size) & U64

    pgd = pgdp + k.pgd_index(addr)
    while True:
        next = k.kvm_pgd_addr_end(addr, end)
        unmap_puds(k, kvm, pgd, addr, next)
        pgd, addr = pgd + 1, next
        if addr == end:
            break
        pgd, addr = k.skip_none_folded_pgds(pgd, addr, end)
        if addr == end:
            break
