"""``auto`` (the default): the algorithm that bench/search_suite.py found worth its cost for the job.

On third-party benchmarks of real trainings (README, "Search quality"): below 30 trials no model
paid for itself (at 20 trials BayesOpt's median regret was random search's), so random search.
From 30 trials on, a GP: ``optuna_gp`` when every searched key is a list of unordered categories
(NAS-Bench-201's operations: 0.40x to 0.63x random's regret, ``bayesopt`` 0.40x to 0.81x),
``bayesopt`` otherwise (ordered numbers, ranges and mixed spaces; on HPOLib's 9 keys 0.07x and
0.14x random's regret, Optuna's GP 0.22x and 0.57x; 20 seeds at 30 trials). Past
``OPTUNA_GP_UP_TO`` trials ``bayesopt`` for those too: Optuna's GP refits on every trial and took
1.7 s a suggestion at 250 trials and 4.9 s at 1,000 on 2 CPUs (12 s on a mixed space), where
``bayesopt`` models at most ``max_gp_points`` results (0.13 s at 1,000; bench/scale.py latency). Random
search also when the space has ``grid`` keys (crossed with every sample), no searched key, or the
scheduler draws its own population (pbt). The choice is made when the spec is validated and
recorded in job.json.
"""

from __future__ import annotations

from typing import Literal

from tune_jobs.search.base import SEARCHES, AskTell, NoOptions, SearchSpec
from tune_jobs.space import Choice, Grid, Param

MODEL_FROM_TRIALS = 30
OPTUNA_GP_UP_TO = 300  # trials; beyond, its time per suggestion (seconds, growing) outweighs its edge


def all_unordered(space: dict[str, Param]) -> bool:
    """Every key a choice among values that have no order (strings, booleans, mixed lists)."""
    return all(isinstance(p, Choice) and not p.all_numbers for p in space.values())


def chosen_algorithm(space: dict[str, Param], trials: int, model_based: bool, objectives: int = 1) -> str:
    if not (model_based and space and trials >= MODEL_FROM_TRIALS) or any(isinstance(p, Grid) for p in space.values()):
        return "random"
    if objectives > 1:
        return "tpe"  # Optuna's TPE takes several objectives and constraints; the GPs here take one
    return "optuna_gp" if all_unordered(space) and trials <= OPTUNA_GP_UP_TO else "bayesopt"


@SEARCHES.register("auto")
class AutoSearch(SearchSpec):
    algorithm: Literal["auto"] = "auto"
    options: NoOptions = NoOptions()

    def resolve(self, space: dict[str, Param], model_based: bool = True, objectives: int = 1) -> SearchSpec:
        name = chosen_algorithm(space, self.trials, model_based, objectives)
        return SEARCHES.get(name).model_validate({"algorithm": name, "num_samples": self.num_samples, "seed": self.seed,
                                                   "max_concurrent": self.max_concurrent})

    def draws_with_ray(self, space: dict[str, Param]) -> bool:
        return self.resolve(space).draws_with_ray(space)

    def build(self, space: dict[str, Param], metric: str, mode: str, rungs: list[int] | None = None) -> AskTell:
        return self.resolve(space).build(space, metric, mode, rungs)
