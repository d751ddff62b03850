"""``unmapfuzz check FILE...``: the verdict of every implementation on each program."""
from __future__ import annotations

import json
import sys


from pathlib import Path

from unmapfuzz.programs import ProgramError, format_op, load_lines, unknown_expects
from unmapfuzz.verdict.check import Verdict
from unmapfuzz.verdict.isolate import check_isolated
from unmapfuzz.verdict.known import KnownListError, known_for, why_known
from unmapfuzz.verdict.signature import judged

from .impl_args import add_baseline_argument, add_impl_arguments, impls_or_exit
from .options import add_verbosity_arguments


def register(sub) -> None:
    p = sub.add_parser("check", help="run programs through every implementation and the oracle",
                       description="Run .ops programs through every implementation and the oracle, and judge "
                                   "each finding against the baseline on that program: NEW, known (the "
                                   "baseline shows it too, or a known.txt pattern names it).  Exit 0 "
                                   "when all are clean and agree, 1 on any violation or divergence, 2 when a "
                                   "file cannot be read, does not parse, is invalid under the profile or has "
                                   "an expect line naming an unknown implementation (each told as "
                                   "FILE:LINE: on stderr; the other files still run).")
    p.add_argument("files", nargs="+", metavar="FILE", help=".ops programs")
    p.add_argument("--json", action="store_true", help="print one JSON object per program, one per line")
    p.add_argument("--profile", choices=("realistic", "adversarial"),
                   help="judge validity under this profile (default: the program's own, else universal rules)")
    p.add_argument("--known", type=Path, metavar="FILE",
                   help="the documented divergences (default: the list that ships with unmapfuzz)")
    add_impl_arguments(p)
    add_baseline_argument(p)
    add_verbosity_arguments(p, quiet="print nothing but errors (and --json objects): the exit status tells",
                            verbose="also list each program's operations with their lines")
    p.set_defaults(func=run)


def render(verdict: Verdict, file: str, known=()) -> str:
    prog = verdict.program
    lines = [f"{file}: {prog.platform} {prog.mode}, {len(prog.ops)} operations"]
    if verdict.invalid:
        lines.append(f"  invalid: {verdict.invalid}")
        return "\n".join(lines)
    width = max(len(n) for n in verdict.results)
    for name, result in verdict.results.items():
        lines.append(f"  {name:<{width}}  {result.status}")
        for v in result.violations:
            where = f"IPA {v.ipa:#x}" if v.ipa is not None else "no IPA"
            lines.append(f"    op {v.op} ({format_op(prog.ops[v.op])}): {v.kind} at {v.level} level, {where}")
            lines.append(f"      {v.detail}")
            for entry in v.context:
                lines.append(f"        {entry}")
    for d in verdict.divergences:
        lines.append(f"  divergence: {d}")
    found = judged(verdict)
    if found:
        lines.append(f"  findings, judged against the baseline {verdict.baseline}:")
        for sig, explained in found.items():
            why = why_known(sig, explained, known, verdict.baseline)
            lines.append(f"    {'NEW  ' if why is None else 'known'} {sig}" + ("" if why is None else f"  ({why})"))
    if verdict.clean:
        lines.append("  all implementations clean and in agreement")
    return "\n".join(lines)


def run(args) -> int:
    resolved = impls_or_exit(args)
    if resolved is None:
        return 2
    impls, names = resolved
    try:
        patterns = {p: known_for(p, args.known) for p in ("realistic", "adversarial")}
    except KnownListError as exc:
        print(f"unmapfuzz: {exc}", file=sys.stderr)
        return 2
    status = 0
    for file in args.files:
        try:
            program, lines = load_lines(file)
        except ProgramError as exc:
            print(f"unmapfuzz: {exc}", file=sys.stderr)
            status = 2
            continue
        unknown = unknown_expects(program, lines, names)
        for error in unknown:
            print(f"unmapfuzz: {error}", file=sys.stderr)
        if unknown:
            status = 2
            continue
        verdict = check_isolated(program, impls, args.profile, baseline=args.baseline)
        known = patterns[args.profile or program.profile or "realistic"]
        if args.json:
            data = verdict.to_json(file)
            for f in data["findings"]:
                sig = f"{f['impl']}/{f['kind']}/{program.platform}/{program.mode}/{f['level']}"
                f["signature"] = sig
                f["known"] = why_known(sig, f["as_baseline"], known, verdict.baseline)
            print(json.dumps(data))
        elif not args.quiet:
            if args.verbose:
                print("\n".join(f"{lines.where(line)}: op {n}: {format_op(op)}"
                                for n, (op, line) in enumerate(zip(program.ops, lines.ops))))
            print(render(verdict, file, known))
        if verdict.invalid:
            if not args.json:
                print(f"unmapfuzz: {lines.invalid(verdict.invalid)}", file=sys.stderr)
            status = 2
        elif not verdict.clean and status == 0:
            status = 1
    return status
