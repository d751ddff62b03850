"""``unmapfuzz seeds PATH... -o DIR|FILE.zip``: atheris seed inputs from .ops programs."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from unmapfuzz.impls.model.platforms import DEFAULT_PLATFORM, PLATFORMS

from .options import add_verbosity_arguments


def register(sub) -> None:
    p = sub.add_parser("seeds", help="encode .ops programs as atheris seed inputs",
                       description="Encode .ops programs (files or directories) as inputs of the atheris "
                                   "target for one configuration: a corpus directory, or an OSS-Fuzz-style "
                                   "seed corpus when OUT ends in .zip.  Programs of other platforms/modes "
                                   "are skipped.  Every program must pass check's rules (it parses, it is "
                                   "valid under its profile) and have at most 255 operations: exit 0 when "
                                   "the seeds are written, 2 when a program breaks a rule (each told as "
                                   "FILE:LINE:, and nothing is written), a directory holds no .ops file, or "
                                   "OUT cannot be written.")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".ops files, or directories to search for them")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="DIR|FILE.zip",
                   help="where the seeds go (required)")
    p.add_argument("--platform", choices=(*PLATFORMS, "all"), default=DEFAULT_PLATFORM,
                   help="the target's platform (all: every platform; seeds then carry a selector byte)")
    p.add_argument("--mode", choices=("stage2", "hyp", "all"), default="stage2", help="the target's mode")
    add_verbosity_arguments(p, quiet="no summary line on stderr",
                            verbose="also name each program and whether it became a seed")
    p.set_defaults(func=run)


def run(args) -> int:
    from unmapfuzz.generation.seeds import read_programs, seed_bytes, seed_name, write_seed_set
    status = 0
    for path in args.paths:
        if not os.path.exists(path):
            print(f"unmapfuzz: {path}: no such file or directory", file=sys.stderr)
            status = 2
        elif os.path.isdir(path) and not any(Path(path).rglob("*.ops")):
            print(f"unmapfuzz: {path}: no .ops file in this directory", file=sys.stderr)
            status = 2
    programs, errors = read_programs([p for p in args.paths if os.path.exists(p)])
    for error in errors:
        print(f"unmapfuzz: {error}", file=sys.stderr)
    if errors or status:
        return 2
    seeds = []
    for path, program in programs:
        data = seed_bytes(program, args.platform, args.mode)
        if data is not None:
            seeds.append((seed_name(data), data))
        if args.verbose:
            print(f"{path}: " + (seed_name(data) if data is not None else
                                 f"skipped ({program.platform} {program.mode})"), file=sys.stderr)
    try:
        n = write_seed_set(seeds, args.out)
    except OSError as exc:
        print(f"unmapfuzz: {exc.filename or args.out}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        skipped = len(programs) - len(seeds)
        print(f"{n} seeds written to {args.out}" +
              (f" ({skipped} programs of other platforms or modes skipped)" if skipped else ""), file=sys.stderr)
    return 0
