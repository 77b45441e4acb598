"""A job's plan -> a Ray Tune run: the searcher chain, the trainable (fused into stacks or not),
the scheduler, a new Tuner or the saved one restored (and grown), fitted. With ``cluster`` this is
all the runner knows of Ray, so the runner itself imports none."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from trainables.registry import TrainableDef
from tune_jobs.interrupts import INTERRUPTS
from tune_jobs.ray_tune.compat import lean_controller
from tune_jobs.results.files import EXPERIMENT_DIR, JOB_FILE, MEMBER_SCHEDULER_FILE
from tune_jobs.results.listeners import Listeners
from tune_jobs.results.listeners.tensorboard import TENSORBOARD_DIR
from tune_jobs.results.sink import ParquetSink
from tune_jobs.results.store import ResultsStore
from tune_jobs.schedulers import JobContext
from tune_jobs.spec import JobSpec


def can_resume(store: ResultsStore) -> bool:
    """Whether Ray saved enough of an earlier run in ``store`` to restore it."""
    from ray import tune

    return bool(tune.Tuner.can_restore(store.ray_path(EXPERIMENT_DIR), storage_filesystem=store.filesystem))


def _searcher(spec: JobSpec, job_key: str, fuse: int) -> Any:
    """The spec's search, limited to ``max_concurrent`` running trials (paused ones not counted;
    by default as many as the cluster holds)."""
    import functools

    from tune_jobs.ray_tune.concurrency import ConcurrencyLimit
    from tune_jobs.ray_tune.searcher import RaySearcher
    from tune_jobs.schedulers import paused_trials

    space, mode = dict(spec.space), spec.plan.mode
    if spec.plan.scheduler.needs_variant_generator or spec.plan.search.draws_with_ray(space):
        from ray.tune.search.basic_variant import BasicVariantGenerator

        # Ray draws every trial (and crosses grid keys); it limits concurrency itself.
        generator = BasicVariantGenerator(random_state=spec.plan.search.seed, max_concurrent=spec.plan.search.max_concurrent or 0)
        _follow_gpu_share(spec, job_key, generator, fuse)
        return generator
    searcher: Any
    if spec.multi_objective or spec.constraints:
        from tune_jobs.ray_tune.searcher import RayMultiSearcher

        objectives = spec.objective_directions
        searcher = RayMultiSearcher(spec.plan.search.build_multi(space, list(objectives.values()), len(spec.constraints)),
                                    objectives, spec.parsed_constraints)
    else:
        searcher = RaySearcher(spec.plan.search.build(space, spec.metric, mode, rungs=spec.plan.scheduler.milestones),
                               spec.metric, mode)
    limited = ConcurrencyLimit(searcher, slots(spec) * fuse, functools.partial(paused_trials, job_key))
    _follow_gpu_share(spec, job_key, limited, fuse)
    if fuse == 1:
        return limited
    from tune_jobs.ray_tune.fusion import StackSearcher
    from tune_jobs.ray_tune.space import param_space

    member_space = {} if spec.plan.search.owns_space else param_space({}, dict(spec.space))
    return StackSearcher(limited, fuse, spec.plan.search.trials, member_space)


def _follow_gpu_share(spec: JobSpec, job_key: str, searcher: Any, fuse: int) -> None:
    """With ``gpu: auto`` (and no ``max_concurrent``), the trials at once follow the measured share."""
    if spec.resources.gpu_auto and not spec.plan.search.max_concurrent:
        from tune_jobs.ray_tune import gpu_auto

        gpu_auto.limit_concurrency(job_key, searcher, spec.resources.cpu, fuse)


def _fused(spec: JobSpec, store: ResultsStore, resuming: bool) -> tuple[TrainableDef, Any]:
    """The stack trainable for ``execution.fuse`` and, when the job's scheduler compares trials,
    the actor that decides for each member (a resumed job's goes on with the rungs saved)."""
    from trainables.fused.run import stack_trainable
    from tune_jobs.ray_tune.fusion import decide_with, member_scheduler_class

    actor, decide, mode = None, None, spec.plan.mode
    if spec.plan.scheduler.milestones:
        name = f"tune-jobs-members-{uuid.uuid4().hex[:12]}"
        job = job_context(spec)
        saved = store.read_json(MEMBER_SCHEDULER_FILE)["state"] if resuming and store.exists(MEMBER_SCHEDULER_FILE) else None
        actor = member_scheduler_class().options(name=name).remote(spec.plan.scheduler.build(job), spec.metric, mode, saved)
        decide = decide_with(name)
    function = stack_trainable(spec.trainable_def, spec.metric, mode, decide)
    return TrainableDef(f"{spec.trainable_def.name}_stacks", function), actor


def job_context(spec: JobSpec) -> JobContext:
    from tune_jobs.ray_tune.space import param_space

    return JobContext(spec.metric, spec.plan.mode, spec.results_dir, spec.planned_trials, dict(spec.space),
                      samplers=param_space({}, dict(spec.space)),
                      objectives=spec.objective_directions if spec.multi_objective else None)


def slots(spec: JobSpec) -> int:
    """Trials (stacks, when fused) running at once: ``max_concurrent``, or as many as the cluster holds."""
    import ray

    from tune_jobs.ray_tune.concurrency import trials_that_fit

    return spec.plan.search.max_concurrent or trials_that_fit(ray.cluster_resources(), spec.resources.cpu,
                                                              gpu_per_trial(spec))


def gpu_per_trial(spec: JobSpec) -> float:
    """The spec's GPUs per trial on this cluster: ``auto`` starts at a whole GPU where there are
    GPUs and is the CPU default (none) where there are not."""
    import ray

    if spec.resources.gpu_auto:
        return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    return spec.resources.gpu_to_start


def stack_size(spec: JobSpec, store: ResultsStore, resuming: bool, console: Console) -> int:
    """``execution.fuse`` resolved for this cluster; a resumed job keeps the size it started with
    (its Ray trials are stacks of that size, or plain trials)."""
    if resuming:
        return int(store.read_json(JOB_FILE).get("stack_size", 1))
    size = spec.stack_size(slots(spec))
    if spec.execution.fuse == "auto" and size == 1:
        why = [problem.split(": ", 1)[1] for problem in spec.fusion_problems()]
        reason = why[0] if why else "no more trials than run at once"
        console.print(f"execution.fuse auto: a process per trial ({reason})", highlight=False)
    if size > 1:
        trials = spec.plan.search.trials
        stacks = -(-trials // size)
        console.print(f"fused: {trials} trials in {stacks} stack{'s' if stacks > 1 else ''} of up to {size}, each one process "
                      f"(execution.fuse {spec.execution.fuse})", highlight=False)
    return size


def _new_tuner(spec: JobSpec, trainable: Any, space: dict[str, Any], store: ResultsStore, callback: Any, fuse: int) -> Any:
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler

    from tune_jobs.ray_tune.growth import JobTimeBudget

    job, mode = job_context(spec), spec.plan.mode
    return tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric=spec.metric,
            mode=mode,
            search_alg=_searcher(spec, job.job_key, fuse),
            # Fused: Ray runs stacks one after another; the job's scheduler decides per member.
            scheduler=spec.plan.scheduler.build(job) if fuse == 1 else FIFOScheduler(),
            num_samples=-(-spec.plan.search.trials // fuse),
            reuse_actors=True,
            trial_dirname_creator=lambda trial: trial.trial_id,
        ),
        run_config=tune.RunConfig(
            name=EXPERIMENT_DIR,
            storage_path=store.path,
            storage_filesystem=store.filesystem,
            failure_config=tune.FailureConfig(max_failures=spec.failure.max_failures),
            # The best checkpoint by the metric (for ensembles) and, kept by Ray regardless, the latest (for resume).
            checkpoint_config=tune.CheckpointConfig(num_to_keep=spec.plan.scheduler.checkpoints_to_keep,
                                                    checkpoint_score_attribute=spec.metric,
                                                    checkpoint_score_order=mode),
            callbacks=[callback],
            stop=JobTimeBudget(spec.results_dir),  # counts over every run of the job, so a rerun can lengthen it
            verbose=0,
        ),
    )


def fit(spec: JobSpec, store: ResultsStore, sink: ParquetSink, progress: Any, outputs: Listeners, fuse: int,
        resuming: bool, grow: bool, resume_errored: bool) -> None:
    """Run the job's trials on Ray Tune until they end (or an interrupt stops Tune gracefully):
    a new Tuner, or the saved one restored, its unfinished and errored trials going on from their
    checkpoints (``resume_errored``: not for a finished job that grows, whose failed trials stay
    failed) and, with ``grow``, given the spec's larger budget. The actors it starts die with it."""
    import ray
    from ray import tune

    from trainables.ray_adapter import ray_trainable, shared_data_index_class
    from tune_jobs.gpu_sizing import GpuSizer
    from tune_jobs.ray_tune import gpu_auto
    from tune_jobs.ray_tune.callback import ResultsCallback, attach, detach
    from tune_jobs.ray_tune.growth import RAN_OUT, TIME_BUDGETS, grow_restored
    from tune_jobs.ray_tune.space import param_space

    directory = spec.results_dir
    data_index: Any = None
    member_scheduler: Any = None
    try:
        # Trials find the data they share through this actor; it lives as long as this run.
        index_name = f"tune-jobs-data-{uuid.uuid4().hex[:12]}"
        data_index = shared_data_index_class().options(name=index_name).remote()
        trainable_def = spec.trainable_def
        if fuse > 1:
            trainable_def, member_scheduler = _fused(spec, store, resuming)
        sized = spec.resources.gpu_auto and gpu_per_trial(spec) > 0
        if sized:
            gpu_auto.start(directory, GpuSizer(spec.resources.gpu_memory_target, spec.resources.max_trials_per_gpu))
        trainable = tune.with_resources(
            ray_trainable(trainable_def, spec.metric, spec.resources.cpu, index_name,
                          log_root=str(Path(store.path) / TENSORBOARD_DIR) if spec.tensorboard and store.local else None),
            functools.partial(gpu_auto.trial_resources, directory, spec.resources.cpu) if sized
            else {"cpu": spec.resources.cpu, "gpu": gpu_per_trial(spec)},
        )
        space = param_space(
            spec.config,
            {} if spec.plan.search.owns_space or fuse > 1 else dict(spec.space),
            choices_as_grid=spec.plan.search.algorithm == "grid",
        )
        snapshot: Callable[[], None] | None = None
        if member_scheduler is not None:
            def snapshot() -> None:
                store.write_json(MEMBER_SCHEDULER_FILE, {"state": ray.get(member_scheduler.snapshot.remote())})
        attach(directory, sink, progress, outputs, snapshot)
        TIME_BUDGETS[directory] = spec.stop.time_budget_s
        if resuming:
            tuner = tune.Tuner.restore(store.ray_path(EXPERIMENT_DIR), trainable, resume_unfinished=True,
                                       resume_errored=resume_errored, param_space=space,
                                       storage_filesystem=store.filesystem)
            if grow:
                grow_restored(tuner, spec.plan.search.trials, spec.plan.scheduler.build(job_context(spec)), sink.ended_trials())
        else:
            tuner = _new_tuner(spec, trainable, space, store, ResultsCallback(directory, spec.plan.scheduler), fuse)
        with INTERRUPTS.tune_running(), lean_controller():
            tuner.fit()
    finally:
        detach(directory)
        gpu_auto.stop(directory)
        TIME_BUDGETS.pop(directory, None)
        RAN_OUT.discard(directory)
        for actor in (data_index, member_scheduler):
            if actor is not None:
                ray.kill(actor)
