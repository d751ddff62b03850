"""``unmapfuzz template [NAME] [-o FILE]``: a built-in implementation to start your own from.

The source of a built-in ``unmap_range`` module, as it ships (so it works from
an installed wheel, where there is no ``impls/`` to copy): every function of
that version, importing only the stable ``unmapfuzz.impls.model``.  Saved
unchanged it loads as ``--impl`` and agrees with the built-in.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from unmapfuzz.atomic import atomic_write
from unmapfuzz.impls import BUILTIN
from unmapfuzz.verdict.check import DEFAULT_BASELINE

from .options import add_verbosity_arguments


def register(sub) -> None:
    p = sub.add_parser("template", help="print a built-in implementation to start your own --impl from",
                       description="Print the source of a built-in unmap_range implementation (every function "
                                   "of it) to start your own --impl from, or write it to -o FILE.  Exit 0, or "
                                   "2 when FILE exists (without --force) or cannot be written.")
    p.add_argument("name", nargs="?", default=DEFAULT_BASELINE, choices=list(BUILTIN), metavar="NAME",
                   help=f"the implementation to copy, one of {', '.join(BUILTIN)} (default: {DEFAULT_BASELINE}, "
                        "the baseline every implementation is judged against)")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="write it to FILE instead of printing it (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    add_verbosity_arguments(p, quiet="say nothing when writing FILE", verbose="also say which module it comes from")
    p.set_defaults(func=run)


def source_of(name: str) -> tuple[str, str]:
    """The module name and source text of the built-in implementation ``name``."""
    module = importlib.import_module(BUILTIN[name].__module__)
    return module.__name__, Path(module.__file__).read_text(encoding="utf-8")


def run(args) -> int:
    module, text = source_of(args.name)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    if args.output.exists() and not args.force:
        print(f"unmapfuzz: {args.output}: exists (give --force to overwrite it)", file=sys.stderr)
        return 2
    try:
        atomic_write(args.output, text)
    except OSError as exc:
        print(f"unmapfuzz: {args.output}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        origin = f" (from {module})" if args.verbose else ""
        print(f"wrote {args.output}: {args.name}'s unmap_range{origin}; try it with "
              f"unmapfuzz check --impl mine={args.output} FILE.ops", file=sys.stderr)
    return 0
