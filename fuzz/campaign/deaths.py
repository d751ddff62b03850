"""A worker that died, and the files libFuzzer left, turned into buckets.

The guard (:mod:`unmapfuzz.verdict.guard`) turns whatever an implementation
does inside a call into a ``crash`` or ``hang`` finding.  What it cannot catch
kills the worker: a ``kill`` of its own process, a crash of the interpreter
(``ctypes``), an allocation libFuzzer's RSS limit ends, libFuzzer's own
``-timeout`` when something blocked even the guard's watchdog.  Then the
campaign (:mod:`.campaign`) restarts the worker and hands this module what the
dead one was running: its *current input* (:mod:`.current`) and any
``crash-*``, ``timeout-*`` or ``oom-*`` file libFuzzer wrote under
``OUT/artifacts/``.

Each input is decoded with the campaign's configuration into its program,
written to ``OUT/artifacts/triage/SHA.ops``, and checked again **in a
subprocess** (``python -m unmapfuzz.campaign.deaths``), since it may kill
whatever runs it:

- the subprocess ends normally: its findings are recorded as a worker would
  record them (one count per input, however often it is triaged).  An artifact
  whose program shows nothing at all becomes a bucket of the pseudo-
  implementation ``worker`` (``worker/crash|hang/PLATFORM/MODE/none``): libFuzzer
  saw it fail and nothing here can say why, which is news.  A current input
  that shows nothing is only logged: the worker died of something else (it was
  killed from outside, say), and blaming the program would invent a finding;
- the subprocess dies or runs past its time: the death is the finding.  It is
  attributed to the user implementation that kills the process with only the
  built-in ones beside it (with one user implementation, that one), else to
  ``worker``; its bucket (``IMPL/crash|hang/PLATFORM/MODE/none``) keeps the
  program as ``first.ops``, with a header saying how the process ended, and is
  not minimised in-process (it would kill the campaign).

Artifacts are moved to ``OUT/artifacts/triaged/`` once handled, so a resumed
campaign handles the ones a killed campaign left, and none twice.  An input
that kills the process checking it is also taken out of the atheris corpus
(:meth:`Triage.quarantine`): a restarted worker replays its corpus first and
would otherwise die on the same input again, and again.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from unmapfuzz.atomic import atomic_write
from unmapfuzz.generation.seeds import program_from_input
from unmapfuzz.impls import BUILTIN, resolve_impls
from unmapfuzz.programs import ProgramError, parse
from unmapfuzz.programs import format as format_program
from unmapfuzz.verdict.check import DEFAULT_BASELINE
from unmapfuzz.verdict.guard import PROGRAM_SECONDS
from unmapfuzz.verdict.signature import Signature

__all__ = ["WORKER", "ARTIFACT_KINDS", "pending_artifacts", "Triage"]

WORKER = "worker"
"""The pseudo-implementation of a death no implementation can be blamed for."""

ARTIFACT_KINDS = {"crash": "crash", "timeout": "hang", "oom": "crash", "leak": "crash"}
"""libFuzzer's artifact prefixes and the finding kind each stands for."""

CHECK_SECONDS = 2 * PROGRAM_SECONDS + 60
"""How long one subprocess may take before its program counts as a hang."""


def pending_artifacts(out: Path) -> list[Path]:
    """libFuzzer's failure files under ``OUT/artifacts`` not handled yet, oldest first."""
    folder = Path(out) / "artifacts"
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and p.name.split("-", 1)[0] in ARTIFACT_KINDS]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def _how(status: int | None) -> str:
    if status is None:
        return f"ran for more than {CHECK_SECONDS:g} s"
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


class Triage:
    """The campaign's side: ``cfg`` is the workers' configuration (``UNMAPFUZZ_CONFIG``)."""

    def __init__(self, out: Path, cfg: dict, log):
        self.out = Path(out)
        self.cfg = cfg
        self.log = log
        self.folder = self.out / "artifacts" / "triage"
        self.seen: set[str] = set()
        self.specs: dict[str, str] = {}          # name -> where it came from, as buckets record it
        resolve_impls(cfg.get("impls", []), origins=self.specs)
        users = [name for name in self.specs if name not in BUILTIN]
        self.users = dict(zip(users, cfg.get("impls", [])))      # name -> its --impl spec

    # -- the inputs --------------------------------------------------------------------------

    def died(self, worker: str, status: int | None, got: tuple[str, bytes] | None) -> list[str]:
        """A worker exited early: triage what it was running (``got``, from
        :func:`~.current.read_current`) and what libFuzzer left."""
        recorded: list[str] = []
        if got is None:
            self.log.warning("worker_died", worker=worker, status=status, running=None)
        elif got[0] == "too long":
            self.log.warning("worker_died", worker=worker, status=status, running="an input too long to keep")
        else:
            kind, data = got
            recorded += self.one(data, kind, origin=f"{worker}'s current input", artifact=None)
        recorded += self.artifacts()
        return recorded

    def artifacts(self) -> list[str]:
        """Triage every artifact not handled yet, and move it to ``artifacts/triaged``."""
        recorded: list[str] = []
        done = self.out / "artifacts" / "triaged"
        for path in pending_artifacts(self.out):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if hashlib.sha1(data).hexdigest()[:16] not in self.seen:     # else: a dead worker's input, done
                recorded += self.one(data, "bytes", origin=f"artifacts/{path.name}",
                                     artifact=ARTIFACT_KINDS[path.name.split("-", 1)[0]])
            done.mkdir(parents=True, exist_ok=True)
            os.replace(path, done / path.name)
        return recorded

    def one(self, data: bytes, kind: str, *, origin: str, artifact: str | None) -> list[str]:
        """Check one input in a subprocess; the signatures recorded for it."""
        digest = hashlib.sha1(data).hexdigest()[:16]
        if digest in self.seen:
            return []
        self.seen.add(digest)
        program = self._decode(data, kind)
        if program is None:
            self.log.warning("triage_skipped", origin=origin, reason="decodes to no valid program")
            return []
        self.folder.mkdir(parents=True, exist_ok=True)
        file = self.folder / f"{digest}.ops"
        atomic_write(file, format_program(program, header=(f"{origin}, as the dead worker ran it",)))
        status, shown = self._check(file, digest, self.cfg.get("impls", []))
        if status == 0:
            if shown or artifact is None:
                self.log.info("triaged", origin=origin, reproduced=False, signatures=shown)
                return shown
            return [self._death(program, file, digest, WORKER, artifact,
                                f"libFuzzer reported a {artifact} on this input ({origin}); checked again "
                                "it ends normally")]
        culprit = self._culprit(file, digest)
        how = f"the process checking this program {_how(status)}"
        kind_found = "hang" if status is None or artifact == "hang" else "crash"
        self.quarantine(data)
        return [self._death(program, file, digest, culprit, kind_found, f"{how} ({origin})")]

    # -- the corpus -------------------------------------------------------------------------

    def quarantine(self, data: bytes) -> None:
        """Take an input that kills whatever runs it out of the atheris corpus (into
        ``OUT/artifacts/quarantine``): a restarted worker replays its corpus first, and
        would die on it again before fuzzing anything."""
        sha = hashlib.sha1(data).hexdigest()
        folder = self.out / "artifacts" / "quarantine"
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / sha, data)
        self.requarantine()

    def requarantine(self) -> int:
        """Remove every quarantined input from the corpus (again, after seeding); how many."""
        folder = self.out / "artifacts" / "quarantine"
        if not folder.is_dir():
            return 0
        bad = {p.name for p in folder.iterdir()}
        removed = 0
        for corpus in (self.out / "corpus").glob("*"):
            if not corpus.is_dir():
                continue
            for path in corpus.iterdir():
                if path.name.removeprefix("seed-") in bad:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def _decode(self, data: bytes, kind: str):
        cfg = self.cfg
        if kind == "text":
            try:
                return parse(data.decode("utf-8"))
            except (ProgramError, UnicodeDecodeError, ValueError):
                return None
        try:
            return program_from_input(data, cfg["platform"], cfg["mode"], cfg["profile"],
                                      int(cfg.get("max_ops", 12)))
        except Exception:     # noqa: BLE001 - an input that does not decode is skipped, and said so
            return None

    # -- the subprocess ----------------------------------------------------------------------

    def _check(self, file: Path, digest: str, impls: list[str], record: bool = True) -> tuple[int | None, list[str]]:
        cfg = dict(self.cfg, impls=impls)
        command = [sys.executable, "-m", "unmapfuzz.campaign.deaths", str(self.out), str(file), digest,
                   "record" if record else "probe"]
        try:
            done = subprocess.run(command, env=dict(os.environ, UNMAPFUZZ_CONFIG=json.dumps(cfg)),
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=CHECK_SECONDS,
                                  start_new_session=True)
        except subprocess.TimeoutExpired:
            return None, []
        if done.returncode != 0:
            return done.returncode, []
        try:
            return 0, json.loads(done.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            return 0, []

    def _culprit(self, file: Path, digest: str) -> str:
        """The user implementation whose run kills the process with only the built-in ones
        beside it (with one user implementation, that one), else ``worker``."""
        if len(self.users) == 1:
            return next(iter(self.users))
        for name, spec in self.users.items():
            status, _ = self._check(file, digest, [spec], record=False)
            if status != 0:
                return name
        return WORKER

    def _death(self, program, file: Path, digest: str, impl: str, kind: str, detail: str) -> str:
        from .store import FindingStore
        sig = Signature(impl, kind, program.platform, program.mode, "none")
        store = FindingStore(self.out, self.log, count_id=f"death-{digest}", meta={
            "impls": self.specs, "baseline": self.cfg.get("baseline") or DEFAULT_BASELINE,
            "profile": self.cfg["profile"], "died": detail})
        text = format_program(program, header=(detail, f"triaged from {file}"))
        store.record(sig, text, {"died": detail, "impl": impl, "kind": kind}, explained=False)
        store.flush_all()
        self.log.warning("worker_death_bucket", signature=str(sig), detail=detail)
        return str(sig)


def main(argv: list[str]) -> int:
    """``python -m unmapfuzz.campaign.deaths OUT FILE DIGEST record|probe``: check FILE as a
    worker would and (``record``) record its findings in OUT; print the signatures (JSON)
    as the last line."""
    out, file, digest, record = Path(argv[1]), Path(argv[2]), argv[3], argv[4] == "record"
    from unmapfuzz.programs import load
    from unmapfuzz.verdict.check import check
    from unmapfuzz.verdict.signature import judged

    from .log import make_logger
    from .store import FindingStore

    cfg = json.loads(os.environ["UNMAPFUZZ_CONFIG"])
    origins: dict[str, str] = {}
    impls = resolve_impls(cfg.get("impls", []), origins=origins)
    baseline = cfg.get("baseline") or DEFAULT_BASELINE
    if baseline not in impls:
        impls[baseline] = BUILTIN[baseline]
    program = load(file)
    verdict = check(program, impls, cfg["profile"], baseline=baseline)
    if not record:
        print(json.dumps([str(sig) for sig in judged(verdict)]), flush=True)
        return 0
    store = FindingStore(out, make_logger(out, role="triage"), count_id=f"triage-{digest}",
                         meta={"impls": origins, "baseline": baseline,
                               "profile": cfg["profile"]})
    text = format_program(program, header=(f"triaged from {file}",))
    shown = []
    for sig, explained in judged(verdict).items():
        store.record(sig, text, verdict.to_json(), explained)
        shown.append(str(sig))
    store.flush_all()
    print(json.dumps(shown), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
