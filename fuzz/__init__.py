"""unmapfuzz: a differential fuzzer for Linux KVM/ARM ``unmap_range()``.

The package is laid out in layers, each a folder (a subpackage)::

    unmapfuzz.impls.model   the model of the kernel: platforms, memory, helpers, map paths
    unmapfuzz.impls         the implementations of unmap_range under test (old, v2, v3, ...)
    unmapfuzz.programs      programs and their .ops text format
    unmapfuzz.reference     the flat translation map, the generic walker, the oracle, the profiles
    unmapfuzz.verdict       check/compare, signatures, the known divergences
    unmapfuzz.generation    sources of choices, the generator, strategies, seeds
    unmapfuzz.triage        minimise, explain, replay
    unmapfuzz.campaign      campaigns, workers and engines, the finding store, the log
    unmapfuzz.bench         measurements
    unmapfuzz.cli           the command line
    unmapfuzz.corpus        the regression corpus and known.txt (data)

Importing ``unmapfuzz`` imports none of them: the atheris target must be the
first to import the implementations, inside ``atheris.instrument_imports``.
The common entry points are reachable lazily from here: ``unmapfuzz.check``,
``unmapfuzz.parse``, ``unmapfuzz.load``, ``unmapfuzz.Program``.
"""
from __future__ import annotations

__version__ = "0.2.0"

_LAZY = {
    "check": ("unmapfuzz.verdict.check", "check"),
    "Verdict": ("unmapfuzz.verdict.check", "Verdict"),
    "Program": ("unmapfuzz.programs", "Program"),
    "Map": ("unmapfuzz.programs", "Map"),
    "Unmap": ("unmapfuzz.programs", "Unmap"),
    "parse": ("unmapfuzz.programs", "parse"),
    "load": ("unmapfuzz.programs", "load"),
    "format": ("unmapfuzz.programs", "format"),
    "Signature": ("unmapfuzz.verdict.signature", "Signature"),
    "signatures": ("unmapfuzz.verdict.signature", "signatures"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'unmapfuzz' has no attribute {name!r}")
