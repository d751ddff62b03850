"""``--impl`` and ``--impls``: which implementations a command runs."""
from __future__ import annotations

import argparse
import sys

from unmapfuzz.impls import ImplError, resolve_impls


def add_impl_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--impl", action="append", default=[], metavar="[NAME=]FILE.py[:FUNC]|MODULE:FUNC",
                        help="add an unmap_range(k, kvm, pgdp, start, size) of your own (repeatable)")
    parser.add_argument("--impls", metavar="A,B,...",
                        help="run only these implementations (default: the built-in ones and every --impl)")


def selected_impls(args) -> dict:
    """The implementations a command's ``--impl``/``--impls`` select; raises ImplError."""
    return resolve_impls(args.impl, args.impls)


def impls_or_exit(args) -> dict | None:
    """:func:`selected_impls`, or None after telling the user what was wrong (exit 2)."""
    try:
        return selected_impls(args)
    except ImplError as exc:
        print(f"unmapfuzz: {exc}", file=sys.stderr)
        return None
