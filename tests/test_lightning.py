"""The lightning trainable: a user's LightningModule + LightningDataModule (examples/lightning_digits.py),
unchanged, tuned through the CLI and the API; retries restore Lightning's own checkpoint."""

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import tune_jobs
from tune_jobs.cli import app

pytest.importorskip("lightning")
pytestmark = pytest.mark.integration

SPEC = "examples/lightning_digits.yaml"


def read(directory: Path):
    return pd.read_parquet(directory / "trials.parquet"), pd.read_parquet(directory / "iterations.parquet")


def test_bayesopt_and_asha_tune_a_lightning_module(ray_session, in_repo, tmp_path):
    result = CliRunner().invoke(app, ["run", SPEC, "--storage", str(tmp_path), "--set", "search.num_samples=6",
                                      "--set", "config.epochs=3", "--set", "search.max_concurrent=1",
                                      "--set", "scheduler.grace_period=1"])
    assert result.exit_code == 0, result.output
    trials, iterations = read(tmp_path / "lightning-digits")
    assert len(trials) == 6 and "stopped" in set(trials.status) and "completed" in set(trials.status)
    assert {"val_loss", "val_accuracy", "train_loss", "epoch"} <= set(iterations.columns)
    assert (iterations.epoch == iterations.training_iteration).all()
    assert not iterations.duplicated(["trial_id", "training_iteration"]).any()
    lr = trials.set_index("trial_id").loc[iterations.trial_id, "config/lr"].to_numpy()
    assert iterations.lr_in_effect.to_numpy() == pytest.approx(lr)
    assert trials.best_val_accuracy.max() > 0.8
    for trial_id in trials.trial_id:  # Lightning's own TensorBoard logs, next to ours
        assert list((tmp_path / "lightning-digits" / "tensorboard" / trial_id / "lightning").glob("events.out.tfevents.*"))


def test_a_crashed_trial_resumes_from_lightnings_checkpoint(ray_session, in_repo, tmp_path):
    marker = tmp_path / "crashed"
    result = tune_jobs.run(SPEC, storage=str(tmp_path), search={"algorithm": "random", "num_samples": 1, "seed": 0},
                           scheduler={"type": "fifo"}, config__epochs=4, config__crash_once=str(marker))
    assert marker.exists()  # the worker died after its second epoch
    trials, iterations = result.trials, result.iterations
    assert list(trials.status) == ["completed"] and list(trials.retries) == [1]
    # Each epoch exactly once, and Lightning's own epoch counter went on from the checkpoint
    # (a restart from scratch would report epoch 1 as iteration 3).
    assert list(iterations.training_iteration) == [1, 2, 3, 4] and list(iterations.epoch) == [1, 2, 3, 4]


def test_pbt_restores_lightning_checkpoints_with_the_mutated_lr_in_effect(ray_session, in_repo, tmp_path):
    result = tune_jobs.run(SPEC, storage=str(tmp_path), search={"algorithm": "random", "num_samples": 4, "seed": 0},
                           space={"lr": {"loguniform": [1e-4, 3e-2]}}, config__epochs=6, config__hidden=32,
                           scheduler={"type": "pbt", "perturbation_interval": 2, "quantile_fraction": 0.5})
    events = pd.read_parquet(Path(result.directory) / "scheduler_events.parquet")
    assert set(events.event) == {"exploited"}
    iterations = result.iterations
    checked = 0
    for trial_id, trial_events in events.groupby("trial_id"):
        bounds = [*trial_events.copied_iteration, float("inf")]
        for (_, event), until in zip(trial_events.iterrows(), bounds[1:], strict=True):
            rows = iterations[(iterations.trial_id == trial_id) & (iterations.training_iteration > event.copied_iteration)
                              & (iterations.training_iteration <= until)]
            # the donor's checkpoint, restored by Lightning, trains with the mutated lr
            assert list(rows.lr_in_effect) == pytest.approx([event["after/lr"]] * len(rows))
            checked += len(rows)
    assert checked > 0
    assert not iterations.duplicated(["trial_id", "training_iteration"]).any()


def test_a_missing_module_is_one_line(in_repo):
    with pytest.raises(tune_jobs.SpecError) as info:
        tune_jobs.validate(SPEC, config={"epochs": 2})
    assert info.value.problems == ["config: module is required: the LightningModule as 'package.module:Class'"]


@pytest.mark.slow
def test_a_killed_driver_resumes_lightning_trials_with_each_epoch_once(in_repo, tmp_path):
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.results_files import rows_of

    command = [sys.executable, "-m", "tune_jobs", "run", SPEC, "--storage", str(tmp_path), "--num-cpus", "2",
               "--set", "search={algorithm: random, num_samples: 2, seed: 0}", "--set", "scheduler={type: fifo}",
               "--set", "config.epochs=6"]
    results = tmp_path / "lightning-digits"
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while len(rows_of(results)) < 3:
            assert time.monotonic() < deadline, "the job reported nothing in 180 s"
            time.sleep(0.2)
        os.kill(driver.pid, signal.SIGKILL)  # the driver only: no cleanup, no final flush
        driver.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the orphaned embedded Ray of the killed driver
            os.killpg(driver.pid, signal.SIGKILL)
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "resuming job lightning-digits" in done.stderr
    trials, iterations = read(results)
    assert set(trials.status) == {"completed"} and (trials.iterations == 6).all()
    assert len(iterations) == 12 and not iterations.duplicated(["trial_id", "training_iteration"]).any()
    assert (iterations.epoch == iterations.training_iteration).all()  # Lightning went on from its checkpoint


def test_the_trainer_comes_from_the_package_the_module_subclasses():
    import lightning.pytorch
    import pytorch_lightning

    from trainables.builtin.lightning import _lightning_for

    class Old(pytorch_lightning.LightningModule):
        pass

    class New(lightning.pytorch.LightningModule):
        pass

    assert _lightning_for(Old()) is pytorch_lightning and _lightning_for(New()) is lightning.pytorch
