"""`storage: s3://...` against a real S3-compatible server (moto's server mode) on loopback,
started and stopped by the test: Parquet, job.json and Ray's checkpoints land in the bucket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import S3_CREDENTIALS as CREDENTIALS
from tune_jobs.results.store import ResultsStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def _rows(store):
    from tune_jobs.results.iteration_log import read_iterations

    try:
        return read_iterations(store)
    except OSError:  # the bucket has no job yet
        return []


def test_results_and_checkpoints_go_to_s3_and_the_job_resumes_from_there(s3_endpoint, tmp_path):
    filesystem = pafs.S3FileSystem(access_key="testing", secret_key="testing", region="us-east-1",
                                   endpoint_override=s3_endpoint, scheme="http", allow_bucket_creation=True)
    filesystem.create_dir("tune-bucket")
    storage = f"s3://tune-bucket/runs?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "on-s3", "trainable": "tests.user_trainables:counting", "metric": "score", "mode": "max",
        "config": {"steps": 3, "sleep": 1.0}, "space": {"x": {"uniform": [0.0, 1.0]}},
        "search": {"num_samples": 2, "seed": 0}, "storage": storage,
    }))
    env = {**os.environ, **CREDENTIALS}
    command = [sys.executable, "-m", "tune_jobs", "run", str(spec), "--num-cpus", "2"]
    # Interrupted once rows are in the bucket, then run again: it resumes from what is on S3.
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job_store = ResultsStore(storage.replace("runs", "runs/on-s3"))
    deadline = time.monotonic() + 120
    while first.poll() is None and time.monotonic() < deadline and len(_rows(job_store)) < 2:
        time.sleep(0.3)
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 130, out + err
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0 and "resuming job on-s3" in done.stderr, done.stdout + done.stderr
    assert "s3://tune-bucket/runs/on-s3" in done.stdout
    assert not (ROOT / "tune-bucket").exists() and not (tmp_path / "tune-bucket").exists()

    trials = pq.read_table("tune-bucket/runs/on-s3/trials.parquet", filesystem=filesystem).to_pandas()
    assert len(trials) == 2 and set(trials.status) == {"completed"} and (trials.iterations == 3).all()
    iterations = pq.read_table("tune-bucket/runs/on-s3/iterations.parquet", filesystem=filesystem).to_pandas()
    assert len(iterations) == 6
    objects = [info.path for info in filesystem.get_file_info(pafs.FileSelector("tune-bucket/runs/on-s3", recursive=True))]
    assert "tune-bucket/runs/on-s3/job.json" in objects
    assert any("/tune/" in path and "checkpoint_" in path for path in objects)  # Ray's checkpoints too

    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0 and "job on-s3 finished earlier" in again.stderr, again.stdout + again.stderr
    shown = subprocess.run([sys.executable, "-m", "tune_jobs", "results", f"{storage.replace('runs', 'runs/on-s3')}"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "on-s3: best 2 by score" in shown.stdout, shown.stdout + shown.stderr


def test_a_storage_uri_with_an_unknown_scheme_is_bad_input(tmp_path):
    from tune_jobs.errors import SpecError
    from tune_jobs.spec import validate_spec

    base = {"name": "j", "trainable": "digits_mlp", "metric": "val_accuracy"}
    with pytest.raises(SpecError, match=r"storage: a directory or an s3:// / gs:// URI, got 'ftp://host/x'"):
        validate_spec({**base, "storage": "ftp://host/x"})
    with pytest.raises(SpecError, match="storage: the URI names no bucket"):
        validate_spec({**base, "storage": "s3://"})
    assert validate_spec({**base, "storage": "s3://b/p?endpoint_override=h:9000"}).results_dir == "s3://b/p/j?endpoint_override=h:9000"
