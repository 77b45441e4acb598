"""What schedulers remember across a driver restart, kept apart from the schedulers themselves so
that their Ray side, the callback and the runner share it without importing each other: the live
state of each running job, how it is saved with the results, and which trials it has paused."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from tune_jobs.results.files import SCHEDULER_EVENTS_FILE, SCHEDULER_STATE_FILE
from tune_jobs.schedulers.rules import rung_cutoff


class SchedulerState(Protocol):
    """What a scheduler remembers across a driver restart (rungs, promotions, lineage).

    ``events``: one dict per decision (``trial_id``, ``event``: paused, promoted, exploited...,
    ``training_iteration``, and what else explains it), written to ``scheduler_events.parquet``."""

    events: list[dict[str, Any]]

    def paused(self) -> set[str]: ...

    def to_json(self) -> dict[str, Any]: ...


# The live state of each running job's scheduler, by job key (its results directory). Ray pickles
# the scheduler with the experiment and unpickles a fresh copy on resume; the state lives here.
STATES: dict[str, SchedulerState] = {}


State = TypeVar("State", bound=SchedulerState)


def job_state(job_key: str, kind: type[State]) -> State:
    """The job's scheduler state, made on first use; the Ray scheduler object holds only the key."""
    state = STATES.setdefault(job_key, kind())
    assert isinstance(state, kind)
    return state


def save_state(store: Any, state: SchedulerState) -> None:
    """The state (for a resume) and its events (for people and the report) into the results store."""
    from tune_jobs.results.tables import arrow_table

    store.write_json(SCHEDULER_STATE_FILE, state.to_json())
    rows = [{key: value for key, value in event.items() if not isinstance(value, dict)}
            | {f"{key}/{k}": v for key, value in event.items() if isinstance(value, dict) for k, v in value.items()}
            for event in state.events]
    if rows:
        store.write_table(SCHEDULER_EVENTS_FILE, arrow_table(rows, ("trial_id", "event", "training_iteration")))


def paused_trials(job_key: str) -> set[str]:
    """Trials the job's scheduler paused: they hold no resources and must not count as running."""
    state = STATES.get(job_key)
    return state.paused() if state is not None else set()


@dataclass
class PbtState:
    events: list[dict[str, Any]] = field(default_factory=list)
    waiting: set[str] = field(default_factory=set)  # paused by PBT to share the workers

    def paused(self) -> set[str]:
        return set(self.waiting)

    def to_json(self) -> dict[str, Any]:
        return {"events": list(self.events), "waiting": sorted(self.waiting)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PbtState:
        return cls(list(data.get("events", [])), set())  # Ray re-queues every unfinished trial on resume


@dataclass
class _Ranking:
    """A rung's trials best first, kept sorted as results arrive: a job of thousands of trials asks
    for a rank at every result and every free worker. Ties go to the trial recorded first."""

    order: list[tuple[float, int]] = field(default_factory=list)  # (-value, place recorded), ascending
    ids: list[str] = field(default_factory=list)  # by place recorded
    places: dict[str, int] = field(default_factory=dict)

    def add(self, trial_id: str, value: float) -> None:
        self.places[trial_id] = len(self.ids)
        self.ids.append(trial_id)
        bisect.insort(self.order, (_descending(value), self.places[trial_id]))

    def rank(self, trial_id: str, value: float) -> int:
        return bisect.bisect_left(self.order, (_descending(value), self.places[trial_id]))

    def best(self, count: int) -> list[str]:
        return [self.ids[place] for _, place in self.order[:count]]


def _descending(value: float) -> float:
    return -value if not math.isnan(value) else math.inf  # a diverged trial ranks last


@dataclass
class PromotionState:
    """Results at each rung, who was promoted from it, and who waits (paused) at which rung."""

    results: dict[int, dict[str, float]] = field(default_factory=dict)  # rung -> trial -> value, higher is better
    promoted: dict[int, set[str]] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)  # trial -> rung it is paused at
    events: list[dict[str, Any]] = field(default_factory=list)
    ceiling: int | None = None  # PASHA's top rung for now: no trial is promoted from it (None: no such limit)
    rankings: dict[int, _Ranking] = field(default_factory=dict, repr=False, compare=False)  # from ``results``

    def record(self, rung: int, trial_id: str, value: float) -> None:
        at_rung = self.results.setdefault(rung, {})
        if trial_id not in at_rung:
            at_rung[trial_id] = value
            self._ranking(rung).add(trial_id, value)

    def _ranking(self, rung: int) -> _Ranking:
        if rung not in self.rankings:  # first use, or restored from JSON: rebuilt in the order recorded
            self.rankings[rung] = ranking = _Ranking()
            for trial_id, value in self.results.get(rung, {}).items():
                ranking.add(trial_id, value)
        return self.rankings[rung]

    def _top(self, rung: int, reduction_factor: float, closing: bool) -> int:
        share = len(self.results.get(rung, {})) / reduction_factor
        return math.ceil(share) if closing else math.floor(share)

    def promotable(self, rung: int, trial_id: str, reduction_factor: float, closing: bool = False) -> bool:
        """In the top 1/``reduction_factor`` of the rung; ``closing`` (no new trial will come) rounds
        that share up, so a rung too sparse to fill still sends its best on."""
        at_rung = self.results.get(rung, {})
        if trial_id not in at_rung or trial_id in self.promoted.get(rung, set()):
            return False
        return self._ranking(rung).rank(trial_id, at_rung[trial_id]) < self._top(rung, reduction_factor, closing)

    def above_cutoff(self, rung: int, trial_id: str, reduction_factor: float) -> bool:
        """What stopping ASHA would let go on: in the top 1/``reduction_factor`` of the rung's results
        recorded before it (the first at a rung always goes on; a diverged one never does)."""
        at_rung = self.results.get(rung, {})
        if trial_id not in at_rung:
            return False
        cutoff = rung_cutoff((value for other, value in at_rung.items() if other != trial_id), 1 / reduction_factor)
        return cutoff is None or at_rung[trial_id] >= cutoff

    def promotable_waiting(self, rung: int, reduction_factor: float, closing: bool = False) -> list[str]:
        """The trials paused at ``rung`` that are promotable from it, best first."""
        promoted = self.promoted.get(rung, set())
        return [trial_id for trial_id in self._ranking(rung).best(self._top(rung, reduction_factor, closing))
                if self.waiting.get(trial_id) == rung and trial_id not in promoted]

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
                "events": list(self.events), "ceiling": self.ceiling}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PromotionState:
        return cls({int(r): {t: float(x) for t, x in v.items()} for r, v in data.get("results", {}).items()},
                   {int(r): set(v) for r, v in data.get("promoted", {}).items()},
                   {t: int(r) for t, r in data.get("waiting", {}).items()}, list(data.get("events", [])),
                   data.get("ceiling"))
