"""Tests for unmapfuzz.campaign.log: every line of log.jsonl whole, even when the disk is not."""
import json

from faults import python
from unmapfuzz.campaign.log import drop_partial_line, make_logger


def test_events_are_json_lines_with_pid_and_bound_fields(tmp_path):
    """Each event is one JSON line carrying its name, level, pid and the logger's bound fields."""
    log = make_logger(tmp_path, role="test")
    log.info("one", n=1)
    log.warning("two", n=2)
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(e["event"], e["level"], e["role"], e["n"]) for e in lines] == [("one", "info", "test", 1),
                                                                         ("two", "warning", "test", 2)]


def test_a_line_the_file_cannot_take_is_cut_back_out(tmp_path):
    """Over a file size limit, the line that does not fit is removed whole and the OSError names log.jsonl."""
    code = ("import errno\nfrom pathlib import Path\n"
            "from unmapfuzz.campaign.log import make_logger\n"
            f"log = make_logger(Path({str(tmp_path)!r}), role='t')\n"
            "try:\n    for n in range(1000):\n        log.info('filler', n=n, pad='x' * 50)\n"
            "except OSError as exc:\n    print(errno.errorcode[exc.errno], exc.filename, n)\n")
    result = python(code, fsize=4000)
    code_name, filename, n = result.stdout.split()
    assert (code_name, filename) == ("EFBIG", str(tmp_path / "log.jsonl")), result.stderr
    data = (tmp_path / "log.jsonl").read_bytes()
    assert data.endswith(b"\n") and 0 < len(data) <= 4000
    assert [json.loads(line)["n"] for line in data.decode().splitlines()] == list(range(int(n)))


def test_drop_partial_line_removes_only_a_cut_off_last_line(tmp_path):
    """A last line without its newline is dropped; whole lines, and a whole file, are kept."""
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": ')
    assert drop_partial_line(path) == len(b'{"c": ')
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    assert drop_partial_line(path) == 0 and path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    path.write_bytes(b"x" * 100_000)                    # one cut-off line longer than a read chunk
    assert drop_partial_line(path) == 100_000 and path.read_bytes() == b""
    assert drop_partial_line(tmp_path / "missing") == 0
