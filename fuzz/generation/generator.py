"""Drawing fuzz programs from a source of choices.

Why addresses are drawn as (level, index, offset)
-------------------------------------------------

Every bug ``unmap_range()`` ever had lives at a boundary of the page tables:
the first or last entry of a table, the step from one table page to the next
(the second page of a two-page root starts at refcount 0), an index past the
end of the root (ARM32's unmasked ``pgd_index``), the 512 GB alias of the
masked ``pgd_index`` on ``arm64-4k-39``, an empty pgd entry on the 4-level
platform, a folded level whose ``*_addr_end`` is just ``end``, a range that
ends at the very top of the 64-bit space and so has ``end == 0``.  A uniform
64-bit address almost never lands on one of them: it is inside the 1 TB IPA
space once in 2**24 draws, and two uniform addresses share a pte table
essentially never, so the tables the unmap walks would always be empty.

So this module draws an address the way the kernel decomposes one.  It picks
a level that exists as a table on the platform (the entry sizes ``1 << shift``
for ``shift`` in :meth:`Platform.real_shifts`), an index in that table from a
short list of values that matter there (0, 1, the middle, ``ptrs_per_table -
1``, ``ptrs_per_table``, the last root entry, the index of the top of the
space, ...) or a random one, optionally a position of the parent entry, and
finally an offset of zero, a few pages or one block either way.  Each
interesting boundary then turns up in a few draws in a hundred, and one
mutated choice moves an address to the neighbouring boundary instead of to a
random place in 2**64.

Unmaps must also hit *populated* tables, so the generator remembers what it
has mapped (a flat map of leaves with the oracle's semantics) and most unmaps
start at a mapped leaf or at the boundary of the pmd, pud or pgd entry above
it, with a size from the kernel's vocabulary: a page, a few pages, the
enclosing entry, a pmd block, a pud, a memslot (2 MB to 1 GB), the rest of
the space, or the whole-VM teardown ``[0, space)``.  Maps cluster the same
way (the next or previous slot, the last slot of the same table), so tables
fill up with more than one entry and refcounts have something to count.

Profiles (see :mod:`unmapfuzz.reference.profiles` for the rules a harness enforces):

- ``realistic`` issues only what the real callers of these eras did: pages
  (stage 2 and hyp) and pmd blocks (stage 2) where nothing is mapped yet,
  aligned, inside the space; page-aligned, non-empty unmaps inside the space.
- ``adversarial`` adds unaligned and empty ranges, ranges ending exactly at
  2**64, ranges past the root and past the space, pud blocks (where the
  platform has them), blocks over tables and remaps.  It still never emits a
  program :func:`unmapfuzz.reference.profiles.validate` calls invalid in every profile: a
  page inside a block, a pmd inside a pud block, an unaligned map, a hyp
  block, or a range that wraps past 2**64.  The one exception is the exact
  form below, which reproduces whatever it encodes.

One generator, several engines
------------------------------

:func:`draw_program` makes every decision through a :class:`Source`:
``draw(n)`` (a choice in ``range(n)``) and ``draw_bits(bits)``.
:class:`ByteSource` reads the choices from bytes (an atheris input),
:class:`RandomSource` from :class:`random.Random` (the plain baseline), and
:class:`DataSource` from Hypothesis, one ``st.integers`` per choice, so that
Hypothesis shrinks programs by shrinking choices.  Choices are ordered so that
0 is the simple outcome: an all-zero input is a one-op program.

Byte layout of a :class:`ByteSource` input
------------------------------------------

Integers are little endian.  ``draw(n)`` reads the fewest bytes that can hold
``n - 1`` (none for ``n == 1``, one for ``n <= 256``, two for ``n <= 65536``,
...) and takes the value modulo ``n``; ``draw_bits(b)`` reads ``ceil(b / 8)``
bytes and keeps the low ``b`` bits.  A draw that runs past the end returns 0,
and so does every later one.  ::

    input      := head:u8 ...
    head < 255    generated program of LENGTHS[head] ops (1..12, mostly 2-6)
    head == 255   tag:u16, then
        tag == 0x5845 ("EX")   exact program:  count:u8  exact_op{count}
        otherwise              generated program of 1 + tag % max_ops ops
    exact_op   := code:u8 ipa:u64 ...        (code % 4)
        code 0, 1, 2     map page / pmd / pud:  has_pa:u8 (% 2)
                         [pfn:u40, low 36 bits; pa = (pfn << 12) % GUEST_PA_LIMIT]
        code 3           unmap:  size:u64

The generated form is a sequence of choices in the order the generator makes
them (per op: map or unmap, then kind, anchor or address, size, pa); its
meaning changes whenever the generator does.  The exact form is what
:func:`encode_program` writes, and is stable: it round-trips every program
whose ops parse, and ``count`` is capped at ``max_ops``.  Under the realistic
profile an exact op that breaks a realistic rule is dropped, so that profile
stays realistic whatever the bytes.  Neither form is a corpus: programs are
kept as ``.ops`` text and turned into bytes with :func:`encode_program` when
an engine needs seeds.
"""
from __future__ import annotations

import functools
import struct

from unmapfuzz.impls.model.platforms import PLATFORMS as _PLATFORM_INFO
from unmapfuzz.programs import GUEST_PA_LIMIT, MAP_KINDS, MODES, PAGE_SIZE, PROFILES, Map, Op, Program, Unmap
from unmapfuzz.reference.profiles import rules_for
from unmapfuzz.reference.translations import Translations, apply_map, apply_unmap

from .sources import ByteSource, DataSource, RandomSource, Source

__all__ = ["Source", "ByteSource", "RandomSource", "DataSource", "Generator", "generator_for",
           "draw_program", "encode_program", "EXACT_TAG", "MAX_ENCODED_OPS"]

TOP = 1 << 64
_MASK64 = TOP - 1
EXACT_TAG = 0x5845          # b"EX", little endian
MAX_ENCODED_OPS = 255
_EXACT_CODES = {"page": 0, "pmd": 1, "pud": 2}
_UNMAP_CODE = 3
_PFN_BITS = 36              # GUEST_PA_LIMIT >> 12 < 2**36


# -- program length ---------------------------------------------------------------------

_LENGTH_WEIGHTS = (8, 14, 16, 15, 12, 9, 6, 4, 3, 2, 2, 2)   # lengths 1..12


@functools.lru_cache(maxsize=None)
def _lengths(max_ops: int) -> tuple[int, ...]:
    """255 lengths, ascending, in proportion to _LENGTH_WEIGHTS (largest remainder)."""
    weights = _LENGTH_WEIGHTS[:max_ops]
    total = sum(weights)
    quotas = [w * 255 / total for w in weights]
    counts = [int(q) for q in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: counts[i] - quotas[i])
    for i in by_remainder[:255 - sum(counts)]:
        counts[i] += 1
    return tuple(length for length, c in enumerate(counts, start=1) for _ in range(c))


# -- ops --------------------------------------------------------------------------------

# A campaign's inputs are mostly mutations of one another, so nearly every op
# decoded was decoded moments before (98% of those of a recorded atheris
# stream).  Ops are immutable, so one object can stand for every equal op;
# with ops as named tuples, finding it costs about what building one does,
# and programs then share their ops.
_map = functools.lru_cache(maxsize=4096)(Map)
_unmap = functools.lru_cache(maxsize=4096)(Unmap)


# -- the per-(platform, mode, profile) generator ----------------------------------------

# Unmap starts and sizes, as tags.
_S_LEAF, _S_BOUNDARY, _S_FRESH, _S_ZERO, _S_PAST = range(5)
(_Z_PAGE, _Z_PAGES, _Z_ENTRY, _Z_PMD, _Z_PUD, _Z_PGDIR, _Z_MEMSLOT, _Z_TO_END,
 _Z_TEARDOWN, _Z_ZERO, _Z_END64, _Z_PAST, _Z_RAW) = range(13)


def _table(*weighted: tuple[object, int]) -> tuple:
    return tuple(value for value, weight in weighted for _ in range(weight))


class Generator:
    """Everything about a (platform, mode, profile) that does not depend on the choices."""

    def __init__(self, platform: str, mode: str, profile: str):
        p = _PLATFORM_INFO[platform]
        adversarial = profile == "adversarial"
        self.adversarial = adversarial
        self.page = page = p.page_size
        self.space = space = p.space(mode)
        self.shift_of = {kind: p.map_shift(kind) for kind in MAP_KINDS}
        self.pmd_block = 1 << p.pmd_shift
        self.pud_size = 1 << p.pud_shift
        self.pgdir_size = 1 << p.pgdir_shift
        self.entries_per_table = p.ptrs_per_table

        kinds = [("page", 10)]
        if mode == "stage2":
            kinds.append(("pmd", 4))
            if adversarial and "pud" in p.map_kinds(mode):
                kinds.append(("pud", 2))
        self.kinds = ("page",) if len(kinds) == 1 else _table(*kinds)
        # What the exact form keeps under the realistic profile.
        self.realistic_rules = rules_for(platform, mode, "realistic")

        # Levels: (shift, interesting indexes with -1 for "random", random range, parent shift).
        shifts = p.real_shifts()
        root_entries = p.hyp_root_entries if mode == "hyp" else p.s2_root_entries
        per_table = p.ptrs_per_table
        levels = []
        root_points: tuple[int, ...] = (0,)
        for depth, shift in enumerate(shifts):
            entries = root_entries if depth == 0 else per_table
            top = space >> shift
            wanted = {0, 1, 2, 3, entries // 2, entries - 2, entries - 1, entries, entries + 1}
            if top:
                wanted |= {top - 1, top, top + 1}
            if depth == 0:
                wanted |= {per_table - 1, per_table, per_table + 1}
            # Realistic stays inside the space; adversarial also steps just past it.
            limit = space + (2 << shift) if adversarial else space
            indexes = sorted(i for i in wanted if i >= 0 and (i << shift) < limit)
            if depth == 0:
                root_points = tuple(i << shift for i in indexes)
            levels.append((shift, tuple(indexes) + (-1, -1),
                           max(1, top) if depth == 0 else entries,
                           shifts[depth - 1] if depth else 0))
        self.levels = tuple(levels)
        self.root_points = root_points
        self.parent_counts = {shift: max(1, space >> shift) for shift in shifts}
        self.boundary_shifts = shifts[:-1]
        pmd = self.pmd_block
        self.offsets = _table((0, 8), (page, 1), (2 * page, 1), (3 * page, 1), (-page, 1),
                              (-2 * page, 1), (pmd, 1), (-pmd, 1), (pmd + page, 1))

        self.first_actions = _table((True, 14), (False, 2))
        self.map_phase_actions = _table((True, 11), (False, 5))
        self.unmap_phase_actions = _table((True, 5), (False, 11))
        self.last_actions = _table((True, 3), (False, 13))
        self.single_actions = _table((True, 8), (False, 8))
        self._schedules: dict[int, tuple] = {}

        if adversarial:
            self.starts = _table((_S_LEAF, 5), (_S_BOUNDARY, 5), (_S_FRESH, 4), (_S_ZERO, 1), (_S_PAST, 1))
            self.sizes = _table((_Z_PAGE, 4), (_Z_PAGES, 3), (_Z_ENTRY, 5), (_Z_PMD, 1), (_Z_PUD, 1),
                                (_Z_PGDIR, 1), (_Z_MEMSLOT, 1), (_Z_TO_END, 1), (_Z_TEARDOWN, 1),
                                (_Z_ZERO, 1), (_Z_END64, 1), (_Z_PAST, 1), (_Z_RAW, 1))
            self.deltas = (1, 8, 0x800, page // 2, page - 1, page + 1)
        else:
            self.starts = _table((_S_LEAF, 6), (_S_BOUNDARY, 5), (_S_FRESH, 4), (_S_ZERO, 1))
            self.sizes = _table((_Z_PAGE, 4), (_Z_PAGES, 2), (_Z_ENTRY, 4), (_Z_PMD, 1), (_Z_PUD, 1),
                                (_Z_PGDIR, 1), (_Z_MEMSLOT, 1), (_Z_TO_END, 1), (_Z_TEARDOWN, 1))

    # -- addresses --------------------------------------------------------------------

    def address(self, src: Source) -> int:
        """A (level, index, offset) address; see the module docstring."""
        levels = self.levels
        shift, indexes, random_range, parent_shift = levels[src.draw(len(levels))]
        index = indexes[src.draw(len(indexes))]
        if index < 0:
            index = src.draw(random_range)
        ipa = index << shift
        if parent_shift:
            where = src.draw(4)
            if where == 1:
                ipa += self.root_points[src.draw(len(self.root_points))]
            elif where == 2:
                ipa += src.draw(self.parent_counts[parent_shift]) << parent_shift
        return (ipa + self.offsets[src.draw(len(self.offsets))]) & _MASK64

    # -- maps ---------------------------------------------------------------------------

    def _clash(self, ipa: int, shift: int, leaves: Translations) -> int | None:
        """None if a map of ``1 << shift`` at ``ipa`` is allowed here, else the next slot to try."""
        end = ipa + (1 << shift)
        for leaf, (leaf_shift, _) in leaves.items():
            leaf_end = leaf + (1 << leaf_shift)
            if leaf < end and ipa < leaf_end and (not self.adversarial or leaf_shift > shift):
                size = 1 << shift
                return -(-max(end, leaf_end) // size) * size
        return None

    def map_op(self, src: Source, leaves: Translations) -> Map | None:
        """One map, aimed near what ``leaves`` holds; applied to ``leaves``.  None when
        no free slot was found nearby."""
        kind = self.kinds[src.draw(len(self.kinds))]
        shift = self.shift_of[kind]
        size = 1 << shift
        if leaves and src.draw(8) < 5:
            anchors = list(leaves)
            anchor = anchors[src.draw(len(anchors))]
            slot = anchor - anchor % size
            how = src.draw(8)
            if how < 2:
                ipa = slot                    # the same place: a remap or a block over tables
            elif how < 4:
                ipa = slot + size
            elif how == 4:
                ipa = slot - size
            elif how == 5:
                ipa = slot + (2 + src.draw(8)) * size
            else:                             # first or last slot of the same table
                span = size * self.entries_per_table
                table = anchor - anchor % span
                ipa = table + span - size if how == 6 else table
        else:
            ipa = self.address(src)
        space = self.space
        ipa %= space
        ipa -= ipa % size
        for _ in range(4):
            next_slot = self._clash(ipa, shift, leaves)
            if next_slot is None:
                break
            ipa = next_slot % space
        else:
            return None
        pa = self._pa(src, ipa, size)
        op = _map(kind, ipa, pa)
        # A realistic map only goes where nothing is mapped (see _clash): it replaces nothing.
        apply_map(leaves, ipa, shift, op.output_address(), None if self.adversarial else [])
        return op

    def _pa(self, src: Source, ipa: int, size: int) -> int | None:
        # The identity default is only used below GUEST_PA_LIMIT: above it the
        # model keeps its table pages, and a guest page there would alias one.
        how = src.draw(8)
        identity_ok = ipa + size <= GUEST_PA_LIMIT
        if how < 6 and identity_ok:
            return None
        if how == 7 and identity_ok:
            return ipa
        pa = (src.draw_bits(_PFN_BITS) << 12) % GUEST_PA_LIMIT
        return pa - pa % size

    # -- unmaps -------------------------------------------------------------------------

    def unmap_op(self, src: Source, leaves: Translations) -> Unmap:
        """One unmap, most often starting at or around what ``leaves`` holds; applied to ``leaves``."""
        page, space = self.page, self.space
        how = self.starts[src.draw(len(self.starts))]
        entry = page                          # the natural size for this start
        if how in (_S_LEAF, _S_BOUNDARY) and leaves:
            anchors = list(leaves)
            anchor = anchors[src.draw(len(anchors))]
            if how == _S_LEAF:
                start, entry = anchor, 1 << leaves[anchor][0]
            else:
                shifts = self.boundary_shifts
                entry = 1 << shifts[src.draw(len(shifts))]
                start = anchor - anchor % entry
        elif how == _S_ZERO:
            start = 0
        elif how == _S_PAST:
            start = space + page * src.draw(4)
        else:
            start = self.address(src)

        what = self.sizes[src.draw(len(self.sizes))]
        if what == _Z_PAGE:
            size = page
        elif what == _Z_PAGES:
            size = page * (2 + src.draw(7))
        elif what == _Z_ENTRY:
            size = entry
        elif what == _Z_PMD:
            size = self.pmd_block
        elif what == _Z_PUD:
            size = self.pud_size
        elif what == _Z_PGDIR:
            size = self.pgdir_size
        elif what == _Z_MEMSLOT:
            size = (0x200000 << src.draw(10)) + page * src.draw(4)
        elif what == _Z_TO_END:
            size = space - start if start < space else page
        elif what == _Z_TEARDOWN:
            start, size = 0, space
        elif what == _Z_ZERO:
            size = 0
        elif what == _Z_END64:
            if start == 0:
                start = TOP - entry
            size = TOP - start
        elif what == _Z_PAST:
            size = max(space - start, 0) + page * (1 + src.draw(4))
        else:
            size = src.draw_bits(64)

        if self.adversarial:
            nudge = src.draw(8)
            if nudge >= 5:
                delta = self.deltas[src.draw(len(self.deltas))]
                if nudge == 5:
                    size += delta
                elif nudge == 6:
                    start = (start + delta) & _MASK64
                else:
                    size = max(size - delta, 0)
            size = min(size, TOP - start, _MASK64)     # never wrap past 2**64
        else:
            start = (start - start % page) % space
            size = min(-(-size // page) * page, space - start) or page
        apply_unmap(leaves, start, start + size)
        return _unmap(start, size)

    # -- whole programs -----------------------------------------------------------------

    def _schedule(self, length: int) -> tuple[tuple[bool, ...], ...]:
        """For each op of a program of ``length`` ops, the table its map-or-unmap choice reads:
        mostly maps in the first two thirds, mostly unmaps after."""
        if length < 2:
            return (self.single_actions,) * length       # one op, or none
        map_phase = (2 * length) // 3
        middle = (self.map_phase_actions if i < map_phase else self.unmap_phase_actions
                  for i in range(1, length - 1))
        return (self.first_actions, *middle, self.last_actions)

    def generate(self, src: Source, length: int) -> list[Op]:
        leaves: Translations = {}
        ops: list[Op] = []
        schedule = self._schedules.get(length)        # one per length, built once
        if schedule is None:
            schedule = self._schedules[length] = self._schedule(length)
        for actions in schedule:
            op = self.map_op(src, leaves) if actions[src.draw(16)] else self.unmap_op(src, leaves)
            if op is not None:
                ops.append(op)
            if ops and getattr(src, "exhausted", False):
                break
        return ops

    def exact(self, src: Source, max_ops: int) -> list[Op]:
        """The ops of the exact form; under the realistic profile, those its rules keep."""
        count = min(src.draw(256), max_ops)
        problem = None if self.adversarial else self.realistic_rules.problem
        read_op = _read_exact_op_from_bytes if type(src) is ByteSource else _read_exact_op
        leaves: Translations = {}
        ops: list[Op] = []
        for _ in range(count):
            op = read_op(src)
            if problem is None or problem(op, leaves) is None:
                ops.append(op)
        return ops


# -- the exact form's ops ---------------------------------------------------------------

def _read_exact_op(src: Source) -> Op:
    """One op of the exact form, choice by choice (see the module docstring)."""
    code = src.draw(4)
    ipa = src.draw_bits(64)
    if code == _UNMAP_CODE:
        return _unmap(ipa, src.draw_bits(64))
    pa = (src.draw_bits(_PFN_BITS) << 12) % GUEST_PA_LIMIT if src.draw(2) else None
    return _map(MAP_KINDS[code], ipa, pa)


# The exact ops' lengths in bytes: code, ipa, then has_pa [pfn] or size.
_MAP_BYTES, _MAP_PA_BYTES, _UNMAP_BYTES = 1 + 8 + 1, 1 + 8 + 1 + 5, 1 + 8 + 8
_EXACT_OP = struct.Struct("<BQQ")      # code, ipa and the next 8 bytes: _UNMAP_BYTES, the longest op
_PFN_MASK = (1 << _PFN_BITS) - 1
_OP_PAST_THE_END = _read_exact_op(ByteSource(b""))


def _read_exact_op_from_bytes(src: ByteSource) -> Op:
    """:func:`_read_exact_op` for a ByteSource, in one unpack while an unmap's 17 bytes remain.

    Whatever the op, it then fits, and no draw can run out: every field is
    read as its draw would read it (``code % 4``, ``has_pa % 2``, the low 36
    bits of the 5-byte pfn).  The last few bytes of an input, where a draw may
    run out, are read draw by draw.  The exact form is half of what a campaign
    decodes, and four draws cost more than the rest of the op.
    """
    pos = src.pos
    if pos + _UNMAP_BYTES > src.size:
        if pos == src.size:            # a count past the last op: every draw gives 0
            src.exhausted = True
            return _OP_PAST_THE_END
        return _read_exact_op(src)
    code, ipa, rest = _EXACT_OP.unpack_from(src.data, pos)
    code %= 4
    if code == _UNMAP_CODE:
        src.pos = pos + _UNMAP_BYTES
        return _unmap(ipa, rest)
    if rest & 1:                                   # has_pa, then the pfn in the next 5 bytes
        src.pos = pos + _MAP_PA_BYTES
        return _map(MAP_KINDS[code], ipa, (((rest >> 8) & _PFN_MASK) << 12) % GUEST_PA_LIMIT)
    src.pos = pos + _MAP_BYTES
    return _map(MAP_KINDS[code], ipa, None)


@functools.lru_cache(maxsize=None)
def generator_for(platform: str, mode: str, profile: str) -> Generator:
    """The generator of one (platform, mode, profile), built once."""
    if platform not in _PLATFORM_INFO:
        raise ValueError(f"unknown platform {platform!r} (expected one of: {', '.join(_PLATFORM_INFO)})")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (expected one of: {', '.join(MODES)})")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (expected one of: {', '.join(PROFILES)})")
    return Generator(platform, mode, profile)


# -- the public entry points ------------------------------------------------------------

def draw_program(src: Source, platform: str, mode: str, profile: str, max_ops: int = 12) -> Program:
    """A program of 1..max_ops ops for ``platform``/``mode`` under ``profile``, chosen by ``src``.

    The exact form (see the module docstring) may give 0 ops; it is what
    :func:`encode_program` writes and random choices reach it about once in
    2**24 programs.
    """
    if max_ops < 1:
        raise ValueError(f"max_ops={max_ops}: expected at least 1")
    gen = generator_for(platform, mode, profile)
    head = src.draw(256)
    if head < 255:
        ops = gen.generate(src, _lengths(max_ops)[head])
    else:
        tag = src.draw(1 << 16)
        if tag == EXACT_TAG:
            ops = gen.exact(src, max_ops)
        else:
            ops = gen.generate(src, 1 + tag % max_ops)
    return Program(platform, mode, tuple(ops), profile)


def encode_program(program: Program) -> bytes:
    """Bytes that :class:`ByteSource` decodes back to ``program.ops`` exactly (adversarial profile).

    ``draw_program(ByteSource(encode_program(p)), p.platform, p.mode,
    "adversarial", max_ops=255).ops == p.ops`` for every program of at most
    255 ops whose ops parse.  Platform, mode, profile and expects are not
    encoded: the engine supplies them.
    """
    ops = program.ops
    if len(ops) > MAX_ENCODED_OPS:
        raise ValueError(f"{len(ops)} ops cannot be encoded (expected at most {MAX_ENCODED_OPS})")
    out = bytearray((255,))
    out += EXACT_TAG.to_bytes(2, "little")
    out.append(len(ops))
    for n, op in enumerate(ops):
        try:
            if isinstance(op, Map):
                out.append(_EXACT_CODES[op.kind])
                out += op.ipa.to_bytes(8, "little")
                if op.pa is None:
                    out.append(0)
                else:
                    if op.pa % PAGE_SIZE or not 0 <= op.pa < GUEST_PA_LIMIT:
                        raise ValueError(f"pa {op.pa:#x} is not a page-aligned address "
                                         f"below {GUEST_PA_LIMIT:#x}")
                    out.append(1)
                    out += (op.pa >> 12).to_bytes(5, "little")
            else:
                out.append(_UNMAP_CODE)
                out += op.ipa.to_bytes(8, "little")
                out += op.size.to_bytes(8, "little")
        except (KeyError, OverflowError, ValueError) as exc:
            raise ValueError(f"op {n} ({op!r}) cannot be encoded: {exc}") from None
    return bytes(out)
