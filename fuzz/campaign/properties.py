"""The fuzzer's one property, as Hypothesis tests: every finding is a known one.

``check(program)`` runs every implementation and compares them; the property
is that each signature its verdict shows matches a pattern of
``corpus/known.txt`` for the program's profile.  A failure raises an
:class:`AssertionError` whose message is the failing program as ``.ops`` text
(a ``#`` header naming the unknown signatures, the program, one ``expect``
line per implementation), so what Hypothesis prints can be pasted into a file
and replayed with ``unmapfuzz check`` or reduced with ``unmapfuzz minimize``.

Three ways to run the same property:

- :func:`test_programs_only_known`: ``@given`` over whole programs of up to 6
  ops (pytest collects it from ``tests/test_properties.py``);
- :class:`UnmapMachine`: a Hypothesis state machine that grows a program one
  op at a time, stepping every implementation with one :class:`~unmapfuzz.verdict.check.Runner`,
  and checks the findings after every op;
- ``python -m unmapfuzz.campaign.properties [libFuzzer flags]``: atheris drives
  ``test_programs_only_known.hypothesis.fuzz_one_input`` with coverage of
  ``impls/``.

Settings profiles (``ci``, ``dev``, ``long``) are registered on import;
:func:`load_profile` picks one from ``UNMAPFUZZ_HYPOTHESIS`` (default ``ci``
when ``CI`` is set, else ``dev``).  Their example database, where failures
are kept and replayed from, comes from ``UNMAPFUZZ_HYPOTHESIS_DB``
(:func:`register_profiles`).
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # Coverage for atheris: instrument the implementations before anything
    # imports them (as unmapfuzz.campaign.atheris_target does).
    import atheris

    from unmapfuzz.campaign.instrument import import_instrumented

    import_instrumented()

import functools  # noqa: E402

from hypothesis import HealthCheck, assume, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule  # noqa: E402

import unmapfuzz.impls as _impls  # noqa: E402
from unmapfuzz.campaign.example_db import DB_ENV, configured_database  # noqa: E402
from unmapfuzz.generation.generator import generator_for  # noqa: E402
from unmapfuzz.generation.sources import DataSource  # noqa: E402
from unmapfuzz.generation.strategies import programs  # noqa: E402
from unmapfuzz.programs import MODES, PLATFORMS, Expect, Map, Program, format_op  # noqa: E402
from unmapfuzz.programs import format as format_program  # noqa: E402
from unmapfuzz.reference.profiles import validate  # noqa: E402
from unmapfuzz.reference.translations import apply_map, apply_unmap  # noqa: E402
from unmapfuzz.triage.explain import explain  # noqa: E402
from unmapfuzz.verdict.check import DEFAULT_BASELINE, Runner, Verdict, check  # noqa: E402
from unmapfuzz.verdict.known import load_known, new_signatures  # noqa: E402
from unmapfuzz.verdict.signature import Signature  # noqa: E402

__all__ = ["PROFILE_ENV", "register_profiles", "load_profile", "only_known_findings", "unknown_signatures",
           "make_property", "test_programs_only_known", "UnmapMachine"]

# -- settings profiles ------------------------------------------------------------------

PROFILE_ENV = "UNMAPFUZZ_HYPOTHESIS"



def register_profiles() -> None:
    """Register ``ci``, ``dev`` and ``long`` with the example database of
    ``$UNMAPFUZZ_HYPOTHESIS_DB`` (:mod:`unmapfuzz.campaign.example_db`; unset: the
    machine's shared directory), so that failures found anywhere are replayed first.

    ``ci`` is derandomised, which Hypothesis allows only without a database: it
    runs the same examples on every push unless the setting names a database
    explicitly, and then it shares with the others (and is no longer derandomised).
    """
    shared = configured_database()
    ci = {"derandomize": False, "database": shared} if os.environ.get(DB_ENV) else \
        {"derandomize": True, "database": None}
    settings.register_profile(
        "ci", max_examples=60, deadline=None, print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], **ci)
    settings.register_profile("dev", max_examples=300, deadline=None, database=shared)
    settings.register_profile("long", max_examples=20_000, deadline=None, database=shared)


register_profiles()


def load_profile(name: str | None = None) -> str:
    """Load the settings profile ``name``, else ``$UNMAPFUZZ_HYPOTHESIS``, else ``ci``
    when ``$CI`` is set and ``dev`` otherwise (registered anew, so that the database
    setting in the environment now is the one used); return its name."""
    name = name or os.environ.get(PROFILE_ENV) or ("ci" if os.environ.get("CI") else "dev")
    register_profiles()
    settings.load_profile(name)
    return name


# ``@given`` takes its settings from the default profile when it decorates, so
# the profile must be loaded before the tests below are defined: unless the
# importer already chose one, importing this module loads the env's profile.
if settings.get_current_profile_name() == "default":
    load_profile()


# -- the property ------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _known(profile: str | None) -> tuple[str, ...]:
    return tuple(load_known(profile=profile or "realistic"))


def unknown_signatures(verdict: Verdict, profile: str | None) -> list[Signature]:
    """The signatures of ``verdict`` that are news: neither explained by the baseline
    on this program nor matched by a known.txt pattern for ``profile``."""
    return new_signatures(verdict, list(_known(profile)))


def failure_text(verdict: Verdict, unknown: list[Signature], where: str = "") -> str:
    """The verdict's program as ``.ops`` text, headed by the unknown signatures."""
    prog = verdict.program
    header = [f"unknown signature: {sig}" for sig in unknown]
    for sig in unknown:
        try:
            header.append(f"{sig}: {explain(verdict, sig)}")
        except (ValueError, LookupError):
            pass
    if where:
        header.append(where)
    header.append("replay: unmapfuzz check FILE; reduce: unmapfuzz minimize FILE --signature SIG")
    expects = tuple(Expect(name, r.kinds) for name, r in verdict.results.items())
    return format_program(Program(prog.platform, prog.mode, prog.ops, prog.profile, expects),
                          header=header)


def only_known_findings(program: Program, impls: dict | None = None) -> Verdict:
    """Check ``program``; raise AssertionError (message: ``.ops`` text) if a signature is unknown."""
    verdict = check(program, impls, program.profile)
    unknown = unknown_signatures(verdict, program.profile)
    if unknown:
        raise AssertionError("\n" + failure_text(verdict, unknown, "found by unmapfuzz.campaign.properties"))
    return verdict


def make_property(impls: dict | None = None, max_ops: int = 6, platform=None, mode=None, profile=None):
    """A fresh ``@given`` test of :func:`only_known_findings` over ``impls`` (None: BUILTIN at
    each call).  It runs under the profile loaded when it is made, unless the caller wraps it
    in ``@settings(...)``."""

    @given(programs(platform=platform, mode=mode, profile=profile, max_ops=max_ops))
    def test_programs_only_known(program: Program) -> None:
        verdict = only_known_findings(program, impls)
        assume(verdict.invalid is None)

    return test_programs_only_known


test_programs_only_known = make_property()
test_programs_only_known.__doc__ = "Every generated program of up to 6 ops shows only known signatures."


# -- the state machine --------------------------------------------------------------------

@st.composite
def _next_op(draw, platform: str, mode: str, profile: str, leaves: dict, kind: str):
    """One op from the generator, given what is mapped (``leaves``, not modified)."""
    gen = generator_for(platform, mode, profile)
    src = DataSource(draw)
    leaves = dict(leaves)
    return gen.map_op(src, leaves) if kind == "map" else gen.unmap_op(src, leaves)


class UnmapMachine(RuleBasedStateMachine):
    """A program grown one op at a time, every implementation stepped alongside.

    Ops come from the same generator as every engine (:mod:`unmapfuzz.generation.generator`),
    fed what the program has mapped so far, so unmaps hit populated tables.
    After each op the verdict of the program so far (violations at each
    implementation's first violating op, and divergences among the
    implementations the oracle passes) must show only known signatures.  A
    failure's message, and a note printed with the failing steps, is the
    program so far as ``.ops`` text.
    """

    impls: dict | None = None        # None: impls.BUILTIN at the start of each run

    def __init__(self) -> None:
        super().__init__()
        self.program: Program | None = None
        self.runner: Runner | None = None
        self.leaves: dict[int, tuple[int, int]] = {}
        self.last_op = None

    @initialize(platform=st.sampled_from(PLATFORMS), mode=st.sampled_from(MODES),
                profile=st.sampled_from(("realistic", "adversarial")))
    def start(self, platform: str, mode: str, profile: str) -> None:
        self.platform, self.mode, self.profile = platform, mode, profile
        self.program = Program(platform, mode, (), profile)
        impls = dict(_impls.BUILTIN if self.impls is None else self.impls)
        impls.setdefault(DEFAULT_BASELINE, _impls.BUILTIN[DEFAULT_BASELINE])
        self.runner = Runner(self.program, impls)

    def _step(self, op) -> None:
        self.last_op = None
        if op is None:                   # the generator found no free slot: a no-op step
            return
        program = self.program.with_ops(self.program.ops + (op,))
        assume(validate(program, self.profile) is None)
        self.program, self.last_op = program, op
        gen = generator_for(self.platform, self.mode, self.profile)
        if isinstance(op, Map):
            apply_map(self.leaves, op.ipa, gen.shift_of[op.kind], op.output_address())
        else:
            apply_unmap(self.leaves, op.ipa, op.ipa + op.size)
        self.runner.apply(op)

    @rule(data=st.data())
    def map_op(self, data) -> None:
        self._step(data.draw(_next_op(self.platform, self.mode, self.profile, self.leaves, "map"),
                             label="op"))

    @rule(data=st.data())
    def unmap_op(self, data) -> None:
        self._step(data.draw(_next_op(self.platform, self.mode, self.profile, self.leaves, "unmap"),
                             label="op"))

    def verdict(self) -> Verdict:
        """The verdict of the program so far, as :func:`~unmapfuzz.verdict.check.check` would give it."""
        return self.runner.verdict()

    @invariant()
    def findings_are_known(self) -> None:
        if self.program is None or self.last_op is None:
            return
        verdict = self.verdict()
        unknown = unknown_signatures(verdict, self.profile)
        if unknown:
            raise AssertionError("\n" + failure_text(verdict, unknown,
                                                      "found by unmapfuzz.campaign.properties.UnmapMachine"))

    def teardown(self) -> None:
        # Printed (as a note) after the steps of a failing example.
        if self.program is not None and self.program.ops:
            note("# the program so far, as .ops text:\n" + format_program(self.program))

    def _repr_step(self, rule, data, result) -> str:
        # Each printed step carries the op it added, as an .ops line.
        line = super()._repr_step(rule, data, result)
        return line if self.last_op is None else f"{line}  # {format_op(self.last_op)}"


# -- atheris ------------------------------------------------------------------------------

def main(argv: list[str]) -> None:
    """``python -m unmapfuzz.campaign.properties [libFuzzer flags]``: atheris over the property."""
    atheris.Setup(argv, test_programs_only_known.hypothesis.fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
