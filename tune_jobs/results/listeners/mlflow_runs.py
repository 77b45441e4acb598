"""A job in MLflow: one parent run per job, one child run per trial (``mlflow.parentRunId``), the
trial's config as params and every reported iteration as metrics at ``step`` = training_iteration.

Written from the driver only (an SQLite store allows one writer), batched (one ``log_batch`` per
trial every couple of seconds, not one call per number). What MLflow already holds is read back
when a job is opened, so a resumed job continues its runs and nothing is logged twice: a trial's
run is found by its tag, its last step by its latest ``training_iteration``; rows the Parquet files
have and MLflow missed (the driver died between the two) are filled in from the files.
Hyperparameters that change during a trial (PBT's mutations: ``mutated``) are metrics per step,
``config/<key>``, not params: MLflow params cannot change ("Changing param values is not allowed").

The parent run is the job's results directory and its first start (job.json ``start_time``): a
``--restart`` is a new parent. MLflow is imported only when a spec asks for it.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tune_jobs.core.values import is_finite_number, plain
from tune_jobs.results.files import JOB_FILE, SCHEDULER_EVENTS_FILE, TRIALS_FILE
from tune_jobs.results.listeners.base import LISTENERS, ListenerContext
from tune_jobs.results.schema import COMPLETED, CONFIG_PREFIX, FAILED, STOPPED, TRIAL_ID, config_of
from tune_jobs.results.store import ResultsStore

ENDED = (COMPLETED, STOPPED, FAILED)
STEP = "training_iteration"
NOT_LOGGED = frozenset({TRIAL_ID, "timestamp"})
JOB_TAG, START_TAG, TRIAL_TAG, STATUS_TAG = "tune_jobs.results_dir", "tune_jobs.start_time", "tune_jobs.trial_id", "tune_jobs.status"
PARENT_TAG = "mlflow.parentRunId"
RUN_STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
FLUSH_INTERVAL_S = 2.0
BATCH = 1000  # MLflow's limit of metrics per log_batch
PARAMS_BATCH = 100
MAX_PARAM_CHARS = 6000
_NAME = re.compile(r"[^\w\-. /:]")  # what MLflow accepts in a key


def key_of(name: str) -> str:
    return _NAME.sub("_", name)


def default_artifact_location(tracking_uri: str | None, experiment: str) -> str | None:
    """Beside an SQLite store's file (``<dir>/mlartifacts/<experiment>``), so a job's files do not
    land in whatever directory the driver started in; elsewhere the server's default."""
    if not tracking_uri or not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri.removeprefix("sqlite:///")).expanduser().absolute()
    return (database.parent / "mlartifacts" / key_of(experiment).replace("/", "_")).as_uri()


def shown_uri(tracking_uri: str | None) -> str:
    """The URI without any user or password, for messages."""
    if not tracking_uri:
        return "MLflow's default tracking URI"
    parts = urlsplit(tracking_uri)
    return tracking_uri if not parts.username and not parts.password else tracking_uri.replace(parts.netloc, parts.hostname or "")


@dataclass(frozen=True)
class JobIdentity:
    name: str
    directory: str  # the results directory (a path or a URI)
    start_time: str  # job.json's: the same across resumes, new on --restart
    metric: str
    mode: str
    settings: Mapping[str, Any]  # the resolved spec


class MlflowRuns:
    def __init__(self, tracking_uri: str | None, experiment: str, job: JobIdentity, mutated: Sequence[str] = (),
                 live: bool = False) -> None:
        """``live``: the job is running now (its parent run is marked running again on a resume)."""
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri)
        self.job = job
        self.mutated = frozenset(mutated)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found is not None else self.client.create_experiment(
            experiment, artifact_location=default_artifact_location(tracking_uri, experiment))
        self.parent = self._parent(live)
        self.runs: dict[str, str] = {}  # trial id -> run id
        self.steps: dict[str, int] = {}  # the last step each trial's run holds
        self.statuses: dict[str, str] = {}  # the trial status each ended run was tagged with
        self.artifacts: set[str] = set()  # trials whose checkpoint is attached
        for run in self._children():
            trial_id = run.data.tags.get(TRIAL_TAG)
            if trial_id is None:
                continue
            self.runs[trial_id] = run.info.run_id
            if STEP in run.data.metrics:
                self.steps[trial_id] = int(run.data.metrics[STEP])
            if STATUS_TAG in run.data.tags and run.info.status != "RUNNING":
                self.statuses[trial_id] = run.data.tags[STATUS_TAG]
            if run.data.tags.get("tune_jobs.checkpoint"):
                self.artifacts.add(trial_id)
        self.pending: dict[str, list[Any]] = {}
        self.last_flush = time.monotonic()

    def _parent(self, live: bool) -> str:
        job = self.job
        query = f"tags.`{JOB_TAG}` = '{_quoted(job.directory)}' and tags.`{START_TAG}` = '{_quoted(job.start_time)}'"
        for run in self.client.search_runs([self.experiment_id], query, max_results=1):
            if live and run.info.status != "RUNNING":
                self.client.update_run(run.info.run_id, status="RUNNING")
            return str(run.info.run_id)
        from mlflow.entities import Param

        run = self.client.create_run(self.experiment_id, run_name=job.name, tags={JOB_TAG: job.directory, START_TAG: job.start_time})
        settings = job.settings
        shown = {"trainable": settings.get("trainable"), "metric": job.metric, "mode": job.mode,
                 "search": (settings.get("search") or {}).get("algorithm"),
                 "scheduler": (settings.get("scheduler") or {}).get("type"),
                 "num_samples": (settings.get("search") or {}).get("num_samples"),
                 "searched": ", ".join(settings.get("space") or {})}
        self.client.log_batch(run.info.run_id, params=[Param(k, _param(v)) for k, v in shown.items() if v is not None])
        self.client.log_dict(run.info.run_id, dict(settings), "spec.json")
        return str(run.info.run_id)

    def _children(self) -> Iterable[Any]:
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], f"tags.`{PARENT_TAG}` = '{self.parent}'",
                                           max_results=1000, page_token=token)
            yield from page
            token = page.token
            if not token:
                return

    def _run(self, trial_id: str, config: Mapping[str, Any]) -> str:
        run_id = self.runs.get(trial_id)
        if run_id is not None:
            return run_id
        from mlflow.entities import Param

        run = self.client.create_run(self.experiment_id, run_name=trial_id,
                                     tags={PARENT_TAG: self.parent, TRIAL_TAG: trial_id, JOB_TAG: self.job.directory})
        run_id = self.runs[trial_id] = str(run.info.run_id)
        params = [Param(key_of(k), _param(v)) for k, v in config.items() if k not in self.mutated]
        for start in range(0, len(params), PARAMS_BATCH):
            self.client.log_batch(run_id, params=params[start:start + PARAMS_BATCH])
        return run_id

    def result(self, trial_id: str, config: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        """One reported iteration; a step the run already holds is skipped."""
        from mlflow.entities import Metric

        step = int(metrics[STEP])
        if step <= self.steps.get(trial_id, 0):
            return
        run_id = self._run(trial_id, config)
        if trial_id in self.statuses:  # ended earlier and going on again (a resumed or retried trial)
            del self.statuses[trial_id]
            self.client.update_run(run_id, status="RUNNING")
        stamp = metrics.get("timestamp")
        at = int((float(stamp) if is_finite_number(stamp) else time.time()) * 1000)
        batch = self.pending.setdefault(trial_id, [])
        batch += [Metric(key_of(k), float(v), at, step) for k, v in metrics.items() if k not in NOT_LOGGED and is_finite_number(v)]
        batch += [Metric(key_of(f"{CONFIG_PREFIX}{k}"), float(config[k]), at, step)
                  for k in sorted(self.mutated) if is_finite_number(config.get(k))]
        self.steps[trial_id] = step
        if time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def ended(self, trial_id: str, status: str, config: Mapping[str, Any] | None = None, error: str | None = None) -> None:
        """The trial ended (``config``: for a trial that failed before it reported anything)."""
        if self.statuses.get(trial_id) == status or (trial_id not in self.runs and config is None):
            return
        run_id = self._run(trial_id, config or {})
        self.flush(trial_id)
        if error:
            self.client.set_tag(run_id, "tune_jobs.error", error[:MAX_PARAM_CHARS])
        self.client.set_tag(run_id, STATUS_TAG, status)
        self.client.set_terminated(run_id, "FAILED" if status == FAILED else "FINISHED")
        self.statuses[trial_id] = status

    def flush(self, trial_id: str | None = None) -> None:
        for trial in [trial_id] if trial_id is not None else list(self.pending):
            metrics = self.pending.pop(trial, [])
            for start in range(0, len(metrics), BATCH):
                self.client.log_batch(self.runs[trial], metrics=metrics[start:start + BATCH])
        if trial_id is None:
            self.last_flush = time.monotonic()

    def sync(self, store: ResultsStore) -> int:
        """Log what the job's Parquet files hold and MLflow does not (rows, trial endings); the
        number of rows logged. Mutated hyperparameters per step come from the scheduler's records."""
        import pandas as pd

        from tune_jobs.results.iteration_log import read_iterations

        if not store.exists(TRIALS_FILE):
            return 0
        trials = store.read_table(TRIALS_FILE).to_pandas()
        iterations = read_iterations(store).to_pandas()
        events = store.read_table(SCHEDULER_EVENTS_FILE).to_pandas() if store.exists(SCHEDULER_EVENTS_FILE) else pd.DataFrame()
        by_trial = {trial_id: rows.sort_values(STEP) for trial_id, rows in iterations.groupby(TRIAL_ID)} if len(iterations) else {}
        logged = 0
        for row in trials.to_dict("records"):
            trial_id = str(row[TRIAL_ID])
            config = {k: plain(v) for k, v in config_of(row).items()}
            changes = _changes(events, trial_id, self.mutated)
            history = by_trial.get(trial_id)
            for metrics in ([] if history is None else history.to_dict("records")):
                if int(metrics[STEP]) <= self.steps.get(trial_id, 0):
                    continue
                self.result(trial_id, _config_at(config, changes, int(metrics[STEP])), metrics)
                logged += 1
            if row["status"] in ENDED:
                error = row.get("error")
                self.ended(trial_id, str(row["status"]), config, error if isinstance(error, str) else None)
        self.flush()
        return logged

    def finish(self, status: str, best: Mapping[str, Any] | None = None) -> None:
        """The job's run ends: ``status`` as job.json says it (finished, failed, interrupted)."""
        self.flush()
        if best:
            self.client.set_tag(self.parent, "tune_jobs.best_trial_id", str(best.get("trial_id")))
            value = best.get(self.job.metric)
            if is_finite_number(value):
                self.client.log_metric(self.parent, f"best_{key_of(self.job.metric)}", float(value))
        self.client.set_tag(self.parent, STATUS_TAG, status)
        if status in RUN_STATUS:  # not while the job still runs (an export during the run)
            self.client.set_terminated(self.parent, RUN_STATUS[status])

    def attach(self, trial_id: str | None, path: str, artifact_path: str | None = None) -> None:
        """A file or directory as an artifact of the trial's run (None: the job's parent run)."""
        run_id = self.parent if trial_id is None else self.runs[trial_id]
        if Path(path).is_dir():
            self.client.log_artifacts(run_id, path, artifact_path)
        else:
            self.client.log_artifact(run_id, path, artifact_path)
        if trial_id is not None:
            self.client.set_tag(run_id, "tune_jobs.checkpoint", artifact_path or Path(path).name)
            self.artifacts.add(trial_id)


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _param(value: Any) -> str:
    return str(value)[:MAX_PARAM_CHARS]


def _changes(events: Any, trial_id: str, mutated: frozenset[str]) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    """The trial's PBT mutations in order: (iteration, values before, values after)."""
    if not mutated or events.empty or "event" not in events:
        return []
    mine = events[(events[TRIAL_ID] == trial_id) & (events["event"] == "exploited")].sort_values(STEP)
    return [(int(event[STEP]), {k: plain(event.get(f"before/{k}")) for k in mutated},
             {k: plain(event.get(f"after/{k}")) for k in mutated}) for event in mine.to_dict("records")]


def _config_at(config: dict[str, Any], changes: list[tuple[int, dict[str, Any], dict[str, Any]]], step: int) -> dict[str, Any]:
    """The config a trial ran ``step`` with: trials.parquet has its last one; the values before the
    first mutation, and after each one from the iteration that followed it."""
    if not changes:
        return config
    values = dict(changes[0][1])
    for at, _, after in changes:
        if at < step:
            values = after
    return {**config, **{k: v for k, v in values.items() if v is not None}}


class MlflowListener:
    """The live feed: rows as they come, then at the end what the files hold and MLflow missed.

    MLflow is written by one thread of the driver, fed through a queue: the driver's loop pays a
    queue put per row, not an MLflow round trip (creating a trial's run takes tens of
    milliseconds on SQLite), and SQLite still sees one writer. ``close`` waits until the queue
    is drained, so nothing reported is lost when the job ends."""

    def __init__(self, open_runs: Callable[[], MlflowRuns], store: ResultsStore) -> None:
        self.store = store
        self.runs: MlflowRuns | None = None
        self.broken: str | None = None
        self.queue: queue.SimpleQueue[Callable[[], Any] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._drain, name="tune-jobs-mlflow", daemon=True)
        self.thread.start()
        self.queue.put(lambda: self._open(open_runs))

    def _open(self, open_runs: Callable[[], MlflowRuns]) -> None:
        self.runs = open_runs()
        if self.runs.steps:  # a resumed job: fill in what an earlier run logged to Parquet only
            self.runs.sync(self.store)

    def _drain(self) -> None:
        while (step := self.queue.get()) is not None:
            if self.broken is not None:
                continue
            try:
                step()
            except Exception as error:  # noqa: BLE001 (any tracking-server or database error)
                self._give_up(error)

    def _give_up(self, error: Exception) -> None:
        """An MLflow error does not stop the job: the feed stops, says so once, and `tune-jobs
        export mlflow` fills in afterwards (it logs only what is missing)."""
        import warnings

        self.broken = str(error).splitlines()[0] if str(error) else type(error).__name__
        warnings.warn(f"outputs.mlflow: logging stopped: {self.broken}; the job goes on, and "
                      f"`tune-jobs export mlflow {self.store}` adds what is missing", stacklevel=2)

    def trial_result(self, trial_id: str, config: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        config, metrics = dict(config), dict(metrics)
        self.queue.put(lambda: self._opened().result(trial_id, config, metrics))

    def trial_ended(self, trial_id: str, status: str) -> None:
        self.queue.put(lambda: self._opened().ended(trial_id, status))

    def _opened(self) -> MlflowRuns:
        assert self.runs is not None, "opened first: the queue runs in order"
        return self.runs

    def close(self, status: str = "finished") -> None:
        def end() -> None:
            runs = self._opened()
            runs.flush()
            runs.sync(self.store)
            runs.finish(status)

        self.queue.put(end)
        self.queue.put(None)
        self.thread.join()


def mlflow_runs(store: ResultsStore, record: Mapping[str, Any], mutated: Sequence[str] = (), tracking_uri: str | None = None,
                experiment: str | None = None, live: bool = False) -> MlflowRuns:
    """The MLflow side of a job from its job.json ``record``; the URI and experiment default to the
    spec's ``outputs.mlflow``, then to MLflow's own default and the job's name."""
    settings = dict(record["spec"])
    chosen = (settings.get("outputs") or {}).get("mlflow") or {}
    job = JobIdentity(str(settings["name"]), str(store), str(record.get("start_time", "")), str(settings["metric"]),
                      str(settings.get("mode") or "max"), settings)
    return MlflowRuns(tracking_uri or chosen.get("tracking_uri"), experiment or chosen.get("experiment") or job.name, job, mutated, live)


@LISTENERS.register("mlflow")
def mlflow_listener(context: ListenerContext) -> MlflowListener | None:
    if not (context.settings.get("outputs") or {}).get("mlflow"):
        return None
    record = context.store.read_json(JOB_FILE) if context.store.exists(JOB_FILE) else {}
    return MlflowListener(lambda: mlflow_runs(context.store, {**record, "spec": dict(context.settings)}, context.mutated,
                                              live=True), context.store)
