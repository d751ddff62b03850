"""``unmapfuzz crash FILE...``: a fuzzing service's crash input as an ``.ops`` reproducer and a bucket."""
from __future__ import annotations

import sys
from pathlib import Path

from unmapfuzz.atomic import atomic_write

from .options import add_verbosity_arguments


def register(sub) -> None:
    from unmapfuzz.campaign.service import TARGETS
    p = sub.add_parser(
        "crash", help="turn a libFuzzer crash input of a service target into a reproducer",
        description="Decode crash inputs of a service fuzz target (fuzzers/*_fuzzer.py, as ClusterFuzzLite "
                    "or OSS-Fuzz reports them) with that target's configuration, and print each program "
                    "as an .ops reproducer naming its signatures.  With --out, record them as buckets of "
                    "that campaign directory (and minimise new ones).  Exit 1 when a program shows a "
                    "finding, 0 when none shows any (fixed since), 2 on bad input.")
    p.add_argument("files", nargs="+", metavar="FILE", help="crash inputs (crash-<sha1>, clusterfuzz-testcase-*)")
    p.add_argument("--target", choices=tuple(TARGETS),
                   help="the target that produced them (default: the target named in each file's name)")
    p.add_argument("-o", "--output", metavar="OUT.ops", type=Path,
                   help="write the reproducer here (one FILE only; default: stdout)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="record the findings as buckets of this campaign directory (default: record nothing)")
    p.add_argument("--known", type=Path, metavar="FILE",
                   help="judge new against this known-divergence list (default: the one that ships with unmapfuzz)")
    p.add_argument("--no-minimize", action="store_true", help="with --out: do not minimise new buckets")
    add_verbosity_arguments(p, quiet="print only the reproducers (and errors), not the line per input",
                            verbose="also print each finding's explanation")
    p.set_defaults(func=run)


def run(args) -> int:
    from unmapfuzz.campaign.crashes import CrashInputError, import_crash
    from unmapfuzz.campaign.service import target, target_for_file

    def fail(message: str) -> int:
        print(f"unmapfuzz: {message}", file=sys.stderr)
        return 2

    if args.output and len(args.files) > 1:
        return fail("-o takes one crash input; use --out DIR for several")
    known = None
    if args.known is not None:
        from unmapfuzz.verdict.known import KnownListError, read_known
        try:
            read_known(args.known)
        except KnownListError as exc:
            return fail(str(exc))
        known = str(args.known.resolve())
    status = 0
    texts = []
    for file in args.files:
        t = target(args.target) if args.target else target_for_file(file)
        if t is None:
            status = fail(f"{file}: which fuzz target produced it? give --target (its name is not in the file name)")
            continue
        try:
            result = import_crash(file, t, args.out, known=known, minimize=not args.no_minimize)
        except (CrashInputError, OSError) as exc:
            status = fail(str(exc))
            continue
        texts.append(result.text)
        shown = ", ".join(f"{s}{' (new)' if s in result.new else ''}" for s in result.shown) or "nothing"
        where = f"; buckets: {', '.join(result.buckets)}" if result.buckets else ""
        if not args.quiet:
            print(f"{file}: {t.name}: {len(result.program.ops)} ops, shows {shown}{where}", file=sys.stderr)
        if args.verbose:
            for line in result.text.splitlines():
                if line.startswith("# op "):
                    print(f"  {line[2:]}", file=sys.stderr)
        if result.shown and status == 0:
            status = 1
    if args.output and texts:
        try:
            atomic_write(args.output, texts[0])
        except OSError as exc:
            return fail(f"{args.output}: cannot write: {exc.strerror or exc}")
    elif texts:
        sys.stdout.write("\n".join(texts))
    return status
