"""``unmapfuzz seeds PATH... -o DIR|FILE.zip``: atheris seed inputs from .ops programs."""
from __future__ import annotations

import sys
from pathlib import Path

from unmapfuzz.impls.model.platforms import DEFAULT_PLATFORM, PLATFORMS


def register(sub) -> None:
    p = sub.add_parser("seeds", help="encode .ops programs as atheris seed inputs",
                       description="Encode .ops programs (files or directories) as inputs of the atheris "
                                   "target for one configuration: a corpus directory, or an OSS-Fuzz-style "
                                   "seed corpus when OUT ends in .zip.  Programs of other platforms/modes "
                                   "are skipped.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="DIR|FILE.zip")
    p.add_argument("--platform", choices=(*PLATFORMS, "all"), default=DEFAULT_PLATFORM)
    p.add_argument("--mode", choices=("stage2", "hyp", "all"), default="stage2")
    p.set_defaults(func=run)


def run(args) -> int:
    from unmapfuzz.generation.seeds import write_seeds
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"unmapfuzz: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    n = write_seeds(args.paths, args.out, args.platform, args.mode)
    print(f"{n} seeds written to {args.out}", file=sys.stderr)
    return 0
