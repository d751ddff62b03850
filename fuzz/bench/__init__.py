"""Benchmarks: executions per second, time to first finding, mutants caught: measured, never asserted.

:mod:`.measure` runs the throughput and time-to-first measurements and returns
one JSON-able report; :mod:`.render` prints it as the table ``unmapfuzz bench``
shows.  :mod:`.mutants` is the table of mutants of ``impls/v3.py`` (one
plausible kernel bug each) and :mod:`.mutant_bench` runs a campaign on each
(``unmapfuzz bench --mutants``).
"""
