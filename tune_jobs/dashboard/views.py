"""What the dashboard's pages show, as JSON-able dicts built from a job's results through
``load_results``: the same rows ``tune_jobs.load`` sees, running jobs included. No web framework
here, so the figures are testable without a server or a browser."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tune_jobs.analysis.job_results import JobResults, load_results
from tune_jobs.core.values import is_finite_number, plain
from tune_jobs.errors import UserError
from tune_jobs.results.files import EXPERIMENT_DIR, JOB_FILE
from tune_jobs.results.schema import STATUSES

IMPORTANCE_EVERY_S = 30.0  # fANOVA takes seconds on a few hundred trials: not on every refresh


def _number(value: Any) -> float | None:
    return float(value) if is_finite_number(value) else None


def _plain(value: Any) -> Any:
    """JSON-able: numpy scalars as Python values, nan and infinities as null."""
    value = plain(value)
    return None if isinstance(value, float) and not math.isfinite(value) else value


def job_directories(root: str) -> list[str]:
    """``root`` itself when it is a job's results, else the jobs directly under it (newest first)."""
    path = Path(root)
    if (path / JOB_FILE).exists() or "://" in root:
        return [root]
    if not path.is_dir():
        raise UserError([f"{root}: no such directory"])
    found = [job.parent for job in path.glob(f"*/{JOB_FILE}")]
    return [str(p) for p in sorted(found, key=lambda p: (p / JOB_FILE).stat().st_mtime, reverse=True)]


def job_summary(directory: str) -> dict[str, Any]:
    """One line of the jobs list (a directory that cannot be read says why instead)."""
    try:
        results = load_results(directory)
    except UserError as error:
        return {"name": Path(directory).name, "directory": directory, "error": error.problems[0]}
    return {**job_summary_of(results), **_counts(results)}


def _counts(results: JobResults) -> dict[str, Any]:
    counts = {status: int((results.trials["status"] == status).sum()) for status in STATUSES} if len(results.trials) else {}
    ranked = results.ranked()  # running trials count: the best reported so far, as the progress line shows it
    best = None
    if len(ranked) and _number(ranked.iloc[0][results.best_column]) is not None:
        top = ranked.iloc[0]
        best = {"trial_id": str(top["trial_id"]), "value": _number(top[results.best_column])}
    return {"trials": len(results.trials), "counts": counts, "best": best, "iterations": len(results.iterations)}


@dataclass
class _Cached:
    at: float
    shares: dict[str, float]
    note: str


class JobViews:
    """The pages of one dashboard: importance is kept per job for ``IMPORTANCE_EVERY_S``."""

    def __init__(self) -> None:
        self._importance: dict[str, _Cached] = {}

    def job(self, directory: str) -> dict[str, Any]:
        results = load_results(directory)
        view = {**job_summary_of(results), **_counts(results)}
        metric, searched = results.metric, list(results.space)
        trials = []
        for row in results.trials.to_dict("records"):
            trials.append({"trial_id": str(row["trial_id"]), "status": row["status"], "iterations": _plain(row.get("iterations")),
                           "best": _number(row.get(results.best_column)), "last": _number(row.get(metric)),
                           "time_total_s": _number(row.get("time_total_s")), "error": _plain(row.get("error")),
                           "config": {k: _plain(row.get(f"config/{k}")) for k in searched}})
        view["trials_table"] = trials
        view["searched"] = searched
        view["curves"] = _curves(results)
        view["best_over_time"] = _best_over_time(results)
        view["events"] = _events(results)
        view["rungs"] = _rungs(results)
        view["importance"] = self._shares(results)
        view["pareto"] = _pareto(results)
        return view

    def _shares(self, results: JobResults) -> dict[str, Any]:
        cached = self._importance.get(results.directory)
        if cached is None or time.monotonic() - cached.at > IMPORTANCE_EVERY_S:
            from tune_jobs.analysis.importance import hyperparameter_importance

            found = hyperparameter_importance(results)
            cached = self._importance[results.directory] = _Cached(time.monotonic(), found.shares, found.note)
        return {"shares": cached.shares, "note": cached.note}

    def trial(self, directory: str, trial_id: str) -> dict[str, Any]:
        from tune_jobs.analysis.diagnosis import diagnose_trial

        results = load_results(directory)
        rows = results.trials[results.trials["trial_id"] == trial_id]
        if rows.empty:
            raise UserError([f"{directory}: no trial {trial_id}"])
        row = rows.iloc[0].to_dict()
        history = results.history(trial_id)
        metrics = [c for c in history.columns if c not in ("trial_id", "training_iteration", "timestamp")
                   and pd.api.types.is_numeric_dtype(history[c])]
        return {"name": results.name, "directory": results.directory, "trial_id": trial_id, "metric": results.metric,
                "mode": results.mode, "status": row["status"], "error": _plain(row.get("error")),
                "iterations": _plain(row.get("iterations")), "best": _number(row.get(results.best_column)),
                "config": {k: _plain(v) for k, v in results.config_of(row).items()},
                "history": {"steps": [int(s) for s in history["training_iteration"]],
                            "metrics": {m: [_number(v) for v in history[m]] for m in metrics}},
                "checkpoints": _checkpoints(results.directory, trial_id),
                "diagnosis": [{"kind": f.kind, "detail": f.detail} for f in diagnose_trial(results, trial_id)]}


def job_summary_of(results: JobResults) -> dict[str, Any]:
    spec, record = results.spec, results.record
    return {"name": results.name, "directory": results.directory, "status": record.get("status"),
            "metric": results.metric, "mode": results.mode, "planned": (spec.get("search") or {}).get("num_samples"),
            "search": (spec.get("search") or {}).get("algorithm"), "scheduler": (spec.get("scheduler") or {}).get("type"),
            "trainable": spec.get("trainable"), "start_time": record.get("start_time"), "end_time": record.get("end_time")}


def _curves(results: JobResults) -> dict[str, Any]:
    """The job's metric per trial: steps and values, as the charts draw them."""
    iterations = results.iterations
    if iterations.empty or results.metric not in iterations:
        return {}
    ordered = iterations.sort_values(["trial_id", "training_iteration"])
    return {str(trial_id): {"steps": [int(s) for s in rows["training_iteration"]],
                            "values": [_number(v) for v in rows[results.metric]]}
            for trial_id, rows in ordered.groupby("trial_id", sort=False)}


def _best_over_time(results: JobResults) -> dict[str, list[float]]:
    """The best value of the metric reported so far, against seconds since the first report."""
    iterations = results.iterations
    if iterations.empty or results.metric not in iterations or "timestamp" not in iterations:
        return {"seconds": [], "best": []}
    rows = iterations[["timestamp", results.metric]].dropna().sort_values("timestamp")
    values = rows[results.metric].astype(float)
    best = values.cummax() if results.mode == "max" else values.cummin()
    start = float(rows["timestamp"].iloc[0]) if len(rows) else 0.0
    return {"seconds": [float(t) - start for t in rows["timestamp"]], "best": [float(v) for v in best]}


def _events(results: JobResults) -> list[dict[str, Any]]:
    """The scheduler's stops (the last iteration of a stopped trial) and its recorded decisions
    (promotions, PBT copies), for markers on the curves and the lineage."""
    found = []
    metric = results.metric
    for row in results.trials[results.trials["status"] == "stopped"].to_dict("records") if len(results.trials) else []:
        found.append({"trial_id": str(row["trial_id"]), "event": "stopped", "iteration": _plain(row.get("iterations")),
                      "value": _number(row.get(metric))})
    if not results.events.empty:
        for row in results.events.to_dict("records"):
            found.append({"trial_id": str(row["trial_id"]), "event": str(row["event"]),
                          "iteration": _plain(row.get("training_iteration")),
                          "copied_from": _plain(row.get("copied_from"))})
    return found


def _pareto(results: JobResults) -> dict[str, Any] | None:
    """For several objectives: every trial's point (its best of each), whether it is feasible,
    and which are on the Pareto set (the set job.json records)."""
    objectives = results.objectives
    if len(objectives) < 2:
        return None
    points, members = results.pareto()
    front = {member["trial_id"] for member in members}
    return {"objectives": objectives, "constraints": list(results.spec.get("constraints") or []),
            "points": [{"trial_id": row["trial_id"], "values": {m: _number(row[m]) for m in objectives},
                        "feasible": bool(row["feasible"]), "front": row["trial_id"] in front}
                       for row in points.to_dict("records")]}


def _rungs(results: JobResults) -> list[dict[str, Any]]:
    from tune_jobs.analysis.rungs import rung_survival

    survival = rung_survival(results) if len(results.iterations) else None
    if survival is None:
        return []
    return [{"iteration": r.iteration, "reached": r.reached, "of": r.of} for r in survival.rungs]


def _checkpoints(directory: str, trial_id: str) -> list[str]:
    folder = Path(directory) / EXPERIMENT_DIR / trial_id
    return sorted(p.name for p in folder.glob("checkpoint_*")) if folder.is_dir() else []
