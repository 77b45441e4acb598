"""Collects trial events into ``trials.parquet`` and ``iterations.parquet`` while a job runs.

Rows are keyed by (trial_id, training_iteration), so a result seen twice (a retried or restored
trial re-reporting an iteration) is written once. At most every ``flush_interval_s`` (and by
``flush(force=True)``) the trials file is replaced atomically and the iterations reported since
the last flush are written as one more part (``iteration_log``), so a flush costs what is new, a
crash loses at most the last interval, and a reader never sees a half-written file. The driver
keeps one record per trial, not the iteration history.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tune_jobs.core.values import is_better, is_finite_number, plain
from tune_jobs.results.files import TRIALS_FILE
from tune_jobs.results.iteration_log import IterationLog
from tune_jobs.results.schema import (
    COMPLETED,
    FAILED,
    ITERATION_COLUMNS,
    PAUSED,
    RUNNING,
    STOPPED,
    TRIAL_COLUMNS,
    best_column,
    config_column,
    config_of,
)
from tune_jobs.results.store import ResultsStore
from tune_jobs.results.tables import arrow_table


@dataclass
class TrialRecord:
    trial_id: str
    config: dict[str, Any]
    status: str = RUNNING
    error: str | None = None
    last: dict[str, Any] = field(default_factory=dict)
    best: float | None = None
    retries: int = 0  # restarts from the last checkpoint after a crash (a killed worker, a lost node)
    retried_after: str | None = None  # what the last of them followed
    traceback: str | None = None  # a failed trial's traceback (the end of it)
    gpu: float | None = None  # the GPUs it runs with (its latest attempt's), where it has any
    oom_retries: int = 0  # retries after CUDA ran out of memory, each with a larger share (gpu: auto)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _as_float(column: Any) -> Any:
    import pandas as pd

    return pd.to_numeric(column, errors="coerce").astype(float)


class ParquetSink:
    def __init__(self, directory: Path | str | ResultsStore, metric: str, mode: str, flush_interval_s: float = 1.0) -> None:
        self.store = directory if isinstance(directory, ResultsStore) else ResultsStore(str(directory))
        self.metric, self.mode = metric, mode
        self.flush_interval_s = flush_interval_s
        self.trials: dict[str, TrialRecord] = {}
        self.iterations = IterationLog(self.store)
        self._dirty = False
        self._last_flush = float("-inf")
        self._flush_gap_s = flush_interval_s

    # -- events ------------------------------------------------------------------------------
    def trial_started(self, trial_id: str, config: Mapping[str, Any]) -> None:
        """Also when a trial resumes: its config is the one it runs with now (PBT mutates it)."""
        record = self.trials.setdefault(trial_id, TrialRecord(trial_id, dict(config)))
        record.config = dict(config)
        record.status, record.error = RUNNING, None
        self._changed()

    def trial_result(self, trial_id: str, metrics: Mapping[str, Any]) -> None:
        """One reported iteration: ``training_iteration``, times and the trainable's metrics."""
        self._record_result(trial_id, metrics)
        self._changed()

    def _record_result(self, trial_id: str, metrics: Mapping[str, Any]) -> None:
        self.iterations.add(trial_id, dict(metrics))
        record = self.trials.setdefault(trial_id, TrialRecord(trial_id, {}))
        if int(metrics["training_iteration"]) >= int(record.last.get("training_iteration", 0)):
            record.last = dict(metrics)
        value = metrics.get(self.metric)
        if is_finite_number(value) and is_better(value, record.best, self.mode):
            record.best = float(value)

    def trial_retried(self, trial_id: str, reason: str) -> None:
        record = self.trials.setdefault(trial_id, TrialRecord(trial_id, {}))
        record.retries += 1
        record.retried_after = reason
        self._changed()

    def trial_gpu(self, trial_id: str, gpu: float, out_of_memory_retry: bool = False) -> None:
        record = self.trials.setdefault(trial_id, TrialRecord(trial_id, {}))
        record.gpu = gpu
        record.oom_retries += int(out_of_memory_retry)
        self._changed()

    def mark_paused(self, paused: set[str]) -> bool:
        """Running trials in ``paused`` become paused, paused ones not in it running again; True if any changed."""
        changed = False
        for record in self.trials.values():
            want = PAUSED if record.trial_id in paused else RUNNING
            if record.status in (RUNNING, PAUSED) and record.status != want:
                record.status, changed = want, True
        if changed:
            self._changed()
        return changed

    def trial_ended(self, trial_id: str, status: str, error: str | None = None, traceback: str | None = None) -> None:
        record = self.trials.setdefault(trial_id, TrialRecord(trial_id, {}))
        record.status, record.error, record.traceback = status, error, traceback
        self._changed()

    def stop_unfinished(self) -> bool:
        """Trials still running or paused when the time budget ran out end as stopped: Ray
        stopped them without a trial event. True if any changed."""
        unfinished = [record for record in self.trials.values() if record.status in (RUNNING, PAUSED)]
        for record in unfinished:
            record.status = STOPPED
        if unfinished:
            self._changed()
        return bool(unfinished)

    # -- queries -----------------------------------------------------------------------------
    def ended_trials(self) -> set[str]:
        return {record.trial_id for record in self.trials.values() if record.status not in (RUNNING, PAUSED)}

    def counts(self) -> dict[str, int]:
        counts = {RUNNING: 0, COMPLETED: 0, STOPPED: 0, FAILED: 0}  # and paused, once a trial pauses
        for record in self.trials.values():
            counts[record.status] = counts.get(record.status, 0) + 1
        return counts

    def last_iterations(self) -> dict[str, int]:
        """The last iteration recorded per trial."""
        return {t: int(r.last.get("training_iteration", 0)) for t, r in self.trials.items()}

    def best_trial(self) -> TrialRecord | None:
        scored = [r for r in self.trials.values() if r.best is not None and r.status != FAILED]
        if not scored:
            return None
        best = scored[0]
        for record in scored[1:]:  # a tie goes to the trial that sorts first, as in `tune-jobs results`
            if is_better(record.best, best.best, self.mode) or (  # type: ignore[arg-type]
                    record.best == best.best and record.trial_id < best.trial_id):
                best = record
        return best

    # -- files -------------------------------------------------------------------------------
    def trial_rows(self) -> list[dict[str, Any]]:
        rows = []
        for record in self.trials.values():
            row: dict[str, Any] = {
                "trial_id": record.trial_id,
                "status": record.status,
                "error": record.error,
                "iterations": int(record.last.get("training_iteration", 0)),
                "time_total_s": record.last.get("time_total_s"),
                "retries": record.retries,
                "retried_after": record.retried_after,
                "traceback": record.traceback,
            }
            if record.gpu is not None:
                row.update(gpu=record.gpu, oom_retries=record.oom_retries)
            row.update({config_column(key): value for key, value in record.config.items()})
            row.update({k: v for k, v in record.last.items() if k not in ITERATION_COLUMNS})
            row[best_column(self.metric)] = record.best
            rows.append(row)
        return rows

    def flush(self, force: bool = False) -> None:
        """At most every ``flush_interval_s``, and never more than a fifth of the driver's time:
        trials.parquet is rewritten whole, which at 10,000 trials takes a good part of a second."""
        now = time.monotonic()
        if not self._dirty or (not force and now - self._last_flush < self._flush_gap_s):
            return
        self.iterations.flush()  # rows first: a trials row never names iterations not yet on disk
        self.store.write_table(TRIALS_FILE, arrow_table(self.trial_rows(), TRIAL_COLUMNS))
        self._dirty, self._last_flush = False, now
        if self.flush_interval_s > 0:
            self._flush_gap_s = max(self.flush_interval_s, 4 * (time.monotonic() - now))

    def close(self) -> None:
        """The last flush, then the iteration parts compacted into one file (at the end of a job)."""
        self.flush(force=True)
        self.iterations.compact()

    def load_existing(self) -> None:
        """Pick up the files of an earlier run of this job (resume), so nothing is lost or doubled."""
        trial_rows = self.store.read_table(TRIALS_FILE).to_pylist() if self.store.exists(TRIALS_FILE) else []
        for row in trial_rows:
            record = self.trials.setdefault(row["trial_id"], TrialRecord(row["trial_id"], {}))
            record.config = config_of(row)
            # A trial that was running when the job stopped waits to be restarted: not running yet
            # (the progress line of a resumed job counted 3 running on 2 CPUs).
            record.status, record.error = PAUSED if row["status"] == RUNNING else row["status"], row["error"]
            record.retries, record.retried_after = int(row.get("retries") or 0), row.get("retried_after")
            record.traceback = row.get("traceback")
            if row.get("gpu") is not None:
                record.gpu, record.oom_retries = float(row["gpu"]), int(row.get("oom_retries") or 0)
        iterations = self.iterations.load().to_pandas()
        if len(iterations):  # each trial's last row and best value, not its history
            import numpy as np

            last_rows = iterations.groupby("trial_id", sort=False).tail(1)
            for row in last_rows.to_dict("records"):
                record = self.trials.setdefault(str(row["trial_id"]), TrialRecord(str(row["trial_id"]), {}))
                record.last = {k: plain(v) for k, v in row.items() if k != "trial_id" and not _missing(v)}
            if self.metric in iterations:
                values = _as_float(iterations[self.metric])
                finite = iterations.assign(_value=values)[np.isfinite(values)]
                best = finite.groupby("trial_id")["_value"].agg("max" if self.mode == "max" else "min")
                for trial_id, value in best.items():
                    self.trials[str(trial_id)].best = float(value)
        self._dirty = False

    def _changed(self) -> None:
        self._dirty = True
        self.flush()
