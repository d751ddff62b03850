"""``unmapfuzz replay PATH...``: re-run recorded programs and compare with their ``expect`` lines."""
from __future__ import annotations

import json
import sys


from unmapfuzz.programs import ProgramError
from unmapfuzz.triage.replay import AS_RECORDED, INVALID, UNREADABLE, collect, replay_file, summary, update_file

from .impl_args import add_impl_arguments, impls_or_exit


def register(sub) -> None:
    p = sub.add_parser(
        "replay", help="replay recorded programs and compare each implementation with its expect line",
        description="Replay .ops files (directories: every *.ops inside, recursively, sorted) and compare "
                    "each implementation's findings with the file's expect lines.  Exit 0 when every file "
                    "is as recorded, 1 on any difference (now fixed, changed, unrecorded, invalid), "
                    "2 when a file cannot be read.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--update", action="store_true",
                   help="rewrite each differing file's expect lines with what happened now "
                        "(other lines are kept exactly); exit 0 unless a file is invalid or unreadable")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per file, one per line (the summary goes to stderr)")
    add_impl_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    impls = impls_or_exit(args)
    if impls is None:
        return 2
    results = []
    status = 0
    for file in collect(args.paths):
        result = replay_file(file, impls)
        results.append(result)
        if result.status == UNREADABLE:
            print(f"unmapfuzz: {result.reason}", file=sys.stderr)
            status = 2
        elif args.update and result.status != INVALID:
            try:
                update_file(result)
            except (OSError, ProgramError) as exc:
                print(f"unmapfuzz: {file}: cannot update: {exc}", file=sys.stderr)
                status = 2
        elif result.status != AS_RECORDED and status == 0:
            status = 1
        if result.status == INVALID and status == 0:
            status = 1
        if args.json:
            print(json.dumps(result.to_json()), flush=True)
        elif result.status != UNREADABLE:
            print(result.line(), flush=True)
    print(summary(results), file=sys.stderr if args.json else sys.stdout)
    return status
