"""The harness: how much of its work went to each platform and mode (its stats file), how an
atheris worker ends (its last stats written), and each geometry's own instrumented walkers."""
import json
import os
import subprocess
import sys
from pathlib import Path

from unmapfuzz.campaign.harness import Harness
from unmapfuzz.impls import resolve_impls
from unmapfuzz.programs import Map, Program, Unmap

PAGE = 0x1000


def program(platform, mode, n):
    """A realistic program that maps page ``n`` and unmaps it (distinct for each ``n``)."""
    return Program(platform, mode, (Map("page", n * PAGE), Unmap(n * PAGE, PAGE)), "realistic")


def test_the_stats_split_programs_repeats_and_time_by_platform_and_mode(tmp_path):
    """Each program is counted under its own platform/mode; a repeat counts as a program and a
    repeat there; an invalid program counts too; the seconds are the time the harness took."""
    harness = Harness(tmp_path, resolve_impls([]), "realistic", "random")
    runs = ([program("arm64-4k-39", "stage2", n) for n in range(3)] + [program("arm64-4k-39", "stage2", 0)] +
            [program("arm32-lpae", "hyp", n) for n in range(2)] +
            [Program("arm32-lpae", "hyp", (Map("pmd", 0),), "realistic")])    # invalid: hyp maps pages only
    for p in runs:
        harness.run(p)
    harness.close()
    stats = json.loads(harness.stats_path.read_text())
    split = stats["geometries"]
    assert set(split) == {"arm64-4k-39/stage2", "arm32-lpae/hyp"}
    assert (split["arm64-4k-39/stage2"]["programs"], split["arm64-4k-39/stage2"]["repeats"]) == (4, 1)
    assert (split["arm32-lpae/hyp"]["programs"], split["arm32-lpae/hyp"]["repeats"]) == (3, 0)
    assert stats["execs"] == 7 and stats["repeats"] == 1 and stats["invalid"] == 1
    assert all(0 < g["seconds"] < 60 for g in split.values())


def test_an_atheris_worker_that_libfuzzer_ends_writes_its_last_stats(tmp_path):
    """libFuzzer ends a worker whose -runs are done with C's exit(), which skips Python's exit
    handlers: the harness is closed from a C one, so its last stats (and counts) are written."""
    config = {"out": str(tmp_path / "out"), "platform": "all", "mode": "all"}
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    proc = subprocess.run([sys.executable, "-m", "unmapfuzz.campaign.atheris_target", str(corpus), "-runs=40",
                           "-seed=1"], env=dict(os.environ, UNMAPFUZZ_CONFIG=json.dumps(config)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [path] = (tmp_path / "out" / "stats").glob("atheris.*.json")
    stats = json.loads(path.read_text())
    programs = sum(g["programs"] for g in stats["geometries"].values())
    assert stats["execs"] == programs and 30 <= programs <= 40      # an input that decodes to no program is not one


PER_GEOMETRY = r"""
import json, os, sys
from pathlib import Path
os.environ["UNMAPFUZZ_CONFIG"] = json.dumps({"out": sys.argv[1], "platform": sys.argv[2], "mode": sys.argv[3]})
from unmapfuzz.campaign import atheris_target
from unmapfuzz.impls import BUILTIN, is_builtin
from unmapfuzz.programs import load
from unmapfuzz.verdict.check import check

from unmapfuzz.programs import geometries
_, harness = atheris_target.make_test_one_input(atheris_target.load_config())
assert len(harness.impls_for) == (10 if sys.argv[2] == "all" == sys.argv[3] else 0)   # all made before libFuzzer starts
own = {(p, m): harness.impls_of(p, m) for p, m in geometries(sys.argv[2], sys.argv[3])}
own = {k: v for k, v in own.items() if v is not harness.impls}
out = {"pairs": sorted("/".join(k) for k in own), "same_verdicts": 0, "differ": []}
seen = {}
for (platform, mode), impls in own.items():
    assert set(impls) == set(BUILTIN)
    for name, fn in impls.items():
        assert fn is not BUILTIN[name] and is_builtin(fn), name
        assert "__ATHERIS_INSTRUMENTED__" in fn.__code__.co_consts, (name, platform, mode)
        assert id(fn.__code__) not in seen, (name, platform, mode, seen.get(id(fn.__code__)))
        seen[id(fn.__code__)] = (name, platform, mode)
for path in sorted(Path(sys.argv[4]).rglob("*.ops")):
    program = load(path)
    impls = own.get((program.platform, program.mode))
    if impls is None:
        continue
    mine, theirs = check(program, impls).to_json(), check(program).to_json()
    if mine == theirs:
        out["same_verdicts"] += 1
    else:
        out["differ"].append(str(path))
print(json.dumps(out))
"""


def test_each_geometry_of_an_atheris_campaign_has_its_own_instrumented_walkers(tmp_path):
    """Over several geometries, the atheris target gives each (platform, mode), before libFuzzer
    starts, its own instrumented copy of every built-in walker (libFuzzer's coverage then tells a walker's
    edge on one geometry from the same edge on another), each a built-in, and every corpus
    program gets the same verdict from the copies as from the originals."""
    corpus = Path(__file__).resolve().parent.parent / "corpus"
    proc = subprocess.run([sys.executable, "-c", PER_GEOMETRY, str(tmp_path / "out"), "all", "all", str(corpus)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert len(result["pairs"]) == 10 and not result["differ"]
    assert result["same_verdicts"] >= 50
    # One geometry: nothing to tell apart, the walkers imported (and instrumented) once serve it.
    proc = subprocess.run([sys.executable, "-c", PER_GEOMETRY, str(tmp_path / "one"), "arm64-4k-39", "stage2",
                           str(corpus)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1])["pairs"] == []
