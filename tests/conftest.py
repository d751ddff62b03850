"""Hypothesis settings for the suite: the ``ci`` profile when $CI is set, else ``dev``
(``UNMAPFUZZ_HYPOTHESIS=ci|dev|long`` overrides); see fuzz/properties.py."""
from unmapfuzz.campaign.properties import load_profile

load_profile()
