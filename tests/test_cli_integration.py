"""Real tuning jobs through the CLI on one shared local Ray (2 CPUs): Parquet files and exit codes."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tune_jobs.cli import app

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration


def write_spec(tmp_path, **fields):
    spec = {
        "name": "quad",
        "trainable": "tests.user_trainables:quadratic",
        "metric": "score",
        "mode": "max",
        "config": {"steps": 3},
        "space": {"x": {"uniform": [0.0, 2.0]}},
        "search": {"algorithm": "random", "num_samples": 4, "seed": 1},
        "failure": {"max_failures": 0},
        "storage": str(tmp_path / "results"),
    }
    spec.update(fields)
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run_cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def job_dir(tmp_path):
    return tmp_path / "results" / "quad"


def test_random_search_writes_every_trial_and_iteration(ray_session, in_repo, tmp_path, job_dir):
    code, output = run_cli("run", write_spec(tmp_path))
    assert code == 0, output
    trials = pd.read_parquet(job_dir / "trials.parquet")
    iterations = pd.read_parquet(job_dir / "iterations.parquet")
    assert len(trials) == 4 and set(trials.status) == {"completed"}
    assert trials.iterations.tolist() == [3, 3, 3, 3]
    assert len(iterations) == 12 and not iterations.duplicated(["trial_id", "training_iteration"]).any()
    assert {"trial_id", "training_iteration", "time_total_s", "timestamp", "score", "step"} <= set(iterations.columns)
    assert trials["config/x"].between(0, 2).all() and (trials["config/steps"] == 3).all()
    assert (trials.best_score >= trials.score).all()
    job = json.loads((job_dir / "job.json").read_text())
    assert job["status"] == "finished" and job["trial_counts"]["completed"] == 4
    assert job["best_trial"]["score"] == trials.best_score.max()
    assert {"tune-jobs", "ray", "torch", "python"} <= set(job["versions"])
    assert job["cluster_resources"]["CPU"] == 2.0 and len(job["spec_sha256"]) == 64
    assert "best score:" in output and "trials: 4 completed" in output


def test_seeded_random_search_samples_the_same_configs(ray_session, in_repo, tmp_path, job_dir):
    run_cli("run", write_spec(tmp_path))
    first = sorted(pd.read_parquet(job_dir / "trials.parquet")["config/x"])
    code, _ = run_cli("run", write_spec(tmp_path), "--restart")
    assert code == 0
    assert sorted(pd.read_parquet(job_dir / "trials.parquet")["config/x"]) == first


def test_grid_search_tries_every_combination(ray_session, in_repo, tmp_path, job_dir):
    spec = write_spec(tmp_path, search={"algorithm": "grid"},
                      space={"x": {"grid": [0.0, 1.0, 2.0]}, "steps": {"choice": [1, 2]}}, config={})
    code, output = run_cli("run", spec)
    assert code == 0, output
    trials = pd.read_parquet(job_dir / "trials.parquet")
    pairs = sorted(zip(trials["config/x"], trials["config/steps"], strict=True))
    assert pairs == [(0.0, 1), (0.0, 2), (1.0, 1), (1.0, 2), (2.0, 1), (2.0, 2)]
    assert sorted(trials.iterations) == [1, 1, 1, 2, 2, 2]


def test_asha_stops_poor_trials_early(ray_session, in_repo, tmp_path, job_dir):
    spec = write_spec(tmp_path, config={"steps": 9},
                      search={"algorithm": "random", "num_samples": 9, "seed": 3, "max_concurrent": 2},
                      scheduler={"type": "asha", "max_t": 9, "grace_period": 1, "reduction_factor": 3})
    code, output = run_cli("run", spec)
    assert code == 0, output
    trials = pd.read_parquet(job_dir / "trials.parquet")
    assert set(trials.status) <= {"completed", "stopped"} and (trials.status == "stopped").any()
    stopped = trials[trials.status == "stopped"]
    assert (stopped.iterations < 9).all()
    assert (trials[trials.status == "completed"].iterations == 9).all()
    iterations = pd.read_parquet(job_dir / "iterations.parquet")
    assert iterations.groupby("trial_id").size().sort_index().tolist() == trials.set_index("trial_id").iterations.sort_index().tolist()


def test_digits_mlp_trains_through_the_cli(ray_session, in_repo, tmp_path):
    spec = write_spec(tmp_path, name="digits", trainable="digits_mlp", metric="val_accuracy", mode=None,
                      config={"epochs": 2, "hidden": 32}, space={"lr": {"loguniform": [1e-3, 1e-1]}},
                      search={"num_samples": 2, "seed": 0})
    code, output = run_cli("run", spec)
    assert code == 0, output
    trials = pd.read_parquet(tmp_path / "results" / "digits" / "trials.parquet")
    assert trials.iterations.tolist() == [2, 2] and (trials.best_val_accuracy > 0.5).all()
    code, table = run_cli("results", tmp_path / "results" / "digits", "--top", "1")
    best = trials.loc[trials.best_val_accuracy.idxmax(), "trial_id"]
    assert code == 0 and "best 1 by val_accuracy" in table and best[:5] in table


def test_failures_are_recorded_and_the_job_goes_on(ray_session, in_repo, tmp_path, job_dir):
    spec = write_spec(tmp_path, trainable="tests.user_trainables:raises", search={"num_samples": 2, "seed": 0})
    code, output = run_cli("run", spec)
    assert code == 1, output  # ran, but no trial succeeded
    trials = pd.read_parquet(job_dir / "trials.parquet")
    assert set(trials.status) == {"failed"}
    assert trials.error.str.contains("ValueError: boom on purpose").all()
    assert "failed x2: ValueError: boom on purpose" in output
    assert "Traceback" not in output


def test_non_finite_metric_fails_the_trial_with_the_reason(ray_session, in_repo, tmp_path, job_dir):
    spec = write_spec(tmp_path, trainable="tests.user_trainables:nan_metric", search={"num_samples": 1})
    code, _ = run_cli("run", spec)
    assert code == 1
    trial = pd.read_parquet(job_dir / "trials.parquet").iloc[0]
    assert trial.status == "failed" and trial.error == "score reported as nan, not a finite number"
    assert trial.iterations == 2 and trial.best_score == 0.5
    assert len(pd.read_parquet(job_dir / "iterations.parquet")) == 2


@pytest.mark.parametrize(
    ("trainable", "reason"),
    [
        ("wrong_metric", "MetricNotReportedError: the job's metric 'score' is not in the report; reported: loss"),
        ("silent", "MetricNotReportedError: the trainable returned without reporting any result"),
    ],
)
def test_a_metric_never_reported_is_a_clear_failure(ray_session, in_repo, tmp_path, job_dir, trainable, reason):
    spec = write_spec(tmp_path, trainable=f"tests.user_trainables:{trainable}", search={"num_samples": 1})
    code, output = run_cli("run", spec)
    assert code == 1
    assert pd.read_parquet(job_dir / "trials.parquet").error.tolist() == [reason]
    assert reason in output


def test_rerunning_a_finished_job_shows_its_results_without_running_anything(ray_session, in_repo, tmp_path, job_dir):
    """Seeing a finished job's summary again by rerunning it took 14 s (Ray started to resume nothing)."""
    spec = write_spec(tmp_path, search={"num_samples": 2, "seed": 0})
    code, first = run_cli("run", spec)
    assert code == 0
    before = pd.read_parquet(job_dir / "iterations.parquet")
    record = (job_dir / "job.json").read_text()
    started = time.monotonic()
    code, output = run_cli("run", spec)
    assert code == 0 and "job quad finished earlier; its results (--restart runs it again):" in output
    assert time.monotonic() - started < 5
    best = next(line for line in first.splitlines() if line.startswith("best score"))
    assert best in output and "trials: 2 completed" in output
    assert pd.read_parquet(job_dir / "iterations.parquet").equals(before) and (job_dir / "job.json").read_text() == record


def test_a_different_spec_on_existing_results_needs_restart(ray_session, in_repo, tmp_path, job_dir):
    assert run_cli("run", write_spec(tmp_path, search={"num_samples": 1}))[0] == 0
    started = time.monotonic()
    code, output = run_cli("run", write_spec(tmp_path, search={"num_samples": 2}, config={"steps": 2}))
    assert code == 2 and "come from a different spec (config.steps: 3 -> 2; search.num_samples: 1 -> 2); pass --restart" in output
    assert time.monotonic() - started < 5  # refused before Ray started
    code, _ = run_cli("run", write_spec(tmp_path, search={"num_samples": 2}, config={"steps": 2}), "--restart")
    assert code == 0 and len(pd.read_parquet(job_dir / "trials.parquet")) == 2


def test_more_samples_grow_a_finished_job_from_where_its_searcher_left_off(ray_session, in_repo, tmp_path, job_dir):
    search = {"algorithm": "random", "num_samples": 3, "seed": 5}
    assert run_cli("run", write_spec(tmp_path, search=search))[0] == 0
    before = pd.read_parquet(job_dir / "iterations.parquet")
    code, output = run_cli("run", write_spec(tmp_path, search={**search, "num_samples": 5}))
    assert code == 0 and "growing job quad: search.num_samples: 3 -> 5 (recorded in job.json)" in output, output
    assert "trials: 5 completed" in output
    trials = pd.read_parquet(job_dir / "trials.parquet")
    iterations = pd.read_parquet(job_dir / "iterations.parquet")
    assert len(trials) == 5 and set(trials.status) == {"completed"} and set(before.trial_id) < set(trials.trial_id)
    assert len(iterations) == 15 and not iterations.duplicated(["trial_id", "training_iteration"]).any()
    kept = iterations[iterations.trial_id.isin(before.trial_id)].sort_values(["trial_id", "training_iteration"])
    assert kept.score.tolist() == before.sort_values(["trial_id", "training_iteration"]).score.tolist()
    job = json.loads((job_dir / "job.json").read_text())
    assert job["spec"]["search"]["num_samples"] == 5 and job["status"] == "finished"
    assert [entry["changes"] for entry in job["grown"]] == [["search.num_samples: 3 -> 5"]]
    # The searcher went on where it stopped: the five configurations are those of a five-trial job from the start.
    fresh = tmp_path / "fresh"
    assert run_cli("run", write_spec(tmp_path, name="quad-fresh", search={**search, "num_samples": 5},
                                     storage=str(fresh)))[0] == 0
    fresh_x = sorted(pd.read_parquet(fresh / "quad-fresh" / "trials.parquet")["config/x"])
    assert sorted(trials["config/x"]) == pytest.approx(fresh_x)
    code, output = run_cli("run", write_spec(tmp_path, search={**search, "num_samples": 5}))
    assert code == 0 and "job quad finished earlier" in output


def test_a_longer_time_budget_goes_on_with_a_job_that_its_budget_ended(ray_session, in_repo, tmp_path, job_dir):
    fields = {"config": {"steps": 3, "sleep": 1.0}, "search": {"algorithm": "random", "num_samples": 6, "seed": 2,
                                                                "max_concurrent": 1}}
    # 8 s: room for one 3-s trial to end under load (exit 0), far from the 6 trials' 18 s
    assert run_cli("run", write_spec(tmp_path, stop={"time_budget_s": 8}, **fields))[0] == 0
    first = pd.read_parquet(job_dir / "trials.parquet")
    assert len(first) < 6 and json.loads((job_dir / "job.json").read_text())["status"] == "finished"
    assert set(first.status) <= {"completed", "stopped"}  # the trial the budget cut is not left running
    code, output = run_cli("run", write_spec(tmp_path, stop={"time_budget_s": 600}, **fields))
    assert code == 0 and "growing job quad: stop.time_budget_s: 8 -> 600" in output, output
    trials = pd.read_parquet(job_dir / "trials.parquet")
    assert len(trials) == 6 and (trials.status == "completed").sum() >= 6 - len(first)


def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path, in_repo):
    spec = write_spec(tmp_path, space={"x": {"loguniform": [0, 1]}})
    for command in (["validate", str(spec)], ["run", str(spec)]):
        done = subprocess.run([sys.executable, "-m", "tune_jobs", *command], capture_output=True, text=True)
        assert done.returncode == 2
        assert done.stderr.strip() == "space.x: loguniform lower bound must be > 0, got 0"
        assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()  # nothing half-written


def test_validate_and_trainables_commands(tmp_path, in_repo):
    code, output = run_cli("validate", write_spec(tmp_path))
    assert code == 0 and "valid" in output
    code, output = run_cli("validate", write_spec(tmp_path), "--set", "search.num_samples=0")
    assert code == 2 and "search.num_samples: input should be greater than or equal to 1, got 0" in output
    code, output = run_cli("trainables")
    assert code == 0 and "digits_mlp" in output and "val_accuracy (max)" in output and "lr=0.01" in output
    code, output = run_cli("results", tmp_path)
    assert code == 2 and "not a tune-jobs results directory" in output


def test_bayesopt_with_asha_and_four_concurrent_trials(ray_session, in_repo, tmp_path, job_dir):
    spec = write_spec(
        tmp_path,
        config={"sleep": 0.05},
        space={"x": {"uniform": [0.0, 2.0]}, "steps": {"randint": [3, 6]}, "scale": {"loguniform": [0.01, 1.0]},
               "opt": {"choice": ["a", "b"]}},
        search={"algorithm": "bayesopt", "num_samples": 12, "seed": 0, "max_concurrent": 4,
                "options": {"initial_points": 4}},
        scheduler={"type": "asha", "max_t": 6, "grace_period": 1, "reduction_factor": 2},
    )
    code, output = run_cli("run", spec)
    assert code == 0, output
    trials = pd.read_parquet(job_dir / "trials.parquet")
    assert len(trials) == 12 and set(trials.status) <= {"completed", "stopped"}
    configs = trials[["config/x", "config/steps", "config/scale", "config/opt"]].astype(str).agg("|".join, axis=1)
    assert configs.nunique() == 12  # every trial got its own configuration
    assert trials["config/steps"].between(3, 6).all() and trials["config/scale"].between(0.01, 1.0).all()
    assert set(trials["config/opt"]) <= {"a", "b"} and (trials["config/sleep"] == 0.05).all()


def test_tpe_runs_through_the_cli(ray_session, in_repo, tmp_path, job_dir):
    spec = write_spec(tmp_path, search={"algorithm": "tpe", "num_samples": 6, "seed": 0,
                                         "options": {"initial_points": 3}})
    code, output = run_cli("run", spec)
    assert code == 0, output
    trials = pd.read_parquet(job_dir / "trials.parquet")
    assert len(trials) == 6 and trials["config/x"].between(0, 2).all()


def test_optuna_gp_runs_parallel_trials_through_the_cli(ray_session, in_repo, tmp_path, job_dir):
    spec = write_spec(tmp_path, space={"x": {"uniform": [0, 2]}, "opt": {"choice": ["a", "b"]}},
                      search={"algorithm": "optuna_gp", "num_samples": 8, "seed": 0, "max_concurrent": 2,
                              "options": {"initial_points": 3}})
    code, output = run_cli("run", spec)
    assert code == 0, output
    trials = pd.read_parquet(job_dir / "trials.parquet")
    assert len(trials) == 8 and set(trials.status) == {"completed"}
    assert trials["config/x"].between(0, 2).all() and set(trials["config/opt"]) <= {"a", "b"}
    assert trials[["config/x", "config/opt"]].astype(str).agg("|".join, axis=1).nunique() == 8


def test_a_killed_trial_is_retried_from_its_checkpoint_and_recorded(ray_session, in_repo, tmp_path, job_dir):
    spec = write_spec(tmp_path, trainable="tests.user_trainables:killed_once", config={"steps": 4},
                      space={"x": {"grid": [0.2, 0.8]}}, search={"algorithm": "grid"}, failure={"max_failures": 2})
    code, output = run_cli("run", spec)
    assert code == 0, output
    trials = pd.read_parquet(job_dir / "trials.parquet").set_index("config/x")
    assert set(trials.status) == {"completed"} and (trials.iterations == 4).all()
    assert trials.loc[0.8, "retries"] == 1 and trials.loc[0.2, "retries"] == 0
    assert "died" in trials.loc[0.8, "retried_after"].lower()
    iterations = pd.read_parquet(job_dir / "iterations.parquet")
    assert len(iterations) == 8 and (iterations.step == iterations.training_iteration).all()


@pytest.mark.parametrize("share, loads", [(True, 1), (False, 6)])
def test_data_is_loaded_once_and_shared_by_the_trials(share, loads, ray_session, in_repo, tmp_path, job_dir):
    log = tmp_path / "loads.txt"
    spec = write_spec(tmp_path, trainable="tests.user_trainables:shared_loader", config={"log": str(log), "share": share},
                      search={"num_samples": 6, "seed": 0})
    code, output = run_cli("run", spec)
    assert code == 0, output
    assert log.read_text().count("loaded") == loads
    trials = pd.read_parquet(job_dir / "trials.parquet")
    assert len(trials) == 6 and (trials.score >= 499500).all()  # every trial saw the whole data


def test_shared_data_outlives_the_worker_that_loaded_it(ray_session):
    import ray

    from trainables.ray_adapter import ObjectStoreData, shared_data_index_class

    index = shared_data_index_class().options(name="tune-jobs-data-test-owner").remote()

    @ray.remote(num_cpus=0)
    class Loader:
        def load(self):
            return ObjectStoreData("tune-jobs-data-test-owner")("key", lambda: [1, 2, 3])

    loader = Loader.remote()
    assert ray.get(loader.load.remote()) == [1, 2, 3]
    ray.kill(loader)  # the process that loaded the data is gone, as a finished trial's may be
    time.sleep(1)
    assert ObjectStoreData("tune-jobs-data-test-owner")("key", lambda: pytest.fail("loaded twice")) == [1, 2, 3]
    ray.kill(index)


def test_an_ordinal_key_is_searched_stored_and_reported(ray_session, in_repo, tmp_path, job_dir):
    from tune_jobs.analysis.job_results import load_results
    from tune_jobs.report.build import build_report

    spec = write_spec(tmp_path, space={"x": {"uniform": [0.0, 2.0]}, "width": {"ordinal": [16, 32, 64, 128]}},
                      search={"algorithm": "bayesopt", "num_samples": 8, "seed": 0, "options": {"initial_points": 4}})
    code, output = run_cli("run", spec)
    assert code == 0, output
    trials = pd.read_parquet(job_dir / "trials.parquet")
    assert set(trials["config/width"]) <= {16, 32, 64, 128} and str(trials["config/width"].dtype) == "int64"
    job = json.loads((job_dir / "job.json").read_text())
    assert job["spec"]["space"]["width"] == {"ordinal": [16, 32, 64, 128]}
    page = build_report(load_results(str(job_dir)))
    assert "width" in page and "Traceback" not in page


def test_tensor_and_numpy_metrics_are_numbers_and_other_values_fail_in_one_line(ray_session, in_repo, tmp_path, job_dir):
    spec = write_spec(tmp_path, trainable="tests.user_trainables:tensor_metrics", search={"num_samples": 2})
    code, _ = run_cli("run", spec)
    assert code == 0
    iterations = pd.read_parquet(job_dir / "iterations.parquet")
    assert len(iterations) == 4 and iterations.score.dtype == float and iterations.loss.tolist()[:2] == [1.0, 0.5]
    spec = write_spec(tmp_path, trainable="tests.user_trainables:list_metric", search={"num_samples": 1})
    code, _ = run_cli("run", spec, "--restart")
    assert code == 1
    trial = pd.read_parquet(job_dir / "trials.parquet").iloc[0]
    assert trial.status == "failed" and trial.error == "metric 'per_class' reported as a list, not a number or a string"
    assert trial.retries == 0 and trial.best_score == 0.5  # deterministic: not retried


def test_a_crashing_trial_is_one_line_per_failure_and_a_repeated_error_is_not_retried_again(tmp_path):
    """A KeyError in a 2-trial job printed 154 lines: Ray's dump of 37 traceback lines per attempt."""
    import os

    spec = write_spec(tmp_path, trainable="tests.user_trainables:misspelt_key", search={"num_samples": 2},
                      failure={"max_failures": 3})
    done = subprocess.run([sys.executable, "-m", "tune_jobs", "run", str(spec), "--num-cpus", "2"], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    printed = (done.stdout + done.stderr).splitlines()
    assert "Traceback" not in done.stderr and "\x1b[" not in done.stderr and len(printed) < 15, done.stderr
    retried = [line for line in printed if "failed, retried from its last checkpoint (1 of 3): KeyError: 'stepz'" in line]
    given_up = [line for line in printed
                if "failed (the same error as its previous attempt: not retried again): KeyError: 'stepz'" in line]
    assert len(retried) == 2 and len(given_up) == 2, printed
    trials = pd.read_parquet(tmp_path / "results" / "quad" / "trials.parquet")
    assert (trials.retries == 1).all() and (trials.error == "KeyError: 'stepz'").all()
    assert trials.traceback.str.contains('range(config["stepz"])', regex=False).all()
