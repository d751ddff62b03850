"""Minimising new buckets while a campaign runs.

A thread in the campaign process watches ``findings/`` and, for each bucket
without ``minimized.ops``, minimises its program to the same signature and
writes the reproducer next to it.  A bucket that is news (a program the
baseline does not explain, ``unexplained.ops``) is minimised keeping it news,
and again if it became news after its first reproducer was made.  The
reproducer's ``# replay:`` line names the campaign's ``--impl`` specs and
baseline (from the bucket's ``meta.json``), so it shows the finding again as
written.  The campaign process is otherwise idle
(the fuzzing happens in worker processes), so this costs the workers nothing
but a share of one core.
"""
from __future__ import annotations

import threading
from pathlib import Path

from unmapfuzz.atomic import atomic_write
from unmapfuzz.impls import resolve_impls
from unmapfuzz.programs import load
from unmapfuzz.triage.explain import explain, reproducer_text
from unmapfuzz.triage.minimize import minimize
from unmapfuzz.triage.explain import replay_options
from unmapfuzz.verdict.check import DEFAULT_BASELINE, check
from unmapfuzz.verdict.signature import Signature

from .store import UNEXPLAINED, read_buckets


class Minimizer(threading.Thread):
    def __init__(self, out: Path, impl_specs: list[str], profile: str, log, baseline: str = DEFAULT_BASELINE):
        super().__init__(name="minimizer", daemon=True)
        self.out = Path(out)
        self.profile = profile
        self.log = log
        self.specs: dict[str, str] = {}
        self.impls = resolve_impls(impl_specs, origins=self.specs)
        self.baseline = baseline
        self.done = threading.Event()
        self.failed: set[str] = set()

    def run(self) -> None:
        while not self.done.is_set():
            if not self.step():
                self.done.wait(1.0)
        self.step()   # whatever appeared at the very end

    def step(self) -> bool:
        """Minimise one pending bucket; False when none is pending."""
        for bucket in read_buckets(self.out):
            if bucket["signature"] in self.failed or not _pending(bucket):
                continue
            signature = Signature.parse(bucket["signature"])
            unexplained = not bucket["explained_by_baseline"]
            baseline = bucket.get("baseline") or self.baseline
            try:
                program = load(bucket["program"])
                small = minimize(program, signature, self.impls, self.profile, baseline=baseline,
                                 unexplained=unexplained)
                minimized = Path(bucket["program"]).with_name("minimized.ops")
                verdict = check(small, self.impls, self.profile, baseline=baseline)
                text = reproducer_text(small, signature, explain(verdict, signature), verdict=verdict,
                                       file=str(minimized), options=replay_options(self.specs, baseline))
            except Exception as exc:  # a harness error: loud in the log, the bucket keeps its first program
                self.failed.add(bucket["signature"])
                self.log.error("minimize_failed", signature=bucket["signature"], error=repr(exc))
                continue
            atomic_write(minimized, text)
            self.log.info("minimized", signature=bucket["signature"], ops_before=len(program.ops),
                          ops_after=len(small.ops), new=unexplained)
            return True
        return False

    def finish(self, timeout: float) -> None:
        self.done.set()
        self.join(timeout)


def _pending(bucket: dict) -> bool:
    """Whether a bucket needs its reproducer (again): none yet, or one made from an explained
    program before an unexplained one came."""
    if not bucket["minimized"]:
        return True
    source = Path(bucket["program"])
    return source.name == UNEXPLAINED and source.stat().st_mtime > Path(bucket["minimized"]).stat().st_mtime
