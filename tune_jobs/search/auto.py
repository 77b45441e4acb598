"""``auto`` (the default): the algorithm that bench/search_suite.py found worth its cost for the job.

On third-party benchmarks of real trainings, BayesOpt's regret was at most random search's from
30 trials on (median over 13 problems 0.81x at 30 trials, 0.68x at 60; at 20 trials 1.02x: too few
results for a model to pay). So: ``bayesopt`` from ``MODEL_FROM_TRIALS`` samples on, random search
below that, and random search when the space has ``grid`` keys (crossed with every sample), no
searched key, or the scheduler draws its own population (pbt). The choice is made when the spec is validated and recorded in job.json.
"""

from __future__ import annotations

from typing import Any, Literal

from tune_jobs.search.base import SEARCHES, NoOptions, SearchSpec
from tune_jobs.space import Grid, Param

MODEL_FROM_TRIALS = 30


@SEARCHES.register("auto")
class AutoSearch(SearchSpec):
    algorithm: Literal["auto"] = "auto"
    options: NoOptions = NoOptions()

    def resolve(self, space: dict[str, Param], model_based: bool = True) -> SearchSpec:
        use_model = (model_based and bool(space) and not any(isinstance(p, Grid) for p in space.values())
                     and self.trials >= MODEL_FROM_TRIALS)
        name = "bayesopt" if use_model else "random"
        return SEARCHES.get(name).model_validate({"algorithm": name, "num_samples": self.num_samples, "seed": self.seed,
                                                   "max_concurrent": self.max_concurrent})

    def build_searcher(self, space: dict[str, Param], metric: str, mode: str, rungs: list[int] | None = None) -> Any:
        return self.resolve(space).build_searcher(space, metric, mode, rungs)
