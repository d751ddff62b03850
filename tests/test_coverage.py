"""Tests for unmapfuzz.triage.coverage, its list of unreachable branches and ``unmapfuzz coverage``: the corpus
takes every branch of the kernel code that a platform and mode can take, and the list of the others is true."""
import json
import re
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from unmapfuzz.cli import main as cli
from unmapfuzz.programs import load, parse
from unmapfuzz.triage.coverage import GEOMETRIES, SOURCES, judge, measure, name_branches
from unmapfuzz.triage.unreachable import UNREACHABLE, B, Unreachable

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "corpus").rglob("*.ops"))
DOC = ROOT / "docs" / "COVERAGE.md"


@pytest.fixture(scope="module", params=[True, False], ids=["fast-paths", "no-fast-paths"])
def corpus(request):
    """The corpus measured with the model's fast paths on (as everything runs) and off."""
    return measure([load(p) for p in CORPUS], fast=request.param)


def test_the_corpus_takes_every_reachable_branch(corpus):
    """Every branch not documented unreachable on a platform and mode is taken there by some corpus program."""
    judgement = judge(corpus)
    assert {f"{b} {b.key}": where for b, where in judgement.uncovered.items()} == {}


def test_no_documented_unreachable_branch_is_taken(corpus):
    """Every documented unreachable branch is missed wherever the list says, so the list cannot go stale silently."""
    judgement = judge(corpus)
    assert [(e.name, f"{b} {b.key}", where) for e, b, where in judgement.stale] == []
    assert [(e.name, source, key) for e, source, key in judgement.unknown] == []
    assert judgement.ok


def test_every_geometry_has_reachable_branches_and_takes_them_all(corpus):
    """Each cell of the table is full, and no platform or mode is left without programs."""
    judgement = judge(corpus)
    for source, row in judgement.cells.items():
        for geometry in (*GEOMETRIES, "all"):
            covered, reachable = row[geometry]
            assert 0 < reachable == covered, (source, geometry)


def test_every_entry_documents_something():
    """Each entry of the list excuses a branch the code has, in one setting of the fast paths or the other
    (an entry that excuses nothing is dead text)."""
    used = set()
    for fast in (True, False):
        judgement = judge(measure([], fast=fast))
        assert judgement.unknown == []
        used |= {e.name for e, _, _ in judgement.documented}
    assert used == {e.name for e in UNREACHABLE}


def test_the_list_is_well_formed():
    """Names are unique; every pattern names a platform and mode, every source is measured."""
    names = [e.name for e in UNREACHABLE]
    assert len(names) == len(set(names))
    for entry in UNREACHABLE:
        assert entry.reason and entry.branches
        for pattern in entry.where + tuple(p for b in entry.branches for p in b.where):
            assert any(fnmatchcase(g, pattern) for g in GEOMETRIES), (entry.name, pattern)
        for spec in entry.branches:
            assert set(spec.sources) <= set(SOURCES), (entry.name, spec)


@pytest.mark.skipif(not DOC.exists(), reason="docs/ is not shipped with the package")
def test_the_document_explains_every_entry():
    """docs/COVERAGE.md has a section for every entry of the list, and none for an entry that is gone."""
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([a-z0-9.-]+)`", text, flags=re.M))
    assert documented == {e.name for e in UNREACHABLE}


# -- the judgement can fail ------------------------------------------------------------------------------------

def test_a_program_taken_away_leaves_a_hole():
    """Without the one program that maps pud blocks on arm64-4k-39, every pud-block path is a hole there, and
    only there."""
    programs = [load(p) for p in CORPUS if p.name != "cover_pud-blocks_arm64-4k-39_stage2.ops"]
    judgement = judge(measure(programs))
    holes = {(b.source, b.key): where for b, where in judgement.uncovered.items()}
    assert holes == {("old", "clear_pud_entry: if k.pud_huge(k.load(pud)): -> k.pud_clear(pud)"): ["arm64-4k-39/stage2"],
                     ("old", "unmap_range: if k.pud_huge(k.load(pud)): -> clear_pud_entry(k, kvm, pud, addr)"):
                         ["arm64-4k-39/stage2"],
                     ("v2", "clear_pud_entry: if k.pud_huge(k.load(pud)): -> k.pud_clear(pud)"): ["arm64-4k-39/stage2"],
                     ("v2", "unmap_puds: if k.pud_huge(k.load(pud)): -> clear_pud_entry(k, kvm, pud, addr)"):
                         ["arm64-4k-39/stage2"],
                     ("v3", "unmap_puds: if k.pud_huge(k.load(pud)): -> k.pud_clear(pud)"): ["arm64-4k-39/stage2"],
                     ("v3_pgdnone", "unmap_puds: if k.pud_huge(k.load(pud)): -> k.pud_clear(pud)"):
                         ["arm64-4k-39/stage2"],
                     ("mapping", "Machine.map: elif kind == \"pmd\": -> self.stage2_set_pud_huge(ipa, pa)"):
                         ["arm64-4k-39/stage2"],
                     ("mapping", "Machine.stage2_set_pud_huge: if k.pud_present(old_pud): -> "
                                 "k.kvm_tlb_flush_vmid_ipa(self.kvm, addr)"): ["arm64-4k-39/stage2"],
                     ("mapping", "Machine.stage2_set_pud_huge: if k.pud_present(old_pud): -> "
                                 "k.get_page(k.virt_to_page(pud))"): ["arm64-4k-39/stage2"]}
    assert not judgement.ok


def test_a_wrong_entry_is_reported_stale():
    """An entry that calls a covered branch unreachable is reported with where it was covered."""
    wrong = Unreachable("wrong", ("arm64-4k-39/*",), "A mistake.",
                        (B(("old",), "clear_pte_entry: if k.pte_present(k.load(pte)): -> k.kvm_set_pte(pte, 0)"),))
    programs = [parse("platform arm64-4k-39\nmode hyp\nmap page 0x1000\nunmap 0x1000 0x1000\n")]
    judgement = judge(measure(programs), UNREACHABLE + (wrong,))
    assert [(e.name, b.source, where) for e, b, where in judgement.stale] == [("wrong", "old", ["arm64-4k-39/hyp"])]
    assert [(e.name, where) for e, _, where in judgement.documented if e.name == "wrong"] == [
        ("wrong", ["arm64-4k-39/stage2"])]
    assert not judgement.ok


def test_an_entry_that_names_no_branch_is_reported_unknown():
    """A key that matches no branch (its line was edited) is reported, never silently skipped."""
    gone = Unreachable("gone", ("*/*",), "Edited away.", (B(("v3",), "unmap_ptes: if pte_none: -> break"),))
    judgement = judge(measure([]), UNREACHABLE + (gone,))
    assert [(e.name, source, key) for e, source, key in judgement.unknown] == [
        ("gone", "v3", "unmap_ptes: if pte_none: -> break")]
    assert not judgement.ok


def test_an_entry_for_the_other_setting_of_the_fast_paths_is_not_applied():
    """An entry that holds only with the fast paths off excuses nothing when they are on."""
    programs = [parse("platform arm64-4k-39\nmode hyp\nmap page 0x1000\nunmap 0x1000 0x1000\n")]
    slow_only = Unreachable("slow-only", ("*/*",), "Only without fast paths.",
                            (B(("old",), "clear_pte_entry: if k.pte_present(k.load(pte)): -> exit"),),
                            fast_paths=False)
    judgement = judge(measure(programs), (slow_only,))
    assert not any(e.name == "slow-only" for e, _, _ in judgement.documented)
    assert any(b.key.startswith("clear_pte_entry: if k.pte_present") for b in judgement.uncovered)


# -- naming branches -----------------------------------------------------------------------------------------

def test_branch_keys_name_the_function_and_the_lines_not_their_numbers(tmp_path):
    """A key is the function, the branching line without its comment (with its ordinal when the function
    repeats it) and the line it goes to, or exit."""
    path = tmp_path / "walk.py"
    path.write_text("class K:\n"
                    "    def loop(self, a, end):\n"
                    "        while True:\n"
                    "            if a == end:   # the first test\n"
                    "                break\n"
                    "            a += 1\n"
                    "            if a == end:\n"
                    "                break\n"
                    "        if a:\n"
                    "            return 1\n")
    named = name_branches("v2", str(path), [(4, 5), (4, 6), (7, 8), (7, 3), (9, 10), (9, -2)])
    assert {arc: b.key for arc, b in named.items()} == {
        (4, 5): "K.loop: if a == end: -> break",
        (4, 6): "K.loop: if a == end: -> a += 1",
        (7, 8): "K.loop: if a == end: (2nd) -> break",
        (7, 3): "K.loop: if a == end: (2nd) -> while True:",
        (9, 10): "K.loop: if a: -> return 1",
        (9, -2): "K.loop: if a: -> exit",
    }
    assert str(named[(9, -2)]) == "impls/v2.py:9->exit"


# -- the command -----------------------------------------------------------------------------------------------

def run(capsys, *argv):
    status = cli.main(["coverage", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_command_passes_on_the_packaged_corpus(capsys):
    """`unmapfuzz coverage` measures the corpus that ships with the package, prints the table and exits 0."""
    status, out, err = run(capsys)
    assert (status, err) == (0, "")
    assert f"Branches covered by {len(CORPUS)} programs" in out
    assert re.search(r"^v3_pgdnone(\s+\d+/\d+){11}$", out, flags=re.M)
    assert "[folded-pud-addr-end] on arm32-lpae/*, arm64-4k-39/*, arm64-64k-42/*, arm64-64k-48/*" in out
    assert "NOT COVERED" not in out and out.rstrip().endswith("none documented unreachable is")


def test_the_command_exits_1_on_a_corpus_with_holes(capsys):
    """One program leaves holes: they are listed as FILE:LINE->LINE with their key and where, and the status is 1."""
    status, out, _ = run(capsys, ROOT / "corpus" / "behaviour" / "block-partly-in-range.ops")
    assert status == 1
    assert "NOT COVERED, though reachable" in out
    assert re.search(r"^  impls/v2\.py:\d+->\d+  unmap_ptes: if not k\.pte_none\(k\.load\(pte\)\): -> ", out, flags=re.M)


def test_the_command_json(capsys):
    """--json prints one object with the table, the holes, the documented misses with their reasons, and ok."""
    status, out, _ = run(capsys, "--json", "-q")
    data = json.loads(out)
    assert status == 0 and data["ok"] and data["fast_paths"] and data["programs"] == len(CORPUS)
    assert data["table"]["mapping"]["all"]["covered"] == data["table"]["mapping"]["all"]["reachable"]
    assert data["uncovered"] == [] and data["stale"] == [] and data["unknown"] == []
    assert {u["reason"] for u in data["unreachable"]} == set(data["reasons"])


def test_bad_files_are_one_line_each_and_exit_2(capsys, tmp_path):
    """An unreadable, unparsable or invalid file is one FILE:LINE: line on stderr; the others are still measured."""
    (tmp_path / "syntax.ops").write_text("frob\n")
    (tmp_path / "invalid.ops").write_text("profile realistic\nmap page 0x1000\nunmap 0x0 0x0\n")
    status, out, err = run(capsys, "-q", tmp_path, ROOT / "corpus" / "behaviour")
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        f"unmapfuzz: {tmp_path / 'invalid.ops'}:3: invalid program: op 1: realistic unmaps are not empty",
        f"unmapfuzz: {tmp_path / 'syntax.ops'}:1: unknown directive 'frob' (expected one of: unmapfuzz, platform, "
        "mode, profile, map, unmap, expect)"]
