"""``--impl`` and ``--impls``: which implementations a command runs."""
from __future__ import annotations

import argparse
import sys

from impls import BUILTIN, ImplError, load_impl


def add_impl_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--impl", action="append", default=[], metavar="[NAME=]FILE.py[:FUNC]|MODULE:FUNC",
                        help="add an unmap_range(k, kvm, pgdp, start, size) of your own (repeatable)")
    parser.add_argument("--impls", metavar="A,B,...",
                        help="run only these implementations (default: the built-in ones and every --impl)")


def impls_from_specs(specs, only: str | None = None) -> dict:
    """The built-in implementations plus each ``--impl`` spec, optionally cut to ``--impls``.

    Raises ImplError with a message for the user.
    """
    impls = dict(BUILTIN)
    for spec in specs:
        name, fn = load_impl(spec)
        if name in impls:
            raise ImplError(f"--impl {spec}: the name {name!r} is taken; use NAME={spec}")
        impls[name] = fn
    if only:
        names = [n.strip() for n in only.split(",") if n.strip()]
        unknown = [n for n in names if n not in impls]
        if unknown:
            raise ImplError(f"--impls: unknown implementation(s) {', '.join(unknown)} "
                            f"(known: {', '.join(impls)})")
        impls = {n: impls[n] for n in names}
    return impls


def selected_impls(args) -> dict:
    """The implementations a command's ``--impl``/``--impls`` select."""
    return impls_from_specs(args.impl, args.impls)


def impls_or_exit(args) -> dict | None:
    """:func:`selected_impls`, or None after telling the user what was wrong (exit 2)."""
    try:
        return selected_impls(args)
    except ImplError as exc:
        print(f"unmapfuzz: {exc}", file=sys.stderr)
        return None
