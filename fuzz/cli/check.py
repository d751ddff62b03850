"""``unmapfuzz check FILE...``: the verdict of every implementation on each program."""
from __future__ import annotations

import json
import sys


from unmapfuzz.programs import ProgramError, format_op, load
from unmapfuzz.verdict.check import Verdict, check

from .impl_args import add_impl_arguments, impls_or_exit


def register(sub) -> None:
    p = sub.add_parser("check", help="run programs through every implementation and the oracle",
                       description="Run .ops programs through every implementation; exit 0 when all are "
                                   "clean and agree, 1 on any violation or divergence, 2 on bad input.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object per program, one per line")
    p.add_argument("--profile", choices=("realistic", "adversarial"),
                   help="judge validity under this profile (default: the program's own, else universal rules)")
    add_impl_arguments(p)
    p.set_defaults(func=run)


def render(verdict: Verdict, file: str) -> str:
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
    if verdict.clean:
        lines.append("  all implementations clean and in agreement")
    return "\n".join(lines)


def run(args) -> int:
    impls = impls_or_exit(args)
    if impls is None:
        return 2
    status = 0
    for file in args.files:
        try:
            program = load(file)
        except ProgramError as exc:
            print(f"unmapfuzz: {exc}", file=sys.stderr)
            status = 2
            continue
        verdict = check(program, impls, args.profile)
        if args.json:
            print(json.dumps(verdict.to_json(file)))
        else:
            print(render(verdict, file))
        if verdict.invalid:
            if not args.json:
                print(f"unmapfuzz: {file}: invalid program: {verdict.invalid}", file=sys.stderr)
            status = 2
        elif not verdict.clean and status == 0:
            status = 1
    return status
