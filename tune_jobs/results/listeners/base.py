"""Outputs of a running job besides its Parquet files: TensorBoard event files today, an
experiment tracker or a live dashboard feed next. Each is a ``TrialListener`` registered in
``LISTENERS`` by a factory that says whether it is on for a job (``None``: off).

``Listeners`` hands every listener each trial's rows once per job, whatever Ray does: the
members of a fused stack arrive as the separate trials they are, and rows that a retried or
resumed trial reports again (it goes on from a checkpoint older than its last report) are not
passed on twice. An output therefore needs none of that: one module and a registration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tune_jobs.core.registry import Registry
from tune_jobs.results.store import ResultsStore


class TrialListener(Protocol):
    def trial_result(self, trial_id: str, config: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        """One reported iteration (``metrics["training_iteration"]``), in order, each once."""

    def trial_ended(self, trial_id: str, status: str) -> None:
        """completed, stopped or failed; a resumed job may start the trial again later."""

    def close(self, status: str) -> None:
        """The driver is done with this run of the job: ``status`` finished, failed or interrupted."""


@dataclass(frozen=True)
class ListenerContext:
    """What an output may need to start: where the results go, what is optimised, the job's spec
    as it runs (a dict: outputs take their settings from it), on a resumed job the last iteration
    each trial already reported, and the hyperparameters the scheduler changes while a trial runs
    (PBT's): a tracker whose params are fixed logs those per step."""

    store: ResultsStore
    metric: str
    mode: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    written: Mapping[str, int] = field(default_factory=dict)
    mutated: tuple[str, ...] = ()


ListenerFactory = Callable[[ListenerContext], "TrialListener | None"]
LISTENERS: Registry[ListenerFactory] = Registry("listener")


class Listeners:
    """The outputs that are on for one run of a job, fed each row once."""

    def __init__(self, context: ListenerContext) -> None:
        self.written = dict(context.written)
        self.outputs: list[TrialListener] = []
        for _, factory in LISTENERS:
            listener = factory(context)
            if listener is not None:
                self.outputs.append(listener)

    def trial_result(self, trial_id: str, config: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        step = int(metrics["training_iteration"])
        if step <= self.written.get(trial_id, 0):
            return
        self.written[trial_id] = step
        for output in self.outputs:
            output.trial_result(trial_id, config, metrics)

    def trial_ended(self, trial_id: str, status: str) -> None:
        for output in self.outputs:
            output.trial_ended(trial_id, status)

    def close(self, status: str) -> None:
        for output in self.outputs:
            output.close(status)
