"""The meaning of engine inputs is pinned: what every byte string, and every run of choices, decodes to.

A campaign's atheris inputs and a Hypothesis example database only keep their
meaning while the decoder reads them the same way, so a change meant to make
decoding faster must not change a single program.  These tests hash what a
fixed, deterministic set of inputs decodes to (the program's ``repr``, or
None, or the exception) under every configuration, and the exact sequence of
``draw``/``draw_bits`` calls :func:`draw_program` makes on a
:class:`RandomSource`; a digest that changes means inputs now stand for other
programs.  When that is intended (the byte layout or the generator changed on
purpose), say so in the commit and update the digests.  The byte inputs begin
with the corpus's seeds and their mutations, so a program added to ``corpus/``
changes the bytes digest too: check that the same digest comes out without the
new program, then update it.

Run as a script to compare two versions on a much larger set, one line per
input, each version in its own venv (the script imports whichever
``unmapfuzz`` the interpreter has)::

    ../before/.venv/bin/python tests/test_decoding.py --scale 40 > before.txt
    .venv/bin/python tests/test_decoding.py --scale 40 > after.txt
    cmp before.txt after.txt
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import random
import struct
import sys
from pathlib import Path

import pytest

from unmapfuzz.generation.generator import EXACT_TAG, ByteSource, RandomSource, draw_program
from unmapfuzz.generation.seeds import program_from_input, seed_files
from unmapfuzz.programs import MODES, PLATFORMS, PROFILES

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

# (platform, mode, profile, max_ops): every single configuration, the multi-pair ones,
# unusual lengths, and the configurations draw_program refuses.
CONFIGS = (
    [(platform, mode, profile, 12) for platform in (*PLATFORMS, "all") for mode in (*MODES, "all")
     for profile in PROFILES]
    + [(platform, mode, profile, max_ops) for platform, mode in (("arm64-4k-39", "stage2"), ("all", "all"))
       for profile in PROFILES for max_ops in (1, 3, 255)]
    + [("arm64-4k-39", "stage2", "realistic", 0), ("arm64-4k-39", "stage2", None, 12),
       ("arm64-4k-39", "nope", "realistic", 12), ("nope", "stage2", "adversarial", 12),
       ("all", "all", "nope", 12)]
)


def outcome(decode) -> str:
    """What one decoding gave: the program's repr, None, or the exception it raised."""
    try:
        return repr(decode())
    except Exception as exc:  # a raised exception is part of what is pinned
        return f"raises {exc!r}"


# -- inputs ---------------------------------------------------------------------------

def mutate(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    """``data`` with one libFuzzer-like mutation: a byte changed, bytes inserted or
    deleted, a cut, or a splice with another input."""
    out = bytearray(data)
    how = rng.randrange(6)
    at = rng.randrange(len(out) + 1)
    if how == 0 and out:
        out[min(at, len(out) - 1)] = rng.randrange(256)
    elif how == 1:
        out[at:at] = rng.randbytes(rng.randrange(1, 9))
    elif how == 2:
        del out[at:at + rng.randrange(1, 17)]
    elif how == 3:
        del out[at:]
    elif how == 4 and others:
        other = rng.choice(others)
        out[at:] = other[rng.randrange(len(other) + 1):]
    elif out:
        out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
    return bytes(out)


def exact_input(rng: random.Random, page_shift: int) -> bytes:
    """An exact-form input whose ops mostly pass the realistic rules, so that
    programs get long and overlap (random u64 addresses almost never do)."""
    out = bytearray(struct.pack("<BHB", 255, EXACT_TAG, rng.randrange(256)))
    for _ in range(rng.randrange(16)):
        code = rng.choice((0, 0, 1, 2, 3, 3, rng.randrange(256)))
        shift = rng.choice((page_shift, 21, 29, 30))
        ipa = rng.randrange(8) << shift if rng.randrange(8) else rng.getrandbits(64)
        out.append(code)
        out += ipa.to_bytes(8, "little")
        if code % 4 == 3:
            size = (rng.randrange(1, 16) << rng.choice((page_shift, shift)) if rng.randrange(8)
                    else rng.getrandbits(64))
            out += size.to_bytes(8, "little")
        else:
            out.append(rng.randrange(4))
            out += rng.getrandbits(40).to_bytes(5, "little")
    return bytes(out[:len(out) - rng.choice((0, 0, 0, 1, 5))])


def inputs_for(platform: str, mode: str, scale: int) -> list[bytes]:
    """A deterministic mix of inputs for a configuration: its seeds, mutations of them,
    crafted exact-form inputs and random bytes of 0 to 300 bytes."""
    rng = random.Random(f"{platform}/{mode}")
    seeds = [data for _, data in seed_files([CORPUS], platform, mode)]
    selector = platform == "all" or mode == "all"      # the first byte picks a (platform, mode)
    out = list(seeds)
    for _ in range(60 * scale):
        data = rng.choice(seeds) if seeds else rng.randbytes(40)
        for _ in range(rng.choice((1, 1, 2, 4))):
            data = mutate(rng, data, seeds)
        out.append(data)
    for _ in range(40 * scale):
        out.append(rng.randbytes(selector) + exact_input(rng, rng.choice((12, 16))))
    for _ in range(40 * scale):
        out.append(rng.randbytes(rng.randrange(301)))
    for _ in range(10 * scale):
        out.append(bytes([255]) + rng.randbytes(rng.randrange(1, 80)))
    return out


# -- what they decode to --------------------------------------------------------------

class Traced:
    """A RandomSource that records every call made on it, to pin the sequence of draws."""

    def __init__(self, seed: int):
        self.inner = RandomSource(seed)
        self.calls: list[str] = []

    def draw(self, n: int) -> int:
        value = self.inner.draw(n)
        self.calls.append(f"d{n}={value}")
        return value

    def draw_bits(self, bits: int) -> int:
        value = self.inner.draw_bits(bits)
        self.calls.append(f"b{bits}={value}")
        return value


class DrawByDraw:
    """A ByteSource seen only through the Source protocol, so that no fast path for bytes applies."""

    def __init__(self, data: bytes):
        self.inner = ByteSource(data)

    def draw(self, n: int) -> int:
        return self.inner.draw(n)

    def draw_bits(self, bits: int) -> int:
        return self.inner.draw_bits(bits)

    @property
    def exhausted(self) -> bool:
        return self.inner.exhausted


def byte_lines(scale: int):
    """One line per (configuration, input): what program_from_input makes of it."""
    for platform, mode, profile, max_ops in CONFIGS:
        config = f"{platform} {mode} {profile} {max_ops}"
        for data in inputs_for(platform, mode, scale):
            result = outcome(lambda: program_from_input(data, platform, mode, profile, max_ops))
            yield f"{config} {data.hex() or '-'} {result}"


def random_lines(scale: int):
    """One line per (configuration, seed): the program a RandomSource draws and the calls it took."""
    for platform in PLATFORMS:
        for mode in MODES:
            for profile in PROFILES:
                for max_ops in (12, 40):
                    for seed in range(25 * scale):
                        src = Traced(seed)
                        result = outcome(lambda: draw_program(src, platform, mode, profile, max_ops))
                        calls = hashlib.sha256(" ".join(src.calls).encode()).hexdigest()[:16]
                        yield f"{platform} {mode} {profile} {max_ops} {seed} {calls} {result}"


def digest(lines) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode() + b"\n")
    return h.hexdigest()


# -- the pins -------------------------------------------------------------------------

PINNED_SCALE = 3           # about 25,000 inputs and 3,000 runs of random choices, in a few seconds
BYTES_DIGEST = "583d037baeeb0e7e088618f3772d80dfdc4e53ce56260b3845c0c26f94c95a93"
RANDOM_DIGEST = "b6a01d7fa7eb93e80f654faf97a842f6209d407da224ef0f7a98ac90a207d4ea"


def test_bytes_decode_as_they_always_did():
    """Every input of the fixed set decodes to the same program (or None, or exception) as when pinned."""
    assert digest(byte_lines(PINNED_SCALE)) == BYTES_DIGEST


@pytest.mark.parametrize("profile", PROFILES)
def test_bytes_read_in_bulk_mean_what_their_draws_mean(profile):
    """Whatever the generator reads straight from a ByteSource's bytes, it reads as the draws would."""
    for platform in PLATFORMS:
        for mode in MODES:
            for data in inputs_for(platform, mode, 1):
                for max_ops in (12, 255):
                    assert (draw_program(ByteSource(data), platform, mode, profile, max_ops)
                            == draw_program(DrawByDraw(data), platform, mode, profile, max_ops)), data.hex()


def test_random_choices_draw_as_they_always_did():
    """draw_program makes the same draws, in the same order, and the same programs as when pinned."""
    assert digest(random_lines(PINNED_SCALE)) == RANDOM_DIGEST


def stream_lines(path: str):
    """One line per (configuration, record) of a recorded campaign stream (``<u32 length><bytes>`` records)."""
    data, pos = Path(path).read_bytes(), 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        record = data[pos + 4:pos + 4 + n]
        pos += 4 + n
        for platform, mode, profile, max_ops in CONFIGS:
            result = outcome(lambda: program_from_input(record, platform, mode, profile, max_ops))
            yield f"{platform} {mode} {profile} {max_ops} {record.hex() or '-'} {result}"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="Print what a deterministic input set decodes to, a line each.")
    parser.add_argument("--scale", type=int, default=PINNED_SCALE,
                        help=f"inputs per configuration, about 150 per unit (the tests use {PINNED_SCALE})")
    parser.add_argument("--stream", help="also decode every record of a recorded campaign stream")
    args = parser.parse_args(argv)
    lines = itertools.chain(byte_lines(args.scale), random_lines(args.scale),
                            stream_lines(args.stream) if args.stream else ())
    h, count = hashlib.sha256(), 0
    for line in lines:
        sys.stdout.write(line + "\n")
        h.update(line.encode() + b"\n")
        count += 1
    print(f"# {count} lines, sha256 {h.hexdigest()}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
