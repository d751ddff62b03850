"""The text corpus as engine input bytes: seeds for atheris and OSS-Fuzz.

The long-term corpus is ``.ops`` text; engine bytes are derived from it at the
start of every campaign (and by ``unmapfuzz seeds`` for an OSS-Fuzz-style
``*_seed_corpus.zip``), so a change to the decoder never strands a corpus.
"""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from unmapfuzz.programs import Program, ProgramError, geometries, load

from .generator import draw_program, encode_program
from .sources import ByteSource


def seed_bytes(program: Program, platform: str, mode: str) -> bytes | None:
    """The atheris input that decodes to ``program`` under this configuration, or None.

    When the configuration covers several (platform, mode) pairs, the target
    reads a selector byte first (see :mod:`unmapfuzz.campaign.atheris_target`).
    """
    pairs = geometries(platform, mode)
    key = (program.platform, program.mode)
    if key not in pairs:
        return None
    body = encode_program(program)
    return bytes([pairs.index(key)]) + body if len(pairs) > 1 else body


def program_from_input(data: bytes, platform: str, mode: str, profile: str, max_ops: int) -> Program | None:
    """The program an atheris input stands for under this configuration: the inverse of
    :func:`seed_bytes`, and what every libFuzzer target runs.

    When the configuration covers several (platform, mode) pairs the first
    byte selects one, so an empty input stands for no program (None).  A crash
    input a fuzzing service reports decodes to its program only under the
    configuration of the target that found it.
    """
    pairs = geometries(platform, mode)
    if len(pairs) > 1:
        if not data:
            return None
        platform, mode = pairs[data[0] % len(pairs)]
        data = data[1:]
    else:
        platform, mode = pairs[0]
    return draw_program(ByteSource(data), platform, mode, profile, max_ops)


def seed_files(paths, platform: str, mode: str):
    """``(name, bytes)`` for every readable ``.ops`` under ``paths`` that fits the configuration."""
    files = []
    for p in paths:
        p = Path(p)
        files.extend(sorted(p.rglob("*.ops")) if p.is_dir() else [p])
    for path in files:
        try:
            program = load(path)
        except ProgramError:
            continue
        data = seed_bytes(program, platform, mode)
        if data is not None:
            yield "seed-" + hashlib.sha1(data).hexdigest(), data


def write_seeds(paths, out: Path, platform: str, mode: str) -> int:
    """Write the seeds into a corpus directory, or a zip when ``out`` ends in ``.zip``."""
    out = Path(out)
    n = 0
    if out.suffix == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in seed_files(paths, platform, mode):
                z.writestr(name, data)
                n += 1
        return n
    out.mkdir(parents=True, exist_ok=True)
    for name, data in seed_files(paths, platform, mode):
        (out / name).write_bytes(data)
        n += 1
    return n
