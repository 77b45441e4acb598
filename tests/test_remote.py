"""Checks made before anything is sent to a cluster: address, token, working directory, plan."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tune_jobs.errors import SpecError, UserError
from tune_jobs.remote.address import check_address
from tune_jobs.remote.auth import find_token
from tune_jobs.remote.plan import build_submission, remote_storage
from tune_jobs.remote.workdir import plan_working_dir
from tune_jobs.spec import validate_spec

SPEC = {"name": "j", "trainable": "digits_mlp", "metric": "val_accuracy", "space": {"lr": {"loguniform": [1e-3, 1e-1]}}}


@pytest.mark.parametrize("address, expected", [
    ("http://127.0.0.1:8265", "http://127.0.0.1:8265"),
    ("localhost", "http://localhost:8265"),
    ("http://[::1]:9000/", "http://::1:9000"),
    ("https://ray.example.com", "https://ray.example.com:443"),
])
def test_accepted_addresses(address, expected):
    assert check_address(address) == expected


def test_plain_http_to_another_machine_needs_insecure():
    with pytest.raises(SpecError, match=r"--address: http://10.0.0.5:8265 is plain http .* --insecure"):
        check_address("http://10.0.0.5:8265")
    assert check_address("http://10.0.0.5:8265", insecure=True) == "http://10.0.0.5:8265"


@pytest.mark.parametrize("address", ["ray://head:10001", "http://host:8265/api", "http://"])
def test_malformed_addresses(address):
    with pytest.raises(SpecError, match="--address: expected"):
        check_address(address)


@pytest.fixture
def no_token_env(monkeypatch, tmp_path):
    for key in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_token_precedence_env_then_path_then_home(no_token_env, monkeypatch):
    assert find_token() is None
    home_file = no_token_env / "home" / ".ray" / "auth_token"
    home_file.parent.mkdir(parents=True)
    home_file.write_text("from-home\n")
    assert find_token().value == "from-home"
    named = no_token_env / "named"
    named.write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(named))
    assert find_token().value == "from-path"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    token = find_token()
    assert token.value == "from-env" and token.source == "RAY_AUTH_TOKEN"
    assert "from-env" not in repr(token)  # never shown, even in a traceback's locals


def test_an_unreadable_or_empty_token_path_is_an_error(no_token_env, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(no_token_env / "missing"))
    with pytest.raises(UserError, match="RAY_AUTH_TOKEN_PATH: cannot read"):
        find_token()
    (no_token_env / "empty").write_text("\n")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(no_token_env / "empty"))
    with pytest.raises(UserError, match="is empty"):
        find_token()


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.yaml").write_text("x")
    (tmp_path / "model.py").write_text("y" * 100)
    for junk in (".venv/lib/a.py", "results/j/trials.parquet", "pkg/__pycache__/m.pyc", ".git/HEAD", "data/big.bin"):
        (tmp_path / junk).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / junk).write_bytes(b"z" * 1000)
    return tmp_path


def test_the_working_dir_leaves_out_results_virtualenvs_and_caches(project):
    workdir = plan_working_dir(project, project / "job.yaml", "results", [], limit=10**6)
    assert workdir.files == 3 and workdir.size == 1 + 100 + 1000  # job.yaml, model.py, data/big.bin
    assert "/results/" in workdir.excludes
    (project / ".rayignore").write_text("data/\n")
    assert plan_working_dir(project, project / "job.yaml", "results", [], limit=10**6).files == 3  # + .rayignore
    assert plan_working_dir(project, project / "job.yaml", "results", ["*.py"], limit=10**6).files == 2


def test_an_oversized_working_dir_is_refused_before_upload(project):
    with pytest.raises(UserError, match=r"working directory: .* over Ray's upload limit .* \(largest: data 0.0 MiB"):
        plan_working_dir(project, project / "job.yaml", "results", [], limit=500)


def test_the_spec_must_be_inside_the_working_dir(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("other") / "job.yaml"
    elsewhere.write_text("x")
    with pytest.raises(SpecError, match="SPEC: .* is outside the directory being shipped"):
        plan_working_dir(project, elsewhere, "results", [], limit=10**6)


def test_the_entrypoint_is_the_local_run_command(project):
    job = validate_spec({**SPEC, "runtime_env": {"pip": ["einops"], "env_vars": {"A": "1"}}})
    workdir = plan_working_dir(project, project / "job.yaml", job.storage, [], limit=10**6)
    plan = build_submission(job, project / "job.yaml", workdir, ["search.num_samples=2"], "/shared/runs", True,
                            ["rich"], {"B": "2"})
    command = "run job.yaml --address auto --set search.num_samples=2 --storage /shared/runs --restart"
    assert plan.metadata["tune_jobs_command"] == f"tune-jobs {command}"
    assert f"exec \"$py\" -m tune_jobs {command};" in plan.entrypoint  # through the cluster's own Python
    assert plan.runtime_env["pip"] == ["einops", "rich"]
    assert plan.runtime_env["env_vars"] == {"RAY_JOB_STOP_WAIT_TIME_S": "60", "A": "1", "B": "2"}
    assert plan.runtime_env["working_dir"] == str(project) and plan.submission_id.startswith("j-")


def test_relative_storage_is_made_absolute_on_loopback_and_refused_elsewhere(project):
    job = validate_spec(SPEC)
    assert remote_storage(job, loopback=True) == str(Path(project / "results"))
    with pytest.raises(SpecError, match="storage: 'results' is relative; a submitted job runs in a temporary"):
        remote_storage(job, loopback=False)
    assert remote_storage(validate_spec({**SPEC, "storage": "s3://bucket/runs"}), loopback=False) is None


def test_a_token_never_travels_in_env_vars(project):
    with pytest.raises(SpecError, match="runtime_env.env_vars: .*RAY_AUTH_TOKEN must not travel"):
        validate_spec({**SPEC, "runtime_env": {"env_vars": {"RAY_AUTH_TOKEN": "secret"}}})
    job = validate_spec(SPEC)
    workdir = plan_working_dir(project, project / "job.yaml", job.storage, [], limit=10**6)
    with pytest.raises(SpecError, match="--env: RAY_AUTH_TOKEN must not travel"):
        build_submission(job, project / "job.yaml", workdir, [], None, False, [], {"RAY_AUTH_TOKEN": "s"})


def _run_entrypoint(args, path_dirs, cwd):
    from tune_jobs.remote.entrypoint import entrypoint

    env = {"PATH": os.pathsep.join(str(d) for d in path_dirs), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(["/bin/sh", "-c", entrypoint(args)], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_the_entrypoint_runs_tune_jobs_with_the_first_python_that_has_it(tmp_path):
    """No `tune-jobs` on the PATH, only a Python that has it (as on a head whose venv is not active)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python3"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')  # (a symlink would lose the venv)
    python.chmod(0o755)
    done = _run_entrypoint(["validate", "--help"], [bin_dir, "/usr/bin", "/bin"], tmp_path)
    assert done.returncode == 0 and "Usage" in done.stdout, done.stderr


def test_the_entrypoint_says_in_one_line_when_the_cluster_lacks_tune_jobs(tmp_path):
    from tune_jobs.remote.entrypoint import EXIT_MISSING, MISSING, explain

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    bare = Path(sys.base_prefix) / "bin" / "python3"  # the interpreter under this venv: no tune_jobs
    (bin_dir / "python3").symlink_to(bare if bare.exists() else "/usr/bin/python3")
    done = _run_entrypoint(["run", "job.yaml", "--address", "auto"], [bin_dir, "/usr/bin", "/bin"], tmp_path)
    assert done.returncode == EXIT_MISSING and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(MISSING) and "--pip" in done.stderr
    ray_message = f"Job entrypoint command failed with exit code 127, last available logs:\n{done.stderr}"
    assert explain(ray_message) == done.stderr.strip()
    assert explain("Job was stopped") == "Job was stopped"


def test_a_jobs_log_names_the_command_not_the_interpreter_finder_and_a_failure_is_not_the_log_again():
    """Submitted jobs' logs opened with an 846-character shell line; `--wait` printed the log twice."""
    from tune_jobs.remote.entrypoint import entrypoint, explain, readable_log

    line = entrypoint(["run", "my job.yaml", "--address", "auto", "--set", "search.num_samples=4"])
    log = f"Running entrypoint for job raysubmit_7: {line}\njob demo: digits_mlp, random search\n"
    assert readable_log(log) == ("Running entrypoint for job raysubmit_7: tune-jobs run 'my job.yaml' --address auto "
                                 "--set search.num_samples=4\njob demo: digits_mlp, random search\n")
    assert explain("Job entrypoint command failed with exit code 1, last available logs (truncated to 20,000 chars):\n"
                   "job demo: ...\ntrials: 2 failed\n") == "Job entrypoint command failed with exit code 1"


def test_a_driver_that_joined_the_cluster_is_listed_by_its_command_not_as_a_dash():
    from types import SimpleNamespace

    from tune_jobs.remote.jobs import _summary

    driver = SimpleNamespace(status="RUNNING", entrypoint="/venv/bin/python -m tune_jobs run job.yaml --address auto",
                             message=None, start_time=1, end_time=None, metadata={}, submission_id=None)
    assert _summary("01000000", driver).name == "driver: /venv/bin/python -m tune_jobs run job.yaml --address auto"
