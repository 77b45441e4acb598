"""``asha_promotion``: asynchronous successive halving that pauses instead of stopping (the ASHA
paper's promotion variant, Syne Tune's ``type="promotion"``).

A trial that reaches a rung is promoted (goes on) when it is in the top 1/``reduction_factor`` of
the results at that rung and has not been promoted from it yet; otherwise it is paused: Ray saves
its checkpoint and frees its CPUs and GPUs. Whenever a worker frees up, a paused trial that has
since earned promotion (more results at its rung make the top share larger) is resumed from its
checkpoint before any new trial starts, highest rung first. Once no new trial will come and nothing
runs, a rung's share is rounded up (its best goes on even if the rung never filled); when even
then no paused trial can be promoted, the paused trials are stopped and the job ends.

The rungs live in ``PromotionState``, kept by job in ``STATES`` and saved in the results directory
with every experiment snapshot, so a driver killed and run again keeps its rungs and promotions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from tune_jobs.results.schema import COMPLETED, STOPPED
from tune_jobs.schedulers.asha import SuccessiveHalving
from tune_jobs.schedulers.base import SCHEDULERS, STATES, JobContext, RungSurvival


@dataclass
class PromotionState:
    """Results at each rung, who was promoted from it, and who waits (paused) at which rung."""

    results: dict[int, dict[str, float]] = field(default_factory=dict)  # rung -> trial -> value, higher is better
    promoted: dict[int, set[str]] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)  # trial -> rung it is paused at
    events: list[dict[str, Any]] = field(default_factory=list)

    def record(self, rung: int, trial_id: str, value: float) -> None:
        self.results.setdefault(rung, {}).setdefault(trial_id, value)

    def promotable(self, rung: int, trial_id: str, reduction_factor: float, closing: bool = False) -> bool:
        """In the top 1/``reduction_factor`` of the rung; ``closing`` (no new trial will come) rounds
        that share up, so a rung too sparse to fill still sends its best on."""
        at_rung = self.results.get(rung, {})
        if trial_id not in at_rung or trial_id in self.promoted.get(rung, set()):
            return False
        share = len(at_rung) / reduction_factor
        top = math.ceil(share) if closing else math.floor(share)
        ranked = sorted(at_rung, key=lambda t: -at_rung[t])
        return trial_id in ranked[:top]

    def paused(self) -> set[str]:
        return set(self.waiting)

    def promote(self, rung: int, trial_id: str) -> None:
        resumed = self.waiting.pop(trial_id, None) is not None
        self.promoted.setdefault(rung, set()).add(trial_id)
        self.events.append({"trial_id": trial_id, "event": "promoted", "training_iteration": rung,
                            "after_pause": resumed})

    def pause(self, rung: int, trial_id: str) -> None:
        if self.waiting.get(trial_id) != rung:
            self.events.append({"trial_id": trial_id, "event": "paused", "training_iteration": rung})
        self.waiting[trial_id] = rung

    def to_json(self) -> dict[str, Any]:
        return {"results": {str(r): v for r, v in self.results.items()},
                "promoted": {str(r): sorted(v) for r, v in self.promoted.items()}, "waiting": dict(self.waiting),
                "events": list(self.events)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PromotionState:
        return cls({int(r): {t: float(x) for t, x in v.items()} for r, v in data.get("results", {}).items()},
                   {int(r): set(v) for r, v in data.get("promoted", {}).items()},
                   {t: int(r) for t, r in data.get("waiting", {}).items()}, list(data.get("events", [])))


@SCHEDULERS.register("asha_promotion")
class PromotionAshaScheduler(SuccessiveHalving):
    type: Literal["asha_promotion"] = "asha_promotion"

    def build(self, job: JobContext) -> Any:
        from tune_jobs.schedulers.promotion_ray import PromotionAsha

        STATES.setdefault(job.job_key, PromotionState())
        return PromotionAsha(job, self.milestones, self.reduction_factor)

    def state_from_json(self, data: dict[str, Any]) -> PromotionState:
        return PromotionState.from_json(data)

    def trial_status(self, iterations: int) -> str:
        return COMPLETED if self.max_t is None or iterations >= self.max_t else STOPPED

    def rungs(self, reached: Iterable[int]) -> RungSurvival | None:
        return self._survival(reached, "Promotion ASHA rung survival",
                              "A trial below the top 1/{rf} at a rung was paused there (holding no CPU or GPU) and "
                              "resumed from its checkpoint if it later earned promotion; the rest were stopped at the end.")
