"""Ctrl-C (SIGINT to the process group, as a terminal sends it) and SIGTERM (as `kill`, Kubernetes
and `tune-jobs stop` send it) end a job with exit 130 and status ``interrupted``; the rerun
resumes with every iteration exactly once. A second signal ends the job at once, files whole."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.results_files import rows_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
STEPS, TRIALS = 8, 4


def start_job(tmp_path: Path) -> tuple[list[str], subprocess.Popen, Path]:
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "interrupted", "trainable": "tests.user_trainables:counting", "metric": "score", "mode": "max",
        "config": {"steps": STEPS, "sleep": 0.4}, "space": {"x": {"uniform": [0.0, 1.0]}},
        "search": {"num_samples": TRIALS, "seed": 0, "max_concurrent": 2}, "storage": str(tmp_path / "results"),
    }))
    command = [sys.executable, "-m", "tune_jobs", "run", str(spec), "--num-cpus", "2"]
    driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    return command, driver, tmp_path / "results" / "interrupted"


def wait_for_rows(driver: subprocess.Popen, results: Path, rows: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(rows_of(results)) >= rows:
            return
        if driver.poll() is not None:
            pytest.fail(f"the job ended early: {driver.communicate()}")
        time.sleep(0.2)
    pytest.fail("the job reported nothing in 120 s")


def finish(driver: subprocess.Popen) -> tuple[int, str]:
    try:
        _, stderr = driver.communicate(timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever of its embedded Ray is left
            os.killpg(driver.pid, signal.SIGKILL)
    return driver.returncode, stderr


def assert_resumes_to_the_end(command: list[str], results: Path, before: pd.DataFrame) -> None:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming job interrupted" in done.stderr
    after = pd.read_parquet(results / "iterations.parquet")
    trials = pd.read_parquet(results / "trials.parquet")
    assert len(trials) == TRIALS and set(trials.status) == {"completed"}
    assert len(after) == TRIALS * STEPS and not after.duplicated(["trial_id", "training_iteration"]).any()
    assert (after.step == after.training_iteration).all()
    assert len(before.merge(after, on=["trial_id", "training_iteration"])) == len(before)
    assert json.loads((results / "job.json").read_text())["status"] == "finished"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_interrupts_the_job_and_the_rerun_resumes(tmp_path, signum):
    command, driver, results = start_job(tmp_path)
    wait_for_rows(driver, results, 6)
    if signum == signal.SIGINT:
        os.killpg(driver.pid, signum)  # Ctrl-C reaches every process of the terminal's group
    else:
        os.kill(driver.pid, signum)
    code, stderr = finish(driver)
    assert code == 130, stderr
    job = json.loads((results / "job.json").read_text())
    assert job["status"] == "interrupted" and job["end_time"]
    assert f"`tune-jobs run {tmp_path / 'job.yaml'}` resumes the job" in stderr
    assert "Traceback" not in stderr and "Tuner.restore" not in stderr and "Stop signal received" not in stderr
    before = pd.read_parquet(results / "iterations.parquet")
    assert 6 <= len(before) < TRIALS * STEPS
    assert_resumes_to_the_end(command, results, before)


def test_a_second_signal_ends_at_once_and_leaves_whole_files(tmp_path):
    command, driver, results = start_job(tmp_path)
    wait_for_rows(driver, results, 4)
    os.kill(driver.pid, signal.SIGINT)
    time.sleep(0.05)
    os.kill(driver.pid, signal.SIGINT)
    started = time.monotonic()
    code, stderr = finish(driver)
    assert code == 130, stderr
    assert time.monotonic() - started < 30
    assert json.loads((results / "job.json").read_text())["status"] == "interrupted"
    before = pd.read_parquet(results / "iterations.parquet")  # a whole Parquet file
    assert_resumes_to_the_end(command, results, before)
