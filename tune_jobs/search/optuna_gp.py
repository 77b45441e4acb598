"""``optuna_gp``: Optuna's Gaussian-process sampler (``GPSampler``) on Optuna's ask/tell interface (``optuna_study``).

It earns its place on spaces of unordered categories: on NAS-Bench-201 (six operations, five
choices each) it had 0.40x to 0.63x random search's regret at 30 trials (20 seeds), where
``bayesopt``, whose strength is ordered numbers, had 0.40x to 0.81x (bench/search_suite.py;
README). Lists are categorical here, as an Optuna user writes them.
"""

from __future__ import annotations

import warnings
from typing import Literal

from pydantic import Field

from tune_jobs.core.model import StrictModel
from tune_jobs.search.base import SEARCHES, SearchSpec
from tune_jobs.search.optuna_study import OptunaStudy
from tune_jobs.space import Param


class OptunaGPOptions(StrictModel):
    initial_points: int | None = Field(None, ge=1, description="random trials before the GP; default 10, "
                                       "at most a third of the trials")
    deterministic: bool = Field(False, description="the objective has no noise (no fitted noise term)")


@SEARCHES.register("optuna_gp")
class OptunaGPSearch(SearchSpec):
    algorithm: Literal["optuna_gp"] = "optuna_gp"
    options: OptunaGPOptions = OptunaGPOptions()

    @property
    def initial_points(self) -> int:
        if self.options.initial_points is not None:
            return self.options.initial_points
        return max(2, min(10, self.trials // 3))

    def check_space(self, space: dict[str, Param]) -> list[str]:
        problems = self.refuse_grid(space, why=" (the GP chooses every value)")
        if not space:
            problems.append("space: optuna_gp needs at least one searched key")
        return problems

    def build(self, space: dict[str, Param], metric: str, mode: str, rungs: list[int] | None = None) -> OptunaStudy:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.GPSampler(seed=self.seed, n_startup_trials=self.initial_points,
                                            deterministic_objective=self.options.deterministic)
        return OptunaStudy(sampler, space, mode, self.seed)
