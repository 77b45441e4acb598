"""A running job's outputs; importing the package registers every built-in one."""

from tune_jobs.results.listeners import mlflow_runs, tensorboard  # noqa: F401
from tune_jobs.results.listeners.base import LISTENERS, ListenerContext, Listeners, TrialListener

__all__ = ["LISTENERS", "ListenerContext", "Listeners", "TrialListener"]
