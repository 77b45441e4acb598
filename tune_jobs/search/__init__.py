"""Search algorithms; importing the package registers every built-in one."""

from tune_jobs.search import bayesopt, grid, random, tpe  # noqa: F401
from tune_jobs.search.base import SEARCHES, SearchSpec

__all__ = ["SEARCHES", "SearchSpec"]
