"""``mo_asha``: asynchronous successive halving on several objectives (MO-ASHA, Schmucker et al.
2021). At each rung a trial goes on when it is in the top 1/``reduction_factor`` of the trials
seen there, ordered by non-dominated front and then by crowding distance, so what survives is
the front reached so far, spread along it, not the best of one metric. With one objective it is
ASHA."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from tune_jobs.schedulers.asha import SuccessiveHalving
from tune_jobs.schedulers.base import SCHEDULERS, JobContext, RungSurvival


@SCHEDULERS.register("mo_asha")
class MoAshaScheduler(SuccessiveHalving):
    type: Literal["mo_asha"] = "mo_asha"
    multi_objective: ClassVar[bool] = True

    @property
    def decides_per_result(self) -> bool:
        return True

    def build(self, job: JobContext) -> Any:
        from tune_jobs.schedulers.rule_ray import ParetoRuleScheduler
        from tune_jobs.schedulers.rules import ParetoRungCutoffs

        return ParetoRuleScheduler(ParetoRungCutoffs(self.milestones, 1 / self.reduction_factor),
                                   job.objectives or {job.metric: job.mode})

    def rungs(self, reached: Iterable[int]) -> RungSurvival | None:
        return self._survival(reached, "MO-ASHA rung survival", "At each rung a trial went on when it was in the top "
                              "1/{rf} of the trials seen there by non-dominated front, then crowding distance.")
