"""Search methods behind one ask/tell loop, for the quality and latency benchmarks."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from tune_jobs.space import Choice, LogRandInt, LogUniform, Param, RandInt, Uniform


class TuneJobsBayesOpt:
    name = "tune-jobs bayesopt"

    def __init__(self, space: dict[str, Param], seed: int) -> None:
        from tune_jobs.search.bayesopt.model import BayesOpt

        self.searcher = BayesOpt(space, mode="min", seed=seed)

    def ask(self, i: int) -> dict[str, Any]:
        return self.searcher.ask(str(i))

    def tell(self, i: int, config: dict[str, Any], y: float) -> None:
        self.searcher.tell(str(i), y)


class RandomSearch:
    name = "random search"

    def __init__(self, space: dict[str, Param], seed: int) -> None:
        from tune_jobs.ray_tune.space import to_ray

        self.domains = {k: to_ray(p) for k, p in space.items()}
        self.rng = np.random.default_rng(seed)

    def ask(self, i: int) -> dict[str, Any]:
        return {k: d.sample(random_state=self.rng) for k, d in self.domains.items()}

    def tell(self, i: int, config: dict[str, Any], y: float) -> None:
        pass


class OptunaTPE:
    name = "Optuna TPE"

    def __init__(self, space: dict[str, Param], seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), direction="minimize")
        self.distributions = {k: _optuna_distribution(p) for k, p in space.items()}
        self.trials: dict[int, Any] = {}

    def ask(self, i: int) -> dict[str, Any]:
        trial = self.study.ask(self.distributions)
        self.trials[i] = trial
        return dict(trial.params)

    def tell(self, i: int, config: dict[str, Any], y: float) -> None:
        self.study.tell(self.trials.pop(i), y)


def _optuna_distribution(param: Param) -> Any:
    from optuna import distributions as d

    if isinstance(param, (Uniform, LogUniform)):
        return d.FloatDistribution(*param.bounds, log=isinstance(param, LogUniform))
    if isinstance(param, (RandInt, LogRandInt)):
        return d.IntDistribution(*param.bounds, log=isinstance(param, LogRandInt))
    if isinstance(param, Choice):
        return d.CategoricalDistribution(param.options)
    raise TypeError(param)


class StockBayesOpt:
    """bayes_opt's own suggest/register loop with its defaults (log ranges given in log space)."""

    name = "stock bayes_opt"

    def __init__(self, space: dict[str, Param], seed: int, initial_points: int = 8) -> None:
        from bayes_opt import BayesianOptimization

        self.space = space
        pbounds: dict[str, Any] = {}
        for key, p in space.items():
            if isinstance(p, LogUniform):
                pbounds[key] = tuple(math.log(b) for b in p.bounds)
            elif isinstance(p, RandInt):
                pbounds[key] = (*p.bounds, int)
            elif isinstance(p, Choice):
                pbounds[key] = list(p.options)
            else:
                pbounds[key] = p.bounds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.optimizer = BayesianOptimization(f=None, pbounds=pbounds, random_state=seed, verbose=0,
                                                  allow_duplicate_points=True)
        self.initial_points, self.asked = initial_points, 0
        self.raw: dict[int, dict[str, Any]] = {}

    def ask(self, i: int) -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = self.optimizer.random_sample(1)[0] if self.asked < self.initial_points else self.optimizer.suggest()
        self.asked += 1
        self.raw[i] = raw
        return {k: math.exp(v) if isinstance(self.space[k], LogUniform) else v for k, v in raw.items()}

    def tell(self, i: int, config: dict[str, Any], y: float) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.optimizer.register(params=self.raw.pop(i), target=-y)


METHODS = [TuneJobsBayesOpt, RandomSearch, OptunaTPE, StockBayesOpt]
