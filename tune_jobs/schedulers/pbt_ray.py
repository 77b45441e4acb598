"""Ray's ``PopulationBasedTraining``, recording each copy (which trial copied which, at which
iteration, the new values) and which trials it paused to share the workers."""

from __future__ import annotations

from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import PopulationBasedTraining, TrialScheduler

from tune_jobs.schedulers.state import PbtState, job_state


class RecordingPbt(PopulationBasedTraining):
    def __init__(self, job_key: str, keys: list[str], **options: Any) -> None:
        super().__init__(**options)
        self.job_key, self.keys = job_key, keys

    @property
    def state(self) -> PbtState:
        return job_state(self.job_key, PbtState)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        self._iteration = result.get("training_iteration")  # trial.last_result is not updated yet
        decision = super().on_trial_result(tune_controller, trial, result)
        if decision == TrialScheduler.PAUSE or trial.status == Trial.PAUSED:
            self.state.waiting.add(trial.trial_id)
        return str(decision)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        trial = super().choose_trial_to_run(tune_controller)
        if trial is not None:
            self.state.waiting.discard(trial.trial_id)
        return trial

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> None:
        self.state.waiting.discard(trial.trial_id)
        super().on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self.state.waiting.discard(trial.trial_id)
        super().on_trial_remove(tune_controller, trial)

    def _exploit(self, tune_controller: Any, trial: Trial, trial_to_clone: Trial) -> None:
        before = {k: trial.config.get(k) for k in self.keys}
        super()._exploit(tune_controller, trial, trial_to_clone)
        self.state.waiting.add(trial.trial_id)
        self.state.events.append({
            "trial_id": trial.trial_id, "event": "exploited",
            "training_iteration": getattr(self, "_iteration", None),
            "copied_from": trial_to_clone.trial_id,
            "copied_iteration": (trial_to_clone.last_result or {}).get("training_iteration"),
            "before": {k: v for k, v in before.items()}, "after": {k: trial.config.get(k) for k in self.keys},
        })
