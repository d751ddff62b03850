"""``unmapfuzz report OUT``: a campaign directory as one self-contained HTML page."""
from __future__ import annotations

import sys
from pathlib import Path

from .options import add_verbosity_arguments


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="write a campaign's report: plots, buckets, where they were found",
        description="Write one self-contained HTML page (no network needed to view it) about campaign "
                    "directory OUT (a campaign or a merge): executions, coverage and buckets over time, "
                    "which kinds were found for each implementation, platform and mode, every bucket with "
                    "its explanation and minimised reproducer, and the configuration.")
    p.add_argument("out", type=Path, metavar="OUT", help="the campaign (or merged) directory to report on")
    p.add_argument("-o", "--output", type=Path, metavar="REPORT.html",
                   help="where to write the page (default: OUT/report.html)")
    add_verbosity_arguments(p, quiet="print nothing but errors", verbose="also print the page's size and bucket count")
    p.set_defaults(func=run)


def run(args) -> int:
    from unmapfuzz.campaign.report import ReportError, write_report
    try:
        dest = write_report(args.out, args.output)
    except ReportError as exc:
        print(f"unmapfuzz: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"unmapfuzz: {exc.filename or args.output}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"report written to {dest}", file=sys.stderr)
    if args.verbose:
        from unmapfuzz.campaign.store import read_buckets
        print(f"  {dest.stat().st_size:,} bytes, {len(read_buckets(args.out))} buckets", file=sys.stderr)
    return 0
