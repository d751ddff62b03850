"""Tests for unmapfuzz.bench.mutants and bench --mutants: every mutant of v3 applies, loads and is flagged new.

Issue 7: a copy of impls/v3.py with one plausible kernel bug, passed as
``--impl``, must come out of a campaign as a *new* bucket.  Here that is
checked without a clock: a fixed list of generated programs (every platform
and mode) goes through ``check()`` with the mutant beside the baseline, and
the mutant must show a new signature of its own within it.  Two runs of the
real command line (a deterministic ``--runs`` campaign, and ``bench
--mutants`` on a few mutants) check the same end to end.
"""
import functools
import json
import random
import re
import subprocess
import sys

import pytest

from unmapfuzz.bench.mutants import (
    ALL, CONTROL, CONTROL_NEWS, EQUIVALENT, MUTATIONS, Mutation, MutationError, by_name, mutant_news,
    mutant_source, tail, v3_source, write_mutant,
)
from unmapfuzz.bench.render import render_mutants
from unmapfuzz.generation.generator import draw_program
from unmapfuzz.generation.sources import RandomSource
from unmapfuzz.impls import BUILTIN, load_impl
from unmapfuzz.programs import geometries
from unmapfuzz.verdict.check import check
from unmapfuzz.verdict.known import load_known, new_signatures

SEED = 0
ROUNDS = {"realistic": 40, "adversarial": 60}
"""Programs per (platform, mode) each mutant gets to show itself in.  Over seeds 0-19 the
slowest mutant needed 8 rounds of realistic programs and 23 of adversarial ones."""


@functools.lru_cache(maxsize=None)
def programs(profile: str) -> tuple:
    """ROUNDS[profile] programs for each of the 10 (platform, mode) pairs, interleaved, from one seed."""
    rng = random.Random(SEED)
    return tuple(draw_program(RandomSource(rng), platform, mode, profile)
                 for _ in range(ROUNDS[profile]) for platform, mode in geometries())


@pytest.fixture(scope="module")
def mutant_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mutants")
    for m in (CONTROL, *ALL):
        write_mutant(m, directory)
    return directory


def load(m: Mutation, directory) -> callable:
    return load_impl(f"mut={directory / (m.name.replace('-', '_') + '.py')}")[1]


def own_news(fn, profile: str, limit: int | None = None):
    """(index, signatures) of the first program where ``fn`` has a new signature the
    unmodified copy would not have, or None."""
    patterns = load_known(profile=profile)
    for i, program in enumerate(programs(profile)[:limit]):
        news = mutant_news(new_signatures(check(program, {"mut": fn}, profile, finals=False), patterns))
        if news:
            return i, news
    return None


# -- the table ---------------------------------------------------------------------------------

@pytest.mark.parametrize("m", [CONTROL, *ALL], ids=lambda m: m.name)
def test_every_edit_applies_once_and_loads_as_an_impl(m, tmp_path):
    """Each mutation's text occurs exactly once in v3.py, and the mutant loads as an --impl."""
    source, text = v3_source(), mutant_source(m)
    if m is CONTROL:
        assert text.endswith(source)
    else:
        assert source.count(m.old) == 1 and m.new in text and not text.endswith(source)
    name, fn = load_impl(f"mine={write_mutant(m, tmp_path)}")
    assert name == "mine" and callable(fn) and fn not in BUILTIN.values()


def test_the_table_is_well_formed():
    """Names are unique and no built-in's; every edit changes the text; categories and reaches are known."""
    names = [m.name for m in (CONTROL, *ALL)]
    assert len(set(names)) == len(names)
    assert not set(names) & set(BUILTIN)
    assert len(MUTATIONS) >= 20
    for m in ALL:
        assert m.old != m.new and m.bug and m.reach in ("realistic", "adversarial")
        assert m.category in ("flush", "put_page", "emptiness", "addr_end", "clear address", "loop", "branch")
    assert all(m.equivalent for m in EQUIVALENT) and not any(m.equivalent for m in MUTATIONS)
    assert {m.category for m in MUTATIONS} == {"flush", "put_page", "emptiness", "addr_end", "clear address",
                                                "loop", "branch"}
    assert by_name("pte-no-flush") is MUTATIONS[0]
    with pytest.raises(KeyError):
        by_name("no-such-mutant")


def test_the_mutants_come_from_v3s_own_text():
    """v3_source() is the installed impls/v3.py, and the control is it under a comment header."""
    import unmapfuzz.impls.v3 as v3
    with open(v3.__file__, encoding="utf-8") as f:
        assert v3_source() == f.read()
    control = mutant_source(CONTROL)
    assert control.endswith(v3_source()) and control.startswith("# Mutant v3-copy")


def test_an_edit_that_no_longer_fits_v3_is_an_error():
    """An edit whose text is missing, or occurs twice, raises MutationError instead of being skipped."""
    m = by_name("pte-no-flush")
    with pytest.raises(MutationError, match="occurs 0 times"):
        mutant_source(m, v3_source().replace(m.old, ""))
    with pytest.raises(MutationError, match="occurs 2 times"):
        mutant_source(m, v3_source() + m.old)


def test_slow_mutants_take_every_fast_path_out():
    """A slow mutant calls no k.skip_none_*() helper; the others keep v3's."""
    for m in ALL:
        assert bool(re.search(r"k\.skip_none_\w+\(", mutant_source(m))) != m.slow, m.name


# -- flagged new, deterministically -------------------------------------------------------------

@pytest.mark.parametrize("m", MUTATIONS, ids=lambda m: m.name)
def test_each_mutant_is_flagged_new(m, mutant_dir):
    """Within the fixed programs of its reach, the mutant shows a new signature the unmodified copy does not."""
    found = own_news(load(m, mutant_dir), m.reach)
    assert found is not None, f"{m.name} ({m.bug}) is never flagged new in {len(programs(m.reach))} programs"
    _, news = found
    assert all(s.startswith("mut/") and tail(s) not in CONTROL_NEWS for s in news)


def test_the_unmodified_copy_shows_only_v3s_own_bug(mutant_dir):
    """The control's new signatures are exactly CONTROL_NEWS: v3 without the 3.19 pgd_none() fix."""
    fn, patterns = load(CONTROL, mutant_dir), load_known(profile="realistic")
    seen = set()
    for program in programs("realistic"):
        seen |= {tail(s) for s in new_signatures(check(program, {"mut": fn}, "realistic", finals=False), patterns)}
    assert seen == CONTROL_NEWS


@pytest.mark.parametrize("m", EQUIVALENT, ids=lambda m: m.name)
def test_equivalent_edits_are_never_flagged(m, mutant_dir):
    """An edit listed as equivalent shows nothing of its own on any of the realistic programs."""
    assert own_news(load(m, mutant_dir), "realistic") is None


@pytest.mark.parametrize("m", [m for m in MUTATIONS if m.reach == "adversarial"], ids=lambda m: m.name)
def test_huge_pud_mutants_are_out_of_reach_of_realistic_programs(m, mutant_dir):
    """A bug in unmap_puds()'s pud-block path cannot show in realistic programs, which map no pud block."""
    assert own_news(load(m, mutant_dir), "realistic") is None


@pytest.mark.parametrize("m", [CONTROL, *(m for m in ALL if not m.slow)], ids=lambda m: m.name)
def test_mutants_that_keep_the_fast_paths_judge_the_same_without_them(m, mutant_dir):
    """A mutant that keeps v3's k.skip_none_*() calls has the same findings and the same steps
    per operation with fast=False: the fast paths still do exactly what its loops do."""
    fn = load(m, mutant_dir)
    for profile in ("realistic", "adversarial"):
        for program in programs(profile)[:40]:
            a, b = (check(program, {"mut": fn}, profile, fast=fast, finals=False) for fast in (True, False))
            assert [f.to_json() for f in a.findings] == [f.to_json() for f in b.findings], program
            assert [(r.to_json(), r.steps) for r in a.results.values()] == \
                [(r.to_json(), r.steps) for r in b.results.values()], program


# -- end to end -----------------------------------------------------------------------------------

def test_a_campaign_flags_a_mutant_new(tmp_path):
    """A deterministic random campaign with a mutant as --impl exits 1 and names its new buckets."""
    impl = write_mutant(by_name("pmd-empty-pte-test"), tmp_path / "impls")
    proc = subprocess.run([sys.executable, "-m", "unmapfuzz", "fuzz", "--engine", "random", "--runs", "150",
                           "--jobs", "1", "--impl", f"mut={impl}", "--out", str(tmp_path / "out"), "--json", "-q",
                           "--no-minimize"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    summary = json.loads(proc.stdout)
    assert mutant_news(summary["new_for_user"]), summary["new_for_user"]
    assert all(s.startswith("mut/") for s in summary["new_for_user"])


def test_bench_mutants_measures_through_the_command_line(tmp_path):
    """bench --mutants runs one campaign per mutant and the control, and reports flagged, signatures, timing."""
    proc = subprocess.run([sys.executable, "-m", "unmapfuzz", "bench", "--mutants", "--only",
                           "pte-no-put,pte-put-before-clear", "--campaign-engine", "random", "--campaign-runs", "60",
                           "--campaign-jobs", "1", "--keep", str(tmp_path / "keep"), "--json", "-q"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    rows = {r["name"]: r for r in report["rows"]}
    assert list(rows) == ["v3-copy", "pte-no-put", "pte-put-before-clear"]
    assert all(r["exit"] == 1 for r in rows.values())          # the copy itself is news against v3-pgdnone
    assert rows["v3-copy"]["new"] == ["v3-copy/" + s for s in sorted(CONTROL_NEWS)]
    assert not rows["v3-copy"]["flagged"] and not rows["pte-put-before-clear"]["flagged"]
    hit = rows["pte-no-put"]
    assert hit["flagged"] and hit["news"] and all(s.startswith("pte-no-put/") for s in hit["news"])
    assert hit["first_news_seconds"] is not None and hit["first_news_seconds"] >= 0
    assert report["totals"]["in_reach"] == report["totals"]["flagged"] == 1
    assert (tmp_path / "keep" / "campaigns" / "pte-no-put" / "summary.json").is_file()
    assert "pte-no-put" in render_mutants(report)


@pytest.mark.parametrize("args, message", [
    (["--only", "pte-no-put"], "--only applies only with --mutants"),
    (["--mutants", "--only", "no-such-mutant"], "no mutant 'no-such-mutant'"),
])
def test_bench_mutant_options_are_checked(args, message):
    """Mutant options without --mutants, and unknown mutant names, are usage errors (exit 2)."""
    proc = subprocess.run([sys.executable, "-m", "unmapfuzz", "bench", *args], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
