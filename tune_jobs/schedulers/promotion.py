"""``asha_promotion``: asynchronous successive halving that pauses instead of stopping (the ASHA
paper's promotion variant, Syne Tune's ``type="promotion"``).

A trial that reaches a rung is promoted (goes on) when it is in the top 1/``reduction_factor`` of
the results at that rung and has not been promoted from it yet; otherwise it is paused: Ray saves
its checkpoint and frees its CPUs and GPUs. Whenever a worker frees up, a paused trial that has
since earned promotion (more results at its rung make the top share larger) is resumed from its
checkpoint before any new trial starts, highest rung first. Once no new trial will come and nothing
runs, a rung's share is rounded up (its best goes on even if the rung never filled); when even
then no paused trial can be promoted, the paused trials are stopped and the job ends.

The rungs live in ``PromotionState`` (``schedulers.state``), kept by job in ``STATES`` and saved in the results directory
with every experiment snapshot, so a driver killed and run again keeps its rungs and promotions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field

from tune_jobs.results.schema import COMPLETED, STOPPED
from tune_jobs.schedulers.asha import SuccessiveHalving
from tune_jobs.schedulers.base import SCHEDULERS, JobContext, RungSurvival
from tune_jobs.schedulers.state import STATES, PromotionState


@SCHEDULERS.register("asha_promotion")
class PromotionAshaScheduler(SuccessiveHalving):
    type: Literal["asha_promotion"] = "asha_promotion"
    eager: bool = Field(False, description="a trial at or above the cutoff stopping ASHA would apply (the "
                        "1 - 1/reduction_factor quantile of the rung's results before it) goes on at once; only "
                        "the ones below it pause, to be resumed once in the rung's top share")

    def build(self, job: JobContext) -> Any:
        from tune_jobs.schedulers.promotion_ray import PromotionAsha

        STATES.setdefault(job.job_key, PromotionState())
        return PromotionAsha(job, self.milestones, self.reduction_factor, self.eager)

    @property
    def replays_results(self) -> bool:
        return True  # it pauses and resumes, and stops only paused trials

    def state_from_json(self, data: dict[str, Any]) -> PromotionState:
        return PromotionState.from_json(data)

    def trial_status(self, iterations: int) -> str:
        return COMPLETED if self.max_t is None or iterations >= self.max_t else STOPPED

    def rungs(self, reached: Iterable[int]) -> RungSurvival | None:
        return self._survival(reached, "Promotion ASHA rung survival",
                              "A trial below the top 1/{rf} at a rung was paused there (holding no CPU or GPU) and "
                              "resumed from its checkpoint if it later earned promotion; the rest were stopped at the end.")
