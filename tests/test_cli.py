"""Tests for unmapfuzz.cli's shared conventions: --version, --help, one-line usage errors, -q/-v,
and exit statuses that survive a closed pipe."""
import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

import unmapfuzz
from unmapfuzz.cli import main as cli
from unmapfuzz.cli.fuzz import render_summary

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "behaviour"
FINDING = CORPUS / "old-abandons-at-empty-pud.ops"
CLEAN = CORPUS / "block-partly-in-range.ops"


def unmapfuzz_(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unmapfuzz", *map(str, args)], capture_output=True, text=True,
                          timeout=120, **kwargs)


def status_of(argv, capsys):
    """cli.main's status, counting argparse's own exits; and what it printed."""
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def test_version():
    """--version prints the package version and exits 0."""
    result = unmapfuzz_("--version")
    assert (result.returncode, result.stdout) == (0, f"unmapfuzz {unmapfuzz.__version__}\n")


@pytest.mark.parametrize("argv,message", [
    ([], "the following arguments are required: COMMAND (see 'unmapfuzz --help')"),
    (["frob"], "argument COMMAND: invalid choice: 'frob'"),
    (["check"], "the following arguments are required: FILE (see 'unmapfuzz check --help')"),
    (["check", CLEAN, "--nope"], "unrecognized arguments: --nope"),
    (["check", CLEAN, "-q", "-v"], "argument -v/--verbose: not allowed with argument -q/--quiet"),
    (["fuzz", "--time", "nan"], "argument --time: expected a finite number of seconds above 0, not 'nan'"),
    (["fuzz", "--time", "inf"], "argument --time: expected a finite number of seconds above 0, not 'inf'"),
    (["fuzz", "--time", "0"], "argument --time: expected a finite number of seconds above 0, not '0'"),
    (["fuzz", "--time", "soon"], "argument --time: expected a finite number of seconds above 0, not 'soon'"),
    (["fuzz", "--jobs", "0"], "argument --jobs: expected a whole number of at least 1, not '0'"),
    (["fuzz", "--runs", "-5"], "argument --runs: expected a whole number of at least 1, not '-5'"),
    (["fuzz", "--seed", "-1"], "argument --seed: expected a whole number of at least 0, not '-1'"),
    (["fuzz", "--engine", "afl"], "argument --engine: invalid choice: 'afl'"),
    (["bench", "--ttff-seconds", "nan"], "argument --ttff-seconds: expected a finite number of seconds above 0"),
    (["seeds", CLEAN], "the following arguments are required: -o/--out"),
])
def test_usage_errors_are_one_line_and_exit_2(capsys, argv, message):
    """A command-line mistake is one line, 'unmapfuzz: ...', naming the mistake, and exit 2; nothing starts."""
    status, out, err = status_of(argv, capsys)
    assert status == 2 and out == ""
    assert err.startswith("unmapfuzz: ") and message in err and err.count("\n") == 1, err


def test_fuzz_time_nan_starts_nothing(tmp_path):
    """--time nan used to run a 0-second campaign and exit 0; now it is refused before any directory is made."""
    result = unmapfuzz_("fuzz", "--time", "nan", "--out", tmp_path / "out")
    assert result.returncode == 2 and not (tmp_path / "out").exists()
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def subparsers():
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("name", cli.COMMANDS)
def test_every_option_is_described_with_its_default(name):
    """Every command has a description, and each option a help text that states its default (or that it is required)."""
    parser = subparsers()[name]
    assert parser.description
    help_text = parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        takes_value = action.option_strings and action.nargs != 0
        if takes_value:
            described = parser._get_formatter()._get_help_string(action) % vars(action)
            assert "default" in described or action.required, f"{name} {action.option_strings}: {described}"
    assert "-q, --quiet" in help_text and "-v, --verbose" in help_text


def test_help_shows_values_not_none():
    """Defaults that are values are shown; options without one never say '(default: None)'."""
    text = subparsers()["fuzz"].format_help()
    assert "(default: atheris)" in text and "(default: 60.0)" in text and "(default: 0)" in text
    assert "default: None" not in text and "default: False" not in text


def closed_pipe_run(*args) -> subprocess.CompletedProcess:
    """Run unmapfuzz with stdout a pipe whose reader has already gone, as after `| head` exits."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "unmapfuzz", *map(str, args)], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args,status", [
    (["check", FINDING], 1),
    (["check", CLEAN], 0),
    (["check", CLEAN, "--impls", ","], 2),
    (["replay", "--json", CORPUS], 0),
    (["--help"], 0),
])
def test_the_exit_status_survives_a_closed_pipe(args, status):
    """With nobody reading stdout, the command still ends with its own status and no traceback."""
    result = closed_pipe_run(*args)
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_the_exit_status_survives_head():
    """`unmapfuzz check ... | head -1` keeps check's status 1 (findings), as pipefail reports it."""
    files = " ".join(str(p) for p in sorted(CORPUS.glob("*.ops")) * 20)
    result = subprocess.run(["bash", "-c", f"set -o pipefail; {sys.executable} -m unmapfuzz check {files} | head -1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and result.stdout.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_a_stdout_that_cannot_be_written_is_one_line():
    """stdout on a full device is an environment error: exit 2, one line naming <stdout>."""
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "unmapfuzz", "check", str(CLEAN)], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (2, "unmapfuzz: <stdout>: No space left on device\n")


@pytest.mark.parametrize("content,status,message", [
    (b"\xef\xbb\xbfmap page 0x1000\nunmap 0x1000 0x1000\n", 0, None),
    (b"map page 0x1000\nunmap 0x0 0x1000 # caf\xe9\n", 2, "bad.ops:2: cannot read: not UTF-8: byte 0xe9 at column 23"),
    (b"map page " + b"1" * 100_000 + b"\n", 2, "bad.ops:1: map ipa 11111111"),
])
def test_hostile_files_are_accepted_or_refused_in_one_line(tmp_path, capsys, content, status, message):
    """A BOM is accepted; bytes that are not UTF-8 and huge numbers are one FILE:LINE: line and exit 2."""
    path = tmp_path / "bad.ops"
    path.write_bytes(content)
    got, _, err = status_of(["check", path], capsys)
    assert got == status
    if message:
        assert err.count("\n") == 1 and message in err and "set_int_max_str_digits" not in err


def test_a_campaign_over_several_geometries_ends_saying_where_its_time_went(tmp_path):
    """The closing text lists each platform/mode's share of the judging time, largest first
    ('<1%' for a sliver, never a misleading 0%); a one-geometry campaign has no such line."""
    summary = {"executions": 10, "elapsed_seconds": 1.0, "exec_per_second": 10.0, "baseline": "v3-pgdnone",
               "buckets": [], "new": [],
               "geometries": {"arm32-lpae/hyp": {"programs": 1, "seconds": 0.001},
                              "arm64-4k-48/stage2": {"programs": 6, "seconds": 0.75},
                              "arm64-4k-39/stage2": {"programs": 3, "seconds": 0.249}}}
    lines = render_summary(summary, tmp_path).splitlines()
    assert lines[1] == ("time by platform/mode: arm64-4k-48/stage2 75%, arm64-4k-39/stage2 25%, "
                        f"arm32-lpae/hyp <1% (table: {tmp_path}/report.html)")
    summary["geometries"] = {"arm64-4k-39/stage2": {"programs": 10, "seconds": 1.0}}
    assert not any(line.startswith("time by") for line in render_summary(summary, tmp_path).splitlines())
