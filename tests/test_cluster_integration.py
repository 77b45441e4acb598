"""`tune-jobs run --address` joins a cluster started with `ray start --head` on loopback."""

import secrets
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.ray_nodes import free_port, node_env, ray_node, wait_for_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def head_node(tmp_path):
    port = free_port()
    args = ["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2", "--include-dashboard=false"]
    # As on a workstation: ~/.ray/auth_token exists and RAY_AUTH_MODE is unset. The head then turns
    # token auth on by itself; the driver must send the token without being told (Ray's own does not).
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    env = node_env({"HOME": str(home)})
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(key, None)
    with ray_node(args, env):
        if not wait_for_port(port):
            pytest.fail("ray start --head did not come up in 60 s")
        yield f"127.0.0.1:{port}", env


def test_run_joins_an_existing_cluster(head_node, tmp_path):
    address, env = head_node
    spec = ROOT / "examples" / "my_trainable.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "tune_jobs", "run", str(spec), "--address", address, "--storage", str(tmp_path),
         "--set", "search.num_samples=4", "--set", "scheduler={type: fifo}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    trials = pd.read_parquet(tmp_path / "my-trainable" / "trials.parquet")
    assert len(trials) == 4 and set(trials.status) == {"completed"}
    import json

    job = json.loads((tmp_path / "my-trainable" / "job.json").read_text())
    assert job["cluster_resources"]["CPU"] == 2.0
