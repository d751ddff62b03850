"""Tests for unmapfuzz.campaign.lifeline and worker_process: workers die with their campaign, and say why they died."""
import os
import signal
import subprocess
import sys
import textwrap

from faults import kill_all, wait_until
from unmapfuzz.campaign.outdir import OutputError
from unmapfuzz.campaign.worker_process import WorkerProcess

# A worker that starts a child of its own (as libFuzzer's -fork does) and waits.
FORKING = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(child.pid, flush=True)
time.sleep(120)
"""

# Stands in for the campaign: starts FORKING through the lifeline, prints its pid, waits to be killed.
CAMPAIGN = """
import os, sys, time
from unmapfuzz.campaign.worker_process import WorkerProcess
w = WorkerProcess("w", "forking", [], log=sys.argv[1], cwd=".", env=dict(os.environ))
print(w.pid, flush=True)
time.sleep(120)
"""


def module_dir(tmp_path, **modules):
    for name, code in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(code))
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_of_the_campaign_stops_its_worker_and_the_worker_s_children(tmp_path):
    """When the process that started a worker dies by SIGKILL, the worker and everything it started stop."""
    env = module_dir(tmp_path, forking=FORKING)
    log = tmp_path / "w.log"
    campaign = subprocess.Popen([sys.executable, "-c", CAMPAIGN, str(log)], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, text=True)
    worker = int(campaign.stdout.readline())
    assert wait_until(lambda: log.exists() and log.read_text().strip().isdigit())
    grandchild = int(log.read_text())
    try:
        assert alive(worker) and alive(grandchild)
        campaign.kill()
        campaign.wait()
        assert wait_until(lambda: not alive(worker) and not alive(grandchild)), "orphans left running"
    finally:
        kill_all([worker, grandchild])


def test_a_lifeline_whose_parent_is_already_gone_runs_nothing(tmp_path):
    """If the campaign died before the worker armed its lifeline, the worker stops before running its module."""
    env = module_dir(tmp_path, loud="print('ran', flush=True)\n")
    result = subprocess.run([sys.executable, "-m", "unmapfuzz.campaign.lifeline", "1", "loud"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGTERM and result.stdout == ""


def test_the_module_runs_as_main_with_its_arguments(tmp_path):
    """Through the lifeline, the module runs as __main__ with its own argv, and its exit status is the worker's."""
    env = module_dir(tmp_path, echo="import sys\nprint(__name__, sys.argv[1:])\nsys.exit(3)\n")
    result = subprocess.run([sys.executable, "-m", "unmapfuzz.campaign.lifeline", str(os.getpid()), "echo",
                             "a", "-b=1"], env=env, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (3, "__main__ ['a', '-b=1']\n")


def run_worker(tmp_path, code, name="w"):
    env = module_dir(tmp_path, **{name: code})
    worker = WorkerProcess(name, name, [], log=tmp_path / f"{name}.log", cwd=tmp_path, env=env)
    worker.wait(60)
    return worker


def test_a_worker_s_output_reaches_its_log(tmp_path):
    """What a worker prints on stdout and stderr is copied whole into its log file."""
    worker = run_worker(tmp_path, "import sys\nprint('out')\nprint('err', file=sys.stderr)\n")
    assert worker.returncode == 0
    assert sorted((tmp_path / "w.log").read_text().split()) == ["err", "out"]
    assert worker.output_error(tmp_path) is None


def test_our_engines_report_of_an_output_error_is_read_back(tmp_path):
    """An engine's one-line report with exit 2 becomes the campaign's OutputError, path and reason intact."""
    worker = run_worker(tmp_path, "import sys\nprint('unmapfuzz: /x/findings/b: cannot write: File too large "
                                  "(the file size limit, ulimit -f)', file=sys.stderr)\nsys.exit(2)\n")
    error = worker.output_error(tmp_path)
    assert isinstance(error, OutputError)
    assert str(error) == "/x/findings/b: cannot write: File too large (the file size limit, ulimit -f)"


def test_an_uncaught_oserror_report_is_read_back(tmp_path):
    """A Python OSError that killed a worker (atheris prints it so) is recognised, with its file and errno."""
    worker = run_worker(tmp_path, "raise OSError(28, 'No space left on device', '/x/stats/a.json')\n")
    assert worker.returncode == 1
    assert str(worker.output_error(tmp_path)) == "/x/stats/a.json: cannot write: No space left on device"


def test_other_deaths_are_not_errors_of_the_environment(tmp_path):
    """A worker that fails for another reason is not reported as an output error."""
    worker = run_worker(tmp_path, "raise ValueError('a bug')\n")
    assert worker.returncode == 1 and worker.output_error(tmp_path) is None
