"""No implementation can silence a command or a campaign.

Whatever a user's ``unmap_range`` does to the process running it -- any
``BaseException``, ``os._exit``, a loop that reads nothing, a sleep, runaway
memory, garbage in an entry, a ``kill`` of its own process -- it comes back as a
``crash`` or ``hang`` finding of that implementation: in ``check()``, in the
``check``, ``replay`` and ``minimize`` commands (exit 1, never a traceback or a
hang), and in a campaign, which runs to its time and leaves a bucket whose
reproducer replays as its header says (tests/hostileimpls.py has the code).
"""
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hostileimpls
from hostileimpls import HOSTILE
from unmapfuzz.impls import BUILTIN
from unmapfuzz.programs import parse
from unmapfuzz.verdict.check import check
from unmapfuzz.verdict.guard import Guard
from unmapfuzz.verdict.signature import judged

HERE = Path(__file__).resolve().parent
SPEC = str(HERE / "hostileimpls.py")
PROGRAM = """\
platform arm64-4k-39
mode stage2
map page 0x40001000
map page 0x40002000
unmap 0x40001000 0x1000
unmap 0x40000000 0x200000
"""
FAST = {"UNMAPFUZZ_DEADLINE": "0.5", "UNMAPFUZZ_PROGRAM_DEADLINE": "2"}
"""Deadlines short enough that a hang costs the suite little."""


def unmapfuzz(*args, env=None, timeout=120, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unmapfuzz", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=dict(os.environ, **FAST, **(env or {})))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_check_turns_hostile_code_into_its_finding(name):
    """check() gives the hostile implementation its crash or hang at the one-page unmap, and the others go on."""
    impls = dict(BUILTIN, hostile=getattr(hostileimpls, name))
    deadline = 2 if name == "eat_memory" else 0.5     # eating 512 MB takes a moment: no hang before it
    verdict = check(parse(PROGRAM), impls, "realistic", guard=Guard(deadline=deadline, program=4))
    result = verdict.results["hostile"]
    assert result.status == HOSTILE[name], result.violations
    assert [(v.kind, v.op) for v in result.violations] == [(HOSTILE[name], 2)]
    assert all(verdict.results[b].status == "ok" for b in BUILTIN)
    found = [(str(sig), explained) for sig, explained in judged(verdict).items()]
    assert (f"hostile/{HOSTILE[name]}/arm64-4k-39/stage2/" + result.violations[0].level, False) in found


def test_a_program_s_calls_share_one_deadline():
    """Many calls that each stay under the per-call deadline still end as a hang once the program's time is up."""
    def slow(k, kvm, pgdp, start, size):
        time.sleep(0.3)
        BUILTIN["v3"](k, kvm, pgdp, start, size)

    program = parse("platform arm64-4k-39\nmode stage2\n" + "unmap 0x0 0x1000\n" * 10)
    verdict = check(program, dict(BUILTIN, slow=slow), "realistic", guard=Guard(deadline=0.5, program=1.0))
    result = verdict.results["slow"]
    assert result.status == "hang" and 2 <= result.violations[0].op <= 4, result.violations


def test_builtins_are_not_guarded():
    """The built-in walkers run unwrapped (the guard costs them nothing); a user's function is wrapped."""
    guard = Guard()
    assert all(guard.wrap(fn) is fn for fn in BUILTIN.values())
    assert guard.wrap(hostileimpls.spin) is not hostileimpls.spin


@pytest.mark.parametrize("name", ["sys_exit", "keyboard_interrupt", "spin", "garbage", "kill"])
def test_the_commands_report_hostile_code_with_exit_1(tmp_path, name):
    """check ends with the finding and exit 1, replay finds it as recorded, minimize keeps it; no traceback,
    even when the code kills the process running it (the commands check a user's code in a child process)."""
    kind = HOSTILE.get(name, "crash")
    prog = tmp_path / "p.ops"
    prog.write_text(PROGRAM + "".join(f"expect {b} ok\n" for b in BUILTIN) + f"expect hostile {kind}\n")
    impl = f"hostile={SPEC}:{name}"
    checked = unmapfuzz("check", str(prog), "--impl", impl)
    assert checked.returncode == 1 and "Traceback" not in checked.stderr, checked.stderr
    assert f"NEW   hostile/{kind}/arm64-4k-39/stage2/" in checked.stdout
    replayed = unmapfuzz("replay", str(prog), "--impl", impl, "--json")
    assert "Traceback" not in replayed.stderr, replayed.stderr
    assert replayed.returncode == 0 and json.loads(replayed.stdout)["status"] == "as recorded", replayed.stdout
    small = tmp_path / "small.ops"
    minimized = unmapfuzz("minimize", str(prog), "--impl", impl, "-o", str(small))
    assert minimized.returncode == 0 and "Traceback" not in minimized.stderr, minimized.stderr
    assert f"# signature: hostile/{kind}/" in small.read_text()
    assert unmapfuzz("check", str(small), "--impl", impl).returncode == 1


def _replay_line(path: Path) -> list[str]:
    line = next(l for l in path.read_text().splitlines() if l.startswith("# replay: "))
    return shlex.split(line.removeprefix("# replay: "))


@pytest.mark.parametrize("name,engine", [("sys_exit", "atheris"), ("spin", "random"), ("kill", "atheris")])
def test_a_campaign_runs_to_its_time_and_keeps_the_finding(tmp_path, name, engine):
    """A campaign with hostile code runs to its time, exits 1 with a new bucket for it, and that bucket's
    reproducer, run as its replay line says from the project root, shows the finding again."""
    out = tmp_path / "out"
    began = time.monotonic()
    proc = unmapfuzz("fuzz", "--engine", engine, "--platform", "arm64-4k-39", "--mode", "stage2", "--jobs", "1",
                     "--time", "12", "--out", str(out), "--impl", f"hostile={SPEC}:{name}", "--json", "-q",
                     timeout=240, cwd=tmp_path)
    elapsed = time.monotonic() - began
    assert proc.returncode == 1, proc.stderr
    assert elapsed >= 11, f"the campaign ended after {elapsed:.1f} s of its 12"
    summary = json.loads(proc.stdout)
    kind = "hang" if name == "spin" else "crash"
    mine = [s for s in summary["new_for_user"] if s.startswith(f"hostile/{kind}/arm64-4k-39/stage2/")]
    assert mine, summary["new"]
    assert not list(tmp_path.glob("crash-*")) and not list(Path.cwd().glob("crash-*"))
    bucket = next(b for b in summary["buckets"] if b["signature"] == mine[0])
    reproducer = Path(bucket["program"])
    command = _replay_line(reproducer)
    assert command[:2] == ["unmapfuzz", "check"] and "--impl" in command
    if name == "kill":
        return          # its replay kills the process that runs it, as the bucket's header says
    replayed = unmapfuzz(*command[1:], cwd=HERE.parent)
    assert replayed.returncode == 1 and f"NEW   {mine[0]}" in replayed.stdout, replayed.stdout + replayed.stderr


def test_check_isolated_gives_check_s_verdict_and_survives_a_kill():
    """In a child process the verdict of well-behaved code is check()'s, byte for byte; code that kills
    the child gets a crash at the operation it was running, and the others their own verdicts."""
    from unmapfuzz.verdict.isolate import check_isolated
    program = parse(PROGRAM)
    calm = dict(BUILTIN, mine=lambda *args: BUILTIN["v3"](*args))
    assert check_isolated(program, calm, "realistic").to_json() == check(program, calm, "realistic").to_json()
    verdict = check_isolated(program, dict(BUILTIN, hostile=hostileimpls.kill), "realistic")
    result = verdict.results["hostile"]
    assert result.status == "crash" and result.violations[0].op == 2, result.violations
    assert "killed by SIGKILL" in result.violations[0].detail
    assert all(verdict.results[b].status == "ok" for b in BUILTIN)
