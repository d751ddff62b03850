"""Triage: from a finding to a reproducer a maintainer reads in a minute, and back.

- :mod:`.minimize`: shrink a program while it keeps its signature;
- :mod:`.explain`: a finding in kernel terms, and the reproducer file;
- :mod:`.replay`: re-run recorded programs against their ``expect`` lines.
"""
