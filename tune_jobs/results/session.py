"""A running job's results, opened before its trials start and closed after them whatever
happens (an error, an interrupt): job.json (status, code changes, growth, counts, best trial), the
Parquet sink, and the outputs. Opening a resumed run keeps what earlier runs recorded and loads
their rows, so nothing reported before is lost or written twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tune_jobs.results.job_record import JobRecord, now_iso
from tune_jobs.results.listeners import ListenerContext, Listeners
from tune_jobs.results.sink import ParquetSink
from tune_jobs.results.store import ResultsStore


class JobSession:
    def __init__(self, store: ResultsStore, spec: dict[str, Any], spec_sha256: str, metric: str, mode: str,
                 mutated: tuple[str, ...] = ()) -> None:
        """``spec``: the resolved spec job.json records (and the outputs are told); ``mutated``: the
        hyperparameters the scheduler changes while a trial runs."""
        self.store, self.spec, self.spec_sha256, self.metric, self.mode = store, spec, spec_sha256, metric, mode
        self.mutated = mutated
        self.sink = ParquetSink(store, metric, mode)
        self.record: JobRecord | None = None
        self.outputs: Listeners | None = None

    def open(self, code: dict[str, str], resuming: bool, changed_from: dict[str, str] | None = None,
             growth: list[str] | None = None) -> None:
        """``code``: the trainable's fingerprint now; ``changed_from``: the one the results were
        written with, when it differs (a resume with changed code); ``growth``: what a grown job changed."""
        self.record = JobRecord(self.store, self.spec, self.spec_sha256)
        self.record.data["code"] = code
        if not resuming:
            return
        self.record.resume_from_file()
        if changed_from is not None:
            self.record.data["code_changes"] = [*self.record.data.get("code_changes", []),
                                                {"at": now_iso(), "from": changed_from["sha256"], "to": code["sha256"]}]
        if growth is not None:
            self.record.data["grown"] = [*self.record.data.get("grown", []), {"at": now_iso(), "changes": growth}]
        self.sink.load_existing()

    def note(self, **facts: Any) -> None:
        """Record facts about this run in job.json now (the cluster, the stack size)."""
        assert self.record is not None, "open the session first"
        self.record.save(**facts)

    def start_outputs(self) -> Listeners:
        """The registered outputs, told which rows each trial already reported (a resume)."""
        self.outputs = Listeners(ListenerContext(self.store, self.metric, self.mode, self.spec, self.sink.last_iterations(),
                                                      self.mutated))
        return self.outputs

    def close(self, status: str, before_record: Callable[[], None] | None = None) -> None:
        """Flush and close everything; job.json gets ``status``, the trial counts and the best trial
        (``before_record`` runs just before, with every row written)."""
        if self.outputs is not None:
            self.outputs.close(status)
        if self.record is None:
            return
        self.sink.close()
        if before_record is not None:
            before_record()
        best = self.sink.best_trial()
        facts: dict[str, Any] = {}
        if self.spec.get("objectives") or self.spec.get("constraints"):
            facts["pareto"] = self.pareto()
        self.record.save(status=status, end_time=now_iso(), trial_counts=self.sink.counts(),
                         best_trial=None if best is None else {"trial_id": best.trial_id, "config": best.config,
                                                               self.metric: best.best}, **facts)

    def pareto(self) -> list[dict[str, Any]]:
        """The Pareto set as job.json records it: each feasible, non-dominated trial's best values
        and config (``tune_jobs.results.pareto``)."""
        from tune_jobs.results.iteration_log import read_iterations
        from tune_jobs.results.pareto import objectives_of, pareto_set
        from tune_jobs.results.schema import FAILED

        objectives, constraints = objectives_of({"metric": self.metric, "mode": self.mode, **self.spec})
        failed = {t for t, record in self.sink.trials.items() if record.status == FAILED}
        found = pareto_set(read_iterations(self.store).to_pandas(), objectives, constraints, failed)
        for member in found:
            record = self.sink.trials.get(member["trial_id"])
            member["config"] = dict(record.config) if record is not None else {}
        return found
