"""Search algorithms; importing the package imports every module in it, so each built-in one
(and a new one: one file, no list to edit) is registered before the job spec is built."""

from tune_jobs.core.registry import import_members
from tune_jobs.search.base import SEARCHES, SearchSpec

import_members(__name__, __path__)

DEFAULT_SEARCH = "auto"

__all__ = ["DEFAULT_SEARCH", "SEARCHES", "SearchSpec"]
