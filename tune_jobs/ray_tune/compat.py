"""Every use of a private Ray internal, in one place. Ray changes these between releases without
notice; when an upgrade breaks one, this module is the list to check (each says what needs it).
Tested against Ray 2.60 (pyproject pins the range)."""

from __future__ import annotations

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
