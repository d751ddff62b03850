"""``unmapfuzz merge DIR... -o OUT``: campaigns run anywhere, folded into one directory."""
from __future__ import annotations

import sys
from pathlib import Path

from .options import add_verbosity_arguments


def register(sub) -> None:
    p = sub.add_parser(
        "merge", help="merge campaign directories (other machines, a service's imported crashes) into one",
        description="Merge campaign output directories into OUT (new, a campaign, or an earlier merge): "
                    "buckets united by signature (counts kept per campaign, first seen the earliest, the "
                    "smaller reproducer), libFuzzer corpora merged with -merge=1, the log and summary made "
                    "whole.  Running it again changes nothing; an interrupted merge is finished by running "
                    "it again.  Do not merge into a directory a campaign is running in.")
    p.add_argument("sources", nargs="+", metavar="DIR", type=Path,
                   help="campaign directories to merge (a campaign, a merge, imported service crashes)")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="OUT",
                   help="the directory to merge into (required; created if missing)")
    p.add_argument("--known", type=Path, metavar="FILE",
                   help="the known-divergence list for the summary's known/new (default: the packaged one)")
    p.add_argument("--no-corpus", action="store_true", help="leave the libFuzzer corpora out")
    add_verbosity_arguments(p, quiet="print nothing but errors", verbose="also list the buckets OUT holds after the merge")
    p.set_defaults(func=run)


def run(args) -> int:
    from unmapfuzz.campaign.merge import MergeError, merge
    from unmapfuzz.verdict.known import KnownListError, read_known

    def fail(message: str) -> int:
        print(f"unmapfuzz: {message}", file=sys.stderr)
        return 2

    known = None
    if args.known is not None:
        try:
            read_known(args.known)
        except KnownListError as exc:
            return fail(str(exc))
        known = str(args.known.resolve())
    try:
        result = merge(args.sources, args.out, known=known, corpus=not args.no_corpus)
    except MergeError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"{exc.filename or args.out}: {exc.strerror or exc}")
    if not args.quiet:
        print(result.line(), file=sys.stderr)
    if args.verbose:
        from unmapfuzz.campaign.store import read_buckets
        for bucket in read_buckets(args.out):
            print(f"  {bucket['signature']}  x{bucket['count']}", file=sys.stderr)
    return 0
