"""A campaign directory: findings bucketed by signature, written so nothing is lost.

Layout of ``DIR``::

    findings/<slug>/first.ops      the first program seen with this signature, headed by its
                                   signature and a ``# replay:`` line naming the campaign's
                                   ``--impl`` specs and baseline (as every ``.ops`` here is)
    findings/<slug>/meta.json      signature fields, first-seen time, whether the baseline explained
                                   that first program, and the campaign's implementations and baseline
    findings/<slug>/unexplained.ops  the first program the baseline did not explain, when first.ops
                                   was one it did (see below)
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

A signature can be explained by the baseline on one program (the baseline
shows the same there: a bug the implementation merely shares) and not on
another.  A bucket is *new* when any of its programs was not explained (and
no known.txt pattern names it), so its reproducer must be such a program: the
first unexplained occurrence of a bucket created from an explained one is
written once, exclusively (a hard link into place), as ``unexplained.ops``.

Counts are flushed at most once a second per signature and without
``fsync`` (:func:`~unmapfuzz.atomic.replace_file`): a ``kill -9`` loses
nothing the process wrote, at most its last second of counting.

A write that fails (a full disk, a file size limit) raises :class:`OSError`
naming the file or bucket; a bucket that could not be completed is removed
again, so what stays in ``findings/`` is still only complete buckets.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import tempfile
import time
from pathlib import Path

from collections.abc import Callable

from unmapfuzz.atomic import replace_file
from unmapfuzz.triage.explain import replay_options
from unmapfuzz.verdict.check import DEFAULT_BASELINE
from unmapfuzz.verdict.signature import Signature


NEW_PREFIX = ".new-"      # a bucket being built; one a killed writer left is cleaned at the next start
UNEXPLAINED = "unexplained.ops"

Text = str | Callable[[], str]
"""A program's text, or a function that makes it: made only when a file needs it."""


def slug(signature: Signature) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(signature).replace("/", "__"))


class FindingStore:
    def __init__(self, out: Path, log=None, count_flush_seconds: float = 1.0, count_id: str | None = None,
                 meta: dict | None = None):
        """``count_id`` names this store's count files (``count.<count_id>.json``) for a caller
        whose counts must not add up when it runs again (a crash input imported twice);
        by default they are this process's own, never reused.  ``meta``: fields every new
        bucket's ``meta.json`` records (the campaign's implementations and baseline)."""
        self.out = Path(out)
        self.findings = self.out / "findings"
        self.findings.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.flush_seconds = count_flush_seconds
        self.pid = os.getpid()
        self.count_name = (f"count.{count_id}.json" if count_id is not None
                           else f"count.{self.pid}.{secrets.token_hex(4)}.json")
        self.counts: dict[Signature, list] = {}      # sig -> [count, last_seen, last_flush]
        self.meta = dict(meta or {})
        self.unexplained: set[Signature] = set()     # buckets known to hold an unexplained program

    def record(self, signature: Signature, program_text: Text,
               verdict_json: dict | Callable[[], dict] | None = None, explained: bool = False) -> bool:
        """Count one occurrence; create the bucket if it is new.  True when new.

        ``explained``: the baseline shows this finding too on this program.  The
        program's text and the verdict are only made when a file needs them.
        """
        now = time.time()
        entry = self.counts.get(signature)
        new = False
        if entry is None:
            new = self._create(signature, program_text, verdict_json, now, explained)
            entry = self.counts[signature] = [0, now, 0.0]
            if new and not explained:
                self.unexplained.add(signature)
        if not explained and signature not in self.unexplained:
            self._mark_unexplained(signature, program_text)
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

    def _create(self, signature, program_text, verdict_json, now, explained) -> bool:
        bucket = self.findings / slug(signature)
        if bucket.exists():
            return False
        try:
            tmp = Path(tempfile.mkdtemp(dir=self.findings, prefix=f"{NEW_PREFIX}{os.getpid()}-"))
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(bucket)) from None
        meta = dict(signature.to_json(), first_seen=now, explained_by_baseline=explained, **self.meta)
        if verdict_json is not None:
            meta["verdict"] = verdict_json() if callable(verdict_json) else verdict_json
        program_text = self._headed(signature, bucket / "first.ops", program_text)
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

    def _mark_unexplained(self, signature: Signature, program_text: Text) -> None:
        """Give the bucket its first program the baseline does not explain, once, whoever
        writes it first (a hard link fails if the file is there)."""
        bucket = self.findings / slug(signature)
        self.unexplained.add(signature)
        if not bucket.is_dir() or (bucket / UNEXPLAINED).exists():
            return
        text = self._headed(signature, bucket / UNEXPLAINED, program_text)
        tmp = bucket / f".{UNEXPLAINED}.{os.getpid()}.{secrets.token_hex(4)}.part"
        try:
            _write_synced(tmp, text)
            os.link(tmp, bucket / UNEXPLAINED)
        except FileExistsError:
            pass
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(bucket / UNEXPLAINED)) from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _headed(self, signature: Signature, path: Path, program_text: Text) -> str:
        """The text of a bucket's program file: its signature and how to replay it (with the
        campaign's ``--impl`` specs and baseline), then the program."""
        text = program_text() if callable(program_text) else program_text
        options = replay_options(self.meta.get("impls"), self.meta.get("baseline", DEFAULT_BASELINE))
        replay = " ".join(["unmapfuzz check", shlex.quote(str(path.absolute())), *options])
        return f"# signature: {signature}\n# replay: {replay}\n{text}"

    def _flush(self, signature, entry) -> None:
        bucket = self.findings / slug(signature)
        if bucket.is_dir():
            replace_file(bucket / self.count_name, json.dumps({"count": entry[0], "last_seen": entry[1]}))
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
        unexplained = bucket / UNEXPLAINED
        explained = bool(meta.get("explained_by_baseline")) and not unexplained.is_file()
        buckets.append({
            "signature": meta["signature"], "impl": meta["impl"], "kind": meta["kind"],
            "platform": meta["platform"], "mode": meta["mode"], "level": meta["level"],
            "count": max(count, 1), "first_seen": meta.get("first_seen"), "last_seen": last,
            "explained_by_baseline": explained, "baseline": meta.get("baseline"),
            "impls": meta.get("impls"), "died": meta.get("died"),
            "program": str(unexplained if unexplained.is_file() else bucket / "first.ops"),
            "minimized": str(bucket / "minimized.ops") if (bucket / "minimized.ops").is_file() else None,
        })
    return buckets
