"""The reference: what a correct ``unmap_range`` leaves behind, sharing nothing with the walkers.

- :mod:`.translations`: the flat ``ipa -> (shift, pa)`` view and the meaning
  of a map and an unmap on it;
- :mod:`.observe`: the one generic walker, reading descriptor bits from the
  hardware root;
- :mod:`.oracle`: the checks after every operation (translations, tables,
  refcounts, frees, TLB flushes);
- :mod:`.profiles`: which programs are valid, realistic or adversarial.
"""
