"""The results writer at scale: 1,000 trials x 1,000 reports (1M iteration rows) fed to the
Parquet sink as a job delivers them, a flush after every 1,000 rows (about a second of such a job).
Per-flush time and driver memory from the first to the millionth row, side by side with the
earlier writer (every row kept in memory, both files rewritten whole on each flush; run only to
``--baseline-rows``, since it grows quadratically). Then a real job with per-step reporting,
through tune-jobs and through plain Ray Tune, on one local Ray.

    python bench/sink_scale.py [--trials 1000] [--reports 1000] [--baseline-rows 200000] [--job-trials 20]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

FLUSH_EVERY = 1000


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def row(iteration: int, trial: int) -> dict[str, Any]:
    return {"training_iteration": iteration, "time_total_s": 0.01 * iteration, "timestamp": 1_700_000_000 + iteration,
            "loss": 1.0 / iteration + trial * 1e-6, "accuracy": 1 - 1.0 / (iteration + 1), "lr": 1e-3}


class RewriteEverything:
    """The earlier writer: every row in a dict, both files rewritten whole on each flush."""

    def __init__(self, directory: str) -> None:
        from tune_jobs.results.store import ResultsStore

        self.store, self.rows = ResultsStore(directory), {}

    def add(self, trial_id: str, metrics: dict[str, Any]) -> None:
        self.rows[(trial_id, metrics["training_iteration"])] = {"trial_id": trial_id, **metrics}

    def flush(self) -> None:
        from tune_jobs.results.tables import arrow_table

        ordered = [self.rows[key] for key in sorted(self.rows)]
        self.store.write_table("iterations.parquet", arrow_table(ordered))


def feed(sink_add: Any, sink_flush: Any, trials: int, reports: int, limit: int) -> tuple[list[tuple[int, float]], float]:
    """Reports in the order a job delivers them (trials interleaved); (rows, seconds) per flush."""
    flushes, rows = [], 0
    start_rss = rss_mb()
    for iteration in range(1, reports + 1):
        for trial in range(trials):
            sink_add(f"t{trial:04d}", row(iteration, trial))
            rows += 1
            if rows % FLUSH_EVERY == 0:
                started = time.perf_counter()
                sink_flush()
                flushes.append((rows, time.perf_counter() - started))
            if rows >= limit:
                return flushes, rss_mb() - start_rss
    return flushes, rss_mb() - start_rss


def describe(name: str, flushes: list[tuple[int, float]], rss_growth: float) -> dict[str, float]:
    times = [t for _, t in flushes]
    tail = [t for rows, t in flushes if rows > flushes[-1][0] * 0.9]
    summary = {"rows": flushes[-1][0], "first_ms": times[0] * 1e3, "median_ms": statistics.median(times) * 1e3,
               "last10pct_ms": statistics.median(tail) * 1e3, "max_ms": max(times) * 1e3,
               "total_s": sum(times), "rss_mb": rss_growth}
    print(f"{name:<34}{summary['rows']:>9,}{summary['first_ms']:>10.1f}{summary['median_ms']:>10.1f}"
          f"{summary['last10pct_ms']:>12.1f}{summary['max_ms']:>9.1f}{summary['total_s']:>10.1f}{summary['rss_mb']:>10.0f}")
    return summary


def job_overhead(trials: int, reports: int, cpus: int) -> None:
    import ray
    from ray import tune
    from rich.console import Console

    from tune_jobs.runner import run_job
    from tune_jobs.spec import validate_spec

    def steps(config: dict[str, Any]) -> None:
        for step in range(1, reports + 1):
            tune.report({"score": config["x"] + step * 1e-6})

    ray.init(address="local", num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR")
    with tempfile.TemporaryDirectory() as storage:
        started = time.perf_counter()
        tune.Tuner(steps, param_space={"x": tune.uniform(0, 1)},
                   tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=trials, reuse_actors=True),
                   run_config=tune.RunConfig(storage_path=storage, name="plain", verbose=0)).fit()
        plain = time.perf_counter() - started
        spec = validate_spec({"name": "steps", "trainable": "bench.sink_scale:report_steps", "metric": "score",
                              "mode": "max", "config": {"reports": reports}, "space": {"x": {"uniform": [0, 1]}},
                              "search": {"algorithm": "random", "num_samples": trials, "seed": 0},
                              "failure": {"max_failures": 0}, "storage": storage, "tensorboard": False})
        with open(os.devnull, "w") as quiet:
            started = time.perf_counter()
            run_job(spec, console=Console(file=quiet))
            ours = time.perf_counter() - started
    ray.shutdown()
    print(f"\na job of {trials} trials x {reports} reports on {cpus} CPUs: plain Ray Tune (reuse_actors) {plain:.1f} s, "
          f"tune-jobs {ours:.1f} s ({ours / plain:.2f}x)")


def report_steps(config: dict[str, Any], report: Any) -> None:
    for step in range(1, int(config["reports"]) + 1):
        report({"score": config["x"] + step * 1e-6})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--baseline-rows", type=int, default=200_000)
    parser.add_argument("--job-trials", type=int, default=20, help="0: skip the job comparison")
    parser.add_argument("--job-reports", type=int, default=1000)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    from tune_jobs.results.sink import ParquetSink

    total = args.trials * args.reports
    print(f"{total:,} iteration rows, {args.trials} trials x {args.reports} reports, a flush every {FLUSH_EVERY} rows")
    print(f"{'writer':<34}{'rows':>9}{'first ms':>10}{'median ms':>10}{'last 10% ms':>12}{'max ms':>9}{'total s':>10}"
          f"{'RSS +MB':>10}")
    with tempfile.TemporaryDirectory() as directory:
        gc.collect()
        sink = ParquetSink(directory, "loss", "min", flush_interval_s=3600)  # flushes driven here, as a job would
        for trial in range(args.trials):
            sink.trial_started(f"t{trial:04d}", {"lr": 1e-3, "trial": trial})

        ours = describe("tune-jobs (new rows, part files)", *feed(sink.trial_result, lambda: sink.flush(force=True),
                                                                    args.trials, args.reports, total))
        started = time.perf_counter()
        sink.close()
        print(f"  compacted into one iterations.parquet at the end in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as directory:
        gc.collect()
        old = RewriteEverything(directory)
        base = describe("earlier writer (rewrite all)", *feed(old.add, old.flush, args.trials, args.reports,
                                                              min(total, args.baseline_rows)))
    at = base["rows"]
    print(f"\nat {at:,} rows a flush takes {base['last10pct_ms']:.0f} ms with the earlier writer and "
          f"{ours['median_ms']:.1f} ms (median over the whole run) now: {base['last10pct_ms'] / ours['median_ms']:.0f}x less; "
          f"target: below 50 ms to the millionth row (max here {ours['max_ms']:.0f} ms), RSS growth below 300 MB "
          f"at 1M rows (here {ours['rss_mb']:.0f} MB)")
    if args.job_trials:
        job_overhead(args.job_trials, args.job_reports, args.cpus)


if __name__ == "__main__":
    main()
