"""Verdicts: every implementation run on a program, checked, compared and bucketed.

- :mod:`.check`: ``check(program) -> Verdict``, the one property every driver
  calls, and ``compare`` of the implementations' final states;
- :mod:`.signature`: what a finding means as a key (``IMPL/KIND/PLATFORM/MODE/LEVEL``);
- :mod:`.known`: the documented divergences (``corpus/known.txt``).
"""
