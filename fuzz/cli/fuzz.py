"""``unmapfuzz fuzz``: a campaign (see :mod:`unmapfuzz.campaign.campaign`)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from unmapfuzz.impls import ImplError
from unmapfuzz.impls.model.platforms import DEFAULT_PLATFORM, PLATFORMS

from .impl_args import add_impl_arguments, selected_impls


def register(sub) -> None:
    p = sub.add_parser("fuzz", help="run a fuzzing campaign",
                       description="Run a campaign on every core; findings go to OUT/findings, events to "
                                   "OUT/log.jsonl, totals to OUT/summary.json.  Exit 1 when it found a "
                                   "bucket not listed in corpus/known.txt, else 0.")
    p.add_argument("--engine", choices=("atheris", "hypothesis", "random"), default="atheris")
    p.add_argument("--platform", choices=(*PLATFORMS, "all"), default=DEFAULT_PLATFORM)
    p.add_argument("--mode", choices=("stage2", "hyp", "all"), default="stage2")
    p.add_argument("--profile", choices=("realistic", "adversarial"), default="realistic")
    p.add_argument("--time", type=float, default=60.0, metavar="SECONDS")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", type=int, metavar="N",
                   help="stop each worker after N executions (with --jobs 1 and --seed: a deterministic run)")
    p.add_argument("--out", type=Path, default=Path("out/campaign"), metavar="DIR")
    p.add_argument("--no-minimize", action="store_true", help="do not minimise new buckets")
    p.add_argument("--json", action="store_true", help="print summary.json to stdout at the end")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--known", type=Path, metavar="FILE",
                   help="the documented divergences to mark known (default: the list that ships with "
                        "unmapfuzz, corpus/known.txt); a missing or unreadable file is an error")
    add_impl_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.jobs < 1 or args.time <= 0:
        print("unmapfuzz: --jobs must be >= 1 and --time > 0", file=sys.stderr)
        return 2
    try:
        selected_impls(args)     # fail now, not in every worker
    except ImplError as exc:
        print(f"unmapfuzz: {exc}", file=sys.stderr)
        return 2
    if args.impls:
        print("unmapfuzz: --impls is not supported by fuzz (every implementation takes part)", file=sys.stderr)
        return 2
    if args.known is not None:
        from unmapfuzz.verdict.known import KnownListError, read_known
        try:
            read_known(args.known)
        except KnownListError as exc:
            print(f"unmapfuzz: {exc}", file=sys.stderr)
            return 2
    if args.engine == "hypothesis":
        from unmapfuzz.campaign.example_db import DatabaseSpecError, configured_database
        try:
            configured_database()          # $UNMAPFUZZ_HYPOTHESIS_DB: fail now, not in every worker
        except DatabaseSpecError as exc:
            print(f"unmapfuzz: {exc}", file=sys.stderr)
            return 2
    impl_specs = [_absolute_spec(s) for s in args.impl]
    from unmapfuzz.campaign.campaign import Campaign, CampaignConfig   # structlog only when fuzzing
    cfg = CampaignConfig(engine=args.engine, platform=args.platform, mode=args.mode, profile=args.profile,
                         seconds=args.time, jobs=args.jobs, seed=args.seed, out=args.out.resolve(),
                         impls=impl_specs, minimize=not args.no_minimize, quiet=args.quiet,
                         runs=args.runs, known=None if args.known is None else args.known.resolve())
    summary = Campaign(cfg).run()
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"{summary['executions']} executions in {summary['elapsed_seconds']}s "
              f"({summary['exec_per_second']}/s); {len(summary['buckets'])} buckets, "
              f"{len(summary['new'])} not in corpus/known.txt; see {cfg.out}/summary.json")
        for b in summary["buckets"]:
            tag = "known" if b["known"] else "NEW  "
            print(f"  {tag} {b['signature']:<60} x{b['count']}  {b['minimized'] or b['program']}")
    return 1 if summary["new"] else 0


def _absolute_spec(spec: str) -> str:
    """``[NAME=]FILE.py[:FUNC]`` with FILE made absolute: workers run in the output directory."""
    name, eq, rest = spec.rpartition("=")
    target, colon, func = rest.partition(":")
    if target.endswith(".py") or "/" in target:
        target = str(Path(target).resolve())
    return f"{name}{eq}{target}{colon}{func}"
