"""Tests for unmapfuzz.campaign.store: buckets complete or absent, counts that add up across processes."""
from faults import python
from unmapfuzz.campaign.store import FindingStore, read_buckets, slug
from unmapfuzz.verdict.signature import Signature

SIG = Signature.parse("old/still-mapped/arm64-4k-39/stage2/pte")


def test_two_processes_with_one_pid_keep_separate_counts(tmp_path):
    """A store whose pid an earlier store had (a resumed campaign's worker) adds to its count, never overwrites it."""
    first = FindingStore(tmp_path, count_flush_seconds=0)
    for _ in range(3):
        first.record(SIG, "map page 0x1000\n")
    first.flush_all()
    second = FindingStore(tmp_path, count_flush_seconds=0)       # same os.getpid(), as after a pid wrap
    second.record(SIG, "map page 0x2000\n")
    second.flush_all()
    (bucket,) = read_buckets(tmp_path)
    assert bucket["count"] == 4
    assert len(list((tmp_path / "findings" / slug(SIG)).glob("count.*.json"))) == 2


def test_a_bucket_that_cannot_be_completed_is_removed(tmp_path):
    """When the disk cannot take a new bucket's files, no half-built bucket stays and the error names the bucket."""
    code = ("import errno\nfrom pathlib import Path\n"
            "from unmapfuzz.campaign.store import FindingStore\n"
            "from unmapfuzz.verdict.signature import Signature\n"
            f"store = FindingStore(Path({str(tmp_path)!r}))\n"
            "try:\n"
            "    store.record(Signature.parse('old/still-mapped/arm64-4k-39/stage2/pte'), '#' * 100_000)\n"
            "except OSError as exc:\n    print(errno.errorcode[exc.errno], exc.filename)\n")
    result = python(code, fsize=10_000)
    assert result.stdout.split() == ["EFBIG", str(tmp_path / "findings" / slug(SIG))], result.stderr
    assert list((tmp_path / "findings").iterdir()) == []
