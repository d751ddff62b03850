"""Calling code under test so that nothing it does can take the caller down with it.

:class:`Guard` wraps every call of an implementation's ``unmap_range``.  What
it guards against is grown in one place; the runner only ever sees a
:class:`~unmapfuzz.impls.model.memory.Fault` or an ordinary exception.
"""
from __future__ import annotations

__all__ = ["Guard"]


class Guard:
    """Call an implementation; what it raises comes back as an exception the runner records."""

    def call(self, fn, *args):
        return fn(*args)
