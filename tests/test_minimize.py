"""Tests for unmapfuzz.triage.minimize, triage.explain and the minimize command."""

import random
import time

import pytest

from unmapfuzz.cli import main as cli
from unmapfuzz.verdict.check import check
from unmapfuzz.triage.explain import explain, reproducer_text
from unmapfuzz.triage.minimize import Minimizer, Outcome, ddmin, minimize
from unmapfuzz.reference.profiles import validate
from unmapfuzz.programs import Map, Program, Unmap, parse
from unmapfuzz.programs import format as format_program
from unmapfuzz.verdict.signature import Signature, signatures

ABANDON = Signature.parse("old/still-mapped/arm64-4k-39/stage2/pte")
RUN_OFF = Signature.parse("v2/out-of-bounds/arm64-4k-39/stage2/pte")
EMPTY_PUD = Program(platform="arm64-4k-39", mode="stage2", profile="realistic",
                    ops=(Map("page", 0x80001000), Unmap(0, 0x100000000)))


def noisy_program(seed: int, total: int = 40) -> Program:
    """``map page 0x80001000; unmap 0x0 0x100000000`` buried among random valid realistic ops."""
    rng = random.Random(seed)
    base = Program(platform="arm64-4k-39", mode="stage2", profile="realistic")
    ops: list = []
    while len(ops) < total - 2:
        # Half the noise in the first 8 GB, around the bug; all of it below
        # 512 GB, which the host's pgd_index cannot tell from 0 on this platform.
        top = 1 << (33 if rng.random() < 0.5 else 39)
        r = rng.random()
        if r < 0.5:
            op = Map("page", rng.randrange(top >> 12) << 12)
        elif r < 0.7:
            op = Map("pmd", rng.randrange(top >> 21) << 21)
        else:
            op = Unmap(rng.randrange(top >> 12) << 12, rng.choice([1, 2, 16, 512, 4096]) << 12)
        if validate(base.with_ops(ops + [op])) is None:
            ops.append(op)
    i = rng.randrange(len(ops) + 1)
    ops.insert(i, EMPTY_PUD.ops[0])
    ops.insert(rng.randrange(i + 1, len(ops) + 1), EMPTY_PUD.ops[1])
    return base.with_ops(ops)


def first_noisy_program() -> Program:
    for seed in range(1000):
        program = noisy_program(seed)
        verdict = check(program)
        if not verdict.invalid and ABANDON in signatures(verdict):
            return program
    raise AssertionError("no seed keeps the bug")


# -- ddmin ------------------------------------------------------------------------

def test_ddmin_finds_the_needed_elements():
    """ddmin on a toy predicate keeps exactly the elements the failure needs."""
    needed = {3, 7, 11}
    calls = []

    def test(items):
        calls.append(list(items))
        return Outcome.FAIL if needed <= set(items) else Outcome.PASS

    assert ddmin(list(range(20)), test) == [3, 7, 11]
    assert all(isinstance(c, list) for c in calls)


def test_ddmin_treats_unresolved_as_not_failing():
    """An unresolved complement is never taken, even if it would be smaller."""
    def test(items):
        if len(items) == 1:
            return Outcome.UNRESOLVED
        return Outcome.FAIL if 5 in items else Outcome.PASS

    result = ddmin(list(range(8)), test)
    assert 5 in result and len(result) == 2


def test_ddmin_keeps_a_single_element():
    """A one-element failing input is already minimal."""
    assert ddmin(["x"], lambda items: Outcome.FAIL if items else Outcome.PASS) == ["x"]


# -- minimize ---------------------------------------------------------------------

def test_minimize_keeps_the_signature():
    """Every program the minimizer accepts shows the signature and is valid."""
    m = Minimizer(ABANDON)
    result = m.run(EMPTY_PUD)
    assert ABANDON in signatures(check(result, None, result.profile))
    assert validate(result) is None
    assert m.accepted and all(ABANDON in signatures(check(p, None, p.profile)) for p in m.accepted)


def test_minimize_never_slips_to_another_signature():
    """A smaller candidate that shows a different bug is tested and rejected."""
    program = Program(platform="arm64-4k-39", mode="stage2", profile="adversarial", ops=(
        Map("page", 0x80001000), Map("page", 0x40001000),
        Unmap(0x40000000, 0x1800), Unmap(0, 0x100000000)))
    assert {ABANDON, RUN_OFF} <= set(signatures(check(program)))
    m = Minimizer(ABANDON)
    result = m.run(program)
    slips = [text for text, outcome in m.tested.items()
             if outcome == Outcome.PASS and signatures(m.verdicts[text])]
    assert slips, "the test needs a candidate that shows only another signature"
    assert all(ABANDON not in signatures(m.verdicts[t]) for t in slips)
    assert ABANDON in signatures(check(result))
    assert all(ABANDON in signatures(m.verdict(p)) for p in m.accepted)


def test_minimize_rejects_a_simpler_op_with_a_different_level():
    """Turning the pmd block into a page would move the finding to the pte level, so it is refused."""
    program = Program(platform="arm64-4k-39", mode="stage2", profile="realistic",
                      ops=(Map("pmd", 0x80200000), Unmap(0, 0x100000000)))
    sig = Signature.parse("old/still-mapped/arm64-4k-39/stage2/pmd")
    assert signatures(check(program)) == [sig]
    as_page = program.with_ops((Map("page", 0x80200000), program.ops[1]))
    assert signatures(check(as_page)) == [ABANDON]
    m = Minimizer(sig)
    result = m.run(program)
    assert m.tested[format_program(as_page)] == Outcome.PASS
    assert [type(op) for op in result.ops] == [Map, Unmap] and result.ops[0].kind == "pmd"
    assert sig in signatures(check(result))


def test_minimize_drops_explicit_pa_and_rounds_addresses():
    """An explicit PA becomes the identity default and addresses move to block boundaries."""
    program = EMPTY_PUD.with_ops((Map("page", 0x80001000, 0x123000), Unmap(0, 0x100000000)))
    result = minimize(program, ABANDON)
    assert result.ops[0].pa is None
    assert result.ops[0].ipa % 0x200000 == 0


def test_minimize_refuses_a_program_without_the_signature():
    """Minimising for a signature the program does not show is an error."""
    with pytest.raises(ValueError, match="does not show"):
        minimize(EMPTY_PUD, RUN_OFF)


def test_noise_around_a_divergence_minimises_to_two_ops():
    """The 40-op noisy program minimises to one map and one unmap in under 10 s."""
    program = first_noisy_program()
    assert len(program.ops) == 40
    started = time.perf_counter()
    result = minimize(program, ABANDON)
    elapsed = time.perf_counter() - started
    assert [type(op) for op in result.ops] == [Map, Unmap]
    assert ABANDON in signatures(check(result))
    assert elapsed < 10


def test_minimize_is_deterministic():
    """The same input gives the same output, op for op and byte for byte."""
    program = first_noisy_program()
    first, second = minimize(program, ABANDON), minimize(program, ABANDON)
    assert first == second
    v1, v2 = check(first), check(second)
    assert reproducer_text(first, ABANDON, explain(v1, ABANDON)) == \
        reproducer_text(second, ABANDON, explain(v2, ABANDON))


def test_minimize_uses_the_given_profile():
    """Under a stricter profile than the program's own, the result is valid under it and records it."""
    program = EMPTY_PUD.with_ops(EMPTY_PUD.ops)
    program = Program(program.platform, program.mode, program.ops, None)
    result = minimize(program, ABANDON, profile="realistic")
    assert result.profile == "realistic"
    assert validate(result, "realistic") is None


# -- explain and reproducer_text ---------------------------------------------------

def test_explain_states_the_first_matching_violation():
    """The explanation names the op, the level, the IPA and the oracle's detail."""
    text = explain(check(EMPTY_PUD), ABANDON)
    assert text.startswith("op 1 (unmap 0x0 0x100000000): the pte at IPA 0x80001000 is still mapped: ")
    assert "\n" not in text


def test_explain_rejects_an_absent_signature():
    """Explaining a signature the verdict does not show is an error."""
    with pytest.raises(ValueError):
        explain(check(EMPTY_PUD), RUN_OFF)


def test_reproducer_text_parses_and_records_the_verdict():
    """The reproducer parses back, its header has the signature and its expect lines match check."""
    small = minimize(EMPTY_PUD, ABANDON)
    verdict = check(small)
    text = reproducer_text(small, ABANDON, explain(verdict, ABANDON), file="out.ops")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert header[0] == f"# signature: {ABANDON}"
    assert header[1].startswith("# op 1 (unmap ")
    assert header[2] == "# replay: unmapfuzz check out.ops"
    parsed = parse(text)
    assert parsed.ops == small.ops and parsed.platform == small.platform
    assert {e.impl: e.kinds for e in parsed.expects} == \
        {name: r.kinds for name, r in check(parsed).results.items()}
    assert dict((e.impl, e.kinds) for e in parsed.expects)["old"] == ("still-mapped",)
    assert dict((e.impl, e.kinds) for e in parsed.expects)["v3"] == ()


# -- the command ------------------------------------------------------------------

def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_command_prints_a_reproducer(tmp_path, capsys):
    """minimize FILE prints the reproducer and 'N ops -> M ops' and exits 0."""
    program = first_noisy_program()
    file = write(tmp_path, "big.ops", format_program(program))
    assert cli.main(["minimize", file, "--signature", str(ABANDON)]) == 0
    out, err = capsys.readouterr()
    assert f"# signature: {ABANDON}" in out
    assert err.startswith(f"40 ops -> 2 ops, signature {ABANDON}")
    assert len(parse(out).ops) == 2
    # Without --signature: the first signature of the verdict.
    first = signatures(check(program))[0]
    assert cli.main(["minimize", file]) == 0
    out, err = capsys.readouterr()
    assert f"# signature: {first}" in out and f"signature {first}" in err


def test_command_writes_output_atomically(tmp_path, capsys):
    """-o OUT writes the reproducer to OUT and nothing else to stdout."""
    file = write(tmp_path, "in.ops", format_program(EMPTY_PUD))
    out_path = tmp_path / "out.ops"
    assert cli.main(["minimize", file, "-o", str(out_path), "--signature", str(ABANDON)]) == 0
    out, _ = capsys.readouterr()
    assert out == ""
    text = out_path.read_text()
    assert f"# replay: unmapfuzz check {out_path}" in text
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert cli.main(["check", str(out_path)]) == 1


def test_command_exit_codes_for_bad_input(tmp_path, capsys):
    """Clean programs, unknown signatures and unparsable files exit 2 with FILE[:LINE]."""
    clean = write(tmp_path, "clean.ops", "map page 0x1000\nunmap 0x0 0x2000\n")
    assert cli.main(["minimize", clean]) == 2
    assert f"{clean}: nothing to minimise: every implementation is clean" in capsys.readouterr().err
    bad = write(tmp_path, "bad.ops", "map page 0x1000\nunmap 0x0 zz\n")
    assert cli.main(["minimize", bad]) == 2
    assert f"{bad}:2: bad unmap size" in capsys.readouterr().err
    buggy = write(tmp_path, "buggy.ops", format_program(EMPTY_PUD))
    assert cli.main(["minimize", buggy, "--signature", str(RUN_OFF)]) == 2
    assert "does not show" in capsys.readouterr().err
    assert cli.main(["minimize", buggy, "--signature", "nonsense"]) == 2


def test_command_quiet_and_verbose(tmp_path, capsys):
    """-q drops the statistics line but not the reproducer; -v adds the size of each accepted program."""
    file = write(tmp_path, "in.ops", format_program(EMPTY_PUD.with_ops([Map("page", 0x1000), *EMPTY_PUD.ops])))
    assert cli.main(["minimize", "-q", file, "--signature", str(ABANDON)]) == 0
    out, err = capsys.readouterr()
    assert f"# signature: {ABANDON}" in out and err == ""
    assert cli.main(["minimize", "-v", file, "--signature", str(ABANDON)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("accepted: 3 ops -> ") and err[0].endswith(" -> 2") and err[1].startswith("3 ops -> 2 ops")


def test_command_bad_expect_and_invalid_op_at_their_line(tmp_path, capsys):
    """An expect naming an unknown implementation, or an op the profile rejects, is FILE:LINE: and exit 2."""
    typo = write(tmp_path, "typo.ops", format_program(EMPTY_PUD) + "expect v33 ok\n")
    assert cli.main(["minimize", typo]) == 2
    assert capsys.readouterr().err == f"unmapfuzz: {typo}:7: expect names implementation v33, which was not " \
                                      "given (give it with --impl v33=PATH; known: old, v2, v3, v3-pgdnone)\n"
    invalid = write(tmp_path, "invalid.ops", "profile realistic\nmap page 0x1000\n\nunmap 0x0 0x800\n")
    assert cli.main(["minimize", invalid]) == 2
    assert capsys.readouterr().err == f"unmapfuzz: {invalid}:4: invalid program: op 1: realistic unmaps are " \
                                      "page-aligned\n"
