"""``resources.gpu: auto`` on Ray Tune (the decisions are ``tune_jobs.gpu_sizing``'s).

Ray fixes a trial's resources when the trial is created, so the share is read then, from the
job's sizer, by a function Ray calls per trial (``with_resources`` with a callable: module-level,
so the copy Ray keeps of the trainable still reads this process's sizer). Until a trial has
measured its need every trial gets a whole GPU, and the search creates no more trials than run
at once; once a share is known the job's concurrency limit rises to what the smaller share fits,
so the trials created from then on pack the GPUs. A trial retried after running out of memory gets
its doubled share through ``Trial.update_resources``, which Ray allows while a trial waits.
"""

from __future__ import annotations

from typing import Any

from tune_jobs.gpu_sizing import GpuSizer

SIZERS: dict[str, GpuSizer] = {}  # by job key (its results directory), for the job this driver runs
_LIMITS: dict[str, tuple[Any, float, int]] = {}  # job key -> (the searcher to raise, cpu per trial, fuse)


def start(job_key: str, sizer: GpuSizer) -> None:
    SIZERS[job_key] = sizer


def stop(job_key: str) -> None:
    SIZERS.pop(job_key, None)
    _LIMITS.pop(job_key, None)


def trial_resources(job_key: str, cpu: float, config: dict[str, Any]) -> Any:
    """A new trial's resources: the job's current share of a GPU (a whole one before any is measured)."""
    from ray.tune.execution.placement_groups import resource_dict_to_pg_factory

    sizer = SIZERS.get(job_key)
    return resource_dict_to_pg_factory({"cpu": cpu, "gpu": sizer.fraction() if sizer is not None else 1.0})


def limit_concurrency(job_key: str, searcher: Any, cpu: float, fuse: int) -> None:
    """``searcher.max_concurrent`` follows the share: as many trials as the cluster holds at it."""
    _LIMITS[job_key] = (searcher, cpu, fuse)
    _apply_limits(job_key)


def observe(job_key: str, metrics: dict[str, Any]) -> bool:
    """A trial's report; True when later trials get another share (the limits are raised then)."""
    sizer = SIZERS.get(job_key)
    if sizer is None or not sizer.observe(metrics):
        return False
    _apply_limits(job_key)
    return True


def _apply_limits(job_key: str) -> None:
    import ray

    from tune_jobs.ray_tune.concurrency import trials_that_fit

    if job_key not in _LIMITS or job_key not in SIZERS:
        return
    searcher, cpu, fuse = _LIMITS[job_key]
    searcher.max_concurrent = trials_that_fit(ray.cluster_resources(), cpu, SIZERS[job_key].fraction()) * fuse


def trial_gpu(trial: Any) -> float | None:
    """The GPUs a Ray trial holds (its placement group's first bundle)."""
    factory = getattr(trial, "placement_group_factory", None)
    if factory is None:
        return None
    return float(factory.required_resources.get("GPU", 0.0))


def retry_with_more(job_key: str, trial: Any) -> float | None:
    """After an out-of-memory failure: the trial's doubled share for its retry (None: not auto)."""
    from ray.tune.execution.placement_groups import resource_dict_to_pg_factory

    if job_key not in SIZERS:
        return None
    current = trial_gpu(trial) or 1.0
    share = GpuSizer.after_out_of_memory(current)
    cpu = float(trial.placement_group_factory.required_resources.get("CPU", 1.0))
    trial.update_resources(resource_dict_to_pg_factory({"cpu": cpu, "gpu": share}))
    return share
