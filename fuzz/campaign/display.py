"""How a campaign shows its progress: a live status on a terminal, plain lines elsewhere.

On a terminal, `rich <https://rich.readthedocs.io>`_ draws one status line
that updates in place: a bar of the campaign's time, elapsed and left, and
the figures that say whether it is worth continuing (executions and their
rate, libFuzzer's coverage, buckets and how many are new, new ones of your
``--impl`` in red).  Events (a new bucket with ``-v``, a worker that died,
what the start cleaned) are printed above it and scroll away as they come.

Anywhere else (a CI log, a pipe, a file) the same figures come as one plain
line per progress tick, ``[unmapfuzz] 1234 execs  410/s  cov 153  buckets 12
(0 new)  9s elapsed, 51s left``, so that a log stays a log.  Either way it is
all on stderr: stdout is for the summary (``--json``).
"""
from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["Display"]

PREFIX = "[unmapfuzz] "


class Display:
    """``message(text)`` for events, ``progress(figures, elapsed, seconds)`` at each tick,
    ``close()`` at the end.  ``quiet``: events and progress are not shown at all."""

    def __init__(self, seconds: float, quiet: bool = False, stream=None):
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.console = Console(file=self.stream, highlight=False)
        self.live: Progress | None = None
        self.task = None
        self.seconds = seconds

    @property
    def terminal(self) -> bool:
        return self.console.is_terminal

    def _start(self) -> None:
        self.live = Progress(TextColumn("[bold]unmapfuzz[/]"), BarColumn(bar_width=24), TimeElapsedColumn(),
                             TextColumn("elapsed,"), TimeRemainingColumn(compact=True), TextColumn("left "),
                             TextColumn("{task.fields[figures]}"), console=self.console, transient=False,
                             auto_refresh=True, refresh_per_second=4)
        self.task = self.live.add_task("campaign", total=self.seconds, figures="starting")
        self.live.start()

    def message(self, text: str) -> None:
        """An event: a line of its own (above the live status on a terminal)."""
        if self.quiet:
            return
        if self.terminal:
            if self.live is None:
                self._start()
            self.live.console.print(PREFIX + text, markup=False)
        else:
            print(PREFIX + text, file=self.stream, flush=True)

    def progress(self, figures: str, elapsed: float, remaining: float, *, alarm: bool = False) -> None:
        """One progress tick: ``figures`` is the plain text of the figures; ``alarm`` shows
        them in red (something of the user's is new)."""
        if self.quiet:
            return
        if not self.terminal:
            print(f"{PREFIX}{figures}  {elapsed:.0f}s elapsed, {remaining:.0f}s left", file=self.stream, flush=True)
            return
        if self.live is None:
            self._start()
        shown = f"[bold red]{_escape(figures)}[/]" if alarm else _escape(figures)
        self.live.update(self.task, completed=min(elapsed, self.seconds), total=elapsed + remaining,
                         figures=shown)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _escape(text: str) -> str:
    from rich.markup import escape
    return escape(text)
