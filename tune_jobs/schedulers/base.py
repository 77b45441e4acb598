"""Trial schedulers (``scheduler.type``): a registry of spec models, one module each.

Call order: the spec is validated (each scheduler checks its own options), ``choose`` resolves
``auto``, then ``with_defaults(epochs)`` resolves what depends on the trainable (``max_t`` from its epochs) and
the job spec keeps the result; the runner calls ``build(job)``, the only place a scheduler
touches Ray; while the job runs, ``trial_status(iterations)`` names how each ended trial ended;
afterwards ``rungs(reached)`` describes where it compared trials, for the report and the analysis.
Adding a scheduler is one module and its registration; no other module names a scheduler type.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from tune_jobs.core.model import StrictModel
from tune_jobs.core.registry import Registry
from tune_jobs.results.schema import COMPLETED
from tune_jobs.schedulers.state import SchedulerState

SCHEDULERS: Registry[type[SchedulerSpec]] = Registry("scheduler")


@dataclass(frozen=True)
class JobContext:
    """What a scheduler may need from the job it schedules."""

    metric: str
    mode: str
    job_key: str = ""  # the results directory: where state that must outlive the driver is kept
    planned_trials: int = 0
    space: dict[str, Any] | None = None  # the searched keys (tune_jobs.space.Param), for schedulers that mutate them
    samplers: dict[str, Any] | None = None  # the same keys as Ray samplers, for schedulers that draw new values
    objectives: dict[str, str] | None = None  # several metrics at once, for schedulers that compare on all of them


@dataclass(frozen=True)
class Rung:
    """A point where the scheduler compared trials: how many of them got that far."""

    iteration: int
    reached: int
    of: int

    @property
    def fraction(self) -> float:
        return self.reached / self.of if self.of else 0.0


@dataclass(frozen=True)
class RungSurvival:
    rungs: list[Rung]
    title: str  # "ASHA rung survival"
    explanation: str  # one sentence on how the scheduler used them, for the report


class SchedulerSpec(StrictModel):
    type: str

    multi_objective: ClassVar[bool] = False  # it can run a job with several objectives

    def choose(self, epochs: int | None, trials: int, objectives: int, search_algorithm: str) -> SchedulerSpec:
        """The scheduler that runs (``auto`` picks one from the trainable's ``epochs``, the planned
        ``trials``, the number of ``objectives`` and the search; the others are themselves)."""
        return self

    def with_defaults(self, epochs: int | None) -> tuple[SchedulerSpec, list[str]]:
        """This scheduler with what depends on the trainable filled in (``epochs``: the trainable's
        ``config.epochs`` or its default, None when it has none), and the problems found."""
        return self, []

    def build(self, job: JobContext) -> Any:
        """The Ray scheduler."""
        raise NotImplementedError

    @property
    def checkpoints_to_keep(self) -> int | None:
        """Checkpoints Ray keeps per trial besides its latest (None: all of them)."""
        return 1

    def mutated_keys(self, space: dict[str, Any]) -> list[str]:
        """The searched keys this scheduler changes while a trial runs (PBT's mutations)."""
        return []

    @property
    def decides_per_result(self) -> bool:
        """True when the Ray scheduler's decisions need nothing but a trial's id and results (no
        pausing, no cloning, no synchronous brackets), so it can stop fused members one by one."""
        return False

    @property
    def replays_results(self) -> bool:
        """True when the Ray scheduler needs only trial ids, their results in order and, if it pauses
        trials, their status (no cloning), so the simulator (``tune_jobs.simulation``) can drive it
        off a simulated clock."""
        return self.decides_per_result

    @property
    def needs_variant_generator(self) -> bool:
        """True when Ray accepts no searcher with this scheduler, only its own variant generator."""
        return False

    def check(self, space: dict[str, Any], search_algorithm: str) -> list[str]:
        """Problems of this scheduler with the job's space and search, one ``scheduler.x: ...`` line each."""
        return []

    def state_from_json(self, data: dict[str, Any]) -> SchedulerState | None:
        """The state saved by an earlier run of the job (None: this scheduler keeps none)."""
        return None

    @property
    def max_iterations(self) -> int | None:
        """The most iterations this scheduler lets a trial run (None: the trainable decides)."""
        return None

    @property
    def milestones(self) -> list[int]:
        """Iterations at which trials are compared (rungs), lowest first; empty when never."""
        return []

    def trial_status(self, iterations: int) -> str:
        """How a trial that ended after ``iterations`` ended: completed or stopped by the scheduler."""
        return COMPLETED

    def rungs(self, reached: Iterable[int]) -> RungSurvival | None:
        """How many trials reached each milestone, from each trial's last iteration."""
        return None


def survival(milestones: list[int], reached: Iterable[int]) -> list[Rung]:
    last = list(reached)
    return [Rung(m, sum(r >= m for r in last), len(last)) for m in milestones]
