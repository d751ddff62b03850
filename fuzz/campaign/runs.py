"""The runs of a campaign directory: what campaign it holds, and what each run did.

A directory holds one campaign: one engine, platform, mode, profile and set
of implementations (its *identity*, :data:`IDENTITY`).  Running ``unmapfuzz
fuzz`` on it again resumes that campaign, and a run with another identity is
refused (:class:`CampaignMismatch`, exit 2) rather than started: its
executions and buckets would be counted together with findings of a different
configuration, and nothing afterwards could tell them apart.  Another
``--out`` costs nothing.  Jobs, seed, time and ``--runs`` may differ from run
to run.

``summary.json`` is the ledger.  Its ``runs`` list has one entry per run
(``started``, ``elapsed_seconds``, ``executions``, ``invalid``, ``jobs``,
``seed``, ``finished``, ``stop``, ``geometries``), and its top-level
``executions``, ``invalid``, ``elapsed_seconds`` and ``geometries`` are their
sums, so they accumulate across resumes.  ``geometries`` splits the harness's
work by platform and mode (:func:`geometry_totals`).  A run's entry is rewritten at every progress tick and at its
stop; a run that was killed is brought up to date by the next one, from what
its workers left behind (their stats files and libFuzzer's status lines,
:func:`worker_stats`) before those are removed:

1. fold the leftovers into the last run's entry (:func:`fold_leftovers`:
   each figure becomes the larger of the two, so doing it twice changes
   nothing) and write the ledger;
2. remove the leftovers (:func:`remove_leftovers`), so that no later run
   counts them again, and so that a new worker that happens to get an old
   worker's pid cannot overwrite its stats;
3. append the new run's entry and write the ledger.

A crash between any two steps leaves a directory the next start handles the
same way.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from unmapfuzz.atomic import atomic_write

from .libfuzzer import parse_libfuzzer
from .outdir import CampaignError

__all__ = ["IDENTITY", "CampaignMismatch", "identity_of", "previous_runs", "fold_leftovers",
           "remove_leftovers", "worker_stats", "run_entry", "totals", "geometry_totals", "geometry_rows", "LOST"]

IDENTITY = ("engine", "platform", "mode", "profile", "impls")
OPTION = {"engine": "--engine", "platform": "--platform", "mode": "--mode", "profile": "--profile",
          "impls": "implementations"}
SUMMARY = "summary.json"
LOST = "lost"           # the stop reason of a run whose campaign died without recording one


class CampaignMismatch(CampaignError):
    """The directory holds a campaign of another configuration."""


def identity_of(summary: dict) -> dict:
    """The identity fields a summary records (older summaries lack ``impls``)."""
    return {key: summary[key] for key in IDENTITY if key in summary}


def previous_runs(out: Path, identity: dict) -> tuple[list[dict], dict | None]:
    """The runs ``out`` already holds and its summary, or refuse a campaign of another identity.

    Raises :class:`CampaignMismatch` (different identity) or
    :class:`~.outdir.CampaignError` (a summary that cannot be read).
    """
    path = Path(out) / SUMMARY
    try:
        summary = json.loads(path.read_text())
        if not isinstance(summary, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return [], None
    except (OSError, ValueError) as exc:
        raise CampaignError(f"{path}: cannot read this campaign's summary ({exc}); "
                            "move it away to start the directory afresh") from None
    recorded = identity_of(summary)
    differences = [f"{OPTION[key]} {_shown(recorded[key])} (this run: {_shown(identity[key])})"
                   for key in IDENTITY if key in recorded and recorded[key] != identity[key]]
    if differences:
        raise CampaignMismatch(f"{out}: holds a campaign with {'; '.join(differences)}; resume it with "
                               "the same options, or give another --out")
    runs = summary.get("runs")
    if not isinstance(runs, list):        # a summary from before runs were recorded: one run
        runs = [{"started": None, "elapsed_seconds": summary.get("elapsed_seconds", 0.0),
                 "executions": summary.get("executions", 0), "invalid": summary.get("invalid", 0),
                 "finished": bool(summary.get("finished")), "stop": None}]
    return runs, summary


def fold_leftovers(runs: list[dict], out: Path, engine: str) -> bool:
    """Bring the last run's entry up to date with what its workers left; True when it changed."""
    left = worker_stats(out, engine)
    if not runs:
        if not (left["execs"] or left["invalid"]):
            return False
        runs.append({"started": None, "elapsed_seconds": 0.0, "executions": 0, "invalid": 0,
                     "finished": False, "stop": None})
    last = dict(runs[-1])
    last["executions"] = max(last.get("executions") or 0, left["execs"])
    last["invalid"] = max(last.get("invalid") or 0, left["invalid"])
    if left["geometries"]:
        last["geometries"] = _larger(last.get("geometries") or {}, left["geometries"])
    if last.get("started") and left["last"]:
        last["elapsed_seconds"] = round(max(last.get("elapsed_seconds") or 0.0,
                                            left["last"] - last["started"]), 1)
    if not last.get("finished") and not last.get("stop"):
        last["stop"] = LOST
    changed = last != runs[-1]
    runs[-1] = last
    return changed


def remove_leftovers(out: Path) -> list[Path]:
    """Remove the workers' stats files and logs (already folded into the ledger); the paths removed."""
    out = Path(out)
    removed = [*(out / "stats").glob("*.json"), *(out / "workers").glob("*.log"),
               *(out / "workers" / DEAD_LOGS).glob("*.log")]
    for path in removed:
        path.unlink()
    return removed


def _stats(out: Path, pattern: str, since: float | None):
    """The stats files ``OUT/stats/PATTERN`` that started at or after ``since`` (all, when None),
    read; one that cannot be read (a killed writer's) is passed over."""
    for f in (out / "stats").glob(pattern):
        try:
            s = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if since is None or s.get("started", 0) >= since:
            yield s


def worker_stats(out: Path, engine: str, since: float | None = None) -> dict:
    """Executions, invalid programs, coverage, the time of the last sign of life, and the
    harness's work by platform and mode (``geometries``, summed: see :func:`geometry_totals`),
    of the workers whose stats files started at or after ``since`` (all, when None)."""
    out = Path(out)
    execs = invalid = cov = 0
    last = 0.0
    geometries: dict[str, dict] = {}
    for s in _stats(out, "*.json", since):
        execs += s.get("execs", 0)
        invalid += s.get("invalid", 0)
        last = max(last, s.get("time", 0.0))
        _add_geometries(geometries, s.get("geometries"))
    for figures in geometries.values():
        figures["seconds"] = round(figures["seconds"], 6)
    if engine == "atheris":
        # libFuzzer exits without running Python's exit handlers, so its
        # own status lines are the reliable count of executions: in the logs of
        # the workers, and in the stats a dead worker's log was folded into
        # (see fold_dead_log).
        execs = 0
        for s in _stats(out, f"{FOLDED}*.json", since):
            execs += s.get("execs", 0)
            cov = max(cov, s.get("cov", 0))
        for f in (out / "workers").glob("atheris-*.log"):
            status = parse_libfuzzer(_tail(f))
            cov = max(cov, status["cov"] or 0)
            execs += status["executions"] or 0
            try:
                last = max(last, f.stat().st_mtime)
            except OSError:
                pass
    return {"execs": execs, "invalid": invalid, "cov": cov, "last": last or None, "geometries": geometries}


FOLDED = "atheris-folded."
DEAD_LOGS = "dead"
KEEP_DEAD_LOGS = 20


def fold_dead_log(out: Path, log: Path, pid: int, started: float) -> None:
    """A dead atheris worker's log: its count into ``stats/atheris-folded.PID.json``, the log
    itself into ``workers/dead/`` (the newest :data:`KEEP_DEAD_LOGS` are kept).  A campaign
    whose workers keep dying (a user's code that kills its process) restarts them for
    hours; their logs must neither pile up nor be read again at every progress tick."""
    out = Path(out)
    status = parse_libfuzzer(_tail(log))
    atomic_write(out / "stats" / f"{FOLDED}{pid}.json", json.dumps(
        {"engine": "atheris", "pid": pid, "execs": status["executions"] or 0, "cov": status["cov"] or 0,
         "started": started, "time": time.time()}))
    dead = out / "workers" / DEAD_LOGS
    dead.mkdir(exist_ok=True)
    os.replace(log, dead / log.name)
    kept = sorted(dead.glob("*.log"), key=lambda p: p.stat().st_mtime)
    for old in kept[:-KEEP_DEAD_LOGS]:
        old.unlink(missing_ok=True)


def run_entry(started: float, jobs: int, seed: int) -> dict:
    """A new run's entry in the ledger."""
    return {"started": started, "elapsed_seconds": 0.0, "executions": 0, "invalid": 0, "jobs": jobs,
            "seed": seed, "finished": False, "stop": None,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))}


def totals(runs: list[dict]) -> dict:
    """The ledger's sums over ``runs``: executions, invalid, elapsed_seconds, exec_per_second."""
    executions = sum(r.get("executions") or 0 for r in runs)
    elapsed = round(sum(r.get("elapsed_seconds") or 0.0 for r in runs), 1)
    return {"executions": executions, "invalid": sum(r.get("invalid") or 0 for r in runs),
            "elapsed_seconds": elapsed, "exec_per_second": round(executions / elapsed, 1) if elapsed > 0 else 0.0}


GEOMETRY_FIGURES = ("programs", "repeats", "seconds")
"""What a stats file, a run and a summary record of each ``platform/mode``: the programs the
harness judged (repeats included), those it answered from its memo, and the seconds it spent
judging them (decoding an engine's input is not included)."""


def _add_geometries(into: dict[str, dict], more) -> None:
    """Add ``more`` (``platform/mode`` -> figures) into ``into``; anything malformed is passed over."""
    if not isinstance(more, dict):
        return
    for where, figures in more.items():
        if not isinstance(figures, dict):
            continue
        mine = into.setdefault(where, dict.fromkeys(GEOMETRY_FIGURES, 0))
        for key in GEOMETRY_FIGURES:
            value = figures.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                mine[key] += value


def _larger(a: dict[str, dict], b: dict[str, dict]) -> dict[str, dict]:
    """Per geometry and figure, the larger of ``a``'s and ``b``'s (folding twice changes nothing)."""
    out = {}
    for where in {**a, **b}:
        x, y = a.get(where) or {}, b.get(where) or {}
        out[where] = {key: max(x.get(key) or 0, y.get(key) or 0) for key in GEOMETRY_FIGURES}
    return dict(sorted(out.items()))


def geometry_totals(records: list[dict]) -> dict[str, dict]:
    """The sum of the ``geometries`` of ``records`` (runs of a ledger, or campaigns of a merge),
    each ``platform/mode`` with its ``programs``, ``repeats``, ``seconds`` and the rate of
    judging (``programs_per_second``: programs over the seconds spent on them), in name order.

    The figures come from the workers' periodic stats files, so the last seconds of a worker
    that was killed (or of an atheris worker: libFuzzer exits without Python's exit handlers)
    may be missing: they are for comparing the geometries with each other, while the ledger's
    ``executions`` stays the campaign's count."""
    total: dict[str, dict] = {}
    for record in records:
        _add_geometries(total, record.get("geometries"))
    for figures in total.values():
        seconds = figures["seconds"] = round(figures["seconds"], 6)
        figures["programs_per_second"] = round(figures["programs"] / seconds, 1) if seconds > 0 else 0.0
    return dict(sorted(total.items()))


def geometry_rows(geometries) -> list[dict]:
    """``geometries`` (as :func:`geometry_totals` gives them) as rows, most time first, each with
    its ``geometry`` name and its ``share`` of the judging time; none for a summary from before
    they were recorded (the report's table and a campaign's closing line)."""
    if not isinstance(geometries, dict):
        return []
    rows = [dict(figures, geometry=where) for where, figures in geometries.items() if isinstance(figures, dict)]
    total = sum(r.get("seconds") or 0 for r in rows)
    for r in rows:
        r["share"] = (r.get("seconds") or 0) / total if total > 0 else 0.0
    rows.sort(key=lambda r: (-(r.get("seconds") or 0), r["geometry"]))
    return rows


def _shown(value) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


def _tail(path: Path, size: int = 16384) -> str:
    """The end of a worker's log: libFuzzer's latest status lines are there."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
