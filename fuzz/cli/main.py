"""The ``unmapfuzz`` command line.

Every command lives in its own module of :mod:`unmapfuzz.cli` with a
``register(subparsers)`` that adds its parser and sets ``func``; this file only
assembles them.  The CLI is the only part of unmapfuzz that knows argparse.  Exit status is
the same everywhere: 0 clean, 1 findings (violations, divergences, new buckets,
replay differences), 2 bad input, bad usage or an environment error (a file
that cannot be written), always with one line on stderr saying what and where.
It stays the command's own through a broken pipe (:mod:`.pipes`).
"""
from __future__ import annotations

import importlib
import signal
import sys
import threading

import unmapfuzz

from .options import Parser
from .pipes import pipe_safe_streams

COMMANDS = ("check", "fuzz", "bench", "minimize", "replay", "coverage", "seeds", "targets", "crash", "merge",
            "report", "template")


def build_parser() -> Parser:
    parser = Parser(
        prog="unmapfuzz",
        description="Differential fuzzer for KVM/ARM unmap_range() on a model of the kernel's page tables.  "
                    "Exit status: 0 clean, 1 findings, 2 bad input, usage or environment error.")
    parser.add_argument("--version", action="version", version=f"unmapfuzz {unmapfuzz.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"unmapfuzz.cli.{name}").register(sub)
    return parser


def _interrupted(*_args) -> None:
    """Ctrl-C: the person's, even when it lands inside an implementation under test,
    whose own ``KeyboardInterrupt`` the guard would record as a crash."""
    from unmapfuzz.verdict.guard import interrupt
    interrupt()
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupted)
    with pipe_safe_streams():
        try:
            args = build_parser().parse_args(argv)
            status = args.func(args)
            sys.stdout.flush()
            return status
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except OSError as exc:    # the environment, not the input: a file that cannot be read or written
            where = f"{exc.filename}: " if exc.filename else ""
            print(f"unmapfuzz: {where}{exc.strerror or exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
