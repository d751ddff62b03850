"""Tests for fuzz/check.py (check, compare, Verdict) and the ``check`` command line."""

import json
from pathlib import Path

import pytest

from brokenimpls import BROKEN, v3_copy
from unmapfuzz.cli import main as cli
from unmapfuzz.verdict.check import ImplResult, check, compare
from unmapfuzz.programs import parse
from unmapfuzz.impls import BUILTIN, load_impl, old, v3

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "behaviour"
V3 = v3.unmap_range

OLD_ABANDONS = """
platform arm64-4k-39
mode stage2
map page 0x80001000
unmap 0x0 0x100000000
"""

ONE_PAGE = "map page 0x1000\nunmap 0x1000 0x1000\n"

USER_IMPL = '''
"""A user's unmap_range: v3, reached through the public loader."""
from unmapfuzz.impls.v3 import unmap_range as _v3


def unmap_range(k, kvm, pgdp, start, size):
    _v3(k, kvm, pgdp, start, size)


def no_flush(k, kvm, pgdp, start, size):
    _v3(k, None, pgdp, start, size)
'''


# -- compare() ---------------------------------------------------------------------


def test_identical_impls_agree():
    """Two implementations with the same behaviour produce no divergence, even when both violate."""
    verdict = check(parse(OLD_ABANDONS), {"a": old.unmap_range, "b": old.unmap_range}, baseline=None)
    assert verdict.results["a"].status == verdict.results["b"].status == "violation"
    assert verdict.divergences == []
    assert not verdict.divergent
    verdict = check(parse(OLD_ABANDONS), {"v3": V3, "copy": v3_copy}, baseline=None)
    assert verdict.divergences == [] and verdict.clean


def test_differing_impl_is_named_in_its_own_group():
    """A single differing implementation stands alone in each aspect's groups; the agreeing ones are grouped."""
    verdict = check(parse(OLD_ABANDONS), {"a": V3, "old": old.unmap_range, "b": v3_copy}, baseline=None)
    texts = [str(d) for d in verdict.divergences]
    assert "translations: a, b | old" in texts
    assert all(d.endswith("a, b | old") for d in texts), texts
    assert verdict.divergent and not verdict.clean


def test_crash_versus_ok_shows_in_the_run_line():
    """An implementation that crashes is reported on a "run:" line against those that completed."""
    verdict = check(parse(ONE_PAGE), {"v3": V3, "boom": BROKEN["crash"]}, baseline=None)
    assert verdict.results["boom"].status == "crash"
    assert verdict.results["boom"].final is None
    assert [str(d) for d in verdict.divergences] == ["run: v3 completed | boom crash"]


def test_compare_on_results_directly():
    """compare() groups finished results per aspect and is empty when all finals are equal."""
    final = (frozenset(), frozenset(), (), frozenset())
    other = (frozenset({(0x1000, 12, 0x1000)}), frozenset(), (), frozenset())
    same = {"x": ImplResult("x", "ok", [], final), "y": ImplResult("y", "ok", [], final)}
    assert compare(same) == []
    differ = {**same, "z": ImplResult("z", "violation", [], other)}
    assert [str(d) for d in compare(differ)] == ["translations: x, y | z"]
    hung = {**same, "h": ImplResult("h", "hang", [], None)}
    assert [str(d) for d in compare(hung)] == ["run: x, y completed | h hang"]


# -- Verdict.to_json -------------------------------------------------------------------


def test_verdict_json_shape():
    """to_json has exactly the documented keys, and each violation has kind/op/level/ipa/detail."""
    verdict = check(parse(OLD_ABANDONS), {"old": old.unmap_range, "v3": V3}, baseline=None)
    data = verdict.to_json("x.ops")
    assert set(data) == {"file", "platform", "mode", "invalid", "baseline", "impls", "divergent", "divergences",
                         "findings"}
    assert data["baseline"] is None and data["findings"][0]["impl"] == "old"
    assert (data["file"], data["platform"], data["mode"], data["invalid"]) == ("x.ops", "arm64-4k-39", "stage2", None)
    assert data["divergent"] is True and data["divergences"]
    assert set(data["impls"]) == {"old", "v3"}
    for result in data["impls"].values():
        assert set(result) == {"status", "violations"}
    assert data["impls"]["v3"] == {"status": "ok", "violations": []}
    (violation,) = data["impls"]["old"]["violations"]
    assert set(violation) == {"kind", "op", "level", "ipa", "detail"}
    assert violation["kind"] == "still-mapped" and violation["op"] == 1 and violation["level"] == "pte"
    assert violation["ipa"] == "0x80001000"
    json.dumps(data)


# -- invalid programs ------------------------------------------------------------------


INVALID = [
    ("hyp-block", "mode hyp\nmap pmd 0x200000\nunmap 0x0 0x400000\n", None, "hyp has no block map path"),
    ("page-in-block", "map pmd 0x200000\nmap page 0x201000\n", None, "falls inside the block"),
    ("wraps", "map page 0x1000\nunmap 0xfffffffffffff000 0x2000\n", None, "wraps past 2**64"),
    ("unaligned-realistic", "profile realistic\nmap page 0x1000\nunmap 0x1000 0x800\n", None, "page-aligned"),
    ("unaligned-realistic-override", "map page 0x1000\nunmap 0x1000 0x800\n", "realistic", "page-aligned"),
]


@pytest.mark.parametrize("text,profile,reason", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_programs_run_nothing(text, profile, reason):
    """A program breaking a precondition is invalid with a reason, and no implementation runs."""
    calls = []

    def spy(k, kvm, pgdp, start, size):
        calls.append((start, size))

    verdict = check(parse(text), {"spy": spy}, profile)
    assert verdict.invalid and reason in verdict.invalid
    assert verdict.invalid.startswith("op ")
    assert verdict.results == {} and calls == []
    assert not verdict.clean
    assert verdict.to_json()["invalid"] == verdict.invalid


def test_unaligned_unmap_is_valid_outside_realistic():
    """The same unaligned unmap is a valid (adversarial) program without the realistic profile."""
    verdict = check(parse("map page 0x1000\nunmap 0x1000 0x800\n"), {"v3": V3})
    assert verdict.invalid is None and "v3" in verdict.results


# -- user implementations ---------------------------------------------------------------


def test_user_impl_takes_part(tmp_path):
    """An impl loaded from a file runs and is judged like the built-ins, under its file's stem or a given name."""
    path = tmp_path / "mine.py"
    path.write_text(USER_IMPL)
    name, fn = load_impl(str(path))
    assert name == "mine"
    verdict = check(parse(OLD_ABANDONS), {**BUILTIN, name: fn})
    assert verdict.results["mine"].status == "ok"
    assert "translations: old | v2, v3, v3-pgdnone, mine" in [str(d) for d in verdict.divergences]
    name, fn = load_impl(f"nf={path}:no_flush")
    assert name == "nf"
    verdict = check(parse("map page 0x1000\nmap page 0x2000\nunmap 0x1000 0x1000\n"), {"v3": V3, name: fn})
    assert verdict.results["nf"].kinds == ("missing-tlbi",)


# -- the command line ---------------------------------------------------------------------


def run_cli(capsys, *argv):
    status = cli.main(["check", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_json_clean_program_exits_0(capsys):
    """check --json on a clean program prints one JSON object and exits 0."""
    path = CORPUS / "block-partly-in-range.ops"
    status, out, _ = run_cli(capsys, path, "--json")
    assert status == 0
    (line,) = out.splitlines()
    data = json.loads(line)
    assert data["file"] == str(path) and data["invalid"] is None and not data["divergent"]
    assert {r["status"] for r in data["impls"].values()} == {"ok"}


def test_cli_json_violating_program_exits_1(capsys):
    """check --json on a program where old leaves a page mapped exits 1 and shows old's violation."""
    status, out, _ = run_cli(capsys, CORPUS / "old-abandons-at-empty-pud.ops", "--json")
    assert status == 1
    (line,) = out.splitlines()
    data = json.loads(line)
    assert data["impls"]["old"]["status"] == "violation"
    assert [v["kind"] for v in data["impls"]["old"]["violations"]] == ["still-mapped"]


def test_cli_one_json_object_per_file(capsys):
    """Several files give one JSON line each, in order, and the worst status."""
    files = [CORPUS / "block-partly-in-range.ops", CORPUS / "old-abandons-at-empty-pud.ops"]
    status, out, _ = run_cli(capsys, *files, "--json")
    assert status == 1
    assert [json.loads(line)["file"] for line in out.splitlines()] == [str(f) for f in files]


def test_cli_syntax_error_exits_2_naming_file_and_line(capsys, tmp_path):
    """A file with a syntax error exits 2 and stderr names FILE:LINE; no JSON is printed for it."""
    bad = tmp_path / "bad.ops"
    bad.write_text("platform arm64-4k-39\nmap page 0x1000\nmap bogus 0x2000\n")
    status, out, err = run_cli(capsys, bad, "--json")
    assert status == 2
    assert f"{bad}:3" in err
    assert out == ""


def test_cli_invalid_program_exits_2(capsys, tmp_path):
    """A well-formed but invalid program exits 2 and its JSON carries the reason."""
    path = tmp_path / "hyp-block.ops"
    path.write_text("mode hyp\nmap pmd 0x200000\n")
    status, out, _ = run_cli(capsys, path, "--json")
    assert status == 2
    assert "hyp has no block map path" in json.loads(out)["invalid"]


def test_cli_user_impl(capsys, tmp_path):
    """--impl FILE adds a user implementation to the run, named after the file."""
    path = tmp_path / "mine.py"
    path.write_text(USER_IMPL)
    status, out, _ = run_cli(capsys, CORPUS / "block-partly-in-range.ops", "--json", "--impl", path)
    assert status == 0
    assert json.loads(out)["impls"]["mine"] == {"status": "ok", "violations": []}


def test_cli_invalid_program_names_the_line_of_the_op(capsys, tmp_path):
    """An invalid program's message starts FILE:LINE: at the op the profile rejects, not just 'op N'."""
    path = tmp_path / "hyp-block.ops"
    path.write_text("mode hyp\n# a page first\nmap page 0x1000\nmap pmd 0x200000\n")
    status, _, err = run_cli(capsys, path)
    assert status == 2
    assert err == f"unmapfuzz: {path}:4: invalid program: op 1: hyp has no block map path " \
                  "(create_hyp_mappings maps pages only)\n"


def test_cli_expect_naming_an_unknown_implementation_exits_2(capsys, tmp_path):
    """An expect line for an implementation nobody gave is FILE:LINE: bad input, and the program does not run."""
    path = tmp_path / "typo.ops"
    path.write_text(ONE_PAGE + "expect v33 ok\n")
    status, out, err = run_cli(capsys, path)
    assert status == 2 and out == ""
    assert err == f"unmapfuzz: {path}:3: expect names implementation v33, which was not given " \
                  "(give it with --impl v33=PATH; known: old, v2, v3, v3-pgdnone)\n"
    user = tmp_path / "v33.py"
    user.write_text(USER_IMPL)
    assert run_cli(capsys, path, "--impl", user)[0] == 0                  # now it is known
    assert run_cli(capsys, path, "--impl", user, "--impls", "old")[0] == 0  # known, even when not run


@pytest.mark.parametrize("args,message", [
    (["--impls", ","], "--impls ',' names no implementation (known: old, v2, v3, v3-pgdnone)"),
    (["--impls", " "], "--impls ' ' names no implementation"),
    (["--impls", "old,nope"], "--impls: unknown implementation(s) nope (known: old, v2, v3, v3-pgdnone)"),
    (["--impl", "NOTES"], "is not a Python file (expected a .py file or MODULE:FUNC)"),
    (["--impl", "./NOTES"], "./NOTES is not a Python file"),
    (["--impl", "DIR"], "is a directory (expected a .py file or MODULE:FUNC)"),
    (["--impl", "a="], "--impl a=: no file or module given"),
    (["--impl", "=x.py"], "--impl =x.py: NAME before '=' is empty"),
])
def test_cli_bad_implementation_arguments_exit_2_in_one_line(capsys, tmp_path, monkeypatch, args, message):
    """A bad --impl or --impls is one line naming what is wrong and exit 2, never a traceback."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "NOTES").write_text("not python\n")
    (tmp_path / "DIR").mkdir()
    status, out, err = run_cli(capsys, CORPUS / "block-partly-in-range.ops", *args)
    assert status == 2 and out == ""
    assert err.startswith("unmapfuzz: ") and message in err and err.count("\n") == 1


def test_cli_quiet_prints_nothing_and_verbose_lists_the_operations(capsys):
    """-q leaves only the exit status; -v adds each operation with its FILE:LINE."""
    path = CORPUS / "old-abandons-at-empty-pud.ops"
    assert run_cli(capsys, path, "-q") == (1, "", "")
    status, out, _ = run_cli(capsys, path, "-v")
    lines = path.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.startswith("unmap "))
    assert status == 1 and f"{path}:{line}: op 1: unmap 0x0 0x100000000" in out.splitlines()
