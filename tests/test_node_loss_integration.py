"""A two-node cluster on one machine (`ray start --head` + `ray start --address`): the worker node
is killed mid-job; the job completes, every trial has its full iteration count, nothing leaks."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.ray_nodes import free_port, node_env, ray_node, stop_node, token_env, wait_for_log, wait_for_port
from tests.results_files import rows_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
# A lost node is noticed after a few missed health checks, not Ray's default 30 s or more.
FAST_HEALTH_CHECKS = {"RAY_health_check_initial_delay_ms": "0", "RAY_health_check_period_ms": "1000",
                      "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3"}
RESOURCES_CHECK = """
import json, sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR")
time.sleep(2)
print(json.dumps({"total": ray.cluster_resources().get("CPU"), "available": ray.available_resources().get("CPU"),
                  "alive": sum(n["Alive"] for n in ray.nodes())}))
"""


def test_losing_a_worker_node_mid_job_loses_nothing(tmp_path):
    port = free_port()
    env = node_env({**FAST_HEALTH_CHECKS, **token_env(tmp_path)})
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "node-loss", "trainable": "tests.user_trainables:counting", "metric": "score", "mode": "max",
        "config": {"steps": 10, "sleep": 0.5}, "space": {"x": {"uniform": [0.0, 1.0]}},
        "search": {"num_samples": 4, "seed": 0}, "failure": {"max_failures": 3},
        "storage": str(tmp_path / "results"),  # one machine: the shared filesystem is the local one
    }))
    head_args = ["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--include-dashboard=false"]
    with ray_node(head_args, env, log=tmp_path / "head.log"):
        assert wait_for_port(port), (tmp_path / "head.log").read_text()[-2000:]
        address = f"127.0.0.1:{port}"
        worker_args = [f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=2"]
        with ray_node(worker_args, env, log=tmp_path / "worker.log") as worker:
            assert wait_for_log(tmp_path / "worker.log", "Ray runtime started"), (tmp_path / "worker.log").read_text()[-2000:]
            driver = subprocess.Popen([sys.executable, "-m", "tune_jobs", "run", str(spec), "--address", address],
                                      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            results = tmp_path / "results" / "node-loss"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and driver.poll() is None:
                if len(rows_of(results)) >= 6:
                    break
                time.sleep(0.3)
            else:
                driver.kill()
                pytest.fail("the job made no progress on the two-node cluster:\n" + (driver.communicate()[0] or ""))
            stop_node(worker, signal.SIGKILL)  # the node and its trials, gone without a word
            output, _ = driver.communicate(timeout=300)
        assert driver.returncode == 0, output
        trials = pd.read_parquet(tmp_path / "results" / "node-loss" / "trials.parquet")
        assert len(trials) == 4 and set(trials.status) == {"completed"} and (trials.iterations == 10).all(), trials
        assert trials.retries.sum() >= 1  # the trials on the lost node went on elsewhere
        rows = pd.read_parquet(results / "iterations.parquet")
        assert len(rows) == 40 and not rows.duplicated(["trial_id", "training_iteration"]).any()
        assert (rows.step == rows.training_iteration).all()  # resumed from checkpoints, never went back
        import json

        check = subprocess.run([sys.executable, "-c", RESOURCES_CHECK, address], env=env, capture_output=True,
                               text=True, timeout=120)
        resources = json.loads(check.stdout.strip().splitlines()[-1])
        assert resources == {"total": 1.0, "available": 1.0, "alive": 1}, check.stderr[-2000:]
