"""Which branches of the kernel code the corpus reaches, per platform and mode.

The corpus is worth what it exercises.  :func:`measure` replays programs with
:func:`unmapfuzz.verdict.check.check`, as ``replay`` and a campaign run them,
under coverage.py in branch mode, and attributes every branch taken to the
program's ``PLATFORM/MODE`` (a coverage.py dynamic context).  The code
measured is the kernel's: the four ``unmap_range`` implementations and the
map paths (:data:`SOURCES`, less the harness's own functions in
:data:`HARNESS`).  :func:`judge` then holds the result against
:data:`~unmapfuzz.triage.unreachable.UNREACHABLE`, the branches that no
program can take on a geometry, each with the reason in kernel terms
(``docs/COVERAGE.md``): every other branch must be covered on every geometry,
and no documented one may be.

Naming a branch
---------------

coverage.py names a branch by line numbers (``87->76``), which move with
every edit above them.  A :class:`Branch` also carries a *key* that does not:
the function, the text of the branching line (comments left out; ``(2nd)``
when the function has that line twice) and the text of the line it goes to
(``exit`` when it leaves the function)::

    unmap_pmds: if addr == end: (2nd) -> while True:

The unreachable list names branches by key, so an edit elsewhere in a file
leaves it valid, and an edit of the branch itself makes its entry name
nothing, which :func:`judge` reports (``unknown``) rather than ignores.

Fast paths
----------

``check()`` runs the model's fast paths by default (``fast=True``): the
walkers' ``k.skip_none_*()`` lines take runs of none entries in one step.
That changes how often, not whether, the walkers' own ``*_none()`` tests
are true (a skip takes one run and the walker meets the entry after it), but
the second ``if addr == end`` of each loop (a model line, not the kernel's)
is true only after a skip, so with the fast paths off it never is.
:func:`measure` measures either setting (``fast``); an entry of the list
says when it holds only for one.

The measurement runs in a fresh interpreter: ``check()`` keeps built machines
in a pool, so in a process that has run programs before, the code that builds
a machine would not run again, and a tracer the caller has (a debugger,
coverage of the test suite) would be replaced while it runs.
"""
from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import tokenize
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from unmapfuzz.programs import Program, format, geometries

from .unreachable import UNREACHABLE, Unreachable

__all__ = ["SOURCES", "HARNESS", "GEOMETRIES", "Branch", "Measurement", "Judgement", "MeasurementError", "measure",
           "name_branches", "judge"]

SOURCES = {
    "old": "unmapfuzz.impls.old",
    "v2": "unmapfuzz.impls.v2",
    "v3": "unmapfuzz.impls.v3",
    "v3_pgdnone": "unmapfuzz.impls.v3_pgdnone",
    "mapping": "unmapfuzz.impls.model.mapping",
}
"""The code measured, by short name: each ``unmap_range`` implementation and the map paths."""

HARNESS = ("Machine.reset", "Machine.mark", "Machine.rewind", "Machine.clone", "Machine._new_operation",
           "Machine.unmap")
"""Functions of ``mapping`` that are the harness's, not the kernel's, and are not measured: how
``check()`` pools, resets, rewinds and clones machines and calls an implementation.  Which of their
branches run depends on that scheduling (``reset()`` forgets whatever stand-ins for guest
pages the runs on a pooled machine left), not on the kernel paths a program takes."""

GEOMETRIES = tuple(f"{platform}/{mode}" for platform, mode in geometries())
"""Every ``PLATFORM/MODE``, in the order the table shows them."""


class MeasurementError(RuntimeError):
    """The measuring interpreter failed; the message is its last words."""


@dataclass(frozen=True, slots=True)
class Branch:
    """One way out of a branching line: ``line -> to`` in the file of ``source``
    (``to`` is negative when the branch leaves the function), and its stable ``key``."""

    source: str
    line: int
    to: int
    key: str

    @property
    def path(self) -> str:
        """The file as the source tree names it: ``impls/v2.py``, ``impls/model/mapping.py``."""
        return SOURCES[self.source].removeprefix("unmapfuzz.").replace(".", "/") + ".py"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}->{'exit' if self.to < 0 else self.to}"


@dataclass(slots=True)
class Measurement:
    """What one replay of programs covered: every branch of every source, and the
    branches each geometry took (a geometry without programs took none)."""

    fast: bool
    programs: int
    branches: dict[str, list[Branch]]
    covered: dict[str, set[Branch]]


@dataclass(slots=True)
class Judgement:
    """A measurement held against the unreachable list.

    ``cells[source][geometry]`` (and ``[source]["all"]``) is ``(covered,
    reachable)``; ``uncovered`` maps each reachable branch some geometry missed
    to those geometries; ``documented`` lists each entry's branches with the
    geometries where they were missed as it says; ``stale`` the ones covered
    where the entry says they cannot be; ``unknown`` the entries' keys that
    name no branch of the code.
    """

    measurement: Measurement
    cells: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    uncovered: dict[Branch, list[str]] = field(default_factory=dict)
    documented: list[tuple[Unreachable, Branch, list[str]]] = field(default_factory=list)
    stale: list[tuple[Unreachable, Branch, list[str]]] = field(default_factory=list)
    unknown: list[tuple[Unreachable, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every reachable branch covered, and the list true and up to date."""
        return not (self.uncovered or self.stale or self.unknown)


# -- measuring -------------------------------------------------------------------------------------

def measure(programs: list[Program], fast: bool = True) -> Measurement:
    """Replay ``programs`` with ``check(program, profile=program.profile, fast=fast)``
    under coverage.py in branch mode, in a fresh interpreter, and name what they covered."""
    request = {"fast": fast, "programs": [format(p) for p in programs]}
    env = {k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_START"}
    done = subprocess.run([sys.executable, "-P", "-m", "unmapfuzz.triage.coverage"], input=json.dumps(request), capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise MeasurementError(f"measuring the corpus failed: {last}")
    raw = json.loads(done.stdout)
    branches: dict[str, list[Branch]] = {}
    covered: dict[str, set[Branch]] = {g: set() for g in GEOMETRIES}
    for source, found in raw.items():
        named = name_branches(source, found["file"], [tuple(arc) for arc in found["branches"]])
        branches[source] = sorted(named.values(), key=lambda b: (b.line, b.to))
        for geometry, arcs in found["arcs"].items():
            covered[geometry] |= {named[tuple(arc)] for arc in arcs if tuple(arc) in named}
    return Measurement(fast, len(programs), branches, covered)


def _measure_here(request: dict) -> dict:
    """The measuring interpreter's work: run the programs under coverage, return the raw arcs."""
    import importlib
    import tempfile

    import coverage

    from unmapfuzz.programs import parse
    from unmapfuzz.verdict.check import check

    files = {name: importlib.import_module(module).__file__ for name, module in SOURCES.items()}
    cov = coverage.Coverage(branch=True, data_file=None, include=list(files.values()), config_file=False,
                            messages=False)
    cov.start()
    try:
        for text in request["programs"]:
            program = parse(text)
            cov.switch_context(f"{program.platform}/{program.mode}")
            check(program, profile=program.profile, fast=request["fast"])
    finally:
        cov.stop()
    data = cov.get_data()
    data.touch_files(list(files.values()))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in files.items():
            report = os.path.join(tmp, f"{name}.json")
            cov.json_report(morfs=[path], outfile=report)
            with open(report, encoding="utf-8") as f:
                (summary,) = json.load(f)["files"].values()
            out[name] = {"file": path,
                         "branches": sorted(summary["executed_branches"] + summary["missing_branches"]),
                         "arcs": {}}
    for geometry in GEOMETRIES:
        data.set_query_contexts([f"^{geometry}$"])
        for name, path in files.items():
            out[name]["arcs"][geometry] = sorted(data.arcs(path) or ())
    return out


# -- naming branches ----------------------------------------------------------------------------------

def name_branches(source: str, path: str, arcs: list[tuple[int, int]]) -> dict[tuple[int, int], Branch]:
    """Each arc of ``path`` as a :class:`Branch` with its key (see the module docstring)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines()
    comment_at = {tok.start[0]: tok.start[1] for tok in tokenize.generate_tokens(io.StringIO(text).readline)
                  if tok.type == tokenize.COMMENT}

    def code(n: int) -> str:
        line = lines[n - 1]
        return line[:comment_at.get(n, len(line))].strip()

    function: dict[int, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    function.update(dict.fromkeys(range(child.lineno, child.end_lineno + 1), name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(text), "")
    nth: dict[int, int] = {}
    seen: dict[tuple[str | None, str], int] = {}
    for n in range(1, len(lines) + 1):
        here = (function.get(n), code(n))
        seen[here] = nth[n] = seen.get(here, 0) + 1

    out = {}
    for line, to in arcs:
        ordinal = f" ({_ordinal(nth[line])})" if nth[line] > 1 else ""
        target = "exit" if to < 0 else code(to)
        key = f"{function.get(line, '<module>')}: {code(line)}{ordinal} -> {target}"
        if function.get(line) not in HARNESS:
            out[(line, to)] = Branch(source, line, to, key)
    return out


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


# -- judging --------------------------------------------------------------------------------------------

def judge(measurement: Measurement, table: tuple[Unreachable, ...] = UNREACHABLE) -> Judgement:
    """``measurement`` held against ``table`` (see :class:`Judgement`)."""
    judgement = Judgement(measurement)
    by_key = {(b.source, b.key): b for branches in measurement.branches.values() for b in branches}
    # (branch, geometry) -> the entries that say it cannot be covered there
    excused: dict[tuple[Branch, str], list[Unreachable]] = {}
    for entry in table:
        if entry.fast_paths is not None and entry.fast_paths != measurement.fast:
            continue
        for spec in entry.branches:
            where = spec.where or entry.where
            for source in spec.sources:
                branch = by_key.get((source, spec.key))
                if branch is None:
                    judgement.unknown.append((entry, source, spec.key))
                    continue
                places = [g for g in GEOMETRIES if any(fnmatchcase(g, p) for p in where)]
                for g in places:
                    excused.setdefault((branch, g), []).append(entry)
                hit = [g for g in places if branch in measurement.covered[g]]
                missed = [g for g in places if g not in hit]
                if hit:
                    judgement.stale.append((entry, branch, hit))
                if missed:
                    judgement.documented.append((entry, branch, missed))
    for source, branches in measurement.branches.items():
        row = {}
        anywhere_reachable = anywhere_covered = 0
        for g in GEOMETRIES:
            reachable = [b for b in branches if (b, g) not in excused]
            row[g] = (sum(b in measurement.covered[g] for b in reachable), len(reachable))
        for b in branches:
            places = [g for g in GEOMETRIES if (b, g) not in excused]
            if places:
                anywhere_reachable += 1
                anywhere_covered += any(b in measurement.covered[g] for g in places)
            missed = [g for g in places if b not in measurement.covered[g]]
            if missed:
                judgement.uncovered[b] = missed
        row["all"] = (anywhere_covered, anywhere_reachable)
        judgement.cells[source] = row
    return judgement


if __name__ == "__main__":
    # The measuring interpreter (see measure()): a request on stdin, the arcs on stdout.
    _request = json.load(sys.stdin)
    _stdout, sys.stdout = sys.stdout, sys.stderr     # nothing but the answer goes to stdout
    _answer = _measure_here(_request)
    json.dump(_answer, _stdout)
