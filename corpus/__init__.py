"""The regression corpus, shipped with the package as data (``unmapfuzz.corpus``).

``behaviour/`` holds hand-written programs for each documented kernel
behaviour, ``regressions/`` minimised findings, ``known.txt`` the documented
divergences.  Programs are ``.ops`` text with their recorded ``expect`` lines;
nothing here is Python but this file, which makes the folder a package so
that an installed unmapfuzz can find its data with ``importlib.resources``.
"""
