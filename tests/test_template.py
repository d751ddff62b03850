"""``unmapfuzz template``: a built-in implementation, saved, is a working --impl that agrees with it."""
import subprocess
import sys
from pathlib import Path

import pytest

from unmapfuzz.impls import BUILTIN, load_impl
from unmapfuzz.programs import load
from unmapfuzz.verdict.check import DEFAULT_BASELINE, check
from unmapfuzz.verdict.signature import judged

CORPUS = sorted((Path(__file__).resolve().parent.parent / "corpus").rglob("*.ops"))


def template(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "unmapfuzz", "template", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60)


@pytest.mark.parametrize("name", list(BUILTIN))
def test_a_saved_template_loads_and_behaves_as_its_builtin(tmp_path, name):
    """The template of each built-in, written to a file, loads as --impl and has that built-in's findings
    on every corpus program, none of them new when it is the baseline's."""
    out = tmp_path / "mine.py"
    done = template(name, "-o", str(out))
    assert done.returncode == 0, done.stderr
    _, mine = load_impl(f"mine={out}")
    for path in CORPUS:
        program = load(path)
        verdict = check(program, dict(BUILTIN, mine=mine), program.profile)
        assert verdict.results["mine"].kinds == verdict.results[name].kinds, path
        if name == DEFAULT_BASELINE:
            assert all(explained for sig, explained in judged(verdict).items() if sig.impl == "mine"), path


def test_the_default_is_the_baseline_printed_to_stdout():
    """Without arguments the template is the default baseline's source, on stdout."""
    done = template()
    assert done.returncode == 0
    assert done.stdout == (Path(sys.modules[BUILTIN[DEFAULT_BASELINE].__module__].__file__)).read_text()


def test_an_existing_file_is_not_overwritten_without_force(tmp_path):
    """-o onto an existing file is refused in one line (exit 2) unless --force is given."""
    out = tmp_path / "mine.py"
    out.write_text("mine")
    refused = template("-o", str(out))
    assert refused.returncode == 2 and refused.stderr.startswith("unmapfuzz: ") and out.read_text() == "mine"
    assert template("-o", str(out), "--force").returncode == 0 and out.read_text() != "mine"
