"""The measuring scripts under ``scripts/`` still run against this tree.

They are not part of the package, and nothing else imports them: without this,
the README's per-design table would name a command that no longer works.
``per_design.py`` is also one more equivalence check, on a real atheris stream
rather than generated programs: it fails when any design (fast paths, lockstep,
``finals=False``, the harness's memo, prefix resumption) judges a program of the
stream differently from the reference.
"""
import re
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def test_per_design_runs_and_every_design_agrees(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPTS / "per_design.py"), "--runs", "600", "--window", "200",
                           "--rounds", "1"], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = dict(re.findall(r"^\| ([^|]+?) \| ([\d,]+) \| [\d.]+x \|$", done.stdout, re.M))
    for label in ("reference: check(fast=False, lockstep=False)", "+ fast paths (skip_none_*)",
                  "+ lockstep over one machine", "+ finals=False", "+ memo of recent programs (Harness.judge)",
                  "+ prefix resumption", "+ recording findings (Harness.run)",
                  "the walkers and the model", "the walkers", "nothing"):
        assert int(rows[label].replace(",", "")) > 0, (label, done.stdout)
    assert "200 programs of a arm64-4k-39/stage2 campaign (inputs 401-600 of 600)" in done.stdout
