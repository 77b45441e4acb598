"""``tune-jobs export mlflow``: a job's results in MLflow, for a job that ran without
``outputs.mlflow`` or to complete one that ran with it. Beyond what the live feed logs (every
iteration, each trial's end), it attaches each successful trial's best checkpoint (the saved state
where its metric peaked, as ``ensemble`` and ``evaluate`` pick it) and the HTML report to the
parent run. It logs only what MLflow does not hold yet, so it can run again, and during a job.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tune_jobs.analysis.job_results import load_results
from tune_jobs.errors import UserError
from tune_jobs.results.store import ResultsStore


@dataclass(frozen=True)
class Exported:
    experiment_id: str
    parent_run_id: str
    runs: int  # child runs, one per trial
    rows: int  # iterations logged by this export
    checkpoints: int  # checkpoints attached by this export
    report: bool


def export_mlflow(directory: str, tracking_uri: str | None = None, experiment: str | None = None,
                  report: bool = True) -> Exported:
    import torch

    from tune_jobs.analysis.ensemble import best_state
    from tune_jobs.results.listeners.mlflow_runs import mlflow_runs
    from tune_jobs.schedulers import SCHEDULERS

    results = load_results(directory)
    store = ResultsStore(results.directory)
    scheduler = results.spec.get("scheduler") or {}
    mutated = SCHEDULERS.get(scheduler["type"]).model_validate(scheduler).mutated_keys(results.space) if scheduler else []
    runs = mlflow_runs(store, results.record, mutated, tracking_uri, experiment)
    rows = runs.sync(store)
    attached = 0
    with tempfile.TemporaryDirectory() as scratch:
        for trial_id in results.candidates(include_stopped=True)["trial_id"]:
            if trial_id in runs.artifacts or trial_id not in runs.runs:
                continue
            try:
                state = best_state(results, store, str(trial_id))
            except UserError:
                continue  # no built-in checkpoint (a function trainable's own, cross-validated folds)
            folder = Path(scratch) / str(trial_id)
            folder.mkdir()
            torch.save(state, folder / "state.pt")
            runs.attach(str(trial_id), str(folder), "checkpoint")
            attached += 1
        written = False
        if report and not results.trials.empty:
            from tune_jobs.report.build import write_report

            page = Path(scratch) / "report.html"
            write_report(results, page)
            runs.attach(None, str(page))
            written = True
    runs.finish(str(results.record.get("status", "running")), results.record.get("best_trial"))
    return Exported(runs.experiment_id, runs.parent, len(runs.runs), rows, attached, written)


def finish_outputs(job: Any, outcome: Any) -> Exported | None:
    """After ``tune-jobs run``: a job with ``outputs.mlflow`` gets what only the finished job has
    (checkpoints, the report); the live feed logged the rest."""
    chosen = job.outputs.mlflow
    if chosen is None or outcome.status != "finished":
        return None
    return export_mlflow(outcome.results_dir, chosen.tracking_uri, chosen.experiment)
