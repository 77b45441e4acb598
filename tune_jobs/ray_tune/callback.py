"""Ray Tune events -> the Parquet sink, the job's other outputs (listeners) and the progress line
(the only Ray part of results)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial

from trainables.fused.run import MEMBERS, member_configs
from trainables.ray_adapter import ERROR_KEY
from tune_jobs.gpu_sizing import is_out_of_memory
from tune_jobs.progress import Progress
from tune_jobs.ray_tune import gpu_auto
from tune_jobs.ray_tune.fusion import member_endings, member_rows
from tune_jobs.ray_tune.growth import RAN_OUT
from tune_jobs.results.listeners import Listeners
from tune_jobs.results.schema import COMPLETED, FAILED, STOPPED
from tune_jobs.results.sink import ParquetSink
from tune_jobs.schedulers import STATES, SchedulerSpec, paused_trials, save_state

REFRESH_S = 0.2  # seconds between progress updates, at most

# Keys Ray adds to every result that are not the trainable's metrics (time_total_s, timestamp and
# training_iteration are kept: they index iterations.parquet).
_RAY_KEYS = frozenset({
    "done", "time_this_iter_s", "date", "hostname", "node_ip", "pid", "config", "experiment_tag",
    "checkpoint_dir_name", "should_checkpoint", "iterations_since_restore", "time_since_restore",
    "timesteps_since_restore", "timesteps_total", "episodes_total", "trial_id", "experiment_id",
    "__duplicate__", "__trial_info__",
})


def trial_error_line(trial: Trial) -> str:
    """The last line of the trial's traceback, the exception without its module path:
    ``ValueError: boom`` rather than a screenful of Ray frames."""
    try:
        with open(trial.error_file) as handle:
            lines = [line.strip() for line in handle if line.strip()]
    except (OSError, TypeError):
        return "trial failed (no error recorded)"
    if not lines:
        return "trial failed (no error recorded)"
    return _QUALIFIED_EXCEPTION.sub(r"\1", lines[-1])


ENDED_STATUSES = (COMPLETED, STOPPED, FAILED)
_QUALIFIED_EXCEPTION = re.compile(r"^(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*:)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
TRACEBACK_CHARS = 8000  # the end of a trial's traceback kept in trials.parquet


def trial_traceback(trial: Trial) -> str | None:
    """The trial's traceback as Ray wrote it to its error file, without terminal colours."""
    try:
        with open(trial.error_file) as handle:
            text = _ANSI.sub("", handle.read()).strip()
    except (OSError, TypeError):
        return None
    return text[-TRACEBACK_CHARS:] or None


def error_signature(error: BaseException | None) -> str | None:
    """Where and how an attempt failed: the innermost frame and the exception line. A lost
    worker or node says different things (pids, addresses) each time, so it never repeats."""
    if error is None:
        return None
    text = _ANSI.sub("", str(error)).strip()
    frames = _FRAME.findall(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{frames[-1] if frames else ''}|{lines[-1] if lines else type(error).__name__}"


# Trials whose last two attempts failed the same way, and each trial's last failure (this driver).
REPEATED_ERRORS: set[str] = set()
_LAST_ERRORS: dict[str, str] = {}


def stop_retrying_repeated_errors() -> None:
    """Ray retries a failed trial up to ``failure.max_failures`` times whatever failed. A trial
    whose attempt fails again with the same exception at the same place (a bug in the training
    code, not a lost node) is not retried again. Ray asks ``Trial.should_recover()`` right after
    ``Trial.handle_error``, so a wrapper around the latter lowers that trial's ``max_failures``
    to its failures so far (private: ``run_metadata.num_failures``; tests/test_ray_noise.py
    fails when Ray changes it)."""
    if getattr(Trial.handle_error, "stops_repeated_errors", False):
        return
    original = Trial.handle_error

    def handle_error(self: Trial, exc: Any = None) -> None:
        original(self, exc)
        signature = error_signature(exc)
        # Out of memory on a share of a GPU under gpu: auto is retried with more: not the same attempt again.
        growing = is_out_of_memory(signature) and bool(gpu_auto.SIZERS) and (gpu_auto.trial_gpu(self) or 1.0) < 1
        if signature is not None and not growing and _LAST_ERRORS.get(self.trial_id) == signature:
            self.max_failures = self.run_metadata.num_failures - 1
            REPEATED_ERRORS.add(self.trial_id)
        if signature is not None:
            _LAST_ERRORS[self.trial_id] = signature

    handle_error.stops_repeated_errors = True  # type: ignore[attr-defined]
    Trial.handle_error = handle_error  # type: ignore[method-assign]


class _WithoutTrialFailureDumps(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Trial task failed")


def quiet_trial_failure_dumps() -> None:
    """Ray logs every failed attempt with its whole traceback (37 lines, with terminal colours,
    in a log too); tune-jobs prints one line per failure and keeps the traceback in the trial's
    error file and its row of trials.parquet."""
    logger = logging.getLogger("ray.tune.execution.tune_controller")
    if not any(isinstance(f, _WithoutTrialFailureDumps) for f in logger.filters):
        logger.addFilter(_WithoutTrialFailureDumps())


def fall_back_to_a_checkpoint_on_storage(trial: Trial) -> None:
    """A killed driver can leave an experiment snapshot naming a checkpoint that Ray deleted just
    after the snapshot (``num_to_keep`` pruning; ray#27790): restoring it fails the trial with
    "does not exist on storage anymore". Point the trial at its newest checkpoint that does exist
    (or none: it starts over); the iterations it reports again replace the recorded ones."""
    import pyarrow.fs as pafs

    from tune_jobs.ray_tune.compat import keep_trial_checkpoints, trial_checkpoints

    manager, results, latest = trial_checkpoints(trial)
    if manager is None or latest is None:
        return

    def exists(result: Any) -> bool:
        checkpoint = result.checkpoint
        return checkpoint.filesystem.get_file_info(checkpoint.path).type != pafs.FileType.NotFound

    if exists(latest):
        return
    kept = [result for result in results if exists(result)]
    keep_trial_checkpoints(manager, kept, max(kept, key=lambda r: r.metrics.get("training_iteration", 0), default=None))


# The live sink, progress line and outputs of each running job, by job key (its results
# directory). Ray pickles the run config, callbacks included, and unpickles it on Tuner.restore;
# the callback therefore holds only its key and finds the live objects here.
_ACTIVE: dict[str, tuple[ParquetSink, Progress, Listeners | None, Callable[[], None] | None]] = {}


def attach(job_key: str, sink: ParquetSink, progress: Progress, outputs: Listeners | None = None,
           snapshot: Callable[[], None] | None = None) -> None:
    """``snapshot``: saves what else a resume needs (a fused job's member scheduler), with each of
    Ray's experiment snapshots."""
    _ACTIVE[job_key] = (sink, progress, outputs, snapshot)


def detach(job_key: str) -> None:
    _ACTIVE.pop(job_key, None)


class ResultsCallback(Callback):
    def __init__(self, job_key: str, scheduler: SchedulerSpec) -> None:
        self.job_key, self.scheduler = job_key, scheduler
        self._checkpoint_since_snapshot = False
        self._refreshed_at = float("-inf")

    @property
    def sink(self) -> ParquetSink:
        return _ACTIVE[self.job_key][0]

    @property
    def progress(self) -> Progress:
        return _ACTIVE[self.job_key][1]

    @property
    def outputs(self) -> Listeners | None:
        return _ACTIVE[self.job_key][2]

    def _refresh(self, force: bool = False) -> None:
        """The progress line, at most every ``REFRESH_S``: counting the trials and finding the best
        walk every trial, which on every event made a 10,000-trial job slow down as it grew."""
        now = time.monotonic()
        if not force and now - self._refreshed_at < REFRESH_S:
            return
        self._refreshed_at = now
        self.progress.update(self.sink.counts(), self.sink.best_trial(), force=force)

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        gpu = gpu_auto.trial_gpu(trial)
        for trial_id, config in self._members(trial).items():
            self.sink.trial_started(trial_id, config)
            if gpu:
                self.sink.trial_gpu(trial_id, gpu)
        self._refresh()

    def _members(self, trial: Trial, running_only: bool = True) -> dict[str, dict[str, Any]]:
        """The job's trials that ``trial`` runs, by id, with their configs: itself, or the members of
        a stack (``execution.fuse``) that have not ended (a resumed stack does not rerun those)."""
        if MEMBERS not in trial.config:
            return {trial.trial_id: trial.config}
        return {trial_id: config for trial_id, config in member_configs(trial.config).items()
                if not (running_only and trial_id in self.sink.trials and self.sink.trials[trial_id].status in ENDED_STATUSES)}

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any) -> None:
        metrics = {k: v for k, v in result.items() if k not in _RAY_KEYS and k != ERROR_KEY}
        rows = {trial.trial_id: metrics} if MEMBERS not in result else member_rows(result)
        configs = self._members(trial, running_only=False)
        if MEMBERS not in result and isinstance(result.get("config"), dict):
            configs = {trial.trial_id: result["config"]}  # what this result trained with: PBT changes trial.config first
        resized = [gpu_auto.observe(self.job_key, row) for row in rows.values()]  # every row measured, not the first only
        if any(resized):
            sizer = gpu_auto.SIZERS[self.job_key]
            self.progress.note(f"gpu auto: trials from now on get {sizer.fraction():g} of a GPU ({sizer.per_gpu()} per GPU, "
                               f"{sizer.need_mb:,.0f} MB needed of {sizer.device_mb:,.0f} MB)")
        for trial_id, row in rows.items():
            self.sink.trial_result(trial_id, row)
            if self.outputs is not None:
                self.outputs.trial_result(trial_id, configs[trial_id], row)
        for trial_id, (status, error) in member_endings(result, self.scheduler.trial_status).items():
            self._ended(trial_id, status, error)
        self._refresh()

    def _ended(self, trial_id: str, status: str, error: str | None) -> None:
        self.sink.trial_ended(trial_id, status, error)
        if self.outputs is not None:
            self.outputs.trial_ended(trial_id, status)

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        last = trial.last_result or {}
        if last.get(ERROR_KEY):
            status, error = FAILED, str(last[ERROR_KEY])
        elif not last.get("done"):  # ended by Ray (the scheduler, the time budget) before the trainable returned
            status, error = STOPPED, None
        else:
            status, error = self.scheduler.trial_status(int(last.get("training_iteration", 0))), None
        for trial_id in self._members(trial):  # a stack's members that are still running end with it
            self._ended(trial_id, STOPPED if trial_id != trial.trial_id and status != FAILED else status, error)
        self._refresh()

    def on_step_begin(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        if not getattr(self, "_checked_checkpoints", False):  # once per run, before any trial restores
            self._checked_checkpoints = True
            for trial in trials:
                fall_back_to_a_checkpoint_on_storage(trial)

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        """Trials the scheduler paused (or resumed) since the last step: Ray has no event for it."""
        paused = paused_trials(self.job_key)
        if (paused or getattr(self, "_had_paused", False)) and self.sink.mark_paused(paused):
            self._refresh()
        self._had_paused = bool(paused)

    def on_trial_recover(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        line = trial_error_line(trial)
        share = gpu_auto.retry_with_more(self.job_key, trial) if is_out_of_memory(line) else None
        for trial_id in self._members(trial):
            self.sink.trial_retried(trial_id, line)
            if share is not None:
                self.sink.trial_gpu(trial_id, share, out_of_memory_retry=True)
        if share is not None:
            line += f" (retried with {share:g} of a GPU)"
        attempts = f" ({trial.run_metadata.num_failures} of {trial.max_failures})" if trial.max_failures >= 0 else ""
        self.progress.note(f"trial {trial.trial_id} failed, retried from its last checkpoint{attempts}: {line}")
        self._refresh()

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        line, traceback = trial_error_line(trial), trial_traceback(trial)
        for trial_id in self._members(trial):
            self.sink.trial_ended(trial_id, FAILED, line, traceback=traceback)
        repeated = " (the same error as its previous attempt: not retried again)" if trial.trial_id in REPEATED_ERRORS else ""
        self.progress.note(f"trial {trial.trial_id} failed{repeated}: {line}")
        self._refresh()

    def on_checkpoint(self, iteration: int, trials: list[Trial], trial: Trial, checkpoint: Any, **info: Any) -> None:
        self._checkpoint_since_snapshot = True

    def get_state(self) -> dict[str, Any] | None:
        """Ray calls this while it saves the experiment snapshot that a resume restarts from. When
        a checkpoint came in since the last one, flush first, so no checkpoint in the snapshot is
        ahead of the Parquet files (a resumed trial goes on after its checkpoint and would never
        report the unflushed rows again). Without checkpoints a trial restarts from scratch and
        reports everything again: no flush needed."""
        if getattr(self, "_checkpoint_since_snapshot", False) and self.job_key in _ACTIVE:
            self.sink.flush(force=True)
            self._checkpoint_since_snapshot = False
        state = STATES.get(self.job_key)
        if state is not None and self.job_key in _ACTIVE:  # rungs and promotions, as of this snapshot
            save_state(self.sink.store, state)
        snapshot = _ACTIVE[self.job_key][3] if self.job_key in _ACTIVE else None
        if snapshot is not None:
            snapshot()
        return None

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        if self.job_key in RAN_OUT:  # Ray stopped the running trials without a trial event
            self.sink.stop_unfinished()
        self.sink.flush(force=True)
        self._refresh(force=True)
