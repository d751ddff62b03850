"""What atheris instruments: the implementations under test, and nothing else.

libFuzzer is guided by the coverage of the code it fuzzes, and the code under
test is the ``unmap_range`` walkers.  Instrumenting the model they run on
(memory, the kernel helpers, the map paths) would guide nothing the walkers'
coverage does not, and cost more than the walkers themselves: every branch
and comparison of an instrumented module calls into atheris.

``atheris.instrument_imports`` matches ``include`` by top-level package only
(``unmapfuzz.impls`` includes all of ``unmapfuzz``) and ``exclude`` by exact
module name, so the modules left out are listed one by one here
(``tests/test_layout.py`` checks the list against the tree).  It only sees
modules imported inside it: :func:`import_instrumented` must run before
anything imports ``unmapfuzz.impls``.

A campaign over several geometries also instruments one copy of the walkers
per (platform, mode), function by function
(:func:`unmapfuzz.campaign.atheris_target.coverage_per_geometry`), so that
libFuzzer's coverage tells the geometries apart.
"""
from __future__ import annotations

WALKERS = ("unmapfuzz.impls.old", "unmapfuzz.impls.v2", "unmapfuzz.impls.v3", "unmapfuzz.impls.v3_pgdnone")
"""The modules atheris instruments: one per built-in implementation."""

NOT_INSTRUMENTED = ("unmapfuzz", "unmapfuzz.impls", "unmapfuzz.impls.model", "unmapfuzz.impls.model.kernel",
                    "unmapfuzz.impls.model.mapping", "unmapfuzz.impls.model.memory",
                    "unmapfuzz.impls.model.platforms")
"""Every other module imported with them: the registry and the model."""


def import_instrumented() -> None:
    """Import the implementations with :data:`WALKERS` instrumented (and nothing else)."""
    import atheris

    with atheris.instrument_imports(include=["unmapfuzz"], exclude=list(NOT_INSTRUMENTED)):
        import unmapfuzz.impls  # noqa: F401
