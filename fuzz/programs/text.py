"""The ``.ops`` text format of programs: strict, versioned, line-oriented.

A program is a short, straight-line list of page-table operations run against
one simulated platform: ``map`` installs a page, a PMD block or a PUD block at
an intermediate physical address (IPA), and ``unmap`` tears down an arbitrary
IPA range.  The fuzzer generates, shrinks and replays programs, and humans
read and edit them, so they are stored as plain text, one directive per line::

    # seed 1234, found by the adversarial profile
    unmapfuzz 1
    platform arm64-4k-39
    mode stage2
    profile adversarial
    map page 0x40001000
    map pmd 0x40200000 0x80200000
    unmap 0x40000000 0x400000
    expect old still-mapped retained-empty-table
    expect new ok

The first word of a line names the directive and the rest are its arguments,
separated by whitespace.  A ``#`` at the start of a line or after whitespace
starts a comment that runs to the end of the line; blank lines are ignored.
Line numbers are counted on ``\\n`` and are 1-based, so error messages point
at what an editor shows.

The optional ``unmapfuzz 1`` line states the format version.  If present it
must be the first directive, and any version other than 1 is rejected rather
than guessed at.  The header directives ``platform``, ``mode`` and
``profile`` may each appear at most once and only before the first op; they
default to ``arm64-4k-39``, ``stage2`` and no profile.  ``map KIND IPA [PA]``
and ``unmap IPA SIZE`` are the ops, kept in file order.  A map without a PA
uses the documented deterministic default, identity (PA = IPA); see
:meth:`Map.output_address`.  ``expect IMPL ok`` or ``expect IMPL KIND...``
records the findings an implementation is expected to produce; it may appear
anywhere, at most once per implementation.  Its kinds are a set: they are
stored sorted and de-duplicated, so ``expect old b a a`` reads back as kinds
``("a", "b")`` and formats as ``expect old a b``.

Numbers are decimal or ``0x`` hex (either case), may use underscores as in
Python literals, and must lie in ``[0, 2**64)``.  Addresses and sizes are
deliberately not checked for alignment, because unaligned unmaps are part of
what is being fuzzed.  The one exception is a map's explicit PA, which must be
page (4096) aligned and below :data:`GUEST_PA_LIMIT`, since the model keeps
its own table pages above that limit.

Parsing is strict: anything unexpected raises :class:`ProgramError` naming
the file and line, what was wrong and what was expected, in one line of
bounded length (a token of a hundred thousand characters is shown by its
first few).  A file is UTF-8; a byte-order mark at its start is skipped, and
bytes that are not UTF-8 are reported at their line.  :func:`format` writes
the canonical form (version line, every header, lowercase hex), so
``parse(format(p)) == p`` for every valid program and formatting is a fixed
point.

A :class:`Program` is plain data and knows nothing of where it was written.
Commands that must point at a line after parsing (an op the profile rejects,
an ``expect`` naming an implementation that does not exist) ask for the
:class:`Lines` beside it: :func:`parse_lines` and :func:`load_lines` return
both, and :func:`unknown_expects` is the one check of ``expect`` names
against the implementations a command knows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .ops import (FINDING_KINDS, FORMAT_VERSION, GUEST_PA_LIMIT, MAP_KINDS, MODES, PAGE_SIZE, PLATFORMS,
                  PROFILES, Expect, Map, Op, Program, Unmap, format_op)

__all__ = ["ProgramError", "Lines", "parse", "parse_lines", "load", "load_lines", "format",
           "unknown_expects"]

_NUMBER_RE = re.compile(r"0[xX](?:_?[0-9a-fA-F])+|[0-9](?:_?[0-9])*")
_IMPL_RE = re.compile(r"[A-Za-z0-9_.:/-]+")
_COMMENT_RE = re.compile(r"(?:^|\s)#.*")
_BOM = "\ufeff"
_OP_REASON_RE = re.compile(r"op (\d+): ")
# The most significant digits a number below 2**64 can have, by base.
_MAX_DIGITS = {10: 20, 16: 16}
_SHOWN = 40
_HEADERS = ("platform", "mode", "profile")
_USAGE = {
    "unmapfuzz": "unmapfuzz VERSION",
    "platform": "platform NAME",
    "mode": "mode NAME",
    "profile": "profile NAME",
    "map": "map KIND IPA [PA]",
    "unmap": "unmap IPA SIZE",
    "expect": "expect IMPL ok | expect IMPL KIND...",
}
_ARITY = {"unmapfuzz": (1, 1), "platform": (1, 1), "mode": (1, 1),
          "profile": (1, 1), "map": (2, 3), "unmap": (2, 2),
          "expect": (2, None)}


class ProgramError(ValueError):
    """A program could not be read or parsed; ``str()`` is ``PATH:LINE: reason``."""

    def __init__(self, reason: str, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        self.reason = reason
        where = path if path is not None else "<string>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class Lines:
    """Where a parsed program's parts were written: 1-based line numbers.

    ``ops[n]`` is the line of ``program.ops[n]``; ``expects`` pairs each
    ``expect``'s implementation with its line.  Kept beside the program, never
    in it, so that programs compare and format as the data they are.
    """

    path: str | None
    ops: tuple[int, ...] = ()
    expects: tuple[tuple[str, int], ...] = ()

    def where(self, line: int | None = None) -> str:
        """``PATH:LINE`` (``PATH`` alone without a line), as error messages start."""
        path = self.path if self.path is not None else "<string>"
        return path if line is None else f"{path}:{line}"

    def op(self, index: int) -> int | None:
        """The line of op ``index``, or None if there is no such op."""
        return self.ops[index] if 0 <= index < len(self.ops) else None

    def expect(self, impl: str) -> int | None:
        """The line of the ``expect`` for ``impl``, or None."""
        return next((line for name, line in self.expects if name == impl), None)

    def invalid(self, reason: str) -> ProgramError:
        """The error for a program a profile rejects, at the line of the op ``reason`` names.

        Validity is judged on ops by index (``op 3: realistic unmaps are
        page-aligned``); this puts the file and that op's line in front.
        """
        match = _OP_REASON_RE.match(reason)
        line = self.op(int(match.group(1))) if match else None
        return ProgramError(f"invalid program: {reason}", self.path, line)


def _shown(token: str, quote: bool = True) -> str:
    """``token`` for a message (quoted unless ``quote`` is false), cut to its
    first characters when it is long, so that every message stays one short line."""
    cut = token if len(token) <= _SHOWN else token[:_SHOWN - 8]
    text = repr(cut) if quote else cut
    return text if cut is token else f"{text}... ({len(token)} characters)"


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {_shown(value)} (expected one of: {', '.join(allowed)})")
    return value


def _number(token: str, what: str) -> int:
    if not _NUMBER_RE.fullmatch(token):
        raise ValueError(f"bad {what} {_shown(token)} (expected a non-negative decimal "
                         "or 0x-prefixed hex number, underscores allowed)")
    base = 16 if token[1:2] in ("x", "X") else 10
    digits = (token[2:] if base == 16 else token).replace("_", "").lstrip("0")
    # Python refuses to convert very long decimal strings at all; no number
    # with more significant digits than 2**64 - 1 can be in range anyway.
    if len(digits) > _MAX_DIGITS[base] or int(digits or "0", base) >= 1 << 64:
        shown = _shown(token, quote=False)
        raise ValueError(f"{what} {shown} is out of range (expected a number below 2**64)")
    return int(digits or "0", base)


def _map(args: list[str]) -> Map:
    kind = _choice(args[0], MAP_KINDS, "map kind")
    ipa = _number(args[1], "map ipa")
    pa = _number(args[2], "map pa") if len(args) == 3 else None
    if pa is not None and pa % PAGE_SIZE:
        raise ValueError(f"map pa {pa:#x} is not page aligned (expected a multiple of {PAGE_SIZE:#x})")
    if pa is not None and pa >= GUEST_PA_LIMIT:
        raise ValueError(f"map pa {pa:#x} is too high (expected below {GUEST_PA_LIMIT:#x})")
    return Map(kind, ipa, pa)


def _expect(args: list[str]) -> Expect:
    impl, kinds = args[0], args[1:]
    if not _IMPL_RE.fullmatch(impl):
        raise ValueError(f"bad impl name {_shown(impl)} (expected letters, digits and _.:/-)")
    if kinds == ["ok"]:
        return Expect(impl, ())
    if "ok" in kinds:
        raise ValueError("'ok' cannot be combined with finding kinds "
                         "(expected either 'ok' alone or one or more finding kinds)")
    for kind in kinds:
        _choice(kind, FINDING_KINDS, "finding kind")
    return Expect(impl, tuple(kinds))


def parse(text: str, path: str | None = None) -> Program:
    """Parse ``.ops`` text; raise :class:`ProgramError` on anything invalid."""
    return parse_lines(text, path)[0]


def parse_lines(text: str, path: str | None = None) -> tuple[Program, Lines]:
    """:func:`parse`, and the :class:`Lines` each op and ``expect`` came from."""
    headers: dict[str, tuple[str, int]] = {}
    ops: list[Op] = []
    op_lines: list[int] = []
    expects: dict[str, tuple[Expect, int]] = {}
    seen_directive = False
    text = text.removeprefix(_BOM)
    for lineno, raw in enumerate(text.split("\n"), start=1):
        words = _COMMENT_RE.sub("", raw).split()
        if not words:
            continue
        name, args = words[0], words[1:]
        try:
            if name not in _USAGE:
                raise ValueError(f"unknown directive {_shown(name)} "
                                 f"(expected one of: {', '.join(_USAGE)})")
            low, high = _ARITY[name]
            if len(args) < low or (high is not None and len(args) > high):
                raise ValueError(f"wrong number of arguments to {name} "
                                 f"(expected: {_USAGE[name]})")
            if name == "unmapfuzz":
                if seen_directive:
                    raise ValueError("version line must be the first directive")
                if not args[0].isascii() or not args[0].isdigit():
                    raise ValueError(f"bad format version {_shown(args[0])} "
                                     f"(expected {FORMAT_VERSION})")
                version = args[0].lstrip("0") or "0"
                if version != str(FORMAT_VERSION):
                    raise ValueError(f"unsupported format version {_shown(version, quote=False)} "
                                     f"(this unmapfuzz reads {FORMAT_VERSION})")
            elif name in _HEADERS:
                if name in headers:
                    raise ValueError(f"duplicate {name} directive "
                                     f"(first given on line {headers[name][1]})")
                if ops:
                    raise ValueError(f"{name} after an op (expected all of "
                                     f"{', '.join(_HEADERS)} before the first map/unmap)")
                allowed = {"platform": PLATFORMS, "mode": MODES, "profile": PROFILES}[name]
                headers[name] = (_choice(args[0], allowed, name), lineno)
            elif name == "map":
                ops.append(_map(args))
                op_lines.append(lineno)
            elif name == "unmap":
                ops.append(Unmap(_number(args[0], "unmap ipa"), _number(args[1], "unmap size")))
                op_lines.append(lineno)
            else:
                expect = _expect(args)
                if expect.impl in expects:
                    raise ValueError(f"duplicate expect for impl {expect.impl!r} "
                                     f"(first given on line {expects[expect.impl][1]})")
                expects[expect.impl] = (expect, lineno)
        except ValueError as exc:
            raise ProgramError(str(exc), path, lineno) from None
        seen_directive = True
    fields = {key: value for key, (value, _) in headers.items()}
    program = Program(ops=tuple(ops), expects=tuple(e for e, _ in expects.values()), **fields)
    lines = Lines(path, tuple(op_lines), tuple((impl, line) for impl, (_, line) in expects.items()))
    return program, lines


def load(path: str | os.PathLike[str]) -> Program:
    """Read and parse a UTF-8 ``.ops`` file."""
    return load_lines(path)[0]


def load_lines(path: str | os.PathLike[str]) -> tuple[Program, Lines]:
    """:func:`load`, and the :class:`Lines` each op and ``expect`` came from.

    Bytes that are not UTF-8 are a :class:`ProgramError` at their line and
    column, like any other mistake in the file.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ProgramError(f"cannot read: {exc.strerror or exc}", name) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        raise ProgramError(f"cannot read: not UTF-8: byte {data[exc.start]:#04x} at column "
                           f"{exc.start - line_start + 1}", name, line) from None
    return parse_lines(text, name)


def unknown_expects(program: Program, lines: Lines, names: Iterable[str]) -> list[ProgramError]:
    """One error for each ``expect`` naming an implementation not in ``names``.

    ``names`` are the implementations the command knows (``check``, ``replay``
    and ``minimize`` pass the built-in ones and every ``--impl``): an
    ``expect`` for any other name is a typo or a forgotten ``--impl``, and
    would otherwise be silently ignored.
    """
    names = list(names)
    return [ProgramError(f"expect names implementation {_shown(e.impl, quote=False)}, which was not given "
                         f"(give it with --impl {_shown(e.impl, quote=False)}=PATH; known: {', '.join(names)})",
                         lines.path, lines.expect(e.impl))
            for e in program.expects if e.impl not in names]


def format(program: Program, header: Sequence[str] = ()) -> str:
    """Canonical ``.ops`` text for ``program``; ``header`` lines become comments."""
    lines = [f"# {part}".rstrip() for entry in header for part in entry.split("\n")]
    lines += [f"unmapfuzz {FORMAT_VERSION}", f"platform {program.platform}",
              f"mode {program.mode}"]
    if program.profile is not None:
        lines.append(f"profile {program.profile}")
    lines += [format_op(op) for op in program.ops]
    for expect in program.expects:
        lines.append(f"expect {expect.impl} {' '.join(expect.kinds) or 'ok'}")
    return "\n".join(lines) + "\n"
