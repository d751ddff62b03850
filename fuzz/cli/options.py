"""What every command shares: its parser, its help, its option types, ``-q``/``-v``.

A mistake on the command line is a usage error like any other bad input: one
line on stderr, ``unmapfuzz: WHAT IS WRONG (see 'unmapfuzz CMD --help')``,
and exit 2, never argparse's usage block.  ``--help`` shows what each option
is for and its default: an option whose default is a value shows it, one
whose default is "decided for you" says so in its own words.

The option types reject what no campaign can use (``--time nan``,
``--time inf``, ``--jobs 0``) before anything starts, with the reason.
"""
from __future__ import annotations

import argparse
import math

__all__ = ["Parser", "HelpFormatter", "seconds", "count", "natural", "add_verbosity_arguments"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's help, with ``(default: X)`` after every option that has a value as its default.

    Flags (off unless given), options whose help already states their default,
    and options without one (``None``) get no suffix: for those the help text
    itself says what happens when the option is left out.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is argparse.SUPPRESS or isinstance(default, bool) \
                or default == [] or not action.option_strings or action.nargs == 0:
            return text
        return text + " (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit 2, with :class:`HelpFormatter` help."""

    def __init__(self, *args, formatter_class=HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)

    def error(self, message: str):
        self.exit(2, f"unmapfuzz: {message} (see '{self.prog} --help')\n")


def seconds(text: str) -> float:
    """A finite number of seconds above zero (``--time``): ``nan`` and ``inf`` are not durations."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds above 0, not {text!r}")
    return value


def count(text: str) -> int:
    """A whole number of at least 1 (``--jobs``, ``--runs``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return value


def natural(text: str) -> int:
    """A whole number of at least 0 (``--seed``)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, not {text!r}")
    return value


def add_verbosity_arguments(parser: argparse.ArgumentParser, quiet: str, verbose: str) -> None:
    """``-q/--quiet`` and ``-v/--verbose``, which exclude each other.

    The meaning is the same in every command (README, "Output and exit
    status"): ``-q`` prints only errors and the output asked for by name
    (``--json``, a reproducer on stdout, a report); ``-v`` adds detail.  The
    help of each says what that is for the command at hand.
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help=quiet)
    group.add_argument("-v", "--verbose", action="store_true", help=verbose)
