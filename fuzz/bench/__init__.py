"""Benchmarks: executions per second and time to first finding, measured, never asserted.

:mod:`.measure` runs the measurements and returns one JSON-able report;
:mod:`.render` prints it as the table ``unmapfuzz bench`` shows.
"""
