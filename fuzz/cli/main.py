"""The ``unmapfuzz`` command line.

Every command lives in its own module of :mod:`unmapfuzz.cli` with a
``register(subparsers)`` that adds its parser and sets ``func``; this file only
assembles them.  The CLI is the only part of unmapfuzz that knows argparse.  Exit status is
the same everywhere: 0 clean, 1 findings (violations, divergences, replay
differences), 2 bad input or usage.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("check", "fuzz", "bench", "minimize", "replay", "seeds", "targets", "crash", "merge", "report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unmapfuzz",
        description="Differential fuzzer for KVM/ARM unmap_range() on a model of the kernel's page tables.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"unmapfuzz.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:       # `unmapfuzz check ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
