"""Fused execution under Ray Tune (``execution.fuse: N``): a Ray trial is a stack of up to N
members, and every member is a trial of the job everywhere else.

- ``StackSearcher`` asks the job's searcher for N configurations per Ray trial and tells it each
  member's results and end, so it learns from every member as from a trial of its own.
- ``member_scheduler_class``: an actor holding the job's Ray scheduler (ASHA, FIFO), asked with
  each member's metrics per epoch; members it stops leave their stack, the others go on.
- The results callback (``tune_jobs.ray_tune.callback``) writes a trial row and iterations per member.
"""

from __future__ import annotations

import base64
import copy
import pickle
from dataclasses import dataclass
from typing import Any

from ray.tune.search import Searcher

from trainables.fused.run import DIVERGED, ENDED, FINISHED, MEMBERS, member_id
from tune_jobs.results.schema import FAILED, STOPPED


class StackSearcher(Searcher):
    """Ray's view: one suggestion per stack. The wrapped searcher's view: one per member."""

    def __init__(self, searcher: Searcher, members: int, total: int, member_space: dict[str, Any]) -> None:
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher, self.members, self.total = searcher, members, total
        self.member_space = member_space  # the searched keys, for searchers that take the space from Ray
        self.suggested = 0
        self.stacks: dict[str, list[str]] = {}  # Ray trial id -> member ids not yet ended
        self.last: dict[str, dict[str, Any]] = {}  # member id -> its last metrics

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        return self.searcher.set_search_properties(metric, mode, {**config, **self.member_space}, **spec)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:  # or Searcher.FINISHED, as Ray's own searchers
        members: list[dict[str, Any]] = []
        for index in range(min(self.members, self.total - self.suggested)):
            member = member_id(trial_id, index)
            config = self.searcher.suggest(member)
            if config is None or config == Searcher.FINISHED:
                if not members:
                    return config  # type: ignore[no-any-return]
                break
            members.append({"trial_id": member, "config": config})
        if not members:
            return Searcher.FINISHED  # type: ignore[return-value]
        self.suggested += len(members)
        self.stacks[trial_id] = [member["trial_id"] for member in members]
        return {MEMBERS: members}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        for member, row in member_rows(result).items():
            self.last[member] = row
            self.searcher.on_trial_result(member, row)
        for member, reason in (result.get(ENDED) or {}).items():
            self._member_complete(trial_id, member, error=reason.startswith(DIVERGED))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        for member in list(self.stacks.get(trial_id, [])):
            self._member_complete(trial_id, member, error=error)
        self.stacks.pop(trial_id, None)

    def _member_complete(self, trial_id: str, member: str, error: bool) -> None:
        if member not in self.stacks.get(trial_id, []):
            return
        self.stacks[trial_id].remove(member)
        last = self.last.pop(member, None)
        self.searcher.on_trial_complete(member, result=last, error=error or last is None)

    def get_state(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["searcher"]
        return copy.deepcopy(state)

    def set_state(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)


def member_rows(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A stack's result as one result per member: its metrics, its epoch as its iteration, and the
    stack's clock."""
    clock: dict[str, Any] = {key: result[key] for key in ("time_total_s", "timestamp") if key in result}
    return {member: {**metrics, **clock, "training_iteration": metrics["epoch"]}
            for member, metrics in (result.get(MEMBERS) or {}).items()}


def member_endings(result: dict[str, Any], finished_status: Any) -> dict[str, tuple[str, str | None]]:
    """(status, error) of the members that left their stack with this result; ``finished_status``:
    the job scheduler's status for a trial that ended itself after so many iterations."""
    rows = member_rows(result)
    found: dict[str, tuple[str, str | None]] = {}
    for member, reason in (result.get(ENDED) or {}).items():
        if reason == FINISHED:
            found[member] = (finished_status(int(rows[member]["training_iteration"])), None)
        elif reason.startswith(DIVERGED):
            found[member] = (FAILED, reason.removeprefix(DIVERGED))
        else:
            found[member] = (STOPPED, None)
    return found


@dataclass(frozen=True)
class _Member:
    """What Ray's schedulers look at in a trial: its id."""

    trial_id: str


def member_scheduler_class() -> Any:
    """An actor deciding per member with one of Ray's trial schedulers (one whose decisions need
    nothing but the trial's id and results: ASHA, FIFO). One per job, named, owned by the driver."""
    import ray

    @ray.remote(num_cpus=0)
    class MemberScheduler:
        def __init__(self, scheduler: Any, metric: str, mode: str, saved: str | None = None) -> None:
            """``saved``: a ``snapshot`` of an earlier run of the job, whose rungs it goes on with."""
            self.scheduler, self.seen = scheduler, set[str]()
            if saved is not None:
                self.scheduler, self.seen = pickle.loads(base64.b64decode(saved))
            else:
                self.scheduler.set_search_properties(metric, mode)

        def snapshot(self) -> str:
            """The scheduler's state (the rungs and what each member recorded there), for a resume."""
            return base64.b64encode(pickle.dumps((self.scheduler, self.seen))).decode()

        def decide(self, results: dict[str, dict[str, Any]]) -> list[str]:
            """The members to stop, given their metrics of the epoch just trained."""
            from ray.tune.schedulers import TrialScheduler

            stop = []
            for trial_id, metrics in results.items():
                member = _Member(trial_id)
                if trial_id not in self.seen:
                    self.seen.add(trial_id)
                    self.scheduler.on_trial_add(None, member)
                row = {**metrics, "training_iteration": metrics["epoch"]}
                if self.scheduler.on_trial_result(None, member, row) == TrialScheduler.STOP:
                    stop.append(trial_id)
            return stop

    return MemberScheduler


def decide_with(actor_name: str) -> Any:
    """The ``decide`` a stack calls each epoch: the job's member scheduler, asked by name."""
    def decide(results: dict[str, dict[str, Any]]) -> set[str]:
        import ray

        return set(ray.get(ray.get_actor(actor_name).decide.remote(results)))

    return decide
