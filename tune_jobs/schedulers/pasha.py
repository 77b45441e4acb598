"""``pasha``: progressive ASHA (Bohdal et al., ICLR 2023), stopping variant. Successive halving
whose top rung starts at the second rung and rises one rung each time the two highest rungs rank
their common trials differently: while early ranks agree with later ones, no trial is trained
further than needed to tell them apart. A trial that reaches the current top rung ends there."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from tune_jobs.schedulers.asha import SuccessiveHalving
from tune_jobs.schedulers.base import SCHEDULERS, JobContext, RungSurvival
from tune_jobs.schedulers.rules import rung_milestones


@SCHEDULERS.register("pasha")
class PashaScheduler(SuccessiveHalving):
    type: Literal["pasha"] = "pasha"

    @property
    def decides_per_result(self) -> bool:
        return True

    @property
    def milestones(self) -> list[int]:
        assert self.max_t is not None, "with_defaults sets max_t"
        return rung_milestones(self.grace_period, self.reduction_factor, self.max_t)

    def build(self, job: JobContext) -> Any:
        from tune_jobs.schedulers.rule_ray import RuleScheduler
        from tune_jobs.schedulers.rules import ProgressiveRungs

        assert self.max_t is not None, "with_defaults sets max_t"
        return RuleScheduler(ProgressiveRungs(self.grace_period, self.reduction_factor, self.max_t), job.metric, job.mode)

    def rungs(self, reached: Iterable[int]) -> RungSurvival | None:
        return self._survival(reached, "PASHA rung survival",
                              "Trials below the top 1/{rf} at a rung were stopped there; the top rung rose only when "
                              "the two highest rungs disagreed on the ranking.")
