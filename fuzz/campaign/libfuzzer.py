"""Reading what libFuzzer prints: status lines and final ``stat::`` lines."""
from __future__ import annotations


def parse_libfuzzer(text: str) -> dict:
    """What libFuzzer printed, as numbers: final ``stat::`` lines, the last status line, ``Done N runs in T s``.

    Keys (None when absent): ``executions`` (``stat::number_of_executed_units``,
    else the last ``#N`` of a status line), ``average_exec_per_sec``,
    ``peak_rss_mb`` (``stat::peak_rss_mb``, else the last ``rss: NMb``),
    ``status_exec_per_sec`` (the last status line's ``exec/s:``), ``cov``,
    ``done_runs``, ``done_seconds``, ``new_units_added``.
    """
    out: dict = {"executions": None, "average_exec_per_sec": None, "peak_rss_mb": None,
                 "status_exec_per_sec": None, "cov": None, "done_runs": None, "done_seconds": None,
                 "new_units_added": None}
    status_execs = status_rss = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("stat::"):
            key, _, value = line[len("stat::"):].partition(":")
            value = value.strip()
            try:
                number = int(value)
            except ValueError:
                continue
            if key == "number_of_executed_units":
                out["executions"] = number
            elif key in ("average_exec_per_sec", "peak_rss_mb", "new_units_added"):
                out[key] = number
        elif line.startswith("#"):
            head, _, rest = line[1:].partition(" ")
            head = head.split("\t", 1)[0]
            if not head.isdigit():
                continue
            fields = _status_fields(line)
            if "cov" not in fields and "exec/s" not in fields:
                continue
            status_execs = int(head)
            if "cov" in fields:
                out["cov"] = fields["cov"]
            if "exec/s" in fields:
                out["status_exec_per_sec"] = fields["exec/s"]
            if "rss" in fields:
                status_rss = fields["rss"]
        elif line.startswith("Done ") and " runs in " in line:
            words = line.split()
            try:
                out["done_runs"] = int(words[1])
                out["done_seconds"] = int(words[4])
            except (IndexError, ValueError):
                pass
    if out["executions"] is None:
        out["executions"] = status_execs if status_execs is not None else out["done_runs"]
    if out["peak_rss_mb"] is None:
        out["peak_rss_mb"] = status_rss
    return out


def _status_fields(line: str) -> dict:
    """``cov: 12 ft: 3 ... exec/s: 40 rss: 50Mb`` -> {"cov": 12, ..., "exec/s": 40, "rss": 50}."""
    tokens = line.replace("\t", " ").split()
    fields = {}
    for i, tok in enumerate(tokens[:-1]):
        if tok.endswith(":") and tok[:-1] in ("cov", "ft", "exec/s", "rss"):
            value = tokens[i + 1].removesuffix("Mb")
            if value.isdigit():
                fields[tok[:-1]] = int(value)
    return fields


def child_argv(argv: list[str], module: str | None = None) -> list[str]:
    """``argv`` with an ``argv[0]`` that libFuzzer can run again.

    ``-merge=1``, ``-fork`` and ``-minimize_crash`` run the target anew as
    ``argv[0] FLAGS...`` through the shell, with the arguments joined by
    spaces.  Run as ``python -m MODULE`` or ``python FILE.py``, ``argv[0]`` is
    a Python file, not a program, so it becomes the interpreter and the
    module or file, quoted for that shell.  A frozen target (PyInstaller's
    bundle, what a service runs) is a program already and keeps its own.
    """
    import os
    import shlex
    import sys
    if not argv or getattr(sys, "frozen", False) or not argv[0].endswith(".py"):
        return argv
    runner = f"-m {module}" if module else shlex.quote(os.path.abspath(argv[0]))
    return [f"{shlex.quote(sys.executable)} {runner}", *argv[1:]]
