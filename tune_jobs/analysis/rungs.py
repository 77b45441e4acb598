"""Where the scheduler compared trials and how many got that far: read from a job's results,
described by the scheduler that ran it."""

from __future__ import annotations

from tune_jobs.analysis.job_results import JobResults
from tune_jobs.schedulers import RungSurvival, SchedulerSpec


def job_scheduler(results: JobResults) -> SchedulerSpec | None:
    """The scheduler recorded in job.json (None: an older record this version cannot read)."""
    from pydantic import ValidationError

    from tune_jobs.spec import parse_scheduler

    try:
        return parse_scheduler(results.spec.get("scheduler") or {})
    except ValidationError:
        return None


def rung_survival(results: JobResults) -> RungSurvival | None:
    """None when the scheduler compares no trials (fifo)."""
    scheduler = job_scheduler(results)
    if scheduler is None:
        return None
    reached = results.iterations.groupby("trial_id")["training_iteration"].max()
    return scheduler.rungs(int(r) for r in reached)
