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
the file and line, what was wrong and what was expected.  :func:`format`
writes the canonical form (version line, every header, lowercase hex), so
``parse(format(p)) == p`` for every valid program and formatting is a fixed
point.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from .ops import (FINDING_KINDS, FORMAT_VERSION, GUEST_PA_LIMIT, MAP_KINDS, MODES, PAGE_SIZE, PLATFORMS,
                  PROFILES, Expect, Map, Op, Program, Unmap, format_op)

__all__ = ["ProgramError", "parse", "load", "format"]

_NUMBER_RE = re.compile(r"0[xX](?:_?[0-9a-fA-F])+|[0-9](?:_?[0-9])*")
_IMPL_RE = re.compile(r"[A-Za-z0-9_.:/-]+")
_COMMENT_RE = re.compile(r"(?:^|\s)#.*")
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


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r} (expected one of: {', '.join(allowed)})")
    return value


def _number(token: str, what: str) -> int:
    if not _NUMBER_RE.fullmatch(token):
        raise ValueError(f"bad {what} {token!r} (expected a non-negative decimal "
                         "or 0x-prefixed hex number, underscores allowed)")
    value = int(token, 0) if token[1:2] in ("x", "X") else int(token, 10)
    if value >= 1 << 64:
        raise ValueError(f"{what} {token} is out of range (expected a number below 2**64)")
    return value


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
        raise ValueError(f"bad impl name {impl!r} (expected letters, digits and _.:/-)")
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
    headers: dict[str, tuple[str, int]] = {}
    ops: list[Op] = []
    expects: dict[str, tuple[Expect, int]] = {}
    seen_directive = False
    for lineno, raw in enumerate(text.split("\n"), start=1):
        words = _COMMENT_RE.sub("", raw).split()
        if not words:
            continue
        name, args = words[0], words[1:]
        try:
            if name not in _USAGE:
                raise ValueError(f"unknown directive {name!r} "
                                 f"(expected one of: {', '.join(_USAGE)})")
            low, high = _ARITY[name]
            if len(args) < low or (high is not None and len(args) > high):
                raise ValueError(f"wrong number of arguments to {name} "
                                 f"(expected: {_USAGE[name]})")
            if name == "unmapfuzz":
                if seen_directive:
                    raise ValueError("version line must be the first directive")
                if not args[0].isascii() or not args[0].isdigit():
                    raise ValueError(f"bad format version {args[0]!r} "
                                     f"(expected {FORMAT_VERSION})")
                if int(args[0]) != FORMAT_VERSION:
                    raise ValueError(f"unsupported format version {int(args[0])} "
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
            elif name == "unmap":
                ops.append(Unmap(_number(args[0], "unmap ipa"), _number(args[1], "unmap size")))
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
    return Program(ops=tuple(ops), expects=tuple(e for e, _ in expects.values()), **fields)


def load(path: str | os.PathLike[str]) -> Program:
    """Read and parse a UTF-8 ``.ops`` file."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ProgramError(f"cannot read: {reason}", name) from None
    return parse(text, name)


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
