"""corpus/known.txt: every documented divergence has a program in corpus/ that shows it."""
from pathlib import Path

import pytest

from unmapfuzz.verdict.known import is_known, load_known
from unmapfuzz.verdict.check import check
from unmapfuzz.programs import load
from unmapfuzz.verdict.signature import signatures

ROOT = Path(__file__).resolve().parent.parent


def corpus_signatures() -> set[str]:
    found = set()
    for path in (ROOT / "corpus").rglob("*.ops"):
        found |= {str(s) for s in signatures(check(load(path)))}
    return found


@pytest.mark.parametrize("profile", ["realistic", "adversarial"])
def test_every_known_pattern_is_shown_by_the_corpus(profile):
    """A known-divergence pattern that no corpus program matches is a claim nothing backs."""
    shown = corpus_signatures()
    unbacked = [p for p in load_known(profile=profile) if not any(is_known(s, [p]) for s in shown)]
    assert unbacked == []


def test_adversarial_patterns_do_not_apply_to_realistic_campaigns():
    """A walker precondition break is expected in adversarial campaigns and news in realistic ones."""
    sig = "v3/still-mapped/arm64-64k-42/stage2/pte"
    assert is_known(sig, load_known(profile="adversarial"))
    assert not is_known(sig, load_known(profile="realistic"))


def test_bad_scope_is_reported_with_file_and_line(tmp_path):
    """A typo in a scope names the file and line."""
    bad = tmp_path / "known.txt"
    bad.write_text("# ok\nadverserial: */x/*\n")
    with pytest.raises(ValueError, match=r"known.txt:2: unknown scope"):
        load_known(bad, profile="adversarial")


def test_the_packaged_list_is_the_checkouts(tmp_path):
    """The installed package reads corpus/known.txt itself, not an empty stand-in."""
    from unmapfuzz.verdict.known import default_known_path
    assert default_known_path().read_text() == (ROOT / "corpus" / "known.txt").read_text()
    assert load_known(default_known_path())


def test_a_missing_known_list_is_an_error_not_an_empty_list(tmp_path):
    """A known list that cannot be read raises, naming the file, instead of marking every bucket new."""
    from unmapfuzz.verdict.known import KnownListError
    with pytest.raises(KnownListError, match="nope.txt: cannot read"):
        load_known(tmp_path / "nope.txt")


def test_fuzz_rejects_an_unreadable_known_list(tmp_path, capsys):
    """`fuzz --known FILE` with a missing file exits 2 and names it, before any worker starts."""
    from unmapfuzz.cli.main import main
    assert main(["fuzz", "--known", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "out")]) == 2
    assert "nope.txt: cannot read" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_every_pattern_names_a_builtin_or_the_map_path():
    """No pattern starts with a wildcard: each names the code that has the documented bug."""
    from unmapfuzz.impls import BUILTIN
    from unmapfuzz.verdict.known import read_known
    owners = {k.pattern.split("/")[0] for k in read_known()}
    assert owners and owners <= {*BUILTIN, "map"}


@pytest.mark.parametrize("line", ["*/still-mapped/*/*/*", "mine/still-mapped/*/*/*", "v[23]/hang/*/*/*",
                                  "old/still-mapped/*"])
def test_a_pattern_that_could_match_a_user_implementation_is_refused(tmp_path, line):
    """A wildcard, unknown or short IMPL part is an error naming the file and line, not a silent match-all."""
    from unmapfuzz.verdict.known import KnownListError
    bad = tmp_path / "known.txt"
    bad.write_text(f"# header\n{line}\n")
    with pytest.raises(KnownListError, match=r"known.txt:2: "):
        load_known(bad)


def test_no_builtin_pattern_matches_a_user_implementation():
    """A user's implementation with any kind, platform, mode and level is never known by pattern."""
    from unmapfuzz.programs import FINDING_KINDS, MODES, PLATFORMS
    patterns = load_known(profile="adversarial") + load_known(profile="realistic")
    for kind in (*FINDING_KINDS, "divergence"):
        for platform in PLATFORMS:
            for mode in MODES:
                for level in ("pgd", "pud", "pmd", "pte", "none", "translations", "tables", "freed", "tlb"):
                    assert not is_known(f"mine/{kind}/{platform}/{mode}/{level}", patterns)


def test_a_v3_copy_missing_a_pte_flush_is_new(tmp_path):
    """The issue's own example: v3 with one pte TLB flush removed shows a finding the known list does not hide."""
    from unmapfuzz.impls import load_impl
    from unmapfuzz.verdict.known import new_signatures
    source = (ROOT / "impls" / "v3_pgdnone.py").read_text()
    flush = "            k.put_page(k.virt_to_page(pte))\n            k.kvm_tlb_flush_vmid_ipa(kvm, addr)\n"
    assert flush in source
    mine = tmp_path / "mine.py"
    mine.write_text(source.replace(flush, "            k.put_page(k.virt_to_page(pte))\n"))
    name, fn = load_impl(f"mine={mine}")
    from unmapfuzz.impls import BUILTIN
    program = load(ROOT / "corpus" / "behaviour" / "block-partly-in-range.ops").with_ops(())
    from unmapfuzz.programs import Map, Unmap
    program = program.with_ops((Map("page", 0x40001000), Unmap(0x40000000, 0x200000)))
    verdict = check(program, {**BUILTIN, name: fn}, "realistic")
    new = [str(s) for s in new_signatures(verdict, load_known(profile="realistic"))]
    assert new == ["mine/missing-tlbi/arm64-4k-39/stage2/pte"]
