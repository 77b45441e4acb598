"""``tpe``: Optuna's Tree-structured Parzen Estimator on Optuna's ask/tell interface (``optuna_study``)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tune_jobs.core.model import StrictModel
from tune_jobs.search.base import SEARCHES, SearchSpec
from tune_jobs.search.optuna_study import OptunaStudy
from tune_jobs.space import Param


class TPEOptions(StrictModel):
    initial_points: int = Field(10, ge=1, description="random trials before TPE models the space")
    multivariate: bool = Field(True, description="model parameters jointly rather than one by one")


@SEARCHES.register("tpe")
class TPESearch(SearchSpec):
    algorithm: Literal["tpe"] = "tpe"
    options: TPEOptions = TPEOptions()
    multi_objective: ClassVar[bool] = True

    def check_space(self, space: dict[str, Param]) -> list[str]:
        return self.refuse_grid(space)

    def build(self, space: dict[str, Param], metric: str, mode: str, rungs: list[int] | None = None) -> OptunaStudy:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(
            seed=self.seed, n_startup_trials=self.options.initial_points, multivariate=self.options.multivariate
        )
        return OptunaStudy(sampler, space, mode, self.seed, rungs)

    def build_multi(self, space: dict[str, Param], directions: list[str], constraints: int) -> OptunaStudy:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(
            seed=self.seed, n_startup_trials=self.options.initial_points, multivariate=self.options.multivariate)
        return OptunaStudy(sampler, space, directions[0], self.seed, directions=directions)
