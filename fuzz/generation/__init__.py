"""Generation: programs drawn from a source of choices, the same for every engine.

- :mod:`.sources`: where choices come from (libFuzzer bytes, Hypothesis, ``random``);
- :mod:`.generator`: programs drawn around the boundaries that matter, and the
  exact byte form that encodes any program;
- :mod:`.strategies`: the Hypothesis strategy ``programs()``;
- :mod:`.seeds`: ``.ops`` programs as engine seed inputs.
"""
