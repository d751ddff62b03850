"""Programs and their text format: what the fuzzer generates, shrinks, stores and replays.

:mod:`.ops` holds the data (frozen dataclasses), :mod:`.text` the strict,
versioned ``.ops`` format that round-trips (``parse(format(p)) == p``).
"""
from .ops import (FINDING_KINDS, FORMAT_VERSION, GUEST_PA_LIMIT, MAP_KINDS, MODES, PAGE_SIZE, PLATFORMS,
                  PROFILES, Expect, Map, Op, Program, Unmap, format_op, geometries)
from .text import Lines, ProgramError, format, load, load_lines, parse, parse_lines, unknown_expects

__all__ = ["PLATFORMS", "MODES", "PROFILES", "MAP_KINDS", "FINDING_KINDS", "FORMAT_VERSION",
           "GUEST_PA_LIMIT", "PAGE_SIZE", "Map", "Unmap", "Op", "Expect", "Program", "format_op",
           "geometries", "ProgramError", "Lines", "parse", "parse_lines", "load", "load_lines", "format",
           "unknown_expects"]
