"""Per-design speed-ups of issue 11, side by side in one process, on one recorded campaign stream.

    .venv/bin/python scripts/per_design.py                 # arm64-4k-39/stage2, the criterion's geometry

First it records what a real one-job atheris worker executes: the worker as a
campaign starts it (``unmapfuzz.campaign.atheris_target``, instrumented,
seeded from ``corpus/``), run for ``--runs`` libFuzzer executions, every input
written down in order (repeats included).  Then, in this process and
uninstrumented, it decodes the last ``--window`` inputs once and times the
same programs under each design added to the ones before it:

- reference: ``check(fast=False, lockstep=False)``, one machine per
  implementation, every table entry visited (what the earlier designs, the
  primitives bound per platform, the oracle's skips and formatting only new
  buckets, already gave is inside it: they have no switch);
- + the fast paths (``skip_none_*``);
- + lockstep (one shared machine, rollback from the memory log);
- + ``finals=False`` (what a campaign asks of ``check``);
- + the harness's memo of recent programs (``Harness.judge``, no prefixes);
- + prefix resumption (``Harness.judge`` as a worker runs it);
- + recording the findings (``Harness.run``: the whole of a worker's work but
  decoding and libFuzzer; the buckets exist after the first round, as they
  do in a running campaign).

With ``--before VENV`` (the venv of 27fb2ef, as for ``before_after.py``), that
tree's ``check()`` is timed on the same programs first (as ``.ops`` text, in
its own venv): the designs without a switch are the step from it to the
reference.

A second table times a worker's whole path (decoding and ``Harness.run``) on
the same inputs, each in a process of its own: nothing instrumented, the
walkers instrumented (what a campaign does), and the walkers with the model
instrumented too (what 27fb2ef did): what instrumenting only the code under
test is worth.

Rounds alternate over the designs; each figure is the median.  Every design's
findings must equal the reference's, program by program, or the script fails:
a speed-up that changes a verdict is a bug.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from unmapfuzz.bench.measure import CAMPAIGN_MAX_OPS
from unmapfuzz.campaign.campaign import packaged_corpus
from unmapfuzz.campaign.harness import CONFIG_ENV, Harness
from unmapfuzz.generation.seeds import program_from_input, write_seeds
from unmapfuzz.impls import BUILTIN
from unmapfuzz.programs import format
from unmapfuzz.verdict.check import check
from unmapfuzz.verdict.signature import judged

from before_after import check_seconds          # scripts/, this script's own folder

RECORD = r"""
import sys
from unmapfuzz.campaign import atheris_target as target

record = open(sys.argv[1], "ab", buffering=0)      # libFuzzer ends with exit(): nothing may wait in a buffer
made = target.make_test_one_input


def recording(cfg):
    test_one_input, harness = made(cfg)

    def run(data):
        record.write(len(data).to_bytes(4, "little") + data)
        test_one_input(data)
    return run, harness


target.make_test_one_input = recording
target.main(sys.argv[1:])
"""


INSTRUMENTED = r"""
import sys, tempfile, time
from pathlib import Path
what, stream, platform, mode, max_ops, scripts = sys.argv[1:]
if what != "nothing":
    import atheris
    from unmapfuzz.campaign.instrument import NOT_INSTRUMENTED
    exclude = ["unmapfuzz", "unmapfuzz.impls"] if what == "the walkers and the model" else list(NOT_INSTRUMENTED)
    with atheris.instrument_imports(include=["unmapfuzz"], exclude=exclude):
        import unmapfuzz.impls
from unmapfuzz.campaign.harness import Harness
from unmapfuzz.generation.seeds import program_from_input
from unmapfuzz.impls import BUILTIN
sys.path.insert(0, scripts)                   # after instrumenting: this imports unmapfuzz too
from per_design import read_stream
inputs = read_stream(Path(stream))
harness = Harness(Path(tempfile.mkdtemp()), dict(BUILTIN), "realistic", "atheris")
started = time.perf_counter()
for one in inputs:
    program = program_from_input(one, platform, mode, "realistic", int(max_ops))
    if program is not None:
        harness.run(program, keep_text=False)
print(time.perf_counter() - started)
"""
INSTRUMENTING = ("nothing", "the walkers", "the walkers and the model")


def read_stream(path: Path) -> list[bytes]:
    """The inputs of a stream file: each a 4-byte little-endian length, then the bytes."""
    data, inputs, at = path.read_bytes(), [], 0
    while at < len(data):
        size = int.from_bytes(data[at:at + 4], "little")
        inputs.append(data[at + 4:at + 4 + size])
        at += 4 + size
    return inputs


def record_stream(platform: str, mode: str, runs: int, work: Path) -> list[bytes]:
    """The inputs a one-job atheris worker executed, in order."""
    corpus = work / "corpus"
    corpus.mkdir()
    write_seeds([packaged_corpus()], corpus, platform, mode)
    stream = work / "stream.bin"
    env = dict(os.environ)
    env[CONFIG_ENV] = json.dumps({"out": str(work / "out"), "platform": platform, "mode": mode,
                                  "profile": "realistic"})
    subprocess.run([sys.executable, "-c", RECORD, str(stream), str(corpus), f"-runs={runs}", "-seed=1",
                    f"-artifact_prefix={work}{os.sep}"], env=env, cwd=work, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return read_stream(stream)


def designs(work: Path):
    """(label, make) pairs, cumulative: ``make()`` gives a function of one program that returns its
    findings (``judged``'s items), fresh for every timed pass."""
    def plain(**options):
        def judge(program):
            verdict = check(program, BUILTIN, "realistic", **options)
            return None if verdict.invalid else tuple(judged(verdict).items())
        return lambda: judge

    def harness(prefixes: bool, run: bool):
        def make():     # one directory for all: its buckets, once made, are there, as in a running campaign
            h = Harness(work / "harness", dict(BUILTIN), "realistic", "atheris")
            if not prefixes:
                h.prefixes = None
            return h.run if run else (lambda p: h.judge(p)[0])
        return make

    return [("reference: check(fast=False, lockstep=False)", plain(fast=False, lockstep=False)),
            ("+ fast paths (skip_none_*)", plain(lockstep=False)),
            ("+ lockstep over one machine", plain()),
            ("+ finals=False", plain(finals=False)),
            ("+ memo of recent programs (Harness.judge)", harness(False, False)),
            ("+ prefix resumption", harness(True, False)),
            ("+ recording findings (Harness.run)", harness(True, True))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", default="arm64-4k-39", help="the campaign's platform (default: arm64-4k-39)")
    parser.add_argument("--mode", default="stage2", help="the campaign's mode (default: stage2)")
    parser.add_argument("--runs", type=int, default=30_000, help="libFuzzer executions recorded (default: 30000)")
    parser.add_argument("--window", type=int, default=4_000,
                        help="the last WINDOW of them are timed, where the campaign has drifted (default: 4000)")
    parser.add_argument("--rounds", type=int, default=3, help="alternated passes of each design (default: 3)")
    parser.add_argument("--before", type=Path, help="the venv of an earlier tree: its check() on the same programs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="unmapfuzz-per-design-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        inputs = record_stream(args.platform, args.mode, args.runs, work)[-args.window:]
        print(f"[per-design] recorded {args.runs} executions in {time.perf_counter() - started:.1f} s; "
              f"timing the last {len(inputs)}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        programs = [program_from_input(data, args.platform, args.mode, "realistic", CAMPAIGN_MAX_OPS)
                    for data in inputs]
        decode = (time.perf_counter() - t0) / len(inputs)
        programs = [p for p in programs if p is not None]
        table = designs(work)
        seconds: dict[str, list[float]] = {label: [] for label, _ in table}
        before = None
        if args.before is not None:
            folder = work / "before"
            folder.mkdir()
            for i, program in enumerate(programs):
                (folder / f"{i:05d}.ops").write_text(format(program))
            before = "before: check() of the --before tree"
            seconds = {before: [], **seconds}
        expected = None
        for _ in range(args.rounds):
            if before is not None:
                seconds[before].append(check_seconds(args.before.resolve(), folder))
                print(f"[per-design] {before}: {seconds[before][-1]:.2f} s", file=sys.stderr, flush=True)
            for label, make in table:
                judge = make()
                t0 = time.perf_counter()
                found = [judge(p) for p in programs]
                seconds[label].append(time.perf_counter() - t0)
                found = [tuple(f) if f is not None else None for f in found]
                if expected is None:
                    expected = found
                elif found != expected:
                    first = next(i for i, (a, b) in enumerate(zip(found, expected)) if a != b)
                    sys.exit(f"per_design: {label} judged program {first} differently from the reference")
                print(f"[per-design] {label}: {seconds[label][-1]:.2f} s", file=sys.stderr, flush=True)
        window = work / "window.bin"
        window.write_bytes(b"".join(len(one).to_bytes(4, "little") + one for one in inputs))
        worker: dict[str, list[float]] = {what: [] for what in INSTRUMENTING}
        for _ in range(args.rounds):
            for what in INSTRUMENTING:
                done = subprocess.run([sys.executable, "-c", INSTRUMENTED, what, str(window), args.platform,
                                       args.mode, str(CAMPAIGN_MAX_OPS), str(Path(__file__).resolve().parent)],
                                      capture_output=True, text=True, check=True, cwd=work)
                worker[what].append(float(done.stdout))
                print(f"[per-design] {what} instrumented: {worker[what][-1]:.2f} s", file=sys.stderr, flush=True)
    first = statistics.median(next(iter(seconds.values())))     # the before tree's, or the reference's
    print(f"{len(programs)} programs of a {args.platform}/{args.mode} campaign (inputs {args.runs - len(inputs) + 1}"
          f"-{args.runs} of {args.runs}), uninstrumented, medians of {args.rounds}; decoding: "
          f"{decode * 1e6:.0f} us per input\n")
    print("| design (cumulative) | programs/s | speed-up |\n|---|---|---|")
    for label in seconds:
        median = statistics.median(seconds[label])
        print(f"| {label} | {len(programs) / median:,.0f} | {first / median:.1f}x |")
    print(f"\nA worker's path (decoding, Harness.run) on the same {len(inputs)} inputs, medians of {args.rounds}:\n")
    print("| instrumented | inputs/s | speed-up |\n|---|---|---|")
    slowest = statistics.median(worker[INSTRUMENTING[-1]])
    for what in reversed(INSTRUMENTING):
        median = statistics.median(worker[what])
        print(f"| {what} | {len(inputs) / median:,.0f} | {slowest / median:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
