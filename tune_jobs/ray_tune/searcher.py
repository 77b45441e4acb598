"""The one adapter from a search algorithm's ask/tell (``tune_jobs.search.base.AskTell``) to Ray
Tune's ``Searcher``. Ray's vocabulary stays here: results are dicts, a trial may end with an
error flag or with no result at all, and the searcher is saved to a file with the experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray import cloudpickle
from ray.tune.search import Searcher

from trainables.ray_adapter import ERROR_KEY
from tune_jobs.core.values import is_finite_number
from tune_jobs.results.pareto import Constraint, TrialBests
from tune_jobs.search.base import AskTell, MultiAskTell


class RaySearcher(Searcher):
    def __init__(self, search: AskTell, metric: str, mode: str) -> None:
        super().__init__(metric=metric, mode=mode)
        self.search = search
        self.metric_key = metric
        self.last: dict[str, float] = {}  # each running trial's last finite value
        self.observed: dict[str, int] = {}  # each running trial's last iteration the algorithm observed

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        self._metric, self._mode = metric or self._metric, mode or self._mode
        self.metric_key = metric or self.metric_key
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        return self.search.ask(trial_id)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        value = result.get(self.metric_key)
        if is_finite_number(value):
            self.last[trial_id] = float(value)
            self._observe(trial_id, result, float(value))

    def _observe(self, trial_id: str, result: dict[str, Any], value: float) -> None:
        iteration = result.get("training_iteration")
        if iteration is not None and int(iteration) > self.observed.get(trial_id, 0):
            self.search.observe(trial_id, int(iteration), value)
            self.observed[trial_id] = int(iteration)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        """A trial a scheduler stopped ends with its last value (it looked that bad when it was
        stopped); a failed one, or one whose final value is not a finite number, with None.

        Ray gives the result a scheduler stopped a trial on (and the last one of a trial that
        reached ``max_t``, which ASHA also stops) to ``on_trial_complete`` only, not to
        ``on_trial_result``: it is observed here, so a rung-aware algorithm sees the value the
        trial was stopped (or finished) on, as the simulator's does."""
        last = self.last.pop(trial_id, None)
        result = result or {}
        value = result.get(self.metric_key)
        if is_finite_number(value) and not error and not result.get(ERROR_KEY):
            self._observe(trial_id, result, float(value))
        self.observed.pop(trial_id, None)
        if value is None:
            value = last
        if error or result.get(ERROR_KEY) or not is_finite_number(value):
            self.search.tell(trial_id, None)
        else:
            self.search.tell(trial_id, float(value))

    def save(self, checkpoint_path: str) -> None:
        """The whole algorithm (observations, pending trials, fitted models, random state)."""
        Path(checkpoint_path).write_bytes(cloudpickle.dumps((self.search, self.last, self.observed)))

    def restore(self, checkpoint_path: str) -> None:
        saved = cloudpickle.loads(Path(checkpoint_path).read_bytes())
        self.search, self.last = saved[:2]
        self.observed = saved[2] if len(saved) > 2 else {}  # saved before it was kept


class RayMultiSearcher(Searcher):
    """The same adapter for several objectives: each trial's point is its best value of each
    objective (as the results' Pareto set counts it), and each constraint is judged on the trial's
    most favourable value of its metric; a trial missing an objective is told as failed."""

    def __init__(self, search: MultiAskTell, objectives: dict[str, str], constraints: list[Constraint]) -> None:
        metric, mode = next(iter(objectives.items()))
        super().__init__(metric=metric, mode=mode)
        self.search = search
        self.bests = TrialBests(dict(objectives), list(constraints))

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        return self.search.ask(trial_id)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.bests.update(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if result:
            self.bests.update(trial_id, result)
        point = self.bests.finish(trial_id)
        if error or (result or {}).get(ERROR_KEY) or point is None:
            self.search.tell(trial_id, None)
        else:
            self.search.tell(trial_id, *point)

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_bytes(cloudpickle.dumps((self.search, self.bests.seen)))

    def restore(self, checkpoint_path: str) -> None:
        self.search, self.bests.seen = cloudpickle.loads(Path(checkpoint_path).read_bytes())
