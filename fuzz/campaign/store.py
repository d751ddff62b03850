"""A campaign directory: findings bucketed by signature, written so nothing is lost.

Layout of ``DIR``::

    findings/<slug>/first.ops      the first program seen with this signature
    findings/<slug>/meta.json      signature fields and first-seen time
    findings/<slug>/count.<pid>.<token>.json   one process's count and last-seen time
    findings/<slug>/minimized.ops  the minimised reproducer (when done)
    log.jsonl                      every event, one JSON object a line (structlog)
    summary.json                   written by the campaign at stops and progress

Several processes (our workers, libFuzzer's ``-fork``/``-jobs`` children) may
record into one directory at once.  A bucket is created by building it in a
private temporary directory and renaming it into place: the rename is atomic,
so exactly one process creates each bucket and a ``kill -9`` at any moment
leaves either no bucket or a complete one.  Every file is written to a temporary
name and renamed.  Counts are per process, so no two processes ever write the
same file; a reader sums them.  A count file's name carries a random token
beside the pid, because pids come round again: a resumed campaign's worker
with an old worker's pid must not overwrite that worker's count.

A write that fails (a full disk, a file size limit) raises :class:`OSError`
naming the file or bucket; a bucket that could not be completed is removed
again, so what stays in ``findings/`` is still only complete buckets.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from unmapfuzz.atomic import atomic_write
from unmapfuzz.verdict.signature import Signature


NEW_PREFIX = ".new-"      # a bucket being built; one a killed writer left is cleaned at the next start


def slug(signature: Signature) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(signature).replace("/", "__"))


class FindingStore:
    def __init__(self, out: Path, log=None, count_flush_seconds: float = 0.25, count_id: str | None = None):
        """``count_id`` names this store's count files (``count.<count_id>.json``) for a caller
        whose counts must not add up when it runs again (a crash input imported twice);
        by default they are this process's own, never reused."""
        self.out = Path(out)
        self.findings = self.out / "findings"
        self.findings.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.flush_seconds = count_flush_seconds
        self.pid = os.getpid()
        self.count_name = (f"count.{count_id}.json" if count_id is not None
                           else f"count.{self.pid}.{secrets.token_hex(4)}.json")
        self.counts: dict[Signature, list] = {}      # sig -> [count, last_seen, last_flush]

    def record(self, signature: Signature, program_text: str, verdict_json: dict | None = None) -> bool:
        """Count one occurrence; create the bucket if it is new.  True when new."""
        now = time.time()
        entry = self.counts.get(signature)
        new = False
        if entry is None:
            new = self._create(signature, program_text, verdict_json, now)
            entry = self.counts[signature] = [0, now, 0.0]
        entry[0] += 1
        entry[1] = now
        if new or now - entry[2] >= self.flush_seconds:
            self._flush(signature, entry)
        if self.log is not None:
            if new:
                self.log.warning("new_bucket", **signature.to_json())
            elif entry[0] in (2, 10, 100, 1000) or entry[0] % 10000 == 0:
                self.log.info("repeat", signature=str(signature), count=entry[0])
        return new

    def _create(self, signature, program_text, verdict_json, now) -> bool:
        bucket = self.findings / slug(signature)
        if bucket.exists():
            return False
        try:
            tmp = Path(tempfile.mkdtemp(dir=self.findings, prefix=f"{NEW_PREFIX}{os.getpid()}-"))
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(bucket)) from None
        meta = dict(signature.to_json(), first_seen=now)
        if verdict_json is not None:
            meta["verdict"] = verdict_json
        try:
            _write_synced(tmp / "first.ops", program_text)
            _write_synced(tmp / "meta.json", json.dumps(meta, indent=1, sort_keys=True))
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise OSError(exc.errno, exc.strerror, str(bucket)) from None
        try:
            os.rename(tmp, bucket)
        except OSError:
            # Another process created it first: ours is a repeat.
            shutil.rmtree(tmp, ignore_errors=True)
            return False
        return True

    def _flush(self, signature, entry) -> None:
        bucket = self.findings / slug(signature)
        if bucket.is_dir():
            atomic_write(bucket / self.count_name,
                         json.dumps({"count": entry[0], "last_seen": entry[1]}))
        entry[2] = time.time()

    def flush_all(self) -> None:
        for signature, entry in self.counts.items():
            self._flush(signature, entry)


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def remove_unfinished(out: Path, pid: int) -> list[Path]:
    """Remove the buckets a dead process ``pid`` was building (``findings/.new-PID-*``): they
    were never renamed into place, so no bucket is lost; the next occurrence of that
    signature builds its bucket again."""
    removed = []
    findings = Path(out) / "findings"
    for tmp in findings.glob(f"{NEW_PREFIX}{pid}-*") if findings.is_dir() else ():
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
    return removed


def read_buckets(out: Path) -> list[dict]:
    """Every complete bucket in ``out/findings``, with summed counts."""
    findings = Path(out) / "findings"
    buckets = []
    if not findings.is_dir():
        return buckets
    for bucket in sorted(findings.iterdir()):
        if bucket.name.startswith(".") or not (bucket / "meta.json").is_file():
            continue
        meta = json.loads((bucket / "meta.json").read_text())
        count, last = 0, meta.get("first_seen")
        for f in bucket.glob("count.*.json"):
            try:
                c = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            count += c["count"]
            last = max(last or 0, c["last_seen"])
        buckets.append({
            "signature": meta["signature"], "impl": meta["impl"], "kind": meta["kind"],
            "platform": meta["platform"], "mode": meta["mode"], "level": meta["level"],
            "count": max(count, 1), "first_seen": meta.get("first_seen"), "last_seen": last,
            "program": str(bucket / "first.ops"),
            "minimized": str(bucket / "minimized.ops") if (bucket / "minimized.ops").is_file() else None,
        })
    return buckets
