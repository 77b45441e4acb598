"""`tune-jobs run --address` joins a cluster started with `ray start --head` on loopback."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def head_node(tmp_path):
    """A head node of its own (``--block``), stopped by signalling it: ``ray stop`` would also
    stop the test session's shared Ray."""
    port = free_port()
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    else:
        head.kill()
        pytest.fail("ray start --head did not come up in 60 s")
    yield address
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)


def test_run_joins_an_existing_cluster(head_node, tmp_path):
    spec = ROOT / "examples" / "my_trainable.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "tune_jobs", "run", str(spec), "--address", head_node, "--storage", str(tmp_path),
         "--set", "search.num_samples=4", "--set", "scheduler={type: fifo}"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    trials = pd.read_parquet(tmp_path / "my-trainable" / "trials.parquet")
    assert len(trials) == 4 and set(trials.status) == {"completed"}
    import json

    job = json.loads((tmp_path / "my-trainable" / "job.json").read_text())
    assert job["cluster_resources"]["CPU"] == 2.0
