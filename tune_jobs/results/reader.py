"""Reading a job's results back: the best trials, for the CLI and for people's own analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tune_jobs.core.values import is_finite_number
from tune_jobs.errors import UserError
from tune_jobs.results.files import JOB_FILE, SCHEDULER_EVENTS_FILE, TRIALS_FILE
from tune_jobs.results.schema import CONFIG_PREFIX, ERROR, TRIAL_COLUMNS, TRIAL_ID, best_column
from tune_jobs.results.store import ResultsStore


def read_job(directory: Path | str) -> dict[str, Any]:
    """``job.json``; a job it calls ``running`` whose driver is gone (killed: it could not record
    how the job ended) reads as ``interrupted``, as a rerun would resume it."""
    from tune_jobs.results.lease import live_holder

    store = ResultsStore(str(directory))
    if not store.exists(JOB_FILE):
        stages = _stage_directories(store)
        if stages:
            raise UserError([f"{directory}: a staged job; each stage has its results: {', '.join(stages)}"])
        raise UserError([f"{directory}: not a tune-jobs results directory (no {JOB_FILE})"])
    record = dict(store.read_json(JOB_FILE))
    if record.get("status") == "running" and live_holder(store) is None:
        record["status"], record["status_note"] = "interrupted", "its driver stopped without recording the end"
    return record


def _stage_directories(store: ResultsStore) -> list[str]:
    """A staged job's stages (``<name>-<stage>`` beside where ``<name>`` would be), on local disk."""
    if not store.local:
        return []
    path = Path(store.path)
    found = sorted(path.parent.glob(f"{path.name}-*/{JOB_FILE}"), key=lambda p: p.stat().st_mtime)
    return [str(job.parent) for job in found if (dict(ResultsStore(str(job.parent)).read_json(JOB_FILE)).get("spec") or {})
            .get("name", "").startswith(f"{path.name}-")]


def rank_trials(trials: pd.DataFrame, metric: str, mode: str) -> pd.DataFrame:
    """Best first by ``best_<metric>``, ties by trial id; trials without a finite value (failed
    before reporting) last."""
    key = best_column(metric)
    usable = trials[key].map(is_finite_number)
    ordered = trials.assign(_usable=usable).sort_values(["_usable", key, TRIAL_ID], ascending=[False, mode == "min", True],
                                                        na_position="last", kind="stable")
    return ordered.drop(columns="_usable").reset_index(drop=True)


def best_trials(directory: Path | str, top: int) -> tuple[pd.DataFrame, str, str]:
    """The ``top`` trials by the job's metric (trials with no value last), with the metric and mode.

    Config columns that hold one value across every trial of the job (fixed keys) are left out.
    """
    job = read_job(directory)
    metric, mode = job["spec"]["metric"], job["spec"]["mode"]
    store = ResultsStore(str(directory))
    if not store.exists(TRIALS_FILE):  # a job starting: no trial yet, not an error
        return pd.DataFrame(columns=[*TRIAL_COLUMNS, best_column(metric)]), metric, mode
    trials = store.read_table(TRIALS_FILE).to_pandas()
    fixed = [c for c in trials.columns if c.startswith(CONFIG_PREFIX) and trials[c].astype(str).nunique() <= 1]
    return rank_trials(trials.drop(columns=fixed), metric, mode).head(top), metric, mode


def failure_counts(directory: Path | str, most: int = 5) -> dict[str, int]:
    """The commonest errors of failed trials, with how many trials each ended."""
    store = ResultsStore(str(directory))
    if not store.exists(TRIALS_FILE):
        return {}
    errors = store.read_table(TRIALS_FILE).to_pandas()[ERROR].dropna().astype(str)
    return {str(message): int(n) for message, n in errors.value_counts().head(most).items()}


def event_counts(directory: Path | str) -> dict[str, int]:
    """The scheduler's decisions by kind (paused, promoted, stopped, exploited); empty when it
    records none."""

    store = ResultsStore(str(directory))
    if not store.exists(SCHEDULER_EVENTS_FILE):
        return {}
    events = store.read_table(SCHEDULER_EVENTS_FILE).column("event").to_pylist()
    return {kind: events.count(kind) for kind in sorted(set(events))}
