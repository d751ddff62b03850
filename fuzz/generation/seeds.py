"""The text corpus as engine input bytes: seeds for atheris and OSS-Fuzz.

The long-term corpus is ``.ops`` text; engine bytes are derived from it at the
start of every campaign (and by ``unmapfuzz seeds`` for an OSS-Fuzz-style
``*_seed_corpus.zip``), so a change to the decoder never strands a corpus.

Two ways to read a corpus.  :func:`read_programs` is strict, for the
``seeds`` command: a program that ``check`` would refuse (it does not parse,
a profile rule rejects it) or that no seed can hold (more than
:data:`~unmapfuzz.generation.generator.MAX_ENCODED_OPS` operations) is an error at its
``FILE:LINE``, so nothing is silently left out.  :func:`seed_files` is
lenient, for a campaign seeding itself: what cannot be a seed is skipped.
Programs of another platform or mode than the configuration are skipped by
both: they are valid, just not for this target.
"""
from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from pathlib import Path

from unmapfuzz.atomic import atomic_write
from unmapfuzz.programs import Program, ProgramError, geometries, load_lines
from unmapfuzz.reference.profiles import validate

from .generator import MAX_ENCODED_OPS, draw_program, encode_program
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


@functools.lru_cache(maxsize=None)
def _pairs(platform: str, mode: str) -> tuple[tuple[str, str], ...]:
    """``geometries(platform, mode)``, built once: :func:`program_from_input` runs on every engine input."""
    return tuple(geometries(platform, mode))


def program_from_input(data: bytes, platform: str, mode: str, profile: str, max_ops: int) -> Program | None:
    """The program an atheris input stands for under this configuration: the inverse of
    :func:`seed_bytes`, and what every libFuzzer target runs.

    When the configuration covers several (platform, mode) pairs the first
    byte selects one, so an empty input stands for no program (None).  A crash
    input a fuzzing service reports decodes to its program only under the
    configuration of the target that found it.
    """
    pairs = _pairs(platform, mode)
    if len(pairs) > 1:
        if not data:
            return None
        platform, mode = pairs[data[0] % len(pairs)]
        data = data[1:]
    else:
        platform, mode = pairs[0]
    return draw_program(ByteSource(data), platform, mode, profile, max_ops)


def program_files(paths) -> list[Path]:
    """Every ``.ops`` file under ``paths`` (directories searched recursively, sorted)."""
    files = []
    for p in paths:
        p = Path(p)
        files.extend(sorted(p.rglob("*.ops")) if p.is_dir() else [p])
    return files


def read_programs(paths) -> tuple[list[tuple[Path, Program]], list[ProgramError]]:
    """The programs under ``paths`` that can be seeds, and an error for every one that cannot.

    The rules are ``check``'s (it parses; it is valid under its own profile)
    plus one of the seed format's own (at most MAX_ENCODED_OPS operations).
    """
    programs, errors = [], []
    for path in program_files(paths):
        try:
            program, lines = load_lines(path)
        except ProgramError as exc:
            errors.append(exc)
            continue
        invalid = validate(program, program.profile)
        if invalid:
            errors.append(lines.invalid(invalid))
        elif len(program.ops) > MAX_ENCODED_OPS:
            errors.append(ProgramError(f"{len(program.ops)} operations cannot be encoded as a seed "
                                       f"(at most {MAX_ENCODED_OPS}); this is the first one too many",
                                       lines.path, lines.op(MAX_ENCODED_OPS)))
        else:
            programs.append((path, program))
    return programs, errors


def seed_name(data: bytes) -> str:
    return "seed-" + hashlib.sha1(data).hexdigest()


def seed_files(paths, platform: str, mode: str):
    """``(name, bytes)`` for every ``.ops`` under ``paths`` that can be a seed of the configuration."""
    programs, _ = read_programs(paths)
    for _, program in programs:
        data = seed_bytes(program, platform, mode)
        if data is not None:
            yield seed_name(data), data


def write_seed_set(seeds, out: Path) -> int:
    """Write ``(name, bytes)`` seeds into a corpus directory, or a zip when ``out`` ends in
    ``.zip``; the number of distinct seeds.  Every file is written atomically, the zip as one."""
    out = Path(out)
    unique = dict(seeds)
    if out.suffix == ".zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in unique.items():
                z.writestr(name, data)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, buffer.getvalue())
        return len(unique)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in unique.items():
        atomic_write(out / name, data)
    return len(unique)


def write_seeds(paths, out: Path, platform: str, mode: str) -> int:
    """Write the seeds of every usable program under ``paths`` (see :func:`seed_files`)."""
    return write_seed_set(seed_files(paths, platform, mode), out)
