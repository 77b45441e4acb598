"""Ray's Job Submission API behind a small client: the only module of ``tune_jobs.remote`` that
imports Ray. Connection and authentication failures become one-line ``RemoteError``s."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tune_jobs.ray_tune.compat import UPLOAD_LOGGERS
from tune_jobs.remote.auth import MISSING_TOKEN, WRONG_TOKEN, Token
from tune_jobs.remote.plan import COMMAND_KEY, NAME_KEY

FINISHED = ("SUCCEEDED", "FAILED", "STOPPED")


# Ray's job client logs each upload step at INFO (its loggers set their own level).
_CHATTY_LOGGERS = ("ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk", *UPLOAD_LOGGERS)


class RemoteError(Exception):
    """The cluster could not be reached or refused us; the message is meant for the user as is."""


@dataclass(frozen=True)
class JobSummary:
    job_id: str
    status: str
    entrypoint: str
    message: str
    start_time: int | None  # ms since the epoch
    end_time: int | None
    name: str = "-"  # the tune-jobs job name, for jobs that tune-jobs submitted
    command: str = ""  # ``tune-jobs run ...`` as submitted (the entrypoint wraps it), for jobs that tune-jobs submitted


def _summary(job_id: str, info: Any) -> JobSummary:
    """Ray's JobInfo/JobDetails as ours (its status is an enum)."""
    metadata = info.metadata or {}
    name = metadata.get(NAME_KEY)
    if name is None and not getattr(info, "submission_id", None):  # a driver that joined the cluster itself
        command = " ".join((info.entrypoint or "").split())
        name = f"driver: {command[:60]}{'...' if len(command) > 60 else ''}" if command else "driver"
    return JobSummary(job_id, str(getattr(info.status, "value", info.status)), info.entrypoint or "",
                      info.message or "", info.start_time, info.end_time, name or "-", metadata.get(COMMAND_KEY, ""))


class RemoteJobs:
    def __init__(self, address: str, token: Token | None, verify: bool | str = True) -> None:
        from ray.job_submission import JobSubmissionClient

        for name in _CHATTY_LOGGERS:  # upload chatter; we report what we ship ourselves
            logging.getLogger(name).setLevel(logging.ERROR)
        self.address, self.token = address, token
        headers = token.headers() if token else None
        self.client = self._call(lambda: JobSubmissionClient(address, headers=headers, verify=verify))

    def _explain(self, error: Exception) -> RemoteError:
        text = str(error)
        if "couldn't find an authentication token" in text:  # RAY_AUTH_MODE=token here, and no token
            return RemoteError(MISSING_TOKEN.format(address=self.address))
        if "401" in text or "Unauthorized" in text or "Authentication required" in text:
            return RemoteError(MISSING_TOKEN.format(address=self.address) if self.token is None
                               else WRONG_TOKEN.format(address=self.address, source=self.token.source))
        if "403" in text or "Forbidden" in text or "InvalidAuthToken" in text:
            return RemoteError(WRONG_TOKEN.format(address=self.address, source=self.token.source) if self.token
                               else MISSING_TOKEN.format(address=self.address))
        if "does not exist" in text or "404" in text:
            return RemoteError(f"no such job on {self.address}: {text.splitlines()[-1]}")
        if "Failed to connect" in text or "Connection refused" in text or "ConnectionError" in type(error).__name__:
            return RemoteError(f"cannot reach a Ray job server at {self.address}: is the cluster up, with its dashboard "
                               "(`ray start --head` starts it, on 127.0.0.1:8265 by default)?")
        line = next((s for s in reversed(text.splitlines()) if s.strip()), type(error).__name__)
        return RemoteError(f"{self.address}: {line.strip()}")

    def _call(self, function: Callable[[], Any]) -> Any:
        try:
            return function()
        except Exception as error:  # Ray raises RuntimeError/ConnectionError/requests errors alike
            raise self._explain(error) from None

    def submit(self, entrypoint: str, runtime_env: dict[str, Any], submission_id: str, metadata: dict[str, str],
               wait_for_agent_s: float = 60.0) -> str:
        """Submit; a cluster that has just started answers "No available agent" for a few seconds,
        so that answer is retried (with the same id, so a job is never submitted twice)."""
        deadline = time.monotonic() + wait_for_agent_s
        while True:
            try:
                return str(self.client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env,
                                                  submission_id=submission_id, metadata=metadata))
            except Exception as error:
                if "No available agent" not in str(error) or time.monotonic() > deadline:
                    raise self._explain(error) from None
                time.sleep(1.0)

    def summary(self, job_id: str) -> JobSummary:
        return _summary(job_id, self._call(lambda: self.client.get_job_info(job_id)))

    def list(self) -> list[JobSummary]:
        return [_summary(j.submission_id or j.job_id or "?", j) for j in self._call(self.client.list_jobs)]

    def logs(self, job_id: str) -> str:
        from tune_jobs.remote.entrypoint import readable_log

        return readable_log(str(self._call(lambda: self.client.get_job_logs(job_id))))

    def follow(self, job_id: str) -> Iterator[str]:
        """Log text as it is written, until the job finishes."""
        from tune_jobs.remote.entrypoint import readable_log

        self.summary(job_id)  # a clear error for an unknown id before streaming starts
        loop = asyncio.new_event_loop()
        stream = self.client.tail_job_logs(job_id)
        try:
            while True:
                try:
                    yield readable_log(loop.run_until_complete(stream.__anext__()))
                except StopAsyncIteration:
                    return
                except Exception as error:
                    raise self._explain(error) from None
        finally:
            loop.run_until_complete(stream.aclose())
            loop.close()

    def stop(self, job_id: str) -> bool:
        return bool(self._call(lambda: self.client.stop_job(job_id)))
