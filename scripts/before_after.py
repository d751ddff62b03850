"""Side-by-side figures of two versions of unmapfuzz: the before/after table of the README.

    git worktree add ../unmapfuzz-before 27fb2ef && make -C ../unmapfuzz-before setup
    .venv/bin/python scripts/before_after.py ../unmapfuzz-before/.venv

``unmapfuzz bench --compare`` pairs two reports of the same bench; a version
older than the bench has none, so this measures what both versions can do,
each in its own venv, alternating so that a noisy machine weighs on both
alike: the 30 s one-job atheris campaign of issue 11 and one over every
platform and mode (``summary.json``'s executions per second), ``check()`` on
the same programs (the generator's mix per platform and mode, written by this
version as ``.ops`` text, which both read), and the 1 TB teardown over 1,000
mappings.  Medians of ``--rounds`` runs.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from unmapfuzz.bench.measure import teardown_program
from unmapfuzz.generation.generator import RandomSource, draw_program
from unmapfuzz.programs import MODES, PLATFORMS, format

# Runs in either version: the module names moved with issue 10.
TIME_CHECK = r"""
import glob, json, sys, time
try:
    from unmapfuzz.programs import load
    from unmapfuzz.verdict.check import check
except ImportError:
    from fuzz.program import load
    from fuzz.check import check
programs = [load(f) for f in sorted(glob.glob(sys.argv[1] + "/*.ops"))]
started = time.perf_counter()
for p in programs:
    check(p)
print(json.dumps(time.perf_counter() - started))
"""

CAMPAIGNS = {
    "atheris campaign, arm64-4k-39/stage2, 1 job": ["--platform", "arm64-4k-39", "--mode", "stage2", "--jobs", "1"],
    "atheris campaign, all platforms and modes, 2 jobs": ["--platform", "all", "--mode", "all", "--jobs", "2"],
}


def campaign_rate(venv: Path, args: list[str], seconds: int, out: Path) -> float:
    subprocess.run([str(venv / "bin" / "unmapfuzz"), "fuzz", "--engine", "atheris", "--profile", "realistic",
                    "--time", str(seconds), "--out", str(out), "--quiet", *args],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=out.parent)
    return json.loads((out / "summary.json").read_text())["exec_per_second"]


def check_seconds(venv: Path, folder: Path) -> float:
    done = subprocess.run([str(venv / "bin" / "python"), "-c", TIME_CHECK, str(folder)],
                          capture_output=True, text=True, check=True, cwd=folder)   # no checkout on sys.path
    return json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="the venv of the earlier version")
    parser.add_argument("--after", type=Path, default=Path(sys.prefix), help="the venv of this version (default: this one)")
    parser.add_argument("--rounds", type=int, default=3, help="alternated runs of each figure (default: 3)")
    parser.add_argument("--seconds", type=int, default=30, help="--time of each campaign (default: 30)")
    parser.add_argument("--programs", type=int, default=300, help="generated programs per platform and mode (default: 300)")
    parser.add_argument("--teardowns", default="arm64-4k-39/stage2,arm32-lpae/stage2,arm64-4k-48/stage2,arm64-64k-42/stage2",
                        help="platform/mode pairs of the teardown (default: four stage-2 ones)")
    args = parser.parse_args()
    venvs = {"before": args.before.resolve(), "after": args.after.resolve()}
    rows: list[tuple[str, dict[str, float], str]] = []

    def measure(label: str, unit: str, run) -> None:
        values: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(args.rounds):
            for side, venv in venvs.items():
                values[side].append(run(venv))
        medians = {side: statistics.median(v) for side, v in values.items()}
        rows.append((label, medians, unit))
        print(f"[before-after] {label}: {values}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runs = iter(range(10**6))        # a new --out for every campaign
        for label, options in CAMPAIGNS.items():
            measure(label, "/s", lambda venv: campaign_rate(venv, options, args.seconds, work / f"c{next(runs)}"))
        for platform in PLATFORMS:
            for mode in MODES:
                folder = work / f"{platform}-{mode}"
                folder.mkdir()
                src = RandomSource(random.Random(f"bench/{platform}/{mode}"))
                for i in range(args.programs):
                    (folder / f"{i:04d}.ops").write_text(format(draw_program(src, platform, mode, "realistic")))
                measure(f"check(), generator's mix, {platform}/{mode}", "/s",
                        lambda venv: args.programs / check_seconds(venv, folder))
        for pair in filter(None, args.teardowns.split(",")):
            platform, mode = pair.split("/")
            folder = work / f"teardown-{platform}-{mode}"
            folder.mkdir()
            (folder / "teardown.ops").write_text(format(teardown_program(platform, mode, 1000)))
            measure(f"check() of a 1 TB teardown over 1,000 mappings, {pair}", "s",
                    lambda venv: check_seconds(venv, folder))

    print("| figure | before | after | speed-up |\n|---|---|---|---|")
    for label, m, unit in rows:
        before, after = m["before"], m["after"]
        speedup = after / before if unit == "/s" else before / after
        show = (lambda v: f"{v:,.0f}/s") if unit == "/s" else (lambda v: f"{v:.2f} s")
        print(f"| {label} | {show(before)} | {show(after)} | {speedup:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
