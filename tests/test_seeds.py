"""Seeds: the text corpus as atheris inputs that decode back to the same programs."""
import zipfile
from pathlib import Path

import pytest

from unmapfuzz.generation.generator import ByteSource, draw_program
from unmapfuzz.programs import geometries as configs
from unmapfuzz.programs import load
from unmapfuzz.cli import main as cli
from unmapfuzz.generation.seeds import read_programs, seed_bytes, seed_files, write_seeds

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


LONG = "map page 0x1000\n" + "unmap 0x1000 0x1000\n" * 300


def test_read_programs_applies_checks_rules_and_the_seed_limit(tmp_path):
    """A program that does not parse, is invalid under its profile, or has over 255 ops is an error at its line."""
    (tmp_path / "ok.ops").write_text("map page 0x1000\nunmap 0x0 0x2000\n")
    (tmp_path / "bad.ops").write_text("map page 0x1000\nbogus\n")
    (tmp_path / "hyp.ops").write_text("mode hyp\nmap page 0x1000\nmap pmd 0x200000\n")
    (tmp_path / "long.ops").write_text(LONG)
    programs, errors = read_programs([tmp_path])
    assert [p.name for p, _ in programs] == ["ok.ops"]
    assert sorted((Path(e.path).name, e.line) for e in errors) == [("bad.ops", 2), ("hyp.ops", 3), ("long.ops", 256)]
    assert "301 operations cannot be encoded as a seed (at most 255)" in str(next(e for e in errors if e.line == 256))
    assert len(list(seed_files([tmp_path], "arm64-4k-39", "stage2"))) == 1     # the campaign's reading skips them


@pytest.mark.parametrize("text,message", [
    (LONG, "long.ops:256: 301 operations cannot be encoded as a seed"),
    ("map page 0x1000\nbogus\n", "long.ops:2: unknown directive 'bogus'"),
    ("mode hyp\nmap pmd 0x200000\n", "long.ops:2: invalid program: op 0: hyp has no block map path"),
])
def test_seeds_command_refuses_what_check_refuses(tmp_path, capsys, text, message):
    """`seeds` exits 2 with FILE:LINE: on a program check would refuse or no seed can hold, and writes nothing."""
    (tmp_path / "long.ops").write_text(text)
    (tmp_path / "ok.ops").write_text("map page 0x1000\n")
    assert cli.main(["seeds", str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("unmapfuzz: ") and message in line
    assert not (tmp_path / "out").exists()


def test_seeds_command_output_errors_are_one_line(tmp_path, capsys):
    """An -o that cannot be created, or a directory without programs, is one line and exit 2, never a traceback."""
    (tmp_path / "ok.ops").write_text("map page 0x1000\n")
    (tmp_path / "file").write_text("")
    (tmp_path / "empty").mkdir()
    assert cli.main(["seeds", str(tmp_path / "ok.ops"), "-o", str(tmp_path / "file" / "x.zip")]) == 2
    assert capsys.readouterr().err == f"unmapfuzz: {tmp_path / 'file'}: cannot write: File exists\n"
    assert cli.main(["seeds", str(tmp_path / "ok.ops"), "-o", str(tmp_path / "file" / "dir")]) == 2
    assert capsys.readouterr().err.startswith(f"unmapfuzz: {tmp_path / 'file'}")
    assert cli.main(["seeds", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"unmapfuzz: {tmp_path / 'empty'}: no .ops file in this directory\n"


def test_seeds_command_writes_the_zip_whole_and_says_what_it_skipped(tmp_path, capsys):
    """The zip is written in one rename (no part file left) and the summary line counts the skipped programs."""
    out = tmp_path / "t_seed_corpus.zip"
    assert cli.main(["seeds", str(CORPUS), "-o", str(out)]) == 0
    fitting = [p for p in FILES if (load(p).platform, load(p).mode) == ("arm64-4k-39", "stage2")]
    err = capsys.readouterr().err
    assert err == f"{len(fitting)} seeds written to {out} ({len(FILES) - len(fitting)} programs of other " \
                  "platforms or modes skipped)\n"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    assert cli.main(["seeds", "-q", str(CORPUS), "-o", str(out)]) == 0 and capsys.readouterr().err == ""
