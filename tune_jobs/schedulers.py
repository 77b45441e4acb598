"""Trial schedulers (``scheduler.type``): ``fifo`` runs every trial to the end, ``asha`` stops
the poor ones early. Each is a spec model registered by name; ``build`` is the only Ray part."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from tune_jobs.model import StrictModel
from tune_jobs.registry import Registry


class SchedulerSpec(StrictModel):
    type: str

    def build(self) -> Any:
        """The Ray scheduler; metric and mode come from the job through ``TuneConfig``."""
        raise NotImplementedError


SCHEDULERS: Registry[type[SchedulerSpec]] = Registry("scheduler")


@SCHEDULERS.register("fifo")
class FifoScheduler(SchedulerSpec):
    type: Literal["fifo"] = "fifo"

    def build(self) -> Any:
        from ray.tune.schedulers import FIFOScheduler

        return FIFOScheduler()


@SCHEDULERS.register("asha")
class AshaScheduler(SchedulerSpec):
    """Asynchronous successive halving; ``max_t``/``grace_period`` count reported iterations.

    ``max_t`` left out means the trainable's ``epochs`` (set in ``config``, or its default).
    """

    type: Literal["asha"] = "asha"
    max_t: int | None = Field(None, ge=1)
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(3, gt=1)
    brackets: int = Field(1, ge=1)

    @field_validator("grace_period")
    @classmethod
    def _grace_within_max_t(cls, grace_period: int, info: ValidationInfo) -> int:
        max_t = info.data.get("max_t")
        if max_t is not None and grace_period > max_t:
            raise ValueError(f"must be <= max_t ({max_t}), got {grace_period}")
        return grace_period

    def build(self) -> Any:
        from ray.tune.schedulers import ASHAScheduler

        return ASHAScheduler(
            time_attr="training_iteration", max_t=self.max_t or 100,
            grace_period=self.grace_period, reduction_factor=self.reduction_factor, brackets=self.brackets,
        )
