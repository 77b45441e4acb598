"""Runs a validated job on Ray Tune: embedded local Ray, or an existing cluster (``address``).

It puts the job together (the lease, Ray, the Tuner, the results files, the interrupts); the
search and the scheduler each build their own Ray objects, from the typed ``JobSpec``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from trainables.registry import TrainableDef
from tune_jobs.errors import SpecError
from tune_jobs.interrupts import INTERRUPTS
from tune_jobs.progress import Progress
from tune_jobs.rerun import API_WORDS, Rerun, RerunWords, check_rerun
from tune_jobs.results.files import (
    EXPERIMENT_DIR,
    ITERATIONS_FILE,
    JOB_FILE,
    SCHEDULER_EVENTS_FILE,
    SCHEDULER_STATE_FILE,
    TRIALS_FILE,
)
from tune_jobs.results.iteration_log import PARTS_DIR as ITERATION_PARTS
from tune_jobs.results.job_record import JobRecord, now_iso
from tune_jobs.results.lease import JobLease
from tune_jobs.results.listeners import ListenerContext, Listeners
from tune_jobs.results.listeners.tensorboard import TENSORBOARD_DIR
from tune_jobs.results.schema import FAILED, RUNNING, SUCCEEDED
from tune_jobs.results.sink import ParquetSink, TrialRecord
from tune_jobs.results.store import ResultsStore
from tune_jobs.schedulers import STATES, JobContext, save_state
from tune_jobs.spec import JobSpec

EXIT_OK, EXIT_NO_SUCCESS = 0, 1


@dataclass
class JobOutcome:
    status: str
    counts: dict[str, int]
    best: TrialRecord | None
    results_dir: str
    errors: dict[str, int]

    @property
    def exit_code(self) -> int:
        return EXIT_OK if any(self.counts.get(s, 0) for s in SUCCEEDED) else EXIT_NO_SUCCESS


def _not_a_transient_state_sync_error(record: logging.LogRecord) -> bool:
    """Tune copies its experiment state to storage in a background thread while the driver writes
    the searcher's state as ``.<uuid>-tmp-searcher-state-*.pkl`` and renames it: the copy may find
    the temporary file gone and log an ERROR with a traceback. Nothing is lost (the next sync
    copies the renamed file), so it is not shown."""
    error = record.exc_info[1] if record.exc_info else None
    return not (record.getMessage().startswith("Saving experiment state to storage")
                and isinstance(error, OSError) and "-tmp-" in str(error))


def _start_ray(address: str | None, num_cpus: int | None, num_gpus: int | None) -> bool:
    """Connect to ``address`` or start an embedded Ray on loopback; True if we started it."""
    import ray

    if address:
        _use_token_if_found()
    state_logger = logging.getLogger("ray.tune.execution.experiment_state")
    if _not_a_transient_state_sync_error not in state_logger.filters:
        state_logger.addFilter(_not_a_transient_state_sync_error)

    if ray.is_initialized():
        return False
    # User modules named as ``package.module:function`` must import on the workers too.
    cwd = str(Path.cwd())
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if cwd not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([cwd, *paths])
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False, "configure_logging": True}
    if address:
        try:
            ray.init(address=address, **options)
        except ConnectionError as error:
            raise SpecError([f"--address {address}: {str(error).splitlines()[0]}; is the cluster up (`ray status`)? "
                             "With token authentication this process needs the cluster's token too "
                             "(RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)"]) from None
    else:
        # Ray says on every embedded start that it turned token authentication on by default:
        # true and fine on loopback, and nothing the user has to act on.
        logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(
            lambda record: "Token authentication is enabled for this Ray cluster" not in record.getMessage())
        # "local": always a new embedded instance. Without it ray.init joins the cluster named in
        # /tmp/ray/ray_current_cluster, and hangs when that cluster has since stopped.
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                 _node_ip_address="127.0.0.1", **options)
    return True


def _use_token_if_found() -> None:
    """A cluster from ``ray start --head`` turns token auth on by itself when ``~/.ray/auth_token``
    exists, but a client only sends the token when ``RAY_AUTH_MODE=token``: say so for it."""
    from tune_jobs.remote.auth import find_token

    if "RAY_AUTH_MODE" not in os.environ and find_token() is not None:
        os.environ["RAY_AUTH_MODE"] = "token"
        with contextlib.suppress(ImportError, AttributeError):  # Ray caches its config: re-read it, as Ray does
            from ray._raylet import Config  # type: ignore[attr-defined]

            Config.initialize("")


def _quiet_ray_tune() -> None:
    from tune_jobs.ray_tune.callback import quiet_trial_failure_dumps, stop_retrying_repeated_errors

    quiet_trial_failure_dumps()
    stop_retrying_repeated_errors()
    # num_to_keep forces an experiment snapshot per checkpoint; Ray warns about it on every
    # short epoch. The snapshots are what resume needs, so keep them and drop the warning.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Ray's own CSV/JSON/TensorBoard files per trial duplicate the Parquet results.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # ...which makes the end-of-run analysis warn that it found no result.json per trial.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    # Our progress line replaces Ray's tables; its new output engine prints one even at verbose=0.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")


def _prepare_results_dir(spec: JobSpec, store: ResultsStore, restart: bool) -> bool:
    """Make the job's results directory ready; True when an earlier run is to be resumed."""
    from ray import tune

    try:
        existing = [name for name in (JOB_FILE, TRIALS_FILE, ITERATIONS_FILE, ITERATION_PARTS, EXPERIMENT_DIR, TENSORBOARD_DIR,
                                      SCHEDULER_STATE_FILE, SCHEDULER_EVENTS_FILE) if store.exists(name)]
    except OSError as error:  # an object store that is unreachable or refuses us
        raise SpecError([f"storage: cannot use {store}: {str(error).splitlines()[0]}"]) from None
    # The spec and the code were checked before Ray started (_check_identity).
    if existing and not restart and tune.Tuner.can_restore(store.ray_path(EXPERIMENT_DIR), storage_filesystem=store.filesystem):
        return True
    for name in existing:  # --restart, or an earlier run that died before Ray saved any state
        store.remove(name)
    store.make()
    return False


def _finished_outcome(spec: JobSpec) -> JobOutcome:
    """A finished job's outcome from its files, without starting Ray."""
    sink = ParquetSink(ResultsStore(spec.results_dir), spec.metric, spec.plan.mode)
    sink.load_existing()
    return _outcome("finished", sink, spec.results_dir)


def _searcher(spec: JobSpec, mode: str, job_key: str, fuse: int) -> Any:
    """The spec's search, limited to ``max_concurrent`` running trials (paused ones not counted;
    by default as many as the cluster holds)."""
    import functools

    from tune_jobs.ray_tune.concurrency import ConcurrencyLimit
    from tune_jobs.ray_tune.searcher import RaySearcher
    from tune_jobs.schedulers import paused_trials

    space = dict(spec.space)
    if spec.plan.scheduler.needs_variant_generator or spec.plan.search.draws_with_ray(space):
        from ray.tune.search.basic_variant import BasicVariantGenerator

        # Ray draws every trial (and crosses grid keys); it limits concurrency itself.
        return BasicVariantGenerator(random_state=spec.plan.search.seed, max_concurrent=spec.plan.search.max_concurrent or 0)
    searcher = RaySearcher(spec.plan.search.build(space, spec.metric, mode, rungs=spec.plan.scheduler.milestones), spec.metric, mode)
    limited = ConcurrencyLimit(searcher, _slots(spec) * fuse, functools.partial(paused_trials, job_key))
    if fuse == 1:
        return limited
    from tune_jobs.ray_tune.fusion import StackSearcher
    from tune_jobs.ray_tune.space import param_space

    member_space = {} if spec.plan.search.owns_space else param_space({}, dict(spec.space))
    return StackSearcher(limited, fuse, spec.plan.search.trials, member_space)


MEMBER_SCHEDULER_FILE = "member_scheduler.json"  # fused jobs: the per-member scheduler's rungs, for a resume


def _fused(spec: JobSpec, mode: str, store: ResultsStore, resuming: bool) -> tuple[TrainableDef, Any]:
    """The stack trainable for ``execution.fuse`` and, when the job's scheduler compares trials,
    the actor that decides for each member (a resumed job's goes on with the rungs saved)."""
    from trainables.fused.run import stack_trainable
    from tune_jobs.ray_tune.fusion import decide_with, member_scheduler_class

    actor, decide = None, None
    if spec.plan.scheduler.milestones:
        name = f"tune-jobs-members-{uuid.uuid4().hex[:12]}"
        job = _job_context(spec, mode)
        saved = store.read_json(MEMBER_SCHEDULER_FILE)["state"] if resuming and store.exists(MEMBER_SCHEDULER_FILE) else None
        actor = member_scheduler_class().options(name=name).remote(spec.plan.scheduler.build(job), spec.metric, mode, saved)
        decide = decide_with(name)
    function = stack_trainable(spec.trainable_def, spec.metric, mode, decide)
    return TrainableDef(f"{spec.trainable_def.name}_stacks", function), actor


def _job_context(spec: JobSpec, mode: str) -> JobContext:
    from tune_jobs.ray_tune.space import param_space

    return JobContext(spec.metric, mode, spec.results_dir, spec.planned_trials, dict(spec.space),
                      samplers=param_space({}, dict(spec.space)))


def _slots(spec: JobSpec) -> int:
    """Trials (stacks, when fused) running at once: ``max_concurrent``, or as many as the cluster holds."""
    import ray

    from tune_jobs.ray_tune.concurrency import trials_that_fit

    return spec.plan.search.max_concurrent or trials_that_fit(ray.cluster_resources(), spec.resources.cpu, spec.resources.gpu)


def _stack_size(spec: JobSpec, store: ResultsStore, resuming: bool, console: Console) -> int:
    """``execution.fuse`` resolved for this cluster; a resumed job keeps the size it started with
    (its Ray trials are stacks of that size, or plain trials)."""
    if resuming:
        return int(store.read_json(JOB_FILE).get("stack_size", 1))
    size = spec.stack_size(_slots(spec))
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


def _new_tuner(spec: JobSpec, mode: str, trainable: Any, space: dict[str, Any], store: ResultsStore, callback: Any,
               fuse: int) -> Any:
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler

    from tune_jobs.ray_tune.growth import JobTimeBudget

    job = _job_context(spec, mode)
    return tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric=spec.metric,
            mode=mode,
            search_alg=_searcher(spec, mode, job.job_key, fuse),
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


def run_job(
    spec: JobSpec,
    *,
    address: str | None = None,
    restart: bool = False,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    console: Console | None = None,
    resume_changed_code: bool = False,
    words: RerunWords = API_WORDS,
) -> JobOutcome:
    """Run ``spec`` to the end, or resume it when its results directory holds an earlier run (grown
    when the spec asks for more trials or time; ``tune_jobs.rerun``).

    SIGINT/SIGTERM raise ``KeyboardInterrupt`` after the results are flushed and ``job.json`` says
    ``interrupted``; running it again resumes."""
    console = console or Console(stderr=True)
    _quiet_ray_tune()
    lease = JobLease(ResultsStore(spec.results_dir), spec.name)
    try:
        lease.acquire()  # one driver per job, before Ray starts
    except OSError as error:
        raise SpecError([f"storage: cannot use {spec.results_dir}: {str(error).splitlines()[0]}"]) from None
    try:
        identity = check_rerun(spec, ResultsStore(spec.results_dir), restart, resume_changed_code, words)
        if identity.finished:
            console.print(f"job {spec.name} finished earlier; its results ({words.restart} runs it again):", highlight=False)
            return _finished_outcome(spec)
        with INTERRUPTS.catching():  # before Ray starts: Ctrl-C during ray.init is an interrupt too
            started_ray = _start_ray(address, num_cpus, num_gpus)
            with INTERRUPTS.catching():  # again: ray.init replaced our SIGTERM handler with its own
                return _run_started(spec, restart, started_ray, console, identity, words)
    finally:
        lease.release()


def _run_started(spec: JobSpec, restart: bool, started_ray: bool, console: Console, identity: Rerun,
                 words: RerunWords) -> JobOutcome:
    import ray
    from ray import tune

    from trainables.ray_adapter import data_registry_class, ray_trainable
    from tune_jobs.ray_tune.callback import ResultsCallback, attach, detach
    from tune_jobs.ray_tune.growth import RAN_OUT, TIME_BUDGETS, grow_restored
    from tune_jobs.ray_tune.space import param_space

    directory = spec.results_dir
    store = ResultsStore(directory)
    mode = spec.plan.mode
    sink = ParquetSink(store, spec.metric, mode)
    status = "failed"
    record: JobRecord | None = None
    registry: Any = None
    member_scheduler: Any = None
    outputs: Listeners | None = None
    try:
        resuming = _prepare_results_dir(spec, store, restart)
        record = JobRecord(store, spec.resolved(), spec.sha256())
        STATES.pop(directory, None)
        record.data["code"] = identity.code
        if resuming:
            record.resume_from_file()
            if identity.changed_from is not None:
                record.data["code_changes"] = [*record.data.get("code_changes", []),
                                               {"at": now_iso(), "from": identity.changed_from["sha256"],
                                                "to": identity.code["sha256"]}]
                console.print(f"resuming with changed code: {identity.code['what']} (recorded in job.json)",
                              highlight=False)
            if identity.growth is not None:
                record.data["grown"] = [*record.data.get("grown", []), {"at": now_iso(), "changes": identity.growth.changes}]
                console.print(f"growing job {spec.name}: {identity.growth.describe()} (recorded in job.json)",
                              highlight=False)
            sink.load_existing()
            if store.exists(SCHEDULER_STATE_FILE):
                state = spec.plan.scheduler.state_from_json(store.read_json(SCHEDULER_STATE_FILE))
                if state is not None:
                    STATES[directory] = state
            if identity.growth is None:
                console.print(f"resuming job {spec.name} from {directory} ({words.restart} starts over)", highlight=False)
        fuse = _stack_size(spec, store, resuming, console)
        record.save(cluster_resources=ray.cluster_resources(), stack_size=fuse)
        # Trials find the data they share through this actor; it lives as long as this run.
        registry_name = f"tune-jobs-data-{uuid.uuid4().hex[:12]}"
        registry = data_registry_class().options(name=registry_name).remote()
        trainable_def = spec.trainable_def
        if fuse > 1:
            trainable_def, member_scheduler = _fused(spec, mode, store, resuming)
        trainable = tune.with_resources(
            ray_trainable(trainable_def, spec.metric, spec.resources.cpu, registry_name,
                          log_root=str(Path(store.path) / TENSORBOARD_DIR) if spec.tensorboard and store.local else None),
            {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu},
        )
        space = param_space(
            spec.config,
            {} if spec.plan.search.owns_space or fuse > 1 else dict(spec.space),
            choices_as_grid=spec.plan.search.algorithm == "grid",
        )
        with Progress(console, spec.metric, total=spec.planned_trials) as progress:
            outputs = Listeners(ListenerContext(store, spec.metric, mode, spec.resolved(), sink.last_iterations()))
            snapshot = None
            if member_scheduler is not None:
                def snapshot() -> None:
                    store.write_json(MEMBER_SCHEDULER_FILE, {"state": ray.get(member_scheduler.snapshot.remote())})
            attach(directory, sink, progress, outputs, snapshot)
            TIME_BUDGETS[directory] = spec.stop.time_budget_s
            if resuming:
                # Unfinished and errored trials go on from their checkpoints; the searcher's
                # state and the callbacks come back with the experiment.
                # A finished job that grows keeps its failed trials failed.
                tuner = tune.Tuner.restore(store.ray_path(EXPERIMENT_DIR), trainable, resume_unfinished=True,
                                           resume_errored=not identity.ended_before, param_space=space,
                                           storage_filesystem=store.filesystem)
                if identity.growth is not None:
                    job = _job_context(spec, mode)
                    grow_restored(tuner, spec.plan.search.trials, spec.plan.scheduler.build(job), sink.ended_trials())
            else:
                tuner = _new_tuner(spec, mode, trainable, space, store, ResultsCallback(directory, spec.plan.scheduler), fuse)
            with INTERRUPTS.tune_running():
                tuner.fit()
        if INTERRUPTS.requested:  # Tune stopped gracefully: its state is saved, the rerun resumes
            raise KeyboardInterrupt
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if outputs is not None:
            outputs.close()
        detach(directory)
        TIME_BUDGETS.pop(directory, None)
        RAN_OUT.discard(directory)
        for actor in (registry, member_scheduler):
            if actor is not None:
                ray.kill(actor)
        if record is not None:
            sink.close()
            if directory in STATES:
                save_state(store, STATES.pop(directory))
            best = sink.best_trial()
            record.save(
                status=status,
                end_time=now_iso(),
                trial_counts=sink.counts(),
                best_trial=None if best is None else {"trial_id": best.trial_id, "config": best.config,
                                                      spec.metric: best.best},
            )
        if started_ray:
            ray.shutdown()
    return _outcome(status, sink, directory)


def _outcome(status: str, sink: ParquetSink, directory: str) -> JobOutcome:
    errors: dict[str, int] = {}
    for trial in sink.trials.values():
        if trial.status == FAILED and trial.error:
            errors[trial.error] = errors.get(trial.error, 0) + 1
    counts = sink.counts()
    if not counts.get(RUNNING):
        counts.pop(RUNNING, None)
    return JobOutcome(status, counts, sink.best_trial(), directory, errors)


def run_stages(
    spec: JobSpec,
    *,
    address: str | None = None,
    restart: bool = False,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    console: Console | None = None,
    resume_changed_code: bool = False,
    words: RerunWords = API_WORDS,
) -> list[tuple[JobSpec, JobOutcome]]:
    """Run ``spec.stages`` in order on one Ray; stops after a stage with no successful trial."""
    import ray

    from tune_jobs.stages import first_stage_spec, next_stage_spec

    assert spec.stages is not None
    console = console or Console(stderr=True)
    with INTERRUPTS.catching():  # between stages too; each stage's run_job installs it again after Ray's
        started_ray = _start_ray(address, num_cpus, num_gpus)
        done: list[tuple[JobSpec, JobOutcome]] = []
        try:
            for index, stage in enumerate(spec.stages):
                stage_spec = first_stage_spec(spec) if index == 0 else next_stage_spec(spec, index, done[-1][1].results_dir)
                searched = ", ".join(stage_spec.space)
                console.print(f"stage {index + 1}/{len(spec.stages)} {stage.name}: {stage_spec.plan.search.algorithm} search, "
                              f"{stage.trials} trials over {searched} -> {stage_spec.results_dir}", highlight=False)
                outcome = run_job(stage_spec, address=address, restart=restart, num_cpus=num_cpus, num_gpus=num_gpus,
                                  console=console, resume_changed_code=resume_changed_code, words=words)
                done.append((stage_spec, outcome))
                if outcome.exit_code != EXIT_OK:
                    break
        finally:
            if started_ray:
                ray.shutdown()
    return done
