"""The Python API: run / validate / load, and a Python function as the trainable."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import tune_jobs
from tune_jobs.cli import app
from tune_jobs.results.reader import rank_trials

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]


def test_validate_raises_the_lines_the_cli_prints(in_repo, tmp_path):
    with pytest.raises(tune_jobs.SpecError) as info:
        tune_jobs.validate("examples/digits_mlp.yaml", search__num_samples=0, space__lr={"loguniform": [0, 1]})
    cli = CliRunner().invoke(app, ["validate", "examples/digits_mlp.yaml", "--set", "search.num_samples=0",
                                   "--set", "space.lr={loguniform: [0, 1]}"])
    assert cli.exit_code == 2
    assert str(info.value).splitlines() == info.value.problems == cli.output.strip().splitlines()
    assert any(line.startswith("space.lr: loguniform lower bound must be > 0") for line in info.value.problems)


def test_validate_leaves_the_callers_dict_alone():
    spec = {"name": "q", "trainable": "tests.user_trainables:quadratic", "metric": "score", "mode": "max",
            "space": {"x": {"uniform": [0, 2]}}, "search": {"num_samples": 4}}
    job = tune_jobs.validate(spec, search__num_samples=6)
    assert job.search.num_samples == 6 and spec["search"] == {"num_samples": 4}


def test_a_bad_spec_argument_is_one_line():
    with pytest.raises(tune_jobs.SpecError, match="^spec: a path, a dict or a JobSpec, got int$"):
        tune_jobs.validate(3)


def test_run_returns_the_tables_the_files_hold(ray_session, in_repo, tmp_path):
    result = tune_jobs.run("examples/digits_mlp.yaml", storage=str(tmp_path), search__num_samples=2,
                           config__epochs=2, space__hidden={"choice": [16, 32]}, scheduler={"type": "fifo"},
                           tensorboard=False)
    directory = tmp_path / "digits-mlp"
    assert result.directory == str(directory) and result.status == "finished"
    pd.testing.assert_frame_equal(result.trials, pd.read_parquet(directory / "trials.parquet"))
    pd.testing.assert_frame_equal(result.iterations, pd.read_parquet(directory / "iterations.parquet"))
    assert len(result.trials) == 4 and len(result.iterations) == 8  # 2 samples x 2 optimizers, 2 epochs each
    top = rank_trials(result.trials, "val_accuracy", "max").iloc[0]
    assert result.best.trial_id == top["trial_id"] and result.best.value == top["best_val_accuracy"]
    assert set(result.best.config) == set(result.spec["space"])
    reloaded = tune_jobs.load(directory)
    pd.testing.assert_frame_equal(reloaded.trials, result.trials)
    assert reloaded.best == result.best
    page = result.report()
    assert page == directory / "report.html" and "digits-mlp" in page.read_text()


def test_a_function_defined_in_the_caller_is_the_trainable(ray_session, tmp_path):
    offset = 0.25  # captured: the function travels to the workers by value, not by module name

    def peak(config, report):
        for step in range(1, 3):
            report({"score": -((config["x"] - 1.0) ** 2) + offset, "step": step})

    spec = {"name": "closure", "trainable": peak, "metric": "score", "mode": "max",
            "space": {"x": {"uniform": [0.0, 2.0]}}, "search": {"num_samples": 3, "seed": 0},
            "storage": str(tmp_path), "tensorboard": False}
    result = tune_jobs.run(spec)
    assert result.spec["trainable"].startswith("python:") and result.spec["trainable"].endswith("<locals>.peak")
    assert len(result.trials) == 3 and set(result.trials.status) == {"completed"}
    assert (result.iterations.score <= offset).all() and result.best.value > offset - 1
    with pytest.raises(tune_jobs.SpecError, match="^trainable: a Python function runs on an embedded Ray"):
        tune_jobs.run(spec, address="ray://10.0.0.1:10001")


def test_a_script_runs_a_job_on_its_own_function(in_repo, tmp_path):
    """The user's own script: the function lives in __main__, Ray starts embedded and stops."""
    script = tmp_path / "tune_me.py"
    script.write_text(textwrap.dedent(f"""
        import tune_jobs

        def train(config, report):
            for step in range(1, 3):
                report({{"loss": (config["x"] - 0.3) ** 2 + 1 / step}})

        result = tune_jobs.run({{"name": "script", "trainable": train, "metric": "loss", "mode": "min",
                                 "space": {{"x": {{"uniform": [0, 1]}}}}, "search": {{"num_samples": 3, "seed": 1}},
                                 "storage": {str(tmp_path)!r}, "tensorboard": False}}, num_cpus=2)
        print("TRIALS", len(result.trials), "ITERATIONS", len(result.iterations), "BEST", result.best.trial_id)
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "TRIALS 3 ITERATIONS 6 BEST" in done.stdout
    assert "Trial status" not in done.stdout + done.stderr  # no Ray tables: our one progress line only


def test_changed_training_code_is_refused_by_name_or_resumed_when_asked(tmp_path):
    """Editing a trainable and running the same spec again returned the old results silently."""
    import json
    import os

    import yaml

    module = tmp_path / "edited_trainable.py"
    module.write_text("def train(config, report):\n    report({'score': 0.395})\n")
    (tmp_path / "job.yaml").write_text(yaml.safe_dump({
        "name": "edited", "trainable": "edited_trainable:train", "metric": "score", "mode": "max",
        "space": {"x": {"uniform": [0, 1]}}, "search": {"num_samples": 1}, "tensorboard": False}))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "tune_jobs", "run", "job.yaml", "--num-cpus", "1", *extra],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    assert run().returncode == 0
    module.write_text("def train(config, report):\n    report({'score': 0.9})\n")
    refused = run()
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        f"trainable: edited_trainable.py changed since job 'edited' wrote its results in {tmp_path / 'results' / 'edited'}; "
        "pass --restart to start over, or --resume-changed-code to go on with the new code")
    assert "Ray" not in refused.stderr  # refused before Ray started
    resumed = run("--resume-changed-code")
    assert resumed.returncode == 0 and "resuming with changed code: edited_trainable.py" in resumed.stderr
    record = json.loads((tmp_path / "results" / "edited" / "job.json").read_text())
    assert len(record["code_changes"]) == 1 and record["code"]["sha256"] == record["code_changes"][0]["to"]
    restarted = run("--restart")
    assert restarted.returncode == 0 and "best score: 0.9 " in restarted.stdout


def test_a_job_whose_trials_all_failed_raises_job_failed_with_the_errors(ray_session, in_repo, tmp_path):
    with pytest.raises(tune_jobs.JobFailed) as failed:
        tune_jobs.run({"name": "all-failed", "trainable": "tests.user_trainables:misspelt_key", "metric": "score",
                       "mode": "max", "space": {"x": {"uniform": [0, 1]}}, "search": {"num_samples": 2},
                       "storage": str(tmp_path), "tensorboard": False})
    assert str(failed.value) == "job 'all-failed' had no successful trial: 2 x KeyError: 'stepz'"
    trials = failed.value.result.trials
    assert len(trials) == 2 and (trials.status == "failed").all() and (trials.error == "KeyError: 'stepz'").all()
    assert failed.value.result.iterations.empty and failed.value.result.best is None
    shown = CliRunner().invoke(app, ["results", str(tmp_path / "all-failed")])
    assert shown.exit_code == 0 and "failed x2: KeyError: 'stepz'" in shown.output and "error" in shown.output
    report = CliRunner().invoke(app, ["report", str(tmp_path / "all-failed"), "-o", str(tmp_path / "report.html")])
    assert report.exit_code == 0, report.output
    page = (tmp_path / "report.html").read_text()
    assert "2 trial(s) failed, most often with <code>KeyError: &#x27;stepz&#x27;</code> (x2)" in page
