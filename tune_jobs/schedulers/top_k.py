"""``top_k``: train every trial ``after`` epochs, then let only the top ``keep`` share of what was
seen at that epoch go on to ``max_t`` ("one epoch, then the top k": Egele et al. 2023, a baseline
that matches many multi-fidelity methods). Asynchronous: a trial is judged against the trials that
reached the epoch before it. The cheapest screen when early ranks predict final ranks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from tune_jobs.core.values import show
from tune_jobs.schedulers.asha import EpochLimited
from tune_jobs.schedulers.base import SCHEDULERS, JobContext, RungSurvival, survival


@SCHEDULERS.register("top_k")
class TopKScheduler(EpochLimited):
    type: Literal["top_k"] = "top_k"
    first_judged: ClassVar[str] = "after"
    after: int = Field(1, ge=1, description="epochs every trial trains before it is judged")
    keep: float = Field(0.1, gt=0, lt=1, description="the share of trials that go on after that")

    @field_validator("after")
    @classmethod
    def _after_within_max_t(cls, after: int, info: ValidationInfo) -> int:
        max_t = info.data.get("max_t")
        if max_t is not None and after > max_t:
            raise ValueError(f"must be <= max_t ({max_t}), got {after}")
        return after

    @property
    def decides_per_result(self) -> bool:
        return True

    @property
    def milestones(self) -> list[int]:
        assert self.max_t is not None, "with_defaults sets max_t"
        return sorted({self.after, self.max_t})

    def build(self, job: JobContext) -> Any:
        from tune_jobs.schedulers.rule_ray import RuleScheduler
        from tune_jobs.schedulers.rules import RungCutoffs

        return RuleScheduler(RungCutoffs([self.after], self.keep), job.metric, job.mode)

    def rungs(self, reached: Iterable[int]) -> RungSurvival | None:
        return RungSurvival(survival(self.milestones, reached), "Top-k survival",
                            f"Every trial trained {self.after} epoch{'s' if self.after > 1 else ''}; only those in the "
                            f"top {show(100 * self.keep)}% of the trials judged before them went on.")
