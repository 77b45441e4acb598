"""``submit``, ``status``, ``logs``, ``stop``, ``list``: jobs on a remote Ray cluster."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from tune_jobs.cli_io import err, fail_bad_input, load_or_exit, out, print_table
from tune_jobs.errors import UserError

AddressOption = Annotated[str, typer.Option(envvar="RAY_API_SERVER_ADDRESS", help="The cluster's job server "
                                            "(Ray dashboard), http(s)://HOST:PORT.")]
InsecureOption = Annotated[bool, typer.Option(help="Allow plain http to a non-loopback address.")]
CaCertOption = Annotated[Optional[Path], typer.Option(help="CA bundle to verify an https job server with.")]
JobIdArg = Annotated[str, typer.Argument(help="The job id that submit printed.", show_default=False)]
DEFAULT_ADDRESS = "http://127.0.0.1:8265"
EXIT_JOB_FAILED = 1


def _connect(address: str, insecure: bool, ca_cert: Path | None):  # noqa: ANN202 (RemoteJobs, imported late)
    """Check the address and token, then connect; every failure is one line and exit 2."""
    from tune_jobs.remote.address import check_address
    from tune_jobs.remote.auth import find_token
    from tune_jobs.remote.jobs import RemoteError, RemoteJobs

    try:
        checked = check_address(address, insecure)
        token = find_token()
    except UserError as error:
        fail_bad_input(error)
    try:
        return RemoteJobs(checked, token, verify=str(ca_cert) if ca_cert else True)
    except RemoteError as error:
        err.print(str(error), markup=False, highlight=False)
        raise typer.Exit(2) from None


def _remote_call(function):  # noqa: ANN001, ANN202
    from tune_jobs.remote.jobs import RemoteError

    try:
        return function()
    except RemoteError as error:
        err.print(str(error), markup=False, highlight=False)
        raise typer.Exit(2) from None


def _when(ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) if ms else "-"


def submit(
    spec: Annotated[Path, typer.Argument(help="The job spec (YAML), inside the current directory.", show_default=False)],
    address: AddressOption = DEFAULT_ADDRESS,
    wait: Annotated[bool, typer.Option(help="Stream the job's logs and exit with its outcome.")] = False,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: dotted.key=value.")] = None,
    restart: Annotated[bool, typer.Option(help="Replace the job's existing results instead of resuming.")] = False,
    pip: Annotated[Optional[list[str]], typer.Option(help="A pip requirement to install for the job (repeatable).")] = None,
    env: Annotated[Optional[list[str]], typer.Option(help="KEY=VALUE for the job's environment (repeatable).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="gitignore-style pattern left out of the upload.")] = None,
    insecure: InsecureOption = False,
    ca_cert: CaCertOption = None,
) -> None:
    """Submit a job to a Ray cluster; it runs `tune-jobs run SPEC --address auto` there."""
    from tune_jobs.ray_tune.compat import upload_limit
    from tune_jobs.remote.address import address_is_loopback, check_address
    from tune_jobs.remote.plan import build_submission, env_pairs, remote_storage
    from tune_jobs.remote.workdir import plan_working_dir

    job = load_or_exit(spec, set_)
    try:
        checked = check_address(address, insecure)
        storage = remote_storage(job, address_is_loopback(checked))
        workdir = plan_working_dir(Path.cwd(), spec, job.storage, list(exclude or []), upload_limit())
        submission = build_submission(job, spec, workdir, list(set_ or []), storage, restart, list(pip or []),
                                      env_pairs(list(env or [])))
    except UserError as error:
        fail_bad_input(error)
    jobs = _connect(address, insecure, ca_cert)
    job_id = _remote_call(lambda: jobs.submit(submission.entrypoint, submission.runtime_env, submission.submission_id,
                                              submission.metadata))
    err.print(f"shipped {workdir.files} files ({workdir.size / 2**20:.1f} MiB) from {workdir.root}", highlight=False)
    from tune_jobs.results.store import join_location

    err.print(f"results: {join_location(storage, job.name) if storage else job.results_dir}", highlight=False)
    out.print(job_id, highlight=False)
    if wait:
        _follow_to_the_end(jobs, job_id)
    else:
        where = "" if address == DEFAULT_ADDRESS else f" --address {address}"
        err.print(f"follow it: tune-jobs logs {job_id} --follow{where}; stop it: tune-jobs stop {job_id}{where}",
                  highlight=False, markup=False)


def _follow_to_the_end(jobs, job_id: str) -> None:  # noqa: ANN001
    from tune_jobs.remote.jobs import FINISHED

    try:
        for chunk in _remote_call(lambda: jobs.follow(job_id)):
            out.print(chunk, end="", markup=False, highlight=False)
    except KeyboardInterrupt:
        err.print(f"\nstopped following; the job goes on (tune-jobs stop {job_id} ends it)", highlight=False)
        raise typer.Exit(130) from None
    summary = _remote_call(lambda: jobs.summary(job_id))
    while summary.status not in FINISHED:  # the log stream can end just before the status
        time.sleep(0.5)
        summary = _remote_call(lambda: jobs.summary(job_id))
    from tune_jobs.remote.entrypoint import explain

    err.print(f"job {job_id}: {summary.status}{': ' + explain(summary.message) if summary.status != 'SUCCEEDED' else ''}",
              highlight=False, markup=False)
    raise typer.Exit(0 if summary.status == "SUCCEEDED" else EXIT_JOB_FAILED)


def status(job_id: JobIdArg, address: AddressOption = DEFAULT_ADDRESS, insecure: InsecureOption = False,
           ca_cert: CaCertOption = None) -> None:
    """A submitted job's status."""
    jobs = _connect(address, insecure, ca_cert)
    summary = _remote_call(lambda: jobs.summary(job_id))
    out.print(f"{summary.job_id}: {summary.status}", highlight=False)
    out.print(f"  started {_when(summary.start_time)}, ended {_when(summary.end_time)}", highlight=False)
    from tune_jobs.remote.entrypoint import explain

    out.print(f"  {'command' if summary.command else 'entrypoint'}: {summary.command or summary.entrypoint}",
              highlight=False, markup=False)
    if summary.message:
        out.print(f"  {explain(summary.message)}", highlight=False, markup=False)


def logs(job_id: JobIdArg, address: AddressOption = DEFAULT_ADDRESS,
         follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming until the job ends.")] = False,
         insecure: InsecureOption = False, ca_cert: CaCertOption = None) -> None:
    """A submitted job's driver log."""
    jobs = _connect(address, insecure, ca_cert)
    if follow:
        _follow_to_the_end(jobs, job_id)
    out.print(_remote_call(lambda: jobs.logs(job_id)), end="", markup=False, highlight=False)


def stop(job_id: JobIdArg, address: AddressOption = DEFAULT_ADDRESS, insecure: InsecureOption = False,
         ca_cert: CaCertOption = None) -> None:
    """Stop a submitted job (its results so far stay; submitting it again resumes it)."""
    jobs = _connect(address, insecure, ca_cert)
    stopped = _remote_call(lambda: jobs.stop(job_id))
    out.print(f"{job_id}: {'stop requested' if stopped else 'already finished'}", highlight=False)


def list_jobs(address: AddressOption = DEFAULT_ADDRESS, insecure: InsecureOption = False,
              ca_cert: CaCertOption = None) -> None:
    """Jobs on the cluster, newest first (`tune-jobs status ID` shows one in full)."""
    jobs = _connect(address, insecure, ca_cert)
    summaries = sorted(_remote_call(jobs.list), key=lambda s: -(s.start_time or 0))
    table = Table(title=f"jobs on {jobs.address}")
    for column in ("job id", "job", "status", "started", "ended"):
        table.add_column(column, no_wrap=True)
    for s in summaries:
        table.add_row(s.job_id, s.name, s.status, _when(s.start_time), _when(s.end_time))
    print_table(table)


def add_remote_commands(app: typer.Typer) -> None:
    for command in (submit, status, logs, stop):
        app.command()(command)
    app.command("list")(list_jobs)
