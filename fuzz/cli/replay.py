"""``unmapfuzz replay PATH...``: re-run recorded programs and compare with their ``expect`` lines."""
from __future__ import annotations

import json
import os
import sys

from unmapfuzz.programs import ProgramError
from unmapfuzz.triage.replay import AS_RECORDED, INVALID, UNREADABLE, collect, replay_file, summary, update_file

from .impl_args import add_impl_arguments, impls_or_exit
from .options import add_verbosity_arguments


def register(sub) -> None:
    p = sub.add_parser(
        "replay", help="replay recorded programs and compare each implementation with its expect line",
        description="Replay .ops files (directories: every *.ops inside, recursively, sorted) and compare "
                    "each implementation's findings with the file's expect lines.  Exit 0 when every file "
                    "is as recorded, 1 on any difference (now fixed, changed, unrecorded, invalid), "
                    "2 when a file cannot be read or parsed, names an unknown implementation in an expect "
                    "line or cannot be updated, or a directory holds no .ops file (the other files still "
                    "run).")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".ops files, or directories to search for them")
    p.add_argument("--update", action="store_true",
                   help="rewrite each differing file's expect lines with what happened now "
                        "(other lines are kept exactly); exit 0 unless a file is invalid or unreadable")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per file, one per line (the summary goes to stderr)")
    add_impl_arguments(p)
    add_verbosity_arguments(p, quiet="print nothing but errors (and --json objects): the exit status tells",
                            verbose="also print each implementation's recorded and current findings")
    p.set_defaults(func=run)


def run(args) -> int:
    resolved = impls_or_exit(args)
    if resolved is None:
        return 2
    impls, known = resolved
    results = []
    status = 0
    for path in args.paths:
        if os.path.isdir(path) and not collect([path]):
            print(f"unmapfuzz: {path}: no .ops file in this directory", file=sys.stderr)
            status = 2
    for file in collect(args.paths):
        result = replay_file(file, impls, known)
        results.append(result)
        if result.status == UNREADABLE:
            print(f"unmapfuzz: {result.reason}", file=sys.stderr)
            status = 2
        elif args.update and result.status != INVALID:
            try:
                update_file(result)
            except OSError as exc:
                print(f"unmapfuzz: {file}: cannot update: {exc.strerror or exc}", file=sys.stderr)
                status = 2
            except ProgramError as exc:
                print(f"unmapfuzz: {file}: cannot update: {exc}", file=sys.stderr)
                status = 2
        elif result.status != AS_RECORDED and status == 0:
            status = 1
        if result.status == INVALID and status == 0:
            status = 1
        if args.json:
            print(json.dumps(result.to_json()), flush=True)
        elif result.status != UNREADABLE and not args.quiet:
            print(result.line(), flush=True)
            if args.verbose:
                for impl in sorted(set(result.expected) | set(result.actual)):
                    recorded = " ".join(result.expected.get(impl, ("(unrecorded)",))) or "ok"
                    now = (" ".join(result.actual[impl]) or "ok") if impl in result.actual else "(not run)"
                    print(f"  {impl}: recorded {recorded}, now {now}", flush=True)
    if not args.quiet:
        print(summary(results), file=sys.stderr if args.json else sys.stdout)
    return status
