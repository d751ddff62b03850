"""``unmapfuzz bench``: executions per second of check() and each engine, real campaigns, a whole-space
teardown, and time to first finding; ``--mutants``: whether a campaign flags each mutant of v3 as new,
and how soon.

See :mod:`unmapfuzz.bench.measure` and :mod:`unmapfuzz.bench.mutant_bench` for what is
measured and how.  Progress goes to stderr, the report to stdout (a table, or
``--json``).  ``--compare BEFORE.json`` adds the before/after table of
:mod:`unmapfuzz.bench.compare`; ``--from REPORT.json`` takes a saved report
instead of measuring.  Exit 0 when every measurement produced a number, 1 when
one failed (e.g. libFuzzer exited without running, a campaign or a mutant's
campaign ended in an error), 2 on bad arguments or an unreadable report.  A
mutant that is not flagged is a figure, not a failure.
"""
from __future__ import annotations

import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

from unmapfuzz.bench.compare import compare
from unmapfuzz.bench.measure import ENGINES, BenchConfig, run_bench, teardown_program
from unmapfuzz.bench.render import render, render_compare, render_mutants
from unmapfuzz.impls.model.platforms import DEFAULT_PLATFORM, PLATFORMS
from unmapfuzz.programs import geometries

from .options import add_verbosity_arguments, count, natural, seconds

MUTANT_DEFAULT = {"campaign_seconds": 60.0, "campaign_jobs": 2}
MUTANT_QUICK = {"campaign_seconds": 20.0, "campaign_jobs": 2}
QUICK = {"seeds": 1, "ttff_seconds": 20.0, "programs": 100, "examples": 100, "atheris_seconds": 8.0,
         "fuzz_seconds": 10.0, "teardown_mappings": 1000, "teardown_repeats": 1}
DEFAULT = {"seeds": 3, "ttff_seconds": 60.0, "programs": 300, "examples": 300, "atheris_seconds": 15.0,
           "fuzz_seconds": 30.0, "teardown_mappings": 1000, "teardown_repeats": 3}


def register(sub) -> None:
    p = sub.add_parser(
        "bench", help="measure executions per second and time to first finding",
        description="Measure check() and each engine's executions per second on the typical program mix; "
                    "real atheris campaigns (`unmapfuzz fuzz`: one job per platform and mode, and with several "
                    "pairs one over them all on every core) and check() on the inputs they kept; check() on a "
                    "teardown of the whole space over --teardown-mappings mappings; and each engine's time to "
                    "first finding of the buckets corpus/behaviour records, next to the random baseline.  Every "
                    "number is a median over --seeds seeds.  "
                    f"Defaults: {DEFAULT['seeds']} seeds, {DEFAULT['programs']} programs, "
                    f"{DEFAULT['atheris_seconds']:g} s of atheris, {DEFAULT['fuzz_seconds']:g} s campaigns, "
                    f"{DEFAULT['teardown_repeats']} teardown repeats and a {DEFAULT['ttff_seconds']:g} s limit per "
                    "time-to-first campaign; --quick: "
                    f"{QUICK['seeds']} seed, {QUICK['programs']} programs, {QUICK['atheris_seconds']:g} s, "
                    f"{QUICK['fuzz_seconds']:g} s campaigns, {QUICK['teardown_repeats']} teardown repeat, "
                    f"{QUICK['ttff_seconds']:g} s.  "
                    "Explicit options override either.  --compare BEFORE.json adds a before/after table "
                    "against an earlier --json report.")
    p.add_argument("--platform", choices=(*PLATFORMS, "all"), default=DEFAULT_PLATFORM,
                   help="platform of the throughput measurements (all: every platform and, unless --mode "
                        "is given, both modes)")
    p.add_argument("--mode", choices=("stage2", "hyp", "all"),
                   help="mode of the throughput measurements (default: stage2; all with --platform all)")
    p.add_argument("--profile", choices=("realistic", "adversarial"), default="realistic",
                   help="profile of the throughput measurements (time to first uses each target's own)")
    p.add_argument("--seeds", type=count, metavar="N",
                   help=f"seeds 0..N-1, or from --first-seed (default: {DEFAULT['seeds']}; --quick: {QUICK['seeds']})")
    p.add_argument("--first-seed", type=natural, default=0, metavar="S", help="the first seed")
    p.add_argument("--programs", type=count, metavar="N",
                   help=f"programs per seed for the check() rate, and at most as many of each campaign's inputs "
                        f"(default: {DEFAULT['programs']}; "
                        f"--quick: {QUICK['programs']})")
    p.add_argument("--examples", type=count, metavar="N",
                   help="hypothesis examples per seed (default: as --programs)")
    p.add_argument("--atheris-seconds", type=seconds, metavar="T",
                   help=f"libFuzzer time per seed, at least 1 (default: {DEFAULT['atheris_seconds']:g}; "
                        f"--quick: {QUICK['atheris_seconds']:g})")
    p.add_argument("--ttff-seconds", type=seconds, metavar="T",
                   help=f"time limit of each time-to-first campaign (default: {DEFAULT['ttff_seconds']:g}; "
                        f"--quick: {QUICK['ttff_seconds']:g})")
    p.add_argument("--engines", default=",".join(ENGINES), metavar="E,E",
                   help="engines for time to first finding")
    p.add_argument("--fuzz-seconds", type=seconds, metavar="T",
                   help=f"--time of each real atheris campaign, at least 1 (default: {DEFAULT['fuzz_seconds']:g}; "
                        f"--quick: {QUICK['fuzz_seconds']:g})")
    p.add_argument("--teardown-mappings", type=count, metavar="N",
                   help=f"mappings of the whole-space teardown (default: {DEFAULT['teardown_mappings']}; at most "
                        "1024 on 64K-page stage 2, where each needs its own 1 GB slot)")
    p.add_argument("--teardown-repeats", type=count, metavar="N",
                   help=f"timed runs of the teardown each way, the median reported (default: "
                        f"{DEFAULT['teardown_repeats']}; --quick: {QUICK['teardown_repeats']})")
    p.add_argument("--quick", action="store_true",
                   help="one seed, shorter campaigns and limits, fewer programs: a few minutes")
    p.add_argument("--skip-ttff", action="store_true", help="no time-to-first campaigns")
    p.add_argument("--skip-atheris", action="store_true", help="no atheris throughput run (of the bare target)")
    p.add_argument("--skip-campaigns", action="store_true",
                   help="no real campaigns (and so no check() on their inputs)")
    p.add_argument("--skip-teardown", action="store_true", help="no whole-space teardown")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--compare", type=Path, metavar="BEFORE.json",
                   help="also print each figure next to the same figure of this earlier --json report, with the "
                        "speed-up, as a Markdown table (default: no comparison)")
    p.add_argument("--from", dest="from_report", type=Path, metavar="REPORT.json",
                   help="measure nothing: take this saved --json report instead, e.g. to compare two saved "
                        "reports (default: measure now)")
    m = p.add_argument_group(
        "mutants", "--mutants measures something else: for the unmodified copy of impls/v3.py and each of its "
                   "mutants (unmapfuzz.bench.mutants: one plausible kernel bug each), one `unmapfuzz fuzz --impl "
                   "NAME=MUTANT` campaign over every platform and mode, and whether it flags the mutant new, "
                   "how soon, with which signatures.  --profile is the campaigns' profile, --first-seed their "
                   "seed; the other options above do not apply.")
    m.add_argument("--mutants", action="store_true", help="measure the mutants of v3 instead")
    m.add_argument("--only", metavar="NAME,NAME",
                   help="only these mutants (the unmodified copy always runs; default: every mutant and "
                        "equivalent edit)")
    m.add_argument("--campaign-seconds", type=seconds, metavar="T",
                   help=f"--time of each campaign (default: {MUTANT_DEFAULT['campaign_seconds']:g}; "
                        f"--quick: {MUTANT_QUICK['campaign_seconds']:g})")
    m.add_argument("--campaign-jobs", type=count, metavar="N",
                   help=f"--jobs of each campaign (default: {MUTANT_DEFAULT['campaign_jobs']})")
    m.add_argument("--campaign-engine", choices=ENGINES, default="atheris", help="--engine of each campaign")
    m.add_argument("--campaign-runs", type=count, metavar="N",
                   help="--runs of each campaign: stop each worker after N programs (default: no limit; with "
                        "--campaign-jobs 1, a deterministic measurement)")
    m.add_argument("--keep", type=Path, metavar="DIR",
                   help="write the mutants and keep every campaign directory under DIR (default: a temporary "
                        "directory, removed)")
    add_verbosity_arguments(p, quiet="no progress on stderr (the report is still printed)",
                            verbose="progress lines carry the seconds since the start")
    p.set_defaults(func=run)


def command_line(args) -> str:
    """How this bench was invoked, for the report's first line."""
    argv = sys.argv[1:]
    if argv[:1] == ["bench"]:
        prog = "python -m unmapfuzz" if sys.argv[0].endswith("__main__.py") else \
            os.path.basename(sys.argv[0]) or "unmapfuzz"
        return shlex.join([*prog.split(), *argv])
    return "unmapfuzz bench" + (" --mutants" if args.mutants else "") + (" --quick" if args.quick else "")


MUTANT_OPTIONS = ("only", "campaign_seconds", "campaign_jobs", "campaign_runs", "keep")


def run(args) -> int:
    if args.mutants:
        if args.compare is not None or args.from_report is not None:
            print(f"unmapfuzz: --{'compare' if args.compare is not None else 'from'} does not apply with "
                  "--mutants", file=sys.stderr)
            return 2
        return run_mutants(args)
    given = [name for name in MUTANT_OPTIONS if getattr(args, name) is not None]
    if given or args.campaign_engine != "atheris":
        option = "--" + (given[0] if given else "campaign_engine").replace("_", "-")
        print(f"unmapfuzz: {option} applies only with --mutants", file=sys.stderr)
        return 2
    before = None
    if args.compare is not None:
        before = _load_report(args.compare, "--compare")
        if before is None:
            return 2
    if args.from_report is not None:
        report = _load_report(args.from_report, "--from")
        if report is None:
            return 2
        return _print(args, report, before)
    base = QUICK if args.quick else DEFAULT
    pick = lambda name: getattr(args, name) if getattr(args, name) is not None else base[name]  # noqa: E731
    seeds, programs = pick("seeds"), pick("programs")
    examples = args.examples if args.examples is not None else (programs if args.programs is not None
                                                                else base["examples"])
    atheris_seconds, ttff_seconds = pick("atheris_seconds"), pick("ttff_seconds")
    engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
    bad = [e for e in engines if e not in ENGINES]
    if seeds < 1 or programs < 1 or examples < 1 or atheris_seconds < 1 or ttff_seconds <= 0 or bad or not engines:
        print("unmapfuzz: --seeds, --programs, --examples must be >= 1, --atheris-seconds >= 1, "
              f"--ttff-seconds > 0, --engines a list of {','.join(ENGINES)}", file=sys.stderr)
        return 2
    fuzz_seconds = pick("fuzz_seconds")
    if fuzz_seconds < 1:
        print("unmapfuzz: --fuzz-seconds must be >= 1 (a campaign's --time is whole seconds for libFuzzer)",
              file=sys.stderr)
        return 2
    mode = args.mode or ("all" if args.platform == "all" else "stage2")
    mappings = pick("teardown_mappings")
    if not args.skip_teardown:
        for platform, pair_mode in geometries(args.platform, mode):
            try:
                teardown_program(platform, pair_mode, mappings)
            except ValueError as exc:
                print(f"unmapfuzz: --teardown-mappings: {exc}", file=sys.stderr)
                return 2
    cfg = BenchConfig(platform=args.platform, mode=mode, profile=args.profile, seeds=seeds,
                      first_seed=args.first_seed, programs=programs, examples=examples,
                      atheris_seconds=atheris_seconds, ttff_seconds=ttff_seconds, engines=engines,
                      skip_ttff=args.skip_ttff, skip_atheris=args.skip_atheris, command=command_line(args),
                      quick=args.quick, campaign_seconds=fuzz_seconds, skip_campaigns=args.skip_campaigns,
                      teardown_mappings=mappings, teardown_repeats=pick("teardown_repeats"),
                      skip_teardown=args.skip_teardown)
    started = time.monotonic()

    def progress(msg: str) -> None:
        stamp = f" {time.monotonic() - started:6.1f}s" if args.verbose else ""
        print(f"[bench{stamp}] {msg}", file=sys.stderr, flush=True)

    if args.quiet:
        progress = None
    report = run_bench(cfg, progress)
    return _print(args, report, before)


def _print(args, report: dict, before: dict | None) -> int:
    """Print the report (with the comparison against ``before``, if any); the exit status."""
    rows = compare(before, report) if before is not None else None
    if args.json:
        if rows is not None:
            report = dict(report, compare={"before": {k: before.get(k) for k in ("command", "date", "machine")},
                                           "rows": rows})
        print(json.dumps(_finite(report), indent=1, default=str))
    else:
        print(render(report))
        if rows is not None:
            print()
            print(render_compare(rows, before, report))
    failed = bool(report.get("atheris") and report["atheris"]["errors"]) or \
        any(row["errors"] for row in (report.get("campaigns") or {}).get("rows", []))
    return 1 if failed else 0


def _load_report(path: Path, option: str) -> dict | None:
    """An ``unmapfuzz bench --json`` report, or None after saying on stderr why it is not one."""
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"unmapfuzz: {option}: cannot read {path}: {exc}", file=sys.stderr)
        return None
    if not isinstance(report, dict) or "check" not in report or "settings" not in report:
        print(f"unmapfuzz: {option}: {path} is not an `unmapfuzz bench --json` report "
              "(no check or settings; a --mutants report cannot be compared)", file=sys.stderr)
        return None
    return report


def run_mutants(args) -> int:
    from unmapfuzz.bench.mutant_bench import MutantBenchConfig, run_mutant_bench
    from unmapfuzz.bench.mutants import by_name
    base = MUTANT_QUICK if args.quick else MUTANT_DEFAULT
    names = tuple(n.strip() for n in (args.only or "").split(",") if n.strip())
    for name in names:
        try:
            by_name(name)
        except KeyError as exc:
            print(f"unmapfuzz: --only: {exc.args[0]}", file=sys.stderr)
            return 2
    cfg = MutantBenchConfig(
        seconds=args.campaign_seconds or base["campaign_seconds"], jobs=args.campaign_jobs or base["campaign_jobs"],
        engine=args.campaign_engine, profile=args.profile, seed=args.first_seed, runs=args.campaign_runs,
        names=names, keep=args.keep, command=command_line(args))
    started = time.monotonic()

    def progress(msg: str) -> None:
        stamp = f" {time.monotonic() - started:6.1f}s" if args.verbose else ""
        print(f"[bench{stamp}] {msg}", file=sys.stderr, flush=True)

    report = run_mutant_bench(cfg, None if args.quiet else progress)
    if args.json:
        print(json.dumps(_finite(report), indent=1, default=str))
    else:
        print(render_mutants(report))
    return 1 if report["totals"]["errors"] else 0


def _finite(value):
    """The report with every infinite or NaN float as None, so that it is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
