"""The Optuna sweeper on a millisecond task: results, resume after SIGKILL, failures, bad input."""

import csv
import subprocess
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.conftest import run_py_importing_none_of
from tests.sweep.helpers import (
    app_cmd,
    counted,
    env,
    kill_once_running,
    param_sets,
    results,
    sweep_app,
    trials,
)


def test_sweep_writes_results_and_reproduce_command(tmp_path: Path) -> None:
    out = sweep_app(tmp_path, "hydra.sweeper.n_trials=5", "hydra.sweeper.n_jobs=2")
    assert out.returncode == 0, out.stderr
    done = trials(tmp_path)
    assert [t.state for t in done] == [TrialState.COMPLETE] * 5
    res = results(tmp_path)
    best = max(done, key=lambda t: t.value)
    assert res["best_value"] == pytest.approx(best.value)
    assert res["best_params"] == best.params
    assert res["trials_by_state"] == {"COMPLETE": 5}
    command = f"python app.py x={best.params['x']!r} y={best.params['y']}"
    assert res["best_trial"]["command"] == command
    assert f"reproduce: {command}" in out.stderr + out.stdout
    rows = list(csv.DictReader((tmp_path / "trials.csv").open()))
    assert [r["state"] for r in rows] == ["COMPLETE"] * 5
    for plot in ("optimization_history", "param_importances", "parallel_coordinate"):
        assert (tmp_path / f"{plot}.png").stat().st_size > 1000, plot
    # one job directory per trial, named by trial number
    assert sorted(p.name for p in tmp_path.glob("trial_*")) == [f"trial_{i}" for i in range(5)]


def test_range_choice_and_log_interval_are_respected(tmp_path: Path) -> None:
    out = sweep_app(
        tmp_path,
        "hydra.sweeper.n_trials=8",
        "hydra/sweeper/sampler=random",
        "x=tag(log, interval(0.01, 0.1))",
        "y=range(1, 7, 2)",
    )
    assert out.returncode == 0, out.stderr
    for t in trials(tmp_path):
        assert 0.01 <= t.params["x"] <= 0.1
        assert t.params["y"] in (1, 3, 5)  # 7 excluded, as in Hydra's range


def test_failed_and_nan_trials_are_recorded_and_the_sweep_completes(tmp_path: Path) -> None:
    out = sweep_app(
        tmp_path,
        "hydra/sweeper/sampler=grid",
        "x=choice(-3.0, 0.0, 1.0, 3.0)",
        "y=choice(2)",
        "raise_above=2",
        "nan_below=-2",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.max_failure_rate=0.5",
    )
    assert out.returncode == 0, out.stderr
    by_x = {t.params["x"]: t for t in trials(tmp_path)}
    assert by_x[3.0].state == TrialState.FAIL
    assert by_x[3.0].user_attrs["fail_reason"] == "RuntimeError: x=3.0 is above raise_above=2"
    assert by_x[-3.0].state == TrialState.FAIL
    assert by_x[-3.0].user_attrs["fail_reason"].startswith("objective is nan")
    assert by_x[1.0].state == by_x[0.0].state == TrialState.COMPLETE
    assert results(tmp_path)["best_params"] == {"x": 1.0, "y": 2}


def test_max_failure_rate_stops_the_sweep(tmp_path: Path) -> None:
    out = sweep_app(
        tmp_path,
        "raise_above=-10",
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.max_failure_rate=0.25",
    )
    assert out.returncode != 0
    assert "3 failed trials exceed max_failure_rate=0.25 x n_trials=8" in out.stderr
    assert len(trials(tmp_path)) == 3
    assert results(tmp_path)["trials_by_state"] == {"FAIL": 3}


def test_multi_objective_writes_the_pareto_front(tmp_path: Path) -> None:
    out = sweep_app(
        tmp_path,
        "hydra.sweeper.objectives=[objective,x]",
        "hydra.sweeper.direction=[maximize,minimize]",
        "hydra/sweeper/sampler=nsgaii",
        "hydra.sweeper.n_trials=6",
    )
    assert out.returncode == 0, out.stderr
    front = results(tmp_path)["pareto_front"]
    assert front and all(p["values"][1] == p["params"]["x"] for p in front)
    dominated = [t for t in trials(tmp_path) if t.number not in {p["number"] for p in front}]
    for t in dominated:  # each dominated trial is beaten on both objectives by a front member
        assert any(p["values"][0] >= t.values[0] and p["values"][1] <= t.values[1] for p in front)
    assert (tmp_path / "pareto_front.png").exists()


def test_direction_is_derived_from_optimized_mode(tmp_path: Path) -> None:
    out = sweep_app(
        tmp_path, "+optimized_mode=min", "hydra.sweeper.n_trials=3", "hydra.sweeper.plots=false"
    )
    assert out.returncode == 0, out.stderr
    res = results(tmp_path)
    assert res["directions"] == ["minimize"]
    assert res["best_value"] == min(t.value for t in trials(tmp_path))


def test_joblib_launcher_runs_batches_in_parallel(tmp_path: Path) -> None:
    out = sweep_app(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    assert [t.state for t in trials(tmp_path)] == [TrialState.COMPLETE] * 4


def test_custom_search_space_adds_conditional_params(tmp_path: Path) -> None:
    out = sweep_app(
        tmp_path,
        "hydra.sweeper.n_trials=3",
        "y=2",
        "hydra.sweeper.custom_search_space=tests.sweep.spaces.y_from_x",
    )
    assert out.returncode == 0, out.stderr
    for t in trials(tmp_path):
        assert "y_offset" in t.params  # suggested inside the hook
        assert t.user_attrs["overrides"][-1] == f"y={round(t.params['y_offset'])}"


def test_rerun_at_once_after_sigkill_runs_exactly_the_missing_trials(tmp_path: Path) -> None:
    # the bug: rerun at once, the killed trial (heartbeat still fresh) stayed RUNNING forever
    # and counted, and the seeded sampler replayed the first run's parameters
    log_file = tmp_path / "ran.txt"
    cmd = app_cmd(
        "sleep=0.5", f"log_file={log_file}", "hydra.sweeper.n_trials=6", "hydra.sweeper.plots=false"
    )
    proc = subprocess.Popen(
        cmd, env=env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    kill_once_running(proc, tmp_path, finished=3)
    before = {t.number: t for t in trials(tmp_path) if t.state == TrialState.COMPLETE}
    killed = [t.number for t in trials(tmp_path) if t.state == TrialState.RUNNING]
    started = _lines(log_file) - len(before)  # 1 if the killed trial's job had begun
    out = subprocess.run(cmd, env=env(tmp_path), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    after = trials(tmp_path)
    finished = counted(after)
    assert len(finished) == 6 and all(t.state == TrialState.COMPLETE for t in finished)
    assert [t.number for t in after if t.state == TrialState.RUNNING] == []
    for number, t in before.items():  # earlier trials kept as they were
        assert after[number].params == t.params and after[number].value == t.value
    orphans = [t for t in after if t.user_attrs.get("hydralit:excluded") == "orphaned, retried"]
    assert [t.number for t in orphans] == killed
    assert orphans[0].user_attrs["fail_reason"].startswith("orphaned: its sweeper (pid ")
    retried = [t for t in finished if "retry_of" in t.user_attrs]
    assert [(t.user_attrs["retry_of"], t.params) for t in retried] == [
        (t.number, t.params) for t in orphans
    ]
    assert len(set(param_sets(finished))) == 6, "a parameter set was evaluated twice"
    # every trial ran once, plus the start of the trial the kill interrupted
    assert _lines(log_file) == 6 + started
    # nothing is missing: a third run starts no trial
    out = subprocess.run(cmd, env=env(tmp_path), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and _lines(log_file) == 6 + started


def test_a_repeated_point_is_asked_again_until_the_space_is_used_up(tmp_path: Path) -> None:
    out = sweep_app(
        tmp_path,
        "hydra/sweeper/sampler=random",
        "x=choice(0.0, 1.0, 2.0)",
        "y=choice(2)",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.plots=false",
    )
    assert out.returncode == 0, out.stderr
    all_trials = trials(tmp_path)
    done = counted(all_trials)
    assert len(done) == 4
    assert sorted(t.params["x"] for t in done[:3]) == [0.0, 1.0, 2.0]  # no repeat before
    repeats = [t for t in all_trials if "hydralit:excluded" in t.user_attrs]
    assert repeats, "seed 0 draws a repeat among the first three points"
    for t in repeats:
        twin = int(t.user_attrs["hydralit:excluded"].split()[2].removesuffix("'s"))
        assert t.user_attrs["hydralit:excluded"].endswith("parameters, asked again")
        assert all_trials[twin].params == t.params and t.state == TrialState.FAIL


def test_fresh_sweeps_with_one_seed_sample_the_same_points(tmp_path: Path) -> None:
    runs = [
        sweep_app(tmp_path / run, "hydra.sweeper.n_trials=3", "hydra.sweeper.plots=false")
        for run in ("a", "b")
    ]
    assert all(out.returncode == 0 for out in runs), runs[0].stderr
    a, b = (param_sets(trials(tmp_path / run)) for run in ("a", "b"))
    assert a == b and len(set(a)) == 3


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


BAD_INPUT = {
    "unknown sampler": (
        ["hydra/sweeper/sampler=tpee"],
        "Could not find 'hydra/sweeper/sampler/tpee'",
    ),
    "malformed interval": (
        ["hydra.sweeper.params.x='interval(1,)'"],
        "hydra.sweeper.params.x='interval(1,)': cannot be parsed",
    ),
    "malformed interval on the command line": (
        ["x=interval(1,)"],
        "no viable alternative at input 'interval(1,)'",
    ),
    "key not in config": (["xx=interval(0, 1)"], "Key 'xx' is not in struct"),
    "bad interval bounds": (["x=interval(2, 1)"], "needs low < high"),
    "unreachable storage": (
        ["hydra.sweeper.storage=postgresql+psycopg2://u:p@127.0.0.1:9/db"],
        "hydra.sweeper.storage='postgresql+psycopg2://u:p@127.0.0.1:9/db': cannot open the study "
        "storage (OperationalError",
    ),
    "direction count": (
        ["hydra.sweeper.direction=[maximize,minimize]"],
        "2 direction(s) for 1 objective(s)",
    ),
    "unknown direction": (["hydra.sweeper.direction=maximise"], "must be maximize or minimize"),
    "direction against optimized_mode": (
        ["+optimized_mode=min", "hydra.sweeper.direction=maximize"],
        "hydra.sweeper.direction='maximize': contradicts optimized_mode='min' for "
        "optimized_metric='objective'. Fix: drop hydra.sweeper.direction (null derives it from "
        "optimized_mode), or set optimized_mode=max",
    ),
    "several objectives without direction": (
        ["hydra.sweeper.objectives=[objective,x]"],
        "hydra.sweeper.direction=None: the 2 objectives ['objective', 'x'] need one direction",
    ),
    "grid with interval": (["hydra/sweeper/sampler=grid"], "the grid sampler needs a finite set"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_fails_before_any_trial(tmp_path: Path, case: str) -> None:
    overrides, message = BAD_INPUT[case]
    log_file = tmp_path / "ran.txt"
    out = sweep_app(tmp_path, f"log_file={log_file}", *overrides)
    assert out.returncode != 0
    assert message in out.stderr
    assert not log_file.exists(), "a trial ran"


def test_plugin_discovery_imports_neither_optuna_nor_torch() -> None:
    # Hydra imports every plugin on every run, --help included
    out = run_py_importing_none_of(
        ["--help"], ("optuna", "torch"), "hydra_plugins.hydralit_optuna_sweeper.optuna_sweeper"
    )
    assert out.returncode == 0, out.stderr
    (searches,) = [line for line in out.stdout.splitlines() if line.startswith("hparams_search:")]
    assert "digits_cnn_optuna" in searches
