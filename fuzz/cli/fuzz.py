"""``unmapfuzz fuzz``: a campaign (see :mod:`unmapfuzz.campaign.campaign`)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from unmapfuzz.impls import ImplError
from unmapfuzz.impls.model.platforms import PLATFORMS

from .impl_args import absolute_spec, add_baseline_argument, add_impl_arguments, selected_impls
from .options import add_verbosity_arguments, count, natural, seconds

CORES = os.cpu_count() or 1


def register(sub) -> None:
    p = sub.add_parser("fuzz", help="run a fuzzing campaign",
                       description="Run a campaign on every core; findings go to OUT/findings, events to "
                                   "OUT/log.jsonl, totals to OUT/summary.json.  Running again on the same "
                                   "OUT resumes it (same engine, platform, mode, profile and implementations, "
                                   "or it refuses).  Every finding is judged against the baseline on its "
                                   "program: known when the baseline shows it too or a known.txt pattern "
                                   "names it (patterns name built-in code only, never yours), new otherwise.  "
                                   "Exit 0 when every bucket is known, 1 when a new one was found, 2 on bad "
                                   "arguments, when OUT is in use by "
                                   "another campaign or holds a different one, or when OUT cannot be written "
                                   "(one line on stderr says which file and why; every bucket written so "
                                   "far stays).")
    p.add_argument("--engine", choices=("atheris", "hypothesis", "random"), default="atheris",
                   help="what generates the programs")
    p.add_argument("--platform", choices=(*PLATFORMS, "all"), default="all",
                   help="the page-table geometry (all: every platform, the programs spread over them)")
    p.add_argument("--mode", choices=("stage2", "hyp", "all"), default="all",
                   help="stage-2 tables with a kvm, hyp tables without, or both")
    p.add_argument("--profile", choices=("realistic", "adversarial"), default="realistic",
                   help="which programs are valid (see README, Programs)")
    p.add_argument("--time", type=seconds, default=60.0, metavar="SECONDS",
                   help="stop after this many seconds (finite, above 0)")
    p.add_argument("--jobs", type=count, default=CORES, metavar="N",
                   help=f"worker processes (default: one per core, {CORES} here)")
    p.add_argument("--seed", type=natural, default=0, help="seed of the first worker; worker i uses 1000*SEED+i")
    p.add_argument("--runs", type=count, metavar="N",
                   help="stop each worker after N executions (default: no limit; with --jobs 1 and --seed: "
                        "a deterministic run)")
    p.add_argument("--out", type=Path, default=Path("out/campaign"), metavar="DIR",
                   help="the campaign directory: created, or resumed when it holds a campaign")
    add_baseline_argument(p)
    p.add_argument("--no-minimize", action="store_true", help="do not minimise new buckets")
    p.add_argument("--json", action="store_true", help="print summary.json to stdout at the end")
    p.add_argument("--known", type=Path, metavar="FILE",
                   help="the documented divergences to mark known (default: the list that ships with "
                        "unmapfuzz, corpus/known.txt); a missing or unreadable file is an error")
    add_impl_arguments(p)
    add_verbosity_arguments(p, quiet="no progress line and no summary text (--json is still printed)",
                            verbose="also print each new bucket when it appears and what the start cleaned up")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.impls is not None:
        print("unmapfuzz: --impls is not supported by fuzz (every implementation takes part)", file=sys.stderr)
        return 2
    try:
        selected_impls(args)     # fail now, not in every worker
    except ImplError as exc:
        print(f"unmapfuzz: {exc}", file=sys.stderr)
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
    impl_specs = [absolute_spec(s) for s in args.impl]
    from unmapfuzz.campaign.campaign import Campaign, CampaignConfig   # structlog only when fuzzing
    from unmapfuzz.campaign.outdir import CampaignError
    cfg = CampaignConfig(engine=args.engine, platform=args.platform, mode=args.mode, profile=args.profile,
                         seconds=args.time, jobs=args.jobs, seed=args.seed, out=args.out.resolve(),
                         impls=impl_specs, minimize=not args.no_minimize, quiet=args.quiet,
                         runs=args.runs, known=None if args.known is None else args.known.resolve(),
                         verbose=args.verbose, baseline=args.baseline)
    try:
        summary = Campaign(cfg).run()
    except CampaignError as exc:
        print(f"unmapfuzz: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=1))
    elif not args.quiet:
        print(render_summary(summary, cfg.out))
    return 1 if summary["new"] else 0


def render_summary(summary: dict, out: Path) -> str:
    """The text a campaign ends with: totals, then new buckets of your implementations, other
    new buckets, and the known ones with why each is known."""
    buckets = summary["buckets"]
    lines = [f"{summary['executions']} executions in {summary['elapsed_seconds']}s "
             f"({summary['exec_per_second']}/s) against the baseline {summary.get('baseline')}; "
             f"{len(buckets)} buckets, {len(summary['new'])} new; see {out}/summary.json"]
    from unmapfuzz.campaign.runs import geometry_rows   # structlog only when fuzzing
    rows = geometry_rows(summary.get("geometries"))
    if len(rows) > 1 and any(r["share"] for r in rows):
        lines.append("time by platform/mode: " + ", ".join(
            f"{r['geometry']} {r['share']:.0%}" if r["share"] >= 0.005 else f"{r['geometry']} <1%" for r in rows)
            + f" (table: {out}/report.html)")
    groups = (("NEW for your implementation", [b for b in buckets if not b["known"] and b.get("user")]),
              ("NEW", [b for b in buckets if not b["known"] and not b.get("user")]),
              ("known", [b for b in buckets if b["known"]]))
    for title, selected in groups:
        if selected:
            lines.append(f"{title}:")
            for b in selected:
                why = f"  ({b['known_by']})" if b.get("known_by") else ""
                lines.append(f"  {b['signature']:<58} x{b['count']}  {b['minimized'] or b['program']}{why}")
    return "\n".join(lines)
