"""Kill the driver with SIGKILL mid-job, run it again: it completes, nothing lost or doubled. While
the first driver lives, a second run of the job is refused."""

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.results_files import rows_of, sigkill_driver

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def test_sigkilled_driver_resumes_with_every_iteration_exactly_once(tmp_path):
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "killed", "trainable": "tests.user_trainables:counting", "metric": "score", "mode": "max",
        "config": {"steps": 8, "sleep": 0.4}, "space": {"x": {"uniform": [0.0, 1.0]}},
        "search": {"num_samples": 4, "seed": 0, "max_concurrent": 2}, "failure": {"max_failures": 2},
        "storage": str(tmp_path / "results"),
    }))
    command = [sys.executable, "-m", "tune_jobs", "run", str(spec), "--num-cpus", "2"]
    results = tmp_path / "results" / "killed"
    driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(rows_of(results)) >= 6:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the job reported nothing in 120 s")
        second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stdout + second.stderr  # one driver per job
        assert second.stderr.strip().splitlines()[-1].startswith("storage: job 'killed' is already running in ")
        assert f"(pid {driver.pid} on " in second.stderr and "Traceback" not in second.stderr
    finally:
        before = sigkill_driver(driver, results)
    assert 6 <= len(before) < 32
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming job killed" in done.stderr
    after = pd.read_parquet(results / "iterations.parquet")  # compacted into one file at the end
    assert not (results / "iterations").exists()
    trials = pd.read_parquet(tmp_path / "results" / "killed" / "trials.parquet")
    assert len(trials) == 4 and set(trials.status) == {"completed"} and (trials.iterations == 8).all()
    assert len(after) == 32 and not after.duplicated(["trial_id", "training_iteration"]).any()
    # Progress never went backwards: each trial's reported step follows its iteration count.
    assert (after.step == after.training_iteration).all()
    kept = before.merge(after, on=["trial_id", "training_iteration"], suffixes=("_before", "_after"))
    assert len(kept) == len(before)  # nothing reported before the kill was lost
