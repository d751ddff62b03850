"""A campaign: engine workers on every core, a progress line, a summary.

The campaign process does no fuzzing itself.  It seeds the coverage-guided
corpus from the text corpus, starts ``--jobs`` workers (each a separate
process, so a crash or a ``kill -9`` of one loses nothing but its last second of
counts), and every few seconds reads their stats files and the finding
buckets, prints a progress line, logs a ``progress`` event and rewrites
``summary.json``.  New buckets are minimised in a background thread as they
appear; both the first program and the reproducer are kept.

Stopping: at ``--time``, or on Ctrl-C/SIGTERM/SIGHUP, the workers are terminated,
waited for, and the summary written.  Running again with the same ``--out``
resumes: the atheris corpus and every bucket stay, counts keep adding up.

The life of a campaign, and what each failure leaves (README, "The campaign
workflow"):

- it starts by taking ``--out`` (:mod:`.outdir`: a second campaign on it
  exits 2 naming the holder), checking that the directory holds this same
  campaign and bringing its ledger up to date (:mod:`.runs`), and removing
  what killed writers left;
- its workers (:mod:`.worker_process`) die with it, however it dies
  (:mod:`.lifeline`), and keep the directory locked until the last is gone;
- an error writing the output, in the campaign or in a worker, stops
  everything and becomes one :class:`~.outdir.OutputError` naming the file
  and the reason (the command exits 2); every bucket written so far stays.
"""
from __future__ import annotations

import functools
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
from unmapfuzz.impls import BUILTIN, RESERVED
from unmapfuzz.verdict.check import DEFAULT_BASELINE
from unmapfuzz.verdict.known import known_for, why_known
from unmapfuzz.verdict.signature import Signature

from .harness import CONFIG_ENV
from .log import make_logger
from .outdir import OutputDir, OutputError
from .runs import (fold_dead_log, fold_leftovers, geometry_totals, previous_runs, remove_leftovers, run_entry,
                   totals, worker_stats)
from .current import read_current
from .display import Display
from .store import read_buckets, remove_unfinished
from .worker_process import WorkerProcess


def packaged_corpus() -> Path:
    """The regression corpus that ships with the package (the checkout's ``corpus/``)."""
    return Path(str(resources.files("unmapfuzz.corpus")))


@dataclass
class CampaignConfig:
    engine: str = "atheris"
    platform: str = "all"            # every geometry unless narrowed
    mode: str = "all"
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
    baseline: str = DEFAULT_BASELINE   # what every implementation is judged against
    verbose: bool = False            # print new buckets as they appear, and what the start cleaned


class Campaign:
    def __init__(self, cfg: CampaignConfig):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.outdir = OutputDir(self.out)
        self.log = None                  # made once the directory is ours (open())
        self.workers: list[WorkerProcess] = []
        self.stopping = False
        self.started = time.time()
        self.known = known_for(cfg.profile, cfg.known)
        self.minimizer = None
        self.runs: list[dict] = []       # the runs before this one (see runs.py)
        self.current = run_entry(self.started, cfg.jobs, cfg.seed)
        self.announced: set[str] = set()     # buckets already printed (-v)
        self.exited: set[int] = set()        # workers whose exit is logged
        self.restarts: dict[int, int] = {}   # worker index -> times restarted
        self.workers_stopped = False         # by us: their exits from then on are no deaths
        self.deaths = 0                      # workers that died before their time, this run
        self.death_signatures: set[str] = set()
        self.display = Display(cfg.seconds, quiet=cfg.quiet)

    @functools.cached_property
    def triage(self):
        """Turns a dead worker's input and libFuzzer's artifacts into buckets (:mod:`.deaths`)."""
        from .deaths import Triage
        return Triage(self.out, json.loads(self._worker_env(0)[CONFIG_ENV]), self.log)

    @functools.cached_property
    def identity(self) -> dict:
        """What makes this campaign this campaign (see :mod:`.runs`): resuming needs the same."""
        from unmapfuzz.impls import resolve_impls
        cfg = self.cfg
        return {"engine": cfg.engine, "platform": cfg.platform, "mode": cfg.mode, "profile": cfg.profile,
                "impls": list(resolve_impls(cfg.impls)), "baseline": cfg.baseline}

    # -- the directory -----------------------------------------------------------------------------

    def open(self) -> None:
        """Take ``--out``, check it holds this campaign, bring its ledger up to date and tidy it.

        Raises :class:`~.outdir.CampaignError` before touching anything when the
        directory is in use or holds another campaign.  The order of the steps
        is what keeps a crash at any point harmless (see :mod:`.runs`).
        """
        self.outdir.lock()
        self.runs, previous = previous_runs(self.out, self.identity)
        if fold_leftovers(self.runs, self.out, self.cfg.engine):
            atomic_write(self.out / "summary.json",
                         json.dumps(dict(previous or self.identity, runs=self.runs, **totals(self.runs),
                                         geometries=geometry_totals(self.runs)), indent=1))
        remove_leftovers(self.out)
        stale = self.outdir.clean()
        from .minimizer import clear_markers
        clear_markers(self.out)
        dropped = self.outdir.repair_log()
        self.log = make_logger(self.out, role="campaign")
        if stale or dropped:
            self.log.info("cleaned", removed=[str(p.relative_to(self.out)) for p in stale], log_bytes_dropped=dropped)
            if self.cfg.verbose:
                self.say(f"cleaned {len(stale)} stale temporaries" +
                         (f" and a cut-off log line ({dropped} bytes)" if dropped else ""))

    # -- workers -------------------------------------------------------------------

    def _worker_env(self, index: int) -> dict:
        cfg = self.cfg
        env = dict(os.environ)
        env[CONFIG_ENV] = json.dumps({
            "out": str(self.out), "platform": cfg.platform, "mode": cfg.mode, "profile": cfg.profile,
            "impls": cfg.impls, "seed": cfg.seed * 1000 + index, "deadline": self.started + cfg.seconds,
            "runs": cfg.runs, "known": None if cfg.known is None else str(cfg.known), "baseline": cfg.baseline,
            "current": str(self._current_path(index)),
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
        written = write_seeds([self.cfg.seed_corpus], self._corpus_dir(), self.cfg.platform, self.cfg.mode)
        self.triage.requarantine()        # a seed that killed a worker of an earlier run stays out
        return written

    def start_workers(self) -> None:
        (self.out / "workers").mkdir(exist_ok=True)
        for i in range(self.cfg.jobs):
            self.workers.append(self.start_worker(i))
        self.log.info("workers_started", engine=self.cfg.engine, jobs=self.cfg.jobs,
                      pids=[w.pid for w in self.workers])

    def start_worker(self, index: int) -> WorkerProcess:
        """Start worker ``index``: the one place a worker is started (a restart calls it again).

        Call it from the main thread: the workers' parent-death signal is tied
        to the thread that started them (see :mod:`.lifeline`).
        """
        cfg = self.cfg
        if cfg.engine == "atheris":
            remaining = max(1, int(self.started + cfg.seconds - time.time()))
            module, args = ATHERIS_TARGET, atheris_args(self._corpus_dir(), self.out / "artifacts",
                                                        seed=cfg.seed * 1000 + index + 1, seconds=remaining,
                                                        runs=cfg.runs)
        else:
            module, args = "unmapfuzz.campaign.workers", [cfg.engine]
        restarts = self.restarts.get(index, 0)
        name = f"{cfg.engine}-{index}" + (f".{restarts}" if restarts else "")
        worker = WorkerProcess(name, module, args, log=self.out / "workers" / f"{name}.log", cwd=self.out,
                               env=self._worker_env(index), keep_fds=(self.outdir.fd,))
        worker.index = index
        return worker

    def _current_path(self, index: int) -> Path:
        return self.out / "workers" / f"{self.cfg.engine}-{index}.current"

    def stop_workers(self) -> None:
        self.workers_stopped = True
        for w in self.workers:
            if w.poll() is None:
                w.terminate()
        deadline = time.time() + 10
        for w in self.workers:
            try:
                w.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()

    def note_exits(self, restart: bool = True) -> None:
        """Log each worker that has exited since the last look (once per worker), and remove
        the buckets it was building when it died.  One that died before its time (not a
        clean exit: ``--runs`` done, or stopped by us) has what it was running and what
        libFuzzer left turned into buckets (:mod:`.deaths`), and, with ``restart``, is
        started again while the campaign has time left."""
        for i, w in enumerate(self.workers):
            if w.poll() is None or w.pid in self.exited:
                continue
            self.exited.add(w.pid)
            unfinished = remove_unfinished(self.out, w.pid)
            self.log.warning("worker_exited", worker=w.name, pid=w.pid, status=w.returncode,
                             unfinished_buckets_removed=len(unfinished))
            if w.returncode == 0 or self.stopping or self.workers_stopped or w.output_error(self.out) is not None:
                continue
            running = read_current(self._current_path(w.index))     # before a new worker reuses the file
            if self.cfg.engine == "atheris":
                w.wait(5)                                               # its log complete
                fold_dead_log(self.out, w.log_path, w.pid, w.started)
            again = restart and time.time() < self.started + self.cfg.seconds - 1
            if again:                 # first, so that fuzzing goes on while the death is triaged
                self.restarts[w.index] = self.restarts.get(w.index, 0) + 1
                self.workers[i] = self.start_worker(w.index)
                self.log.info("worker_restarted", worker=self.workers[i].name, pid=self.workers[i].pid,
                              after=w.name, status=w.returncode)
            found = list(dict.fromkeys(self.triage.died(w.name, w.returncode, running)))
            self.deaths += 1
            news = [sig for sig in found if sig not in self.death_signatures]
            self.death_signatures.update(found)
            if not self.cfg.quiet and (news or self.deaths == 1):      # the rest are in the log
                self.say(f"worker {w.name} died ({_status(w.returncode)})" +
                         (f"; its input shows {', '.join(news)}" if news else "") +
                         ("; restarted" if again else ""))

    def output_error(self) -> OutputError | None:
        """An error writing the output that a worker or the minimiser met, if any."""
        for w in self.workers:
            error = w.output_error(self.out)
            if error is not None:
                return error
        return self.minimizer.output_error(self.out) if self.minimizer is not None else None

    # -- the minimiser ----------------------------------------------------------------------

    def start_minimizer(self) -> None:
        """Start the minimiser process (:mod:`.minimizer`), from the main thread as a worker."""
        n = self.restarts.get("minimizer", 0)
        name = "minimizer" + (f".{n}" if n else "")
        self.minimizer = WorkerProcess(name, "unmapfuzz.campaign.minimizer", [],
                                       log=self.out / "workers" / f"{name}.log", cwd=self.out,
                                       env=self._worker_env(0), keep_fds=(self.outdir.fd,))

    def note_minimizer(self, restart: bool = True) -> None:
        """A minimiser that died (not of an error writing the output) gives up the bucket it
        had in hand, and, with ``restart``, is started again while the campaign has time left."""
        from .minimizer import mark_died
        m = self.minimizer
        if m is None or m.poll() is None or m.returncode == 0 or m.output_error(self.out) is not None:
            return
        given_up = mark_died(self.out, m.pid)
        self.log.warning("minimizer_died", pid=m.pid, status=m.returncode, given_up=given_up)
        self.minimizer = None
        if restart and time.time() < self.started + self.cfg.seconds - 1:
            self.restarts["minimizer"] = self.restarts.get("minimizer", 0) + 1
            self.start_minimizer()

    def finish_minimizer(self, timeout: float) -> None:
        """Let the minimiser finish what is pending (SIGUSR1), for at most ``timeout`` seconds."""
        from .minimizer import clear_markers
        m = self.minimizer
        if m is None:
            return
        stopped = False                  # by us, past its time: what it had in hand is not its fault
        if m.poll() is None:
            try:
                os.kill(m.pid, signal.SIGUSR1)
                m.wait(timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                stopped = True
                m.terminate()
                try:
                    m.wait(5)
                except subprocess.TimeoutExpired:
                    m.kill()
                    m.wait()
        if not stopped:                  # it died finishing: of a bucket in hand, as during the run
            self.note_minimizer(restart=False)
        clear_markers(self.out)

    # -- progress ----------------------------------------------------------------------

    def stats(self) -> dict:
        """This run's executions, invalid programs and coverage, from its workers' stats and logs."""
        return worker_stats(self.out, self.cfg.engine, since=self.started - 1)

    def summary(self, final: bool = False, stop: str | None = None) -> dict:
        """Write ``summary.json``, the ledger of every run with this one's entry brought up to date."""
        elapsed = time.time() - self.started
        st = self.stats()
        self.current.update(elapsed_seconds=round(elapsed, 1), executions=st["execs"], invalid=st["invalid"],
                            worker_deaths=self.deaths, geometries=st["geometries"],
                            finished=final, stop=stop)
        runs = [*self.runs, self.current]
        buckets = read_buckets(self.out)
        for b in buckets:
            why = why_known(b["signature"], b["explained_by_baseline"], self.known, b.get("baseline") or self.cfg.baseline)
            b["known"], b["known_by"] = why is not None, why
            b["user"] = b["impl"] not in BUILTIN and b["impl"] not in RESERVED
        summary = {
            **self.identity, "jobs": self.cfg.jobs, "seed": self.cfg.seed,
            **totals(runs), "coverage": st["cov"],
            "geometries": geometry_totals(runs),
            "finished": final,
            "runs": runs,
            "buckets": buckets,
            "known": [b["signature"] for b in buckets if b["known"]],
            "new": [b["signature"] for b in buckets if not b["known"]],
            "new_for_user": [b["signature"] for b in buckets if not b["known"] and b["user"]],
        }
        atomic_write(self.out / "summary.json", json.dumps(summary, indent=1))
        return summary

    def progress(self, summary: dict) -> None:
        run = summary["runs"][-1]
        rate = run["executions"] / run["elapsed_seconds"] if run["elapsed_seconds"] else 0.0
        remaining = max(0.0, self.cfg.seconds - run["elapsed_seconds"])
        earlier = summary["executions"] - run["executions"]
        figures = (f"{summary['executions']} execs" + (f" ({earlier} before this run)" if earlier else "") +
                   f"  {rate:.0f}/s  cov {summary['coverage'] or '-'}  buckets {len(summary['buckets'])} "
                   f"({len(summary['new'])} new{_for_user(summary)})" +
                   (f"  {self.deaths} worker deaths" if self.deaths else ""))
        self.log.info("progress", executions=summary["executions"], exec_per_second=round(rate, 1),
                      coverage=summary["coverage"], buckets=len(summary["buckets"]), new=len(summary["new"]),
                      elapsed=run["elapsed_seconds"], remaining=round(remaining, 1))
        if self.cfg.verbose:
            for b in summary["buckets"]:
                if b["signature"] not in self.announced:
                    self.announced.add(b["signature"])
                    self.say(f"{'known' if b['known'] else 'NEW'} bucket {b['signature']}: {b['program']}")
        self.display.progress(figures, run["elapsed_seconds"], remaining, alarm=bool(summary.get("new_for_user")))

    def say(self, message: str) -> None:
        self.display.message(message)

    # -- the run -------------------------------------------------------------------------

    def run(self) -> dict:
        """Run the campaign and return its summary.

        Raises :class:`~.outdir.CampaignError` (the directory is in use, holds
        another campaign, or could not be written): its ``str()`` is the one
        line for the user.  The workers are stopped and the lock released
        however it ends.
        """
        cfg = self.cfg
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
        reason, error, summary = "time", None, None
        try:
            self.open()
            seeded = self.seed_from_text() if cfg.engine == "atheris" else 0
            self.log.info("start", engine=cfg.engine, platform=cfg.platform, mode=cfg.mode, profile=cfg.profile,
                          seconds=cfg.seconds, jobs=cfg.jobs, seed=cfg.seed, seeded=seeded,
                          resumed_buckets=len(read_buckets(self.out)), run=len(self.runs) + 1)
            self.summary()                    # this run's entry is in the ledger before any worker runs
            for sig in previous:
                signal.signal(sig, self._on_signal)
            (self.out / "workers").mkdir(exist_ok=True)
            if cfg.minimize:
                self.start_minimizer()
            self.triage.artifacts()           # what the workers of a killed run left
            self.start_workers()
            while not self.stopping:
                self.wait_tick(min(cfg.progress_every, max(0.05, self.started + cfg.seconds - time.time())))
                error = self.output_error()
                if error is not None:
                    raise error
                self.note_exits()
                self.note_minimizer()
                self.progress(self.summary())
                if time.time() >= self.started + cfg.seconds:
                    break
                # Every worker exited and was seen to by note_exits() (which restarts one that died
                # with time left): one that died since then is restarted at the next tick.
                if all(w.poll() is not None and w.pid in self.exited for w in self.workers):
                    reason = "workers exited"
                    break
            if self.stopping:
                reason = "signal"
        except KeyboardInterrupt:
            reason = "interrupt"
        except OSError as exc:
            reason, error = "output error", OutputError.from_os_error(exc, self.out)
        except OutputError as exc:
            reason, error = "output error", exc
        finally:
            triage = self.log is not None and reason != "output error"
            if triage:
                self._triage_safely(lambda: self.note_exits(restart=False))   # deaths since the last tick
            self.stop_workers()
            if triage:
                self._triage_safely(self.triage.artifacts)      # a failure libFuzzer saw at the very end
            if self.minimizer is not None:
                self.finish_minimizer(timeout=min(30.0, max(5.0, cfg.seconds / 10)) if reason == "time" else 0.1)
            if self.log is not None:              # the directory was ours: record how the run ended
                try:
                    error = error or self.output_error()
                    summary = self.summary(final=True, stop="output error" if error else reason)
                    self.log.info("stop", reason=summary["runs"][-1]["stop"], executions=summary["executions"],
                                  buckets=len(summary["buckets"]), new=len(summary["new"]))
                    self.write_report()
                except OSError as exc:
                    error = error or OutputError.from_os_error(exc, self.out)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.outdir.release()
        try:
            if error is None:
                self.progress(summary)
        finally:
            self.display.close()
        if error is not None:
            raise error
        return summary

    def _triage_safely(self, step) -> None:
        """Run a triage step at the end; an error writing the output is logged, not raised
        over the error or interrupt the campaign is already ending with."""
        try:
            step()
        except OSError as exc:
            self.log.error("triage_failed", error=str(OutputError.from_os_error(exc, self.out)))

    def write_report(self) -> None:
        """``OUT/report.html``, written after the summary: a report that fails loses nothing."""
        try:
            from .report import write_report
            write_report(self.out)
        except OSError:
            raise
        except Exception as exc:   # a bug in the report must not cost the campaign its summary
            self.log.error("report_failed", error=repr(exc))

    def wait_tick(self, seconds: float) -> None:
        """Sleep until the next progress tick, or less when a worker exits or stop() is called."""
        end = time.time() + seconds
        running = sum(w.poll() is None for w in self.workers)
        while not self.stopping and time.time() < end and sum(w.poll() is None for w in self.workers) == running:
            time.sleep(min(0.1, max(0.0, end - time.time())))

    def stop(self) -> None:
        """Ask the campaign to stop at its next progress tick (thread- and signal-safe)."""
        self.stopping = True

    def _on_signal(self, *_args) -> None:
        self.stop()


def _status(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            pass
    return f"exit status {returncode}"


def _for_user(summary: dict) -> str:
    """``, 2 NEW for mine`` when your implementations have new buckets (the progress line's)."""
    mine = summary.get("new_for_user") or []
    if not mine:
        return ""
    names = sorted({Signature.parse(s).impl for s in mine})
    return f", {len(mine)} NEW for {', '.join(names)}"


ATHERIS_TARGET = "unmapfuzz.campaign.atheris_target"


def atheris_args(corpus: Path, artifacts: Path, *, seed: int, seconds: int | None = None,
                 runs: int | None = None) -> list[str]:
    """The libFuzzer arguments of one atheris worker: its corpus directory, its
    artifacts under ``artifacts/`` (never the working directory), and the limits
    every campaign worker gets.  ``-handle_xfsz=0``: a file size limit is an
    error writing the output, which the worker reports as such (an OSError),
    not a crash of the target."""
    artifacts.mkdir(parents=True, exist_ok=True)
    args = [str(corpus), f"-seed={seed}", f"-artifact_prefix={artifacts}{os.sep}", "-print_final_stats=1",
            "-reload=1", "-timeout=30", "-rss_limit_mb=4096", "-handle_xfsz=0"]
    if seconds is not None:
        args.append(f"-max_total_time={max(1, int(seconds))}")
    if runs is not None:
        args.append(f"-runs={runs}")
    return args


def atheris_command(corpus: Path, artifacts: Path, *, seed: int, seconds: int | None = None,
                    runs: int | None = None) -> list[str]:
    """The command line of one atheris worker run on its own (see :func:`atheris_args`)."""
    return [sys.executable, "-m", ATHERIS_TARGET,
            *atheris_args(corpus, artifacts, seed=seed, seconds=seconds, runs=runs)]
