"""`tune-jobs submit/status/logs/list/stop` against a real `ray start --head` on loopback with
token authentication, the job's code shipped in its working directory."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.ray_nodes import free_port, node_env, ray_node, wait_for_port
from tests.results_files import rows_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRAINABLE = '''
import time


def train(config, report, checkpoint=None):
    for step in range(1, config["steps"] + 1):
        time.sleep(config["sleep"])
        report({"score": -(config["x"] - 0.3) ** 2 + step * 1e-3})
'''
SPEC = """
name: shipped
trainable: quad:train
metric: score
mode: max
config: {steps: 3, sleep: 0.0}
space:
  x: {uniform: [0, 1]}
search: {algorithm: random, num_samples: 3, seed: 0}
resources: {cpu: 1}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head node with its dashboard (the job server) on 127.0.0.1 and a token of its own."""
    home = tmp_path_factory.mktemp("head")
    token = home / "token"
    token.write_text(secrets.token_hex(32))
    gcs, dashboard, agent, agent_grpc, metrics, runtime_env_agent = (free_port() for _ in range(6))
    env = node_env({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)})
    env.pop("RAY_AUTH_TOKEN", None)
    # Started as `/venv/bin/ray start --head` from a shell where the venv is not active: no
    # `tune-jobs` (nor this venv's python) on the head's PATH; jobs must find Ray's Python anyway.
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(d for d in env["PATH"].split(os.pathsep) if d and d != venv_bin)
    env.pop("VIRTUAL_ENV", None)
    assert shutil.which("tune-jobs", path=env["PATH"]) is None
    args = ["--head", f"--port={gcs}", "--node-ip-address=127.0.0.1", "--num-cpus=2", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}",
            # The session's shared Ray runs an agent on Ray's default ports: this node needs its own.
            f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={agent_grpc}",
            f"--metrics-export-port={metrics}", f"--runtime-env-agent-port={runtime_env_agent}"]
    with ray_node(args, env, log=home / "head.log"):
        if not wait_for_port(dashboard, 90):
            pytest.fail("the head's dashboard did not come up in 90 s:\n" + (home / "head.log").read_text()[-2000:])
        yield {"address": f"http://127.0.0.1:{dashboard}", "token": token}


@pytest.fixture
def project(tmp_path):
    """The user's directory: spec and code, plus a virtualenv and caches that must not travel."""
    (tmp_path / "quad.py").write_text(TRAINABLE)
    (tmp_path / "job.yaml").write_text(SPEC)
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "big.bin").write_bytes(os.urandom(1 << 20))
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "quad.cpython-311.pyc").write_bytes(b"x")
    return tmp_path


def cli(args, cwd, token=None, home=None, timeout=180):
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")}
    if token is not None:
        env["RAY_AUTH_TOKEN_PATH"] = str(token)
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "tune_jobs", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_submit_wait_status_logs_list(cluster, project):
    address, token = cluster["address"], cluster["token"]
    done = cli(["submit", "job.yaml", "--address", address, "--wait"], project, token)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "shipped 2 files" in done.stderr  # job.yaml and quad.py: no .venv, no __pycache__
    assert token.read_text() not in done.stdout + done.stderr
    job_id = done.stdout.splitlines()[0].strip()
    assert job_id.startswith("shipped-")
    assert "trials: 3 completed" in done.stdout  # the job's own log, streamed
    # relative storage on this machine's cluster: the same place a local run writes to
    trials = pd.read_parquet(project / "results" / "shipped" / "trials.parquet")
    assert len(trials) == 3 and set(trials.status) == {"completed"}
    iterations = pd.read_parquet(project / "results" / "shipped" / "iterations.parquet")
    assert len(iterations) == 9 and not iterations.duplicated(["trial_id", "training_iteration"]).any()

    status = cli(["status", job_id, "--address", address], project, token)
    assert status.returncode == 0 and f"{job_id}: SUCCEEDED" in status.stdout
    assert "command: tune-jobs run job.yaml --address auto" in status.stdout
    logs = cli(["logs", job_id, "--address", address], project, token)
    assert logs.returncode == 0 and "best score" in logs.stdout and "for py in" not in logs.stdout
    listed = cli(["list", "--address", address], project, token)
    assert listed.returncode == 0 and job_id in listed.stdout and "SUCCEEDED" in listed.stdout


def test_stop_ends_a_running_job_and_resubmitting_resumes_it(cluster, project):
    address, token = cluster["address"], cluster["token"]
    slow = ["--set", "config={steps: 40, sleep: 0.25}", "--set", "name=stoppable"]
    submitted = cli(["submit", "job.yaml", "--address", address, *slow], project, token)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    assert f"follow it: tune-jobs logs {job_id} --follow --address {address}" in submitted.stderr
    results = project / "results" / "stoppable"
    deadline = time.monotonic() + 90
    while rows_of(results).empty and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not rows_of(results).empty, cli(["logs", job_id, "--address", address], project, token).stdout
    stopped = cli(["stop", job_id, "--address", address], project, token)
    assert stopped.returncode == 0 and "stop requested" in stopped.stdout
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = cli(["status", job_id, "--address", address], project, token).stdout
        if "STOPPED" in status:
            break
        time.sleep(1)
    assert f"{job_id}: STOPPED" in status
    # The driver finished as after Ctrl-C: job.json says so, the lease is released, the log says how to go on.
    assert json.loads((results / "job.json").read_text())["status"] == "interrupted"
    assert not (results / "lease.json").exists()
    assert "interrupted: results so far are in" in cli(["logs", job_id, "--address", address], project, token).stdout
    resumed = cli(["submit", "job.yaml", "--address", address, "--wait", *slow], project, token, timeout=240)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    rows = rows_of(results)
    assert len(rows) == 3 * 40 and not rows.duplicated(["trial_id", "training_iteration"]).any()


@pytest.mark.parametrize("auth_mode", [None, "token"])  # a laptop sets neither; some set RAY_AUTH_MODE
def test_a_cluster_that_wants_a_token_says_so_when_none_is_found(cluster, project, tmp_path, auth_mode, monkeypatch):
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    if auth_mode:
        monkeypatch.setenv("RAY_AUTH_MODE", auth_mode)
    done = cli(["list", "--address", cluster["address"]], project, token=None, home=tmp_path / "empty-home")
    assert done.returncode == 2
    assert "requires a Ray auth token and none was found" in done.stderr and "Traceback" not in done.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("0" * 64)
    done = cli(["list", "--address", cluster["address"]], project, token=wrong)
    assert done.returncode == 2 and "rejected the Ray auth token" in done.stderr
