"""Readers of a running job (the API, `tune-jobs results`) while the driver writes, merges and
compacts: never a failed read, never fewer rows than the read before, on disk and on S3."""

from __future__ import annotations

import threading

import pytest
from typer.testing import CliRunner

import tune_jobs
from tune_jobs.cli import app
from tune_jobs.results import iteration_log
from tune_jobs.results.files import JOB_FILE
from tune_jobs.results.lease import LEASE_FILE, JobLease
from tune_jobs.results.sink import COMPLETED, ParquetSink
from tune_jobs.results.store import ResultsStore

TRIALS = 4


def _job_record(store: ResultsStore) -> JobLease:
    """A running job's job.json, and the lease its driver holds while it runs."""
    lease = JobLease(store, "live")
    lease.acquire()
    store.write_json(JOB_FILE, {"status": "running", "spec": {"name": "live", "metric": "score", "mode": "max",
                                                              "space": {}}})
    return lease


def _write_a_job(store: ResultsStore, iterations: int, done: threading.Event) -> None:
    """Many small flushes, so merges (whose parts are deleted at once, RETIRE_AFTER_S=0 being the
    worst case for readers) and the final compaction all happen while the readers poll."""
    try:
        sink = ParquetSink(store, "score", "max", flush_interval_s=0)
        for trial in range(TRIALS):
            sink.trial_started(f"t{trial}", {"x": trial})
        for iteration in range(1, iterations + 1):
            for trial in range(TRIALS):
                sink.trial_result(f"t{trial}", {"training_iteration": iteration, "time_total_s": 0.1 * iteration,
                                                "timestamp": iteration, "score": iteration / iterations})
        for trial in range(TRIALS):
            sink.trial_ended(f"t{trial}", COMPLETED)
        sink.close()
    finally:
        done.set()


def _poll_while_written(location: str, iterations: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    monkeypatch.setattr(iteration_log, "MERGE_PARTS", 4)
    monkeypatch.setattr(iteration_log, "MERGE_ROWS", 60)
    monkeypatch.setattr(iteration_log, "RETIRE_AFTER_S", 0.0)
    store = ResultsStore(location)
    lease = _job_record(store)
    done = threading.Event()
    writer = threading.Thread(target=_write_a_job, args=(store, iterations, done))
    counts: list[int] = []
    writer.start()
    try:
        while not done.is_set():
            counts.append(len(tune_jobs.load(location).iterations))
        counts.append(len(tune_jobs.load(location).iterations))
    finally:
        writer.join()
        lease.release()
    return counts


def _assert_never_backwards(counts: list[int], iterations: int) -> None:
    assert len(counts) > 5, counts  # the readers really raced the writer
    assert all(a <= b for a, b in zip(counts, counts[1:], strict=False)), counts
    assert counts[-1] == TRIALS * iterations


def test_a_reader_polling_a_running_job_on_disk_never_fails_nor_goes_backwards(tmp_path, monkeypatch):
    counts = _poll_while_written(str(tmp_path / "live"), 150, monkeypatch)
    _assert_never_backwards(counts, 150)
    assert not (tmp_path / "live" / iteration_log.PARTS_DIR).exists()  # compacted at the end


@pytest.mark.integration
def test_a_reader_polling_a_running_job_on_s3_never_fails_nor_goes_backwards(s3_endpoint, monkeypatch):
    import pyarrow.fs as pafs

    from tests.conftest import S3_CREDENTIALS

    for key, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    filesystem = pafs.S3FileSystem(access_key="testing", secret_key="testing", region="us-east-1",
                                   endpoint_override=s3_endpoint, scheme="http", allow_bucket_creation=True)
    filesystem.create_dir("live-readers")
    counts = _poll_while_written(f"s3://live-readers/runs/live?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1",
                                 24, monkeypatch)  # moto answers slowly: fewer flushes, still several merges
    _assert_never_backwards(counts, 24)


def test_a_job_that_has_not_reported_yet_loads_as_running_with_empty_tables(tmp_path):
    store = ResultsStore(str(tmp_path / "starting"))
    lease = _job_record(store)
    result = tune_jobs.load(tmp_path / "starting")
    assert result.status == "running" and result.trials.empty and result.iterations.empty and result.best is None
    shown = CliRunner().invoke(app, ["results", str(tmp_path / "starting")])
    assert shown.exit_code == 0 and "no trial has reported yet" in shown.output
    lease.release()


def test_a_job_whose_driver_died_reads_as_interrupted_not_running(tmp_path):
    """A killed driver cannot write how the job ended: job.json stays `running`, its lease stale."""
    store = ResultsStore(str(tmp_path / "killed"))
    lease = _job_record(store)
    lease._stop.set()  # the driver stops beating, as a killed one does
    store.write_json(LEASE_FILE, {**store.read_json(LEASE_FILE), "pid": 2**22 + 12345})  # a process that is gone
    assert tune_jobs.load(tmp_path / "killed").status == "interrupted"
    shown = CliRunner().invoke(app, ["results", str(tmp_path / "killed")])
    assert "interrupted" in shown.output


def test_a_part_written_but_not_yet_listed_by_a_killed_writer_is_adopted_on_resume(tmp_path):
    sink = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    sink.trial_result("a", {"training_iteration": 1, "score": 0.1})
    manifest = ResultsStore(str(tmp_path)).read_json(iteration_log.MANIFEST_FILE)
    sink.trial_result("a", {"training_iteration": 2, "score": 0.2})
    ResultsStore(str(tmp_path)).write_json(iteration_log.MANIFEST_FILE, manifest)  # killed before listing part 2
    resumed = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    resumed.load_existing()
    assert resumed.trials["a"].best == 0.2
    assert len(iteration_log.read_iterations(ResultsStore(str(tmp_path)))) == 2  # listed again for readers


def test_a_staged_jobs_own_name_points_to_its_stages(tmp_path):
    for stage in ("coarse", "fine"):
        store = ResultsStore(str(tmp_path / f"job-{stage}"))
        store.make()
        store.write_json(JOB_FILE, {"status": "finished", "spec": {"name": f"job-{stage}", "metric": "s", "mode": "max"}})
    shown = CliRunner().invoke(app, ["results", str(tmp_path / "job")])
    assert shown.exit_code == 2
    assert " ".join(shown.output.split()) == (f"{tmp_path / 'job'}: a staged job; each stage has its results: "
                                              f"{tmp_path / 'job-coarse'}, {tmp_path / 'job-fine'}")
