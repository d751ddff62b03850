"""The Hypothesis example database setting, and the engine and property tests sharing what they found."""
import json
import time
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.database import (BackgroundWriteDatabase, DirectoryBasedExampleDatabase, InMemoryExampleDatabase,
                                 MultiplexedDatabase, ReadOnlyDatabase)

from unmapfuzz.campaign import workers
from unmapfuzz.campaign.example_db import (DB_ENV, DatabaseSpecError, Namespaced, configured_database,
                                           database_from_spec, default_directory)
from unmapfuzz.campaign.store import read_buckets
from unmapfuzz.programs import load


def test_each_spec_names_the_database_hypothesis_ships(tmp_path):
    """Paths, memory, none, readonly:, background:, github: and SPEC;SPEC give the matching Hypothesis classes."""
    assert isinstance(database_from_spec(str(tmp_path / "db")), DirectoryBasedExampleDatabase)
    assert database_from_spec(f"dir:{tmp_path / 'db'}").path == tmp_path / "db"
    assert isinstance(database_from_spec("memory"), InMemoryExampleDatabase)
    assert database_from_spec("none") is None
    assert isinstance(database_from_spec("readonly:memory"), ReadOnlyDatabase)
    assert isinstance(database_from_spec("background:memory"), BackgroundWriteDatabase)
    github = database_from_spec("github:someone/unmapfuzz/hypothesis-db")
    assert repr(github) == ("ReadOnlyDatabase(GitHubArtifactDatabase(owner='someone', repo='unmapfuzz', "
                            "artifact_name='hypothesis-db'))")
    both = database_from_spec(f"{tmp_path / 'db'};memory")
    assert isinstance(both, MultiplexedDatabase)
    assert repr(both) == f"MultiplexedDatabase({DirectoryBasedExampleDatabase(tmp_path / 'db')!r}, InMemoryExampleDatabase({{}}))"


def test_redis_urls_give_the_redis_database():
    """A redis:// URL is Hypothesis's Redis database over that server (no connection until used)."""
    pytest.importorskip("redis")
    from hypothesis.extra.redis import RedisExampleDatabase
    db = database_from_spec("redis://127.0.0.1:6379/3")
    assert isinstance(db, RedisExampleDatabase)
    assert db.redis.connection_pool.connection_kwargs["db"] == 3


def test_bad_specs_say_what_is_wrong(tmp_path):
    """A github: spec without a repository and a directory that cannot be made are errors naming the setting."""
    with pytest.raises(DatabaseSpecError, match="github:OWNER/REPO"):
        database_from_spec("github:someone")
    (tmp_path / "file").write_text("")
    with pytest.raises(DatabaseSpecError, match=DB_ENV):
        database_from_spec(str(tmp_path / "file" / "db"))


def test_the_default_is_a_shared_directory(tmp_path, monkeypatch):
    """Unset, the setting is one directory every checkout and worker on the machine uses."""
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_directory() == tmp_path / "unmapfuzz" / "hypothesis"
    assert configured_database().path == default_directory()


def test_namespaces_keep_configurations_apart():
    """Entries saved under one namespace are invisible under another, in one shared database."""
    shared = InMemoryExampleDatabase()
    stage2, hyp = Namespaced(shared, "stage2"), Namespaced(shared, "hyp")
    stage2.save(b"k", b"v")
    assert list(stage2.fetch(b"k")) == [b"v"] and list(hyp.fetch(b"k")) == []
    stage2.move(b"k", b"k2", b"v")
    assert list(stage2.fetch(b"k2")) == [b"v"]
    stage2.delete(b"k2", b"v")
    assert list(stage2.fetch(b"k2")) == []


@pytest.fixture
def restore_profile():
    yield
    from unmapfuzz.campaign.properties import load_profile
    load_profile()


def test_the_profiles_use_the_setting(tmp_path, monkeypatch, restore_profile):
    """dev uses the configured database; ci stays derandomised without one unless a database is named."""
    from unmapfuzz.campaign.properties import load_profile
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    load_profile("dev")
    assert settings().database.path == tmp_path / "unmapfuzz" / "hypothesis"
    load_profile("ci")
    assert settings().database is None and settings().derandomize
    monkeypatch.setenv(DB_ENV, str(tmp_path / "ci-db"))
    load_profile("ci")
    assert settings().database.path == tmp_path / "ci-db" and not settings().derandomize


def test_a_new_finding_of_the_engine_is_replayed_by_the_next_worker(tmp_path, monkeypatch):
    """A finding the hypothesis engine calls new is saved in the shared database, and another worker with
    another seed and another output directory records it in its first execution."""
    monkeypatch.setenv(DB_ENV, str(tmp_path / "db"))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    base = {"platform": "arm64-4k-39", "mode": "stage2", "profile": "realistic", "impls": [],
            "deadline": time.time() + 300, "known": str(empty)}
    workers.run_hypothesis(dict(base, out=str(tmp_path / "first"), seed=1, runs=100))
    found = {b["signature"]: load(b["program"]).ops for b in read_buckets(tmp_path / "first")}
    assert found and any((tmp_path / "db").rglob("*"))
    second = workers.run_hypothesis(dict(base, out=str(tmp_path / "second"), seed=99, runs=1))
    assert second.execs == 1
    replayed = read_buckets(tmp_path / "second")
    assert replayed and all(load(b["program"]).ops == found[b["signature"]] for b in replayed)


def test_known_findings_are_not_saved(tmp_path, monkeypatch):
    """Under the packaged known list the engine's findings are all known, and nothing goes to the database."""
    monkeypatch.setenv(DB_ENV, str(tmp_path / "db"))
    cfg = {"platform": "arm64-4k-39", "mode": "stage2", "profile": "realistic", "impls": [],
           "deadline": time.time() + 300, "out": str(tmp_path / "out"), "seed": 1, "runs": 100}
    harness = workers.run_hypothesis(cfg)
    assert harness.execs >= 100 and read_buckets(tmp_path / "out")
    assert not [p for p in (tmp_path / "db").rglob("*") if p.is_file()]


def test_fuzz_rejects_a_bad_database_setting_before_any_worker_starts(tmp_path, monkeypatch, capsys):
    """`fuzz --engine hypothesis` with an unusable database setting exits 2 with one line naming it."""
    from unmapfuzz.cli.main import main
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(DB_ENV, str(tmp_path / "file" / "db"))
    assert main(["fuzz", "--engine", "hypothesis", "--out", str(tmp_path / "out"), "--time", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and DB_ENV in err
    assert not (tmp_path / "out").exists()
