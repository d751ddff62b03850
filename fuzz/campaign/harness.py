"""One program in, findings out: what every engine calls for each input.

The harness decodes nothing and generates nothing; it takes a program, calls
:func:`unmapfuzz.verdict.check.check`, records each signature of the verdict in the
campaign's :class:`FindingStore`, and counts executions in a small stats file
the campaign reads for its progress line.  A finding never stops the engine.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from unmapfuzz.atomic import atomic_write
from unmapfuzz.programs import format as format_program
from unmapfuzz.verdict.check import check
from unmapfuzz.verdict.signature import signatures

from .log import make_logger
from .store import FindingStore

CONFIG_ENV = "UNMAPFUZZ_CONFIG"


class Harness:
    def __init__(self, out: Path, impls: dict, profile: str, engine: str, log=None,
                 stats_every: float = 2.0):
        self.out = Path(out)
        self.impls = impls
        self.profile = profile
        self.engine = engine
        self.log = log if log is not None else make_logger(self.out, role=engine)
        self.store = FindingStore(self.out, self.log)
        self.execs = 0
        self.invalid = 0
        self.findings = 0
        self.started = time.time()
        self.stats_every = stats_every
        self.next_stats = self.started + stats_every
        self.stats_dir = self.out / "stats"
        self.stats_dir.mkdir(parents=True, exist_ok=True)
        self.stats_path = self.stats_dir / f"{engine}.{os.getpid()}.json"
        self.extra: dict = {}

    def run(self, program):
        verdict = check(program, self.impls, self.profile)
        self.execs += 1
        if verdict.invalid:
            self.invalid += 1
        else:
            found = signatures(verdict)
            if found:
                self.findings += 1
                text = None
                for sig in found:
                    if text is None:
                        text = format_program(program, header=(f"found by the {self.engine} engine",))
                    self.store.record(sig, text, verdict.to_json())
        if self.execs & 63 == 0 and time.time() >= self.next_stats:
            self.write_stats()
        return verdict

    def write_stats(self) -> None:
        now = time.time()
        self.next_stats = now + self.stats_every
        atomic_write(self.stats_path, json.dumps(dict(
            engine=self.engine, pid=os.getpid(), execs=self.execs, invalid=self.invalid,
            findings=self.findings, started=self.started, time=now, **self.extra)))

    def close(self) -> None:
        self.store.flush_all()
        self.write_stats()
