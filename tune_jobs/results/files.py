"""The names of the files in a results directory, and atomic replacement: a reader sees the old
file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

TRIALS_FILE = "trials.parquet"
ITERATIONS_FILE = "iterations.parquet"
JOB_FILE = "job.json"
EVALUATION_FILE = "evaluation.json"  # tune-jobs evaluate's figures on the held-out test rows
EXPERIMENT_DIR = "tune"  # Ray's own state and checkpoints, under the job's results directory
SCHEDULER_STATE_FILE = "scheduler_state.json"  # for schedulers that keep state (rungs, promotions)
SCHEDULER_EVENTS_FILE = "scheduler_events.parquet"  # one row per decision that changed a trial's course
MEMBER_SCHEDULER_FILE = "member_scheduler.json"  # fused jobs: the per-member scheduler's rungs, for a resume


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp_name, 0o666 & ~umask)  # mkstemp makes 0600; results are meant to be shared
    temp = Path(temp_name)
    try:
        write(temp)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)

