"""The in-process engines a campaign runs as workers: hypothesis and random.

``python -m unmapfuzz.campaign.workers ENGINE`` runs one worker with the configuration in
``UNMAPFUZZ_CONFIG`` until its deadline or SIGTERM.  Both engines draw programs
through the same generator as atheris (:mod:`unmapfuzz.generation.generator`),
from a different source of choices:

- ``hypothesis``: a ``@given`` test over :class:`~unmapfuzz.generation.sources.DataSource`,
  run in batches with fresh seeds, without shrinking (our minimiser, not
  hypothesis's shrinker, reduces a finding, because it knows how to keep the
  signature).  Every finding is recorded and the search goes on; a *new*
  one (:func:`~unmapfuzz.campaign.service.new_signatures`) also fails the
  batch, so that Hypothesis saves it in the example database
  (:mod:`~unmapfuzz.campaign.example_db`, shared by every worker, and by
  other machines when it is a shared directory or Redis).  A worker's first
  batch replays what the database holds for its configuration, so a finding
  made anywhere is recorded here too; later batches only generate, since a
  replayed failure would end each batch before it generated anything;
- ``random``: :class:`~unmapfuzz.generation.sources.RandomSource` over ``random.Random``, the
  plain baseline the benchmark compares against.

A worker that cannot write the output (a full disk, a file size limit) stops
with one line, ``unmapfuzz: PATH: cannot write: REASON``, and exit status 2,
which the campaign reads as an error of the environment and reports as its
own (see :mod:`.worker_process`).
"""
from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from pathlib import Path

from unmapfuzz.generation.generator import draw_program
from unmapfuzz.generation.sources import DataSource, RandomSource
from unmapfuzz.impls import resolve_impls
from unmapfuzz.programs import geometries

from .harness import CONFIG_ENV, Harness, worker_harness
from .outdir import OutputError
from .worker_process import ENVIRONMENT_EXIT


class _Stop(KeyboardInterrupt):
    """Ends a batch.  A KeyboardInterrupt, because Hypothesis saves the input of
    any other exception in its database as a failure, and this is none."""


class _NewFinding(Exception):
    """A batch's test failed on a new finding (already recorded by the harness)."""


# Set by SIGTERM.  The handler only sets it: an exception raised from a signal
# handler can land inside hypothesis's gc callback, where Python discards it.
_stop_requested = False


def run_random(cfg: dict) -> Harness:
    harness = worker_harness(cfg, "random")
    rng = random.Random(cfg.get("seed", 0))
    pairs = geometries(cfg["platform"], cfg["mode"])
    deadline = cfg["deadline"]
    src = RandomSource(rng)
    max_ops = int(cfg.get("max_ops", 12))
    runs = cfg.get("runs") or float("inf")
    try:
        while time.time() < deadline and harness.execs < runs and not _stop_requested:
            platform, mode = pairs[rng.randrange(len(pairs))]
            harness.run(draw_program(src, platform, mode, cfg["profile"], max_ops))
    finally:
        harness.close()
    return harness


def run_hypothesis(cfg: dict) -> Harness:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st
    from hypothesis.errors import Flaky

    from .example_db import configured_database
    from .service import new_among

    harness = worker_harness(cfg, "hypothesis")
    pairs = geometries(cfg["platform"], cfg["mode"])
    deadline = cfg["deadline"]
    max_ops = int(cfg.get("max_ops", 12))
    runs = cfg.get("runs") or float("inf")
    known = cfg.get("known")
    database = configured_database(
        f"unmapfuzz-engine/{cfg['platform']}/{cfg['mode']}/{cfg['profile']}/{max_ops}/{','.join(cfg.get('impls', []))}")

    def stop_due() -> bool:
        return time.time() >= deadline or harness.execs >= runs or _stop_requested

    def one(data):
        if stop_due():
            raise _Stop
        platform, mode = pairs[data.draw(st.integers(0, len(pairs) - 1))] if len(pairs) > 1 else pairs[0]
        found = harness.run(draw_program(DataSource(data), platform, mode, cfg["profile"], max_ops))
        new = new_among(found, cfg["profile"], known)
        if new:
            raise _NewFinding(", ".join(map(str, new)))

    def batch_test(number: int, phases: list):
        # A fresh @given wrapper per batch, @seed inside @settings: @seed alone
        # would also switch the database off.
        return settings(max_examples=500, deadline=None, database=database, phases=phases,
                        report_multiple_bugs=True, suppress_health_check=list(HealthCheck))(
            hypothesis_seed(number)(given(st.data())(one)))

    batch = cfg.get("seed", 0) * 1_000_003
    phases = [Phase.reuse, Phase.generate]
    try:
        while not stop_due():
            batch += 1
            try:
                batch_test(batch, phases)()
            except _Stop:
                break
            except Flaky:
                # A batch that failed on a new finding replays it once more to report
                # it; stopped meanwhile, the replay draws less and Hypothesis calls it
                # flaky.  The finding is recorded and saved by then.
                if not stop_due():
                    raise
                break
            except Exception as exc:
                if not _only_new_findings(exc):
                    raise
            phases = [Phase.generate]
    finally:
        harness.close()
    return harness


def _only_new_findings(exc: BaseException) -> bool:
    """Whether a failed batch failed on new findings alone (one, or a group of them)."""
    if isinstance(exc, _NewFinding):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_new_findings(e) for e in exc.exceptions)
    return False


def _interrupt(*_args):
    global _stop_requested
    _stop_requested = True


ENGINES = {"random": run_random, "hypothesis": run_hypothesis}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ENGINES:
        print(f"usage: python -m unmapfuzz.campaign.workers {{{'|'.join(ENGINES)}}} (config in ${CONFIG_ENV})",
              file=sys.stderr)
        return 2
    cfg = json.loads(os.environ[CONFIG_ENV])
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        ENGINES[argv[1]](cfg)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"unmapfuzz: {OutputError.from_os_error(exc, Path(cfg['out']))}", file=sys.stderr, flush=True)
        return ENVIRONMENT_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
