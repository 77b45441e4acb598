"""ASHA's rungs and how many trials reached each: where the scheduler spent and cut the budget."""

from __future__ import annotations

from dataclasses import dataclass

from tune_jobs.analysis.job_results import JobResults


@dataclass(frozen=True)
class Rung:
    iteration: int
    reached: int
    of: int

    @property
    def fraction(self) -> float:
        return self.reached / self.of if self.of else 0.0


def rung_milestones(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """``grace * rf**k`` below ``max_t``, then ``max_t`` itself (Ray's AsyncHyperBand rungs)."""
    milestones, t = [], float(grace_period)
    while t < max_t:
        milestones.append(int(t))
        t *= reduction_factor
    return [*milestones, max_t]


def rung_survival(results: JobResults) -> list[Rung] | None:
    """None when ASHA did not run."""
    scheduler = results.spec.get("scheduler") or {}
    if scheduler.get("type") != "asha" or not scheduler.get("max_t"):
        return None
    milestones = rung_milestones(int(scheduler["grace_period"]), float(scheduler["reduction_factor"]), int(scheduler["max_t"]))
    reached = results.iterations.groupby("trial_id")["training_iteration"].max()
    total = len(results.trials)
    return [Rung(m, int((reached >= m).sum()), total) for m in milestones]
