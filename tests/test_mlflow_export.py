"""Jobs in a real MLflow tracking store (SQLite): a parent run per job, a child run per trial,
every iteration once at its step, the best checkpoint and the report attached; a driver killed
under PBT and run again logs nothing twice and its mutated hyperparameters per step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import tune_jobs
from tests.drivers import run_and_kill
from tune_jobs.exports import export_mlflow

ROOT = Path(__file__).resolve().parents[1]
mlflow = pytest.importorskip("mlflow")


def client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def runs_of(uri, experiment):
    found = client(uri).get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    runs = client(uri).search_runs([found.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {r.data.tags["tune_jobs.trial_id"]: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    return parents, children


def history(uri, run, key):
    return [(m.step, m.value) for m in sorted(client(uri).get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


def assert_histories_match(uri, children, iterations, metrics):
    for trial_id, rows in iterations.groupby("trial_id"):
        rows = rows.sort_values("training_iteration")
        for metric in metrics:
            expected = [(int(s), float(v)) for s, v in zip(rows.training_iteration, rows[metric], strict=True) if pd.notna(v)]
            assert history(uri, children[trial_id], metric) == expected, (trial_id, metric)


@pytest.mark.integration
def test_a_job_with_outputs_mlflow_logs_every_trial_and_iteration_once(ray_session, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = tune_jobs.run({
        "name": "tracked", "trainable": "digits_mlp", "metric": "val_accuracy",
        "config": {"epochs": 3, "hidden": 16}, "space": {"lr": {"loguniform": [0.001, 0.1]}},
        "search": {"num_samples": 4, "seed": 0}, "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
        "storage": str(tmp_path / "results"), "tensorboard": False,
        "outputs": {"mlflow": {"tracking_uri": uri, "experiment": "digits"}}})
    parents, children = runs_of(uri, "digits")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    assert parent.data.params["scheduler"] == "asha" and parent.data.params["metric"] == "val_accuracy"
    assert parent.data.tags["tune_jobs.best_trial_id"] == result.best.trial_id
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(result.best.value)
    assert {a.path for a in client(uri).list_artifacts(parent.info.run_id)} >= {"report.html", "spec.json"}
    trials = result.trials.set_index("trial_id")
    assert set(children) == set(trials.index)
    for trial_id, run in children.items():
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert float(run.data.params["lr"]) == pytest.approx(trials.loc[trial_id, "config/lr"])
        assert run.data.params["hidden"] == "16"
        assert run.data.tags["tune_jobs.status"] == trials.loc[trial_id, "status"] and run.info.status == "FINISHED"
        assert [a.path for a in client(uri).list_artifacts(run.info.run_id, "checkpoint")] == ["checkpoint/state.pt"]
    assert_histories_match(uri, children, result.iterations, ["val_accuracy", "val_loss", "training_iteration"])
    assert set(trials.status) == {"completed", "stopped"}  # both kinds of ending were logged


@pytest.mark.integration
def test_export_after_the_fact_is_complete_and_adds_nothing_the_second_time(ray_session, tmp_path):
    def curve(config, report):
        for step in range(1, 5):
            report({"score": config["x"] * step, "half": None if step % 2 else 0.5 * step})

    result = tune_jobs.run({"name": "later", "trainable": curve, "metric": "score", "mode": "max",
                            "space": {"x": {"uniform": [0.0, 1.0]}, "kind": {"choice": ["a", "b"]}},
                            "search": {"num_samples": 3, "seed": 1}, "storage": str(tmp_path), "tensorboard": False})
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    first = export_mlflow(result.directory, uri, "exported")
    # a function trainable keeps no built-in checkpoint to attach
    assert (first.runs, first.rows, first.checkpoints, first.report) == (3, 12, 0, True)
    again = export_mlflow(result.directory, uri, "exported")
    assert (again.parent_run_id, again.rows) == (first.parent_run_id, 0)
    parents, children = runs_of(uri, "exported")
    assert len(parents) == 1 and parents[0].data.tags["tune_jobs.status"] == "finished"
    assert_histories_match(uri, children, result.iterations, ["score", "half"])
    assert {run.data.params["kind"] for run in children.values()} <= {"a", "b"}


@pytest.mark.integration
@pytest.mark.slow
def test_a_pbt_job_killed_and_resumed_logs_no_point_twice_and_its_mutations_per_step(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "evolving", "trainable": "tests.user_trainables:counting", "metric": "score", "mode": "max",
        "config": {"steps": 48, "sleep": 0.3}, "space": {"x": {"uniform": [0.0, 1.0]}},  # long: events are saved with Ray's snapshots
        "search": {"num_samples": 4, "seed": 0, "max_concurrent": 2},
        "scheduler": {"type": "pbt", "hyperparams": ["x"], "perturbation_interval": 2, "quantile_fraction": 0.5},
        "failure": {"max_failures": 2}, "storage": str(tmp_path / "results"), "tensorboard": False,
        "outputs": {"mlflow": {"tracking_uri": uri}}}))
    results = tmp_path / "results" / "evolving"
    command = [sys.executable, "-m", "tune_jobs", "run", str(spec), "--num-cpus", "2"]
    run_and_kill(command, lambda: (results / "scheduler_events.parquet").exists())  # a PBT copy made and flushed: mid-job
    _, before = runs_of(uri, "evolving")
    assert before, "nothing reached MLflow before the kill"
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming job evolving" in done.stderr and "mlflow" not in done.stderr.lower().replace("mlflow:", "")
    parents, children = runs_of(uri, "evolving")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"  # the resumed run continued the same parent
    assert {trial: run.info.run_id for trial, run in before.items()}.items() <= {t: r.info.run_id for t, r in children.items()}.items()
    iterations = pd.read_parquet(results / "iterations.parquet")
    assert_histories_match(uri, children, iterations, ["score"])  # every point once, none missing
    events = pd.read_parquet(results / "scheduler_events.parquet")
    for run in children.values():
        assert "x" not in run.data.params  # mutated: a metric per step, not a param
    for event in events.to_dict("records"):
        steps = dict(history(uri, children[event["trial_id"]], "config/x"))
        at = int(event["training_iteration"])
        after = min(step for step in steps if step > at)  # a copy goes on from the donor's iteration: steps can jump
        assert steps[at] == pytest.approx(event["before/x"]) and steps[after] == pytest.approx(event["after/x"])


def test_outputs_mlflow_is_checked_before_anything_runs(tmp_path, monkeypatch):
    from tune_jobs.errors import SpecError

    base = {"name": "checked", "trainable": "digits_mlp", "metric": "val_accuracy", "storage": str(tmp_path)}
    for uri, problem in [("mlruns", "outputs.mlflow.tracking_uri: MLflow 3.13+ refuses a file store"),
                         ("https://me:secret@mlflow.example.com", "outputs.mlflow.tracking_uri: put credentials in MLFLOW_TRACKING_TOKEN")]:
        with pytest.raises(SpecError) as raised:
            tune_jobs.validate({**base, "outputs": {"mlflow": {"tracking_uri": uri}}})
        assert raised.value.problems[0].startswith(problem) and "secret" not in raised.value.problems[0]
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(SpecError) as raised:
        tune_jobs.validate({**base, "outputs": {"mlflow": {}}})
    assert raised.value.problems == ["outputs.mlflow: needs MLflow, which is not installed: pip install 'tune-jobs[mlflow]'"]
    assert tune_jobs.validate(base).outputs.mlflow is None


def test_a_job_without_outputs_mlflow_never_imports_it_nor_the_dashboard():
    code = ("import sys, tune_jobs.cli, tune_jobs.runner, tune_jobs.results.listeners, tune_jobs.api as api; "
            "api.validate({'name': 'plain', 'trainable': 'digits_mlp', 'metric': 'val_accuracy'}); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'starlette', 'uvicorn', 'plotly')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_export_mlflow_refuses_what_is_not_a_job_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tune_jobs", "export", "mlflow", str(tmp_path),
                           "--tracking-uri", f"sqlite:///{tmp_path / 'x.db'}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "tune_jobs", "export", "mlflow", str(tmp_path), "--tracking-uri", "mlruns"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("--tracking-uri: MLflow 3.13+ refuses a file store")
