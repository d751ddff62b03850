"""``unmapfuzz bench --mutants``: does a campaign flag each mutant of v3 as new, and how soon.

For the control (the unmodified copy of v3), every mutation of
:data:`~unmapfuzz.bench.mutants.MUTATIONS` and every edit of
:data:`~unmapfuzz.bench.mutants.EQUIVALENT`, one campaign through the real
command line, exactly as a user would run it::

    python -m unmapfuzz fuzz --impl NAME=FILE --time T --jobs J --out DIR

(the default engine, every platform and mode, the realistic profile, new
buckets minimised), in a fresh directory each.  From the campaign's
``summary.json`` it reads the exit status, the user's new buckets
(``new_for_user``), the ones that are the mutation's doing (every new
signature but those of the control, :func:`~unmapfuzz.bench.mutants.mutant_news`)
and the time from the campaign's start (its run's ``started``) to the
earliest ``first_seen`` among those buckets.  A measurement, never an
assertion: the figures depend on the machine and its load, which the
report records.  ``tests/test_mutants.py`` checks the same mutants
deterministically.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .measure import machine_info, median
from .mutants import ALL, CONTROL, CONTROL_NEWS, Mutation, by_name, mutant_news, write_mutant

__all__ = ["MutantBenchConfig", "run_mutant_bench", "campaign_command", "read_campaign"]

GRACE_SECONDS = 180.0
"""How long past ``--time`` a campaign may take to start, stop and write its summary before it is killed."""


@dataclass
class MutantBenchConfig:
    seconds: float = 60.0
    jobs: int = 2
    engine: str = "atheris"
    profile: str = "realistic"
    seed: int = 0
    runs: int | None = None             # --runs per worker: a deterministic campaign (tests)
    names: tuple[str, ...] = ()         # only these mutants (the control always runs); () = every one
    keep: Path | None = None            # keep the mutants and campaign directories here
    command: str = "unmapfuzz bench --mutants"
    python: str = field(default_factory=lambda: sys.executable)


def campaign_command(cfg: MutantBenchConfig, name: str, impl: Path, out: Path) -> list[str]:
    """The ``unmapfuzz fuzz`` command line of one mutant's campaign."""
    cmd = [cfg.python, "-m", "unmapfuzz", "fuzz", "--impl", f"{name}={impl}", "--time", f"{cfg.seconds:g}",
           "--jobs", str(cfg.jobs), "--out", str(out), "--engine", cfg.engine, "--profile", cfg.profile,
           "--seed", str(cfg.seed), "--quiet"]
    if cfg.runs is not None:
        cmd += ["--runs", str(cfg.runs)]
    return cmd


def read_campaign(out: Path, name: str) -> dict:
    """What one campaign's ``summary.json`` says about implementation ``name``."""
    summary = json.loads((out / "summary.json").read_text())
    started = summary["runs"][0]["started"]
    mine = [b for b in summary["buckets"] if b["impl"] == name]
    new = sorted(b["signature"] for b in mine if not b["known"])
    own = set(mutant_news(new))

    def first(signatures: set[str]) -> float | None:
        times = [b["first_seen"] - started for b in mine if b["signature"] in signatures and b.get("first_seen")]
        return round(max(0.0, min(times)), 2) if times else None

    return {"new": new, "news": sorted(own), "flagged": bool(own),
            "first_news_seconds": first(own), "first_new_seconds": first(set(new)),
            "known_buckets": sum(1 for b in mine if b["known"]),
            "executions": summary.get("executions"), "elapsed_seconds": summary.get("elapsed_seconds"),
            "new_not_yours": sorted(s for s in summary["new"] if s not in summary["new_for_user"])}


def _selected(cfg: MutantBenchConfig) -> list[Mutation]:
    if not cfg.names:
        return [CONTROL, *ALL]
    chosen = [by_name(n) for n in cfg.names]
    return [CONTROL, *[m for m in chosen if m is not CONTROL]]


def run_mutant_bench(cfg: MutantBenchConfig, progress: Callable[[str], None] | None = None) -> dict:
    """One campaign per mutant (see the module docstring); one JSON-able dict.

    Raises ``KeyError`` for an unknown name in ``cfg.names``.
    """
    say = progress or (lambda _msg: None)
    mutations = _selected(cfg)
    root = Path(cfg.keep) if cfg.keep is not None else Path(tempfile.mkdtemp(prefix="unmapfuzz-mutants-"))
    root.mkdir(parents=True, exist_ok=True)
    report = {
        "command": cfg.command,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "machine": machine_info(),
        "settings": {"seconds": cfg.seconds, "jobs": cfg.jobs, "engine": cfg.engine, "profile": cfg.profile,
                     "seed": cfg.seed, "runs": cfg.runs, "control_news": sorted(CONTROL_NEWS),
                     "kept": str(root) if cfg.keep is not None else None},
        "rows": [],
    }
    started = time.monotonic()
    try:
        for i, m in enumerate(mutations, 1):
            say(f"[{i}/{len(mutations)}] {m.name}: {cfg.engine} campaign, {cfg.seconds:g} s, {cfg.jobs} job(s)")
            row = _measure_one(cfg, m, root)
            report["rows"].append(row)
            say("  " + _progress_line(row))
    finally:
        if cfg.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    report["elapsed_seconds"] = round(time.monotonic() - started, 1)
    try:
        report["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    report["totals"] = _totals(report["rows"])
    return report


def _measure_one(cfg: MutantBenchConfig, m: Mutation, root: Path) -> dict:
    impl = write_mutant(m, root / "impls")
    out = root / "campaigns" / m.name
    if out.exists():
        shutil.rmtree(out)
    row = {"name": m.name, "category": m.category, "bug": m.bug, "reach": m.reach,
           "equivalent": m.equivalent or None, "control": m is CONTROL,
           "expected": _expected(m, cfg.profile)}
    cmd = campaign_command(cfg, m.name, impl, out)
    try:
        proc = subprocess.run(cmd, cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, errors="replace",
                              timeout=cfg.seconds + GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        row.update(exit=None, error=f"the campaign ran past {cfg.seconds + GRACE_SECONDS:g} s and was killed")
        return row
    row["exit"] = proc.returncode
    if proc.returncode not in (0, 1):
        row["error"] = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return row
    try:
        row.update(read_campaign(out, m.name))
    except (OSError, ValueError, KeyError) as exc:
        row["error"] = f"{out}/summary.json: {type(exc).__name__}: {exc}"
    return row


def _expected(m: Mutation, profile: str) -> str:
    """What the campaign should show: ``news``, or why not (control, equivalent, out of reach)."""
    if m is CONTROL:
        return "control"
    if m.equivalent:
        return "equivalent"
    if m.reach == "adversarial" and profile != "adversarial":
        return "adversarial only"
    return "news"


def _progress_line(row: dict) -> str:
    if row.get("error"):
        return f"error: {row['error']}"
    when = "-" if row["first_news_seconds"] is None else f"{row['first_news_seconds']:g} s"
    return (f"exit {row['exit']}, flagged {'yes' if row['flagged'] else 'no'} (first at {when}), "
            f"{len(row['news'])} signature(s) of its own, {row['executions']} executions")


def _totals(rows: list[dict]) -> dict:
    measured = [r for r in rows if not r.get("error")]
    expected = [r for r in measured if r["expected"] == "news"]
    flagged = [r for r in expected if r["flagged"]]
    times = [r["first_news_seconds"] for r in flagged]
    control = next((r for r in measured if r["control"]), None)
    return {
        "mutants": sum(1 for r in rows if not r["control"] and not r["equivalent"]),
        "in_reach": len(expected), "flagged": len(flagged),
        "missed": [r["name"] for r in expected if not r["flagged"]],
        "out_of_reach": [r["name"] for r in measured if r["expected"] == "adversarial only"],
        "out_of_reach_flagged": [r["name"] for r in measured if r["expected"] == "adversarial only" and r["flagged"]],
        "equivalent": sum(1 for r in rows if r["equivalent"]),
        "equivalent_flagged": [r["name"] for r in measured if r["equivalent"] and r["flagged"]],
        "control_new": control["new"] if control else None,
        "control_unexpected": control["news"] if control else None,
        "median_first_seconds": median(times), "max_first_seconds": max(times) if times else None,
        "errors": [f"{r['name']}: {r['error']}" for r in rows if r.get("error")],
    }
