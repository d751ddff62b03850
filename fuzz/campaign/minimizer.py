"""Minimising new buckets while a campaign runs.

A thread in the campaign process watches ``findings/`` and, for each bucket
without ``minimized.ops``, minimises its first program to the same signature
and writes the reproducer next to it.  The campaign process is otherwise idle
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
from unmapfuzz.verdict.check import check
from unmapfuzz.verdict.signature import Signature

from .store import read_buckets


class Minimizer(threading.Thread):
    def __init__(self, out: Path, impl_specs: list[str], profile: str, log):
        super().__init__(name="minimizer", daemon=True)
        self.out = Path(out)
        self.profile = profile
        self.log = log
        self.impls = resolve_impls(impl_specs)
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
            if bucket["minimized"] or bucket["signature"] in self.failed:
                continue
            signature = Signature.parse(bucket["signature"])
            try:
                program = load(bucket["program"])
                small = minimize(program, signature, self.impls, self.profile)
                minimized = Path(bucket["program"]).with_name("minimized.ops")
                text = reproducer_text(small, signature, explain(check(small, self.impls, self.profile), signature),
                                       file=str(minimized))
            except Exception as exc:  # a harness error: loud in the log, the bucket keeps its first program
                self.failed.add(bucket["signature"])
                self.log.error("minimize_failed", signature=bucket["signature"], error=repr(exc))
                continue
            atomic_write(minimized, text)
            self.log.info("minimized", signature=bucket["signature"], ops_before=len(program.ops),
                          ops_after=len(small.ops))
            return True
        return False

    def finish(self, timeout: float) -> None:
        self.done.set()
        self.join(timeout)
