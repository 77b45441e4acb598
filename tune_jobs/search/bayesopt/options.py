"""The options of ``bayesopt`` (``search.options``), validated with the spec and read by its
searcher; a module of their own so the spec side and the searcher do not import each other."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tune_jobs.core.model import StrictModel


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
    max_gp_points: int = Field(1024, ge=16, description="results the GP models at most (the best half and a random "
                               "rest): bounds the time per suggestion in jobs of thousands of trials")
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
