"""Merging campaign directories run anywhere into one.

``unmapfuzz merge A B ... -o OUT`` folds the output directories of campaigns
run on other machines (or a service's crash inputs, once ``unmapfuzz crash
--out`` made buckets of them) into ``OUT``, which may be new, a campaign of
its own, or the result of an earlier merge.

What each part becomes
----------------------

- **Buckets** are united by directory name (the signature's slug).  The
  bucket layout grows, so a bucket is merged file by file, generically:
  ``count.ID.json`` files are kept side by side, never added up, and a
  count file of the campaign that wrote it (``count.<pid>.json``) is renamed
  ``count.<pid>@<origin>.json`` on the way, because pids repeat across
  machines; of two copies of one count file the larger count wins, so a
  campaign that went on counting since the last merge brings its new count.
  ``meta.json`` is merged key by key: ``first_seen`` is the earliest,
  ``last_seen`` the latest, and every other key comes from the earliest
  occurrence.  Files whose names start with ``first`` (``first.ops``, and
  whatever the bucket grows, like ``first-new.ops``) come from the earliest
  occurrence too.  ``minimized.ops`` is the smaller reproducer (fewer ops,
  then shorter text).  Any other file is copied when missing; when two
  differ, ``OUT`` keeps its own and the other is kept beside it as
  ``NAME.from-<origin>.EXT``.
- **The log** (``log.jsonl``) becomes the union of every line, each tagged
  with the ``campaign`` (origin) it came from, sorted by time; the same line
  arriving twice is kept once.
- **Per-campaign records**: each campaign's own ``summary.json``, ``stats/``,
  ``workers/`` and ``artifacts/`` are kept under ``OUT/campaigns/<origin>/``
  (newer file wins).
- **Corpora** (``corpus/<platform>-<mode>-<profile>/``) are merged by
  libFuzzer's own ``-merge=1`` with the instrumented target of that
  configuration: an input joins ``OUT``'s corpus when it adds coverage.
- **The summary** is recomputed from all of that: totals over the campaigns,
  the buckets with their counts, known or new.

Origins
-------

A campaign directory is known by an *origin* id that stays the same however
often it is merged: the hash of its log's first line (the campaign's ``start``
event, with its microsecond timestamp and pid), or, once it has been a merge
output, the id its ``merge.json`` records.

Re-running and interruption
---------------------------

Every step writes whole files by rename (a new bucket is built in a hidden
directory and renamed into place) and every rule above is idempotent, so
merging the same sources again changes nothing, and a merge killed at any
point leaves every finding readable and is finished by running it again.
``OUT`` must not be a directory a campaign is running in.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from unmapfuzz.atomic import atomic_write

from .runs import geometry_totals

__all__ = ["MergeError", "MergeResult", "merge", "origin_of", "merge_bucket", "merge_logs", "merged_summary"]

MANIFEST = "merge.json"
CAMPAIGNS = "campaigns"
# Top-level entries with rules of their own; anything else of a campaign goes to campaigns/<origin>/.
_HANDLED = {"findings", "corpus", "log.jsonl", "summary.json", MANIFEST, CAMPAIGNS, "report.html"}
_TMP_PREFIX = ".merge-"


class MergeError(ValueError):
    """A source or the output cannot be merged; ``str()`` says ``PATH: why``."""


@dataclass
class MergeResult:
    out: Path
    origin: str
    sources: dict[str, str] = field(default_factory=dict)      # origin -> path
    buckets_created: int = 0
    buckets_updated: int = 0
    log_lines: int = 0
    log_lines_skipped: int = 0
    corpus_added: dict[str, int] = field(default_factory=dict)  # configuration -> inputs added

    def line(self) -> str:
        corpus = ", ".join(f"{k} +{v}" for k, v in sorted(self.corpus_added.items())) or "none"
        skipped = f" ({self.log_lines_skipped} unreadable lines skipped)" if self.log_lines_skipped else ""
        return (f"merged {len(self.sources)} campaign(s) into {self.out}: {self.buckets_created} new bucket(s), "
                f"{self.buckets_updated} updated; log {self.log_lines} lines{skipped}; corpus {corpus}")


# -- origins -------------------------------------------------------------------------------

def _digest(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()[:12]


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _native_origin(directory: Path) -> str | None:
    """The hash of the first line of the directory's log, or None without a log."""
    try:
        with open(directory / "log.jsonl", "rb") as f:
            for line in f:
                if line.strip():
                    return _digest(line.strip())
    except OSError:
        return None
    return None


def origin_of(directory: Path) -> str:
    """The origin id of a campaign directory (see the module docstring)."""
    manifest = _read_json(Path(directory) / MANIFEST)
    if manifest and isinstance(manifest.get("origin"), str):
        return manifest["origin"]
    return _native_origin(Path(directory)) or _digest(str(Path(directory).resolve()))


def _is_merge_output(directory: Path) -> bool:
    return (directory / MANIFEST).is_file()


# -- buckets -------------------------------------------------------------------------------

def _qualified_count_name(name: str, origin: str) -> str:
    """``count.<pid>.json`` of a campaign -> ``count.<pid>@<origin>.json``; qualified names stay."""
    ident = name[len("count."):-len(".json")]
    return name if "@" in ident else f"count.{ident}@{origin}.json"


def _is_count_file(name: str) -> bool:
    return name.startswith("count.") and name.endswith(".json")


def _count_key(path: Path) -> tuple:
    data = _read_json(path) or {}
    return (data.get("count", 0), data.get("last_seen", 0))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def _copy_atomic(src: Path, dst: Path) -> None:
    atomic_write(dst, src.read_bytes())


def _reproducer_key(path: Path) -> tuple:
    """Smaller is better: (ops, characters); an unreadable reproducer is the largest."""
    from unmapfuzz.programs import ProgramError, parse
    try:
        text = path.read_text()
        return (len(parse(text, str(path)).ops), len(text))
    except (OSError, UnicodeDecodeError, ProgramError):
        return (float("inf"), float("inf"))


def _first_seen(meta: dict | None) -> float:
    value = (meta or {}).get("first_seen")
    return value if isinstance(value, (int, float)) else float("inf")


def merged_meta(ours: dict, theirs: dict) -> dict:
    """``meta.json`` of two occurrences of one bucket, key by key: ``first_seen`` the
    earliest, ``last_seen`` the latest, any other key from the earlier occurrence
    (filled in from the later one where the earlier lacks it)."""
    earlier, later = (theirs, ours) if _first_seen(theirs) < _first_seen(ours) else (ours, theirs)
    merged = dict(later)
    merged.update(earlier)
    if "first_seen" in ours or "first_seen" in theirs:
        merged["first_seen"] = min(_first_seen(ours), _first_seen(theirs))
    if "last_seen" in ours or "last_seen" in theirs:
        merged["last_seen"] = max(ours.get("last_seen") or 0, theirs.get("last_seen") or 0)
    return merged


def _conflict_name(name: str, origin: str) -> str:
    stem, dot, ext = name.partition(".")
    return f"{stem}.from-{origin}{dot}{ext}"


def _merge_tree(src: Path, dst: Path, origin: str, src_earlier: bool) -> bool:
    """Merge the files of bucket directory ``src`` into the existing ``dst``; True when
    anything changed.  ``meta.json`` is left to the caller (it is written last)."""
    changed = False
    for entry in sorted(src.iterdir()):
        name = entry.name
        if name.startswith(".") or name == "meta.json":
            continue
        if entry.is_dir():
            target = dst / name
            if not target.exists():
                _copy_dir_atomic(entry, target, origin)
                changed = True
            elif target.is_dir():
                changed |= _merge_tree(entry, target, origin, src_earlier)
            continue
        if _is_count_file(name):
            target = dst / _qualified_count_name(name, origin)
            if not target.exists() or (_count_key(entry) > _count_key(target) and not _same_file(entry, target)):
                _copy_atomic(entry, target)
                changed = True
            continue
        target = dst / name
        if not target.exists():
            _copy_atomic(entry, target)
            changed = True
        elif _same_file(entry, target):
            continue
        elif name == "minimized.ops":
            if _reproducer_key(entry) < _reproducer_key(target):
                _copy_atomic(entry, target)
                changed = True
        elif name.startswith("first"):
            if src_earlier:
                _copy_atomic(entry, target)
                changed = True
        else:
            other = dst / _conflict_name(name, origin)
            if not other.exists() or not _same_file(entry, other):
                _copy_atomic(entry, other)
                changed = True
    return changed


def _copy_dir_atomic(src: Path, dst: Path, origin: str) -> None:
    """Copy directory ``src`` to the absent ``dst`` in one rename, qualifying count files."""
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=_TMP_PREFIX))
    for entry in sorted(src.rglob("*")):
        rel = entry.relative_to(src)
        if any(part.startswith(".") for part in rel.parts):
            continue
        target = tmp / rel
        if entry.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            if _is_count_file(entry.name):
                target = target.with_name(_qualified_count_name(entry.name, origin))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(entry, target)
    try:
        os.rename(tmp, dst)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def merge_bucket(src: Path, dst: Path, origin: str) -> str | None:
    """Merge bucket ``src`` (of campaign ``origin``) into ``dst``: ``"created"``,
    ``"updated"``, or None when ``dst`` already held everything."""
    theirs = _read_json(src / "meta.json")
    if theirs is None:                              # an incomplete bucket: nothing to merge yet
        return None
    if not dst.exists():
        try:
            _copy_dir_atomic(src, dst, origin)
            return "created"
        except OSError:
            if not dst.exists():
                raise
    ours = _read_json(dst / "meta.json") or {}
    src_earlier = _first_seen(theirs) < _first_seen(ours)
    changed = _merge_tree(src, dst, origin, src_earlier)
    meta = merged_meta(ours, theirs)
    if meta != ours:
        atomic_write(dst / "meta.json", json.dumps(meta, indent=1, sort_keys=True))
        changed = True
    return "updated" if changed else None


# -- the log -------------------------------------------------------------------------------

def _log_lines(path: Path, origin: str) -> tuple[list[dict], int]:
    """Every event of a log with its ``campaign`` set (kept if it has one), and the
    number of lines that are not JSON objects (a writer killed mid-line)."""
    events, skipped = [], 0
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for raw in f:
                if not raw.strip():
                    continue
                try:
                    event = json.loads(raw)
                except ValueError:
                    skipped += 1
                    continue
                if not isinstance(event, dict):
                    skipped += 1
                    continue
                event.setdefault("campaign", origin)
                events.append(event)
    except FileNotFoundError:
        pass
    return events, skipped


def merge_logs(parts: list[tuple[Path, str]], out: Path) -> tuple[int, int]:
    """Write ``out`` as the union of the logs ``(path, origin)``, each line once,
    ordered by timestamp; return (lines, unreadable lines skipped)."""
    seen: dict[str, str] = {}
    skipped = 0
    for path, origin in parts:
        events, bad = _log_lines(path, origin)
        skipped += bad
        for event in events:
            line = json.dumps(event, sort_keys=True)
            seen.setdefault(line, str(event.get("timestamp", "")))
    ordered = sorted(seen, key=lambda line: (seen[line], line))
    text = "".join(line + "\n" for line in ordered)
    try:
        current = out.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current != text:
        atomic_write(out, text)
    return len(ordered), skipped


# -- per-campaign records ----------------------------------------------------------------------

def _snapshot(src: Path, dst: Path) -> None:
    """Copy file or tree ``src`` to ``dst``, each file by rename, a newer file replacing an older."""
    files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
    for f in files:
        rel = f.relative_to(src) if src.is_dir() else Path()
        target = dst / rel if src.is_dir() else dst
        if any(part.startswith(".") for part in rel.parts):
            continue
        try:
            if target.exists() and target.stat().st_mtime >= f.stat().st_mtime:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy_atomic(f, target)
            os.utime(target, (f.stat().st_atime, f.stat().st_mtime))
        except OSError:
            continue        # a file a running campaign replaced under us: the next merge takes it


def _keep_campaign_records(directory: Path, origin: str, out: Path) -> None:
    """Keep ``directory``'s own records (not its buckets, corpus or log) in
    ``out/campaigns/<origin>/``, and, for a merge output, the records it keeps."""
    if directory.resolve() != out.resolve() and (directory / CAMPAIGNS).is_dir():
        for record in sorted((directory / CAMPAIGNS).iterdir()):
            if record.is_dir() and not record.name.startswith("."):
                _snapshot(record, out / CAMPAIGNS / record.name)
    summary = _read_json(directory / "summary.json")
    if summary is not None and not summary.get("merged"):
        _snapshot(directory / "summary.json", out / CAMPAIGNS / origin / "summary.json")
    for entry in sorted(directory.iterdir()):
        if entry.name in _HANDLED or entry.name.startswith("."):
            continue
        _snapshot(entry, out / CAMPAIGNS / origin / entry.name)


# -- corpora --------------------------------------------------------------------------------

def _configuration(name: str) -> tuple[str, str, str] | None:
    """``arm64-4k-39-stage2-realistic`` -> (platform, mode, profile)."""
    parts = name.rsplit("-", 2)
    return tuple(parts) if len(parts) == 3 and all(parts) else None


def merge_corpus(name: str, sources: list[Path], out: Path) -> int:
    """libFuzzer's ``-merge=1`` of the corpus directories ``sources`` into ``out``
    (configuration ``name``); return how many inputs it added."""
    cfg = _configuration(name)
    if cfg is None:
        raise MergeError(f"{out}: cannot tell the configuration of corpus {name!r} (PLATFORM-MODE-PROFILE)")
    sources = [s for s in sources if s.is_dir() and any(s.iterdir())]
    if not sources:
        return 0
    out.mkdir(parents=True, exist_ok=True)
    out, sources = out.resolve(), [s.resolve() for s in sources]     # libFuzzer runs in a scratch directory
    before = {p.name for p in out.iterdir()}
    from .harness import CONFIG_ENV
    with tempfile.TemporaryDirectory(prefix="unmapfuzz-merge-") as scratch:
        env = dict(os.environ)
        env[CONFIG_ENV] = json.dumps({"out": scratch, "platform": cfg[0], "mode": cfg[1], "profile": cfg[2]})
        cmd = [sys.executable, "-m", "unmapfuzz.campaign.atheris_target", "-merge=1", "-timeout=30",
               "-rss_limit_mb=4096", f"-artifact_prefix={scratch}{os.sep}", str(out), *map(str, sources)]
        proc = subprocess.run(cmd, env=env, cwd=scratch, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        log = out.parent.parent / f"merge-{name}.log"
        log.write_bytes(proc.stdout)
        raise MergeError(f"{out}: libFuzzer -merge=1 exited {proc.returncode} (its output: {log})")
    return len({p.name for p in out.iterdir()} - before)


# -- the summary ------------------------------------------------------------------------------

def _joined(values) -> str:
    seen = []
    for v in values:
        if v is not None and str(v) not in seen:
            seen.append(str(v))
    return ",".join(seen)


def bucket_is_known(bucket: dict, known: str | None) -> bool:
    """Whether a bucket (from :func:`~unmapfuzz.campaign.store.read_buckets`) is a
    documented divergence, judged under the profile of its first program."""
    from unmapfuzz.programs import ProgramError, load
    from unmapfuzz.verdict.known import is_known, load_known
    try:
        profile = load(bucket["program"]).profile or "realistic"
    except (ProgramError, OSError):
        profile = "realistic"
    return is_known(bucket["signature"], load_known(known, profile=profile))


def merged_summary(out: Path, origin: str, known: str | None = None) -> dict:
    """``summary.json`` of a merge output: the campaigns kept in ``campaigns/``, their
    totals, and every bucket with its counts, known or new."""
    from .store import read_buckets
    campaigns = []
    for record in sorted((out / CAMPAIGNS).glob("*/summary.json")):
        s = _read_json(record)
        if s is not None:
            campaigns.append(dict({k: v for k, v in s.items() if k not in ("buckets", "known", "new")},
                                  origin=record.parent.name))
    buckets = read_buckets(out)
    for b in buckets:
        b["known"] = bucket_is_known(b, known)
    elapsed = sum(c.get("elapsed_seconds") or 0 for c in campaigns)
    executions = sum(c.get("executions") or 0 for c in campaigns)
    return {
        "merged": True, "origin": origin,
        "engine": _joined(c.get("engine") for c in campaigns),
        "platform": _joined(c.get("platform") for c in campaigns),
        "mode": _joined(c.get("mode") for c in campaigns),
        "profile": _joined(c.get("profile") for c in campaigns),
        "jobs": sum(c.get("jobs") or 0 for c in campaigns),
        "seed": _joined(c.get("seed") for c in campaigns),
        "executions": executions,
        "invalid": sum(c.get("invalid") or 0 for c in campaigns),
        "coverage": max([c.get("coverage") or 0 for c in campaigns], default=0),
        "elapsed_seconds": round(elapsed, 1),          # campaign seconds, summed
        "exec_per_second": round(executions / elapsed, 1) if elapsed > 0 else 0.0,
        "geometries": geometry_totals(campaigns),
        "finished": all(c.get("finished") for c in campaigns),
        "campaigns": campaigns,
        "buckets": buckets,
        "known": [b["signature"] for b in buckets if b["known"]],
        "new": [b["signature"] for b in buckets if not b["known"]],
    }


# -- the merge ---------------------------------------------------------------------------------

def _looks_like_a_campaign(directory: Path) -> bool:
    return any((directory / name).exists() for name in ("findings", "log.jsonl", "summary.json", "corpus"))


def _check_sources(sources: list[Path], out: Path) -> list[Path]:
    checked = []
    resolved_out = out.resolve()
    for src in sources:
        if not src.is_dir():
            raise MergeError(f"{src}: no such campaign directory")
        if not _looks_like_a_campaign(src):
            raise MergeError(f"{src}: not a campaign directory (no findings/, log.jsonl, summary.json or corpus/)")
        r = src.resolve()
        if r == resolved_out:
            continue                                # OUT is merged into itself anyway
        if resolved_out.is_relative_to(r) or r.is_relative_to(resolved_out):
            raise MergeError(f"{src}: a source and the output may not contain each other ({out})")
        if r not in [c.resolve() for c in checked]:
            checked.append(src)
    return checked


def _manifest(out: Path) -> dict:
    """``out/merge.json``, created first (with ``out``'s origin) so that a merge killed
    at any later point finds the same origin when it is run again."""
    manifest = _read_json(out / MANIFEST)
    if manifest is None or not isinstance(manifest.get("origin"), str):
        manifest = {"origin": _native_origin(out) or secrets.token_hex(6), "sources": {}}
        atomic_write(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def merge(sources: list[Path], out: Path, *, known: str | None = None, corpus: bool = True) -> MergeResult:
    """Merge the campaign directories ``sources`` into ``out`` (see the module docstring)."""
    out = Path(out)
    sources = _check_sources([Path(s) for s in sources], out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "findings").mkdir(exist_ok=True)
    except OSError as exc:
        raise MergeError(f"{out}: cannot create: {exc.strerror or exc}") from None
    for stale in (out / "findings").glob(_TMP_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)     # a killed merge's half-built bucket
    manifest = _manifest(out)
    origin = manifest["origin"]
    result = MergeResult(out, origin)
    origins = [(src, origin_of(src)) for src in sources]

    # Records first: out's own summary must be kept before the merged one replaces it.
    _keep_campaign_records(out, origin, out)
    for src, src_origin in origins:
        _keep_campaign_records(src, src_origin, out)
        result.sources[src_origin] = str(src)

    for src, src_origin in origins:
        findings = src / "findings"
        if not findings.is_dir():
            continue
        for bucket in sorted(findings.iterdir()):
            if bucket.name.startswith(".") or not bucket.is_dir():
                continue
            outcome = merge_bucket(bucket, out / "findings" / bucket.name, src_origin)
            if outcome == "created":
                result.buckets_created += 1
            elif outcome == "updated":
                result.buckets_updated += 1

    result.log_lines, result.log_lines_skipped = merge_logs(
        [(out / "log.jsonl", origin)] + [(src / "log.jsonl", o) for src, o in origins], out / "log.jsonl")

    if corpus:
        names = sorted({d.name for src, _ in origins if (src / "corpus").is_dir()
                        for d in (src / "corpus").iterdir() if d.is_dir() and not d.name.startswith(".")})
        for name in names:
            added = merge_corpus(name, [src / "corpus" / name for src, _ in origins], out / "corpus" / name)
            result.corpus_added[name] = added

    recorded = dict(manifest.get("sources") or {})
    for src_origin, path in result.sources.items():
        recorded.setdefault(src_origin, path)
    if recorded != manifest.get("sources"):
        atomic_write(out / MANIFEST, json.dumps(dict(manifest, sources=recorded), indent=1, sort_keys=True))

    summary = json.dumps(merged_summary(out, origin, known), indent=1)
    try:
        current = (out / "summary.json").read_text()
    except OSError:
        current = None
    if current != summary:
        atomic_write(out / "summary.json", summary)
    return result
