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

from unmapfuzz.impls.model.platforms import PLATFORMS
from unmapfuzz.programs import Map, Program

from .translations import TOP, Translations, apply_map, apply_unmap, intersecting


class Rules:
    """The validity rules of one (platform, mode, profile): every rule is written here once.

    :meth:`problem` judges one op against what is mapped so far and, when the
    op is valid, applies it; :func:`validate` runs it over a program and the
    generator's exact form uses it to keep a realistic program realistic.
    """

    __slots__ = ("platform", "mode", "realistic", "space", "kinds")

    def __init__(self, platform: str, mode: str, profile: str | None):
        self.platform = PLATFORMS[platform]
        self.mode = mode
        self.realistic = profile == "realistic"
        self.space = self.platform.space(mode)
        self.kinds = self.platform.map_kinds(mode)

    def problem(self, op, leaves: Translations) -> str | None:
        """Why ``op`` breaks a rule after ``leaves`` (None: it does not, and is applied)."""
        plat, realistic = self.platform, self.realistic
        if isinstance(op, Map):
            if op.kind not in self.kinds:
                if self.mode == "hyp":
                    return "hyp has no block map path (create_hyp_mappings maps pages only)"
                return f"{plat.name} {self.mode} has no pud block"
            shift = plat.map_shift(op.kind)
            size = 1 << shift
            pa = op.output_address()
            if op.ipa % size or pa % size:
                return f"map {op.kind} needs ipa and pa aligned to {size:#x}"
            if op.ipa + size > TOP:
                return "map wraps past 2**64"
            for ipa in intersecting(leaves, op.ipa, op.ipa + size):
                if leaves[ipa][0] > shift:
                    return f"map {op.kind} {op.ipa:#x} falls inside the block at {ipa:#x}"
                if realistic:
                    return f"realistic maps go where nothing is mapped ({ipa:#x} is)"
            if realistic:
                if op.kind == "pud":
                    return "no kernel of these eras maps pud blocks"
                if op.ipa + size > self.space:
                    return f"map {op.ipa:#x} lies outside the {self.space:#x}-byte space"
            apply_map(leaves, op.ipa, shift, pa)
            return None
        end = op.ipa + op.size
        if end > TOP:
            return "unmap range wraps past 2**64"
        if realistic:
            page = plat.page_size
            if op.ipa % page or op.size % page:
                return "realistic unmaps are page-aligned"
            if op.size == 0:
                return "realistic unmaps are not empty"
            if end > self.space:
                return f"unmap ends past the {self.space:#x}-byte space"
        apply_unmap(leaves, op.ipa, end)
        return None


def validate(program: Program, profile: str | None = None) -> str | None:
    """Why ``program`` is invalid under ``profile`` (None: only the universal rules), or None."""
    rules = Rules(program.platform, program.mode, profile or program.profile)
    leaves: Translations = {}
    for n, op in enumerate(program.ops):
        problem = rules.problem(op, leaves)
        if problem:
            return f"op {n}: {problem}"
    return None
