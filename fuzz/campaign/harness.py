"""One program in, findings out: what every engine calls for each input.

The harness decodes nothing and generates nothing; it takes a program, calls
:func:`unmapfuzz.verdict.check.check`, records each signature of the verdict in the
campaign's :class:`FindingStore` (with whether the baseline explains it), and
counts executions in a small stats file the campaign reads for its progress
line.  A finding never stops the engine.

Campaigns run the same program many times (libFuzzer's mutations and
Hypothesis's draws land on programs already run), and a verdict is a pure
function of the program: the harness keeps the judgements of the last
:data:`MEMO_SIZE` programs and counts a repeat without checking it again.
A new program mostly begins like one checked shortly before (a mutation
changed its tail): ``check`` resumes from that one's state after the shared
operations (:class:`~unmapfuzz.verdict.check.Prefixes`) and runs only the rest.
Under atheris a repeat then runs no implementation code, which loses nothing:
the same program's coverage was seen the first time.  The program's text and
the verdict's JSON are made only when a new bucket needs them.

The stats file also splits the harness's work by platform and mode
(``geometries``: programs, repeats and seconds spent judging them), so that a
campaign over every geometry shows where its time went: one slow geometry
starves the others, and its own rate is what to look at.
"""
from __future__ import annotations

import gc
import json
import os
import time
from collections import OrderedDict
from pathlib import Path

from unmapfuzz.atomic import atomic_write
from unmapfuzz.impls import resolve_impls
from unmapfuzz.programs import Program
from unmapfuzz.programs import format as format_program
from unmapfuzz.verdict.check import DEFAULT_BASELINE, Prefixes, check
from unmapfuzz.verdict.signature import Signature, judged

from .log import make_logger
from .store import FindingStore

CONFIG_ENV = "UNMAPFUZZ_CONFIG"
MEMO_SIZE = 20_000

Judged = tuple[tuple[Signature, bool], ...] | None
"""A program's signatures with whether the baseline explains each; None for an invalid program."""


FULL_COLLECTION_EVERY = 100
"""A campaign worker's full garbage collections: one per this many of the second
generation's (Python's default is 10)."""


def collect_garbage_rarely() -> None:
    """Make the collector's full passes rarer in a campaign worker.

    A worker's heap is mostly long-lived (the memo, the pooled machines and kept
    runners), and it grows while the memo fills, so with Python's defaults a full
    collection walks all of it every few thousand programs: 18 of them took 2.0 of
    the 26 s a recorded 30 s campaign's inputs take to replay.  The young
    generations are collected as often as before, so the cycles a check leaves
    behind (a table and its pages refer to each other) are still freed at once.
    """
    gen0, gen1, _ = gc.get_threshold()
    gc.set_threshold(gen0, gen1, FULL_COLLECTION_EVERY)


def worker_harness(cfg: dict, engine: str, prepare=None) -> "Harness":
    """The harness of one campaign worker, from its configuration (``UNMAPFUZZ_CONFIG``):
    the implementations (``prepare(impls)`` may instrument them first), their specs and
    the baseline, recorded in every bucket the worker creates.  Full garbage
    collections are made rarer in the worker (:func:`collect_garbage_rarely`)."""
    collect_garbage_rarely()
    origins: dict[str, str] = {}
    impls = resolve_impls(cfg.get("impls", []), origins=origins)
    if prepare is not None:
        prepare(impls)
    harness = Harness(Path(cfg["out"]), impls, cfg["profile"], engine,
                      baseline=cfg.get("baseline") or DEFAULT_BASELINE, specs=origins)
    if cfg.get("current"):
        from .current import CurrentInput
        harness.current = CurrentInput(Path(cfg["current"]))
    return harness


def _memo_key(program: Program) -> tuple:
    """``program`` as one plain tuple (its operations as plain tuples too), which the
    memo keeps instead of the program: the garbage collector stops walking a tuple of
    plain values once it has seen it, and a memo holds tens of thousands."""
    return (program.platform, program.mode, program.profile, program.expects, *map(tuple, program.ops))


class Harness:
    def __init__(self, out: Path, impls: dict, profile: str, engine: str, log=None, stats_every: float = 2.0,
                 *, baseline: str = DEFAULT_BASELINE, specs: dict[str, str] | None = None,
                 memo_size: int = MEMO_SIZE):
        """``specs``: how each implementation was given (``--impl`` specs; built-ins by
        name), recorded in every new bucket so that its reproducer can name them."""
        self.out = Path(out)
        self.impls = impls
        self.impls_for: dict[tuple[str, str], dict] = {}   # (platform, mode) -> its impls (see impls_of)
        self.geometry_impls = None   # (platform, mode) -> impls of that geometry's own; None: self.impls
        self.profile = profile
        self.engine = engine
        self.baseline = baseline
        self.log = log if log is not None else make_logger(self.out, role=engine)
        self.store = FindingStore(self.out, self.log, meta={
            "impls": specs if specs is not None else {name: name for name in impls},
            "baseline": baseline, "profile": profile})
        self.memo: OrderedDict[tuple, Judged] = OrderedDict()     # _memo_key(program) -> judgement
        self.judgements: dict[Judged, Judged] = {}     # one object per distinct judgement
        self.prefixes = Prefixes()
        self.memo_size = memo_size
        self.execs = 0
        self.invalid = 0
        self.findings = 0
        self.repeats = 0
        self.geometries: dict[tuple[str, str], list] = {}   # (platform, mode) -> [programs, repeats, seconds]
        self.started = time.time()
        self.stats_every = stats_every
        self.next_stats = self.started + stats_every
        self.stats_dir = self.out / "stats"
        self.stats_dir.mkdir(parents=True, exist_ok=True)
        self.stats_path = self.stats_dir / f"{engine}.{os.getpid()}.json"
        self.extra: dict = {}
        self.current = None     # a worker's CurrentInput: what it runs, for the campaign if it dies

    def judge(self, program: Program) -> tuple[Judged, object]:
        """``program``'s judgement, from the memo when it ran before; and its verdict when it
        was checked now (None on a repeat)."""
        memo = self.memo
        key = _memo_key(program)
        found = memo.get(key, memo)
        if found is not memo:
            memo.move_to_end(key)
            self.repeats += 1
            return found, None
        verdict = check(program, self.impls_of(program.platform, program.mode), self.profile,
                        baseline=self.baseline, finals=False, prefixes=self.prefixes)
        found = None if verdict.invalid else tuple(judged(verdict).items())
        # Programs share a few judgements: keep one object of each, so that the memo is
        # mostly references (less for the garbage collector to walk).
        shared = self.judgements
        if len(shared) >= self.memo_size:
            shared.clear()
        found = shared.setdefault(found, found)
        memo[key] = found
        if len(memo) > self.memo_size:
            memo.popitem(last=False)
        return found, verdict

    def impls_of(self, platform: str, mode: str) -> dict:
        """The implementations that judge programs of ``platform``/``mode``: :attr:`impls`, or
        what :attr:`geometry_impls` makes for it, made the first time it is asked and kept (the
        atheris target asks for every geometry before libFuzzer starts: see
        :func:`~unmapfuzz.campaign.atheris_target.coverage_per_geometry`)."""
        impls = self.impls_for.get((platform, mode))
        if impls is None:
            impls = self.impls if self.geometry_impls is None else self.geometry_impls(platform, mode)
            self.impls_for[(platform, mode)] = impls
        return impls

    def run(self, program: Program, *, keep_text: bool = True) -> Judged:
        """Check ``program`` (or count a repeat) and record what it shows; its judgement.

        A worker's :attr:`current` input is the program's text while it runs, unless the
        caller keeps the input itself (``keep_text=False``: the atheris target keeps its bytes)."""
        began = time.perf_counter()
        current = self.current
        if current is not None and keep_text:
            current.set(format_program(program).encode(), b"T")
        found, verdict = self.judge(program)
        if current is not None and keep_text:
            current.clear()
        self.execs += 1
        if found is None:
            self.invalid += 1
        elif found:
            self.findings += 1

            def text() -> str:
                return format_program(program, header=(f"found by the {self.engine} engine",))

            def verdict_json() -> dict:   # on a repeat, every bucket it needs is there: almost never called
                return (verdict or check(program, self.impls_of(program.platform, program.mode), self.profile,
                                         baseline=self.baseline)).to_json()

            for sig, explained in found:
                self.store.record(sig, text, verdict_json, explained)
        where = self.geometries.get((program.platform, program.mode))
        if where is None:
            where = self.geometries[(program.platform, program.mode)] = [0, 0, 0.0]
        where[0] += 1
        if verdict is None:          # a repeat (see judge)
            where[1] += 1
        where[2] += time.perf_counter() - began
        if self.execs & 63 == 0 and time.time() >= self.next_stats:
            self.write_stats()
        return found

    def write_stats(self) -> None:
        now = time.time()
        self.next_stats = now + self.stats_every
        atomic_write(self.stats_path, json.dumps(dict(
            engine=self.engine, pid=os.getpid(), execs=self.execs, invalid=self.invalid,
            findings=self.findings, repeats=self.repeats, started=self.started, time=now,
            geometries={f"{platform}/{mode}": {"programs": n, "repeats": r, "seconds": round(t, 6)}
                        for (platform, mode), (n, r, t) in self.geometries.items()},
            **self.extra)))

    def close(self) -> None:
        self.store.flush_all()
        self.write_stats()
