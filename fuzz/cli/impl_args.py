"""``--impl`` and ``--impls``: which implementations a command runs.

Every spec is checked for what can be told without running it before any
user code is imported: ``--impl notes.txt`` (a file that is not Python),
``--impl some/dir``, ``--impl a=`` and ``--impls ,`` (no names at all) are
usage errors with a line saying so, never a traceback from an importer.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from unmapfuzz.impls import ImplError, resolve_impls
from unmapfuzz.verdict.check import DEFAULT_BASELINE

USAGE = "[NAME=]FILE.py[:FUNC]|MODULE:FUNC"


def add_impl_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--impl", action="append", default=[], metavar=USAGE,
                        help="add an unmap_range(k, kvm, pgdp, start, size) of your own (repeatable; "
                             "default: only the built-in ones)")
    parser.add_argument("--impls", metavar="A,B,...",
                        help="run only these implementations (default: the built-in ones and every --impl)")


def add_baseline_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, metavar="NAME",
                        help="the implementation every other is judged against, program by program: a "
                             "finding it shows too is not news about the others (a built-in name or an --impl "
                             "name; it always runs)")


def with_baseline(selected: dict, known: dict, baseline: str) -> dict:
    """``selected`` with the baseline added when ``--impls`` left it out; raises ImplError
    when no implementation has that name."""
    if baseline not in known:
        raise ImplError(f"--baseline {baseline}: no such implementation (known: {', '.join(known)})")
    return selected if baseline in selected else {**selected, baseline: known[baseline]}


def absolute_spec(spec: str) -> str:
    """``[NAME=]FILE.py[:FUNC]`` with FILE made absolute: workers run in the output
    directory, and a reproducer's replay line must work from wherever it is run."""
    name, eq, rest = spec.partition("=")
    if not eq:
        name, rest = "", spec
    target, colon, func = rest.partition(":")
    if target.endswith(".py") or "/" in target:
        target = str(Path(target).resolve())
    return f"{name}{eq}{target}{colon}{func}"


def spec_problem(spec: str) -> str | None:
    """Why ``--impl SPEC`` cannot name an implementation, or None when it may (loading decides the rest)."""
    name, eq, rest = spec.partition("=")
    if not eq:
        name, rest = "", spec
    target = rest.partition(":")[0]
    if eq and not name:
        return f"--impl {spec}: NAME before '=' is empty (expected {USAGE})"
    if not target:
        return f"--impl {spec}: no file or module given (expected {USAGE})"
    if os.path.isdir(target):
        return f"--impl {spec}: {target} is a directory (expected a .py file or MODULE:FUNC)"
    if os.path.exists(target) and not target.endswith(".py"):
        return f"--impl {spec}: {target} is not a Python file (expected a .py file or MODULE:FUNC)"
    return None


def resolve(args, origins: dict | None = None) -> tuple[dict, list[str]]:
    """The implementations the command runs, and the names of every one it knows; raises ImplError.

    Known names are the built-in ones and every ``--impl``, whatever
    ``--impls`` selects: an ``expect`` line may name any of them.  With a
    ``--baseline`` argument, the baseline is among those run.  ``origins`` is
    filled with each implementation's spec, made absolute (built-ins: their name).
    """
    selected, known = _resolve(args, origins)
    baseline = getattr(args, "baseline", None)
    if baseline is not None:
        selected = with_baseline(selected, known, baseline)
    return selected, list(known)


def _resolve(args, origins: dict | None) -> tuple[dict, dict]:
    for spec in args.impl:
        problem = spec_problem(spec)
        if problem:
            raise ImplError(problem)
    known = resolve_impls([absolute_spec(s) for s in args.impl], origins=origins)
    if args.impls is None:
        return known, known
    names = [n.strip() for n in args.impls.split(",") if n.strip()]
    if not names:
        raise ImplError(f"--impls {args.impls!r} names no implementation (known: {', '.join(known)})")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ImplError(f"--impls: unknown implementation(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return {n: known[n] for n in names}, known


def selected_impls(args) -> dict:
    """The implementations a command's ``--impl``/``--impls`` select; raises ImplError."""
    return resolve(args)[0]


def impls_or_exit(args) -> tuple[dict, list[str]] | None:
    """:func:`resolve`, or None after telling the user what was wrong (exit 2)."""
    try:
        return resolve(args)
    except ImplError as exc:
        print(f"unmapfuzz: {exc}", file=sys.stderr)
        return None
