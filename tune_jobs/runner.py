"""Runs a validated job on Ray Tune: embedded local Ray, or an existing cluster (``address``).

It puts a run together: the lease (one driver per job), whether to resume or grow (``rerun``),
the results (the Parquet sink, job.json, the listeners, scheduler state), the interrupts, and
the outcome. Ray is behind two seams, ``ray_tune.cluster`` (start, join, stop) and
``ray_tune.tuner`` (the plan as a Tuner, fitted): this module imports no Ray.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console

from tune_jobs.errors import UserError
from tune_jobs.interrupts import INTERRUPTS
from tune_jobs.progress import Progress
from tune_jobs.ray_tune import cluster, tuner
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
from tune_jobs.results.lease import JobLease
from tune_jobs.results.listeners.tensorboard import TENSORBOARD_DIR
from tune_jobs.results.schema import FAILED, RUNNING, SUCCEEDED
from tune_jobs.results.session import JobSession
from tune_jobs.results.sink import ParquetSink, TrialRecord
from tune_jobs.results.store import ResultsStore
from tune_jobs.schedulers import STATES, save_state
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


def _prepare_results_dir(store: ResultsStore, restart: bool) -> bool:
    """Make the job's results directory ready; True when an earlier run is to be resumed."""
    try:
        existing = [name for name in (JOB_FILE, TRIALS_FILE, ITERATIONS_FILE, ITERATION_PARTS, EXPERIMENT_DIR, TENSORBOARD_DIR,
                                      SCHEDULER_STATE_FILE, SCHEDULER_EVENTS_FILE) if store.exists(name)]
    except OSError as error:  # an object store that is unreachable or refuses us
        raise UserError([f"storage: cannot use {store}: {str(error).splitlines()[0]}"]) from None
    # The spec and the code were checked before Ray started (_check_identity).
    if existing and not restart and tuner.can_resume(store):
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
    cluster.quiet_ray_tune()
    lease = JobLease(ResultsStore(spec.results_dir), spec.name)
    try:
        lease.acquire()  # one driver per job, before Ray starts
    except OSError as error:
        raise UserError([f"storage: cannot use {spec.results_dir}: {str(error).splitlines()[0]}"]) from None
    try:
        identity = check_rerun(spec, ResultsStore(spec.results_dir), restart, resume_changed_code, words)
        if identity.finished:
            console.print(f"job {spec.name} finished earlier; its results ({words.restart} runs it again):", highlight=False)
            return _finished_outcome(spec)
        with INTERRUPTS.catching():  # before Ray starts: Ctrl-C during ray.init is an interrupt too
            started_ray = cluster.start_ray(address, num_cpus, num_gpus)
            with INTERRUPTS.catching():  # again: ray.init replaced our SIGTERM handler with its own
                return _run_started(spec, restart, started_ray, console, identity, words)
    finally:
        lease.release()


def _run_started(spec: JobSpec, restart: bool, started_ray: bool, console: Console, identity: Rerun,
                 words: RerunWords) -> JobOutcome:
    directory = spec.results_dir
    store = ResultsStore(directory)
    session = JobSession(store, spec.resolved(), spec.sha256(), spec.metric, spec.plan.mode,
                         tuple(spec.plan.scheduler.mutated_keys(spec.space)))
    status = "failed"

    def save_scheduler_state() -> None:
        if directory in STATES:
            save_state(store, STATES.pop(directory))

    try:
        resuming = _prepare_results_dir(store, restart)
        STATES.pop(directory, None)
        session.open(identity.code, resuming, identity.changed_from,
                     identity.growth.changes if identity.growth is not None else None)
        if resuming:
            if identity.changed_from is not None:
                console.print(f"resuming with changed code: {identity.code['what']} (recorded in job.json)", highlight=False)
            if identity.growth is not None:
                console.print(f"growing job {spec.name}: {identity.growth.describe()} (recorded in job.json)", highlight=False)
            else:
                console.print(f"resuming job {spec.name} from {directory} ({words.restart} starts over)", highlight=False)
            if store.exists(SCHEDULER_STATE_FILE):
                state = spec.plan.scheduler.state_from_json(store.read_json(SCHEDULER_STATE_FILE))
                if state is not None:
                    STATES[directory] = state
        fuse = tuner.stack_size(spec, store, resuming, console)
        session.note(cluster_resources=cluster.cluster_resources(), stack_size=fuse)
        with Progress(console, spec.metric, total=spec.planned_trials) as progress:
            tuner.fit(spec, store, session.sink, progress, session.start_outputs(), fuse, resuming,
                      grow=identity.growth is not None, resume_errored=not identity.ended_before)
        if INTERRUPTS.requested:  # Tune stopped gracefully: its state is saved, the rerun resumes
            raise KeyboardInterrupt
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        session.close(status, before_record=save_scheduler_state)
        if started_ray:
            cluster.stop_ray()
    return _outcome(status, session.sink, directory)


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
    from tune_jobs.stages import first_stage_spec, next_stage_spec

    assert spec.stages is not None
    console = console or Console(stderr=True)
    with INTERRUPTS.catching():  # between stages too; each stage's run_job installs it again after Ray's
        started_ray = cluster.start_ray(address, num_cpus, num_gpus)
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
                cluster.stop_ray()
    return done
