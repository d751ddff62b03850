"""``unmapfuzz targets``: the service fuzz targets, and the files a service build ships with them."""
from __future__ import annotations

import sys
from pathlib import Path

from .options import add_verbosity_arguments


def register(sub) -> None:
    p = sub.add_parser(
        "targets", help="list the ClusterFuzzLite/OSS-Fuzz targets; write their seed corpora and dictionaries",
        description="List the service fuzz targets (fuzzers/*_fuzzer.py) and their configurations.  With "
                    "--write DIR, write DIR/NAME_seed_corpus.zip (the .ops programs that fit each target) "
                    "and DIR/NAME.dict (its libFuzzer dictionary), as .clusterfuzzlite/build.sh does into $OUT.")
    p.add_argument("--write", type=Path, metavar="DIR",
                   help="write each target's seed corpus zip and dictionary here (default: write nothing, list)")
    p.add_argument("--corpus", type=Path, action="append", metavar="PATH",
                   help="the .ops programs to seed from (repeatable; default: the corpus that ships with unmapfuzz)")
    add_verbosity_arguments(p, quiet="do not list the targets or the files written",
                            verbose="list each target's configuration in full (the default listing already does)")
    p.set_defaults(func=run)


def run(args) -> int:
    from unmapfuzz.campaign.service import TARGETS, write_target_files
    if not args.quiet:
        for t in TARGETS.values():
            print(f"{t.name:<26} --platform {t.platform} --mode {t.mode} --profile {t.profile}  {t.about}")
    if args.write is None:
        return 0
    if args.corpus:
        corpus = args.corpus
        missing = [str(p) for p in corpus if not p.exists()]
        if missing:
            print(f"unmapfuzz: no such file or directory: {', '.join(missing)}", file=sys.stderr)
            return 2
    else:
        from unmapfuzz.campaign.campaign import packaged_corpus
        corpus = [packaged_corpus()]
    try:
        for t in TARGETS.values():
            files = write_target_files(t, corpus, args.write)
            if not args.quiet:
                print(f"wrote {files['seed_corpus']} and {files['dict']}", file=sys.stderr)
    except OSError as exc:
        print(f"unmapfuzz: {args.write}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
