"""An Optuna sampler as an ``AskTell``: Optuna's own ask/tell interface on an in-memory study,
with each spec parameter as the distribution Ray's Optuna integration gave it (integer bounds
inclusive, log ranges on a log scale, lists as categories).

Optuna's samplers repeat themselves on small discrete spaces (TPE and the GP suggested 4 distinct
configurations in 6 on a 6-point space), and with deterministic training a repeat is a wasted
trial. A configuration already tried or running is asked again up to ``RETRIES`` times, each
repeat told to the study as failed (samplers learn from completed trials only), then replaced
by a random untried one; so nothing repeats while an untried configuration is likely to remain.

Under a rung-based scheduler (``rungs``, the last one the end of a full training) a trial's value
at each rung is reported to Optuna, and a trial stopped before the last rung is told as pruned:
TPE then ranks the trials that finished by their value and after them the stopped ones by the
rung they reached and their value there (Optuna's own rule for pruned trials), which is what the
scheduler's halving learned, instead of ranking an epoch-1 value as if it were final.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tune_jobs.search.base import config_key, draw_untried
from tune_jobs.space import Choice, LogRandInt, LogUniform, Ordinal, Param, RandInt, Uniform


def distribution(param: Param) -> Any:
    import optuna

    if isinstance(param, (Uniform, LogUniform)):
        return optuna.distributions.FloatDistribution(*param.bounds, log=isinstance(param, LogUniform))
    if isinstance(param, (RandInt, LogRandInt)):
        return optuna.distributions.IntDistribution(*param.bounds, log=isinstance(param, LogRandInt))
    if isinstance(param, (Choice, Ordinal)):
        return optuna.distributions.CategoricalDistribution(param.options)
    raise TypeError(f"no Optuna distribution for {param.kind}")


RETRIES = 3


class OptunaStudy:
    def __init__(self, sampler: Any, space: dict[str, Param], mode: str, seed: int | None = None,
                 rungs: list[int] | None = None, directions: list[str] | None = None) -> None:
        """``directions``: max or min for each of several objectives (``mode`` then is the first's)."""
        import optuna

        chosen = [optuna.study.StudyDirection.MAXIMIZE if d == "max" else optuna.study.StudyDirection.MINIMIZE
                  for d in directions or [mode]]
        self.study = optuna.create_study(sampler=sampler, directions=chosen)
        self.space = space
        self.distributions = {key: distribution(param) for key, param in space.items()}
        self.trials: dict[str, Any] = {}
        self.taken: set[str] = set()  # configurations told or running
        self.rng = np.random.RandomState(seed)
        self.rungs = set(rungs or [])
        self.last_rung = max(self.rungs, default=0)
        self.reached: dict[str, int] = {}  # the highest rung each running trial reported at

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A study saved before rungs were reported resumes without them, as it ran."""
        self.__dict__.update({"rungs": set(), "last_rung": 0, "reached": {}, **state})

    def ask(self, trial_id: str) -> dict[str, Any] | None:
        import optuna

        if trial_id in self.trials:
            return dict(self.trials[trial_id].params)
        for _ in range(RETRIES):
            trial = self.study.ask(fixed_distributions=self.distributions)
            if config_key(trial.params) not in self.taken:
                break
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            untried = self._untried()
            if untried is not None:
                self.study.enqueue_trial(untried)
            trial = self.study.ask(fixed_distributions=self.distributions)
        self.trials[trial_id] = trial
        self.taken.add(config_key(trial.params))
        return dict(trial.params)

    def _untried(self) -> dict[str, Any] | None:
        config, fresh = draw_untried(self.space, self.rng, self.taken)
        return config if fresh else None

    def observe(self, trial_id: str, iteration: int, value: float) -> None:
        trial = self.trials.get(trial_id)
        if trial is not None and iteration in self.rungs:
            trial.report(value, iteration)
            self.reached[trial_id] = iteration

    def tell(self, trial_id: str, value: float | list[float] | None, violations: list[float] | None = None) -> None:
        import optuna

        trial = self.trials.pop(trial_id, None)
        if trial is None:
            return
        for index, violation in enumerate(violations or []):  # Optuna's samplers: above 0 is infeasible
            trial.set_constraint(f"constraint_{index}", float(violation))
        reached = self.reached.pop(trial_id, 0)
        if value is None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        elif self.rungs and reached < self.last_rung:
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(trial, value)
