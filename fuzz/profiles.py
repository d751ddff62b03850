"""Which programs a profile admits.

A program that breaks a precondition is *invalid*: it is neither a pass nor a
failure, and is never reported as a finding.  Two kinds of rule:

- everywhere: what the model cannot represent faithfully because no kernel
  caller of these eras could do it: a block map on hyp (``create_hyp_mappings``
  maps pages), a pud block where the platform has none (ARM32's ``pud_huge`` is
  0; the 64K granule has no level-1 block), an unaligned map, a page mapped
  inside a block (``pte_offset_kernel`` would treat the guest page behind the
  block as a pte table), a pmd inside a pud block, and a range that wraps past
  2**64 (ending exactly at 2**64 is fine);
- ``realistic`` adds what the real callers guarantee: page-aligned, non-empty
  unmap ranges inside the IPA (or hyp VA) space, maps where nothing is mapped,
  no pud blocks.
"""
from __future__ import annotations

from impls.platforms import PLATFORMS

from .oracle import TOP, apply_map, apply_unmap, intersecting, ipa_space, map_shift
from .program import Map, Program


def pud_blocks_possible(platform, mode: str) -> bool:
    return mode == "stage2" and not platform.arm32 and platform.page_shift == 12


def validate(program: Program, profile: str | None = None) -> str | None:
    """Why ``program`` is invalid under ``profile`` (None: only the universal rules), or None."""
    profile = profile or program.profile
    platform = PLATFORMS[program.platform]
    mode = program.mode
    space = ipa_space(platform, mode)
    realistic = profile == "realistic"
    leaves: dict[int, tuple[int, int]] = {}
    for n, op in enumerate(program.ops):
        where = f"op {n}"
        if isinstance(op, Map):
            if mode == "hyp" and op.kind != "page":
                return f"{where}: hyp has no block map path (create_hyp_mappings maps pages only)"
            if op.kind == "pud" and not pud_blocks_possible(platform, mode):
                return f"{where}: {program.platform} {mode} has no pud block"
            shift = map_shift(platform, op.kind)
            size = 1 << shift
            pa = op.output_address()
            if op.ipa % size or pa % size:
                return f"{where}: map {op.kind} needs ipa and pa aligned to {size:#x}"
            if op.ipa + size > TOP:
                return f"{where}: map wraps past 2**64"
            for ipa in intersecting(leaves, op.ipa, op.ipa + size):
                if leaves[ipa][0] > shift:
                    return f"{where}: map {op.kind} {op.ipa:#x} falls inside the block at {ipa:#x}"
                if realistic:
                    return f"{where}: realistic maps go where nothing is mapped ({ipa:#x} is)"
            if realistic:
                if op.kind == "pud":
                    return f"{where}: no kernel of these eras maps pud blocks"
                if op.ipa + size > space:
                    return f"{where}: map {op.ipa:#x} lies outside the {space:#x}-byte space"
            apply_map(leaves, op.ipa, shift, pa)
        else:
            end = op.ipa + op.size
            if end > TOP:
                return f"{where}: unmap range wraps past 2**64"
            if realistic:
                page = platform.page_size
                if op.ipa % page or op.size % page:
                    return f"{where}: realistic unmaps are page-aligned"
                if op.size == 0:
                    return f"{where}: realistic unmaps are not empty"
                if end > space:
                    return f"{where}: unmap ends past the {space:#x}-byte space"
            apply_unmap(leaves, op.ipa, end)
    return None
