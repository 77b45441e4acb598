"""Trial schedulers; importing the package registers every built-in one."""

from tune_jobs.schedulers import asha, auto, curve_stop, fifo, hyperband, mo_asha, pasha, pasha_promotion, pbt, promotion, top_k  # noqa: F401
from tune_jobs.schedulers.base import SCHEDULERS, JobContext, Rung, RungSurvival, SchedulerSpec
from tune_jobs.schedulers.state import STATES, paused_trials, save_state

DEFAULT_SCHEDULER = "fifo"

__all__ = ["DEFAULT_SCHEDULER", "SCHEDULERS", "STATES", "JobContext", "Rung", "RungSurvival",
           "SchedulerSpec", "paused_trials", "save_state"]
