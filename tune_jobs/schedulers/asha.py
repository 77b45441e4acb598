"""``asha``: asynchronous successive halving that stops the trials below the top
1/``reduction_factor`` at each rung (Ray's ``ASHAScheduler``); ``max_t`` and ``grace_period``
count reported iterations. ``max_t`` left out means the trainable's ``epochs``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from tune_jobs.core.values import show
from tune_jobs.results.schema import COMPLETED, STOPPED
from tune_jobs.schedulers.base import SCHEDULERS, JobContext, RungSurvival, SchedulerSpec, survival
from tune_jobs.schedulers.rules import rung_milestones


class EpochLimited(SchedulerSpec):
    """A scheduler that stops trials by their reported iterations, up to ``max_t`` (the epochs by default)."""

    max_t: int | None = Field(None, ge=1, description="iterations of a trial that is never stopped; default: epochs")
    first_judged: ClassVar[str]  # the option naming the first iteration a trial can be stopped at; <= max_t

    def with_defaults(self, epochs: int | None) -> tuple[SchedulerSpec, list[str]]:
        if self.max_t is not None:
            return self, []
        if epochs is None:
            return self, [f"scheduler.max_t: required: the trainable declares no epochs to default it to ({self.type} "
                          "stops trials by their reported iterations)"]
        first = getattr(self, self.first_judged)
        if first > epochs:
            return self, [f"scheduler.{self.first_judged}: must be <= max_t (config.epochs = {epochs}), got {first}"]
        return self.model_copy(update={"max_t": epochs}), []

    @property
    def max_iterations(self) -> int | None:
        return self.max_t

    def trial_status(self, iterations: int) -> str:
        return COMPLETED if self.max_t is None or iterations >= self.max_t else STOPPED


class SuccessiveHalving(EpochLimited):
    """What the rung-based schedulers share: their options, ``max_t`` from the epochs, the rungs."""

    first_judged: ClassVar[str] = "grace_period"

    grace_period: int = Field(1, ge=1, description="iterations before a trial can first be stopped")
    reduction_factor: float = Field(3, gt=1, description="keep the top 1/reduction_factor at each rung")
    brackets: int = Field(1, ge=1, description="brackets of staggered rungs (asynchronous Hyperband)")

    @field_validator("grace_period")
    @classmethod
    def _grace_within_max_t(cls, grace_period: int, info: ValidationInfo) -> int:
        max_t = info.data.get("max_t")
        if max_t is not None and grace_period > max_t:
            raise ValueError(f"must be <= max_t ({max_t}), got {grace_period}")
        return grace_period

    @property
    def milestones(self) -> list[int]:
        assert self.max_t is not None, "with_defaults sets max_t"
        return rung_milestones(self.grace_period, self.reduction_factor, self.max_t, self.brackets)

    def _ray_asha(self) -> Any:
        from ray.tune.schedulers import ASHAScheduler

        assert self.max_t is not None, "with_defaults sets max_t"
        return ASHAScheduler(time_attr="training_iteration", max_t=self.max_t, grace_period=self.grace_period,
                             reduction_factor=self.reduction_factor, brackets=self.brackets)

    def _survival(self, reached: Iterable[int], title: str, how: str) -> RungSurvival:
        rf = show(self.reduction_factor)
        return RungSurvival(survival(self.milestones, reached), title,
                            f"How many trials reached each rung (grace period {self.grace_period}, reduction factor {rf}, "
                            f"max {self.max_t} iterations{f', {self.brackets} brackets' if self.brackets > 1 else ''}). "
                            + how.format(rf=rf))


@SCHEDULERS.register("asha")
class AshaScheduler(SuccessiveHalving):
    type: Literal["asha"] = "asha"

    @property
    def decides_per_result(self) -> bool:
        return True

    def build(self, job: JobContext) -> Any:
        return self._ray_asha()

    def rungs(self, reached: Iterable[int]) -> RungSurvival | None:
        return self._survival(reached, "ASHA rung survival", "Trials below the top 1/{rf} at a rung were stopped there.")
