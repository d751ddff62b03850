"""Helpers of the fault-injection tests: campaigns run for real, and what must hold after.

Not a test module (no ``test_`` prefix): ``test_faults.py``, ``test_outdir.py``
and the others import it, as ``test_check.py`` imports ``brokenimpls``.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from unmapfuzz.programs import load
from unmapfuzz.verdict.check import check
from unmapfuzz.verdict.signature import Signature, signatures

PYTHON = sys.executable


def with_file_size_limit(limit: int):
    """A ``preexec_fn`` giving the child (and its children) a file size limit of ``limit`` bytes."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def python(code: str, *, fsize: int | None = None, cwd=None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, optionally under a file size limit."""
    return subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120,
                          preexec_fn=with_file_size_limit(fsize) if fsize else None)


def fuzz_command(out: Path, *args: str) -> list[str]:
    return [PYTHON, "-m", "unmapfuzz", "fuzz", "--out", str(out), "--no-minimize", *args]


def _near(out: Path) -> Path:
    """The nearest existing directory above ``out``, to run the command from."""
    return next(p for p in out.parents if p.is_dir())


def start_campaign(out: Path, *args: str, fsize: int | None = None) -> subprocess.Popen:
    return subprocess.Popen(fuzz_command(out, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=_near(out), preexec_fn=with_file_size_limit(fsize) if fsize else None)


def run_campaign(out: Path, *args: str, fsize: int | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(fuzz_command(out, *args), capture_output=True, text=True, cwd=_near(out),
                          timeout=timeout, preexec_fn=with_file_size_limit(fsize) if fsize else None)


def processes_in(directory: Path) -> list[int]:
    """Live processes whose working directory is ``directory``: a campaign's workers run there."""
    directory = os.path.realpath(directory)
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == directory and _state(entry) != "Z":
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def _state(pid: str) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def wait_until(predicate, limit: float = 30.0, every: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds or ``limit`` seconds pass (a bound for failing, not a speed)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def kill_all(pids) -> None:
    """Clean up after a failed test: no process of ours may outlive it."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def log_events(out: Path) -> list[dict]:
    """Every line of ``OUT/log.jsonl``, each of which must be one whole JSON object."""
    path = out / "log.jsonl"
    if not path.exists():
        return []
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"log.jsonl ends in a cut-off line: {data[-80:]!r}"
    return [json.loads(line) for line in data.decode().splitlines()]


def assert_buckets_intact(out: Path, profile: str = "realistic") -> list[str]:
    """Every bucket in ``OUT/findings`` is complete and its program still shows its signature;
    no half-built bucket is left.  Returns the signatures."""
    findings = out / "findings"
    if not findings.is_dir():
        return []
    seen = []
    for bucket in sorted(findings.iterdir()):
        assert not bucket.name.startswith(".new-"), f"half-built bucket left: {bucket}"
        if bucket.name.startswith("."):
            continue
        meta = json.loads((bucket / "meta.json").read_text())
        program = load(bucket / "first.ops")
        signature = Signature.parse(meta["signature"])
        assert signature in signatures(check(program, profile=profile)), bucket
        for count in bucket.glob("count.*.json"):
            assert json.loads(count.read_text())["count"] >= 1
        seen.append(meta["signature"])
    return seen
