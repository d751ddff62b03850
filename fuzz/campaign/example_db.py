"""The Hypothesis example database the hypothesis engine and the property tests share.

Hypothesis keeps what it found, the inputs of failing examples, in an
*example database* and replays them first on the next run.  Pointed at one
place, that database is how several machines, workers and CI runs share
findings: a failure found on one is tried first by all the others.  The
setting is one string, ``UNMAPFUZZ_HYPOTHESIS_DB`` (see :func:`database_from_spec`):

=====================================  ===================================================
(unset)                                a directory shared by everything on this machine:
                                       ``$XDG_CACHE_HOME/unmapfuzz/hypothesis``
``PATH`` or ``dir:PATH``               :class:`~hypothesis.database.DirectoryBasedExampleDatabase`
                                       (a shared file system works across machines)
``redis://HOST:PORT/DB``               :class:`~hypothesis.extra.redis.RedisExampleDatabase`
                                       (also ``rediss://``, ``unix://``; needs ``redis``)
``github:OWNER/REPO[/ARTIFACT]``       :class:`~hypothesis.database.GitHubArtifactDatabase`,
                                       read-only: the database a CI job uploaded
``readonly:SPEC``                      :class:`~hypothesis.database.ReadOnlyDatabase` of SPEC
``background:SPEC``                    :class:`~hypothesis.database.BackgroundWriteDatabase`
``memory``                             :class:`~hypothesis.database.InMemoryExampleDatabase`
``none``                               no database
``SPEC;SPEC;...``                      :class:`~hypothesis.database.MultiplexedDatabase`: saved
                                       to all, replayed from all (e.g. a local directory
                                       plus a CI artifact: ``~/db;github:me/unmapfuzz``)
=====================================  ===================================================

Hypothesis keys a test's entries by the test function, and the engine's test
function is the same for every configuration, so the engine's entries live
under a namespace of their configuration (:class:`Namespaced`): a stage-2
failure is never replayed, and found passing and deleted, by a hyp worker.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from hypothesis.database import (BackgroundWriteDatabase, DirectoryBasedExampleDatabase, ExampleDatabase,
                                 GitHubArtifactDatabase, InMemoryExampleDatabase, MultiplexedDatabase,
                                 ReadOnlyDatabase)

__all__ = ["DB_ENV", "DatabaseSpecError", "default_directory", "database_from_spec", "configured_database",
           "Namespaced"]

DB_ENV = "UNMAPFUZZ_HYPOTHESIS_DB"


class DatabaseSpecError(ValueError):
    """A database setting that names nothing Hypothesis ships, or cannot be opened."""


def default_directory() -> Path:
    """The machine-wide default: ``$XDG_CACHE_HOME/unmapfuzz/hypothesis`` (``~/.cache/...``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "unmapfuzz" / "hypothesis"


def database_from_spec(spec: str | None) -> ExampleDatabase | None:
    """The database a setting names (the table in the module docstring); raises
    :class:`DatabaseSpecError` saying what is wrong with it."""
    if spec is None or not spec.strip():
        try:
            default_directory().mkdir(parents=True, exist_ok=True)
            return DirectoryBasedExampleDatabase(default_directory())
        except OSError as exc:
            warnings.warn(f"unmapfuzz: {default_directory()}: unusable for the Hypothesis database "
                          f"({exc.strerror or exc}); keeping examples in memory", stacklevel=2)
            return InMemoryExampleDatabase()
    spec = spec.strip()
    if ";" in spec:
        parts = [database_from_spec(part) for part in spec.split(";") if part.strip()]
        return MultiplexedDatabase(*[p for p in parts if p is not None])
    kind, colon, rest = spec.partition(":")
    if spec == "none":
        return None
    if spec in ("memory", ":memory:"):
        return InMemoryExampleDatabase()
    if kind in ("redis", "rediss", "unix") and rest.startswith("//"):
        try:
            from hypothesis.extra.redis import RedisExampleDatabase
            from redis import Redis
        except ImportError:
            raise DatabaseSpecError(f"{DB_ENV}={spec}: the Redis database needs the redis package "
                                    "(pip install 'unmapfuzz[redis]')") from None
        try:
            return RedisExampleDatabase(Redis.from_url(spec))
        except ValueError as exc:
            raise DatabaseSpecError(f"{DB_ENV}={spec}: {exc}") from None
    if kind == "github" and colon:
        owner, _, repo = rest.partition("/")
        repo, _, artifact = repo.partition("/")
        if not owner or not repo:
            raise DatabaseSpecError(f"{DB_ENV}={spec}: expected github:OWNER/REPO[/ARTIFACT]")
        kwargs = {"artifact_name": artifact} if artifact else {}
        return ReadOnlyDatabase(GitHubArtifactDatabase(owner, repo, **kwargs))
    if kind in ("readonly", "background") and colon:
        inner = database_from_spec(rest)
        if inner is None:
            raise DatabaseSpecError(f"{DB_ENV}={spec}: {kind}: of no database")
        return ReadOnlyDatabase(inner) if kind == "readonly" else BackgroundWriteDatabase(inner)
    path = Path(rest if kind == "dir" and colon else spec).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)      # now, not at the first save inside a test run
        return DirectoryBasedExampleDatabase(path)
    except OSError as exc:
        raise DatabaseSpecError(f"{DB_ENV}={spec}: {path}: {exc.strerror or exc}") from None


def configured_database(namespace: str | None = None) -> ExampleDatabase | None:
    """The database ``$UNMAPFUZZ_HYPOTHESIS_DB`` names, under ``namespace`` when given."""
    db = database_from_spec(os.environ.get(DB_ENV))
    return db if db is None or namespace is None else Namespaced(db, namespace)


class Namespaced(ExampleDatabase):
    """``db`` with every key prefixed by ``namespace``: one shared database, several
    disjoint key spaces."""

    def __init__(self, db: ExampleDatabase, namespace: str) -> None:
        super().__init__()
        self.db = db
        self.prefix = namespace.encode() + b"\x00"

    def __repr__(self) -> str:
        return f"Namespaced({self.db!r}, {self.prefix[:-1].decode()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Namespaced) and (self.db, self.prefix) == (other.db, other.prefix)

    def __hash__(self) -> int:
        return hash((id(self.db), self.prefix))

    def save(self, key: bytes, value: bytes) -> None:
        self.db.save(self.prefix + key, value)

    def fetch(self, key: bytes):
        return self.db.fetch(self.prefix + key)

    def delete(self, key: bytes, value: bytes) -> None:
        self.db.delete(self.prefix + key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.db.move(self.prefix + src, self.prefix + dest, value)
