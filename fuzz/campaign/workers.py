"""The in-process engines a campaign runs as workers: hypothesis and random.

``python -m unmapfuzz.campaign.workers ENGINE`` runs one worker with the configuration in
``UNMAPFUZZ_CONFIG`` until its deadline or SIGTERM.  Both engines draw programs
through the same generator as atheris (:mod:`unmapfuzz.generation.generator`),
from a different source of choices:

- ``hypothesis``: a ``@given`` test over :class:`~unmapfuzz.generation.sources.DataSource`,
  run in batches with fresh seeds, generation phase only.  It never fails: a
  finding is recorded and the search goes on (our minimiser, not hypothesis's
  shrinker, reduces it, because it knows how to keep the signature);
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

from .harness import CONFIG_ENV, Harness
from .outdir import OutputError
from .worker_process import ENVIRONMENT_EXIT


class _Stop(Exception):
    pass


# Set by SIGTERM.  The handler only sets it: an exception raised from a signal
# handler can land inside hypothesis's gc callback, where Python discards it.
_stop_requested = False


def run_random(cfg: dict) -> Harness:
    harness = Harness(Path(cfg["out"]), resolve_impls(cfg.get("impls", [])), cfg["profile"], "random")
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

    harness = Harness(Path(cfg["out"]), resolve_impls(cfg.get("impls", [])), cfg["profile"], "hypothesis")
    pairs = geometries(cfg["platform"], cfg["mode"])
    deadline = cfg["deadline"]
    max_ops = int(cfg.get("max_ops", 12))
    runs = cfg.get("runs") or float("inf")

    @settings(max_examples=500, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def one(data):
        if time.time() >= deadline or harness.execs >= runs or _stop_requested:
            raise _Stop
        platform, mode = pairs[data.draw(st.integers(0, len(pairs) - 1))] if len(pairs) > 1 else pairs[0]
        harness.run(draw_program(DataSource(data), platform, mode, cfg["profile"], max_ops))

    batch = cfg.get("seed", 0) * 1_000_003
    try:
        while time.time() < deadline and harness.execs < runs and not _stop_requested:
            batch += 1
            try:
                hypothesis_seed(batch)(one)()
            except _Stop:
                break
            except Exception as exc:  # hypothesis wraps _Stop in some versions
                if "_Stop" in repr(exc) or isinstance(getattr(exc, "__cause__", None), _Stop):
                    break
                raise
    finally:
        harness.close()
    return harness


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
