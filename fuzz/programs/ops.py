"""Programs as data: the operations a fuzz program is made of.

A program is a short, straight-line list of page-table operations run against
one simulated platform: :class:`Map` installs a page, a PMD block or a PUD
block at an intermediate physical address (IPA), and :class:`Unmap` tears
down an arbitrary IPA range.  They are named tuples (a campaign keeps tens of
thousands of them in its memo: as tuples of plain values they hash and compare
in C, and the garbage collector stops walking them); their one text form is
:func:`format_op` (an ``.ops`` line) and the whole program's is
:func:`unmapfuzz.programs.text.format`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from unmapfuzz.impls.model.platforms import PLATFORMS as _PLATFORM_ROWS

__all__ = [
    "PLATFORMS", "MODES", "PROFILES", "MAP_KINDS", "FINDING_KINDS",
    "FORMAT_VERSION", "GUEST_PA_LIMIT", "PAGE_SIZE",
    "Map", "Unmap", "Op", "Expect", "Program", "format_op", "geometries",
]

PLATFORMS = tuple(_PLATFORM_ROWS)
MODES = ("stage2", "hyp")
PROFILES = ("realistic", "adversarial")
MAP_KINDS = ("page", "pmd", "pud")
FINDING_KINDS = (
    "still-mapped", "over-unmapped", "map-mismatch", "leaked-table",
    "retained-empty-table", "freed-live-page", "freed-non-table",
    "refcount-mismatch", "refcount-underflow", "double-free",
    "use-after-free", "missing-tlbi", "tlbi-order", "out-of-bounds",
    "hang", "crash",
)
FORMAT_VERSION = 1
GUEST_PA_LIMIT = 0xF000_0000_0000  # the model puts table pages above this
PAGE_SIZE = 4096


class Map(NamedTuple):
    """Map one block of ``kind`` at ``ipa``; ``pa=None`` means identity."""

    kind: str
    ipa: int
    pa: int | None = None

    def output_address(self) -> int:
        """The output address: ``pa`` if given, else the identity default (PA = IPA)."""
        return self.ipa if self.pa is None else self.pa


class Unmap(NamedTuple):
    """Unmap ``size`` bytes starting at ``ipa`` (alignment is not required)."""

    ipa: int
    size: int


Op = Map | Unmap


@dataclass(frozen=True, slots=True)
class Expect:
    """Findings ``impl`` should report; ``kinds == ()`` means "ok".

    ``kinds`` is normalised to a sorted tuple without duplicates.
    """

    impl: str
    kinds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(sorted(set(self.kinds))))


@dataclass(frozen=True, slots=True)
class Program:
    """A platform/mode header, the ops to run, and recorded expectations."""

    platform: str = "arm64-4k-39"
    mode: str = "stage2"
    ops: tuple[Op, ...] = ()
    profile: str | None = None
    expects: tuple[Expect, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "expects", tuple(self.expects))

    def with_ops(self, ops: Iterable[Op]) -> Program:
        """A copy of this program with ``ops`` replaced."""
        return Program(self.platform, self.mode, tuple(ops), self.profile, self.expects)



def format_op(op: Op) -> str:
    """The op as its ``.ops`` line: ``map KIND IPA [PA]`` or ``unmap IPA SIZE``, lowercase hex."""
    if isinstance(op, Map):
        pa = "" if op.pa is None else f" {op.pa:#x}"
        return f"map {op.kind} {op.ipa:#x}{pa}"
    return f"unmap {op.ipa:#x} {op.size:#x}"


def geometries(platform: str = "all", mode: str = "all") -> list[tuple[str, str]]:
    """The (platform, mode) pairs a campaign or a seed set covers; ``all`` expands."""
    platforms = list(PLATFORMS) if platform == "all" else [platform]
    modes = list(MODES) if mode == "all" else [mode]
    return [(p, m) for p in platforms for m in modes]
