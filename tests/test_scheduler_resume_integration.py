"""A driver killed mid-job under a scheduler that keeps state (promotion ASHA's rungs, PBT's
lineage) and run again: the state comes back, every iteration is in Parquet exactly once."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.drivers import run_and_kill

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def run_killed_then_again(tmp_path, scheduler, trial_count, kill_when, steps=9):
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "stateful", "trainable": "tests.user_trainables:counting", "metric": "score", "mode": "max",
        "config": {"steps": steps, "sleep": 0.3}, "space": {"x": {"uniform": [0.0, 1.0]}},
        "search": {"num_samples": trial_count, "seed": 0, "max_concurrent": 2}, "scheduler": scheduler,
        "failure": {"max_failures": 2}, "storage": str(tmp_path / "results"), "tensorboard": False,
    }))
    results = tmp_path / "results" / "stateful"
    command = [sys.executable, "-m", "tune_jobs", "run", str(spec), "--num-cpus", "2"]
    run_and_kill(command, lambda: kill_when(results))
    before = json.loads((results / "scheduler_state.json").read_text())
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming job stateful" in done.stderr
    after = json.loads((results / "scheduler_state.json").read_text())
    iterations = pd.read_parquet(results / "iterations.parquet")
    trials = pd.read_parquet(results / "trials.parquet")
    assert not iterations.duplicated(["trial_id", "training_iteration"]).any()
    assert (iterations.step == iterations.training_iteration).all()  # resumed from checkpoints, not restarted
    assert len(trials) == trial_count and set(trials.status) <= {"completed", "stopped"}
    return before, after, trials, iterations


def _state(results):
    path = results / "scheduler_state.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_promotion_asha_keeps_its_rungs_across_a_driver_kill(tmp_path):
    def paused_some(results):
        state = _state(results)
        return state is not None and len(state["waiting"]) >= 2 and len(state["results"].get("1", {})) >= 4

    before, after, trials, iterations = run_killed_then_again(
        tmp_path, {"type": "asha_promotion", "max_t": 9, "grace_period": 1, "reduction_factor": 3}, 9, paused_some)
    for rung, values in before["results"].items():  # nothing recorded before the kill was forgotten
        assert values.items() <= after["results"][rung].items()
    for rung, promoted in before["promoted"].items():
        assert set(promoted) <= set(after["promoted"][rung])
    assert not after["waiting"]  # at the end no trial is left paused
    reached = iterations.groupby("trial_id").training_iteration.max()
    assert (reached == 9).sum() >= 1 and (reached < 9).sum() >= 4  # promoted to the end vs left at a rung
    assert len(after["results"]["3"]) <= 9 // 3 + 2  # about a third went past the first rung


def test_pbt_keeps_its_lineage_across_a_driver_kill(tmp_path):
    def copied_once(results):
        state = _state(results)
        return state is not None and len(state["events"]) >= 1

    before, after, trials, _ = run_killed_then_again(
        tmp_path, {"type": "pbt", "hyperparams": ["x"], "perturbation_interval": 2, "quantile_fraction": 0.5}, 4,
        copied_once, steps=40)  # long enough that the first copy is saved well before the job ends (18 was not, under load)
    assert before["events"] == after["events"][: len(before["events"])]
    events = pd.read_parquet(tmp_path / "results" / "stateful" / "scheduler_events.parquet")
    assert len(events) == len(after["events"]) and set(events.event) == {"exploited"}
    assert events.copied_from.isin(trials.trial_id).all() and events["after/x"].between(0, 1).all()
