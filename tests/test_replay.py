"""Tests for unmapfuzz.triage.replay and the replay command."""

import json
import os
import shutil
from pathlib import Path

from unmapfuzz.cli import main as cli
from unmapfuzz.triage.replay import (
    AS_RECORDED, CHANGED, INVALID, NOW_FIXED, UNREADABLE, UNRECORDED,
    collect, compare_kinds, replay_file, update_text,
)
from unmapfuzz.programs import Expect, load

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "behaviour"

EMPTY_PUD = """\
# The 3.15 loop abandons the range at a none, folded pud.
unmapfuzz 1
platform arm64-4k-39
mode stage2
profile realistic
map page 0x80001000
unmap 0x0 0x100000000
"""
RECORDED = "expect old still-mapped\nexpect v2 ok\nexpect v3 ok\nexpect v3-pgdnone ok\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_as_recorded(tmp_path):
    """A file whose expect lines match every implementation is as recorded."""
    result = replay_file(write(tmp_path, "a.ops", EMPTY_PUD + RECORDED))
    assert result.status == AS_RECORDED and result.clean
    assert result.actual == result.expected


def test_now_fixed(tmp_path):
    """An implementation that had findings and is now ok, nothing else worse, is now fixed."""
    text = EMPTY_PUD + RECORDED.replace("expect v2 ok", "expect v2 still-mapped")
    result = replay_file(write(tmp_path, "a.ops", text))
    assert result.status == NOW_FIXED
    assert result.changes == [("v2", ("still-mapped",), ())]
    assert "v2 still-mapped -> ok" in result.line()


def test_changed(tmp_path):
    """An implementation that now reports a finding it did not is a change, listed old -> new."""
    text = EMPTY_PUD + RECORDED.replace("expect old still-mapped", "expect old ok")
    result = replay_file(write(tmp_path, "a.ops", text))
    assert result.status == CHANGED
    assert result.line().endswith("changed: old ok -> still-mapped")


def test_changed_when_a_fix_comes_with_a_regression(tmp_path):
    """A fix elsewhere does not hide a regression: the file is changed, not now fixed."""
    text = EMPTY_PUD + "expect old ok\nexpect v2 still-mapped\nexpect v3 ok\nexpect v3-pgdnone ok\n"
    assert replay_file(write(tmp_path, "a.ops", text)).status == CHANGED


def test_compare_kinds_rules():
    """Partial improvements alone are changes; an implementation without an expect line is a change."""
    assert compare_kinds({"a": ("x", "y")}, {"a": ("x",)})[0] == CHANGED
    assert compare_kinds({"a": ("x", "y"), "b": ("x",)}, {"a": ("x",), "b": ()})[0] == NOW_FIXED
    assert compare_kinds({"a": ()}, {"a": (), "b": ()}) == (CHANGED, [("b", None, ())])
    assert compare_kinds({}, {"a": ()})[0] == UNRECORDED
    assert compare_kinds({"a": (), "gone": ("x",)}, {"a": ()})[0] == AS_RECORDED


def test_unrecorded(tmp_path):
    """A file without expect lines is unrecorded."""
    result = replay_file(write(tmp_path, "a.ops", EMPTY_PUD))
    assert result.status == UNRECORDED
    assert result.line().endswith("unrecorded: old still-mapped, v2 ok, v3 ok, v3-pgdnone ok")


def test_invalid_and_unreadable(tmp_path):
    """A program that is invalid now, and a file that does not parse, get their own statuses."""
    invalid = replay_file(write(tmp_path, "i.ops", EMPTY_PUD.replace("0x100000000", "0x100000800") + RECORDED))
    assert invalid.status == INVALID and "page-aligned" in invalid.reason
    broken = write(tmp_path, "b.ops", "map page 0x1000\nunmap 0x0\n")
    result = replay_file(broken)
    assert result.status == UNREADABLE and result.reason.startswith(f"{broken}:2: ")


def test_collect_recurses_sorted(tmp_path):
    """Directories contribute their *.ops files recursively in sorted order; files are taken as given."""
    write(tmp_path, "d/b.ops", EMPTY_PUD)
    write(tmp_path, "d/sub/a.ops", EMPTY_PUD)
    write(tmp_path, "d/a.ops", EMPTY_PUD)
    write(tmp_path, "d/notes.txt", "")
    d = tmp_path / "d"
    assert collect([str(d), "x.ops"]) == [str(d / "a.ops"), str(d / "b.ops"), str(d / "sub" / "a.ops"), "x.ops"]


def test_update_text_keeps_every_other_line():
    """update_text removes old expect lines (leaving their comments), appends new ones, keeps the rest."""
    text = ("# header comment\n\nunmapfuzz 1  # version\nexpect old ok   # stale, see bug 7\n"
            "map page 0x80001000\n   \nunmap 0x0 0x100000000 # the range\nexpect mine hang\n")
    new = update_text(text, [Expect("old", ("still-mapped",)), Expect("v2")], ran={"old", "v2"})
    assert new == ("# header comment\n\nunmapfuzz 1  # version\n# stale, see bug 7\n"
                   "map page 0x80001000\n   \nunmap 0x0 0x100000000 # the range\n"
                   "expect old still-mapped\nexpect v2 ok\nexpect mine hang\n")


def test_update_round_trip_keeps_comments(tmp_path, capsys):
    """replay --update records the verdict, keeps comments exactly, and a second replay is as recorded."""
    text = ("# why this matters\n#   indented comment\n\n" + EMPTY_PUD.replace("map page", "map  page")
            + "expect old ok  # was fine once\n# trailing comment\n")
    path = write(tmp_path, "a.ops", text)
    os.chmod(path, 0o644)
    assert cli.main(["replay", "--update", path]) == 0
    out, _ = capsys.readouterr()
    assert f"{path}: changed: old ok -> still-mapped; v2 (unrecorded) -> ok" in out
    new = Path(path).read_text()
    kept = [line for line in text.splitlines() if not line.startswith("expect")]
    assert [line for line in new.splitlines() if not line.startswith("expect")] == \
        kept[:-1] + ["# was fine once"] + kept[-1:]
    assert new.endswith(RECORDED)
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert load(path).ops == load(write(tmp_path, "orig.ops", text)).ops
    assert replay_file(path).status == AS_RECORDED
    assert cli.main(["replay", "--update", path]) == 0
    assert Path(path).read_text() == new
    assert cli.main(["replay", path]) == 0


def test_update_keeps_expectations_of_implementations_not_run(tmp_path, capsys):
    """With --impls, only the implementations that ran are compared and rewritten."""
    mine = write(tmp_path, "mine.py", "from unmapfuzz.impls.v3 import unmap_range  # noqa: F401\n")
    path = write(tmp_path, "a.ops", EMPTY_PUD + "expect mine crash\n" + RECORDED)
    assert cli.main(["replay", "--impl", f"mine={mine}", "--impls", "old,v2", path]) == 0
    text = EMPTY_PUD + RECORDED.replace("expect old still-mapped", "expect old ok")
    path = write(tmp_path, "b.ops", text)
    assert cli.main(["replay", "--impls", "old", "--update", path]) == 0
    assert Path(path).read_text() == EMPTY_PUD + "expect old still-mapped\n" + RECORDED.split("\n", 1)[1]


def test_an_expect_naming_an_unknown_implementation_exits_2(tmp_path, capsys):
    """An expect for an implementation that is neither built in nor an --impl is FILE:LINE: bad input, not ignored."""
    path = write(tmp_path, "a.ops", EMPTY_PUD + "expect mine crash\n" + RECORDED)
    assert cli.main(["replay", "--impls", "old,v2", path]) == 2
    assert capsys.readouterr().err == (f"unmapfuzz: {path}:8: expect names implementation mine, which was not "
                                       "given (give it with --impl mine=PATH; known: old, v2, v3, v3-pgdnone)\n")
    assert replay_file(path).status != UNREADABLE          # the library alone knows no names to check


def test_a_directory_without_programs_exits_2(tmp_path, capsys):
    """Replaying a directory that holds no .ops file is bad input, not a pass with '0 files'."""
    (tmp_path / "empty").mkdir()
    good = write(tmp_path, "good.ops", EMPTY_PUD + RECORDED)
    assert cli.main(["replay", str(tmp_path / "empty"), good]) == 2
    out, err = capsys.readouterr()
    assert err == f"unmapfuzz: {tmp_path / 'empty'}: no .ops file in this directory\n"
    assert out.splitlines()[0] == f"{good}: as recorded"


def test_an_invalid_program_is_reported_at_its_line(tmp_path, capsys):
    """A program the profile rejects is shown as FILE:LINE: invalid, the line of the op at fault."""
    path = write(tmp_path, "a.ops", EMPTY_PUD.replace("unmap 0x0 0x100000000", "unmap 0x0 0x800") + RECORDED)
    assert cli.main(["replay", path]) == 1
    assert capsys.readouterr().out.splitlines()[0] == f"{path}:7: invalid: op 1: realistic unmaps are page-aligned"


def test_quiet_and_verbose(tmp_path, capsys):
    """-q prints nothing for a clean replay; -v adds each implementation's recorded and current findings."""
    path = write(tmp_path, "a.ops", EMPTY_PUD + RECORDED)
    assert cli.main(["replay", "-q", path]) == 0
    assert capsys.readouterr() == ("", "")
    assert cli.main(["replay", "-v", path]) == 0
    assert "  old: recorded still-mapped, now still-mapped" in capsys.readouterr().out.splitlines()


def test_exit_codes_and_summary(tmp_path, capsys):
    """Exit 0 when all are as recorded, 1 on any difference, 2 when a file is unreadable (others still run)."""
    good = write(tmp_path, "good.ops", EMPTY_PUD + RECORDED)
    assert cli.main(["replay", good]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 file: 1 as recorded, 0 now fixed, 0 changed"
    fixed = write(tmp_path, "fixed.ops", EMPTY_PUD + RECORDED.replace("v2 ok", "v2 still-mapped"))
    changed = write(tmp_path, "changed.ops", EMPTY_PUD + RECORDED.replace("old still-mapped", "old ok"))
    unrecorded = write(tmp_path, "unrecorded.ops", EMPTY_PUD)
    for path in (fixed, changed, unrecorded):
        assert cli.main(["replay", good, path]) == 1
    capsys.readouterr()
    assert cli.main(["replay", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == \
        "4 files: 1 as recorded, 1 now fixed, 1 changed, 1 unrecorded"
    invalid = write(tmp_path, "v/invalid.ops", EMPTY_PUD.replace("0x100000000", "0x800") + RECORDED)
    assert cli.main(["replay", "--update", invalid]) == 1
    assert Path(invalid).read_text().endswith("0x800\n" + RECORDED)
    assert cli.main(["replay", "--update", str(tmp_path)]) == 1          # the invalid one
    assert cli.main(["replay", str(tmp_path / "fixed.ops"), changed, unrecorded]) == 0
    capsys.readouterr()
    broken = write(tmp_path, "z/broken.ops", "map page 0x1000\nbogus\n")
    assert cli.main(["replay", good, broken, str(tmp_path / "missing.ops")]) == 2
    out, err = capsys.readouterr()
    assert f"{broken}:2: unknown directive" in err and "missing.ops: cannot read" in err
    assert out.splitlines() == [f"{good}: as recorded", "3 files: 1 as recorded, 0 now fixed, 0 changed, 2 unreadable"]


def test_json_output(tmp_path, capsys):
    """--json prints one object per file with status, expected and actual kinds."""
    good = write(tmp_path, "a.ops", EMPTY_PUD + RECORDED)
    changed = write(tmp_path, "b.ops", EMPTY_PUD + RECORDED.replace("old still-mapped", "old ok"))
    assert cli.main(["replay", "--json", good, changed]) == 1
    out, err = capsys.readouterr()
    objects = [json.loads(line) for line in out.splitlines()]
    assert [(o["file"], o["status"]) for o in objects] == [(good, AS_RECORDED), (changed, CHANGED)]
    assert objects[1]["expected"]["old"] == [] and objects[1]["actual"]["old"] == ["still-mapped"]
    assert objects[0]["actual"] == {"old": ["still-mapped"], "v2": [], "v3": [], "v3-pgdnone": []}
    assert "2 files: 1 as recorded" in err


def test_behaviour_corpus_is_as_recorded(tmp_path, capsys):
    """Every hand-written program in corpus/behaviour replays as recorded."""
    assert cli.main(["replay", str(CORPUS)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith(f"{len(list(CORPUS.glob('*.ops')))} files: ")
    assert all(line.endswith(": as recorded") for line in lines[:-1])


def test_behaviour_corpus_update_is_a_no_op(tmp_path, capsys):
    """replay --update on an already-recorded copy of the corpus changes no byte."""
    copy = tmp_path / "behaviour"
    shutil.copytree(CORPUS, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    assert cli.main(["replay", "--update", str(copy)]) == 0
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
