import os

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tune_jobs.results import files
from tune_jobs.results.iteration_log import read_iterations
from tune_jobs.results.sink import COMPLETED, FAILED, STOPPED, ParquetSink
from tune_jobs.results.store import ResultsStore


def result(iteration, score, **extra):
    return {"training_iteration": iteration, "time_total_s": 0.1 * iteration, "timestamp": 1_700_000_000 + iteration,
            "score": score, **extra}


def test_rows_are_unique_per_trial_and_iteration(tmp_path):
    sink = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    sink.trial_started("a", {"lr": 0.1, "opt": "sgd"})
    for i, s in [(1, 0.5), (2, 0.6), (2, 0.65), (3, 0.7)]:  # iteration 2 reported twice (a retry)
        sink.trial_result("a", result(i, s))
    sink.trial_ended("a", COMPLETED)
    sink.flush(force=True)
    iterations = read_iterations(ResultsStore(str(tmp_path))).to_pandas()
    assert list(iterations.training_iteration) == [1, 2, 3]
    assert iterations.loc[iterations.training_iteration == 2, "score"].item() == 0.65
    trials = pd.read_parquet(tmp_path / files.TRIALS_FILE)
    row = trials.iloc[0]
    assert (row.trial_id, row.status, row.iterations, row.score, row.best_score) == ("a", "completed", 3, 0.7, 0.7)
    assert row["config/lr"] == 0.1 and row["config/opt"] == "sgd"
    assert trials["error"].isna().all() and str(trials.dtypes["error"]) in ("object", "str", "string")


def test_best_respects_mode_and_skips_non_finite(tmp_path):
    sink = ParquetSink(tmp_path, "loss", "min", flush_interval_s=0)
    for i, value in enumerate([0.9, float("nan"), 0.3, 0.5], start=1):
        sink.trial_result("t", {"training_iteration": i, "loss": value})
    assert sink.trials["t"].best == 0.3


def test_mixed_type_config_values_become_strings(tmp_path):
    sink = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    sink.trial_started("a", {"width": 32})
    sink.trial_started("b", {"width": "auto"})
    sink.flush(force=True)
    assert pd.read_parquet(tmp_path / files.TRIALS_FILE)["config/width"].tolist() == ["32", "auto"]


def test_counts_and_failed_trials(tmp_path):
    sink = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    for trial, status in [("a", COMPLETED), ("b", STOPPED), ("c", FAILED)]:
        sink.trial_started(trial, {})
        sink.trial_result(trial, result(1, 1.0 if trial == "c" else 0.5))
        sink.trial_ended(trial, status, "ValueError: boom" if status == FAILED else None)
    assert sink.counts() == {"running": 0, "completed": 1, "stopped": 1, "failed": 1}
    assert sink.best_trial().trial_id in ("a", "b")  # a failed trial is never the best


def test_flush_is_throttled_but_forced_flush_writes(tmp_path):
    sink = ParquetSink(tmp_path, "score", "max", flush_interval_s=3600)
    sink.trial_result("a", result(1, 0.1))  # first write happens (nothing flushed yet)
    sink.trial_result("a", result(2, 0.2))
    assert len(read_iterations(ResultsStore(str(tmp_path))).to_pandas()) == 1
    sink.flush(force=True)
    assert len(read_iterations(ResultsStore(str(tmp_path))).to_pandas()) == 2


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path):
    sink = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    sink.trial_result("a", result(1, 0.1))
    before = (tmp_path / files.TRIALS_FILE).read_bytes()

    def crash(path):
        path.write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    with pytest.raises(OSError):
        files.replace_atomically(tmp_path / files.TRIALS_FILE, crash)
    assert (tmp_path / files.TRIALS_FILE).read_bytes() == before
    assert pq.read_table(tmp_path / files.TRIALS_FILE).num_rows == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_files_are_readable_by_others(tmp_path):
    ResultsStore(str(tmp_path)).write_json("x.json", {"a": 1})
    assert os.stat(tmp_path / "x.json").st_mode & 0o044 == 0o044 & ~os.umask(os.umask(0))


def test_load_existing_continues_without_duplicates(tmp_path):
    first = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    first.trial_started("a", {"lr": 0.1})
    first.trial_result("a", result(1, 0.1))
    first.trial_result("a", result(2, 0.2))
    first.flush(force=True)
    second = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    second.load_existing()
    second.trial_result("a", result(2, 0.2))  # replayed after a restore
    second.trial_result("a", result(3, 0.3))
    second.trial_ended("a", COMPLETED)
    second.flush(force=True)
    iterations = read_iterations(ResultsStore(str(tmp_path))).to_pandas()
    assert iterations.training_iteration.tolist() == [1, 2, 3]
    assert pd.read_parquet(tmp_path / files.TRIALS_FILE)["config/lr"].tolist() == [0.1]


def test_duckdb_reads_the_files(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    sink = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    sink.trial_result("a", result(1, 0.1))
    sink.trial_result("a", result(2, 0.2, extra_metric=1.0))  # a column the first part lacks
    parts = tmp_path / "iterations" / "*.parquet"  # while the job runs
    assert duckdb.sql(f"select count(*), max(extra_metric) from read_parquet('{parts}', union_by_name=true)").fetchall() \
        == [(2, 1.0)]
    sink.close()  # the end of the job: one file
    path = tmp_path / files.ITERATIONS_FILE
    assert duckdb.sql(f"select count(*) from '{path}'").fetchall() == [(2,)]
    assert not (tmp_path / "iterations").exists()


def test_a_lease_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path):
    import time

    from tune_jobs.errors import UserError
    from tune_jobs.results.lease import LEASE_FILE, STALE_S, JobLease
    from tune_jobs.results.store import ResultsStore

    store = ResultsStore(str(tmp_path / "job"))
    first = JobLease(store, "job")
    first.acquire()
    with pytest.raises(UserError) as refused:
        JobLease(store, "job").acquire()
    assert "job 'job' is already running" in refused.value.problems[0] and f"pid {os.getpid()}" in refused.value.problems[0]
    first._stop.set()  # the holder stops beating, as a killed driver would
    lease = store.read_json(LEASE_FILE)
    store.write_json(LEASE_FILE, {**lease, "host": "elsewhere", "heartbeat": time.time() - STALE_S - 1})
    taker = JobLease(store, "job")
    taker.acquire()  # a silent holder on another host is taken over
    assert store.read_json(LEASE_FILE)["token"] == taker.token
    taker.release()
    assert not store.exists(LEASE_FILE)
    store.write_json(LEASE_FILE, {**lease, "pid": 2**22 + 12345})  # this host, a process that is gone
    last = JobLease(store, "job")
    last.acquire()
    last.release()


def test_a_flush_writes_only_the_new_rows_and_readers_see_one_table(tmp_path):
    from tune_jobs.results import iteration_log

    sink = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    for i in range(1, 41):
        sink.trial_result("a", result(i, i / 100))  # one part per flush, merged as they pile up
    parts = [tmp_path / name for name in ResultsStore(str(tmp_path)).read_json(iteration_log.MANIFEST_FILE)["files"]]
    assert 1 < len(parts) < iteration_log.MERGE_PARTS + 1
    assert sum(pq.read_table(p).num_rows for p in parts) == 40  # nothing written twice
    assert len(list((tmp_path / "iterations").iterdir())) > len(parts)  # merged-away parts kept a while for readers
    sink.iterations._delete_retired(older_than_s=0)
    assert sorted((tmp_path / "iterations").iterdir()) == sorted(parts)
    sink.trial_result("a", result(7, 0.99))  # a resumed trial reports iteration 7 again
    sink.flush(force=True)
    seen = read_iterations(ResultsStore(str(tmp_path))).to_pandas()
    assert seen.training_iteration.tolist() == list(range(1, 41)) and seen.set_index("training_iteration").score[7] == 0.99
    again = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)  # a resumed driver
    again.load_existing()
    assert again.trials["a"].best == 0.99 and again.trials["a"].last["training_iteration"] == 40
    again.trial_result("a", result(41, 0.5))
    again.close()
    final = pd.read_parquet(tmp_path / files.ITERATIONS_FILE)
    assert final.training_iteration.tolist() == list(range(1, 42)) and not (tmp_path / "iterations").exists()


def test_a_row_reported_again_after_merges_stays_the_latest_copy(tmp_path, monkeypatch):
    from tune_jobs.results import iteration_log

    monkeypatch.setattr(iteration_log, "MERGE_PARTS", 4)
    monkeypatch.setattr(iteration_log, "MERGE_ROWS", 5)  # merges split the small parts: older ones go first
    sink = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    store = ResultsStore(str(tmp_path))
    for i in range(1, 31):
        sink.trial_result("a", result(i, i / 100))
        if i == 6:  # a retried trial goes over iteration 1 again; its part is left out of the next merge
            sink.trial_result("a", result(1, 0.77))
        if i >= 6:  # readers see the latest copy at every moment, not only once later merges mix them again
            assert read_iterations(store).to_pandas().set_index("training_iteration").score[1] == 0.77, i
    assert any("merged" in name for name in store.list("iterations"))
    seen = read_iterations(store).to_pandas().set_index("training_iteration")
    assert seen.index.tolist() == list(range(1, 31)) and seen.score[1] == 0.77
    again = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)  # resumed: new parts after the old
    again.load_existing()
    again.trial_result("a", result(31, 0.1))
    again.close()
    final = pd.read_parquet(tmp_path / files.ITERATIONS_FILE).set_index("training_iteration")
    assert final.index.tolist() == list(range(1, 32)) and final.score[1] == 0.77


def test_a_trial_whose_snapshot_names_a_deleted_checkpoint_falls_back_to_one_on_storage(tmp_path):
    """ray#27790: after a killed driver the snapshot may name a checkpoint that pruning deleted."""
    from types import SimpleNamespace

    from ray.train import Checkpoint, CheckpointConfig
    from ray.train._internal.checkpoint_manager import _CheckpointManager
    from ray.train._internal.session import _TrainingResult

    from tune_jobs.ray_tune.callback import fall_back_to_a_checkpoint_on_storage

    manager = _CheckpointManager(CheckpointConfig(num_to_keep=None))
    for iteration in (1, 2, 3):
        (tmp_path / f"checkpoint_{iteration}").mkdir()
        manager.register_checkpoint(_TrainingResult(Checkpoint.from_directory(str(tmp_path / f"checkpoint_{iteration}")),
                                                    {"training_iteration": iteration}))
    trial = SimpleNamespace(run_metadata=SimpleNamespace(checkpoint_manager=manager))
    fall_back_to_a_checkpoint_on_storage(trial)
    assert manager.latest_checkpoint_result.metrics["training_iteration"] == 3  # present: untouched
    (tmp_path / "checkpoint_3").rmdir()
    fall_back_to_a_checkpoint_on_storage(trial)
    assert manager.latest_checkpoint_result.metrics["training_iteration"] == 2
    for iteration in (1, 2):
        (tmp_path / f"checkpoint_{iteration}").rmdir()
    fall_back_to_a_checkpoint_on_storage(trial)
    assert manager.latest_checkpoint_result is None  # nothing left: the trial starts over


def test_a_resumed_job_counts_trials_that_were_running_as_waiting_until_they_restart(tmp_path):
    first = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    for trial in ("a", "b", "c"):
        first.trial_started(trial, {})
        first.trial_result(trial, result(1, 0.1))
    first.trial_ended("c", COMPLETED)
    resumed = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    resumed.load_existing()
    assert resumed.counts() == {"running": 0, "completed": 1, "stopped": 0, "failed": 0, "paused": 2}
    resumed.trial_started("a", {})  # Ray restarts it
    assert resumed.counts()["running"] == 1 and resumed.counts()["paused"] == 1
