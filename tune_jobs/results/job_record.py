"""``job.json``: what ran (the resolved spec and its hash), where, with which versions, and how it ended."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from tune_jobs.results.files import JOB_FILE
from tune_jobs.results.store import ResultsStore


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    return {
        "tune-jobs": _version("tune-jobs"),
        "ray": _version("ray"),
        "torch": _version("torch"),
        "python": platform.python_version(),
    }


def git_commit(directory: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class JobRecord:
    def __init__(self, store: ResultsStore, spec: dict[str, Any], spec_sha256: str) -> None:
        self.store = store
        self.data: dict[str, Any] = {
            "spec": spec,
            "spec_sha256": spec_sha256,
            "status": "running",
            "start_time": now_iso(),
            "end_time": None,
            "versions": versions(),
            "git_commit": git_commit(Path.cwd()),
            "cluster_resources": None,
            "trial_counts": None,
            "best_trial": None,
        }

    def resume_from_file(self) -> None:
        """Keep what an earlier run of this job recorded (its start time), noting the resume."""
        earlier = self.store.read_json(JOB_FILE)
        self.data["start_time"] = earlier.get("start_time", self.data["start_time"])
        self.data["resumed_at"] = [*earlier.get("resumed_at", []), now_iso()]
        for kept in ("code_changes", "grown"):  # the job's history across its runs
            if earlier.get(kept):
                self.data[kept] = earlier[kept]

    def save(self, **changes: Any) -> None:
        self.data.update(changes)
        self.store.write_json(JOB_FILE, self.data)
