"""One job's results loaded for analysis: the resolved spec, the trials and every iteration."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd
from pydantic import TypeAdapter, ValidationError

from tune_jobs.core.values import is_finite_number, plain
from tune_jobs.errors import UserError
from tune_jobs.results.files import SCHEDULER_EVENTS_FILE, TRIALS_FILE
from tune_jobs.results.iteration_log import READ_ATTEMPTS, read_iterations
from tune_jobs.results.reader import rank_trials, read_job
from tune_jobs.results.schema import (
    COMPLETED,
    CONFIG_PREFIX,
    ITERATION_COLUMNS,
    SUCCEEDED,
    TRIAL_COLUMNS,
    best_column,
)
from tune_jobs.results.store import ResultsStore
from tune_jobs.space import Param, SpaceParam


@dataclass
class JobResults:
    directory: str
    record: dict[str, Any]  # job.json
    trials: pd.DataFrame  # trials.parquet
    iterations: pd.DataFrame  # iterations.parquet
    events: pd.DataFrame = field(default_factory=pd.DataFrame)  # scheduler_events.parquet, when the scheduler keeps one

    def event_counts(self) -> dict[str, int]:
        """The scheduler's decisions by kind (paused, promoted, stopped, exploited)."""
        if self.events.empty:
            return {}
        return {str(k): int(v) for k, v in sorted(self.events["event"].value_counts().items())}

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.record["spec"])

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def metric(self) -> str:
        return str(self.spec["metric"])

    @property
    def mode(self) -> str:
        return str(self.spec["mode"])

    @property
    def best_column(self) -> str:
        return best_column(self.metric)

    @cached_property
    def space(self) -> dict[str, Param]:
        """The searched keys, as the job spec declared them."""
        adapter: TypeAdapter[Any] = TypeAdapter(SpaceParam)
        return {key: adapter.validate_python(value) for key, value in self.spec.get("space", {}).items()}

    def ranked(self) -> pd.DataFrame:
        """Trials best first by their best value of the metric; failed and metric-less trials last."""
        return rank_trials(self.trials, self.metric, self.mode)

    def scored(self) -> pd.DataFrame:
        """Successful trials with a finite best value, best first: what importance and narrowing learn from."""
        ranked = self.ranked()
        ok = ranked["status"].isin(SUCCEEDED) & ranked[self.best_column].map(is_finite_number)
        return ranked[ok].reset_index(drop=True)

    def candidates(self, include_stopped: bool = False) -> pd.DataFrame:
        """The trials to build on (ensembles, evaluation), best first: those that ran to the end,
        or with ``include_stopped`` also those the scheduler stopped early (at epoch 2 an ASHA
        trial can sit at 0.26 accuracy and still rank in a short job's top five)."""
        scored = self.scored()
        return scored if include_stopped else scored[scored["status"] == COMPLETED].reset_index(drop=True)

    def config_of(self, row: pd.Series | dict[str, Any]) -> dict[str, Any]:
        return {k.removeprefix(CONFIG_PREFIX): plain(v) for k, v in dict(row).items() if k.startswith(CONFIG_PREFIX)}

    @property
    def objectives(self) -> dict[str, str]:
        """Every objective and its direction (the metric alone for a single-objective job)."""
        from tune_jobs.results.pareto import objectives_of

        return objectives_of(self.spec)[0]

    def ranked_by(self, objective: str | None) -> JobResults:
        """These results ranked by one of the job's objectives (``objective``), for what builds on
        "the best trials" (narrow, ensemble, evaluate): a job with several objectives has no single
        best, so the caller must say which (``UserError`` naming them otherwise). The view is a
        single-objective job on that metric; its other objectives and constraints are dropped."""
        objectives = self.objectives
        if objective is None:
            if len(objectives) == 1:
                return self
            listed = ", ".join(f"{key} ({mode})" for key, mode in objectives.items())
            raise UserError([f"--objective: the job has several objectives ({listed}); say which one ranks the trials"])
        if objective not in objectives:
            listed = ", ".join(objectives)
            raise UserError([f"--objective: {objective} is not one of the job's objectives ({listed})"])
        if len(objectives) == 1:
            return self
        spec = {key: value for key, value in self.spec.items() if key not in ("objectives", "constraints")}
        spec.update(metric=objective, mode=objectives[objective])
        trials = self.trials.copy()
        values = self.iterations.loc[self.iterations[objective].map(is_finite_number), ["trial_id", objective]] \
            if objective in self.iterations.columns else pd.DataFrame(columns=["trial_id", objective])
        grouped = values.astype({objective: float}).groupby("trial_id")[objective]
        best = grouped.max() if objectives[objective] == "max" else grouped.min()
        trials[best_column(objective)] = trials["trial_id"].map(best).astype(float)
        return JobResults(self.directory, {**self.record, "spec": spec}, trials, self.iterations, self.events)

    def pareto(self) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        """Every trial's point (its best of each objective, feasible or not) and the Pareto set,
        as job.json records it, computed from the files: a running job's too."""
        from tune_jobs.results.pareto import objectives_of, pareto_of, trial_points

        objectives, constraints = objectives_of(self.spec)
        failed = set(self.trials.loc[self.trials["status"] == "failed", "trial_id"]) if len(self.trials) else set()
        points = trial_points(self.iterations, objectives, constraints, failed)
        return points, pareto_of(points, objectives)

    def history(self, trial_id: str) -> pd.DataFrame:
        rows = self.iterations[self.iterations["trial_id"] == trial_id]
        return rows.sort_values("training_iteration").reset_index(drop=True)


def load_results(directory: str) -> JobResults:
    """``UserError`` (one line) when ``directory`` is not a job's results. A job that has not
    reported a trial yet loads with empty tables: a monitor polling a starting job sees it running."""
    record = read_job(directory)
    store = ResultsStore(directory)
    directory = str(store)  # absolute: a follow-up spec that names it works from anywhere
    for attempt in range(READ_ATTEMPTS):
        try:
            trials = store.read_table(TRIALS_FILE).to_pandas() if store.exists(TRIALS_FILE) else _no_trials()
            iterations = read_iterations(store).to_pandas()
            events = store.read_table(SCHEDULER_EVENTS_FILE).to_pandas() if store.exists(SCHEDULER_EVENTS_FILE) else pd.DataFrame()
            break
        except (OSError, ValueError) as error:
            # trials.parquet replaced while it was read (an object store's GETs of one file can
            # straddle a PUT): read again; a file that stays unreadable is reported.
            if attempt == READ_ATTEMPTS - 1:
                raise UserError([f"{directory}: cannot read the results: {str(error).splitlines()[0]}"]) from None
            time.sleep(0.05)
    if iterations.empty:
        iterations = pd.DataFrame(columns=list(ITERATION_COLUMNS))
    results = JobResults(directory, record, trials, iterations, events)
    if results.best_column not in trials.columns:
        trials[results.best_column] = float("nan")
    try:
        results.space  # noqa: B018 (validated here, where a bad record can still be reported)
    except ValidationError:
        raise UserError([f"{directory}: job.json has a space this version cannot read"]) from None
    return results


def _no_trials() -> pd.DataFrame:
    return pd.DataFrame(columns=list(TRIAL_COLUMNS))
