"""Tests for unmapfuzz.campaign.runs: one campaign per directory, executions that add up across runs."""
import json

import pytest

from unmapfuzz.campaign.outdir import CampaignError
from unmapfuzz.campaign.runs import (LOST, CampaignMismatch, fold_leftovers, previous_runs, remove_leftovers,
                                     geometry_totals, totals, worker_stats)

IDENTITY = {"engine": "random", "platform": "arm64-4k-39", "mode": "stage2", "profile": "realistic",
            "impls": ["old", "v2", "v3", "v3-pgdnone"]}


def write_summary(out, **fields):
    (out / "summary.json").write_text(json.dumps(dict(IDENTITY, **fields)))


def write_stats(out, name, execs, invalid=0, started=100.0, time=110.0):
    (out / "stats").mkdir(exist_ok=True)
    (out / "stats" / name).write_text(json.dumps({"execs": execs, "invalid": invalid, "started": started,
                                                  "time": time}))


def test_an_empty_directory_has_no_runs(tmp_path):
    """A directory without summary.json holds no campaign yet: any configuration may start there."""
    assert previous_runs(tmp_path, IDENTITY) == ([], None)


def test_another_configuration_is_refused_naming_every_difference(tmp_path):
    """A resume with another engine or implementation set is refused with one line listing what differs."""
    write_summary(tmp_path, runs=[])
    other = dict(IDENTITY, engine="atheris", impls=[*IDENTITY["impls"], "mine"])
    with pytest.raises(CampaignMismatch) as info:
        previous_runs(tmp_path, other)
    assert str(info.value) == (f"{tmp_path}: holds a campaign with --engine random (this run: atheris); "
                               "implementations old,v2,v3,v3-pgdnone (this run: old,v2,v3,v3-pgdnone,mine); "
                               "resume it with the same options, or give another --out")


def test_a_summary_from_before_runs_counts_as_one_run(tmp_path):
    """An older summary (no runs, no impls) is one run with its executions, and any implementation set fits."""
    (tmp_path / "summary.json").write_text(json.dumps({"engine": "random", "platform": "arm64-4k-39",
                                                       "mode": "stage2", "profile": "realistic",
                                                       "executions": 500, "invalid": 3, "elapsed_seconds": 9.0,
                                                       "finished": True}))
    runs, _ = previous_runs(tmp_path, dict(IDENTITY, impls=["old", "mine"]))
    assert [(r["executions"], r["invalid"], r["elapsed_seconds"]) for r in runs] == [(500, 3, 9.0)]


def test_an_unreadable_summary_is_an_error_not_a_fresh_start(tmp_path):
    """A summary.json that is not JSON stops the campaign with a line saying what to do."""
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(CampaignError, match="summary.json: cannot read this campaign's summary .*move it away"):
        previous_runs(tmp_path, IDENTITY)


def test_leftovers_bring_a_killed_run_up_to_date_once(tmp_path):
    """A killed run's entry takes the larger of its recorded and left-behind figures; folding again changes nothing."""
    runs = [{"started": 100.0, "elapsed_seconds": 3.0, "executions": 40, "invalid": 1, "finished": False,
             "stop": None}]
    write_stats(tmp_path, "random.11.json", 70, invalid=2, time=108.0)
    write_stats(tmp_path, "random.12.json", 30, time=112.5)
    assert fold_leftovers(runs, tmp_path, "random") is True
    assert runs == [{"started": 100.0, "elapsed_seconds": 12.5, "executions": 100, "invalid": 2,
                     "finished": False, "stop": LOST}]
    assert fold_leftovers(runs, tmp_path, "random") is False
    assert sorted(p.name for p in remove_leftovers(tmp_path)) == ["random.11.json", "random.12.json"]
    assert fold_leftovers(runs, tmp_path, "random") is False and runs[0]["executions"] == 100


def test_a_finished_run_keeps_its_stop_and_leftovers_without_a_run_make_one(tmp_path):
    """Leftovers never lower a figure or relabel a clean stop; leftovers with no ledger become a run of their own."""
    runs = [{"started": 100.0, "elapsed_seconds": 20.0, "executions": 900, "invalid": 0, "finished": True,
             "stop": "time"}]
    write_stats(tmp_path, "random.11.json", 500)
    assert fold_leftovers(runs, tmp_path, "random") is False and runs[0]["stop"] == "time"
    fresh: list = []
    assert fold_leftovers(fresh, tmp_path, "random") is True and fresh[0]["executions"] == 500


def test_atheris_executions_come_from_libfuzzer_status_lines(tmp_path):
    """For atheris, executions are the last status line of each worker log, summed."""
    (tmp_path / "workers").mkdir()
    (tmp_path / "workers" / "atheris-0.log").write_text("#64\tpulse  cov: 10 ft: 20 corp: 3/4b exec/s: 32 rss: 50Mb\n")
    (tmp_path / "workers" / "atheris-1.log").write_text("#128\tpulse  cov: 12 ft: 20 corp: 3/4b exec/s: 32 rss: 50Mb\n")
    stats = worker_stats(tmp_path, "atheris")
    assert (stats["execs"], stats["cov"]) == (192, 12)


def test_totals_sum_the_runs():
    """The ledger's top-level figures are the sums over its runs."""
    runs = [{"executions": 100, "invalid": 1, "elapsed_seconds": 10.0},
            {"executions": 50, "invalid": 0, "elapsed_seconds": 5.0}]
    assert totals(runs) == {"executions": 150, "invalid": 1, "elapsed_seconds": 15.0, "exec_per_second": 10.0}


def write_split(out, name, split, started=100.0, time=110.0):
    (out / "stats").mkdir(exist_ok=True)
    execs = sum(g["programs"] for g in split.values() if isinstance(g, dict) and isinstance(g.get("programs"), int))
    (out / "stats" / name).write_text(json.dumps({"execs": execs, "started": started, "time": time,
                                                  "geometries": split}))


def test_the_work_by_platform_and_mode_is_summed_over_workers_and_runs(tmp_path):
    """Each worker's split is summed per platform/mode; runs add up in the ledger, with the rate of
    each geometry recomputed from the sums (not averaged); a malformed entry is passed over."""
    write_split(tmp_path, "random.1.json", {"arm64-4k-39/stage2": {"programs": 100, "repeats": 10, "seconds": 1.0},
                                            "arm32-lpae/hyp": {"programs": 30, "repeats": 0, "seconds": 0.5}})
    write_split(tmp_path, "random.2.json", {"arm64-4k-39/stage2": {"programs": 50, "repeats": 5, "seconds": 1.0},
                                            "arm64-4k-48/hyp": "garbage", "x/y": {"programs": "many"}})
    split = worker_stats(tmp_path, "random")["geometries"]
    assert split["arm64-4k-39/stage2"] == {"programs": 150, "repeats": 15, "seconds": 2.0}
    assert split["arm32-lpae/hyp"] == {"programs": 30, "repeats": 0, "seconds": 0.5}
    assert "arm64-4k-48/hyp" not in split and split["x/y"] == {"programs": 0, "repeats": 0, "seconds": 0}
    runs = [{"geometries": split}, {"geometries": {"arm32-lpae/hyp": {"programs": 90, "repeats": 1, "seconds": 0.5}}},
            {"executions": 5}]                         # a run from before the split was recorded
    total = geometry_totals(runs)
    assert list(total) == ["arm32-lpae/hyp", "arm64-4k-39/stage2", "x/y"]
    assert total["arm32-lpae/hyp"] == {"programs": 120, "repeats": 1, "seconds": 1.0, "programs_per_second": 120.0}
    assert total["arm64-4k-39/stage2"]["programs_per_second"] == 75.0
    assert total["x/y"]["programs_per_second"] == 0.0


def test_leftovers_fold_the_split_of_a_killed_run_once(tmp_path):
    """A killed run's entry takes its workers' split, figure by figure the larger, so folding twice
    changes nothing and a split the entry already had is not lost."""
    write_split(tmp_path, "random.1.json", {"arm64-4k-39/stage2": {"programs": 100, "repeats": 10, "seconds": 1.0}})
    runs = [{"started": 100.0, "elapsed_seconds": 5.0, "executions": 80, "invalid": 0, "finished": False,
             "stop": None, "geometries": {"arm64-4k-39/stage2": {"programs": 80, "repeats": 12, "seconds": 0.8},
                                          "arm32-lpae/hyp": {"programs": 3, "repeats": 0, "seconds": 0.1}}}]
    assert fold_leftovers(runs, tmp_path, "random")
    want = {"arm32-lpae/hyp": {"programs": 3, "repeats": 0, "seconds": 0.1},
            "arm64-4k-39/stage2": {"programs": 100, "repeats": 12, "seconds": 1.0}}
    assert runs[0]["geometries"] == want and runs[0]["executions"] == 100
    assert not fold_leftovers(runs, tmp_path, "random")
    assert runs[0]["geometries"] == want


def test_a_geometry_judged_in_under_a_millisecond_keeps_its_time_and_rate(tmp_path):
    """Seconds are kept to the microsecond from the stats file to the summary: a geometry that took
    0.4 ms is not written as 0 seconds and 0 programs/s."""
    write_split(tmp_path, "random.1.json", {"arm32-lpae/hyp": {"programs": 2, "repeats": 0, "seconds": 0.0004}})
    split = worker_stats(tmp_path, "random")["geometries"]
    assert split["arm32-lpae/hyp"]["seconds"] == 0.0004
    assert geometry_totals([{"geometries": split}])["arm32-lpae/hyp"]["programs_per_second"] == 5000.0
