"""The ``unmapfuzz`` command line: one module per command, assembled by :mod:`.main`."""
