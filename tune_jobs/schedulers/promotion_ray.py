"""The Ray ``TrialScheduler`` of ``asha_promotion`` (the rules and the state: ``promotion.py``).

Ray starts PENDING trials by itself and resumes PAUSED ones only when the scheduler picks them, so
pausing is where the scheduler decides: at a rung a trial goes on only if promotable. A trial that
was waiting when the driver died comes back PENDING and is resumed by Ray from its checkpoint; its
first result past its rung pauses it again (one iteration lost, no promotion skipped).
"""

from __future__ import annotations

from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from tune_jobs.schedulers.base import JobContext
from tune_jobs.schedulers.rules import ranks_disagree
from tune_jobs.schedulers.state import PromotionState, job_state


class PromotionAsha(FIFOScheduler):
    def __init__(self, job: JobContext, milestones: list[int], reduction_factor: float, eager: bool = False) -> None:
        super().__init__()
        self.job_key, self.metric_name, self.sign = job.job_key, job.metric, 1.0 if job.mode == "max" else -1.0
        self.planned_trials = job.planned_trials
        self.rungs, self.max_t = milestones[:-1], milestones[-1]
        self.reduction_factor, self.eager = reduction_factor, eager

    @property
    def state(self) -> PromotionState:
        return job_state(self.job_key, PromotionState)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        iteration = int(result.get("training_iteration", 0))
        value = result.get(self.metric_name)
        if iteration >= self.max_t:
            return TrialScheduler.STOP
        waiting_at = self.state.waiting.get(trial.trial_id)
        if waiting_at is not None and iteration > waiting_at:
            return TrialScheduler.PAUSE  # resumed by Ray after a driver restart, not promoted: wait again
        if iteration not in self.rungs or not isinstance(value, (int, float)):
            return TrialScheduler.CONTINUE
        self.state.record(iteration, trial.trial_id, self.sign * float(value))
        if trial.trial_id in self.state.promoted.get(iteration, set()):
            return TrialScheduler.CONTINUE  # a re-report of a rung it was already promoted from
        if self.state.promotable(iteration, trial.trial_id, self.reduction_factor) or (
                self.eager and self.state.above_cutoff(iteration, trial.trial_id, self.reduction_factor)):
            self.state.promote(iteration, trial.trial_id)
            return TrialScheduler.CONTINUE
        self.state.pause(iteration, trial.trial_id)
        return TrialScheduler.PAUSE

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        trials = tune_controller.get_trials()
        paused = {t.trial_id: t for t in trials if t.status == Trial.PAUSED}
        promoted = self._promote(paused, closing=False)
        if promoted is not None:
            return promoted
        for trial in trials:
            if trial.status == Trial.PENDING and trial.trial_id not in self.state.waiting:
                return trial
        busy = any(t.status in (Trial.RUNNING, Trial.PENDING) for t in trials)  # some still on their way to a pause
        if busy or len(trials) < self.planned_trials or not paused:
            return None
        promoted = self._promote(paused, closing=True)  # no new trial will come: the end game
        if promoted is not None:
            return promoted
        for trial in paused.values():  # and no one can be promoted: the paused trials end here
            self.state.waiting.pop(trial.trial_id, None)
            self.state.events.append({"trial_id": trial.trial_id, "event": "stopped",
                                      "training_iteration": trial.last_result.get("training_iteration")})
            tune_controller.stop_trial(trial)
        return None

    def _promote(self, paused: dict[str, Trial], closing: bool) -> Trial | None:
        """The paused trial to resume, highest rung first, best first within a rung."""
        for rung in sorted(self.open_rungs(), reverse=True):
            for trial_id in self.state.promotable_waiting(rung, self.reduction_factor, closing):
                if trial_id in paused:
                    self.state.promote(rung, trial_id)
                    return paused[trial_id]
        return None

    def open_rungs(self) -> list[int]:
        """The rungs a trial can be promoted from."""
        return self.rungs

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self.state.waiting.pop(trial.trial_id, None)

    def debug_string(self) -> str:
        return f"Promotion ASHA: rungs {self.rungs}, max_t {self.max_t}, {len(self.state.waiting)} paused"


class PromotionPasha(PromotionAsha):
    """Promotion ASHA under a ceiling: a trial that reaches the ceiling rung pauses there until the
    ceiling rises, one rung each time the ceiling rung and the rung below rank their common trials
    differently; then the ceiling rung's best are promoted as from any rung."""

    def __init__(self, job: JobContext, milestones: list[int], reduction_factor: float, eager: bool = False) -> None:
        super().__init__(job, milestones, reduction_factor, eager)
        self.milestones = milestones

    @property
    def ceiling(self) -> int:
        state = self.state
        if state.ceiling is None:
            state.ceiling = self.milestones[min(1, len(self.milestones) - 1)]
        return state.ceiling

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        iteration = int(result.get("training_iteration", 0))
        value = result.get(self.metric_name)
        ceiling = self.ceiling
        if iteration == ceiling < self.max_t and isinstance(value, (int, float)):
            self.state.record(iteration, trial.trial_id, self.sign * float(value))
            self._raise_if_unstable()
            if self.ceiling == ceiling:
                self.state.pause(iteration, trial.trial_id)
                return TrialScheduler.PAUSE
        return super().on_trial_result(tune_controller, trial, result)

    def _raise_if_unstable(self) -> None:
        ceiling = self.ceiling
        below = self.milestones[self.milestones.index(ceiling) - 1]
        results = self.state.results
        if ranks_disagree(results.get(ceiling, {}), results.get(below, {}), self.reduction_factor):
            self.state.ceiling = self.milestones[self.milestones.index(ceiling) + 1]
            self.state.events.append({"trial_id": None, "event": "ceiling raised",
                                      "training_iteration": self.state.ceiling})

    def open_rungs(self) -> list[int]:
        return [rung for rung in self.rungs if rung < self.ceiling]

    def debug_string(self) -> str:
        return f"Promotion PASHA: rungs {self.rungs} up to {self.ceiling} for now, max_t {self.max_t}, " \
               f"{len(self.state.waiting)} paused"
