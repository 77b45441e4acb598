"""Ray's scheduler interface around a ``rules.StoppingRule``: the trial's id, its iteration and its
metric (negated for ``min``, so every rule reads higher as better) go in; STOP or CONTINUE comes out."""

from __future__ import annotations

import math
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from tune_jobs.core.values import is_finite_number
from tune_jobs.schedulers.rules import StoppingRule


class RuleScheduler(FIFOScheduler):
    def __init__(self, rule: StoppingRule, metric: str, mode: str) -> None:
        super().__init__()
        self.rule, self._metric, self._mode = rule, metric, mode

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        self._metric, self._mode = metric or self._metric, mode or self._mode
        return True

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        raw = result.get(str(self._metric))
        value = float(raw) if is_finite_number(raw) else math.nan
        stop = self.rule.on_result(trial.trial_id, int(result.get("training_iteration", 0)),
                                   value if self._mode == "max" else -value)
        return str(TrialScheduler.STOP if stop else TrialScheduler.CONTINUE)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        self.rule.on_complete(trial.trial_id)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self.rule.on_complete(trial.trial_id)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self.rule.on_complete(trial.trial_id)


class ParetoRuleScheduler(RuleScheduler):
    """The same for a rule over several objectives: each result's value of every objective,
    negated where it is minimised, in the order the spec lists them (missing: nan, the worst)."""

    def __init__(self, rule: Any, objectives: dict[str, str]) -> None:
        metric, mode = next(iter(objectives.items()))
        super().__init__(rule, metric, mode)
        self.pareto_rule, self.objectives = rule, dict(objectives)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        values = []
        for key, mode in self.objectives.items():
            raw = result.get(key)
            value = float(raw) if is_finite_number(raw) else math.nan
            values.append(value if mode == "max" else -value)
        stop = self.pareto_rule.on_result(trial.trial_id, int(result.get("training_iteration", 0)), tuple(values))
        return str(TrialScheduler.STOP if stop else TrialScheduler.CONTINUE)
