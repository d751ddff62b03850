"""The speed-ups change nothing: every verdict is the same with and without them, and in any process.

``check()`` has two shortcuts, both on by default: the model's fast paths over
runs of none entries (``fast``, :mod:`unmapfuzz.impls.model.kernel`) and
lockstep, implementations with one history sharing one machine and one oracle
(``lockstep``, :mod:`unmapfuzz.verdict.check`).  Each is a summary of what the
slow way does, and a summary goes stale silently; these tests are what keep
them honest.  For every corpus program and a few thousand generated programs
per platform and mode (``UNMAPFUZZ_EQUIV_PROGRAMS`` per platform, mode and
profile, default 1000), the reference -- no fast paths, one machine per
implementation, as a reader would write it -- and the default must give the
same verdict JSON (violations, findings, divergences), the same signatures,
the same final states and the same count of table accesses in every
operation; and again with small step budgets, so that ``hang`` verdicts, which
land in the middle of a walk, are compared too.  A campaign's third shortcut,
resuming a program from a kept runner of one with the same first operations
(``prefixes``), is compared the same way, with and without it.
"""
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from unmapfuzz.generation.generator import RandomSource, draw_program
from unmapfuzz.impls import BUILTIN
from unmapfuzz.impls.model.mapping import Machine
from unmapfuzz.impls.model.memory import Fault, Memory
from unmapfuzz.impls.model.platforms import PLATFORMS as PLATFORM_SPECS
from unmapfuzz.programs import MODES, PLATFORMS, format, load
from unmapfuzz.verdict.check import Prefixes, check
from unmapfuzz.verdict.signature import signatures

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
PROGRAMS = int(os.environ.get("UNMAPFUZZ_EQUIV_PROGRAMS", "1000"))
SMALL_BUDGET_PROGRAMS = max(1, PROGRAMS // 5)


def fingerprint(verdict) -> str:
    """Everything a verdict says, canonically: JSON, signatures, final states, per-op access counts."""
    runs = {name: [r.status, list(r.steps), None if r.final is None else [sorted(map(repr, a)) for a in r.final]]
            for name, r in verdict.results.items()}
    return json.dumps([verdict.to_json(), [str(s) for s in signatures(verdict)], runs], sort_keys=True)


def assert_same(program, profile, **kw):
    """The default check and the shortcut-free reference agree on ``program``."""
    fast = fingerprint(check(program, profile=profile, **kw))
    slow = fingerprint(check(program, profile=profile, fast=False, lockstep=False, **kw))
    assert fast == slow, "the shortcuts changed the verdict of\n" + format(program)


def generated(platform, mode, profile, count, seed="equiv"):
    src = RandomSource(random.Random(f"{seed}/{platform}/{mode}/{profile}"))
    return [draw_program(src, platform, mode, profile) for _ in range(count)]


@pytest.mark.parametrize("path", sorted(CORPUS.rglob("*.ops")), ids=lambda p: p.name)
def test_corpus_programs_are_unchanged_by_the_shortcuts(path):
    """Every corpus program gives the same verdict with and without fast paths and lockstep."""
    program = load(path)
    assert_same(program, program.profile)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_generated_programs_are_unchanged_by_the_shortcuts(platform, mode):
    """Thousands of generated programs, both profiles, give the same verdicts either way."""
    for profile in ("realistic", "adversarial"):
        for program in generated(platform, mode, profile, PROGRAMS):
            assert_same(program, profile)


@pytest.mark.parametrize("budget", [9, 80, 600])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_hangs_are_unchanged_by_the_shortcuts(platform, budget, monkeypatch):
    """With a small step budget (and none added per table entry) the walks hang at the same read either way."""
    monkeypatch.setattr(Machine, "READS_PER_ENTRY", 0)
    hangs = 0
    for mode in MODES:
        for profile in ("realistic", "adversarial"):
            for program in generated(platform, mode, profile, SMALL_BUDGET_PROGRAMS, seed=f"hang{budget}"):
                assert_same(program, profile, step_budget=budget)
                verdict = check(program, profile=profile, step_budget=budget)
                hangs += sum(r.status == "hang" for r in verdict.results.values())
    assert hangs > 0, "the budget was never reached: this compared no hang"


DIGEST = """
import hashlib, json, random, sys
from unmapfuzz.generation.generator import RandomSource, draw_program
from unmapfuzz.programs import PLATFORMS, MODES
from unmapfuzz.verdict.check import check
h = hashlib.sha256()
for plat in PLATFORMS:
    for mode in MODES:
        src = RandomSource(random.Random(plat + mode))
        for _ in range(30):
            p = draw_program(src, plat, mode, "adversarial")
            h.update(json.dumps(check(p, profile="adversarial").to_json()).encode())
print(h.hexdigest())
"""


def test_verdicts_are_byte_identical_across_processes():
    """The same programs give byte-identical verdict JSON in processes with different hash seeds."""
    digests = set()
    for seed in ("1", "2", "random"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", DIGEST], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1, digests


def test_the_fingerprint_sees_a_difference():
    """The comparison can fail: a verdict with one access count changed does not match."""
    program = generated("arm64-4k-39", "stage2", "realistic", 1)[0]
    verdict = check(program, profile="realistic")
    before = fingerprint(verdict)
    result = next(iter(verdict.results.values()))
    result.steps = (*result.steps[:-1], result.steps[-1] + 1)
    assert fingerprint(verdict) != before
    assert hashlib.sha256(before.encode()).hexdigest() != hashlib.sha256(fingerprint(verdict).encode()).hexdigest()


def _variants(programs, rng):
    """Each program, then programs made of its first operations and another's last ones:
    a campaign's order, where most new programs begin like one checked shortly before."""
    for p in programs:
        yield p
        for q in rng.sample(programs, 3):
            yield p.with_ops(p.ops[:rng.randint(0, len(p.ops))] + q.ops[rng.randint(0, len(q.ops)):])


@pytest.mark.parametrize("budget", [10_000, 9, 80])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_resuming_from_a_prefix_changes_nothing(platform, budget, monkeypatch):
    """check() resumed from an earlier program's runner (Prefixes) gives the verdict a new runner
    gives, for programs that share leading operations, final states and hangs included."""
    if budget != 10_000:
        monkeypatch.setattr(Machine, "READS_PER_ENTRY", 0)
    rng = random.Random(f"resume/{platform}/{budget}")
    resumed = 0
    for mode in MODES:
        for profile in ("realistic", "adversarial"):
            prefixes = Prefixes(4)
            programs = generated(platform, mode, profile, max(4, SMALL_BUDGET_PROGRAMS // 4), seed=f"resume{budget}")
            for program in _variants(programs, rng):
                for finals in (True, False):
                    kept = [r.ops[:] for _, r in prefixes.runners]
                    fresh = fingerprint(check(program, profile=profile, step_budget=budget, finals=finals))
                    again = fingerprint(check(program, profile=profile, step_budget=budget, finals=finals,
                                              prefixes=prefixes))
                    assert again == fresh, "resuming changed the verdict of\n" + format(program)
                    resumed += any(ops[:1] == list(program.ops[:1]) for ops in kept if ops)
    assert resumed > 0, "no program was resumed: this compared nothing"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_fast_paths_take_a_whole_space_teardown(platform, mode, monkeypatch):
    """Each built-in walker tears down a whole space holding one page in a few reads of its own:
    the fast paths took every run of none entries (the rest of its reads are counted by them).
    Without this the tests above would also pass with a fast path that never fires."""
    made = [0]
    read = Memory.read

    def counted(self, p):
        made[0] += 1
        return read(self, p)

    monkeypatch.setattr(Memory, "read", counted)
    for name, fn in BUILTIN.items():
        steps = {}
        for fast in (True, False):
            machine = Machine(platform, mode, 10 ** 9, fast)
            machine.map("page", 0x201000, 0x201000)
            made[0], before = 0, machine.memory.steps
            try:
                machine.unmap(fn, 0, PLATFORM_SPECS[platform].space(mode))
            except Fault:        # arm64-4k-48 hyp: the walk meets a none pgd entry (see KERNEL_MODEL.md)
                pass
            steps[fast] = (made[0], machine.memory.steps - before)
        assert steps[True][1] == steps[False][1], name
        assert steps[True][0] <= 32 < steps[False][0] or steps[False][0] <= 32, (name, steps)
