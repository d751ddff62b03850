"""Campaigns: engines on every core, findings bucketed so nothing is lost, a summary.

- :mod:`.campaign`: starts the workers, shows progress, writes ``summary.json``;
- :mod:`.harness`: one program in, findings recorded (what every engine calls);
- :mod:`.store`: the finding buckets on disk; :mod:`.log`: the event log;
- :mod:`.atheris_target`, :mod:`.workers`, :mod:`.libfuzzer`: the engines
  (libFuzzer through atheris, hypothesis, random) and libFuzzer's output;
- :mod:`.minimizer`: minimises new buckets while the campaign runs (a process);
- :mod:`.current`, :mod:`.deaths`: what a worker was running when it died, and
  that input and libFuzzer's artifacts turned into buckets;
- :mod:`.properties`: the same property as Hypothesis tests and a state machine.

This package imports nothing on import: the atheris target must import the
implementations itself, inside ``atheris.instrument_imports``.
"""
