"""The flat view of what is mapped: ``ipa -> (shift, pa)``, one entry per translation.

This is the meaning of a page table without its structure: the oracle keeps
what each operation *should* leave behind in one, the profiles replay a
program's maps and unmaps on one to judge validity, and the generator keeps
one to aim unmaps at what is mapped.  The rules are the kernel's
(docs/KERNEL_MODEL.md section 8): a map replaces whatever it overlaps with one
translation; an unmap removes every translation that intersects
``[start, end)``, a block only partly inside the range included, whole.
Ends are true integers (``2**64`` at the very top), never wrapped.
"""
from __future__ import annotations

TOP = 1 << 64

Translations = dict[int, tuple[int, int]]
"""``ipa -> (shift, pa)``: a translation of ``1 << shift`` bytes at ``ipa`` to ``pa``."""


def intersecting(leaves: Translations, start: int, end: int) -> list[int]:
    """The IPAs of the translations that intersect ``[start, end)``: none when it is empty,
    even if ``start`` lies inside a block (an empty range covers no byte of it)."""
    found = []
    if start < end:
        # A loop, not a comprehension: on 3.11 that is one frame less, and most
        # callers (a profile judging an op, a generator drawing one) ask about a handful of leaves.
        for ipa, (shift, _) in leaves.items():
            if ipa < end and start < ipa + (1 << shift):
                found.append(ipa)
    return found


def apply_map(leaves: Translations, ipa: int, shift: int, pa: int, overlapped: list[int] | None = None) -> None:
    """A map of ``1 << shift`` bytes at ``ipa``: it replaces whatever it overlaps.

    ``overlapped`` is what :func:`intersecting` says it overlaps, when the
    caller has just asked (the profiles' rules do), to spare a second look.
    """
    if overlapped is None:
        overlapped = intersecting(leaves, ipa, ipa + (1 << shift))
    for old in overlapped:
        del leaves[old]
    leaves[ipa] = (shift, pa)


def apply_unmap(leaves: Translations, start: int, end: int) -> None:
    """An unmap of ``[start, end)``: every translation intersecting it goes, whole."""
    for old in intersecting(leaves, start, end):
        del leaves[old]


__all__ = ["TOP", "Translations", "intersecting", "apply_map", "apply_unmap"]
