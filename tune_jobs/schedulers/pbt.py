"""``pbt``: population based training (Ray's ``PopulationBasedTraining``). Every
``perturbation_interval`` iterations, a trial in the bottom ``quantile_fraction`` of the population
copies the checkpoint of one in the top fraction and goes on with that trial's hyperparameters
mutated (a listed value shifted to its neighbour, a number scaled by 0.8 or 1.2, or, with
``resample_probability``, drawn anew), always inside the space's bounds.

Only hyperparameters a running trial can change are mutated (``hyperparams``; by default the
searched ones among the learning rate, weight decay, momentum, dropout, batch size, label smoothing
and gradient clipping). Every copy is recorded (``scheduler_events.parquet``: which trial copied
which, at which iteration, and the new values), and kept across a driver restart.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from tune_jobs.schedulers.base import SCHEDULERS, JobContext, SchedulerSpec
from tune_jobs.schedulers.state import STATES, PbtState
from tune_jobs.space import Choice, Grid, Ordinal, Param

MUTABLE_BY_DEFAULT = ("lr", "weight_decay", "momentum", "dropout", "batch_size", "label_smoothing", "grad_clip")


def clip_to_space(config: dict[str, Any], space: dict[str, Param]) -> dict[str, Any]:
    """A mutated config brought back inside the space: ranges clipped (ints rounded), listed
    values snapped to the nearest listed one."""
    clipped = dict(config)
    for key, param in space.items():
        if key not in clipped:
            continue
        value = clipped[key]
        if isinstance(param, (Choice, Grid)):
            continue  # mutated by shifting along the list: always a listed value
        if isinstance(param, Ordinal):
            clipped[key] = min(param.options, key=lambda option: abs(math.log(option / value))
                               if param.log_scale and value > 0 else abs(option - value))
            continue
        low, high = param.bounds  # type: ignore[attr-defined]
        value = min(max(value, low), high)
        clipped[key] = int(round(value)) if param.is_int else float(value)
    return clipped


@SCHEDULERS.register("pbt")
class PbtScheduler(SchedulerSpec):
    type: Literal["pbt"] = "pbt"
    perturbation_interval: int = Field(2, ge=1, description="iterations between exploit/explore steps of a trial")
    quantile_fraction: float = Field(0.25, gt=0, le=0.5, description="the bottom share copies the top share")
    resample_probability: float = Field(0.25, ge=0, le=1, description="chance a mutated value is drawn anew")
    hyperparams: list[str] | None = Field(None, min_length=1, description="keys to mutate; default: the searched "
                                          "ones among " + ", ".join(MUTABLE_BY_DEFAULT))

    @property
    def needs_variant_generator(self) -> bool:
        return True

    @property
    def checkpoints_to_keep(self) -> int | None:
        return None  # a trial copies the checkpoint another had at its last perturbation, maybe not its best

    def mutated_keys(self, space: dict[str, Any]) -> list[str]:
        return list(self.hyperparams) if self.hyperparams is not None else [k for k in space if k in MUTABLE_BY_DEFAULT]

    def check(self, space: dict[str, Any], search_algorithm: str) -> list[str]:
        problems = [f"scheduler.hyperparams: {key!r} is not a searched key; searched: {', '.join(space) or 'none'}"
                    for key in self.hyperparams or [] if key not in space]
        if not problems and not self.mutated_keys(space):
            problems.append(f"scheduler.hyperparams: none of the searched keys ({', '.join(space) or 'none'}) is one PBT "
                            f"mutates by default ({', '.join(MUTABLE_BY_DEFAULT)}); name them")
        if search_algorithm != "random":
            problems.append(f"scheduler.type: pbt draws its population at random and evolves it; "
                            f"use search.algorithm random, got {search_algorithm}")
        return problems

    def build(self, job: JobContext) -> Any:
        from tune_jobs.schedulers.pbt_ray import RecordingPbt

        space = job.space or {}
        keys = self.mutated_keys(space)
        samplers = job.samplers or {}
        mutations = {k: (space[k].options if isinstance(space[k], (Choice, Grid, Ordinal)) else samplers[k]) for k in keys}
        STATES.setdefault(job.job_key, PbtState())
        return RecordingPbt(job.job_key, keys, time_attr="training_iteration", perturbation_interval=self.perturbation_interval,
                            hyperparam_mutations=mutations, quantile_fraction=self.quantile_fraction,
                            resample_probability=self.resample_probability,
                            custom_explore_fn=lambda config: clip_to_space(config, {k: space[k] for k in keys}))

    def state_from_json(self, data: dict[str, Any]) -> PbtState:
        return PbtState.from_json(data)
