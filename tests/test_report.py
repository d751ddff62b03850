"""The campaign report: the data it shows, the page it writes, and that page in a real browser."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from unmapfuzz.campaign.merge import merge, origin_of
from unmapfuzz.campaign.report import ReportError, report_data, write_report
from unmapfuzz.programs import MODES, PLATFORMS

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("UNMAPFUZZ_TEST_ARTIFACTS", ROOT / "out" / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def merged(two_campaigns, tmp_path_factory):
    out = tmp_path_factory.mktemp("merged") / "out"
    merge(list(two_campaigns), out, corpus=False)
    return out


def test_every_campaign_ends_with_its_report(two_campaigns):
    """A finished campaign leaves OUT/report.html naming each of its buckets."""
    for out in two_campaigns:
        page = (out / "report.html").read_text()
        for bucket in json.loads((out / "summary.json").read_text())["buckets"]:
            assert bucket["signature"] in page


def test_a_merged_report_shows_both_campaigns(merged, two_campaigns):
    """The report of a merge has one plotted run per campaign and the union of their buckets, each explained."""
    data = report_data(merged)
    assert {key[0] for key in data["runs"]} == {origin_of(d) for d in two_campaigns}
    union = set()
    for d in two_campaigns:
        union |= {b["signature"] for b in json.loads((d / "summary.json").read_text())["buckets"]}
    assert {b["signature"] for b in data["buckets"]} == union
    assert all(b["explanation"] and not b["explanation"].startswith("(no explanation") for b in data["buckets"])
    assert len(data["campaigns"]) == 2


def test_the_report_shows_where_the_time_went_by_platform_and_mode(merged, two_campaigns):
    """Each campaign's summary splits its harness's work by platform/mode, every geometry it ran
    there; a merge sums them; the page lists them, most time first."""
    summaries = [json.loads((d / "summary.json").read_text()) for d in two_campaigns]
    for s in summaries:
        split = s["geometries"]
        assert set(split) == {f"{p}/{m}" for p in PLATFORMS for m in MODES}, split.keys()
        assert 0 < sum(g["programs"] for g in split.values()) <= s["executions"]
        assert all(g["programs_per_second"] == round(g["programs"] / g["seconds"], 1) for g in split.values())
    data = report_data(merged)
    rows = {r["geometry"]: r for r in data["geometries"]}
    for where, row in rows.items():
        assert row["programs"] == sum(s["geometries"].get(where, {}).get("programs", 0) for s in summaries)
    seconds = [r["seconds"] for r in data["geometries"]]
    assert seconds == sorted(seconds, reverse=True)
    assert abs(sum(r["share"] for r in data["geometries"]) - 1) < 1e-6
    page = write_report(merged).read_text()
    section = page[page.index("Where the time went"):page.index("<h2>Buckets")]
    assert [where for where in rows if where in section] == list(rows)
    assert section.index(data["geometries"][0]["geometry"]) < section.index(data["geometries"][-1]["geometry"])


def test_a_summary_from_before_the_split_says_it_was_not_recorded(tmp_path, two_campaigns):
    """A campaign whose summary.json has no geometries (written by an older unmapfuzz) still
    reports, and its table says the split was not recorded rather than showing nothing."""
    out = tmp_path / "old"
    shutil.copytree(two_campaigns[1], out)
    summary = json.loads((out / "summary.json").read_text())
    del summary["geometries"]
    for run in summary["runs"]:
        run.pop("geometries", None)
    (out / "summary.json").write_text(json.dumps(summary))
    assert report_data(out)["geometries"] == []
    page = write_report(out, tmp_path / "r.html").read_text()
    assert "Not recorded" in page[page.index("Where the time went"):page.index("<h2>Buckets")]


def test_new_buckets_come_first_and_are_marked(tmp_path, two_campaigns):
    """Judged against an empty known list, every bucket is new: the verdict says so and each row is marked NEW."""
    out = tmp_path / "out"
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    merge([two_campaigns[1]], out, corpus=False, known=str(empty))
    page = write_report(out).read_text()
    n = len(report_data(out)["buckets"])
    assert f"{n} new findings" in page
    assert page.count('<span class="chip new">NEW</span>') == n


def test_the_page_needs_no_network(merged, tmp_path):
    """The page loads nothing from anywhere: no external scripts, stylesheets or fonts, plotly.js inlined."""
    page = write_report(merged, tmp_path / "r.html").read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert "Plotly" in page and "campaign-plots" in page


def test_report_errors_are_one_line_exit_2(tmp_path):
    """A missing directory, or one with no summary, exits 2 with one line naming it."""
    (tmp_path / "empty").mkdir()
    for target in ("nope", "empty"):
        proc = subprocess.run([sys.executable, "-m", "unmapfuzz", "report", target], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and target in proc.stderr
    with pytest.raises(ReportError, match="summary.json: missing"):
        report_data(tmp_path / "empty")


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("UNMAPFUZZ_REQUIRE_BROWSER"),
                    reason="chromium is not installed (.ci/run installs Debian's chromium)")
def test_the_report_renders_in_headless_chromium(merged):
    """In headless Chromium the merged report loads without console errors, its plots draw a line for each
    campaign run and the buckets, and a screenshot is written as a test artifact."""
    assert CHROMIUM, "UNMAPFUZZ_REQUIRE_BROWSER is set and there is no chromium"
    from playwright import sync_api as playwright
    page_path = write_report(merged, ARTIFACTS / "report.html")
    errors = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.resolve().as_uri())
            page.wait_for_selector("#campaign-plots .scatterlayer .trace", timeout=60_000)
            lines = page.eval_on_selector_all(
                "#campaign-plots .scatterlayer .trace path.js-line",
                "els => els.map(e => (e.getAttribute('d') || '').length)")
            rows = page.eval_on_selector_all("table.buckets tr", "els => els.length")
            shot = ARTIFACTS / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    print(f"\nreport screenshot: {shot}")
    assert errors == []
    # executions of two runs, coverage of the atheris run, the bucket curve: each a drawn path
    assert len(lines) >= 4 and all(length > 10 for length in lines), lines
    assert rows == len(report_data(merged)["buckets"]) + 1
    assert shot.stat().st_size > 50_000
