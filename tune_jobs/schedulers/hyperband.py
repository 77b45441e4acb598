"""``hyperband``: asynchronous Hyperband, several ASHA brackets whose first rungs are staggered
(``grace_period * reduction_factor**s`` for bracket s), each new trial placed in one at random, so
that some trials are judged early and others only after longer training: a hedge against
learning curves that cross."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field

from tune_jobs.schedulers.asha import SuccessiveHalving
from tune_jobs.schedulers.base import SCHEDULERS, JobContext, RungSurvival


@SCHEDULERS.register("hyperband")
class HyperbandScheduler(SuccessiveHalving):
    type: Literal["hyperband"] = "hyperband"
    brackets: int = Field(3, ge=1, description="brackets of staggered rungs")

    def build(self, job: JobContext) -> Any:
        return self._ray_asha()

    @property
    def replays_results(self) -> bool:
        return True  # asynchronous brackets: every decision is on one result of one trial

    def rungs(self, reached: Iterable[int]) -> RungSurvival | None:
        return self._survival(reached, "Hyperband rung survival",
                              "Each trial was judged at the rungs of its bracket and stopped there when below the "
                              "top 1/{rf} of that bracket.")
