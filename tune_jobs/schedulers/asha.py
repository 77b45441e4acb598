"""``asha``: asynchronous successive halving that stops the trials below the top
1/``reduction_factor`` at each rung (Ray's ``ASHAScheduler``); ``max_t`` and ``grace_period``
count reported iterations. ``max_t`` left out means the trainable's ``epochs``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from tune_jobs.core.values import show
from tune_jobs.results.schema import COMPLETED, STOPPED
from tune_jobs.schedulers.base import SCHEDULERS, JobContext, RungSurvival, SchedulerSpec, survival


def rung_milestones(grace_period: int, reduction_factor: float, max_t: int, brackets: int = 1) -> list[int]:
    """Ray's AsyncHyperBand rungs: bracket s starts at ``grace * rf**s``; each rises by ``rf``
    while below ``max_t``; ``max_t`` ends them all. The union over the brackets, lowest first."""
    found = {max_t}
    for bracket in range(brackets):
        t = float(grace_period) * reduction_factor**bracket
        while t < max_t:
            found.add(int(t))
            t *= reduction_factor
    return sorted(found)


class EpochLimited(SchedulerSpec):
    """A scheduler that stops trials by their reported iterations, up to ``max_t`` (the epochs by default)."""

    max_t: int | None = Field(None, ge=1, description="iterations of a trial that is never stopped; default: epochs")

    def _first_decision(self) -> int:
        """The first iteration at which a trial can be stopped; must be <= max_t."""
        return 1

    def with_defaults(self, epochs: int | None) -> tuple[SchedulerSpec, list[str]]:
        if self.max_t is not None:
            return self, []
        if epochs is None:
            return self, [f"scheduler.max_t: required: the trainable declares no epochs to default it to ({self.type} "
                          "stops trials by their reported iterations)"]
        if self._first_decision() > epochs:
            field = "grace_period" if "grace_period" in type(self).model_fields else "after"
            return self, [f"scheduler.{field}: must be <= max_t (config.epochs = {epochs}), got {self._first_decision()}"]
        return self.model_copy(update={"max_t": epochs}), []

    @property
    def max_iterations(self) -> int | None:
        return self.max_t

    def trial_status(self, iterations: int) -> str:
        return COMPLETED if self.max_t is None or iterations >= self.max_t else STOPPED


class SuccessiveHalving(EpochLimited):
    """What the rung-based schedulers share: their options, ``max_t`` from the epochs, the rungs."""

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

    def _first_decision(self) -> int:
        return self.grace_period

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
