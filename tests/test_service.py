"""The service fuzz targets (ClusterFuzzLite/OSS-Fuzz): their files, their judgement, their crashes.

The targets run here exactly as a service runs them: ``python fuzzers/NAME.py``
with plain libFuzzer flags, a corpus directory and an artifact prefix.
"""
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from unmapfuzz.campaign.crashes import CrashInputError, import_crash
from unmapfuzz.campaign.service import (TARGETS, dictionary, dictionary_words, finding_text, new_signatures,
                                        target, target_for_file, write_target_files)
from unmapfuzz.generation.seeds import program_from_input, seed_bytes
from unmapfuzz.programs import load, parse
from unmapfuzz.verdict.check import check
from unmapfuzz.verdict.signature import signatures

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
FOUND_BY_STAGE2 = CORPUS / "regressions" / "old_still-mapped_arm32-lpae_stage2_pte.ops"


def run(cmd, cwd, env=None, **kw):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, **kw)


def test_every_fuzzer_file_is_a_target_and_runs_its_own_name():
    """fuzzers/*_fuzzer.py and the TARGETS table name the same targets, each file its own."""
    files = sorted(p.stem for p in (ROOT / "fuzzers").glob("*.py"))
    assert files == sorted(TARGETS)
    for name in files:
        assert f'main("{name}", sys.argv)' in (ROOT / "fuzzers" / f"{name}.py").read_text()


def test_a_clusterfuzz_testcase_name_names_its_target():
    """A ClusterFuzz testcase file names its target; a plain libFuzzer crash file names none."""
    assert target_for_file("clusterfuzz-testcase-minimized-unmap_hyp_fuzzer-5712").name == "unmap_hyp_fuzzer"
    assert target_for_file("crash-0123abcd") is None
    with pytest.raises(LookupError, match="there are: unmap_stage2_fuzzer"):
        target("unmap_nothing_fuzzer")


@pytest.mark.parametrize("path", sorted(CORPUS.rglob("*.ops")), ids=lambda p: p.name)
def test_program_from_input_inverts_seed_bytes(path):
    """Every corpus program encoded for the adversarial target decodes back to its own platform, mode and ops."""
    t = target("unmap_adversarial_fuzzer")
    program = load(path)
    decoded = program_from_input(seed_bytes(program, t.platform, t.mode), t.platform, t.mode, t.profile, 255)
    assert (decoded.platform, decoded.mode, decoded.ops) == (program.platform, program.mode, program.ops)


def test_an_empty_input_is_no_program_when_the_first_byte_selects():
    """With several (platform, mode) pairs an empty input has no selector byte, so no program."""
    assert program_from_input(b"", "all", "stage2", "realistic", 12) is None
    assert program_from_input(b"", "arm64-4k-39", "stage2", "realistic", 12) is not None


def test_new_signatures_leave_out_the_documented_divergences(tmp_path):
    """A known divergence is not new under the packaged list, and is under an empty one."""
    verdict = check(load(FOUND_BY_STAGE2), profile="realistic")
    assert signatures(verdict)
    assert new_signatures(verdict, "realistic") == []
    empty = tmp_path / "known.txt"
    empty.write_text("# nothing is known\n")
    assert new_signatures(verdict, "realistic", empty) == signatures(verdict)


def test_finding_text_is_a_replayable_reproducer():
    """The message a service shows parses as the same program, and names each signature."""
    verdict = check(load(FOUND_BY_STAGE2), profile="realistic")
    sigs = signatures(verdict)
    text = finding_text(verdict, sigs, "unmap_stage2_fuzzer")
    assert parse(text).ops == verdict.program.ops
    for sig in sigs:
        assert f"# signature: {sig} (new)" in text


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_dictionary_is_libfuzzer_syntax_with_the_boundaries(name):
    """Every entry is name="\\xNN..." with a distinct value, and the boundaries of the target's platforms are in it."""
    t = TARGETS[name]
    lines = [line for line in dictionary(t).splitlines() if line and not line.startswith("#")]
    assert lines and all(re.fullmatch(r'[A-Za-z0-9_]+="(\\x[0-9a-f]{2})+"', line) for line in lines)
    values = list(dictionary_words(t).values())
    assert len(values) == len(set(values))
    assert (512 << 30).to_bytes(8, "little") in values          # arm64-4k-39's pgd_index() alias
    assert ((1 << 64) - 4096).to_bytes(8, "little") in values   # the top page: end == 0


def test_seed_corpus_zip_holds_the_programs_that_fit(tmp_path):
    """The seed zip of the hyp target decodes to exactly the hyp programs of the corpus."""
    t = target("unmap_hyp_fuzzer")
    files = write_target_files(t, [CORPUS], tmp_path)
    with zipfile.ZipFile(files["seed_corpus"]) as z:
        decoded = sorted(str(program_from_input(z.read(n), t.platform, t.mode, "adversarial", 255).ops)
                         for n in z.namelist())
    expected = sorted(str(p.ops) for p in map(load, CORPUS.rglob("*.ops")) if p.mode == "hyp")
    assert decoded and decoded == expected
    assert files["dict"].read_text() == dictionary(t)


def _seeded(tmp_path, name, programs):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    t = target(name)
    for i, path in enumerate(programs):
        data = seed_bytes(load(path), t.platform, t.mode)
        if data is not None:
            (corpus / f"seed{i}").write_bytes(data)
    assert list(corpus.iterdir())
    return corpus


def test_target_runs_under_the_service_flags(tmp_path):
    """The stage-2 target runs its seeds and 300 mutations under -runs, -max_total_time, -dict and
    -artifact_prefix, and leaves no crash: the corpus shows only documented divergences."""
    corpus = _seeded(tmp_path, "unmap_stage2_fuzzer", sorted(CORPUS.rglob("*.ops"))[:8])
    (tmp_path / "art").mkdir()
    write_target_files(target("unmap_stage2_fuzzer"), [CORPUS], tmp_path / "svc")
    proc = run([sys.executable, str(ROOT / "fuzzers" / "unmap_stage2_fuzzer.py"), str(corpus), "-runs=300",
                "-max_total_time=300", "-timeout=25", "-rss_limit_mb=2560", "-seed=1",
                f"-dict={tmp_path / 'svc' / 'unmap_stage2_fuzzer.dict'}", f"-artifact_prefix={tmp_path / 'art'}/"],
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 300 runs" in proc.stderr
    assert "Dictionary: " in proc.stderr
    assert not (tmp_path / "art").exists() or not list((tmp_path / "art").iterdir())


def test_a_new_finding_crashes_the_target_and_comes_back_as_a_bucket(tmp_path):
    """Under a known list that lists nothing, a seed with a finding crashes the target; `unmapfuzz crash`
    turns the crash input into the same program, a bucket with a minimised reproducer, counted once."""
    corpus = _seeded(tmp_path, "unmap_stage2_fuzzer", [FOUND_BY_STAGE2])
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    art = tmp_path / "art"
    art.mkdir()
    proc = run([sys.executable, str(ROOT / "fuzzers" / "unmap_stage2_fuzzer.py"), str(corpus), "-runs=100",
                f"-artifact_prefix={art}/"], cwd=tmp_path, env={"UNMAPFUZZ_KNOWN": str(empty)})
    assert proc.returncode != 0
    shown = proc.stdout + proc.stderr            # atheris prints the exception to stdout, libFuzzer to stderr
    assert "NewFinding" in shown and "# signature: old/still-mapped/arm32-lpae/stage2/pte (new)" in shown
    crashes = list(art.glob("crash-*"))
    assert len(crashes) == 1

    cmd = [sys.executable, "-m", "unmapfuzz", "crash", "--target", "unmap_stage2_fuzzer", str(crashes[0]),
           "--out", str(tmp_path / "camp"), "--known", str(empty)]
    for _ in range(2):                                   # a second import counts nothing more
        imported = run(cmd, cwd=tmp_path)
        assert imported.returncode == 1, imported.stderr
    assert parse(imported.stdout).ops == load(FOUND_BY_STAGE2).ops
    bucket = tmp_path / "camp" / "findings" / "old__still-mapped__arm32-lpae__stage2__pte"
    assert (bucket / "minimized.ops").is_file()
    assert "# signature: old/still-mapped/arm32-lpae/stage2/pte" in (bucket / "minimized.ops").read_text()
    counts = [json.loads(f.read_text())["count"] for f in bucket.glob("count.*.json")]
    assert counts == [1]


def test_crash_import_errors_are_one_line_exit_2(tmp_path):
    """No target in the name, an empty input and a missing file each exit 2 with one line naming the file."""
    (tmp_path / "crash-00").write_bytes(b"")
    for args in (["crash-00"], ["--target", "unmap_hyp_fuzzer", "crash-00"],
                 ["--target", "unmap_hyp_fuzzer", "missing"]):
        proc = run([sys.executable, "-m", "unmapfuzz", "crash", *args], cwd=tmp_path)
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1 and args[-1] in proc.stderr and "Traceback" not in proc.stderr


def test_import_crash_of_an_input_that_shows_nothing(tmp_path):
    """A crash input whose program is clean now (a fixed bug) imports with no signature and no bucket."""
    t = target("unmap_stage2_fuzzer")
    clean = parse("platform arm64-4k-39\nmode stage2\nmap page 0x1000\nunmap 0x1000 0x1000\n")
    (tmp_path / "crash-1").write_bytes(seed_bytes(clean, t.platform, t.mode))
    result = import_crash(tmp_path / "crash-1", t, tmp_path / "camp")
    assert result.shown == [] and result.buckets == []
    with pytest.raises(CrashInputError, match="cannot read"):
        import_crash(tmp_path / "nope", t)


def test_build_sh_dry_run_builds_and_runs_every_target(tmp_path):
    """build.sh, run as the service runs it with a stand-in compile_python_fuzzer, builds every target with
    its package data, seed corpus and dictionary, and each runs under the service's flags."""
    out = tmp_path / "out"
    proc = run(["bash", str(ROOT / ".clusterfuzzlite" / "dry-run"), str(out)], cwd=tmp_path,
               env={"RUNS": "30", "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in TARGETS:
        assert (out / f"{name}_seed_corpus.zip").is_file() and (out / f"{name}.dict").is_file()
        args = (out / f"{name}.pyinstaller-args").read_text().split()
        assert "--collect-data" in args and "unmapfuzz.corpus" in args
        done = re.search(r"Done (\d+) runs", (out / f"{name}.run.log").read_text())
        assert done and int(done.group(1)) >= 30       # libFuzzer runs every seed first, then -runs
    assert "pip install --no-deps ." in (out / "pip-commands").read_text()
