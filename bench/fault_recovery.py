"""The same job uninterrupted, with one driver kill and resume, and with one worker-node loss (the
node replaced, as an autoscaler or KubeRay would): wall time as a ratio to uninterrupted, and rows
lost or duplicated in iterations.parquet. Runs on a two-node Ray on this machine (loopback).

    python bench/fault_recovery.py [--trials 8] [--steps 12] [--sleep 0.3] [--kill-at 0.4]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.ray_nodes import free_port, node_env, ray_node, stop_node, token_env, wait_for_log, wait_for_port  # noqa: E402
from tune_jobs.results.iteration_log import read_iterations  # noqa: E402
from tune_jobs.results.store import ResultsStore  # noqa: E402

FAST_HEALTH_CHECKS = {"RAY_health_check_initial_delay_ms": "0", "RAY_health_check_period_ms": "1000",
                      "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3"}


def write_spec(directory: Path, name: str, args: argparse.Namespace) -> Path:
    spec = directory / f"{name}.yaml"
    spec.write_text(yaml.safe_dump({
        "name": name, "trainable": "bench.steps:train", "metric": "score", "mode": "max",
        "config": {"steps": args.steps, "sleep": args.sleep}, "space": {"x": {"uniform": [0.0, 1.0]}},
        "search": {"num_samples": args.trials, "seed": 0}, "failure": {"max_failures": 3},
        "storage": str(directory / "results"),
    }))
    return spec


def wait_for_rows(iterations: Path, rows: int, driver: subprocess.Popen) -> None:
    while driver.poll() is None:
        try:
            if len(read_iterations(ResultsStore(str(iterations.parent)))) >= rows:  # parts, while the job runs
                return
        except (OSError, ValueError):
            pass  # caught between writes: try again
        time.sleep(0.1)
    raise RuntimeError("the job ended before the fault was injected")


def run(spec: Path, address: str, env: dict[str, str], fault: str, args: argparse.Namespace,
        node: dict[str, object]) -> tuple[float, pd.DataFrame, int]:
    command = [sys.executable, "-m", "tune_jobs", "run", str(spec), "--address", address]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": ROOT, "env": env}
    iterations = spec.parent / "results" / spec.stem / "iterations.parquet"
    started = time.monotonic()
    driver = subprocess.Popen(command, **quiet)
    if fault != "none":
        wait_for_rows(iterations, int(args.kill_at * args.trials * args.steps), driver)
        if fault == "driver":
            driver.send_signal(signal.SIGKILL)
            driver.wait()
            driver = subprocess.Popen(command, **quiet)  # the user (or KubeRay) runs it again
        else:
            stop_node(node["worker"], signal.SIGKILL)  # type: ignore[arg-type]
            node["worker"] = node["start"]()  # type: ignore[operator]
    if driver.wait() != 0:
        raise RuntimeError(f"{fault}: the job failed")
    retries = int(pd.read_parquet(iterations.with_name("trials.parquet")).retries.sum())
    return time.monotonic() - started, pd.read_parquet(iterations), retries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--sleep", type=float, default=0.3)
    parser.add_argument("--kill-at", type=float, default=0.4, help="fraction of all iterations reported before the fault")
    args = parser.parse_args()
    expected = {(t, i) for t in range(args.trials) for i in range(1, args.steps + 1)}
    with tempfile.TemporaryDirectory() as tmp:
        directory, port = Path(tmp), free_port()
        env = node_env({**FAST_HEALTH_CHECKS, **token_env(directory), "PYTHONPATH": str(ROOT)})
        head = ["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2", "--include-dashboard=false"]
        address = f"127.0.0.1:{port}"
        with ray_node(head, env):
            assert wait_for_port(port), "the head did not start"
            workers: list[object] = []

            def start_worker() -> object:
                log = directory / f"worker{len(workers)}.log"
                context = ray_node([f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=2"], env, log)
                workers.append(context)
                proc = context.__enter__()
                assert wait_for_log(log, "Ray runtime started"), log.read_text()[-2000:]
                return proc

            node: dict[str, object] = {"start": start_worker}
            node["worker"] = start_worker()
            rows = []
            for fault in ("none", "driver", "worker node"):
                spec = write_spec(directory, fault.replace(" ", "-"), args)
                seconds, table, retries = run(spec, address, env, fault, args, node)
                order = {t: n for n, t in enumerate(sorted(table.trial_id.unique()))}
                seen = [(order[t], int(i)) for t, i in zip(table.trial_id, table.training_iteration, strict=True)]
                lost, duplicated = len(expected - set(seen)), len(seen) - len(set(seen))
                rows.append((fault, seconds, lost, duplicated, retries))
                print(f"  {fault:<12} {seconds:6.1f} s  lost {lost}  duplicated {duplicated}  retries {retries}",
                      file=sys.stderr, flush=True)
            for context in workers:
                context.__exit__(None, None, None)
    base = rows[0][1]
    print(f"\n{args.trials} trials x {args.steps} steps x {args.sleep} s, 2 nodes x 2 CPUs on loopback, "
          f"fault after {args.kill_at:.0%} of the iterations")
    print(f"{'run':<14}{'wall s':>8}{'ratio':>8}{'lost rows':>11}{'duplicated':>12}{'trial retries':>15}")
    for fault, seconds, lost, duplicated, retries in rows:
        print(f"{fault:<14}{seconds:>8.1f}{seconds / base:>7.2f}x{lost:>11}{duplicated:>12}{retries:>15}")
    print("\ntarget: 0 lost, 0 duplicated, <= 1.5x the uninterrupted time")


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    main()
