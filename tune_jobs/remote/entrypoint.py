"""The shell line a submitted job runs on the head: ``tune-jobs run ...`` through the cluster's own
Python, whatever the head's PATH says.

Ray runs an entrypoint with ``/bin/sh`` in the environment ``ray start`` was given; a head started
as ``/venv/bin/ray start --head`` without activating the venv has no ``tune-jobs`` on its PATH. So
the line tries, in order, the Python of a ``runtime_env`` pip environment (``$VIRTUAL_ENV``), the
Python the raylet starts its workers with (its ``--python_worker_command``: the interpreter Ray
runs in, read from ``/proc``; the entrypoint's parent is Ray's job supervisor, a child of the
raylet), then ``python3`` and ``python`` on the PATH. The first that imports ``tune_jobs`` runs the
job; when none does, one line says so and the job ends with exit code 127.
"""

from __future__ import annotations

import re
import shlex

MISSING = "tune-jobs is not installed on the cluster"
FIX = ("install it into the Python that runs Ray there (pip install tune-jobs), run the cluster from the tune-jobs "
       "image (docker/Dockerfile), or submit with --pip and a requirement for it")
EXIT_MISSING = 127

_RAY_PYTHON = ("$(tr '\\0' '\\n' < /proc/$(sed 's/.*) //' /proc/$PPID/stat | cut -d' ' -f2)/cmdline 2>/dev/null"
               " | sed -n 's/^--python_worker_command=\\([^ ]*\\).*/\\1/p')")


def entrypoint(tune_jobs_args: list[str]) -> str:
    """``tune-jobs ARGS`` as a POSIX shell line that finds an interpreter with tune_jobs first."""
    command = shlex.join(tune_jobs_args)
    candidates = f'"${{VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}}" "{_RAY_PYTHON}" python3 python'
    message = shlex.quote(f"{MISSING} (no Python there imports tune_jobs: tried $VIRTUAL_ENV, Ray's own, python3, "
                          f"python): {FIX}")
    return (f"for py in {candidates}; do [ -n \"$py\" ] && \"$py\" -c 'import tune_jobs' 2>/dev/null "
            f"&& exec \"$py\" -m tune_jobs {command}; done; echo {message} >&2; exit {EXIT_MISSING}")


_ENTRYPOINT_LINE = re.compile(r"^(Running entrypoint for job \S+: ).*exec \"\$py\" -m tune_jobs (.*?); done; .*$", re.MULTILINE)
_FAILED_WITH_LOGS = re.compile(r"^(Job entrypoint command failed with exit code -?\d+)\b.*", re.DOTALL)


def readable_log(text: str) -> str:
    """A job's log with Ray's first line, the whole shell line above, shown as the command it runs."""
    return _ENTRYPOINT_LINE.sub(r"\1tune-jobs \2", text)


def explain(message: str) -> str:
    """A failed job's status message: our one line when the cluster lacked tune-jobs; Ray's
    'failed with exit code N' without the log it appends (already shown, or `tune-jobs logs`)."""
    for line in message.splitlines():
        if line.startswith(MISSING):
            return line.strip()
    return _FAILED_WITH_LOGS.sub(r"\1", message)
