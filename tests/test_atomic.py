"""Tests for unmapfuzz.atomic: whole files or none, and failures that name the file."""
import os

from faults import python
from unmapfuzz.atomic import atomic_write, stale_parts


def test_atomic_write_replaces_the_file_and_leaves_no_part(tmp_path):
    """A successful write replaces the destination whole, keeps its permission bits and leaves no part file."""
    path = tmp_path / "a.json"
    path.write_text("old")
    os.chmod(path, 0o640)
    atomic_write(path, "new")
    assert path.read_text() == "new" and os.stat(path).st_mode & 0o777 == 0o640
    assert stale_parts(tmp_path) == []


def test_a_failed_write_keeps_the_old_file_removes_its_part_and_names_the_destination(tmp_path):
    """Over a file size limit the old content stays, no part file is left, and the OSError names the destination."""
    path = tmp_path / "a.json"
    path.write_text("old")
    code = ("import errno\n"
            "from unmapfuzz.atomic import atomic_write\n"
            f"try:\n    atomic_write({str(path)!r}, 'x' * 100_000)\n"
            "except OSError as exc:\n    print(errno.errorcode[exc.errno], exc.filename)\n")
    result = python(code, fsize=50_000)
    assert result.stdout.split() == ["EFBIG", str(path)], result.stderr
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
