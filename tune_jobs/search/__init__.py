"""Search algorithms; importing the package registers every built-in one."""

from tune_jobs.search import auto, bayesopt, grid, optuna_gp, random, tpe  # noqa: F401
from tune_jobs.search.base import SEARCHES, SearchSpec

DEFAULT_SEARCH = "auto"

__all__ = ["DEFAULT_SEARCH", "SEARCHES", "SearchSpec"]
