"""``unmapfuzz coverage [PATH...]``: which branches of the kernel code the corpus reaches, per platform and mode."""
from __future__ import annotations

import json
import os
import sys
import textwrap

from unmapfuzz.campaign.campaign import packaged_corpus
from unmapfuzz.programs import ProgramError, load_lines
from unmapfuzz.reference.profiles import validate
from unmapfuzz.triage.coverage import GEOMETRIES, SOURCES, Judgement, MeasurementError, judge, measure
from unmapfuzz.triage.replay import collect

from .options import add_verbosity_arguments


def register(sub) -> None:
    p = sub.add_parser(
        "coverage", help="the branches of unmap_range() and the map paths the corpus reaches, per platform and mode",
        description="Replay .ops programs (directories: every *.ops inside, recursively) under coverage.py "
                    "in branch mode and print, for each implementation (old, v2, v3, v3_pgdnone) and the map "
                    "paths (mapping), how many branches the programs of each platform and mode take out of "
                    "those that can be taken there, then every branch missed: a hole in the corpus, or "
                    "documented unreachable there, with why (docs/COVERAGE.md).  Only the built-in "
                    "implementations run; expect lines are not compared (that is replay's job).  Exit 0 when "
                    "every branch not documented unreachable is covered on every platform and mode and no "
                    "documented one is, 1 otherwise, 2 when a file cannot be read or parsed or is invalid under "
                    "its profile, or a directory holds no .ops file (the other files are still measured).")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help=".ops files, or directories to search for them (default: the corpus that ships with "
                        "unmapfuzz)")
    p.add_argument("--no-fast-paths", dest="fast", action="store_false",
                   help="replay with the model's fast paths off (check(fast=False)), so that every none entry "
                        "is visited by the walker itself, as the C does; by default they are on, as in every "
                        "check, replay and campaign")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: the table, the branches missed and why, and whether all is well")
    add_verbosity_arguments(p, quiet="print nothing but errors (and --json): the exit status tells",
                            verbose="also list every branch covered, with the platforms and modes that take it")
    p.set_defaults(func=run)


def run(args) -> int:
    paths = args.paths or [str(packaged_corpus())]
    status = 0
    for path in paths:
        if os.path.isdir(path) and not collect([path]):
            print(f"unmapfuzz: {path}: no .ops file in this directory", file=sys.stderr)
            status = 2
    programs = []
    for file in collect(paths):
        try:
            program, lines = load_lines(file)
        except ProgramError as exc:
            print(f"unmapfuzz: {exc}", file=sys.stderr)
            status = 2
            continue
        invalid = validate(program, program.profile)
        if invalid:
            print(f"unmapfuzz: {lines.invalid(invalid)}", file=sys.stderr)
            status = 2
            continue
        programs.append(program)
    try:
        judgement = judge(measure(programs, fast=args.fast))
    except MeasurementError as exc:
        print(f"unmapfuzz: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(to_json(judgement)))
    elif not args.quiet:
        print(render(judgement, args.verbose))
    if status == 0 and not judgement.ok:
        status = 1
    return status


# -- output ------------------------------------------------------------------------------------------------

def _geometries(names: list[str]) -> str:
    """``arm64-4k-48/stage2, arm32-lpae/*``: both modes of a platform as one pattern."""
    out = []
    for platform in dict.fromkeys(g.split("/")[0] for g in names):
        modes = [g for g in names if g.startswith(platform + "/")]
        out.append(f"{platform}/*" if len(modes) == 2 else modes[0])
    return ", ".join(out)


def render(judgement: Judgement, verbose: bool = False) -> str:
    """The table, then every branch missed: the holes in the corpus first, then the documented ones
    grouped by reason (``verbose``: then every branch covered, with where)."""
    m = judgement.measurement
    platforms = list(dict.fromkeys(g.split("/")[0] for g in GEOMETRIES))
    cell, name = 7, max(len(s) for s in SOURCES) + 2
    lines = [f"Branches covered by {m.programs} program{'' if m.programs == 1 else 's'}, of those reachable on each platform and mode "
             f"(the model's fast paths {'on' if m.fast else 'off'}):", ""]
    lines.append(" " * name + "".join(f"{p:>{2 * cell}}" for p in platforms))
    lines.append(" " * name + "".join(f"{g.split('/')[1]:>{cell}}" for g in GEOMETRIES) + f"{'all':>{cell + 2}}")
    for source, row in judgement.cells.items():
        cells = [f"{c}/{r}" if r else "-" for c, r in (row[g] for g in GEOMETRIES)]
        c, r = row["all"]
        lines.append(f"{source:<{name}}" + "".join(f"{x:>{cell}}" for x in cells) + f"{f'{c}/{r}':>{cell + 2}}")
    if judgement.uncovered:
        lines += ["", "NOT COVERED, though reachable: add a program (or document why none can reach it):"]
        for branch, where in judgement.uncovered.items():
            lines.append(f"  {branch}  {branch.key}")
            lines.append(f"      on {_geometries(where)}")
    if judgement.stale:
        lines += ["", "COVERED, though documented unreachable there: the list (unmapfuzz.triage.unreachable) "
                      "is wrong:"]
        for entry, branch, where in judgement.stale:
            lines.append(f"  {branch}  {branch.key}")
            lines.append(f"      on {_geometries(where)}, where [{entry.name}] says no program takes it")
    if judgement.unknown:
        lines += ["", "UNKNOWN: documented unreachable branches that name no branch of the code (edit the list):"]
        for entry, source, key in judgement.unknown:
            lines.append(f"  [{entry.name}] {source}: {key}")
    documented: dict[str, list] = {}
    for entry, branch, where in judgement.documented:
        documented.setdefault(entry.name, [entry, []])[1].append((branch, where))
    if documented:
        lines += ["", "Unreachable, as documented (docs/COVERAGE.md):"]
        for entry, missed in documented.values():
            where = sorted({g for _, gs in missed for g in gs}, key=GEOMETRIES.index)
            lines.append(f"  [{entry.name}] on {_geometries(where)}")
            lines += textwrap.wrap(entry.reason, 100, initial_indent="      ", subsequent_indent="      ")
            for branch, gs in missed:
                lines.append(f"    {branch}  {branch.key}" + ("" if gs == where else f"  (on {_geometries(gs)})"))
    if verbose:
        lines += ["", "Covered:"]
        for branches in m.branches.values():
            for branch in branches:
                where = [g for g in GEOMETRIES if branch in m.covered[g]]
                if where:
                    lines.append(f"  {branch}  {branch.key}")
                    lines.append(f"      on {_geometries(where)}")
    lines += ["", "every reachable branch is covered, and none documented unreachable is" if judgement.ok else
              "the corpus misses reachable branches, or the list of unreachable ones is wrong"]
    return "\n".join(lines)


def _branch_json(branch, where=None) -> dict:
    out = {"file": branch.path, "line": branch.line, "to": None if branch.to < 0 else branch.to,
           "key": branch.key}
    if where is not None:
        out["geometries"] = where
    return out


def to_json(judgement: Judgement) -> dict:
    m = judgement.measurement
    return {
        "fast_paths": m.fast,
        "programs": m.programs,
        "geometries": list(GEOMETRIES),
        "table": {source: {g: {"covered": c, "reachable": r} for g, (c, r) in row.items()}
                  for source, row in judgement.cells.items()},
        "uncovered": [_branch_json(b, where) for b, where in judgement.uncovered.items()],
        "unreachable": [dict(_branch_json(b, where), reason=e.name) for e, b, where in judgement.documented],
        "stale": [dict(_branch_json(b, where), reason=e.name) for e, b, where in judgement.stale],
        "unknown": [{"reason": e.name, "source": source, "key": key} for e, source, key in judgement.unknown],
        "reasons": {e.name: e.reason for e, _, _ in judgement.documented + judgement.stale},
        "ok": judgement.ok,
    }
