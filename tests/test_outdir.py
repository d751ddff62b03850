"""Tests for unmapfuzz.campaign.outdir: one campaign per directory, tidied at start, errors in one line."""
import json
import os
import subprocess
import sys

import pytest

from unmapfuzz.campaign.outdir import DirectoryInUse, OutputDir, OutputError


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    """While one OutputDir holds the directory another cannot, and is told the holder's pid and command."""
    first = OutputDir(tmp_path / "out")
    first.lock()
    with pytest.raises(DirectoryInUse) as info:
        OutputDir(tmp_path / "out").lock()
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'out'}: in use by campaign pid {os.getpid()}, started ")
    assert " ".join(sys.argv[1:]) in message and "\n" not in message
    first.release()
    second = OutputDir(tmp_path / "out")
    second.lock()                                   # free again
    second.release()


def test_a_holder_whose_campaign_is_gone_is_named_as_such(tmp_path):
    """When the recorded pid is dead but the lock is held (its workers live on), the message says so."""
    holder = OutputDir(tmp_path)
    holder.lock()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    os.ftruncate(holder.fd, 0)
    os.pwrite(holder.fd, json.dumps({"pid": int(dead.stdout), "started": 0, "command": "unmapfuzz fuzz"}).encode(), 0)
    with pytest.raises(DirectoryInUse, match=r"campaign pid \d+ \(gone; its workers still run\)"):
        OutputDir(tmp_path).lock()
    holder.release()


@pytest.mark.parametrize("under,reason", [("out", "cannot write: Not a directory"),
                                          ("", "cannot write: not a directory")])
def test_an_output_that_cannot_be_a_directory_is_one_line(tmp_path, under, reason):
    """A path under a file, or a file, is an OutputError naming the path and the reason."""
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / under if under else tmp_path / "file"
    with pytest.raises(OutputError) as info:
        OutputDir(path).lock()
    assert str(info.value).endswith(reason) and str(info.value).startswith(str(tmp_path / "file"))


def test_clean_removes_what_killed_writers_leave_and_nothing_else(tmp_path):
    """Part files, old .tmp files and half-built buckets go; buckets, counts, the corpus and the lock stay."""
    out = OutputDir(tmp_path)
    out.lock()
    bucket = tmp_path / "findings" / "old__x"
    (tmp_path / "findings" / ".new-abc123").mkdir(parents=True)
    (tmp_path / "findings" / ".new-abc123" / "first.ops").write_text("map page 0\n")
    bucket.mkdir()
    corpus = tmp_path / "corpus" / "arm64-4k-39-stage2-realistic"
    corpus.mkdir(parents=True)
    stale = [tmp_path / ".summary.json.123.ab12cd34.part", bucket / ".count.77.json.tmp",
             bucket / ".minimized.ops.5.00ff00ff.part", tmp_path / "stats" / ".random.9.json.1.aa.part",
             corpus / ".seed-1.2.bb.part"]
    kept = [bucket / "meta.json", bucket / "count.77.json", corpus / "seed-1", tmp_path / "summary.json"]
    (tmp_path / "stats").mkdir()
    for path in stale + kept:
        path.write_text("x")
    removed = out.clean()
    assert sorted(removed) == sorted(stale + [tmp_path / "findings" / ".new-abc123"])
    assert all(p.exists() for p in kept) and (tmp_path / ".lock").exists()
    assert not any(p.exists() for p in removed)
    out.release()


def test_clean_and_repair_need_the_lock(tmp_path):
    """Tidying without holding the directory would race with live writers, so it is refused."""
    with pytest.raises(AssertionError):
        OutputDir(tmp_path).clean()
    with pytest.raises(AssertionError):
        OutputDir(tmp_path).repair_log()


def test_repair_log_drops_a_cut_off_line(tmp_path):
    """A log.jsonl ending in half a line loses that half line at start."""
    out = OutputDir(tmp_path)
    out.lock()
    (tmp_path / "log.jsonl").write_bytes(b'{"event": "a"}\n{"event": "b", "x')
    assert out.repair_log() == len(b'{"event": "b", "x')
    assert (tmp_path / "log.jsonl").read_bytes() == b'{"event": "a"}\n'
    out.release()
