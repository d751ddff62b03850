"""Tests for unmapfuzz.programs: the .ops data model, parser and formatter."""

import dataclasses

import pytest

from unmapfuzz.programs import text as P
from unmapfuzz.programs import (
    FINDING_KINDS, GUEST_PA_LIMIT, MAP_KINDS, MODES, PLATFORMS, PROFILES,
    Expect, Lines, Map, Program, ProgramError, Unmap, load, load_lines, parse, parse_lines, unknown_expects,
)

SAMPLES = [
    Program(),
    Program(platform="arm32-lpae", mode="hyp", profile="realistic"),
    Program(ops=(Map("page", 0x40001000), Map("pmd", 0x40200000, 0x80200000),
                 Map("pud", 0x80_0000_0000), Unmap(0x40000000, 0x400000), Unmap(0, 0)),
            profile="adversarial",
            expects=(Expect("old", ("still-mapped", "retained-empty-table")),
                     Expect("new", ()))),
    Program(ops=(Map("page", 2**64 - 1, GUEST_PA_LIMIT - 4096), Unmap(2**64 - 1, 2**64 - 1))),
    *[Program(platform=p, ops=(Map("pmd", 0x200000, 0),)) for p in PLATFORMS],
]


def error(text, path=None):
    with pytest.raises(ProgramError) as info:
        parse(text, path)
    return info.value


@pytest.mark.parametrize("prog", SAMPLES)
def test_round_trip(prog):
    """parse(format(p)) == p and formatting is a fixed point."""
    text = P.format(prog)
    assert parse(text) == prog
    assert P.format(parse(text)) == text


def test_pa_none_differs_from_explicit_identity():
    """A map without PA stays None, formats without PA, and defaults to identity."""
    implicit, explicit = Map("page", 0x1000), Map("page", 0x1000, 0x1000)
    assert implicit != explicit
    assert implicit.output_address() == explicit.output_address() == 0x1000
    assert Map("page", 0x1000, 0x5000).output_address() == 0x5000
    text = P.format(Program(ops=(implicit, explicit)))
    assert "map page 0x1000\nmap page 0x1000 0x1000\n" in text
    assert parse(text).ops == (implicit, explicit)


def test_canonical_format():
    """format() writes version, all headers, lowercase hex ops, then expects in order."""
    prog = Program(ops=(Map("pmd", 0xABC000, 0xDEF000), Unmap(0x1000, 0)), profile="realistic",
                   expects=(Expect("z", ("crash",)), Expect("a", ())))
    assert P.format(prog, header=["seed 7", "two\nlines"]) == (
        "# seed 7\n# two\n# lines\nunmapfuzz 1\nplatform arm64-4k-39\nmode stage2\n"
        "profile realistic\nmap pmd 0xabc000 0xdef000\nunmap 0x1000 0x0\n"
        "expect z crash\nexpect a ok\n")


def test_defaults_and_empty_text():
    """An empty or comment-only file is the default program."""
    assert parse("") == Program()
    assert parse("\n  # nothing\n\n") == Program(platform="arm64-4k-39", mode="stage2")
    assert Program().profile is None


def test_comments_and_blank_lines():
    """Comments after whitespace or at line start and blank lines are ignored."""
    prog = parse("# top\n\n  unmapfuzz 1   # version\n\tplatform arm64-64k-42 # p\n"
                 "#map page 0x1000\n   \nmap page 0x2000\t# trailing\r\n")
    assert prog == Program(platform="arm64-64k-42", ops=(Map("page", 0x2000),))


def test_hash_glued_to_a_token_is_not_a_comment():
    """A '#' not preceded by whitespace is part of the token, not a comment."""
    err = error("map page 0x1000#note\n")
    assert err.line == 1 and "bad map ipa '0x1000#note'" in err.reason


def test_numbers_decimal_and_hex():
    """Numbers may be decimal or case-insensitive hex, with Python-style underscores."""
    prog = parse("map page 4096 0X2_000\nunmap 0xFF_ff 1_000\nunmap 007 0x0\n")
    assert prog.ops == (Map("page", 4096, 0x2000), Unmap(0xFFFF, 1000), Unmap(7, 0))


def test_max_number_accepted_and_2_pow_64_rejected():
    """2**64 - 1 is accepted; anything >= 2**64 is rejected with its line."""
    assert parse(f"unmap 0 {2**64 - 1}").ops == (Unmap(0, 2**64 - 1),)
    err = error(f"map page 0x1000\nunmap 0 {2**64}\n")
    assert err.line == 2 and "out of range" in err.reason
    err = error("unmap 0x1_0000_0000_0000_0000 0\n")
    assert err.line == 1 and "below 2**64" in err.reason


def test_unaligned_addresses_allowed():
    """IPAs and sizes are not alignment-checked (the fuzzer runs unaligned sizes)."""
    assert parse("map pmd 0x1234\nunmap 0x1 0x3\n").ops == (Map("pmd", 0x1234), Unmap(1, 3))


def test_expect_kinds_sorted_and_unique():
    """Expect kinds are stored sorted and de-duplicated, from text or the constructor."""
    prog = parse("expect old still-mapped crash still-mapped\n")
    assert prog.expects == (Expect("old", ("crash", "still-mapped")),)
    assert Expect("x", ("hang", "crash", "hang")).kinds == ("crash", "hang")
    assert parse("expect new ok").expects == (Expect("new", ()),)


def test_expect_any_position_and_header_after_expect():
    """Expect lines may appear anywhere; headers may follow an expect but not an op."""
    prog = parse("expect a ok\nplatform arm64-4k-48\nmap page 0\nexpect b:1/x_y.z-2 hang\n")
    assert prog.platform == "arm64-4k-48"
    assert prog.expects == (Expect("a", ()), Expect("b:1/x_y.z-2", ("hang",)))


def test_every_finding_kind_accepted():
    """Every FINDING_KINDS entry is accepted in an expect line."""
    assert parse("expect x " + " ".join(FINDING_KINDS)).expects[0].kinds == tuple(sorted(FINDING_KINDS))


def test_with_ops():
    """with_ops returns a copy with only the ops replaced (as a tuple)."""
    prog = Program(platform="arm32-lpae", profile="adversarial", expects=(Expect("a"),))
    new = prog.with_ops([Unmap(0, 1)])
    assert new.ops == (Unmap(0, 1),) and new.platform == "arm32-lpae"
    assert new.expects == prog.expects and prog.ops == ()


@pytest.mark.parametrize("prog", SAMPLES)
def test_with_ops_keeps_every_other_field(prog):
    """with_ops names Program's fields one by one (it is on the hot path, where
    dataclasses.replace costs more): it must give what replace gives, so that a field
    added to Program later and not added there fails here."""
    ops = (Unmap(0x1000, 0x1000),)
    assert prog.with_ops(ops) == dataclasses.replace(prog, ops=ops)
    assert [f.name for f in dataclasses.fields(Program)] == ["platform", "mode", "ops", "profile", "expects"]


def test_error_str_format():
    """ProgramError carries path, line and reason, and str() is PATH:LINE: reason."""
    err = error("\n\nbogus\n", "prog.ops")
    assert (err.path, err.line) == ("prog.ops", 3)
    assert str(err) == f"prog.ops:3: {err.reason}"
    assert str(error("bogus")).startswith("<string>:1: unknown directive 'bogus'")
    assert isinstance(err, ValueError)


ERRORS = [
    ("platform arm64-4k-39\n\nfrob 1\n", 3, "unknown directive 'frob'"),
    ("Map page 0\n", 1, "unknown directive 'Map'"),
    ("map page\n", 1, "wrong number of arguments to map (expected: map KIND IPA [PA])"),
    ("map page 0 0 0\n", 1, "wrong number of arguments to map"),
    ("unmap 0\n", 1, "wrong number of arguments to unmap (expected: unmap IPA SIZE)"),
    ("unmap 0 1 2\n", 1, "wrong number of arguments to unmap"),
    ("platform\n", 1, "wrong number of arguments to platform"),
    ("mode stage2 hyp\n", 1, "wrong number of arguments to mode"),
    ("profile\n", 1, "wrong number of arguments to profile"),
    ("expect old\n", 1, "wrong number of arguments to expect"),
    ("unmapfuzz\n", 1, "wrong number of arguments to unmapfuzz"),
    ("unmapfuzz 2\n", 1, "unsupported format version 2 (this unmapfuzz reads 1)"),
    ("unmapfuzz one\n", 1, "bad format version 'one'"),
    ("# c\nplatform arm64-4k-39\nunmapfuzz 1\n", 3, "version line must be the first directive"),
    ("unmapfuzz 1\nunmapfuzz 1\n", 2, "version line must be the first directive"),
    ("\nplatform arm64-4k-40\n", 2,
     "unknown platform 'arm64-4k-40' (expected one of: arm32-lpae, arm64-4k-39,"),
    ("mode guest\n", 1, "unknown mode 'guest' (expected one of: stage2, hyp)"),
    ("profile nasty\n", 1, "unknown profile 'nasty' (expected one of: realistic, adversarial)"),
    ("map pgd 0\n", 1, "unknown map kind 'pgd' (expected one of: page, pmd, pud)"),
    ("expect old leaky\n", 1, "unknown finding kind 'leaky'"),
    ("expect old ok crash\n", 1, "'ok' cannot be combined with finding kinds"),
    ("expect old crash ok\n", 1, "'ok' cannot be combined with finding kinds"),
    ("expect o!d ok\n", 1, "bad impl name 'o!d'"),
    ("expect old ok\nmap page 0\nexpect old crash\n", 3,
     "duplicate expect for impl 'old' (first given on line 1)"),
    ("platform arm32-lpae\nplatform arm32-lpae\n", 2, "duplicate platform directive"),
    ("mode hyp\nmode hyp\n", 2, "duplicate mode directive"),
    ("profile realistic\nprofile adversarial\n", 2, "duplicate profile directive"),
    ("map page 0\nplatform arm32-lpae\n", 2, "platform after an op"),
    ("unmap 0 1\nmode hyp\n", 2, "mode after an op"),
    ("map page 0\n\nprofile realistic\n", 3, "profile after an op"),
    ("map page 0x\n", 1, "bad map ipa '0x'"),
    ("map page 0x1000 -4096\n", 1, "bad map pa '-4096'"),
    ("unmap 0b101 1\n", 1, "bad unmap ipa '0b101'"),
    ("unmap 0 1__0\n", 1, "bad unmap size '1__0'"),
    ("unmap 0 0x_\n", 1, "bad unmap size '0x_'"),
    ("unmap 0 ٣\n", 1, "bad unmap size"),
    ("unmap 0 1.5\n", 1, "bad unmap size '1.5'"),
    ("map page 0 0x1001\n", 1, "map pa 0x1001 is not page aligned"),
    ("map page 0 0xf00000000000\n", 1, "map pa 0xf00000000000 is too high"),
]


@pytest.mark.parametrize("text,line,phrase", ERRORS)
def test_errors(text, line, phrase):
    """Each malformed program fails at the exact line with a message saying what was wrong."""
    err = error(text, "prog.ops")
    assert err.line == line
    assert phrase in err.reason
    assert str(err).startswith(f"prog.ops:{line}: ")


def test_load_reads_file(tmp_path):
    """load() parses a UTF-8 file and reports its path in errors."""
    good = tmp_path / "good.ops"
    good.write_text("# é\nmap page 0x1000\n", encoding="utf-8")
    assert load(good) == Program(ops=(Map("page", 0x1000),))
    bad = tmp_path / "bad.ops"
    bad.write_text("# c\n\nmode x\n")
    with pytest.raises(ProgramError) as info:
        load(str(bad))
    assert str(info.value).startswith(f"{bad}:3: unknown mode 'x'")


def test_load_missing_file(tmp_path):
    """load() of a missing file raises ProgramError with no line and 'cannot read'."""
    missing = tmp_path / "nope.ops"
    with pytest.raises(ProgramError) as info:
        load(missing)
    err = info.value
    assert err.line is None and err.path == str(missing)
    assert str(err).startswith(f"{missing}: cannot read: ")


def test_load_non_utf8(tmp_path):
    """load() of a file that is not UTF-8 raises ProgramError 'cannot read'."""
    path = tmp_path / "latin.ops"
    path.write_bytes(b"# \xff\n")
    with pytest.raises(ProgramError, match="cannot read"):
        load(path)


def test_non_utf8_byte_is_reported_at_its_line_and_column(tmp_path):
    """A byte that is not UTF-8 is a FILE:LINE: error naming the byte and its column, not a decoder message."""
    path = tmp_path / "latin.ops"
    path.write_bytes(b"map page 0x1000\nunmap 0x0 0x1000  # caf\xe9\n")
    with pytest.raises(ProgramError) as info:
        load(path)
    assert (info.value.path, info.value.line) == (str(path), 2)
    assert str(info.value) == f"{path}:2: cannot read: not UTF-8: byte 0xe9 at column 24"


def test_a_byte_order_mark_is_skipped(tmp_path):
    """A UTF-8 byte-order mark at the start of a file is not part of the first directive."""
    path = tmp_path / "bom.ops"
    path.write_bytes(b"\xef\xbb\xbfplatform arm32-lpae\nmap page 0x1000\n")
    assert load(path) == Program(platform="arm32-lpae", ops=(Map("page", 0x1000),))
    assert parse("\ufeffmap page 0x1000\n") == parse("map page 0x1000\n")
    assert error("map page 0\n\ufeffunmap 0 1\n").line == 2     # only at the start


@pytest.mark.parametrize("text,phrase", [
    ("map page " + "1" * 100_000, "map ipa 1111111111"),
    ("unmap 0x" + "f" * 100_000 + " 1", "unmap ipa 0xffffffff"),
    ("unmapfuzz " + "9" * 100_000, "unsupported format version 99999"),
    ("map page " + "1" * 100_000 + "z", "bad map ipa '1111111"),
    ("frob" * 25_000, "unknown directive 'frobfrob"),
])
def test_a_huge_token_gives_one_short_line(text, phrase):
    """A 100,000-character token is reported by its first characters and its length, never with Python's int advice."""
    err = error(text, "big.ops")
    assert phrase in str(err) and " characters)" in str(err)
    assert "set_int_max_str_digits" not in str(err) and len(str(err)) < 200


def test_leading_zeros_do_not_make_a_number_too_big():
    """Only significant digits count towards 2**64: zero padding of any length is accepted."""
    assert parse("map page 0x" + "0" * 10_000 + "1000\n").ops == (Map("page", 0x1000),)
    assert parse("unmap " + "0" * 10_000 + " 18446744073709551615\n").ops == (Unmap(0, 2**64 - 1),)
    assert parse("unmapfuzz 0001\n") == Program()


def test_parse_lines_gives_each_op_and_expect_its_line():
    """parse_lines() returns the same program as parse() and the line of every op and expect."""
    text = "# c\nplatform arm32-lpae\nmap page 0x1000\n\nexpect old ok\nunmap 0 0x1000  # x\nexpect v3 crash\n"
    program, lines = parse_lines(text, "p.ops")
    assert program == parse(text)
    assert lines == Lines("p.ops", ops=(3, 6), expects=(("old", 5), ("v3", 7)))
    assert (lines.op(1), lines.op(2), lines.expect("v3"), lines.expect("v2")) == (6, None, 7, None)
    assert (lines.where(6), lines.where()) == ("p.ops:6", "p.ops")


def test_load_lines_reads_the_file(tmp_path):
    """load_lines() reads the file and names it in its Lines."""
    path = tmp_path / "a.ops"
    path.write_text("map page 0x1000\nunmap 0 0x1000\n")
    program, lines = load_lines(path)
    assert program == load(path) and lines.ops == (1, 2) and lines.path == str(path)


def test_unknown_expects_names_each_one_at_its_line():
    """Every expect naming an implementation outside the known names is an error at its line; known ones are not."""
    program, lines = parse_lines("map page 0\nexpect old ok\nexpect v33 crash\nexpect mine ok\n", "p.ops")
    errors = unknown_expects(program, lines, ["old", "v2", "v3"])
    assert [str(e) for e in errors] == [
        "p.ops:3: expect names implementation v33, which was not given (give it with --impl v33=PATH; "
        "known: old, v2, v3)",
        "p.ops:4: expect names implementation mine, which was not given (give it with --impl mine=PATH; "
        "known: old, v2, v3)"]
    assert unknown_expects(program, lines, ["old", "v33", "mine"]) == []


try:
    from hypothesis import given, strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    _u64 = st.integers(0, 2**64 - 1)
    _maps = st.builds(Map, st.sampled_from(MAP_KINDS), _u64,
                      st.none() | st.integers(0, GUEST_PA_LIMIT // 4096 - 1).map(lambda n: n * 4096))
    _expects = st.dictionaries(
        st.from_regex(r"[A-Za-z0-9_.:/-]+", fullmatch=True),
        st.lists(st.sampled_from(FINDING_KINDS)), max_size=4,
    ).map(lambda d: tuple(Expect(k, tuple(v)) for k, v in d.items()))
    _programs = st.builds(
        Program, st.sampled_from(PLATFORMS), st.sampled_from(MODES),
        st.lists(_maps | st.builds(Unmap, _u64, _u64), max_size=12).map(tuple),
        st.none() | st.sampled_from(PROFILES), _expects,
    )

    @given(_programs, st.lists(st.text()))
    def test_round_trip_property(prog, header):
        """Every valid program round-trips through format/parse, with any header comments."""
        text = P.format(prog, header)
        assert parse(text) == prog
        assert P.format(parse(text)) == P.format(prog)
