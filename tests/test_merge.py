"""Merging campaign directories: buckets, counts, logs, corpora and summaries made whole, idempotently."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import unmapfuzz.campaign.merge as merge_module
from unmapfuzz.campaign.merge import MergeError, merge, merged_meta, origin_of
from unmapfuzz.campaign.store import read_buckets, slug
from unmapfuzz.verdict.signature import Signature

SIG = Signature("old", "still-mapped", "arm64-4k-39", "stage2", "pte")
PROGRAM = "platform arm64-4k-39\nmode stage2\nprofile realistic\nmap page 0x80001000\nunmap 0x0 0x100000000\n"
LONGER = PROGRAM.replace("unmap 0x0", "map page 0x80002000\nunmap 0x0")


def make_campaign(root: Path, name: str, *, first_seen: float, counts: dict, first: str = PROGRAM,
                  minimized: str | None = None, extra: dict | None = None, meta: dict | None = None,
                  log: list | None = None) -> Path:
    """A campaign directory as a campaign leaves it, with one bucket of SIG."""
    out = root / name
    bucket = out / "findings" / slug(SIG)
    bucket.mkdir(parents=True)
    (bucket / "meta.json").write_text(json.dumps(dict(SIG.to_json(), first_seen=first_seen, **(meta or {}))))
    (bucket / "first.ops").write_text(first)
    if minimized is not None:
        (bucket / "minimized.ops").write_text(minimized)
    for pid, count in counts.items():
        (bucket / f"count.{pid}.json").write_text(json.dumps({"count": count, "last_seen": first_seen + count}))
    for fname, text in (extra or {}).items():
        (bucket / fname).write_text(text)
    events = log if log is not None else [
        {"event": "start", "timestamp": f"2026-11-2{int(first_seen) % 10}T00:00:00.000001Z", "pid": 1, "engine": name},
        {"event": "progress", "timestamp": f"2026-11-2{int(first_seen) % 10}T00:00:03.000001Z", "pid": 1,
         "executions": 100, "coverage": 10, "buckets": 1, "new": 0, "elapsed": 3.0}]
    (out / "log.jsonl").write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in events))
    (out / "summary.json").write_text(json.dumps({"engine": "random", "platform": "arm64-4k-39", "mode": "stage2",
                                                  "profile": "realistic", "jobs": 1, "seed": 0, "executions": 100,
                                                  "invalid": 0, "coverage": 0, "elapsed_seconds": 3.0,
                                                  "exec_per_second": 33.3, "finished": True, "buckets": []}))
    return out


def tree(directory: Path) -> dict:
    """Every file under ``directory`` with the hash of its bytes."""
    return {str(p.relative_to(directory)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_buckets_unite_with_counts_first_seen_and_the_smaller_reproducer(tmp_path):
    """Two machines' buckets of one signature merge into one: count files from the same pid on each machine
    both kept, first_seen the earliest with its first.ops and fields, the smaller minimized.ops, unknown files kept."""
    a = make_campaign(tmp_path, "a", first_seen=5.0, counts={100: 3}, first=LONGER, minimized=PROGRAM,
                      meta={"baseline": "v3"}, extra={"first-new.ops": LONGER, "notes.txt": "from a"})
    b = make_campaign(tmp_path, "b", first_seen=2.0, counts={100: 5}, first=PROGRAM, minimized=LONGER,
                      meta={"impls": ["old", "v3"]}, extra={"first-new.ops": PROGRAM, "notes.txt": "from b"})
    merge([a, b], tmp_path / "out", corpus=False)
    bucket = tmp_path / "out" / "findings" / slug(SIG)
    [merged] = read_buckets(tmp_path / "out")
    assert merged["count"] == 8 and merged["first_seen"] == 2.0
    assert sorted(p.name for p in bucket.glob("count.*.json")) == sorted(
        [f"count.100@{origin_of(a)}.json", f"count.100@{origin_of(b)}.json"])
    assert (bucket / "first.ops").read_text() == PROGRAM          # b's: seen first
    assert (bucket / "first-new.ops").read_text() == PROGRAM
    assert (bucket / "minimized.ops").read_text() == PROGRAM      # a's: fewer ops
    meta = json.loads((bucket / "meta.json").read_text())
    assert meta["impls"] == ["old", "v3"] and meta["baseline"] == "v3"
    assert (bucket / "notes.txt").read_text() == "from a"
    assert (bucket / f"notes.from-{origin_of(b)}.txt").read_text() == "from b"


def test_merged_meta_takes_each_field_from_the_first_occurrence():
    """first_seen is the earliest, last_seen the latest, and a field both have comes from the earlier one."""
    ours = {"first_seen": 9.0, "last_seen": 9.5, "verdict": "later", "only_ours": 1}
    theirs = {"first_seen": 3.0, "last_seen": 4.0, "verdict": "earlier"}
    assert merged_meta(ours, theirs) == {"first_seen": 3.0, "last_seen": 9.5, "verdict": "earlier", "only_ours": 1}


def test_merging_again_changes_nothing(tmp_path, two_campaigns):
    """A second merge of the same campaigns leaves every file of OUT byte for byte as it was, corpus included."""
    out = tmp_path / "out"
    first = merge(list(two_campaigns), out)
    before = tree(out)
    second = merge(list(two_campaigns), out)
    assert tree(out) == before
    assert first.buckets_created > 0 and sum(first.corpus_added.values()) > 0
    assert second.buckets_created == second.buckets_updated == 0 and sum(second.corpus_added.values()) == 0


def test_the_merged_summary_and_log_hold_both_campaigns(tmp_path, two_campaigns):
    """The summary adds up both campaigns' executions and holds the union of their buckets; every log line
    of both is there once, tagged with its campaign, in time order."""
    a, b = two_campaigns
    out = tmp_path / "out"
    merge([a, b], out, corpus=False)
    summary = json.loads((out / "summary.json").read_text())
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    assert summary["executions"] == sa["executions"] + sb["executions"]
    assert {c["origin"] for c in summary["campaigns"]} == {origin_of(a), origin_of(b)}
    assert {x["signature"] for x in summary["buckets"]} == {x["signature"] for x in sa["buckets"] + sb["buckets"]}
    lines = (out / "log.jsonl").read_text().splitlines()
    source_lines = sum(len((d / "log.jsonl").read_text().splitlines()) for d in (a, b))
    events = [json.loads(line) for line in lines]
    assert len(lines) == source_lines
    assert {e["campaign"] for e in events} == {origin_of(a), origin_of(b)}
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)


def test_an_interrupted_merge_is_finished_by_running_it_again(tmp_path, monkeypatch):
    """A merge killed after its first bucket leaves readable buckets, and the rerun ends where a clean merge does."""
    a = make_campaign(tmp_path, "a", first_seen=5.0, counts={1: 3})
    b = make_campaign(tmp_path, "b", first_seen=2.0, counts={1: 4}, first=LONGER)
    real = merge_module.merge_bucket
    calls = []

    def dies_on_the_second(src, dst, origin):
        calls.append(src)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(src, dst, origin)

    monkeypatch.setattr(merge_module, "merge_bucket", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        merge([a, b], tmp_path / "out", corpus=False)
    assert [x["count"] for x in read_buckets(tmp_path / "out")] == [3]
    monkeypatch.setattr(merge_module, "merge_bucket", real)
    merge([a, b], tmp_path / "out", corpus=False)
    merge([a, b], tmp_path / "clean", corpus=False)
    got, want = read_buckets(tmp_path / "out"), read_buckets(tmp_path / "clean")
    assert [(x["count"], x["first_seen"]) for x in got] == [(x["count"], x["first_seen"]) for x in want] == [(7, 2.0)]
    assert not list((tmp_path / "out" / "findings").glob(".*"))


def test_a_merge_of_a_merge_counts_each_campaign_once(tmp_path):
    """Merging A into M, then M and A again into N, counts A's occurrences once, not twice."""
    a = make_campaign(tmp_path, "a", first_seen=5.0, counts={7: 3, 8: 2})
    merge([a], tmp_path / "m", corpus=False)
    merge([tmp_path / "m", a], tmp_path / "n", corpus=False)
    assert [x["count"] for x in read_buckets(tmp_path / "n")] == [5]


def test_a_campaign_that_went_on_brings_its_new_counts(tmp_path):
    """Re-merging a campaign that kept counting replaces its old count, never adds the two."""
    a = make_campaign(tmp_path, "a", first_seen=5.0, counts={7: 3})
    merge([a], tmp_path / "out", corpus=False)
    (a / "findings" / slug(SIG) / "count.7.json").write_text(json.dumps({"count": 10, "last_seen": 20.0}))
    merge([a], tmp_path / "out", corpus=False)
    [bucket] = read_buckets(tmp_path / "out")
    assert bucket["count"] == 10 and bucket["last_seen"] == 20.0


def test_a_campaign_merged_into_keeps_its_own_record(tmp_path):
    """With a campaign as OUT, its own summary is kept under campaigns/ and its own count files stay as they are."""
    a = make_campaign(tmp_path, "a", first_seen=5.0, counts={7: 3})
    b = make_campaign(tmp_path, "b", first_seen=2.0, counts={7: 4})
    own_origin = origin_of(a)
    merge([b], a, corpus=False)
    assert (a / "campaigns" / own_origin / "summary.json").is_file()
    assert (a / "findings" / slug(SIG) / "count.7.json").is_file()
    assert json.loads((a / "summary.json").read_text())["executions"] == 200
    assert origin_of(a) == own_origin


def test_unreadable_log_lines_are_skipped_and_counted(tmp_path):
    """A line a killed writer cut short is left out of the merged log and reported, the rest kept."""
    a = make_campaign(tmp_path, "a", first_seen=5.0, counts={1: 1})
    with open(a / "log.jsonl", "a") as f:
        f.write('{"event": "progr')
    result = merge([a], tmp_path / "out", corpus=False)
    assert result.log_lines == 2 and result.log_lines_skipped == 1


@pytest.mark.parametrize("case", ["missing", "not-a-campaign", "nested"])
def test_bad_sources_are_one_line_exit_2(tmp_path, case):
    """A missing source, a directory that is no campaign and an output inside a source each exit 2 with one line."""
    a = make_campaign(tmp_path, "a", first_seen=1.0, counts={1: 1})
    (tmp_path / "empty").mkdir()
    source, out = {"missing": ("nope", "out"), "not-a-campaign": ("empty", "out"), "nested": ("a", "a/out")}[case]
    proc = subprocess.run([sys.executable, "-m", "unmapfuzz", "merge", source, "-o", out, "--no-corpus"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and source in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(MergeError):
        merge([tmp_path / source], tmp_path / out, corpus=False)
    assert a.is_dir()
