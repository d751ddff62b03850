"""Hypothesis strategies for fuzz programs.

:func:`programs` draws through :func:`~unmapfuzz.generation.generator.draw_program` with a
:class:`~unmapfuzz.generation.sources.DataSource`, so Hypothesis generates exactly what the
other engines generate, and shrinks a failing program by shrinking the
generator's choices: fewer ops, the simpler kind, the address nearer 0.
"""
from __future__ import annotations

from hypothesis import strategies as st

from unmapfuzz.programs import MODES, PLATFORMS, PROFILES, Program

from .generator import draw_program
from .sources import DataSource

__all__ = ["programs"]


def _strategy(value, choices: tuple[str, ...], what: str) -> st.SearchStrategy[str]:
    if value is None:
        return st.sampled_from(choices)
    if isinstance(value, st.SearchStrategy):
        return value
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r} (expected one of: {', '.join(choices)}, "
                         "a strategy, or None for all)")
    return st.just(value)


def programs(platform=None, mode=None, profile=None, max_ops: int = 12) -> st.SearchStrategy[Program]:
    """Programs for ``platform``, ``mode`` and ``profile``.

    Each may be a name, a strategy of names, or None for every valid value
    (every platform has both modes, so None samples all combinations).
    """
    if max_ops < 1:
        raise ValueError(f"max_ops={max_ops}: expected at least 1")
    return _programs(_strategy(platform, PLATFORMS, "platform"), _strategy(mode, MODES, "mode"),
                     _strategy(profile, PROFILES, "profile"), max_ops)


@st.composite
def _programs(draw, platforms, modes, profiles, max_ops: int) -> Program:
    platform, mode, profile = draw(platforms), draw(modes), draw(profiles)
    return draw_program(DataSource(draw), platform, mode, profile, max_ops)
