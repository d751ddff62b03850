"""Seeds: the text corpus as atheris inputs that decode back to the same programs."""
import zipfile
from pathlib import Path

import pytest

from unmapfuzz.generation.generator import ByteSource, draw_program
from unmapfuzz.programs import geometries as configs
from unmapfuzz.programs import load
from unmapfuzz.generation.seeds import seed_bytes, write_seeds

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
FILES = sorted(CORPUS.rglob("*.ops"))


def decode(data: bytes, platform: str, mode: str):
    """What fuzz/atheris_target.py's test_one_input does with the bytes."""
    pairs = configs(platform, mode)
    if len(pairs) > 1:
        platform, mode = pairs[data[0] % len(pairs)]
        data = data[1:]
    else:
        platform, mode = pairs[0]
    return draw_program(ByteSource(data), platform, mode, "adversarial", 255)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_corpus_program_round_trips_through_seed_bytes(path):
    """Under --platform all --mode all, each corpus program's seed decodes to its own platform, mode and ops."""
    program = load(path)
    decoded = decode(seed_bytes(program, "all", "all"), "all", "all")
    assert (decoded.platform, decoded.mode, decoded.ops) == (program.platform, program.mode, program.ops)


def test_other_configurations_are_skipped():
    """A program of another platform has no seed for a single-platform configuration."""
    program = load(CORPUS / "behaviour" / "second-root-page-freed.ops")
    assert seed_bytes(program, "arm64-4k-39", "stage2") is None


def test_write_seeds_directory_and_zip(tmp_path):
    """The directory and the OSS-Fuzz zip hold the same seeds, one per fitting program."""
    fitting = [p for p in FILES if (load(p).platform, load(p).mode) == ("arm64-4k-39", "stage2")]
    n_dir = write_seeds([CORPUS], tmp_path / "dir", "arm64-4k-39", "stage2")
    n_zip = write_seeds([CORPUS], tmp_path / "target_seed_corpus.zip", "arm64-4k-39", "stage2")
    assert n_dir == n_zip == len(fitting) > 0
    names = sorted(f.name for f in (tmp_path / "dir").iterdir())
    with zipfile.ZipFile(tmp_path / "target_seed_corpus.zip") as z:
        assert sorted(z.namelist()) == names
