"""What a validated spec runs: the choices the spec leaves open, made once.

A spec says ``search: auto``, may leave ``mode`` and a scheduler's ``max_t`` out; validation
decides each from the trainable and the space and keeps the decisions here, leaving the spec as
the user wrote it. The runner, the CLI and the job record read the plan; nothing decides again.
How many trials share a stack depends on the cluster, so that one is a method of the cluster's
slots (``JobSpec.stack_size``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from trainables.registry import TrainableDef
from tune_jobs.schedulers import SchedulerSpec
from tune_jobs.search import SearchSpec


@dataclass(frozen=True)
class JobPlan:
    trainable: TrainableDef
    mode: Literal["max", "min"]  # the spec's, else the trainable's for its metric
    search: SearchSpec  # the algorithm that runs: what ``auto`` chose, when it did
    scheduler: SchedulerSpec  # with the defaults the trainable's epochs give (``max_t``)
    chosen_by: str | None = None  # "auto" when that picked the search

    @property
    def search_label(self) -> str:
        """``bayesopt``, or ``auto: bayesopt`` when ``auto`` chose it."""
        return f"{self.chosen_by}: {self.search.algorithm}" if self.chosen_by else self.search.algorithm
