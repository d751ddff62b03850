"""Tests for unmapfuzz.impls.model.platforms: the five platform rows of docs/KERNEL_MODEL.md section 2."""

import pytest

from unmapfuzz.impls.model.platforms import DEFAULT_PLATFORM, KVM_PHYS_SIZE, PLATFORMS

# name: (page size, Linux levels, real_shifts top down, ptrs_per_table)
GEOMETRY = {
    "arm32-lpae": (4096, 3, (30, 21, 12), 512),
    "arm64-4k-39": (4096, 3, (30, 21, 12), 512),
    "arm64-64k-42": (65536, 2, (29, 16), 8192),
    "arm64-4k-48": (4096, 4, (39, 30, 21, 12), 512),
    "arm64-64k-48": (65536, 3, (42, 29, 16), 8192),
}

# name: (stage-2 root entries, stage-2 root pages, hyp root entries, prealloc, era)
ROOTS = {
    "arm32-lpae": (1024, 2, 4, 0, "3.16"),
    "arm64-4k-39": (1024, 2, 512, 0, "3.16"),
    "arm64-64k-42": (8192, 1, 8192, 0, "3.16"),
    "arm64-4k-48": (2, 2, 512, 1, "3.18"),
    "arm64-64k-48": (1, 1, 64, 2, "3.18"),
}

# name: {shift: Linux level name}, including every shift the platform uses
LEVEL_OF_SHIFT = {
    "arm32-lpae": {30: "pgd", 21: "pmd", 12: "pte"},
    "arm64-4k-39": {30: "pgd", 21: "pmd", 12: "pte"},
    "arm64-64k-42": {29: "pgd", 16: "pte"},
    "arm64-4k-48": {39: "pgd", 30: "pud", 21: "pmd", 12: "pte"},
    "arm64-64k-48": {42: "pgd", 29: "pmd", 16: "pte"},
}


def test_exactly_the_five_platforms():
    """PLATFORMS holds exactly the five rows of the model, keyed by their own names."""
    assert set(PLATFORMS) == set(GEOMETRY)
    assert all(p.name == name for name, p in PLATFORMS.items())
    assert DEFAULT_PLATFORM == "arm64-4k-39"
    assert KVM_PHYS_SIZE == 2**40


@pytest.mark.parametrize("name", GEOMETRY)
def test_geometry(name):
    """Page size, level count, the shifts of real tables and entries per table match the row."""
    p = PLATFORMS[name]
    page_size, levels, shifts, ptrs = GEOMETRY[name]
    assert p.page_size == page_size
    assert p.levels == levels
    assert p.real_shifts() == shifts
    assert p.ptrs_per_table == ptrs
    assert len(shifts) == levels


@pytest.mark.parametrize("name", GEOMETRY)
def test_roots_and_era(name):
    """Stage-2 and hyp root sizes, the prealloc level and the era match the row."""
    p = PLATFORMS[name]
    assert (p.s2_root_entries, p.s2_root_pages, p.hyp_root_entries, p.prealloc, p.era) == ROOTS[name]


@pytest.mark.parametrize("name", GEOMETRY)
def test_level_of_shift(name):
    """level_of_shift names the table whose entries map 1 << shift bytes."""
    p = PLATFORMS[name]
    for shift, level in LEVEL_OF_SHIFT[name].items():
        assert p.level_of_shift(shift) == level
    assert [p.level_of_shift(s) for s in p.real_shifts()] == list(LEVEL_OF_SHIFT[name].values())


@pytest.mark.parametrize("name", GEOMETRY)
def test_shift_of_folded_levels_alias_their_parent(name):
    """A folded pud has the pgd's shift and a folded pmd the pud's."""
    p = PLATFORMS[name]
    assert p.shift_of("pgd") == p.pgdir_shift
    assert p.shift_of("pte") == p.page_shift
    if p.pud_folded:
        assert p.shift_of("pud") == p.shift_of("pgd")
    if p.pmd_folded:
        assert p.shift_of("pmd") == p.shift_of("pud")


@pytest.mark.parametrize("name, folded, masked, arm32", [
    ("arm32-lpae", ("pud",), False, True),
    ("arm64-4k-39", ("pud",), True, False),
    ("arm64-64k-42", ("pud", "pmd"), True, False),
    ("arm64-4k-48", (), True, False),
    ("arm64-64k-48", ("pud",), True, False),
])
def test_folding_and_helper_flavour(name, folded, masked, arm32):
    """Which levels fold, whether pgd_index masks, and whether ARM32 helpers apply."""
    p = PLATFORMS[name]
    assert tuple(lvl for lvl, f in (("pud", p.pud_folded), ("pmd", p.pmd_folded)) if f) == folded
    assert p.pgd_index_masked is masked
    assert p.arm32 is arm32
