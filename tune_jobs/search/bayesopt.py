"""``bayesopt``: Gaussian-process Bayesian optimisation on bayesian-optimization 3.x.

Options are checked here, before Ray starts; the searcher itself is
``tune_jobs.search.bayesopt_searcher.BayesOptSearcher`` (the only part that imports Ray).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tune_jobs.model import StrictModel
from tune_jobs.results.files import TRIALS_FILE
from tune_jobs.results.schema import SUCCEEDED, config_of, is_finite_number
from tune_jobs.search.base import SEARCHES, SearchSpec
from tune_jobs.space import Param


class DomainReduction(StrictModel):
    """bayes_opt's ``SequentialDomainReductionTransformer``: shrinks float/int bounds around the best."""

    enabled: bool = True
    gamma_osc: float = Field(0.7, gt=0, le=1)
    gamma_pan: float = Field(1.0, gt=0)
    eta: float = Field(0.9, gt=0, le=1)
    minimum_window: float = Field(0.0, ge=0)


class BayesOptOptions(StrictModel):
    initial_points: int | None = Field(None, ge=1, description="space-filling suggestions before the GP; "
                                       "default keys + 1, at most a quarter of the trials, between 4 and 10")
    acquisition: Literal["ucb", "ei", "poi", "gp_hedge"] = "ei"
    kappa: float | None = Field(None, gt=0, description="ucb only (default 2.576)")
    xi: float | None = Field(None, ge=0, description="ei/poi only (default 0.01)")
    domain_reduction: DomainReduction | None = None
    warm_start: str | None = Field(None, min_length=1, description="an earlier job's results directory")
    refit_every: float = Field(1.25, ge=1, description="refit kernel hyperparameters when observations grow by this factor")
    max_fit_points: int = Field(256, ge=16, description="points used to fit kernel hyperparameters")
    output_transform: Literal["auto", "rank", "power", "none"] = Field(
        "auto", description="what the GP fits: auto (ranks when a result is far worse than the typical one, "
        "else the values), ranks as normal quantiles, Yeo-Johnson, or the raw values")
    noise: bool = Field(True, description="a fitted noise term in the kernel")
    pending: Literal["optimistic", "believer", "mean"] = Field(
        "optimistic", description="what a running trial is assumed to score: the GP's prediction there plus one "
        "standard deviation (optimistic), the prediction (a kriging believer), or the mean so far")
    numeric_choices: Literal["ordinal", "categorical"] = Field(
        "ordinal", description="a choice of numbers is searched as ordered values, or as unrelated categories")

    @field_validator("domain_reduction", mode="before")
    @classmethod
    def _bool_shorthand(cls, value: Any) -> Any:
        if value is True:
            return {}
        if value is False:
            return None
        return value

    @model_validator(mode="after")
    def _acquisition_parameters(self) -> BayesOptOptions:
        if self.kappa is not None and self.acquisition != "ucb":
            raise ValueError(f"kappa is a ucb parameter; acquisition is {self.acquisition}")
        if self.xi is not None and self.acquisition not in ("ei", "poi"):
            raise ValueError(f"xi is an ei/poi parameter; acquisition is {self.acquisition}")
        return self


@SEARCHES.register("bayesopt")
class BayesOptSearch(SearchSpec):
    algorithm: Literal["bayesopt"] = "bayesopt"
    options: BayesOptOptions = BayesOptOptions()

    @property
    def owns_space(self) -> bool:
        return True

    def check_space(self, space: dict[str, Param]) -> list[str]:
        problems = self.refuse_grid(space, why=" (the GP chooses every value)")
        if not space:
            problems.append("space: bayesopt needs at least one searched key")
        if self.options.warm_start is not None:
            problems += check_warm_start(self.options.warm_start)
        return problems

    def build_searcher(self, space: dict[str, Param], metric: str, mode: str, rungs: list[int] | None = None) -> Any:
        from tune_jobs.search.bayesopt_searcher import BayesOptSearcher

        searcher = BayesOptSearcher(space, metric=metric, mode=mode, options=self.options, seed=self.seed, trials=self.trials,
                                    rungs=rungs)
        if self.options.warm_start is not None:
            for config, value in earlier_observations(self.options.warm_start, metric):
                searcher.register_config(config, value)
        return searcher


def check_warm_start(directory: str) -> list[str]:
    from tune_jobs.results.store import ResultsStore

    try:
        found = ResultsStore(directory).exists(TRIALS_FILE)
    except (OSError, ValueError) as error:  # an unreachable or malformed object-store URI
        return [f"search.options.warm_start: cannot read {directory}: {error}"]
    if not found:
        return [f"search.options.warm_start: no {TRIALS_FILE} in {directory}; give an earlier job's results directory"]
    return []


def earlier_observations(directory: str, metric: str) -> list[tuple[dict[str, Any], float]]:
    """(config, last value of ``metric``) of every successful trial of an earlier job."""

    from tune_jobs.results.store import ResultsStore

    rows = ResultsStore(directory).read_table(TRIALS_FILE).to_pylist()
    found = []
    for row in rows:
        value = row.get(metric)
        if row.get("status") in SUCCEEDED and is_finite_number(value):
            found.append((config_of(row), float(value)))
    return found
