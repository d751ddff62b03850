"""The model of the kernel that ``unmap_range`` runs on: pure, no I/O, no logging.

- :mod:`.platforms`: the five platforms of KVM/ARM's 2014-2015 page-table
  code, as data;
- :mod:`.memory`: table pages, refcounts and the ordered record of every
  memory effect (the one injected, recording object);
- :mod:`.kernel`: the kernel-named helpers (``pud_offset``, ``pmd_none``,
  ``kvm_pmd_addr_end``, ``put_page``...) an implementation is written against;
- :mod:`.mapping`: a VM's (or hyp's) tables and the map paths that build them.

A user implementation of ``unmap_range(k, kvm, pgdp, start, size)`` imports
what it needs from here, by this stable name::

    from unmapfuzz.impls.model import U64
"""
from .kernel import U64, Kernel
from .mapping import Kvm, Machine
from .memory import Fault
from .platforms import DEFAULT_PLATFORM, KVM_PHYS_SIZE, PLATFORMS, Platform

__all__ = ["U64", "Kernel", "Fault", "Machine", "Kvm", "PLATFORMS", "Platform", "DEFAULT_PLATFORM",
           "KVM_PHYS_SIZE"]
