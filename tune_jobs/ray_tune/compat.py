"""Every use of a private Ray internal, in one place. Ray changes these between releases without
notice; when an upgrade breaks one, this module is the list to check (each says what needs it).
Tested against Ray 2.60 (pyproject pins the range)."""

from __future__ import annotations

import contextlib
import itertools
import weakref
from collections.abc import Iterator
from typing import Any

# Logs that Ray's own modules write at INFO or with a notice we replace.
AUTH_TOKEN_SETUP_LOGGER = "ray._private.authentication.authentication_token_setup"
UPLOAD_LOGGERS = ("ray._private.runtime_env.packaging", "ray._private.runtime_env.working_dir")


def reload_ray_config() -> None:
    """Ray reads ``RAY_AUTH_MODE`` into a cached config at import; re-read it after we set it
    (cluster.start_ray), as Ray itself does."""
    from ray._raylet import Config  # type: ignore[attr-defined]

    Config.initialize("")


def restored_tune_config(tuner: Any) -> Any:
    """A restored Tuner's TuneConfig, whose searcher and scheduler a grown job replaces
    (growth.grow_restored): Ray offers no public way to change them on restore."""
    return tuner._local_tuner._tune_config


def trial_checkpoints(trial: Any) -> tuple[Any, list[Any], Any]:
    """(the trial's checkpoint manager, its kept checkpoint results, its latest one); the manager
    is None for a trial without one (callback.drop_lost_checkpoints)."""
    manager = getattr(getattr(trial, "run_metadata", None), "checkpoint_manager", None)
    if manager is None:
        return None, [], None
    return manager, list(getattr(manager, "_checkpoint_results", [])), getattr(manager, "_latest_checkpoint_result", None)


def keep_trial_checkpoints(manager: Any, kept: list[Any], latest: Any) -> None:
    manager._checkpoint_results = kept
    manager._latest_checkpoint_result = latest


def upload_limit() -> int:
    """The largest working directory Ray's job submission accepts (remote.workdir checks first)."""
    from ray._private.runtime_env.packaging import GCS_STORAGE_MAX_SIZE

    return int(GCS_STORAGE_MAX_SIZE)


@contextlib.contextmanager
def lean_controller() -> Iterator[None]:
    """Two costs of Ray's trial loop that grow with the job, removed while our ``fit`` runs
    (bench/scale.py many: at 6,000 trivial trials they were a quarter of the driver's time):

    - FIFO-based schedulers (FIFO, ASHA, ours) pick the next trial by scanning every trial the job
      ever made, from the first, on every loop step: O(trials) per step. A trial that has ended
      never runs again in this controller (recovery moves a running trial back to pending; ended
      is final), so the scan starts at the first trial that has not ended, remembered per
      controller. Which trial it returns is unchanged.
    - Every trial start asks the GCS twice for the trainable's class and unpickles it
      (``Trial.get_trainable_cls``: two blocking round trips). Ray registers the trainable before
      the controller starts, so within one ``fit`` the answer cannot change: it is kept per name.

    Both are restored on exit, so plain Ray Tune in the same process is untouched."""
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import FIFOScheduler

    ended = (Trial.TERMINATED, Trial.ERROR)
    first_unfinished: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
    classes: dict[str, Any] = {}
    scan, lookup = FIFOScheduler.choose_trial_to_run, Trial.get_trainable_cls

    def choose_trial_to_run(self: Any, controller: Any) -> Any:
        trials = controller.get_trials()
        key = getattr(controller, "_tune_controller", controller)  # Ray hands schedulers a new wrapper each step
        start = min(first_unfinished.get(key, 0), len(trials))
        while start < len(trials) and trials[start].status in ended:
            start += 1
        first_unfinished[key] = start
        for wanted in (Trial.PENDING, Trial.PAUSED):
            for trial in itertools.islice(trials, start, None):
                if trial.status == wanted:
                    return trial
        return None

    def get_trainable_cls(self: Any) -> Any:
        if self.stub:
            return None
        if self.trainable_name not in classes:
            classes[self.trainable_name] = lookup(self)
        return classes[self.trainable_name]

    FIFOScheduler.choose_trial_to_run = choose_trial_to_run  # type: ignore[method-assign,assignment]
    Trial.get_trainable_cls = get_trainable_cls  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        FIFOScheduler.choose_trial_to_run = scan  # type: ignore[method-assign,assignment]
        Trial.get_trainable_cls = lookup  # type: ignore[method-assign,assignment]
