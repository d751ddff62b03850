"""Hypothesis settings for the suite: the ``ci`` profile when $CI is set, else ``dev``
(``UNMAPFUZZ_HYPOTHESIS=ci|dev|long`` overrides); see fuzz/properties.py."""
from unmapfuzz.campaign.properties import load_profile

load_profile()


import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def two_campaigns(tmp_path_factory):
    """Two short, deterministic campaigns in two directories, as two machines would leave them:
    an atheris one over every platform and mode (with a libFuzzer corpus) and a random one."""
    root = tmp_path_factory.mktemp("campaigns")
    runs = {"a": ["--engine", "atheris", "--platform", "all", "--mode", "all", "--runs", "250", "--seed", "1"],
            "b": ["--engine", "random", "--platform", "all", "--runs", "250", "--seed", "2"]}
    for name, args in runs.items():
        proc = subprocess.run([sys.executable, "-m", "unmapfuzz", "fuzz", *args, "--jobs", "1", "--time", "300",
                               "--out", str(root / name), "--quiet", "--json", "--no-minimize"],
                              cwd=root, capture_output=True, text=True, timeout=600)
        assert proc.returncode in (0, 1), proc.stderr
        assert json.loads(proc.stdout)["buckets"]
    return root / "a", root / "b"
