"""Fused execution as a job (``execution.fuse``): a stack trainable that trains members as they
would train alone, stops and resumes them one by one; and real jobs where each member is a trial
with its own rows, searched by the job's searcher and stopped by its scheduler."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.test_fused import BASE, COMPARED, MEMBERS, alone
from trainables.api import Recorder
from trainables.fused.run import ENDED, FINISHED, STOPPED_BY_SCHEDULER, stack_trainable
from trainables.fused.run import MEMBERS as MEMBERS_KEY
from trainables.registry import resolve_trainable
from tune_jobs.cli import app
from tune_jobs.errors import SpecError
from tune_jobs.spec import validate_spec


def stack_config(members: list[dict]) -> dict:
    return {**BASE, MEMBERS_KEY: [{"trial_id": f"m{i}", "config": member} for i, member in enumerate(members)]}


def member_rows(recorder: Recorder, member: str) -> list[dict]:
    return [row[MEMBERS_KEY][member] for row in recorder.rows if member in row[MEMBERS_KEY]]


def test_each_member_reports_what_it_reports_alone() -> None:
    train = stack_trainable(resolve_trainable("digits_mlp"), "val_accuracy", "max")
    recorder = Recorder()
    train(stack_config(MEMBERS), recorder)
    assert len(recorder.rows) == 3
    for index, member in enumerate(MEMBERS):
        mine, theirs = member_rows(recorder, f"m{index}"), alone({**BASE, **member}).rows
        for row, expected in zip(mine, theirs, strict=True):
            for key in COMPARED:
                assert row[key] == pytest.approx(expected[key], abs=1e-5), (index, key)
    assert recorder.rows[-1][ENDED] == {f"m{i}": FINISHED for i in range(3)}
    assert recorder.rows[0]["val_accuracy"] == max(row["val_accuracy"] for row in recorder.rows[0][MEMBERS_KEY].values())


def test_a_stopped_member_leaves_and_the_others_go_on_unchanged() -> None:
    asked = []

    def decide(results: dict) -> set[str]:
        asked.append(sorted(results))
        return {"m1"} if "m1" in results else set()

    recorder = Recorder()
    stack_trainable(resolve_trainable("digits_mlp"), "val_accuracy", "max", decide)(stack_config(MEMBERS), recorder)
    assert recorder.rows[0][ENDED] == {"m1": STOPPED_BY_SCHEDULER}
    assert [len(member_rows(recorder, f"m{i}")) for i in range(3)] == [3, 1, 3]
    assert asked == [["m0", "m1", "m2"], ["m0", "m2"], []]  # members that finished are not asked about
    expected = alone({**BASE, **MEMBERS[2]}).rows[-1]
    assert member_rows(recorder, "m2")[-1]["val_loss"] == pytest.approx(expected["val_loss"], abs=1e-5)


class _Killed(Exception):
    pass


def test_a_stack_resumes_from_its_checkpoint_without_the_members_that_left() -> None:
    train = stack_trainable(resolve_trainable("digits_mlp"), "val_accuracy", "max", lambda r: {"m1"} if "m1" in r else set())
    whole = Recorder()
    train(stack_config(MEMBERS), whole)
    first = Recorder()

    def killed_after_two_epochs(metrics: dict, checkpoint: dict | None = None) -> None:
        first(metrics, checkpoint)
        if len(first.rows) == 2:
            raise _Killed

    with pytest.raises(_Killed):
        train(stack_config(MEMBERS), killed_after_two_epochs)
    rest = Recorder()
    train(stack_config(MEMBERS), rest, checkpoint=first.checkpoint)
    assert [sorted(row[MEMBERS_KEY]) for row in rest.rows] == [["m0", "m2"]]  # m1 left at epoch 1 and stays out
    for member in ("m0", "m2"):
        assert rest.rows[0][MEMBERS_KEY][member]["epoch"] == 3
        assert rest.rows[0][MEMBERS_KEY][member]["val_loss"] == pytest.approx(member_rows(whole, member)[-1]["val_loss"],
                                                                              abs=1e-5)


JOB = {"name": "fused", "trainable": "digits_mlp", "metric": "val_accuracy",
       "config": {"epochs": 4, "hidden": 32, "share_data": False},
       "space": {"lr": {"loguniform": [1e-3, 1e-1]}, "weight_decay": {"loguniform": [1e-6, 1e-2]},
                 "dropout": {"uniform": [0.0, 0.5]}},
       "search": {"algorithm": "random", "num_samples": 8, "seed": 0}, "execution": {"fuse": 4}}


@pytest.mark.parametrize("change, message", [
    ({"space": {"hidden": {"randint": [16, 64]}}}, "execution.fuse: space.hidden would give members different models, "
                                                   "data or batches; fused members may differ only in lr, weight_decay"),
    ({"scheduler": {"type": "pbt"}}, "execution.fuse: scheduler pbt cannot stop members one by one; use fifo or asha"),
    ({"search": {"algorithm": "grid"}, "space": {"lr": {"grid": [0.01, 0.1]}}},
     "execution.fuse: grid keys and grid search draw trials without a searcher"),
    ({"trainable": "image_cnn", "config": {"augment": True}},
     "execution.fuse: config.augment: the random shift is drawn once per batch, not per member; set augment: false"),
    ({"config": {"epochs": 2, "cv_folds": 3}}, "execution.fuse: config.cv_folds: cross-validation trains a model per "
                                               "fold inside each trial, which a stack does not; set fuse: 1"),
    ({"config": {"epochs": 2, "dynamics": True}}, "execution.fuse: config.dynamics: training dynamics are measured by "
                                                  "the plain loop only; set fuse: 1"),
    ({"trainable": "text_rnn"}, "execution.fuse: text_rnn cannot be fused; fusable trainables: digits_cnn, digits_mlp, "
                                "image_cnn, resnet18, tabular_mlp, text_transformer, vgg11_bn; or set fuse: 1"),
])
def test_what_cannot_be_fused_is_one_line(change: dict, message: str) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec({**JOB, "storage": "/tmp", **change})
    assert any(problem.startswith(message) for problem in info.value.problems), info.value.problems


def test_auto_spreads_the_trials_over_the_slots_or_falls_back_to_a_process_each() -> None:
    spec = validate_spec({**JOB, "storage": "/tmp", "execution": {"fuse": "auto"}, "search": {"num_samples": 16}})
    assert [spec.stack_size(slots) for slots in (1, 2, 3, 16, 32)] == [16, 8, 6, 1, 1]
    many = validate_spec({**JOB, "storage": "/tmp", "execution": {"fuse": "auto"}, "search": {"num_samples": 500}})
    assert many.stack_size(2) == 16  # a model-based searcher would suggest bigger stacks blind
    shaped = validate_spec({**JOB, "storage": "/tmp", "execution": {"fuse": "auto"}, "config": {"epochs": 4},
                            "space": {**JOB["space"], "hidden": {"randint": [16, 64]}}})
    assert shaped.stack_size(2) == 1 and shaped.fusion_problems()[0].startswith("execution.fuse: space.hidden ")
    folds = validate_spec({**JOB, "storage": "/tmp", "execution": {"fuse": "auto"}, "config": {"epochs": 4, "cv_folds": 3}})
    assert folds.stack_size(2) == 1  # trained with its folds, a process per trial, not fused without them
    with pytest.raises(SpecError) as info:
        validate_spec({**JOB, "storage": "/tmp", "execution": {"fuse": 0}})
    assert info.value.problems == ["execution.fuse: must be auto or 1 to 512, got 0"]


def run_job(tmp_path, **changes) -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = tmp_path / "job.yaml"
    spec.write_text(json.dumps({**JOB, "storage": str(tmp_path), **changes}))
    result = CliRunner().invoke(app, ["run", str(spec)])
    assert result.exit_code == 0, result.output
    run_job.output = result.output  # type: ignore[attr-defined]
    return (pd.read_parquet(tmp_path / "fused" / "trials.parquet"), pd.read_parquet(tmp_path / "fused" / "iterations.parquet"))


@pytest.mark.integration
def test_every_member_is_a_trial_with_its_own_rows_and_asha_stops_members(ray_session, tmp_path) -> None:
    trials, iterations = run_job(tmp_path, scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 2})
    assert len(trials) == 8 and trials.trial_id.is_unique
    assert trials["config/lr"].nunique() == 8  # each member its own suggestion
    assert not iterations.duplicated(["trial_id", "training_iteration"]).any()
    per_trial = iterations.groupby("trial_id").training_iteration.agg(["min", "max", "count"])
    assert (per_trial["min"] == 1).all() and (per_trial["count"] == per_trial["max"]).all()  # complete: 1..n
    assert set(trials.status) <= {"completed", "stopped"} and "stopped" in set(trials.status)
    stopped = trials[trials.status == "stopped"].trial_id
    assert (per_trial.loc[stopped, "max"] < 4).all()  # ASHA stopped them at a rung
    assert (iterations.fused_members > 1).any()
    assert trials.best_val_accuracy.max() > 0.9
    assert json.loads((tmp_path / "fused" / "member_scheduler.json").read_text())["state"]  # its rungs, for a resume
    assert CliRunner().invoke(app, ["report", str(tmp_path / "fused")]).exit_code == 0
    assert "per stack of up to 4 fused trials" in (tmp_path / "fused" / "report.html").read_text()
    ensemble = CliRunner().invoke(app, ["ensemble", str(tmp_path / "fused"), "--top", "3", "--include-stopped"])
    assert ensemble.exit_code == 0, ensemble.output  # members' checkpoints are slices of their stacks'
    found = json.loads((tmp_path / "fused" / "ensemble.json").read_text())
    best = trials.set_index("trial_id").best_val_accuracy
    assert len(found["members"]) == 3 and best[found["members"][0]["trial_id"]] == best.max()
    assert found["best_single_accuracy"] > 0.9
    # By default only trials that ran to the end are members (ASHA's early-stopped ones rank high on short jobs).
    completed = set(trials[trials.status == "completed"].trial_id)
    default = CliRunner().invoke(app, ["ensemble", str(tmp_path / "fused"), "--top", "3"])
    if len(completed) >= 2:
        assert default.exit_code == 0, default.output
        members = {m["trial_id"] for m in json.loads((tmp_path / "fused" / "ensemble.json").read_text())["members"]}
        assert members <= completed and len(members) == min(3, len(completed))
    else:
        assert default.exit_code == 2 and "--include-stopped adds the trials the scheduler stopped early" in default.output


@pytest.mark.integration
def test_a_cnn_with_batchnorm_runs_fused(ray_session, tmp_path) -> None:
    trials, iterations = run_job(tmp_path, trainable="digits_cnn", config={"epochs": 2, "channels": 4, "depth": 2},
                                 search={"algorithm": "random", "num_samples": 3, "seed": 0}, execution={"fuse": 3})
    assert len(trials) == 3 and set(trials.status) == {"completed"} and (iterations.fused_members == 3).all()
    assert len(iterations) == 6 and trials.best_val_accuracy.max() > 0.3


@pytest.mark.integration
def test_bayesopt_learns_from_members_in_stacks_sized_automatically(ray_session, tmp_path) -> None:
    import ray

    trials, _ = run_job(tmp_path, search={"algorithm": "bayesopt", "num_samples": 8, "seed": 0}, execution={"fuse": "auto"})
    size = -(-8 // int(ray.cluster_resources()["CPU"]))
    assert json.loads((tmp_path / "fused" / "job.json").read_text())["stack_size"] == size
    stacks = -(-8 // size)
    grouped = f"fused: 8 trials in {stacks} stack{'s' if stacks > 1 else ''} of up to {size}, each one process"
    assert grouped in " ".join(run_job.output.split())
    assert len(trials) == 8 and set(trials.status) == {"completed"}
    assert trials[["config/lr", "config/weight_decay", "config/dropout"]].drop_duplicates().shape[0] == 8


@pytest.mark.integration
@pytest.mark.slow
def test_a_killed_fused_job_resumes_with_every_member_iteration_exactly_once(tmp_path) -> None:
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tests.results_files import rows_of, sigkill_driver

    root = Path(__file__).resolve().parents[1]
    spec = tmp_path / "job.yaml"
    spec.write_text(json.dumps({**JOB, "config": {"epochs": 30, "hidden": 256, "layers": 3, "share_data": False},
                                "storage": str(tmp_path / "results"), "failure": {"max_failures": 2}}))
    command = [sys.executable, "-m", "tune_jobs", "run", str(spec), "--num-cpus", "2"]
    results = tmp_path / "results" / "fused"
    driver = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(rows_of(results)) < 16:
            time.sleep(0.1)
    finally:
        before = sigkill_driver(driver, results)
    assert 16 <= len(before) < 240, len(before)
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming job fused" in done.stderr
    trials = pd.read_parquet(results / "trials.parquet")
    after = pd.read_parquet(results / "iterations.parquet")
    assert len(trials) == 8 and set(trials.status) == {"completed"} and (trials.iterations == 30).all()
    assert len(after) == 240 and not after.duplicated(["trial_id", "training_iteration"]).any()
    kept = before.merge(after, on=["trial_id", "training_iteration"], suffixes=("_before", "_after"))
    assert len(kept) == len(before)  # nothing reported before the kill was lost


@pytest.mark.integration
def test_the_member_scheduler_goes_on_with_its_rungs_after_a_restart(ray_session) -> None:
    import ray
    from ray.tune.schedulers import ASHAScheduler

    from tune_jobs.ray_tune.fusion import member_scheduler_class

    def asha() -> ASHAScheduler:
        return ASHAScheduler(time_attr="training_iteration", max_t=4, grace_period=1, reduction_factor=2)

    def ask(actor, member: str, value: float) -> list[str]:
        return ray.get(actor.decide.remote({member: {"epoch": 1, "val_accuracy": value}}))

    cls = member_scheduler_class()
    first = cls.remote(asha(), "val_accuracy", "max")
    assert ask(first, "a", 0.9) == [] and ask(first, "b", 0.8) == ["b"]  # below the rung's top half
    saved = ray.get(first.snapshot.remote())
    again, fresh = cls.remote(asha(), "val_accuracy", "max", saved), cls.remote(asha(), "val_accuracy", "max")
    assert ask(again, "c", 0.85) == ["c"]  # the rung still holds a's 0.9 and b's 0.8
    assert ask(fresh, "c", 0.85) == []  # an empty rung stops nobody
    for actor in (first, again, fresh):
        ray.kill(actor)
