"""``curve_stop``: learning-curve-aware stopping. Each result is extrapolated to ``max_t`` from the
curves that have finished (the gains, from this epoch to the end, of the ``neighbours`` finished
trials that stood closest to this value here); a trial whose optimistic forecast (the ``quantile``
of those gains) cannot beat the best finished trial stops. Until ``min_curves`` trials have
finished, ASHA's rungs decide, so the first curves are not all paid in full."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field

from tune_jobs.schedulers.asha import SuccessiveHalving
from tune_jobs.schedulers.base import SCHEDULERS, JobContext, RungSurvival


@SCHEDULERS.register("curve_stop")
class CurveStopScheduler(SuccessiveHalving):
    type: Literal["curve_stop"] = "curve_stop"
    min_curves: int = Field(5, ge=1, description="finished trials before forecasts decide")
    neighbours: int = Field(10, ge=1, description="finished curves each forecast is drawn from")
    quantile: float = Field(0.9, gt=0, le=1, description="how optimistic a forecast is (1: the best gain seen)")

    @property
    def decides_per_result(self) -> bool:
        return True

    def build(self, job: JobContext) -> Any:
        from tune_jobs.schedulers.rule_ray import RuleScheduler
        from tune_jobs.schedulers.rules import CurveForecast, RungCutoffs

        assert self.max_t is not None, "with_defaults sets max_t"
        rule = CurveForecast(self.max_t, RungCutoffs(self.milestones[:-1], 1 / self.reduction_factor), self.min_curves,
                             self.neighbours, self.quantile)
        return RuleScheduler(rule, job.metric, job.mode)

    def rungs(self, reached: Iterable[int]) -> RungSurvival | None:
        return self._survival(reached, "Learning-curve stopping",
                              "Trials were stopped at any epoch once their forecast final value could not beat the best "
                              f"finished trial; until {self.min_curves} had finished, when below the top 1/{{rf}} at a rung.")
