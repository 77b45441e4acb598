"""What ``tune-jobs submit`` sends: the entrypoint (the same ``tune-jobs run SPEC --address auto``
as a local run, through the cluster's own Python), the runtime_env and a readable submission id.
Pure logic, no Ray."""

from __future__ import annotations

import shlex
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tune_jobs.core.tokens import TOKEN_VARIABLES
from tune_jobs.errors import SpecError
from tune_jobs.remote.entrypoint import entrypoint
from tune_jobs.remote.workdir import WorkingDir
from tune_jobs.spec import JobSpec

NAME_KEY = "tune_jobs_job"  # submission metadata read back by ``tune-jobs list``
COMMAND_KEY = "tune_jobs_command"  # the command as a user reads it (the entrypoint wraps it), for ``status``


@dataclass(frozen=True)
class Submission:
    entrypoint: str
    runtime_env: dict[str, Any]
    submission_id: str
    metadata: dict[str, str]


def remote_storage(job: JobSpec, loopback: bool) -> str | None:
    """The storage the job must use on the cluster, or None to keep the spec's.

    A submitted job runs in a temporary copy of the working directory, so relative results would
    vanish with it: on this machine's own cluster they go to the same absolute path as a local run;
    on another machine the user must name shared storage.
    """
    if "://" in job.storage or Path(job.storage).expanduser().is_absolute():
        return None
    if loopback:
        return str(Path(job.storage).expanduser().resolve())
    raise SpecError([f"storage: {job.storage!r} is relative; a submitted job runs in a temporary directory on the "
                     "cluster, so give a shared absolute path or an s3:// / gs:// URI (e.g. --set storage=s3://bucket/runs)"])


def env_pairs(pairs: list[str]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SpecError([f"--env: expected KEY=VALUE, got {pair!r}"])
        found[key] = value
    return found


STOP_WAIT_VARIABLE, STOP_GRACE_S = "RAY_JOB_STOP_WAIT_TIME_S", 60  # `tune-jobs stop`: SIGTERM, SIGKILL this much later


def build_submission(job: JobSpec, spec_path: Path, workdir: WorkingDir, overrides: list[str], storage: str | None,
                     restart: bool, pip: list[str], env: dict[str, str]) -> Submission:
    command = ["run", workdir.relative(spec_path), "--address", "auto"]
    for override in overrides:
        command += ["--set", override]
    if storage is not None:
        command += ["--storage", storage]
    if restart:
        command.append("--restart")
    runtime_env: dict[str, Any] = {"working_dir": str(workdir.root), "excludes": workdir.excludes}
    packages = [*job.runtime_env.pip, *pip]
    if packages:
        runtime_env["pip"] = packages
    # Ray's job server SIGKILLs a stopped job 3 s after its SIGTERM: too soon for the driver to
    # flush, save the experiment and release its lease (job.json stayed `running`).
    env_vars = {STOP_WAIT_VARIABLE: str(STOP_GRACE_S), **job.runtime_env.env_vars, **env}
    for key in TOKEN_VARIABLES:
        if key in env_vars:
            raise SpecError([f"--env: {key} must not travel in env vars (visible to anyone who can list jobs)"])
    runtime_env["env_vars"] = env_vars
    submission_id = f"{job.name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    return Submission(entrypoint(command), runtime_env, submission_id,
                      {NAME_KEY: job.name, COMMAND_KEY: shlex.join(["tune-jobs", *command])})
