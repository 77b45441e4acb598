"""Trial schedulers; importing the package registers every built-in one."""

from tune_jobs.schedulers import asha, fifo, hyperband, pbt, promotion  # noqa: F401
from tune_jobs.schedulers.base import (
    EVENTS_FILE,
    SCHEDULERS,
    STATE_FILE,
    STATES,
    JobContext,
    Rung,
    RungSurvival,
    SchedulerSpec,
    paused_trials,
    save_state,
)

DEFAULT_SCHEDULER = "fifo"

__all__ = ["DEFAULT_SCHEDULER", "EVENTS_FILE", "SCHEDULERS", "STATES", "STATE_FILE", "JobContext", "Rung", "RungSurvival",
           "SchedulerSpec", "paused_trials", "save_state"]
