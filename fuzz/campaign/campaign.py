"""A campaign: engine workers on every core, a progress line, a summary.

The campaign process does no fuzzing itself.  It seeds the coverage-guided
corpus from the text corpus, starts ``--jobs`` workers (each a separate
process, so a crash or a ``kill -9`` of one loses nothing but its last second of
counts), and every few seconds reads their stats files and the finding
buckets, prints a progress line, logs a ``progress`` event and rewrites
``summary.json``.  New buckets are minimised in a background thread as they
appear; both the first program and the reproducer are kept.

Stopping: at ``--time``, or on Ctrl-C/SIGTERM, the workers are terminated,
waited for, and the summary written.  Running again with the same ``--out``
resumes: the atheris corpus and every bucket stay, counts keep adding up.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from unmapfuzz.atomic import atomic_write
from unmapfuzz.verdict.known import is_known, load_known

from .harness import CONFIG_ENV
from .libfuzzer import parse_libfuzzer
from .log import make_logger
from .store import read_buckets


def packaged_corpus() -> Path:
    """The regression corpus that ships with the package (the checkout's ``corpus/``)."""
    return Path(str(resources.files("unmapfuzz.corpus")))


@dataclass
class CampaignConfig:
    engine: str = "atheris"
    platform: str = "arm64-4k-39"
    mode: str = "stage2"
    profile: str = "realistic"
    seconds: float = 60.0
    jobs: int = os.cpu_count() or 1
    seed: int = 0
    out: Path = Path("out/campaign")
    impls: list[str] = field(default_factory=list)
    minimize: bool = True
    progress_every: float = 3.0
    quiet: bool = False
    seed_corpus: Path | None = field(default_factory=packaged_corpus)
    runs: int | None = None          # executions per worker, for deterministic runs
    known: Path | None = None        # the known-divergence list; None: the packaged one


class Campaign:
    def __init__(self, cfg: CampaignConfig):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = make_logger(self.out, role="campaign")
        self.workers: list[subprocess.Popen] = []
        self.stopping = False
        self.started = time.time()
        self.known = load_known(cfg.known, profile=cfg.profile)
        self.minimizer = None

    # -- workers -------------------------------------------------------------------

    def _worker_env(self, index: int) -> dict:
        cfg = self.cfg
        env = dict(os.environ)
        env[CONFIG_ENV] = json.dumps({
            "out": str(self.out), "platform": cfg.platform, "mode": cfg.mode, "profile": cfg.profile,
            "impls": cfg.impls, "seed": cfg.seed * 1000 + index, "deadline": self.started + cfg.seconds,
            "runs": cfg.runs, "known": None if cfg.known is None else str(cfg.known),
        })
        return env

    def _corpus_dir(self) -> Path:
        cfg = self.cfg
        d = self.out / "corpus" / f"{cfg.platform}-{cfg.mode}-{cfg.profile}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def seed_from_text(self) -> int:
        """Encode the text corpus into the atheris corpus (it is never stored as bytes in git)."""
        if self.cfg.seed_corpus is None or not Path(self.cfg.seed_corpus).is_dir():
            return 0
        from unmapfuzz.generation.seeds import write_seeds
        return write_seeds([self.cfg.seed_corpus], self._corpus_dir(), self.cfg.platform, self.cfg.mode)

    def start_workers(self) -> None:
        cfg = self.cfg
        logs = self.out / "workers"
        logs.mkdir(exist_ok=True)
        for i in range(cfg.jobs):
            env = self._worker_env(i)
            if cfg.engine == "atheris":
                remaining = max(1, int(self.started + cfg.seconds - time.time()))
                cmd = atheris_command(self._corpus_dir(), self.out / "artifacts", seed=cfg.seed * 1000 + i + 1,
                                      seconds=remaining, runs=cfg.runs)
            else:
                cmd = [sys.executable, "-m", "unmapfuzz.campaign.workers", cfg.engine]
            stderr = open(logs / f"{cfg.engine}-{i}.log", "wb")
            self.workers.append(subprocess.Popen(cmd, env=env, stdout=stderr, stderr=stderr,
                                                 stdin=subprocess.DEVNULL, cwd=self.out))
        self.log.info("workers_started", engine=cfg.engine, jobs=cfg.jobs,
                      pids=[w.pid for w in self.workers])

    def stop_workers(self) -> None:
        for w in self.workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for w in self.workers:
            try:
                w.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()

    # -- progress ----------------------------------------------------------------------

    def stats(self) -> dict:
        execs = invalid = 0
        for f in (self.out / "stats").glob("*.json"):
            try:
                s = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            if s.get("started", 0) >= self.started - 1:
                execs += s["execs"]
                invalid += s["invalid"]
        cov = 0
        if self.cfg.engine == "atheris":
            # libFuzzer exits without running Python's exit handlers, so its
            # own status lines are the reliable count of executions.
            execs = 0
            for f in (self.out / "workers").glob("atheris-*.log"):
                status = parse_libfuzzer(_tail(f))
                cov = max(cov, status["cov"] or 0)
                execs += status["executions"] or 0
        return {"execs": execs, "invalid": invalid, "cov": cov}

    def summary(self, final: bool = False) -> dict:
        elapsed = time.time() - self.started
        st = self.stats()
        buckets = read_buckets(self.out)
        for b in buckets:
            b["known"] = is_known(b["signature"], self.known)
        summary = {
            "engine": self.cfg.engine, "platform": self.cfg.platform, "mode": self.cfg.mode,
            "profile": self.cfg.profile, "jobs": self.cfg.jobs, "seed": self.cfg.seed,
            "executions": st["execs"], "invalid": st["invalid"], "coverage": st["cov"],
            "elapsed_seconds": round(elapsed, 1),
            "exec_per_second": round(st["execs"] / elapsed, 1) if elapsed > 0 else 0.0,
            "finished": final,
            "buckets": buckets,
            "known": [b["signature"] for b in buckets if b["known"]],
            "new": [b["signature"] for b in buckets if not b["known"]],
        }
        atomic_write(self.out / "summary.json", json.dumps(summary, indent=1))
        return summary

    def progress(self, summary: dict) -> None:
        remaining = max(0.0, self.cfg.seconds - summary["elapsed_seconds"])
        line = (f"[unmapfuzz] {summary['executions']} execs  {summary['exec_per_second']:.0f}/s  "
                f"cov {summary['coverage'] or '-'}  buckets {len(summary['buckets'])} "
                f"({len(summary['new'])} new)  {summary['elapsed_seconds']:.0f}s elapsed, {remaining:.0f}s left")
        self.log.info("progress", executions=summary["executions"], exec_per_second=summary["exec_per_second"],
                      coverage=summary["coverage"], buckets=len(summary["buckets"]), new=len(summary["new"]),
                      elapsed=summary["elapsed_seconds"], remaining=round(remaining, 1))
        if not self.cfg.quiet:
            print(line, file=sys.stderr, flush=True)

    # -- the run -------------------------------------------------------------------------

    def run(self) -> dict:
        cfg = self.cfg
        seeded = self.seed_from_text() if cfg.engine == "atheris" else 0
        self.log.info("start", engine=cfg.engine, platform=cfg.platform, mode=cfg.mode, profile=cfg.profile,
                      seconds=cfg.seconds, jobs=cfg.jobs, seed=cfg.seed, seeded=seeded,
                      resumed_buckets=len(read_buckets(self.out)))
        previous = {signal.SIGTERM: signal.getsignal(signal.SIGTERM)}
        signal.signal(signal.SIGTERM, self._on_signal)
        if cfg.minimize:
            from .minimizer import Minimizer
            self.minimizer = Minimizer(self.out, cfg.impls, cfg.profile, self.log)
            self.minimizer.start()
        reason = "time"
        try:
            self.start_workers()
            while not self.stopping:
                time.sleep(min(cfg.progress_every, max(0.05, self.started + cfg.seconds - time.time())))
                self.progress(self.summary())
                if time.time() >= self.started + cfg.seconds:
                    break
                if all(w.poll() is not None for w in self.workers):
                    reason = "workers exited"
                    break
            if self.stopping:
                reason = "signal"
        except KeyboardInterrupt:
            reason = "interrupt"
        finally:
            self.stop_workers()
            if self.minimizer is not None:
                self.minimizer.finish(timeout=30 if reason == "time" else 5)
            summary = self.summary(final=True)
            self.log.info("stop", reason=reason, executions=summary["executions"],
                          buckets=len(summary["buckets"]), new=len(summary["new"]))
            signal.signal(signal.SIGTERM, previous[signal.SIGTERM])
        try:                        # the summary is written already: a report failure loses nothing
            from .report import write_report
            write_report(self.out)
        except Exception as exc:
            self.log.error("report_failed", error=repr(exc))
        self.progress(summary)
        return summary

    def stop(self) -> None:
        """Ask the campaign to stop at its next progress tick (thread- and signal-safe)."""
        self.stopping = True

    def _on_signal(self, *_args) -> None:
        self.stop()


def atheris_command(corpus: Path, artifacts: Path, *, seed: int, seconds: int | None = None,
                    runs: int | None = None) -> list[str]:
    """The libFuzzer command line of one atheris worker: its corpus directory, its
    artifacts under ``artifacts/`` (never the working directory), and the limits
    every campaign worker gets."""
    artifacts.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "unmapfuzz.campaign.atheris_target", str(corpus), f"-seed={seed}",
           f"-artifact_prefix={artifacts}{os.sep}", "-print_final_stats=1", "-reload=1", "-timeout=30",
           "-rss_limit_mb=4096"]
    if seconds is not None:
        cmd.append(f"-max_total_time={max(1, int(seconds))}")
    if runs is not None:
        cmd.append(f"-runs={runs}")
    return cmd


def _tail(path: Path, size: int = 16384) -> str:
    """The end of a worker's log: libFuzzer's latest status lines are there."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
