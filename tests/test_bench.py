"""Tests for unmapfuzz.bench: parsing, targets, medians, the teardown program, comparing reports, and tiny
runs of every measurement that check the report's structure and sanity, never its speed."""
import json
import math

import pytest

from unmapfuzz.bench.compare import compare, figures
from unmapfuzz.bench.measure import (
    BEHAVIOUR_DIR, BenchConfig, campaign_programs, corpus_targets, group_targets, measure_check_rate,
    measure_teardown, median, program_mix, repeat_share, run_bench, size_class, steady_rate, teardown_program,
)
from unmapfuzz.bench.render import render, render_compare
from unmapfuzz.campaign.libfuzzer import parse_libfuzzer
from unmapfuzz.cli import main as cli
from unmapfuzz.cli.bench import _finite
from unmapfuzz.generation.seeds import seed_bytes
from unmapfuzz.impls.model.platforms import PLATFORMS
from unmapfuzz.programs import Map, Program, Unmap, geometries
from unmapfuzz.reference.profiles import validate
from unmapfuzz.reference.translations import apply_map, apply_unmap
from unmapfuzz.verdict.signature import Signature

LIBFUZZER_OUTPUT = """\
INFO: Instrumenting impls
INFO: Seed: 1
INFO: A corpus is not provided, starting from an empty corpus
#2	INITED cov: 95 ft: 96 corp: 1/1b exec/s: 0 rss: 48Mb
#4	NEW    cov: 101 ft: 110 corp: 2/3b lim: 4 exec/s: 0 rss: 48Mb L: 2/2 MS: 2 ChangeBit-InsertByte-
#1024	pulse  cov: 226 ft: 387 corp: 15/77b lim: 8 exec/s: 512 rss: 50Mb
#1519	NEW    cov: 234 ft: 490 corp: 26/188b lim: 11 exec/s: 303 rss: 51Mb L: 11/11 MS: 5 CopyPart-
#1524	DONE   cov: 234 ft: 490 corp: 26/188b lim: 11 exec/s: 254 rss: 51Mb
###### Recommended dictionary. ######
"\\377\\377" # Uses: 97
###### End of recommended dictionary. ######
Done 1524 runs in 6 second(s)
stat::number_of_executed_units: 1524
stat::average_exec_per_sec:     254
stat::new_units_added:          26
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              52
"""

BEHAVIOUR_A = """\
unmapfuzz 1
platform arm64-4k-39
mode stage2
profile realistic
map page 0x80001000
unmap 0x0 0x100000000
expect old still-mapped
expect v2 ok
expect v3 ok
expect v3-pgdnone ok
"""

BEHAVIOUR_B = """\
unmapfuzz 1
platform arm32-lpae
mode stage2
profile realistic
map page 0x8000001000
unmap 0x8000000000 0x200000
expect old retained-empty-table
expect v2 freed-live-page
expect v3 freed-live-page
expect v3-pgdnone freed-live-page
"""


def test_parse_libfuzzer_final_stats():
    """The final stat:: lines give executions, average rate and peak RSS; the status lines give cov and exec/s."""
    stats = parse_libfuzzer(LIBFUZZER_OUTPUT)
    assert stats["executions"] == 1524
    assert stats["average_exec_per_sec"] == 254
    assert stats["peak_rss_mb"] == 52
    assert stats["new_units_added"] == 26
    assert stats["status_exec_per_sec"] == 254
    assert stats["cov"] == 234
    assert (stats["done_runs"], stats["done_seconds"]) == (1524, 6)


def test_parse_libfuzzer_without_final_stats():
    """A run killed before its final stats falls back to the last status line's count and RSS."""
    cut = LIBFUZZER_OUTPUT.split("#1524")[0]
    stats = parse_libfuzzer(cut)
    assert stats["executions"] == 1519
    assert stats["average_exec_per_sec"] is None
    assert stats["peak_rss_mb"] == 51
    assert stats["status_exec_per_sec"] == 303


def test_parse_libfuzzer_of_nothing():
    """Output with no libFuzzer lines parses to all-None, not an exception."""
    assert set(parse_libfuzzer("Traceback (most recent call last):\nImportError: x\n").values()) == {None}


def test_steady_rate_uses_arrival_times_of_status_lines():
    """The steady rate is executions between the first and last status lines over their arrival times."""
    lines = LIBFUZZER_OUTPUT.splitlines()
    stamped = [(10.0, lines[0]), (11.0, lines[3]), (12.0, lines[5]), (13.0, lines[7]), (13.5, lines[-1])]
    assert steady_rate(stamped) == pytest.approx((1524 - 2) / (13.0 - 11.0))
    assert steady_rate(stamped[:2]) is None


def test_median():
    """The median ignores None, averages the middle pair, and is infinite once half the values are."""
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    assert median([None, 5.0, None]) == 5.0
    assert median([]) is None and median([None]) is None
    assert median([1.0, math.inf, 2.0]) == 2.0
    assert median([1.0, math.inf]) == math.inf
    assert median([math.inf, math.inf, 1.0]) == math.inf


def test_corpus_targets_from_a_directory(tmp_path):
    """Each expect line with kinds becomes IMPL/KIND/PLATFORM/MODE/LEVEL, the level from check, deduplicated."""
    (tmp_path / "a.ops").write_text(BEHAVIOUR_A)
    (tmp_path / "a-again.ops").write_text("# the same finding from another file\n" + BEHAVIOUR_A)
    (tmp_path / "b.ops").write_text(BEHAVIOUR_B)
    (tmp_path / "broken.ops").write_text("unmapfuzz 1\nmap nonsense\n")
    targets = corpus_targets(tmp_path)
    by_sig = {t["signature"]: t for t in targets}
    assert set(by_sig) == {
        "old/still-mapped/arm64-4k-39/stage2/pte",
        "old/retained-empty-table/arm32-lpae/stage2/pmd",
        "v2/freed-live-page/arm32-lpae/stage2/pgd",
        "v3/freed-live-page/arm32-lpae/stage2/pgd",
        "v3-pgdnone/freed-live-page/arm32-lpae/stage2/pgd",
    }
    assert by_sig["old/still-mapped/arm64-4k-39/stage2/pte"]["files"] == ["a-again.ops", "a.ops"]
    groups = group_targets(targets)
    assert list(groups) == [("arm32-lpae", "stage2", "realistic"), ("arm64-4k-39", "stage2", "realistic")]
    assert len(groups[("arm32-lpae", "stage2", "realistic")]) == 4


def test_corpus_targets_of_the_behaviour_corpus():
    """Every target of corpus/behaviour is a well-formed signature matching its group and naming its files."""
    targets = corpus_targets(BEHAVIOUR_DIR)
    assert targets
    for t in targets:
        sig = Signature.parse(t["signature"])
        assert (sig.platform, sig.mode) == (t["platform"], t["mode"])
        assert t["profile"] in ("realistic", "adversarial")
        assert all((BEHAVIOUR_DIR / f).is_file() for f in t["files"])


def test_size_classes_and_mix():
    """Unmaps are classed page / up to a pmd / bigger / whole space, and the mix counts ops by kind."""
    program = Program("arm64-4k-39", "stage2", (
        Map("page", 0x1000), Unmap(0x1000, 0x1000), Unmap(0x0, 0x200000), Unmap(0x0, 0x400000),
        Unmap(0x0, 1 << 40)), "realistic")
    assert [size_class(program, op.ipa, op.size) for op in program.ops[1:]] == ["page", "pmd", "bigger", "whole"]
    mix = program_mix(program)
    assert (mix["programs"], mix["ops"], mix["maps"], mix["unmaps"]) == (1, 5, 1, 4)
    assert all(mix["unmap_" + c] == 1 for c in ("page", "pmd", "bigger", "whole"))


def test_check_rate_smoke():
    """A handful of programs yields positive counts, rates and implementation shares (values are not judged)."""
    r = measure_check_rate("arm64-4k-39", "stage2", "realistic", programs=5, seed=1)
    assert r["programs"] == 5 and r["mix"]["programs"] == 5
    assert r["mix"]["ops"] >= 5
    assert r["checks_per_second"] > 0 and r["random_per_second"] > 0
    assert r["invalid"] == 0
    assert set(r["impl_seconds"]) == {"old", "v2", "v3", "v3-pgdnone", "model", "oracle", "rest"}
    assert r["impl_seconds"]["v3"] > 0 and r["impl_seconds"]["oracle"] > 0
    assert all(v >= 0 for v in r["impl_seconds"].values())


@pytest.fixture(scope="module")
def tiny_report():
    """One run of every measurement but atheris and time to first, each small: a 6 s campaign, a teardown
    of 20 mappings.  (A 3 s campaign once counted no execution while the suite shared the machine at load
    5: a worker stopped at ``--time`` before libFuzzer's first status line counts none.  Not reproduced
    since, even at load 10; 6 s leaves start-up more slack for 3 s more.)"""
    cfg = BenchConfig(seeds=1, programs=3, examples=3, skip_atheris=True, skip_ttff=True, campaign_seconds=6,
                      teardown_mappings=20, teardown_repeats=1, command="unmapfuzz bench --test")
    return run_bench(cfg)


def test_report_renders_and_is_json(tiny_report):
    """A tiny report renders with its command line first and every section, and serialises as strict JSON."""
    report = tiny_report
    assert report["check"][0]["checks_per_second"] > 0
    assert report["hypothesis"]["examples_per_second"] > 0
    text = render(report)
    assert text.splitlines()[0] == "$ unmapfuzz bench --test"
    for heading in ("Program mix", "nproc", "Real atheris campaigns", "campaign corpus, arm64-4k-39/stage2",
                    "Teardown: 20 maps", "fast paths off"):
        assert heading in text
    json.dumps(_finite(report), allow_nan=False)


def test_report_of_a_real_campaign(tiny_report):
    """The campaign row has the campaign's own rate and the check() rate of its decoded inputs, all positive."""
    row, = tiny_report["campaigns"]["rows"]
    assert (row["platform"], row["mode"], row["jobs"]) == ("arm64-4k-39", "stage2", 1)
    assert row["errors"] == [], row["errors"]
    assert row["command"].startswith("unmapfuzz fuzz --engine atheris --platform arm64-4k-39 --mode stage2")
    assert row["exec_per_second"] > 0 and row["per_job"] == row["exec_per_second"] and row["executions"] > 0
    run, = row["runs"]
    assert run["exit"] in (0, 1) and run["elapsed_seconds"] > 0
    inputs = run["inputs"]
    assert inputs["inputs"] >= inputs["seed_inputs"] > 0         # seeded from corpus/, as every campaign
    assert 0 < inputs["programs"] <= 3 and inputs["mix"]["programs"] == inputs["programs"]
    assert inputs["invalid"] == 0 and inputs["checks_per_second"] > 0
    assert row["check"]["checks_per_second"] > 0 and row["check"]["mean_input_bytes"] > 0
    assert row["repeat_share"] is None or 0 <= row["repeat_share"] <= 1


def test_report_of_the_teardown(tiny_report):
    """The teardown row has positive times each way, a consistent split, and names what its verdict showed."""
    row, = tiny_report["teardown"]["rows"]
    assert (row["platform"], row["mode"], row["space"], row["mappings"], row["ops"]) == \
        ("arm64-4k-39", "stage2", 1 << 40, 20, 21)
    assert row["seconds"] > 0 and row["slow_seconds"] > 0 and row["maps_seconds"] > 0
    assert row["unmap_seconds"] == pytest.approx(row["seconds"] - row["maps_seconds"])
    assert row["slow_ratio"] == pytest.approx(row["slow_seconds"] / row["seconds"])
    assert all(Signature.parse(sig) for sig in row["signatures"])


@pytest.mark.parametrize("platform,mode", geometries())
def test_teardown_program_maps_the_whole_space_then_unmaps_it(platform, mode):
    """The teardown is realistic-valid at 20 and at 1,000 mappings, each map a leaf of its own, and its unmap
    covers the whole space and leaves nothing mapped."""
    space = PLATFORMS[platform].space(mode)
    for mappings in (20, 1000):
        program = teardown_program(platform, mode, mappings)
        assert validate(program, "realistic") is None
        *maps, unmap = program.ops
        assert len(maps) == mappings and all(isinstance(op, Map) for op in maps)
        assert unmap == Unmap(0, space)
        kinds = {op.kind for op in maps}
        assert kinds == ({"page"} if mode == "hyp" else {"page", "pmd"})
        leaves = {}
        for op in maps:
            apply_map(leaves, op.ipa, PLATFORMS[platform].map_shift(op.kind), op.output_address())
        assert len(leaves) == mappings
        assert maps[-1].ipa > space // 2          # spread over the space, not packed at its start
        apply_unmap(leaves, unmap.ipa, unmap.ipa + unmap.size)
        assert leaves == {}


def test_teardown_program_that_does_not_fit():
    """More mappings than the space has slots for is a ValueError, not an invalid program."""
    with pytest.raises(ValueError, match="do not fit"):
        teardown_program("arm64-64k-42", "stage2", 2000)


def test_measure_teardown_on_a_64k_hyp_space():
    """On 64K-48 hyp the teardown spans 256 TB, past GUEST_PA_LIMIT, and is timed both ways with the same verdict."""
    r = measure_teardown("arm64-64k-48", "hyp", mappings=20, repeats=2)
    assert r["space"] == 1 << 48 and r["repeats"] == 2 and len(r["runs"]["slow_seconds"]) == 2
    assert r["seconds"] > 0 and r["slow_seconds"] > 0 and r["maps_seconds"] > 0


def test_campaign_programs_decode_as_the_workers_do(tmp_path):
    """Corpus inputs decode under the summary's configuration (selector byte and all), sampled to the limit;
    an empty input of a several-pair campaign stands for no program."""
    programs = [Program("arm64-64k-42", mode, (Map("page", 0x10000 * i), Unmap(0, 0x10000 * (i + 1))), "realistic")
                for mode in ("stage2", "hyp") for i in range(1, 4)]
    corpus = tmp_path / "corpus" / "arm64-64k-42-all-realistic"
    corpus.mkdir(parents=True)
    for n, program in enumerate(programs):
        (corpus / f"{'seed-' if n < 2 else ''}{n:02d}").write_bytes(seed_bytes(program, "arm64-64k-42", "all"))
    (corpus / "99-empty").write_bytes(b"")
    summary = {"platform": "arm64-64k-42", "mode": "all", "profile": "realistic"}
    found, about = campaign_programs(tmp_path, summary)
    assert sorted(found, key=repr) == sorted(programs, key=repr)
    assert (about["inputs"], about["seed_inputs"], about["undecoded"]) == (7, 2, 1)
    assert about["mean_input_bytes"] > 0
    sampled, _ = campaign_programs(tmp_path, summary, limit=3)
    assert len(sampled) == 3 and all(p in programs for p in sampled)


def test_repeat_share_from_the_workers_stats(tmp_path):
    """The repeat share pools the atheris workers' stats files; without any it is None."""
    assert repeat_share(tmp_path) is None
    (tmp_path / "stats").mkdir()
    (tmp_path / "stats" / "atheris.1.json").write_text(json.dumps({"execs": 100, "repeats": 60}))
    (tmp_path / "stats" / "atheris.2.json").write_text(json.dumps({"execs": 300, "repeats": 100}))
    (tmp_path / "stats" / "atheris.3.json").write_text("{cut off")
    assert repeat_share(tmp_path) == pytest.approx(160 / 400)


def _report(check_rate, teardown_seconds, campaigns=True):
    report = {"command": "unmapfuzz bench", "date": "d", "settings": {},
              "check": [{"platform": "arm64-4k-39", "mode": "stage2", "checks_per_second": check_rate,
                         "random_per_second": None}],
              "hypothesis": None, "atheris": None, "ttff": None,
              "teardown": {"rows": [{"platform": "arm64-4k-39", "mode": "stage2", "space": 1 << 40, "mappings": 1000,
                                     "seconds": teardown_seconds, "slow_seconds": None}]}}
    if campaigns:
        report["campaigns"] = {"rows": [{"platform": "arm64-4k-39", "mode": "stage2", "jobs": 1,
                                         "exec_per_second": 150.0, "per_job": 150.0,
                                         "check": {"checks_per_second": 300.0}}]}
    return report


def test_compare_speedups_point_the_same_way():
    """A higher rate and a shorter duration are both speed-ups above 1; a figure only one report has is kept
    with a blank on the other side."""
    before = _report(400.0, 2.0, campaigns=False)     # an older report, without campaigns
    after = _report(800.0, 0.5)
    rows = {r["key"]: r for r in compare(before, after)}
    assert rows["check/arm64-4k-39/stage2"]["speedup"] == pytest.approx(2.0)
    assert rows["teardown/arm64-4k-39/stage2/1000"]["speedup"] == pytest.approx(4.0)
    assert rows["campaign/arm64-4k-39/stage2"]["before"] is None
    assert rows["campaign/arm64-4k-39/stage2"]["speedup"] is None
    assert rows["random/arm64-4k-39/stage2"]["after"] is None
    assert list(rows)[:2] == list(figures(after))[:2]
    table = render_compare(compare(before, after), before, after)
    assert "| check(), generator's mix, arm64-4k-39/stage2 | 400/s | 800/s | x2.00 |" in table
    assert "| 2.00 s | 0.50 s | x4.00 |" in table


def test_compare_a_report_with_itself(tiny_report):
    """Every figure of a real report compared with itself is a speed-up of exactly 1."""
    report = json.loads(json.dumps(_finite(tiny_report)))
    rows = compare(report, report)
    assert len(rows) >= 6
    assert all(r["speedup"] == pytest.approx(1.0) for r in rows if r["before"])


def test_bench_from_and_compare_on_the_command_line(tmp_path, capsys):
    """--from renders a saved report without measuring; with --compare it adds the Markdown table; an
    unreadable report is a usage error (exit 2)."""
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(_report(400.0, 2.0, campaigns=False)))
    saved = _report(800.0, 0.5)
    saved["settings"] = {"seeds": [0], "programs": 3, "examples": 3, "atheris_seconds": None, "ttff_seconds": None,
                         "profile": "realistic", "max_ops": 12, "engines": []}
    saved["machine"] = {"nproc": 2, "system": "Linux", "implementation": "CPython", "python": "3.11"}
    saved["check"][0].update(mix={}, invalid=0, with_findings=0, impl_share={})
    saved["campaigns"]["rows"][0].update(repeat_share=None, errors=[], command="unmapfuzz fuzz")
    saved["campaigns"].update(seconds=30)
    saved["teardown"].update(mappings=1000, repeats=1)
    saved["teardown"]["rows"][0].update(maps_seconds=0.25, unmap_seconds=0.25, slow_ratio=None, signatures=[])
    after.write_text(json.dumps(saved))
    assert cli.main(["bench", "--from", str(after), "--compare", str(before)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("$ unmapfuzz bench\n") and "| figure | before | after | speed-up |" in out
    assert cli.main(["bench", "--from", str(after), "--compare", str(before), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["compare"]["rows"]
    assert cli.main(["bench", "--compare", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_bench_refuses_a_teardown_that_does_not_fit(capsys):
    """Too many mappings for a platform's space is a usage error before anything is measured."""
    assert cli.main(["bench", "--platform", "arm64-64k-42", "--teardown-mappings", "5000"]) == 2
    assert "do not fit" in capsys.readouterr().err
