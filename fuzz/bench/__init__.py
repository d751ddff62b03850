"""Benchmarks: executions per second, time to first finding, mutants caught: measured, never asserted.

:mod:`.measure` runs the throughput, campaign, teardown and time-to-first
measurements and returns one JSON-able report; :mod:`.render` prints it as the
table ``unmapfuzz bench`` shows; :mod:`.compare` sets two reports side by side
(``unmapfuzz bench --compare BEFORE.json``).  :mod:`.mutants` is the table of
mutants of ``impls/v3.py`` (one plausible kernel bug each) and
:mod:`.mutant_bench` runs a campaign on each (``unmapfuzz bench --mutants``).
"""
