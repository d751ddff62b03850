"""The harness's stats file: how much of its work went to each platform and mode."""
import json
import os
import subprocess
import sys

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
