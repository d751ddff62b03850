"""Measurements behind ``unmapfuzz bench``: how fast each engine runs, and how soon it finds what we know.

Six measurements, each repeated over several seeds and reported as the
median (the machines this runs on are shared and noisy; a median over seeds
and ratios between engines measured side by side are what to quote):

1. :func:`measure_check_rate`: :func:`~unmapfuzz.verdict.check.check` on the typical mix,
   programs drawn with :class:`~unmapfuzz.generation.sources.RandomSource`, timed in-process,
   with the mix itself described (ops per program, unmap sizes) and the time
   split between the implementations;
2. :func:`measure_atheris_rate`: :mod:`unmapfuzz.campaign.atheris_target` under libFuzzer in
   a subprocess, instrumented as in a campaign, one job, empty corpus;
3. :func:`measure_hypothesis_rate`: the :func:`~unmapfuzz.generation.strategies.programs`
   strategy plus ``check`` under ``@given``, in-process;
4. :func:`time_to_first`: a single-job campaign from an empty corpus, stopped
   as soon as it has a bucket for every target, where the targets are the
   signatures :func:`corpus_targets` derives from the packaged ``corpus/behaviour/*.ops``;
5. :func:`measure_campaign`: a real ``unmapfuzz fuzz`` atheris campaign (seeded
   from ``corpus/``, as every campaign is): the executions per second its
   ``summary.json`` reports, and ``check`` timed in-process on the campaign's
   own inputs (:func:`campaign_programs`: what libFuzzer kept in its corpus),
   whose mix differs from fresh draws: libFuzzer drifts toward longer
   programs and bigger ranges;
6. :func:`measure_teardown`: ``check`` on a VM's teardown, :func:`teardown_program`
   (1,000 mappings spread over the whole space, then one ``unmap`` of all of
   it), with the model's fast paths on and off.

:func:`run_bench` runs them all and returns one JSON-able dict;
:func:`unmapfuzz.bench.render.render` turns it into the table ``unmapfuzz bench`` prints,
and :mod:`unmapfuzz.bench.compare` sets two such dicts side by side.
"""
from __future__ import annotations

import json
import math
import os
import platform as _platform
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from unmapfuzz.campaign.campaign import Campaign, CampaignConfig, atheris_command, packaged_corpus
from unmapfuzz.campaign.harness import CONFIG_ENV
from unmapfuzz.campaign.libfuzzer import parse_libfuzzer
from unmapfuzz.campaign.store import read_buckets
from unmapfuzz.generation.generator import draw_program
from unmapfuzz.generation.seeds import program_from_input
from unmapfuzz.generation.sources import RandomSource
from unmapfuzz.impls.model.platforms import DEFAULT_PLATFORM, PLATFORMS
from unmapfuzz.programs import GUEST_PA_LIMIT, Map, Program, ProgramError, Unmap, geometries, load
from unmapfuzz.reference.profiles import validate
from unmapfuzz.verdict.check import check
from unmapfuzz.verdict.signature import signatures

BEHAVIOUR_DIR = packaged_corpus() / "behaviour"
ENGINES = ("atheris", "hypothesis", "random")
SIZE_CLASSES = ("page", "pmd", "bigger", "whole")


# -- small pure helpers ---------------------------------------------------------------

def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are not None (``inf`` counts as a value), or None if there are none.

    ``inf`` stands for "not found within the limit": with half or more of the
    values infinite the median is infinite, which is the honest answer.
    """
    vals = sorted(float(v) for v in values if v is not None)
    if not vals:
        return None
    n = len(vals)
    if n % 2:
        return vals[n // 2]
    lo, hi = vals[n // 2 - 1], vals[n // 2]
    return math.inf if math.isinf(hi) else (lo + hi) / 2


def _status_count(line: str) -> int | None:
    """The ``N`` of a libFuzzer status line ``#N  KIND  cov: ...``, else None."""
    if not line.startswith("#"):
        return None
    head = line[1:].replace("\t", " ").split(" ", 1)[0]
    if not head.isdigit() or "exec/s:" not in line:
        return None
    return int(head)


def steady_rate(stamped: list[tuple[float, str]]) -> float | None:
    """Executions per second between libFuzzer's first and last status lines, from their arrival times.

    Leaves out the interpreter's start-up and the instrumented import, which
    libFuzzer's own ``average_exec_per_sec`` includes (and rounds to whole seconds).
    """
    points = [(t, n) for t, line in stamped if (n := _status_count(line)) is not None]
    if len(points) < 2:
        return None
    (t0, n0), (t1, n1) = points[0], points[-1]
    if t1 - t0 < 0.5 or n1 <= n0:
        return None
    return (n1 - n0) / (t1 - t0)


# -- targets: what corpus/behaviour says a fuzzer should find ---------------------------

def corpus_targets(directory: Path = BEHAVIOUR_DIR) -> list[dict]:
    """The signatures recorded by ``directory/*.ops``, one dict each, sorted by group then signature.

    For every ``expect IMPL KIND...`` line with kinds, the signature is
    ``IMPL/KIND/PLATFORM/MODE/LEVEL``, the level taken from running
    :func:`check` on the file (under its own profile) and reading
    :func:`signatures`.  A kind the run does not show at the first bad
    operation falls back to the level of its violation; an expectation the
    run does not show at all is skipped (``replay`` is the tool that complains).
    Each dict: ``signature``, ``platform``, ``mode``, ``profile``, ``files``.
    """
    found: dict[tuple, dict] = {}
    for path in sorted(Path(directory).glob("*.ops")):
        try:
            program = load(path)
        except ProgramError:
            continue
        profile = program.profile or "realistic"
        verdict = check(program, profile=profile)
        sigs = signatures(verdict)
        for expect in program.expects:
            for kind in expect.kinds:
                levels = sorted({s.level for s in sigs if s.impl == expect.impl and s.kind == kind})
                if not levels and expect.impl in verdict.results:
                    levels = sorted({v.level for v in verdict.results[expect.impl].violations
                                     if v.kind == kind})
                for level in levels:
                    sig = f"{expect.impl}/{kind}/{program.platform}/{program.mode}/{level}"
                    key = (program.platform, program.mode, profile, sig)
                    entry = found.setdefault(key, {"signature": sig, "platform": program.platform,
                                                   "mode": program.mode, "profile": profile, "files": []})
                    if path.name not in entry["files"]:
                        entry["files"].append(path.name)
    return [found[k] for k in sorted(found)]


def group_targets(targets: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    """Targets by (platform, mode, profile), in a stable order."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for t in targets:
        groups.setdefault((t["platform"], t["mode"], t["profile"]), []).append(t)
    return dict(sorted(groups.items()))


# -- 1. check() on the typical mix ----------------------------------------------------------

def size_class(program: Program, ipa: int, size: int) -> str:
    """``page`` (at most a page), ``pmd`` (at most a pmd block), ``whole`` ([0, space)) or ``bigger``."""
    p = PLATFORMS[program.platform]
    if ipa == 0 and size >= p.space(program.mode):
        return "whole"
    if size <= p.page_size:
        return "page"
    if size <= 1 << p.pmd_shift:
        return "pmd"
    return "bigger"


def program_mix(program: Program) -> Counter:
    """Counts of ops, maps, unmaps and unmaps by :func:`size_class`, for one program."""
    c = Counter(programs=1, ops=len(program.ops))
    for op in program.ops:
        if isinstance(op, Map):
            c["maps"] += 1
        else:
            c["unmaps"] += 1
            c["unmap_" + size_class(program, op.ipa, op.size)] += 1
    return c


def measure_check_rate(platform: str, mode: str, profile: str, programs: int, seed: int,
                       max_ops: int = 12, breakdown: bool = True) -> dict:
    """Draw ``programs`` programs with RandomSource(seed), then time ``check`` on each, in-process.

    Returns the counts (``mix``: see :func:`program_mix`), the seconds spent
    drawing and checking, the derived rates, how many were invalid or showed a
    signature, and (``breakdown``) a second, separately timed pass splitting
    the time between the implementations, the model, the oracle and the rest.
    """
    src = RandomSource(random.Random(seed))
    t0 = time.perf_counter()
    drawn = [draw_program(src, platform, mode, profile, max_ops) for _ in range(programs)]
    draw_seconds = time.perf_counter() - t0
    timed = time_checks(drawn, profile)
    check_seconds = timed["check_seconds"]
    result = {
        "platform": platform, "mode": mode, "profile": profile, "seed": seed, "programs": programs,
        "draw_seconds": draw_seconds, "check_seconds": check_seconds,
        "checks_per_second": timed["checks_per_second"],
        "draws_per_second": programs / draw_seconds if draw_seconds > 0 else None,
        "random_per_second": programs / (draw_seconds + check_seconds) if draw_seconds + check_seconds > 0 else None,
        "invalid": timed["invalid"], "with_findings": timed["with_findings"], "mix": timed["mix"],
    }
    if breakdown:
        result["impl_seconds"] = check_breakdown(drawn, profile)
    return result


def time_checks(programs: list[Program], profile: str) -> dict:
    """Time :func:`check` on each program in turn, in-process, then describe them (after the clock stopped).

    Returns ``programs``, ``check_seconds``, ``checks_per_second``, how many
    were ``invalid`` or showed a signature (``with_findings``), and their ``mix``
    (see :func:`program_mix`).
    """
    t0 = time.perf_counter()
    verdicts = [check(program, profile=profile) for program in programs]
    check_seconds = time.perf_counter() - t0
    mix = Counter()
    invalid = with_findings = 0
    for program, verdict in zip(programs, verdicts):
        mix += program_mix(program)
        if verdict.invalid:
            invalid += 1
        elif signatures(verdict):
            with_findings += 1
    return {"programs": len(programs), "check_seconds": check_seconds,
            "checks_per_second": len(programs) / check_seconds if check_seconds > 0 else None,
            "invalid": invalid, "with_findings": with_findings, "mix": dict(mix)}


PARTS = ("old", "v2", "v3", "v3-pgdnone", "model", "oracle", "rest")


def check_breakdown(programs: list[Program], profile: str) -> dict[str, float]:
    """Seconds of :func:`check` spent in each part, from a profile of a second, separate pass.

    The parts: each built-in implementation's module, the model it runs on
    (``unmapfuzz.impls.model``), the oracle and the generic walker
    (``unmapfuzz.reference``) and the rest (checking, comparing, judging).
    Each function's own time goes to the module it is written in.  The
    profiler slows everything down about evenly, so the shares, not the
    seconds, are the figure to read.
    """
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for program in programs:
        check(program, profile=profile)
    profiler.disable()
    seconds = dict.fromkeys(PARTS, 0.0)
    for (filename, _line, _name), row in pstats.Stats(profiler).stats.items():
        seconds[_part_of(filename)] += row[2]          # tottime
    return seconds


def _part_of(filename: str) -> str:
    path = filename.replace(os.sep, "/")
    if "/impls/model/" in path or "/unmapfuzz/impls/model/" in path:
        return "model"
    for module, name in (("old.py", "old"), ("v2.py", "v2"), ("v3.py", "v3"), ("v3_pgdnone.py", "v3-pgdnone")):
        if path.endswith(("/impls/" + module, "/unmapfuzz/impls/" + module)):
            return name
    if "/reference/" in path:
        return "oracle"
    return "rest"


# -- 2. atheris -----------------------------------------------------------------------------

def measure_atheris_rate(platform: str, mode: str, profile: str, seconds: float | None = None,
                         runs: int | None = None, seed: int = 1, timeout: float | None = None) -> dict:
    """Run the atheris target for ``seconds`` (or ``runs`` executions) from an empty corpus; its numbers.

    One job, the configuration in ``UNMAPFUZZ_CONFIG`` pointing at a temporary
    directory, the flags a campaign worker gets.  Returns :func:`parse_libfuzzer`'s
    keys plus ``steady_exec_per_sec`` (see :func:`steady_rate`), ``wall_seconds``
    and ``returncode``; ``error`` when libFuzzer printed no executions.
    """
    if seconds is None and runs is None:
        raise ValueError("measure_atheris_rate: give seconds or runs")
    with tempfile.TemporaryDirectory(prefix="unmapfuzz-bench-") as tmp:
        out = Path(tmp)
        corpus = out / "corpus"
        corpus.mkdir()
        env = dict(os.environ)
        env[CONFIG_ENV] = json.dumps({"out": str(out), "platform": platform, "mode": mode, "profile": profile})
        cmd = atheris_command(corpus, out / "artifacts", seed=seed,
                              seconds=None if seconds is None else round(seconds), runs=runs)
        limit = timeout if timeout is not None else (seconds or 0) + 120
        stamped: list[tuple[float, str]] = []
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, cwd=out, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
        killer = threading.Timer(limit, proc.kill)
        killer.start()
        try:
            for line in proc.stdout:
                stamped.append((time.monotonic(), line.rstrip("\n")))
            returncode = proc.wait()
        finally:
            killer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        wall = time.monotonic() - t0
    text = "\n".join(line for _, line in stamped)
    result = parse_libfuzzer(text)
    result.update(seed=seed, wall_seconds=wall, returncode=returncode, steady_exec_per_sec=steady_rate(stamped))
    if not result["executions"]:
        result["error"] = f"libFuzzer exited {returncode} without executions; last output: " + \
            " | ".join(line for _, line in stamped[-5:])
    return result


# -- 3. hypothesis --------------------------------------------------------------------------

def measure_hypothesis_rate(platform: str, mode: str, profile: str, examples: int, seed: int,
                            max_ops: int = 12) -> dict:
    """Time ``examples`` examples of :func:`~unmapfuzz.generation.strategies.programs` plus ``check``,
    generation phase only."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from unmapfuzz.generation.strategies import programs as programs_strategy

    strategy = programs_strategy(None if platform == "all" else platform, None if mode == "all" else mode,
                                 profile, max_ops)
    count = invalid = with_findings = 0
    check_seconds = 0.0
    verdicts = []

    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(program):
        nonlocal count, check_seconds
        t = time.perf_counter()
        verdict = check(program, profile=profile)
        check_seconds += time.perf_counter() - t
        verdicts.append(verdict)
        count += 1

    t0 = time.perf_counter()
    hypothesis_seed(seed)(one)()
    elapsed = time.perf_counter() - t0
    mix = Counter()
    for verdict in verdicts:      # described after the clock stopped
        mix += program_mix(verdict.program)
        if verdict.invalid:
            invalid += 1
        elif signatures(verdict):
            with_findings += 1
    return {"seed": seed, "examples": count, "seconds": elapsed, "check_seconds": check_seconds,
            "examples_per_second": count / elapsed if elapsed > 0 else None,
            "check_share": check_seconds / elapsed if elapsed > 0 else None,
            "mix": dict(mix), "invalid": invalid, "with_findings": with_findings}


# -- 4. time to first finding -----------------------------------------------------------------

def time_to_first(engine: str, platform: str, mode: str, profile: str, targets: list[str], seconds: float,
                  seed: int, out: Path | None = None, poll: float = 0.2) -> dict:
    """A single-job campaign from an empty corpus, stopped early once every target has a bucket.

    Returns ``first`` (signature -> seconds from the campaign's start to its
    bucket's ``first_seen``, for every bucket found, targets or not),
    ``found``, ``elapsed``, ``executions`` and ``stopped_early``.
    """
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="unmapfuzz-bench-")
        out = Path(tmp.name)
    try:
        cfg = CampaignConfig(engine=engine, platform=platform, mode=mode, profile=profile, seconds=seconds,
                             jobs=1, seed=seed, out=Path(out).resolve(), minimize=False, quiet=True,
                             seed_corpus=None, progress_every=0.5)
        t_before = time.time()
        campaign = Campaign(cfg)
        started = getattr(campaign, "started", t_before)
        wanted = set(targets)
        done = threading.Event()
        early = []

        def watch() -> None:
            while not done.wait(poll):
                try:
                    seen = {b["signature"] for b in read_buckets(cfg.out)}
                except (OSError, ValueError, KeyError):
                    continue
                if wanted <= seen:
                    early.append(time.time())
                    campaign.stop()
                    return

        watcher = threading.Thread(target=watch, name="bench-ttff-watch", daemon=True)
        interrupted = []

        def on_sigint(*_args):
            interrupted.append(True)
            raise KeyboardInterrupt

        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
        watcher.start()
        try:
            summary = campaign.run()
        finally:
            done.set()
            watcher.join()
            if in_main:
                signal.signal(signal.SIGINT, previous)
        if interrupted:
            raise KeyboardInterrupt
        first = {}
        for b in summary["buckets"]:
            if b.get("first_seen") is not None:
                first[b["signature"]] = max(0.0, b["first_seen"] - started)
        return {"engine": engine, "seed": seed, "first": first,
                "found": sorted(wanted & set(first)), "elapsed": summary.get("elapsed_seconds"),
                "executions": summary.get("executions"), "stopped_early": bool(early)}
    finally:
        if tmp is not None:
            tmp.cleanup()


# -- 5. real campaigns, and check() on their own inputs ------------------------------------------

CAMPAIGN_MAX_OPS = 12
"""How many operations the atheris target decodes at most (its ``max_ops``; a campaign never
changes it, so ``summary.json`` does not record it): what a campaign's inputs stand for."""

CAMPAIGN_GRACE_SECONDS = 180.0
"""How long past ``--time`` a campaign may take to start, stop and write its summary before it is killed."""


def campaign_args(platform: str, mode: str, profile: str, seconds: float, seed: int,
                  jobs: int | None = None) -> list[str]:
    """The ``unmapfuzz fuzz`` arguments of a benchmark campaign (``jobs=None``: the default, one per core).

    A real campaign, seeded from ``corpus/`` like any other, but without
    minimising: the minimiser runs beside the workers and the campaign waits
    for it at the end, which would count in its elapsed time and so in its
    executions per second.
    """
    args = ["fuzz", "--engine", "atheris", "--platform", platform, "--mode", mode, "--profile", profile,
            "--time", f"{seconds:g}"]
    if jobs is not None:
        args += ["--jobs", str(jobs)]
    return [*args, "--seed", str(seed), "--no-minimize", "--quiet"]


def measure_campaign(platform: str, mode: str, profile: str, seconds: float, seed: int, jobs: int | None = 1,
                     programs: int | None = None, python: str | None = None) -> dict:
    """Run one real atheris campaign (``python -m unmapfuzz fuzz``, see :func:`campaign_args`) in a
    temporary directory; what its ``summary.json`` reports, and ``check`` timed on its own inputs.

    Returns ``command`` (as a user would type it, ``--out`` left out), ``exit``,
    ``jobs``, ``exec_per_second`` (executions over the run's elapsed seconds,
    start-up included: the campaign's own figure), ``per_job``, ``executions``,
    ``elapsed_seconds``, ``invalid``, ``coverage``, ``buckets``, ``repeat_share``
    (see :func:`repeat_share`) and ``inputs``: :func:`time_checks` on at most
    ``programs`` of the programs :func:`campaign_programs` decodes from its
    corpus, with that corpus described.  ``error`` when the campaign did not run.
    """
    args = campaign_args(platform, mode, profile, seconds, seed, jobs)
    result = {"platform": platform, "mode": mode, "seed": seed, "seconds": seconds,
              "command": shlex.join(["unmapfuzz", *args])}
    with tempfile.TemporaryDirectory(prefix="unmapfuzz-bench-") as tmp:
        out = Path(tmp) / "campaign"
        t0 = time.monotonic()
        try:
            proc = subprocess.run([python or sys.executable, "-m", "unmapfuzz", *args, "--out", str(out)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, errors="replace", timeout=seconds + CAMPAIGN_GRACE_SECONDS)
            result["exit"], output = proc.returncode, proc.stdout
        except subprocess.TimeoutExpired as exc:
            result["exit"], output = None, exc.output or ""
            if isinstance(output, bytes):
                output = output.decode(errors="replace")
        result["wall_seconds"] = round(time.monotonic() - t0, 1)
        try:
            summary = json.loads((out / "summary.json").read_text())
        except (OSError, ValueError) as exc:
            tail = " | ".join(output.strip().splitlines()[-3:])
            result["error"] = f"no summary.json ({exc.__class__.__name__}); exit {result['exit']}: {tail}"
            return result
        jobs_run = summary.get("jobs") or jobs
        rate = summary.get("exec_per_second")
        result.update(jobs=jobs_run, exec_per_second=rate, per_job=rate / jobs_run if rate and jobs_run else None,
                      executions=summary.get("executions"), elapsed_seconds=summary.get("elapsed_seconds"),
                      invalid=summary.get("invalid"), coverage=summary.get("coverage"),
                      buckets=len(summary.get("buckets", [])), repeat_share=repeat_share(out))
        if not summary.get("executions"):
            result["error"] = f"the campaign ran no program; exit {result['exit']}"
            return result
        found, corpus = campaign_programs(out, summary, programs)
    timed = time_checks(found, summary["profile"]) if found else {}
    result["inputs"] = {**corpus, **timed}
    return result


def repeat_share(out: Path) -> float | None:
    """Of the executions a campaign's harnesses counted, the share that repeated a program the
    harness had just run (it counts those from its memo, without checking them again).

    From the workers' own stats files (``OUT/stats/atheris.PID.json``): they are
    written every few seconds, so the share lags the very end of the run.
    """
    execs = repeats = 0
    for path in Path(out, "stats").glob("atheris.*.json"):
        try:
            stats = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        execs += stats.get("execs", 0)
        repeats += stats.get("repeats", 0)
    return repeats / execs if execs else None


def campaign_programs(out: Path, summary: dict, limit: int | None = None) -> tuple[list[Program], dict]:
    """The programs a campaign's corpus stands for, and a description of that corpus.

    The corpus is every input libFuzzer kept in ``OUT/corpus/*/`` (the seeds
    from ``corpus/`` included), each decoded as the campaign's workers decoded
    it (:func:`~unmapfuzz.generation.seeds.program_from_input` under the
    configuration in ``summary``).  With ``limit``, at most that many programs,
    spread evenly over the inputs in name order (names are content hashes: a
    fair sample).  The description: ``inputs``, ``seed_inputs`` (encoded from
    ``corpus/``), ``mean_input_bytes`` and ``undecoded`` (inputs that stand
    for no program: an empty one, when the campaign covers several pairs).
    """
    files = sorted(f for d in Path(out, "corpus").iterdir() if d.is_dir()
                   for f in d.iterdir() if f.is_file() and not f.name.startswith("."))
    sizes, found = [], []
    undecoded = 0
    for f in files:
        data = f.read_bytes()
        sizes.append(len(data))
        program = program_from_input(data, summary["platform"], summary["mode"], summary["profile"],
                                     summary.get("max_ops", CAMPAIGN_MAX_OPS))
        if program is None:
            undecoded += 1
        else:
            found.append(program)
    if limit is not None and len(found) > limit:
        found = [found[i * len(found) // limit] for i in range(limit)]
    return found, {"inputs": len(files), "seed_inputs": sum(1 for f in files if f.name.startswith("seed-")),
                   "mean_input_bytes": sum(sizes) / len(sizes) if sizes else None, "undecoded": undecoded}


# -- 6. a 1 TB teardown over 1,000 mappings ---------------------------------------------------------

def teardown_program(platform: str, mode: str, mappings: int = 1000) -> Program:
    """``mappings`` maps spread evenly over the whole space, then one ``unmap`` of all of it: a VM's teardown.

    The space is :meth:`~unmapfuzz.impls.model.platforms.Platform.space`: the
    1 TB IPA space on stage 2, the platform's hyp VA space on hyp.  Map ``i``
    sits at the start of slot ``i`` of ``space / mappings`` bytes (rounded down
    to its own size), so every map needs its own tables down to its level.
    Stage 2 alternates pages and pmd blocks; hyp maps pages only.  Identity
    output addresses, except above GUEST_PA_LIMIT (a hyp space can reach past
    it), where the model keeps its own table pages.  Valid under the
    realistic profile; ``ValueError`` when ``mappings`` does not fit.
    """
    p = PLATFORMS[platform]
    space = p.space(mode)
    kinds = [k for k in p.map_kinds(mode) if k != "pud"]    # realistic programs map no pud block
    slot = space // mappings if mappings > 0 else 0
    if slot < 2 << max(p.map_shift(k) for k in kinds):
        raise ValueError(f"{mappings} mappings do not fit in the {space:#x}-byte {mode} space of {platform}")
    ops: list = []
    for i in range(mappings):
        kind = kinds[i % len(kinds)]
        size = 1 << p.map_shift(kind)
        ipa = i * slot // size * size
        ops.append(Map(kind, ipa, None if ipa + size <= GUEST_PA_LIMIT else ipa % GUEST_PA_LIMIT))
    ops.append(Unmap(0, space))
    return Program(platform, mode, tuple(ops), "realistic")


def measure_teardown(platform: str, mode: str, mappings: int = 1000, repeats: int = 3) -> dict:
    """Seconds of :func:`check` on :func:`teardown_program`, the median of ``repeats`` runs each way.

    ``seconds``: as every engine calls it; ``slow_seconds``: with the model's
    fast paths and the shared machines off (``fast=False, lockstep=False``),
    which changes nothing but speed; ``maps_seconds``: the program without its
    final ``unmap`` (building the tables, with the oracle's checks), so that
    ``seconds - maps_seconds`` is the teardown's own share.  ``signatures``:
    what the verdict shows (a teardown reaches several of the documented
    divergences; the time is the figure, not the verdict).  The fast paths
    must not change the verdict: when they do, ``AssertionError``.
    """
    program = teardown_program(platform, mode, mappings)
    problem = validate(program, "realistic")
    if problem:
        raise AssertionError(f"teardown_program({platform!r}, {mode!r}, {mappings}) is invalid: {problem}")
    maps_only = program.with_ops(program.ops[:-1])

    def timed(prog: Program, **kwargs) -> tuple[float, object]:
        t0 = time.perf_counter()
        verdict = check(prog, profile="realistic", **kwargs)
        return time.perf_counter() - t0, verdict

    fast, slow, maps = [], [], []
    verdict = None
    for _ in range(repeats):
        seconds, verdict = timed(program)
        fast.append(seconds)
        maps.append(timed(maps_only)[0])
        seconds, slow_verdict = timed(program, fast=False, lockstep=False)
        slow.append(seconds)
        if signatures(slow_verdict) != signatures(verdict):
            raise AssertionError(f"the model's fast paths changed the verdict of the {platform} {mode} teardown: "
                                 f"{sorted(map(str, signatures(verdict)))} with them, "
                                 f"{sorted(map(str, signatures(slow_verdict)))} without")
    seconds, slow_seconds, maps_seconds = median(fast), median(slow), median(maps)
    return {"platform": platform, "mode": mode, "space": program.ops[-1].size, "mappings": mappings,
            "ops": len(program.ops), "repeats": repeats, "seconds": seconds, "slow_seconds": slow_seconds,
            "maps_seconds": maps_seconds, "unmap_seconds": seconds - maps_seconds,
            "slow_ratio": slow_seconds / seconds if seconds else None,
            "runs": {"seconds": fast, "slow_seconds": slow, "maps_seconds": maps},
            "signatures": sorted(str(s) for s in signatures(verdict))}


# -- the whole benchmark ------------------------------------------------------------------------

@dataclass
class BenchConfig:
    platform: str = DEFAULT_PLATFORM
    mode: str = "stage2"
    profile: str = "realistic"
    seeds: int = 3
    first_seed: int = 0
    programs: int = 300
    examples: int = 300
    atheris_seconds: float = 15.0
    ttff_seconds: float = 60.0
    engines: tuple[str, ...] = ENGINES
    skip_ttff: bool = False
    skip_atheris: bool = False
    campaign_seconds: float = 30.0      # --time of each real campaign
    skip_campaigns: bool = False
    teardown_mappings: int = 1000
    teardown_repeats: int = 3
    skip_teardown: bool = False
    max_ops: int = 12
    command: str = "unmapfuzz bench"
    quick: bool = False
    corpus: Path = BEHAVIOUR_DIR


def machine_info() -> dict:
    info = {"nproc": os.cpu_count(), "python": _platform.python_version(),
            "implementation": _platform.python_implementation(), "system": _platform.platform()}
    try:
        info["affinity"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        info["affinity"] = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        info["loadavg"] = None
    from importlib import metadata
    for pkg in ("atheris", "hypothesis"):
        try:
            info[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            info[pkg] = None
    return info


def run_bench(cfg: BenchConfig, progress: Callable[[str], None] | None = None) -> dict:
    """Every measurement of the module docstring; one JSON-able dict (see :mod:`unmapfuzz.bench.render`)."""
    say = progress or (lambda _msg: None)
    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
    report: dict = {
        "command": cfg.command,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "machine": machine_info(),
        "settings": {"platform": cfg.platform, "mode": cfg.mode, "profile": cfg.profile, "seeds": seeds,
                     "programs": cfg.programs, "examples": cfg.examples,
                     "atheris_seconds": None if cfg.skip_atheris else cfg.atheris_seconds,
                     "ttff_seconds": None if cfg.skip_ttff else cfg.ttff_seconds,
                     "engines": list(cfg.engines), "max_ops": cfg.max_ops, "quick": cfg.quick,
                     "campaign_seconds": None if cfg.skip_campaigns else cfg.campaign_seconds,
                     "teardown_mappings": None if cfg.skip_teardown else cfg.teardown_mappings,
                     "teardown_repeats": None if cfg.skip_teardown else cfg.teardown_repeats},
    }
    started = time.monotonic()

    # 1. check() and the random engine's draw+check, per (platform, mode)
    rows = []
    for platform, mode in geometries(cfg.platform, cfg.mode):
        runs = []
        for s in seeds:
            say(f"check rate {platform}/{mode} seed {s}: {cfg.programs} programs")
            runs.append(measure_check_rate(platform, mode, cfg.profile, cfg.programs, s, cfg.max_ops))
        rows.append(_check_row(platform, mode, runs))
    if len(rows) > 1:
        rows.append(_pooled_row(rows))
    report["check"] = rows

    # 3. hypothesis (before atheris: in-process, so it is next to the check pass)
    hyp = []
    for s in seeds:
        say(f"hypothesis rate {cfg.platform}/{cfg.mode} seed {s}: {cfg.examples} examples")
        hyp.append(measure_hypothesis_rate(cfg.platform, cfg.mode, cfg.profile, cfg.examples, s, cfg.max_ops))
    hyp_mix = Counter()
    for r in hyp:
        hyp_mix += Counter(r["mix"])
    examples = sum(r["examples"] for r in hyp)
    report["hypothesis"] = {
        "platform": cfg.platform, "mode": cfg.mode, "runs": hyp,
        "examples_per_second": median(r["examples_per_second"] for r in hyp),
        "check_share": median(r["check_share"] for r in hyp),
        "mix": dict(hyp_mix), "examples": examples,
        "invalid": sum(r["invalid"] for r in hyp) / examples if examples else None,
        "with_findings": sum(r["with_findings"] for r in hyp) / examples if examples else None,
    }

    # 2. atheris
    if cfg.skip_atheris:
        report["atheris"] = None
    else:
        ath = []
        for s in seeds:
            say(f"atheris rate {cfg.platform}/{cfg.mode} seed {s}: {cfg.atheris_seconds:g} s")
            ath.append(measure_atheris_rate(cfg.platform, cfg.mode, cfg.profile, seconds=cfg.atheris_seconds,
                                            seed=s + 1))
        good = [r for r in ath if not r.get("error")]
        report["atheris"] = {
            "platform": cfg.platform, "mode": cfg.mode, "seconds": cfg.atheris_seconds, "runs": ath,
            "average_exec_per_sec": median(r["average_exec_per_sec"] for r in good),
            "steady_exec_per_sec": median(r["steady_exec_per_sec"] for r in good),
            "executions": median(r["executions"] for r in good),
            "peak_rss_mb": median(r["peak_rss_mb"] for r in good),
            "errors": [r["error"] for r in ath if r.get("error")],
        }

    # 5. real campaigns, one job per (platform, mode), and all jobs over them all; check() on their inputs
    report["campaigns"] = None if cfg.skip_campaigns else _campaigns(cfg, seeds, say)

    # 6. a teardown of the whole space
    if cfg.skip_teardown:
        report["teardown"] = None
    else:
        rows = []
        for platform, mode in geometries(cfg.platform, cfg.mode):
            say(f"teardown {platform}/{mode}: {cfg.teardown_mappings} mappings, {cfg.teardown_repeats} repeat(s)")
            rows.append(measure_teardown(platform, mode, cfg.teardown_mappings, cfg.teardown_repeats))
        report["teardown"] = {"mappings": cfg.teardown_mappings, "repeats": cfg.teardown_repeats, "rows": rows}

    # 4. time to first finding
    if cfg.skip_ttff:
        report["ttff"] = None
    else:
        report["ttff"] = _ttff(cfg, seeds, say)
    report["elapsed_seconds"] = round(time.monotonic() - started, 1)
    try:
        report["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return report


def _check_row(platform: str, mode: str, runs: list[dict]) -> dict:
    mix = Counter()
    impl = Counter()
    for r in runs:
        mix += Counter(r["mix"])
        impl.update(r.get("impl_seconds", {}))
    total_impl = sum(impl.values())
    programs = sum(r["programs"] for r in runs)
    return {
        "platform": platform, "mode": mode, "runs": runs,
        "checks_per_second": median(r["checks_per_second"] for r in runs),
        "random_per_second": median(r["random_per_second"] for r in runs),
        "draws_per_second": median(r["draws_per_second"] for r in runs),
        "programs": programs, "mix": dict(mix),
        "invalid": sum(r["invalid"] for r in runs) / programs if programs else None,
        "with_findings": sum(r["with_findings"] for r in runs) / programs if programs else None,
        "impl_share": {k: v / total_impl for k, v in impl.items()} if total_impl else {},
    }


def _pooled_row(rows: list[dict]) -> dict:
    """A uniform mix of the rows' pairs, like an ``all`` campaign: total programs over total time, per seed."""
    by_seed: dict[int, list[dict]] = {}
    for row in rows:
        for r in row["runs"]:
            by_seed.setdefault(r["seed"], []).append(r)
    checks, randoms = [], []
    for runs in by_seed.values():
        n = sum(r["programs"] for r in runs)
        c = sum(r["check_seconds"] for r in runs)
        d = sum(r["draw_seconds"] for r in runs)
        checks.append(n / c if c else None)
        randoms.append(n / (c + d) if c + d else None)
    mix = Counter()
    impl = Counter()
    for row in rows:
        mix += Counter(row["mix"])
        for r in row["runs"]:
            impl.update(r.get("impl_seconds", {}))
    programs = sum(row["programs"] for row in rows)
    total_impl = sum(impl.values())
    return {"platform": "all", "mode": "all", "pooled": True, "runs": [],
            "checks_per_second": median(checks), "random_per_second": median(randoms),
            "draws_per_second": None, "programs": programs, "mix": dict(mix),
            "invalid": sum(row["invalid"] * row["programs"] for row in rows) / programs,
            "with_findings": sum(row["with_findings"] * row["programs"] for row in rows) / programs,
            "impl_share": {k: v / total_impl for k, v in impl.items()} if total_impl else {}}


def _campaigns(cfg: BenchConfig, seeds: list[int], say: Callable[[str], None]) -> dict:
    """One one-job campaign per (platform, mode) and seed; with several pairs, also one campaign over
    them all with the default jobs (one per core), as ``unmapfuzz fuzz`` runs by default."""
    plan = [(platform, mode, 1) for platform, mode in geometries(cfg.platform, cfg.mode)]
    if len(plan) > 1:
        plan.append((cfg.platform, cfg.mode, None))
    rows = []
    for platform, mode, jobs in plan:
        runs = []
        for s in seeds:
            say(f"campaign {platform}/{mode} seed {s}: {cfg.campaign_seconds:g} s, "
                f"{jobs or 'default'} job(s), then check() on its inputs")
            r = measure_campaign(platform, mode, cfg.profile, cfg.campaign_seconds, s, jobs, cfg.programs)
            say(f"  {r.get('executions')} executions, {r.get('exec_per_second')}/s"
                + (f"; error: {r['error']}" if r.get("error") else ""))
            runs.append(r)
        rows.append(_campaign_row(platform, mode, runs))
    return {"seconds": cfg.campaign_seconds, "minimize": False, "rows": rows}


def _campaign_row(platform: str, mode: str, runs: list[dict]) -> dict:
    good = [r for r in runs if not r.get("error")]
    inputs = [r["inputs"] for r in good if r.get("inputs", {}).get("programs")]
    mix = Counter()
    for i in inputs:
        mix += Counter(i["mix"])
    programs = sum(i["programs"] for i in inputs)
    jobs = median(r.get("jobs") for r in good)
    return {
        "platform": platform, "mode": mode, "jobs": None if jobs is None else round(jobs),
        "command": runs[0]["command"], "runs": runs,
        "exec_per_second": median(r["exec_per_second"] for r in good),
        "per_job": median(r["per_job"] for r in good),
        "executions": median(r["executions"] for r in good),
        "repeat_share": median(r["repeat_share"] for r in good),
        "check": {"checks_per_second": median(i["checks_per_second"] for i in inputs),
                  "programs": programs, "inputs": sum(i["inputs"] for i in inputs),
                  "mean_input_bytes": median(i["mean_input_bytes"] for i in inputs),
                  "mix": dict(mix),
                  "invalid": sum(i["invalid"] for i in inputs) / programs if programs else None,
                  "with_findings": sum(i["with_findings"] for i in inputs) / programs if programs else None},
        "errors": [r["error"] for r in runs if r.get("error")],
    }


def _ttff(cfg: BenchConfig, seeds: list[int], say: Callable[[str], None]) -> dict:
    targets = corpus_targets(cfg.corpus)
    groups = group_targets(targets)
    out_groups = []
    for (platform, mode, profile), group in groups.items():
        sigs = [t["signature"] for t in group]
        runs: dict[str, list[dict]] = {}
        for engine in cfg.engines:
            for s in seeds:
                say(f"time to first {platform}/{mode}/{profile} {engine} seed {s}: "
                    f"{len(sigs)} target(s), limit {cfg.ttff_seconds:g} s")
                r = time_to_first(engine, platform, mode, profile, sigs, cfg.ttff_seconds, s)
                say(f"  found {len(r['found'])}/{len(sigs)} in {r['elapsed']} s, {r['executions']} executions"
                    + (" (stopped early)" if r["stopped_early"] else ""))
                runs.setdefault(engine, []).append(r)
        rows = []
        for t in group:
            sig = t["signature"]
            cells = {}
            for engine, rs in runs.items():
                times = [r["first"].get(sig, math.inf) for r in rs]
                found = sum(1 for x in times if not math.isinf(x))
                m = median(times)
                cells[engine] = {"median": None if m is None or math.isinf(m) else round(m, 2),
                                 "found": found, "total": len(times),
                                 "seconds": [None if math.isinf(x) else round(x, 2) for x in times]}
            rows.append({"signature": sig, "files": t["files"], "engines": cells})
        engine_stats = {e: {"executions": median(r["executions"] for r in rs),
                            "elapsed": median(r["elapsed"] for r in rs),
                            "other_buckets": sorted({sig for r in rs for sig in r["first"]} - set(sigs))}
                        for e, rs in runs.items()}
        out_groups.append({"platform": platform, "mode": mode, "profile": profile, "targets": rows,
                           "engines": engine_stats})
    return {"limit_seconds": cfg.ttff_seconds, "groups": out_groups}
