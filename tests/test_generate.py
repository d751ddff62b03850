"""Tests for unmapfuzz.generation: the shared program generator, its sources and the strategies."""

import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unmapfuzz.generation.generator import (
    EXACT_TAG, ByteSource, DataSource, RandomSource, draw_program, encode_program,
)
from unmapfuzz.reference.profiles import validate
from unmapfuzz.programs import GUEST_PA_LIMIT, MODES, PLATFORMS, PROFILES, Map, Program, Unmap
from unmapfuzz.generation.strategies import programs
from unmapfuzz.impls.model.platforms import PLATFORMS as INFO

TOP = 1 << 64
COMBOS = list(itertools.product(PLATFORMS, MODES))
SEEDS = range(2000)
PUD_PLATFORMS = ("arm64-4k-39", "arm64-4k-48")


# -- an independent statement of the rules --------------------------------------------

def space_of(program):
    p = INFO[program.platform]
    return p.hyp_root_entries << p.pgdir_shift if program.mode == "hyp" else 1 << 40


def size_of(program, kind):
    p = INFO[program.platform]
    return 1 << {"page": p.page_shift, "pmd": p.pmd_shift, "pud": p.pud_shift}[kind]


def overlapping(leaves, start, end):
    return [a for a, size in leaves.items() if a < end and start < a + size]


def universal_violation(program):
    """Why ``program`` breaks a rule of every profile, or None."""
    leaves = {}
    for n, op in enumerate(program.ops):
        if isinstance(op, Map):
            size = size_of(program, op.kind)
            pa = op.output_address()
            if program.mode == "hyp" and op.kind != "page":
                return f"op {n}: hyp block"
            if op.kind == "pud" and (program.mode == "hyp" or program.platform not in PUD_PLATFORMS):
                return f"op {n}: no pud block here"
            if op.ipa % size or pa % size:
                return f"op {n}: unaligned map"
            inside = overlapping(leaves, op.ipa, op.ipa + size)
            if any(leaves[a] > size for a in inside):
                return f"op {n}: map inside a bigger block"
            for a in inside:
                del leaves[a]
            leaves[op.ipa] = size
        else:
            if op.ipa + op.size > TOP:
                return f"op {n}: range wraps past 2**64"
            for a in overlapping(leaves, op.ipa, op.ipa + op.size):
                del leaves[a]
    return None


def realistic_violation(program):
    """Why ``program`` is not something the kernel's real callers issue, or None."""
    space, page = space_of(program), INFO[program.platform].page_size
    kinds = ("page",) if program.mode == "hyp" else ("page", "pmd")
    leaves = {}
    for n, op in enumerate(program.ops):
        if isinstance(op, Map):
            size = size_of(program, op.kind)
            if op.kind not in kinds:
                return f"op {n}: map {op.kind} is not realistic on {program.mode}"
            if op.ipa % size or op.output_address() % size or op.ipa + size > space:
                return f"op {n}: map unaligned or outside the space"
            if overlapping(leaves, op.ipa, op.ipa + size):
                return f"op {n}: map over an existing mapping"
            if op.pa is not None and op.pa >= GUEST_PA_LIMIT:
                return f"op {n}: pa too high"
            leaves[op.ipa] = size
        else:
            if op.ipa % page or op.size % page or op.size == 0 or op.ipa + op.size > space:
                return f"op {n}: unmap unaligned, empty or outside the space"
            for a in overlapping(leaves, op.ipa, op.ipa + op.size):
                del leaves[a]
    return None


def identity_maps_below_table_pool(program):
    """Whether every map left at the identity default stays below GUEST_PA_LIMIT."""
    return all(op.pa is not None or op.ipa + size_of(program, op.kind) <= GUEST_PA_LIMIT
               for op in program.ops if isinstance(op, Map))


def generated(platform, mode, profile, seeds=SEEDS):
    return [draw_program(RandomSource(seed), platform, mode, profile) for seed in seeds]


# -- the exact form -------------------------------------------------------------------

u64 = st.integers(0, TOP - 1)
maps = st.builds(Map, st.sampled_from(("page", "pmd", "pud")), u64,
                 st.none() | st.integers(0, GUEST_PA_LIMIT // 4096 - 1).map(lambda pfn: pfn * 4096))
unmaps = st.builds(Unmap, u64, u64)
any_programs = st.builds(Program, st.sampled_from(PLATFORMS), st.sampled_from(MODES),
                         st.lists(maps | unmaps, max_size=40))


@given(any_programs)
@settings(max_examples=300)
def test_exact_round_trip(program):
    """Every program whose ops parse decodes from encode_program's bytes to the same ops."""
    decoded = draw_program(ByteSource(encode_program(program)), program.platform, program.mode,
                           "adversarial", max_ops=255)
    assert decoded.ops == program.ops


@pytest.mark.parametrize("count", [0, 1, 255])
def test_exact_round_trip_lengths(count):
    """The exact form carries empty programs and the full 255 ops."""
    rng = random.Random(count)
    ops = tuple(Map(rng.choice(("page", "pmd", "pud")), rng.getrandbits(64),
                    rng.choice((None, GUEST_PA_LIMIT - 4096, 0)))
                if rng.random() < 0.5 else Unmap(rng.getrandbits(64), TOP - 1)
                for _ in range(count))
    program = Program("arm32-lpae", "hyp", ops)
    decoded = draw_program(ByteSource(encode_program(program)), "arm32-lpae", "hyp",
                           "adversarial", max_ops=255)
    assert decoded.ops == ops
    assert draw_program(ByteSource(encode_program(program)), "arm32-lpae", "hyp",
                        "adversarial").ops == ops[:12]


def test_encode_rejects_what_it_cannot_carry():
    """More than 255 ops, or an op that would not parse, is refused with a reason."""
    with pytest.raises(ValueError, match="at most 255"):
        encode_program(Program(ops=(Unmap(0, 1),) * 256))
    with pytest.raises(ValueError, match="op 1"):
        encode_program(Program(ops=(Unmap(0, 1), Map("page", 0, 0x1001))))
    with pytest.raises(ValueError, match="op 0"):
        encode_program(Program(ops=(Unmap(0, TOP),)))


def test_exact_form_under_realistic_keeps_only_realistic_ops():
    """Under the realistic profile the exact form drops ops that break a realistic rule."""
    ops = (Map("page", 0x1000), Map("page", 0x1000), Map("pud", 0), Map("pmd", 0x200000, 0x400000),
           Unmap(0x1000, 0x1001), Unmap(0, 0x2000), Map("page", 0x3000))
    program = draw_program(ByteSource(encode_program(Program(ops=ops))), "arm64-4k-39", "stage2",
                           "realistic")
    assert program.ops == (Map("page", 0x1000), Map("pmd", 0x200000, 0x400000),
                           Unmap(0, 0x2000), Map("page", 0x3000))


def test_realistic_programs_survive_the_exact_form():
    """A generated realistic program re-encoded decodes unchanged under the realistic profile."""
    for seed, (platform, mode) in zip(range(200), itertools.cycle(COMBOS)):
        program = draw_program(RandomSource(seed), platform, mode, "realistic")
        again = draw_program(ByteSource(encode_program(program)), platform, mode, "realistic")
        assert again == program


# -- ByteSource ----------------------------------------------------------------------

def test_byte_source_reads_the_documented_widths():
    """draw reads the fewest bytes covering n, little endian, modulo n; draw_bits masks."""
    src = ByteSource(bytes([7, 0x34, 0x12, 0x01, 0x02, 0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 9]))
    assert src.draw(1) == 0 and src.pos == 0
    assert src.draw(5) == 7 % 5 and src.pos == 1
    assert src.draw(257) == 0x1234 % 257 and src.pos == 3
    assert src.draw(1 << 24) == 0x030201 and src.pos == 6
    assert src.draw_bits(36) == (1 << 36) - 1 and src.pos == 11
    assert src.draw(256) == 9 and not src.exhausted


def test_byte_source_is_deterministic():
    """The same bytes give the same program, on every platform, mode and profile."""
    rng = random.Random(5)
    for _ in range(300):
        data = rng.randbytes(rng.randrange(0, 96))
        platform, mode = rng.choice(COMBOS)
        profile = rng.choice(PROFILES)
        assert draw_program(ByteSource(data), platform, mode, profile) == \
            draw_program(ByteSource(data), platform, mode, profile)


def test_byte_source_exhaustion():
    """Past the end every draw is 0 and exhausted is set; short inputs still give 1+ ops."""
    src = ByteSource(b"\x05")
    assert src.draw(2**16) == 0 and src.exhausted
    assert src.draw(10) == 0 and src.draw_bits(64) == 0
    fresh = ByteSource(b"\x05")
    assert fresh.draw(10) == 5 and not fresh.exhausted
    assert fresh.draw(10) == 0 and fresh.exhausted
    for platform, mode in COMBOS:
        for profile in PROFILES:
            program = draw_program(ByteSource(b""), platform, mode, profile)
            assert len(program.ops) == 1
            assert universal_violation(program) is None


@given(st.binary(max_size=200), st.sampled_from(COMBOS), st.sampled_from(PROFILES))
@settings(max_examples=300)
def test_any_bytes_decode(data, combo, profile):
    """Any input decodes without error, within max_ops, and realistic inputs stay realistic."""
    program = draw_program(ByteSource(data), *combo, profile, max_ops=8)
    assert len(program.ops) <= 8
    if profile == "realistic":
        assert realistic_violation(program) is None
    elif not data.startswith(b"\xff" + EXACT_TAG.to_bytes(2, "little")):
        assert universal_violation(program) is None


# -- the profiles ----------------------------------------------------------------------

@pytest.mark.parametrize("platform,mode", COMBOS)
def test_realistic_programs_follow_the_real_callers(platform, mode):
    """Realistic programs from 2000 seeds break no realistic rule and never alias the table pool."""
    for program in generated(platform, mode, "realistic"):
        assert (program.platform, program.mode, program.profile, program.expects) == \
            (platform, mode, "realistic", ())
        assert 1 <= len(program.ops) <= 12
        assert realistic_violation(program) is None, program
        assert validate(program) is None, program
        assert identity_maps_below_table_pool(program), program


@pytest.mark.parametrize("platform,mode", COMBOS)
def test_adversarial_programs_are_valid_and_have_every_feature(platform, mode):
    """Adversarial programs break no universal rule and contain each adversarial feature."""
    seen = set()
    for program in generated(platform, mode, "adversarial"):
        assert universal_violation(program) is None, program
        assert validate(program) is None, program
        assert identity_maps_below_table_pool(program), program
        page = INFO[platform].page_size
        leaves = {}
        for op in program.ops:
            if isinstance(op, Map):
                size = size_of(program, op.kind)
                inside = overlapping(leaves, op.ipa, op.ipa + size)
                seen.add(f"map {op.kind}")
                if op.kind == "page" and leaves.get(op.ipa) == size:
                    seen.add("remap")
                if op.kind != "page" and any(leaves[a] < size for a in inside):
                    seen.add("block over pages")
                for a in inside:
                    del leaves[a]
                leaves[op.ipa] = size
            else:
                end = op.ipa + op.size
                seen.update(name for name, present in (
                    ("unaligned size", op.size % page), ("unaligned start", op.ipa % page),
                    ("zero size", op.size == 0), ("end at 2**64", end == TOP),
                    ("past the space", end > space_of(program))) if present)
                for a in overlapping(leaves, op.ipa, end):
                    del leaves[a]
    wanted = {"unaligned size", "unaligned start", "zero size", "end at 2**64", "past the space",
              "remap", "map page"}
    if mode == "stage2":
        wanted |= {"map pmd", "block over pages"}
    if mode == "stage2" and platform in PUD_PLATFORMS:
        wanted.add("map pud")
    else:
        assert "map pud" not in seen
    assert wanted <= seen


# -- distribution --------------------------------------------------------------------

@pytest.mark.parametrize("platform,mode", COMBOS)
def test_unmaps_hit_mapped_addresses(platform, mode):
    """Over 30% of realistic unmaps intersect a mapped leaf, and most programs have 2-6 ops."""
    hits = unmaps = short = 0
    programs_ = generated(platform, mode, "realistic")
    for program in programs_:
        short += 2 <= len(program.ops) <= 6
        leaves = {}
        for op in program.ops:
            if isinstance(op, Map):
                leaves[op.ipa] = size_of(program, op.kind)
            else:
                unmaps += 1
                inside = overlapping(leaves, op.ipa, op.ipa + op.size)
                hits += bool(inside)
                for a in inside:
                    del leaves[a]
    assert hits > 0.3 * unmaps
    assert short > 0.5 * len(programs_)


@pytest.mark.parametrize("platform,mode", COMBOS)
def test_boundaries_that_matter_are_drawn(platform, mode):
    """Realistic programs reach the top of the space, and the second root page where there is one."""
    ops = [op for program in generated(platform, mode, "realistic", range(500)) for op in program.ops]
    space = space_of(Program(platform, mode))
    assert any(isinstance(op, Unmap) and op.ipa + op.size == space for op in ops)
    assert any(isinstance(op, Unmap) and (op.ipa, op.size) == (0, space) for op in ops)
    assert any(isinstance(op, Map) and op.ipa + size_of(Program(platform), op.kind) == space
               for op in ops)
    if platform in ("arm32-lpae", "arm64-4k-39") and mode == "stage2":
        # root index >= 512: the 512 GB alias (4k-39) and the root's second page
        assert any(isinstance(op, Map) and op.ipa >= 0x80_0000_0000 for op in ops)
        assert any(isinstance(op, Map) and op.ipa >> 30 == 512 for op in ops)


def test_draw_program_rejects_unknown_names():
    """Unknown platform, mode or profile names and max_ops < 1 raise ValueError."""
    for args in (("arm64", "stage2", "realistic"), ("arm32-lpae", "s2", "realistic"),
                 ("arm32-lpae", "stage2", "mild")):
        with pytest.raises(ValueError, match="unknown"):
            draw_program(RandomSource(0), *args)
    with pytest.raises(ValueError, match="max_ops"):
        draw_program(RandomSource(0), "arm32-lpae", "stage2", "realistic", max_ops=0)


# -- Hypothesis ----------------------------------------------------------------------

@given(st.data(), st.sampled_from(COMBOS))
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
def test_data_source_draws_valid_programs(data, combo):
    """DataSource over st.data() drives the same generator to realistic programs."""
    program = draw_program(DataSource(data), *combo, "realistic")
    assert 1 <= len(program.ops) <= 12
    assert realistic_violation(program) is None


@given(programs(profile="adversarial"))
@settings(max_examples=200)
def test_programs_strategy_samples_every_combination(program):
    """programs() with platform and mode left open gives valid adversarial programs."""
    assert program.profile == "adversarial"
    assert (program.platform, program.mode) in COMBOS
    assert universal_violation(program) is None


@given(programs(platform="arm64-4k-48", mode=st.just("hyp"), profile="realistic", max_ops=3))
@settings(max_examples=100)
def test_programs_strategy_honours_its_arguments(program):
    """programs() passes fixed names and strategies through, and max_ops."""
    assert (program.platform, program.mode, program.profile) == ("arm64-4k-48", "hyp", "realistic")
    assert 1 <= len(program.ops) <= 3
    assert realistic_violation(program) is None


def test_programs_strategy_rejects_unknown_names():
    """programs() refuses an unknown name when it is built, not when it is drawn."""
    with pytest.raises(ValueError, match="unknown platform"):
        programs(platform="arm64-16k")
