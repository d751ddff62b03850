"""Tests for the oracle (fuzz/oracle.py, fuzz/observe.py) as judged through check().

Every finding kind has a deliberately broken implementation in
tests/brokenimpls.py; each must be reported as exactly that kind, at the right
operation, level and IPA, while v3 stays clean on the same program.
"""

import pytest

from brokenimpls import BROKEN, v3_copy
from unmapfuzz.verdict.check import check
from unmapfuzz.programs import FINDING_KINDS, parse
from unmapfuzz.impls import BUILTIN, v3, v3_pgdnone
from unmapfuzz.impls.model.platforms import PLATFORMS

V3 = v3.unmap_range
CORRECT = {"v3": V3, "v3-pgdnone": v3_pgdnone.unmap_range}

ONE_PAGE = """
platform arm64-4k-39
mode stage2
map page 0x1000
unmap 0x1000 0x1000
"""

TWO_PAGES = """
platform arm64-4k-39
mode stage2
map page 0x1000
map page 0x2000
unmap 0x1000 0x1000
"""

# The arm32-lpae stage-2 root is an order-1 allocation whose second page
# starts at refcount 0; pgd_index is unmasked, so 0x80_0000_0000 is entry 512.
SECOND_ROOT_PAGE = """
platform arm32-lpae
mode stage2
unmap 0x8000000000 0x40000000
"""

# kind -> (program, {(kind, op, level, ipa)})
CASES = {
    "still-mapped": (ONE_PAGE, {("still-mapped", 1, "pte", 0x1000)}),
    "over-unmapped": (TWO_PAGES, {("over-unmapped", 2, "pte", 0x2000)}),
    "map-mismatch": (ONE_PAGE, {("map-mismatch", 1, "pte", 0x2000)}),
    "leaked-table": (ONE_PAGE, {("leaked-table", 1, "pte", 0x0)}),
    "retained-empty-table": (ONE_PAGE, {("retained-empty-table", 1, "pte", 0x0)}),
    "freed-live-page": (ONE_PAGE, {("freed-live-page", 1, "pte", 0x0)}),
    "freed-non-table": (ONE_PAGE, {("freed-non-table", 1, "none", 0x1000)}),
    "refcount-mismatch": (ONE_PAGE, {("refcount-mismatch", 1, "pte", 0x0)}),
    "refcount-underflow": (SECOND_ROOT_PAGE, {("refcount-underflow", 0, "pgd", 0x80_0000_0000)}),
    "double-free": (ONE_PAGE, {("double-free", 1, "pte", 0x1000)}),
    "use-after-free": (ONE_PAGE, {("use-after-free", 1, "pte", 0x1000)}),
    "missing-tlbi": (TWO_PAGES, {("missing-tlbi", 2, "pte", 0x1000)}),
    "tlbi-order": (TWO_PAGES, {("tlbi-order", 2, "pte", 0x1000)}),
    "out-of-bounds": (ONE_PAGE, {("out-of-bounds", 1, "pte", 0x1000)}),
    "hang": (ONE_PAGE, {("hang", 1, "pgd", 0x1000)}),
    "crash": (ONE_PAGE, {("crash", 1, "none", 0x1000)}),
}

STATUS = {"hang": "hang", "crash": "crash"}


def findings(result):
    return {(v.kind, v.op, v.level, v.ipa) for v in result.violations}


def run(text, impls, profile=None):
    verdict = check(parse(text), impls, profile)
    assert verdict.invalid is None, verdict.invalid
    return verdict


# -- one broken implementation per finding kind -----------------------------------


def test_every_finding_kind_has_a_broken_impl():
    """brokenimpls covers every finding kind of the .ops format, and the tests cover every one."""
    assert set(BROKEN) == set(FINDING_KINDS) == set(CASES)


@pytest.mark.parametrize("kind", list(CASES))
def test_broken_impl_reports_exactly_its_kind(kind):
    """The broken impl for a kind yields exactly that finding (op, level, IPA) and v3 is ok on the same program."""
    text, expected = CASES[kind]
    verdict = run(text, {"broken": BROKEN[kind], "v3": V3})
    broken = verdict.results["broken"]
    assert findings(broken) == expected, [v.detail for v in broken.violations]
    assert broken.status == STATUS.get(kind, "violation")
    assert verdict.results["v3"].status == "ok"
    assert verdict.results["v3"].violations == []
    assert all(v.detail for v in broken.violations)


def test_broken_impls_name_their_bug():
    """Every broken implementation has a docstring that starts with the kind it targets."""
    for kind, fn in BROKEN.items():
        assert fn.__doc__ and fn.__doc__.startswith(kind + ":"), kind


def test_unlinked_tables_freed_without_flush_are_missing_tlbi_at_their_level():
    """With no flush at all, the removed pte and the freed pte and pmd tables are missing-tlbi at pte and pmd level."""
    verdict = run(ONE_PAGE, {"broken": BROKEN["missing-tlbi"], "v3": V3})
    assert findings(verdict.results["broken"]) == {("missing-tlbi", 1, "pte", 0x0),
                                                   ("missing-tlbi", 1, "pmd", 0x0)}


def test_later_flush_inside_the_translation_satisfies_the_tlb_check():
    """An early flush is forgiven when a later flush inside the translation follows the clear (clear_pmd_entry's)."""
    verdict = run(ONE_PAGE, {"broken": BROKEN["tlbi-order"], "v3": V3})
    assert verdict.results["broken"].status == "ok"


def test_freed_live_table_is_not_also_retained():
    """A reachable table that was freed is reported as freed-live-page only, never also as retained-empty-table."""
    verdict = run(ONE_PAGE, {"broken": BROKEN["freed-live-page"]})
    assert verdict.results["broken"].kinds == ("freed-live-page",)


def test_excess_refcount_suppresses_retained_empty_table():
    """A pte table kept alive only by a missing put is a refcount-mismatch, not also a retained-empty-table."""
    verdict = run(ONE_PAGE, {"broken": BROKEN["refcount-mismatch"]})
    assert verdict.results["broken"].kinds == ("refcount-mismatch",)


def test_leak_reported_once():
    """A leaked table is reported at the unmap that leaked it and not again at later unrelated operations."""
    text = ONE_PAGE + "map page 0x40000000\nunmap 0x80000000 0x1000\n"
    verdict = run(text, {"broken": BROKEN["leaked-table"]})
    assert findings(verdict.results["broken"]) == {("leaked-table", 1, "pte", 0x0)}


# -- correct implementations are clean ---------------------------------------------


def hand_programs(name, mode):
    """A few .ops texts that map pages (and blocks) and unmap them on one platform."""
    p = PLATFORMS[name]
    pg, pmd = p.page_size, 1 << p.pmd_shift
    a = 0x4000_0000
    head = f"platform {name}\nmode {mode}\n"
    texts = {
        "pages": f"map page {a + pg:#x}\nmap page {a + 2 * pg:#x}\n"
                 f"unmap {a + pg:#x} {pg:#x}\nunmap {a + 2 * pg:#x} {pg:#x}\n",
        "range": f"map page {a:#x}\nmap page {a + pmd + pg:#x}\nmap page {a + 3 * pmd:#x}\n"
                 f"unmap {a:#x} {2 * pmd:#x}\nunmap {a:#x} {4 * pmd:#x}\n",
        "pgdir-chunk": f"map page {pg:#x}\nmap page {a:#x}\nunmap 0x0 {1 << p.pgdir_shift:#x}\n",
    }
    if mode == "stage2":
        texts["blocks"] = (f"map pmd {a:#x}\nmap page {a + pmd:#x}\nmap pmd {a + 2 * pmd:#x}\n"
                           f"unmap {a + pmd // 2:#x} {pmd:#x}\nunmap {a + 2 * pmd + pg:#x} {pg:#x}\n")
        texts["teardown"] = (f"map page {pg:#x}\nmap pmd {a:#x}\nmap page 0x7f00000000\n"
                             f"unmap 0x0 {1 << 40:#x}\n")
        if "pud" in p.map_kinds(mode):
            texts["pud-block"] = (f"map pud {a:#x}\nmap page {2 * a + pg:#x}\n"
                                  f"unmap {a + pg:#x} {pg:#x}\nunmap 0x0 {1 << 40:#x}\n")
    return [(name, mode, key, head + text) for key, text in texts.items()]


HAND = [case for name in PLATFORMS for mode in ("stage2", "hyp") for case in hand_programs(name, mode)]


@pytest.mark.parametrize("name,mode,key,text", HAND, ids=[f"{n}-{m}-{k}" for n, m, k, _ in HAND])
def test_correct_impls_are_clean(name, mode, key, text):
    """v3, v3-pgdnone and the test copy of v3 are ok and agree on hand programs on every platform and mode."""
    verdict = run(text, {**CORRECT, "v3-copy": v3_copy})
    assert {n: r.violations for n, r in verdict.results.items()} == {n: [] for n in verdict.results}
    assert verdict.clean, verdict.divergences


# -- TLB findings are stage-2 only -------------------------------------------------


@pytest.mark.parametrize("name", list(PLATFORMS))
@pytest.mark.parametrize("kind", ["missing-tlbi", "tlbi-order"])
def test_hyp_never_reports_tlb_findings(name, kind):
    """With kvm == NULL no flush is expected: the flush-breaking impls are ok in hyp mode (and not in stage 2)."""
    pg = PLATFORMS[name].page_size
    body = f"map page {pg:#x}\nmap page {2 * pg:#x}\nunmap {pg:#x} {pg:#x}\nunmap 0x0 {4 * pg:#x}\n"
    hyp = run(f"platform {name}\nmode hyp\n" + body, {"broken": BROKEN[kind], "v3": V3})
    assert hyp.results["broken"].status == "ok"
    assert hyp.clean
    stage2 = run(f"platform {name}\nmode stage2\n" + body, {"broken": BROKEN[kind]})
    assert kind in stage2.results["broken"].kinds


# -- each defect once, at the operation that commits it ----------------------------


@pytest.mark.parametrize("name", list(PLATFORMS))
def test_hyp_remap_refcount_reported_once_at_the_map(name):
    """Remapping a hyp page over-counts its pte table: one refcount-mismatch at that map op, none later."""
    pg = PLATFORMS[name].page_size
    text = (f"platform {name}\nmode hyp\n"
            f"map page {pg:#x}\nmap page {pg:#x}\nunmap {pg:#x} {pg:#x}\n"
            f"map page {2 * pg:#x}\nunmap {pg:#x} {4 * pg:#x}\n")
    verdict = run(text, BUILTIN)
    for impl, result in verdict.results.items():
        assert [(v.kind, v.op, v.level) for v in result.violations] == [("refcount-mismatch", 1, "pte")], impl


def test_stage2_map_above_512gb_aliases_on_arm64_4k_39():
    """pgd_index masks on arm64-4k-39: mapping 0x8000001000 lands at IPA 0x1000, a map-mismatch at the map."""
    verdict = run("platform arm64-4k-39\nmode stage2\nmap page 0x8000001000\n", CORRECT)
    for result in verdict.results.values():
        assert findings(result) == {("map-mismatch", 0, "pte", 0x1000)}
        assert "0x8000001000" in result.violations[0].detail
    assert not verdict.divergent


def test_alias_adopted_as_baseline():
    """Unmapping the aliasing IPA removes the alias at 0x1000: over-unmapped, and the flushes of 0x8000001000 miss it."""
    text = "platform arm64-4k-39\nmode stage2\nmap page 0x8000001000\nunmap 0x8000001000 0x1000\n"
    verdict = run(text, {"v3": V3})
    assert findings(verdict.results["v3"]) == {("map-mismatch", 0, "pte", 0x1000),
                                              ("over-unmapped", 1, "pte", 0x1000),
                                              ("missing-tlbi", 1, "pte", 0x0),
                                              ("missing-tlbi", 1, "pmd", 0x0)}


def test_still_mapped_page_not_reported_again():
    """A page old leaves mapped is reported at that unmap only, not at later unrelated operations."""
    text = ("platform arm64-4k-39\nmode stage2\n"
            "map page 0x80001000\nunmap 0x0 0x100000000\n"
            "unmap 0x200000000 0x1000\nmap page 0x200000000\nunmap 0x200000000 0x1000\n")
    verdict = run(text, {"old": BUILTIN["old"], "v3": V3})
    assert findings(verdict.results["old"]) == {("still-mapped", 1, "pte", 0x80001000)}
    assert verdict.results["v3"].status == "ok"
