"""Minimising new buckets while a campaign runs.

A process of its own (``python -m unmapfuzz.campaign.minimizer``, started by
the campaign like a worker, through the :mod:`.lifeline`) watches
``findings/`` and, for each bucket without ``minimized.ops``, minimises its
program to the same signature and writes the reproducer next to it.  A
bucket that is news (a program the baseline does not explain,
``unexplained.ops``) is minimised keeping it news, and again if it became news
after its first reproducer was made.  The reproducer's ``# replay:`` line
names the campaign's ``--impl`` specs and baseline, so it shows the finding
again as written.

Why a process and not a thread of the campaign: minimising runs the
implementations, a user's included, and whatever that code does to its
process (``os.kill`` of itself, a crash of the interpreter) must not take the
campaign with it.  So the campaign never runs an implementation itself.  While
it minimises a bucket the minimiser leaves a marker, ``minimizing.PID``, in
the bucket; if the minimiser dies, the campaign renames it to
:data:`DIED` (:func:`mark_died`), restarts the minimiser, and that bucket keeps
its first program as its reproducer.  A marker a killed campaign left is
removed at the next start (:func:`clear_markers`).

SIGUSR1 asks the process to finish what is pending and exit; SIGTERM ends it
at once (every file it writes is written whole, so that loses nothing but the
bucket in hand, whose marker the campaign then removes).  An error writing the output ends it with one line,
``unmapfuzz: PATH: cannot write: REASON``, and exit status 2, as a worker
(:mod:`.workers`).  The campaign's main process is otherwise idle, so this
costs the workers nothing but a share of one core.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from unmapfuzz.atomic import atomic_write
from unmapfuzz.impls import resolve_impls
from unmapfuzz.programs import load
from unmapfuzz.triage.explain import explain, replay_options, reproducer_text
from unmapfuzz.triage.minimize import minimize
from unmapfuzz.verdict.check import DEFAULT_BASELINE
from unmapfuzz.verdict.isolate import check_isolated
from unmapfuzz.verdict.signature import Signature

from .store import UNEXPLAINED, read_buckets

MARKER = "minimizing."
DIED = "minimize-died"
"""A bucket whose minimisation killed the minimiser: it is not tried again."""


class Minimizer:
    def __init__(self, out: Path, impl_specs: list[str], profile: str, log, baseline: str = DEFAULT_BASELINE):
        self.out = Path(out)
        self.profile = profile
        self.log = log
        self.specs: dict[str, str] = {}
        self.impls = resolve_impls(impl_specs, origins=self.specs)
        self.baseline = baseline
        self.failed: set[str] = set()

    def step(self) -> bool:
        """Minimise one pending bucket; False when none is pending."""
        for bucket in read_buckets(self.out):
            if bucket["signature"] in self.failed or not _pending(bucket):
                continue
            signature = Signature.parse(bucket["signature"])
            unexplained = not bucket["explained_by_baseline"]
            baseline = bucket.get("baseline") or self.baseline
            marker = Path(bucket["program"]).with_name(f"{MARKER}{os.getpid()}")
            marker.touch()
            try:
                program = load(bucket["program"])
                small = minimize(program, signature, self.impls, self.profile, baseline=baseline,
                                 unexplained=unexplained)
                minimized = Path(bucket["program"]).with_name("minimized.ops")
                verdict = check_isolated(small, self.impls, self.profile, baseline=baseline)
                text = reproducer_text(small, signature, explain(verdict, signature), verdict=verdict,
                                       file=str(minimized), options=replay_options(self.specs, baseline))
            except Exception as exc:  # a harness error: loud in the log, the bucket keeps its first program
                self.failed.add(bucket["signature"])
                self.log.error("minimize_failed", signature=bucket["signature"], error=repr(exc))
                continue
            finally:
                marker.unlink(missing_ok=True)
            atomic_write(minimized, text)
            self.log.info("minimized", signature=bucket["signature"], ops_before=len(program.ops),
                          ops_after=len(small.ops), new=unexplained)
            return True
        return False


def _pending(bucket: dict) -> bool:
    """Whether a bucket needs its reproducer (again): none yet, or one made from an explained
    program before an unexplained one came.  Never a worker's death (:mod:`.deaths`) nor a
    bucket whose minimisation killed a minimiser: their programs kill what runs them."""
    if bucket.get("died"):
        return False
    folder = Path(bucket["program"]).parent
    if (folder / DIED).exists():
        return False
    if not bucket["minimized"]:
        return True
    source = Path(bucket["program"])
    return source.name == UNEXPLAINED and source.stat().st_mtime > Path(bucket["minimized"]).stat().st_mtime


def mark_died(out: Path, pid: int) -> list[str]:
    """The minimiser ``pid`` died: the buckets it had in hand are not tried again.  Their names."""
    marked = []
    for marker in (Path(out) / "findings").glob(f"*/{MARKER}{pid}"):
        os.replace(marker, marker.with_name(DIED))
        marked.append(marker.parent.name)
    return marked


def clear_markers(out: Path) -> None:
    """Remove the markers of minimisers a killed campaign left (they died with it, not of a bucket)."""
    for marker in (Path(out) / "findings").glob(f"*/{MARKER}*"):
        marker.unlink(missing_ok=True)


# -- the process ----------------------------------------------------------------------------

_finish = False


def _on_finish(*_args) -> None:
    global _finish
    _finish = True


def main() -> int:
    from .harness import CONFIG_ENV
    from .log import make_logger
    from .outdir import OutputError
    from .worker_process import ENVIRONMENT_EXIT

    cfg = json.loads(os.environ[CONFIG_ENV])
    out = Path(cfg["out"])
    signal.signal(signal.SIGUSR1, _on_finish)
    try:
        minimizer = Minimizer(out, cfg.get("impls", []), cfg["profile"], make_logger(out, role="minimizer"),
                              baseline=cfg.get("baseline") or DEFAULT_BASELINE)
        while True:
            if minimizer.step():
                continue
            if _finish:
                break
            for _ in range(10):         # idle: look again in a second
                if _finish:
                    break
                time.sleep(0.1)
    except OSError as exc:
        print(f"unmapfuzz: {OutputError.from_os_error(exc, out)}", file=sys.stderr, flush=True)
        return ENVIRONMENT_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
