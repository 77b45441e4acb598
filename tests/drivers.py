"""A `tune-jobs run` driver killed by SIGKILL at a chosen point of its job, as the OOM killer or
a lost node would kill it: no cleanup, nothing flushed that was not flushed already."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_and_kill(command: list[str], ready: Callable[[], bool], timeout_s: float = 180) -> None:
    """Start ``command``, SIGKILL it (and its process group) once ``ready()`` is true."""
    driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if time.monotonic() > deadline or driver.poll() is not None:
                ended = driver.stderr.read().decode()[-2000:] if driver.poll() is not None and driver.stderr else ""
                pytest.fail(f"the job never reached the point to kill it at {ended}")
            time.sleep(0.2)
        os.kill(driver.pid, signal.SIGKILL)
        assert driver.wait(timeout=30) == -signal.SIGKILL, "the job ended before it could be killed: make it longer"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
