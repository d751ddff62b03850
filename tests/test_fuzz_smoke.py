"""A short, deterministic campaign on each engine finishes with its findings written."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from unmapfuzz.verdict.check import check
from unmapfuzz.programs import load
from unmapfuzz.verdict.signature import Signature, signatures



@pytest.mark.parametrize("engine", ["atheris", "hypothesis", "random"])
def test_campaign_smoke(engine, tmp_path):
    """A 200-run single-job campaign writes summary.json and buckets whose programs still show their signature."""
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "unmapfuzz", "fuzz", "--engine", engine, "--runs", "200", "--jobs", "1",
         "--seed", "1", "--time", "300", "--out", str(out), "--quiet", "--no-minimize", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] is True
    assert summary["executions"] >= 200
    assert summary["buckets"], "200 realistic programs on arm64-4k-39 always meet a known divergence"
    for bucket in summary["buckets"]:
        program = load(bucket["program"])
        assert Signature.parse(bucket["signature"]) in signatures(check(program, profile="realistic"))
    assert (out / "log.jsonl").read_text().count('"event": "new_bucket"') == len(summary["buckets"])
