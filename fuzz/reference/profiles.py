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

import functools

from unmapfuzz.impls.model.platforms import PLATFORMS
from unmapfuzz.programs import Map, Program

from .translations import TOP, Translations, apply_map, apply_unmap, intersecting


class Rules:
    """The validity rules of one (platform, mode, profile): every rule is written here once.

    :meth:`problem` judges one op against what is mapped so far and, when the
    op is valid, applies it; :func:`validate` runs it over a program and the
    generator's exact form uses it to keep a realistic program realistic.
    Immutable: :func:`rules_for` keeps one per (platform, mode, profile).
    """

    __slots__ = ("platform", "mode", "realistic", "space", "kinds", "shift_of", "page")

    def __init__(self, platform: str, mode: str, profile: str | None):
        self.platform = PLATFORMS[platform]
        self.mode = mode
        self.realistic = profile == "realistic"
        self.space = self.platform.space(mode)
        self.kinds = self.platform.map_kinds(mode)
        self.shift_of = {kind: self.platform.map_shift(kind) for kind in self.kinds}
        self.page = self.platform.page_size

    def problem(self, op, leaves: Translations) -> str | None:
        """Why ``op`` breaks a rule after ``leaves`` (None: it does not, and is applied)."""
        realistic = self.realistic
        if isinstance(op, Map):
            kind = op.kind
            if kind not in self.kinds:
                if self.mode == "hyp":
                    return "hyp has no block map path (create_hyp_mappings maps pages only)"
                return f"{self.platform.name} {self.mode} has no pud block"
            shift = self.shift_of[kind]
            size = 1 << shift
            ipa = op.ipa
            pa = op.output_address()
            if ipa % size or pa % size:
                return f"map {kind} needs ipa and pa aligned to {size:#x}"
            end = ipa + size
            if end > TOP:
                return "map wraps past 2**64"
            overlapped = intersecting(leaves, ipa, end)
            for leaf in overlapped:
                if leaves[leaf][0] > shift:
                    return f"map {kind} {ipa:#x} falls inside the block at {leaf:#x}"
                if realistic:
                    return f"realistic maps go where nothing is mapped ({leaf:#x} is)"
            if realistic:
                if kind == "pud":
                    return "no kernel of these eras maps pud blocks"
                if end > self.space:
                    return f"map {ipa:#x} lies outside the {self.space:#x}-byte space"
            apply_map(leaves, ipa, shift, pa, overlapped)
            return None
        start = op.ipa
        size = op.size
        end = start + size
        if end > TOP:
            return "unmap range wraps past 2**64"
        if realistic:
            page = self.page
            if start % page or size % page:
                return "realistic unmaps are page-aligned"
            if size == 0:
                return "realistic unmaps are not empty"
            if end > self.space:
                return f"unmap ends past the {self.space:#x}-byte space"
        apply_unmap(leaves, start, end)
        return None


@functools.lru_cache(maxsize=None)
def rules_for(platform: str, mode: str, profile: str | None) -> Rules:
    """The rules of one (platform, mode, profile), built once."""
    return Rules(platform, mode, profile)


def validate(program: Program, profile: str | None = None) -> str | None:
    """Why ``program`` is invalid under ``profile`` (None: only the universal rules), or None."""
    rules = rules_for(program.platform, program.mode, profile or program.profile)
    leaves: Translations = {}
    for n, op in enumerate(program.ops):
        problem = rules.problem(op, leaves)
        if problem:
            return f"op {n}: {problem}"
    return None
