"""``tpe``: Optuna's Tree-structured Parzen Estimator through Ray's Optuna integration.

Optuna is an optional dependency (``pip install 'tune-jobs[tpe]'``); the spec says so when it is
missing, before Ray starts.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from pydantic import Field

from tune_jobs.model import StrictModel
from tune_jobs.search.base import SEARCHES, SearchSpec
from tune_jobs.space import Param


class TPEOptions(StrictModel):
    initial_points: int = Field(10, ge=1, description="random trials before TPE models the space")
    multivariate: bool = Field(True, description="model parameters jointly rather than one by one")


@SEARCHES.register("tpe")
class TPESearch(SearchSpec):
    algorithm: Literal["tpe"] = "tpe"
    options: TPEOptions = TPEOptions()

    def check_space(self, space: dict[str, Param]) -> list[str]:
        problems = self.refuse_grid(space)
        if importlib.util.find_spec("optuna") is None:
            problems.append("search.algorithm: tpe needs Optuna, which is not installed; pip install 'tune-jobs[tpe]'")
        return problems

    def build_searcher(self, space: dict[str, Param], metric: str, mode: str) -> Any:
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(
            seed=self.seed, n_startup_trials=self.options.initial_points, multivariate=self.options.multivariate
        )
        return OptunaSearch(sampler=sampler)
