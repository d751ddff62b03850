"""Sources of choices: where the generator's decisions come from.

:func:`unmapfuzz.generation.generator.draw_program` makes every decision
through a :class:`Source`: ``draw(n)`` (a choice in ``range(n)``) and
``draw_bits(bits)``.  :class:`ByteSource` reads the choices from bytes (an
atheris input, laid out as the generator's docstring says),
:class:`RandomSource` from :class:`random.Random` (the plain baseline), and
:class:`DataSource` from Hypothesis, one ``st.integers`` per choice, so that
Hypothesis shrinks programs by shrinking choices.  Choices are ordered so that
0 is the simple outcome.
"""
from __future__ import annotations

import functools
import random
from typing import Protocol

__all__ = ["Source", "ByteSource", "RandomSource", "DataSource"]


class Source(Protocol):
    """Where the generator's choices come from."""

    def draw(self, n: int) -> int:
        """A choice in ``range(n)``, ``n >= 1``; 0 is the simplest."""
        ...

    def draw_bits(self, bits: int) -> int:
        """A raw integer in ``[0, 2**bits)``."""
        ...


class ByteSource:
    """Choices read from bytes (an atheris input), as laid out in the module docstring.

    Deterministic.  A draw that needs bytes past the end returns 0 and sets
    :attr:`exhausted`; from then on every draw returns 0.  The state (``data``,
    the next byte ``pos``, ``size`` and ``exhausted``) is public because the
    generator reads the exact form's ops straight from it, as the draws would.
    """

    __slots__ = ("data", "pos", "size", "exhausted")

    def __init__(self, data: bytes):
        self.data = bytes(data)
        self.pos = 0
        self.size = len(self.data)
        self.exhausted = False

    def _take(self, nbytes: int) -> int:
        pos = self.pos
        end = pos + nbytes
        if end > self.size:
            self.pos = self.size
            self.exhausted = True
            return 0
        self.pos = end
        return int.from_bytes(self.data[pos:end], "little")

    def draw(self, n: int) -> int:
        pos = self.pos
        if 1 < n <= 256 and pos < self.size:      # most draws: one byte that is there
            self.pos = pos + 1
            return self.data[pos] % n
        if n <= 1:
            if n < 1:
                raise ValueError(f"draw({n}): expected n >= 1")
            return 0
        return self._take(((n - 1).bit_length() + 7) >> 3) % n    # past the end: 0, exhausted

    def draw_bits(self, bits: int) -> int:
        if bits <= 0:
            return 0
        return self._take((bits + 7) >> 3) & ((1 << bits) - 1)


class RandomSource:
    """Choices from a :class:`random.Random` (or a seed for one): the plain baseline."""

    __slots__ = ("rng",)
    exhausted = False

    def __init__(self, rng: random.Random | int | None = None):
        self.rng = rng if isinstance(rng, random.Random) else random.Random(rng)

    def draw(self, n: int) -> int:
        return self.rng.randrange(n)

    def draw_bits(self, bits: int) -> int:
        return self.rng.getrandbits(bits) if bits > 0 else 0


@functools.lru_cache(maxsize=None)
def _integers(high: int):
    from hypothesis import strategies as st
    return st.integers(0, high)


class DataSource:
    """Choices from Hypothesis: ``st.data()``'s object, or the ``draw`` of an ``st.composite``.

    Every choice is one ``st.integers`` draw, so Hypothesis shrinks a program
    by shrinking its choices towards 0, the simple end.
    """

    __slots__ = ("_draw",)
    exhausted = False

    def __init__(self, data):
        self._draw = data.draw if hasattr(data, "draw") else data

    def draw(self, n: int) -> int:
        return self._draw(_integers(n - 1)) if n > 1 else 0

    def draw_bits(self, bits: int) -> int:
        return self._draw(_integers((1 << bits) - 1)) if bits > 0 else 0
