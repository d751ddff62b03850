"""Tests for fuzz/properties.py: the only-known-findings property, its state machine and its atheris entry.

The property and the machine run under the loaded settings profile (``ci``
when $CI is set: derandomized, 60 examples).  The other tests inject a
deliberately broken implementation and check that each driver really fails,
with a message that is a runnable ``.ops`` program.
"""
import os
import random
from pathlib import Path

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

import unmapfuzz.impls as impls
from brokenimpls import BROKEN
from unmapfuzz.verdict.check import check
from unmapfuzz.programs import load, parse
from unmapfuzz.campaign.properties import (UnmapMachine, load_profile, make_property, only_known_findings,
                             test_programs_only_known)
from unmapfuzz.verdict.signature import signatures

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

# The property and the machine, under the loaded profile.
TestUnmapMachine = UnmapMachine.TestCase
__all__ = ["test_programs_only_known", "TestUnmapMachine"]

# For the injected-bug tests: deterministic, no database (a failure found here
# is never replayed against the real implementations), and no explain phase
# (it re-runs the failure under tracing, which takes half a minute).
INJECTED = settings(derandomize=True, max_examples=200, deadline=None, database=None,
                    print_blob=False, phases=[Phase.explicit, Phase.generate, Phase.shrink])


def _reproduces(text: str, kind: str) -> None:
    """``text`` parses as a program whose check shows ``broken/KIND`` with the injected impl."""
    program = parse(text)
    assert program.ops
    assert f"# unknown signature: broken/{kind}/" in text
    found = {(s.impl, s.kind) for s in signatures(check(program, profile=program.profile))}
    assert ("broken", kind) in found


@pytest.mark.parametrize("kind", ["still-mapped", "double-free"])
def test_property_fails_with_ops_text_on_injected_bug(kind, monkeypatch):
    """With a broken implementation added to BUILTIN, the property finds a program and its message is parseable .ops text that reproduces the finding."""
    monkeypatch.setitem(impls.BUILTIN, "broken", BROKEN[kind])
    with pytest.raises(AssertionError) as exc:
        INJECTED(make_property())()
    _reproduces(str(exc.value), kind)


def test_machine_fails_with_ops_text_on_injected_bug(monkeypatch):
    """With a broken implementation added to BUILTIN, the state machine fails, and both its message and its printed output carry .ops text that reproduces the finding."""
    monkeypatch.setitem(impls.BUILTIN, "broken", BROKEN["still-mapped"])
    with pytest.raises(AssertionError) as exc:
        run_state_machine_as_test(UnmapMachine, settings=INJECTED)
    _reproduces(str(exc.value), "still-mapped")
    # What hypothesis prints for the failing example (attached as notes).
    printed = "\n".join(getattr(exc.value, "__notes__", []))
    assert "state.map_op(data=data(...))  # map page " in printed, "each step shows its op"
    ops_text = printed[printed.index("unmapfuzz 1"):]
    assert parse(ops_text).ops == parse(str(exc.value)).ops


def test_machine_honours_explicit_impls():
    """A machine subclass with its own impls dict runs those instead of BUILTIN."""
    class Broken(UnmapMachine):
        impls = {"v3": impls.BUILTIN["v3"], "broken": BROKEN["crash"]}

    with pytest.raises(AssertionError) as exc:
        run_state_machine_as_test(Broken, settings=INJECTED)
    assert "# unknown signature: broken/crash/" in str(exc.value)
    assert "expect broken crash" in str(exc.value)


def test_fuzz_one_input_accepts_bytes():
    """fuzz_one_input (the atheris entry) takes arbitrary bytes and passes on programs with only known findings."""
    rng = random.Random(1)
    inputs = [b"", b"\x00", b"\x00" * 64, b"\xff" * 64, bytes(range(256))]
    inputs += [rng.randbytes(rng.randrange(1, 200)) for _ in range(40)]
    for data in inputs:
        test_programs_only_known.hypothesis.fuzz_one_input(data)


def test_fuzz_one_input_raises_on_injected_bug(monkeypatch):
    """Through fuzz_one_input too, a broken implementation makes some byte string raise with .ops text."""
    monkeypatch.setitem(impls.BUILTIN, "broken", BROKEN["still-mapped"])
    fuzz_one_input = INJECTED(make_property(max_ops=3)).hypothesis.fuzz_one_input
    rng = random.Random(2)
    for _ in range(500):
        try:
            fuzz_one_input(rng.randbytes(64))
        except AssertionError as exc:
            _reproduces(str(exc), "still-mapped")
            return
    pytest.fail("500 random inputs never met the injected still-mapped bug")


@pytest.mark.parametrize("path", sorted(CORPUS.rglob("*.ops")), ids=lambda p: p.stem)
def test_corpus_findings_are_known(path):
    """Every program in the text corpus shows only known findings, so the property accepts it."""
    only_known_findings(load(path))


def test_load_profile_from_environment(monkeypatch):
    """load_profile() takes UNMAPFUZZ_HYPOTHESIS, else ci under $CI, else dev."""
    before = settings.get_current_profile_name()
    monkeypatch.delenv("UNMAPFUZZ_HYPOTHESIS_DB", raising=False)     # ci is derandomised without a database
    try:
        monkeypatch.setenv("UNMAPFUZZ_HYPOTHESIS", "long")
        assert load_profile() == "long" and settings.default.max_examples == 20_000
        monkeypatch.delenv("UNMAPFUZZ_HYPOTHESIS")
        monkeypatch.setenv("CI", "1")
        assert load_profile() == "ci"
        assert settings.default.derandomize and settings.default.database is None
        monkeypatch.delenv("CI")
        assert load_profile() == "dev" and settings.default.max_examples == 300
    finally:
        settings.load_profile(before)


def test_profile_in_effect():
    """The suite runs under the profile the environment asks for (ci when $CI is set)."""
    want = os.environ.get("UNMAPFUZZ_HYPOTHESIS") or ("ci" if os.environ.get("CI") else "dev")
    assert settings.get_current_profile_name() == want
