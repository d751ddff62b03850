"""Replay recorded programs and compare every implementation with its ``expect`` line.

A corpus program records what each implementation did when it was added
(``expect old still-mapped``, ``expect v3 ok``).  Replaying runs
:func:`unmapfuzz.verdict.check.check` again and gives each file one status:

- ``as recorded``: every implementation that ran reports exactly the kinds
  its ``expect`` line names;
- ``now fixed``: some implementation that had findings is now ok, and every
  other difference is an improvement too (fewer kinds, none new);
- ``changed``: anything else, including an implementation that ran but has no
  ``expect`` line;
- ``unrecorded``: the file has no ``expect`` lines at all;
- ``invalid``: the program is invalid now (a profile rule changed);
- ``unreadable``: the file cannot be read or parsed, or (given the names of
  the implementations the command knows) an ``expect`` line names one that
  does not exist: a typo or a forgotten ``--impl`` would otherwise pass
  unnoticed.

Only ``as recorded`` is clean.  An ``expect`` line for a known implementation
that did not run (left out by ``--impls``) is left alone: it is neither
compared nor dropped by :func:`update_text`.  Divergences between
implementations that the oracle passes are not recorded in ``expect`` lines
and so are not compared.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from unmapfuzz.atomic import atomic_write
from unmapfuzz.programs import Expect, Lines, Program, ProgramError, load_lines, parse, unknown_expects
from unmapfuzz.verdict.isolate import check_isolated

__all__ = ["AS_RECORDED", "NOW_FIXED", "CHANGED", "UNRECORDED", "INVALID", "UNREADABLE",
           "STATUSES", "ReplayResult", "collect", "compare_kinds", "replay_program",
           "replay_file", "update_text", "update_file", "summary"]

AS_RECORDED = "as recorded"
NOW_FIXED = "now fixed"
CHANGED = "changed"
UNRECORDED = "unrecorded"
INVALID = "invalid"
UNREADABLE = "unreadable"
STATUSES = (AS_RECORDED, NOW_FIXED, CHANGED, UNRECORDED, INVALID, UNREADABLE)

Kinds = tuple[str, ...]


def _kinds_text(kinds: Kinds | None) -> str:
    if kinds is None:
        return "(unrecorded)"
    return " ".join(kinds) or "ok"


@dataclass(slots=True)
class ReplayResult:
    file: str
    status: str
    expected: dict[str, Kinds] = field(default_factory=dict)
    actual: dict[str, Kinds] = field(default_factory=dict)
    changes: list[tuple[str, Kinds | None, Kinds]] = field(default_factory=list)
    reason: str | None = None          # why invalid or unreadable
    updated: bool = False
    lineno: int | None = None          # the line an invalid program's reason points at

    @property
    def clean(self) -> bool:
        return self.status == AS_RECORDED

    def line(self) -> str:
        """One line for humans: ``FILE[:LINE]: STATUS[: details][ (updated)]``."""
        where = self.file if self.lineno is None else f"{self.file}:{self.lineno}"
        text = f"{where}: {self.status}"
        if self.status in (NOW_FIXED, CHANGED):
            text += ": " + "; ".join(f"{impl} {_kinds_text(old)} -> {_kinds_text(new)}"
                                     for impl, old, new in self.changes)
        elif self.status == UNRECORDED:
            text += ": " + ", ".join(f"{impl} {_kinds_text(k)}" for impl, k in self.actual.items())
        elif self.reason:
            text += f": {self.reason}"
        if self.updated:
            text += " (updated)"
        return text

    def to_json(self) -> dict:
        out = {"file": self.file, "status": self.status,
               "expected": {k: list(v) for k, v in self.expected.items()},
               "actual": {k: list(v) for k, v in self.actual.items()}}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.lineno is not None:
            out["line"] = self.lineno
        if self.updated:
            out["updated"] = True
        return out


def collect(paths: list[str]) -> list[str]:
    """Files to replay: each PATH that is a directory contributes its ``*.ops``
    files (recursively, sorted); anything else is taken as a file, in order."""
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(str(p) for p in Path(path).rglob("*.ops") if p.is_file())
        else:
            files.append(path)
    return files


def compare_kinds(expected: dict[str, Kinds], actual: dict[str, Kinds]) -> tuple[str, list]:
    """The status and the per-implementation changes ``(impl, old or None, new)``."""
    if not expected:
        return UNRECORDED, []
    changes = [(impl, expected.get(impl), new) for impl, new in actual.items()
               if expected.get(impl) != new]
    if not changes:
        return AS_RECORDED, []
    improved = all(old is not None and set(new) < set(old) for _, old, new in changes)
    if improved and any(not new for _, _, new in changes):
        return NOW_FIXED, changes
    return CHANGED, changes


def replay_program(program: Program, file: str, impls: dict | None = None,
                   lines: Lines | None = None) -> ReplayResult:
    expected = {e.impl: e.kinds for e in program.expects}
    verdict = check_isolated(program, impls, baseline=None)    # expect lines record runs, not judgements
    if verdict.invalid:
        line = lines.invalid(verdict.invalid).line if lines is not None else None
        return ReplayResult(file, INVALID, expected, {}, reason=verdict.invalid, lineno=line)
    actual = {name: r.kinds for name, r in verdict.results.items()}
    status, changes = compare_kinds(expected, actual)
    return ReplayResult(file, status, expected, actual, changes)


def replay_file(path: str, impls: dict | None = None, known=None) -> ReplayResult:
    """Replay one file; a file that cannot be read or parsed is ``unreadable``
    with the :class:`ProgramError` text (``FILE:LINE: reason``) as its reason.

    With ``known`` (the names of every implementation the command knows), a
    file whose ``expect`` names another is ``unreadable`` too, and nothing runs.
    """
    try:
        program, lines = load_lines(path)
    except ProgramError as exc:
        return ReplayResult(path, UNREADABLE, reason=str(exc))
    unknown = unknown_expects(program, lines, known) if known is not None else []
    if unknown:
        return ReplayResult(path, UNREADABLE, reason="; ".join(map(str, unknown)))
    return replay_program(program, path, impls, lines)


# -- rewriting expect lines ------------------------------------------------------

_COMMENT_RE = re.compile(r"(?:^|\s)(#.*)")


def update_text(text: str, expects: list[Expect] | tuple[Expect, ...], keep_unrun: bool = True,
                ran: set[str] | None = None) -> str:
    """``text`` with its ``expect`` lines replaced by ``expects``, appended at the end.

    Every other line is kept byte for byte.  A removed ``expect`` line that
    carried a trailing comment leaves the comment behind on its own line.
    When ``ran`` is given, existing expect lines for implementations not in
    ``ran`` are kept (appended after the new ones, in their old order).
    """
    lines = text.split("\n")
    trailing_newline = text.endswith("\n")
    if trailing_newline:
        lines.pop()
    kept_lines, kept_expects = [], []
    for raw in lines:
        match = _COMMENT_RE.search(raw)
        words = (raw[:match.start()] if match else raw).split()
        if not words or words[0] != "expect":
            kept_lines.append(raw)
            continue
        if keep_unrun and ran is not None and len(words) > 1 and words[1] not in ran:
            kept_expects.append(raw)
            continue
        if match:
            kept_lines.append(match.group(1))
    cr = "\r" if "\r\n" in text else ""
    new = [f"expect {e.impl} {' '.join(e.kinds) or 'ok'}{cr}" for e in expects]
    out = "\n".join(kept_lines + new + kept_expects)
    return out + "\n" if out else out


def update_file(result: ReplayResult) -> bool:
    """Record ``result.actual`` as the file's expect lines; True when the file changed.

    Invalid and unreadable files, and files already as recorded, are left alone.
    """
    if result.status in (AS_RECORDED, INVALID, UNREADABLE):
        return False
    with open(result.file, encoding="utf-8", newline="") as f:
        text = f.read()
    expects = [Expect(impl, kinds) for impl, kinds in result.actual.items()]
    new = update_text(text, expects, ran=set(result.actual))
    before, after = parse(text, result.file), parse(new, result.file)
    if (before.platform, before.mode, before.profile, before.ops) != \
            (after.platform, after.mode, after.profile, after.ops):
        raise ProgramError("rewriting the expect lines would change the program", result.file)
    if new == text:
        return False
    atomic_write(result.file, new)
    result.updated = True
    return True


def summary(results: list[ReplayResult]) -> str:
    """``N files: A as recorded, F now fixed, C changed`` (plus any other statuses)."""
    counts = {s: 0 for s in STATUSES}
    for r in results:
        counts[r.status] += 1
    text = (f"{len(results)} file{'s' if len(results) != 1 else ''}: {counts[AS_RECORDED]} as recorded, "
            f"{counts[NOW_FIXED]} now fixed, {counts[CHANGED]} changed")
    for status in (UNRECORDED, INVALID, UNREADABLE):
        if counts[status]:
            text += f", {counts[status]} {status}"
    return text
