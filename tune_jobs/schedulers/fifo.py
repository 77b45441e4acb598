"""``fifo``: every trial runs until its trainable ends it."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from tune_jobs.schedulers.base import SCHEDULERS, JobContext, SchedulerSpec


@SCHEDULERS.register("fifo")
class FifoScheduler(SchedulerSpec):
    type: Literal["fifo"] = "fifo"
    multi_objective: ClassVar[bool] = True  # it compares nothing

    @property
    def decides_per_result(self) -> bool:
        return True

    def build(self, job: JobContext) -> Any:
        from ray.tune.schedulers import FIFOScheduler

        return FIFOScheduler()
