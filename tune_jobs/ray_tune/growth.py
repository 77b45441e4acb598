"""The Ray Tune side of growing a job (``tune_jobs.rerun`` decides whether it may).

Ray restores a resumed experiment's sample count and its "finished" flag from the saved search
state, and its time budget from the saved stopper, whatever the new run asks; both are wrapped
here so that a restored job takes the numbers of the spec it is rerun with. Private Ray names
(a restored Tuner's config) are changed only in this module, through ``compat``.
"""

from __future__ import annotations

import time
from typing import Any

from ray.tune.search.search_generator import SearchGenerator
from ray.tune.stopper import Stopper

TIME_BUDGETS: dict[str, float | None] = {}  # results dir -> the running spec's stop.time_budget_s
RAN_OUT: set[str] = set()  # results dirs whose time budget has run out in this run


class JobTimeBudget(Stopper):
    """``stop.time_budget_s`` over every run of the job: the time used is saved with the
    experiment, the budget is the current spec's (Ray's own stopper keeps the first run's)."""

    def __init__(self, job_key: str) -> None:
        self.job_key = job_key
        self.used_s = 0.0
        self._last_check: float | None = None

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        now = time.monotonic()
        if self._last_check is not None:
            self.used_s += now - self._last_check
        self._last_check = now
        budget = TIME_BUDGETS.get(self.job_key)
        if budget is not None and self.used_s >= budget:
            RAN_OUT.add(self.job_key)
            return True
        return False

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["_last_check"] = None  # a restarted driver counts from its own start
        self.__dict__.update(state)


class GrowingSearch(SearchGenerator):
    """Ray's wrapper of a restored searcher, with the grown ``num_samples``: its saved state would
    set the old total and, once a time budget ended the job, mark it finished."""

    def __init__(self, searcher: Any, total_samples: int, ended: set[str]) -> None:
        super().__init__(searcher)
        self.grown_total = total_samples
        self.ended = ended

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self._total_samples = max(self._total_samples, self.grown_total)
        self._finished = False  # a searcher with nothing left says so again at its next suggest()
        # Ray stops the trials a time budget cuts without telling the searcher, so its saved
        # state still counts them as running: with max_concurrent they would hold their slots
        # for ever. They end here as Ray ends a failed trial: without an observation.
        live = getattr(self.searcher, "live_trials", None) or set()
        for trial_id in sorted(self.ended & set(live)):
            self.searcher.on_trial_complete(trial_id, result=None, error=True)


def grow_restored(tuner: Any, total_samples: int, scheduler: Any, ended: set[str]) -> None:
    """Let a restored Tuner go on to ``total_samples`` trials with a scheduler that knows it;
    ``ended`` are the trials that the job's results show as ended."""
    from tune_jobs.ray_tune.compat import restored_tune_config

    config = restored_tune_config(tuner)
    config.search_alg = GrowingSearch(config.search_alg, total_samples, ended)
    config.scheduler = scheduler
