"""Fault injection: real campaigns killed, doubled, starved of disk, and what must hold after.

Whatever happens, no bucket is lost or left half-written, ``log.jsonl`` holds
only whole lines, no worker outlives its campaign, and the command ends with
the documented status and (for errors) one line naming what is wrong.  The
moments of the kills are random; the seed is in every assertion message.
"""
import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from faults import (assert_buckets_intact, kill_all, log_events, processes_in, run_campaign, start_campaign,
                    wait_until)

SEED = int(os.environ.get("UNMAPFUZZ_FAULT_SEED", time.time_ns() % 100_000))
RNG = random.Random(SEED)


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("unmapfuzz: ") and "Traceback" not in stderr, stderr
    return lines[0]


def summary(out):
    return json.loads((out / "summary.json").read_text())


# -- kill -9 --------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine,wait_for_workers", [("random", False), ("random", True), ("atheris", True)])
def test_kill_9_of_the_campaign_takes_its_workers_and_loses_nothing(tmp_path, engine, wait_for_workers):
    """kill -9 of the main process at a random moment: its workers stop, every bucket is whole, and a resume
    counts the killed run's executions on top."""
    out = tmp_path / "out"
    campaign = start_campaign(out, "--engine", engine, "--jobs", "2", "--time", "120", "-q")
    delay = RNG.uniform(0.2, 1.5)
    orphans: list[int] = []
    try:
        if wait_for_workers:
            assert wait_until(lambda: len(processes_in(out)) == 2, 60), campaign.stderr
        time.sleep(delay)
        orphans = processes_in(out) if out.exists() else []
        campaign.kill()
        campaign.wait()
        assert wait_until(lambda: not out.exists() or not processes_in(out), 30), \
            f"workers outlived the campaign (seed {SEED}, delay {delay:.2f}s)"
    finally:
        kill_all(orphans + (processes_in(out) if out.exists() else []))
    before = assert_buckets_intact(out)
    log_events(out)
    resumed = run_campaign(out, "--engine", engine, "--jobs", "1", "--runs", "50", "--time", "60", "-q")
    assert resumed.returncode in (0, 1), resumed.stderr
    after = summary(out)
    assert set(before) <= set(after["known"] + after["new"])
    if len(after["runs"]) == 2:                  # the killed run had written its entry
        killed = after["runs"][0]
        assert killed["stop"] == "lost" and killed["finished"] is False, (SEED, delay)
        assert after["executions"] == killed["executions"] + after["runs"][1]["executions"]
    assert after["runs"][-1]["stop"] == "workers exited" and after["runs"][-1]["executions"] >= 50
    assert_buckets_intact(out)
    assert not processes_in(out)


def test_kill_9_of_a_worker_leaves_the_campaign_and_its_buckets_whole(tmp_path):
    """A worker killed at a random moment is logged; the campaign goes on with the other and ends normally."""
    out = tmp_path / "out"
    campaign = start_campaign(out, "--engine", "random", "--jobs", "2", "--time", "4")
    try:
        assert wait_until(lambda: len(processes_in(out)) == 2, 60)
        time.sleep(RNG.uniform(0.0, 1.5))
        victim = processes_in(out)[0]
        os.kill(victim, signal.SIGKILL)
        _, stderr = campaign.communicate(timeout=120)
    finally:
        kill_all(processes_in(out))
    assert campaign.returncode in (0, 1), stderr
    exits = [e for e in log_events(out) if e["event"] == "worker_exited"]
    assert [(e["pid"], e["status"]) for e in exits] == [(victim, -signal.SIGKILL)], SEED
    assert summary(out)["runs"][-1]["stop"] == "time"
    assert_buckets_intact(out)


# -- two campaigns, one directory -------------------------------------------------------------------

def test_a_second_campaign_on_the_same_out_exits_2_and_leaves_the_first_alone(tmp_path):
    """While a campaign runs, another on its --out exits 2 naming it; the first's logs and counts are untouched."""
    out = tmp_path / "out"
    first = start_campaign(out, "--engine", "random", "--jobs", "1", "--time", "4", "-q")
    try:
        assert wait_until(lambda: (out / ".lock").exists() and f'"pid": {first.pid}' in (out / ".lock").read_text())
        second = run_campaign(out, "--engine", "random", "--jobs", "1", "--time", "2")
        _, first_stderr = first.communicate(timeout=120)
    finally:
        kill_all(processes_in(out))
    assert second.returncode == 2
    line = one_error_line(second.stderr)
    assert line.startswith(f"unmapfuzz: {out}: in use by campaign pid {first.pid}, started ")
    assert first.returncode in (0, 1), first_stderr
    result = summary(out)
    assert len(result["runs"]) == 1 and result["runs"][0]["stop"] == "time"
    stats = [json.loads(p.read_text()) for p in (out / "stats").glob("*.json")]
    assert result["executions"] == sum(s["execs"] for s in stats) > 0
    assert b"\0" not in (out / "workers" / "random-0.log").read_bytes()


def test_a_resume_with_another_configuration_is_refused_untouched(tmp_path):
    """Resuming with another engine or implementation set exits 2 with one line; the directory is not changed."""
    out = tmp_path / "out"
    first = run_campaign(out, "--engine", "random", "--jobs", "1", "--runs", "30", "--time", "60", "-q")
    assert first.returncode in (0, 1), first.stderr
    contents = lambda: {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}  # noqa
    before = contents()
    mine = tmp_path / "mine.py"
    mine.write_text("from unmapfuzz.impls.v3 import unmap_range  # noqa: F401\n")
    for args, difference in [(["--engine", "hypothesis"], "--engine random (this run: hypothesis)"),
                             (["--engine", "random", "--impl", str(mine)],
                              "implementations old,v2,v3,v3-pgdnone (this run: old,v2,v3,v3-pgdnone,mine)")]:
        refused = run_campaign(out, *args, "--jobs", "1", "--time", "2")
        assert refused.returncode == 2
        assert difference in one_error_line(refused.stderr)
    assert contents() == before


# -- resumes ----------------------------------------------------------------------------------------

def test_executions_accumulate_and_a_resume_cleans_what_killed_writers_left(tmp_path):
    """A resume adds its executions to the ledger's, and removes stale temporaries and a cut-off log line first."""
    out = tmp_path / "out"
    args = ("--engine", "random", "--jobs", "1", "--seed", "1", "--runs", "40", "--time", "60", "-q")
    assert run_campaign(out, *args).returncode in (0, 1)
    first = summary(out)
    bucket = next(p for p in (out / "findings").iterdir())
    stale = [out / ".summary.json.1.deadbeef.part", bucket / ".count.4242.json.tmp", out / "stats" / ".x.part"]
    for path in stale:
        path.write_text("{")
    (out / "findings" / ".new-zz").mkdir()
    with open(out / "log.jsonl", "ab") as log:
        log.write(b'{"event": "cut off')
    second = run_campaign(out, *args)
    assert second.returncode in (0, 1), second.stderr
    result = summary(out)
    assert [r["executions"] for r in result["runs"]] == [first["executions"], result["runs"][1]["executions"]]
    assert result["executions"] == first["executions"] + result["runs"][1]["executions"] >= 80
    assert result["elapsed_seconds"] >= first["elapsed_seconds"]
    assert not any(p.exists() for p in stale) and not (out / "findings" / ".new-zz").exists()
    events = log_events(out)
    assert any(e["event"] == "cleaned" and e["log_bytes_dropped"] == len(b'{"event": "cut off') for e in events)
    counts = {b["signature"]: b["count"] for b in first["buckets"]}
    assert all(b["count"] >= counts.get(b["signature"], 0) for b in result["buckets"])


# -- an output that cannot be written ----------------------------------------------------------------

@pytest.mark.parametrize("engine", ["random", "atheris"])
def test_a_size_limited_campaign_stops_with_one_line_and_whole_buckets(tmp_path, engine):
    """Under ulimit -f the campaign exits 2 naming the file and the limit; buckets and log lines stay whole."""
    out = tmp_path / "out"
    result = run_campaign(out, "--engine", engine, "--jobs", "1", "--time", "60", "-q", fsize=6000)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result.stderr)
    assert line.startswith(f"unmapfuzz: {out}") and \
        line.endswith(": cannot write: File too large (the file size limit, ulimit -f)")
    assert_buckets_intact(out)
    log_events(out)
    assert not processes_in(out)


def test_a_full_disk_stops_with_one_line(tmp_path):
    """When the log cannot take a line (ENOSPC, here /dev/full), the campaign exits 2 naming log.jsonl."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "log.jsonl").symlink_to("/dev/full")
    result = run_campaign(out, "--engine", "random", "--jobs", "1", "--time", "30")
    assert result.returncode == 2
    assert one_error_line(result.stderr) == f"unmapfuzz: {out / 'log.jsonl'}: cannot write: No space left on device"


@pytest.mark.parametrize("engine", ["random", "atheris"])
def test_a_worker_that_cannot_write_stops_the_campaign_with_its_reason(tmp_path, engine):
    """An error only the workers meet (findings/ is a file) ends the campaign with exit 2 and the worker's reason."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "findings").write_text("in the way\n")
    result = run_campaign(out, "--engine", engine, "--jobs", "1", "--time", "60")
    assert result.returncode == 2, result.stderr
    assert one_error_line(result.stderr) == f"unmapfuzz: {out / 'findings'}: cannot write: File exists"
    assert not processes_in(out)


@pytest.mark.parametrize("where", ["under-a-file", "a-file", "cannot-be-created"])
def test_an_out_that_cannot_be_a_directory_is_one_line(tmp_path, where):
    """--out under a file, on a file, or where nothing can be created: exit 2, one line, no traceback."""
    (tmp_path / "notes.txt").write_text("")
    out, named, reason = {
        "under-a-file": (tmp_path / "notes.txt" / "out", tmp_path / "notes.txt" / "out", "Not a directory"),
        "a-file": (tmp_path / "notes.txt", tmp_path / "notes.txt", "not a directory"),
        "cannot-be-created": (Path("/proc/unmapfuzz-test/out"), "/proc/unmapfuzz-test", "No such file or directory"),
    }[where]
    result = run_campaign(out, "--engine", "random", "--jobs", "1", "--time", "2")
    assert result.returncode == 2
    assert one_error_line(result.stderr) == f"unmapfuzz: {named}: cannot write: {reason}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_a_read_only_out_is_one_line(tmp_path):
    """A read-only parent directory: exit 2 and one line naming the path and 'Permission denied'."""
    (tmp_path / "ro").mkdir(mode=0o555)
    result = run_campaign(tmp_path / "ro" / "out", "--engine", "random", "--jobs", "1", "--time", "2")
    assert result.returncode == 2
    assert one_error_line(result.stderr).endswith("Permission denied")
