"""Every shipped job spec validates; the user-trainable example runs as documented."""

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tune_jobs.cli import app
from tune_jobs.spec import load_spec

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_specs_validate(path, in_repo):
    spec = load_spec(path)
    assert spec.name and spec.search.trials >= 1


@pytest.mark.integration
def test_user_trainable_example_runs(ray_session, in_repo, tmp_path):
    result = CliRunner().invoke(app, ["run", "examples/my_trainable.yaml", "--storage", str(tmp_path)])
    assert result.exit_code == 0, result.output
    trials = pd.read_parquet(tmp_path / "my-trainable" / "trials.parquet")
    assert len(trials) == 12 and trials.best_loss.min() < 1.0


@pytest.mark.integration
def test_digits_cnn_example_trains_through_the_cli(ray_session, in_repo, tmp_path):
    result = CliRunner().invoke(app, ["run", "examples/digits_cnn.yaml", "--storage", str(tmp_path),
                                      "--set", "search.num_samples=3", "--set", "config.epochs=3",
                                      "--set", "config.patience=2", "--set", "scheduler.grace_period=1"])
    assert result.exit_code == 0, result.output
    trials = pd.read_parquet(tmp_path / "digits-cnn" / "trials.parquet")
    iterations = pd.read_parquet(tmp_path / "digits-cnn" / "iterations.parquet")
    assert len(trials) == 3 and set(trials.status) <= {"completed", "stopped"}
    assert trials.best_val_accuracy.max() > 0.5
    assert {"lr", "early_stopped", "epoch_time_s", "samples_per_s"} <= set(iterations.columns)
    warmup = iterations[iterations.training_iteration == 1]
    assert (warmup.lr < trials.set_index("trial_id").loc[warmup.trial_id, "config/lr"].to_numpy()).all()  # warmup


@pytest.mark.integration
@pytest.mark.parametrize("example, extra", [
    ("tabular_mlp", []),
    ("text_transformer", ["--set", "config.synthetic_samples=300", "--set", "config.max_length=24"]),
    ("custom_model", []),
    ("seq2seq_numbers", ["--set", "config.synthetic_samples=300", "--set", "config.bleu_sentences=20",
                         "--set", "space.d_model={choice: [32]}", "--set", "space.dim_feedforward={choice: [64]}"]),
])
def test_cpu_examples_run_at_tiny_sizes(example, extra, ray_session, in_repo, tmp_path):
    result = CliRunner().invoke(app, ["run", f"examples/{example}.yaml", "--storage", str(tmp_path),
                                      "--set", "search.num_samples=2", "--set", "config.epochs=2",
                                      "--set", "scheduler={type: fifo}", *extra])
    assert result.exit_code == 0, result.output
    name = load_spec(Path("examples") / f"{example}.yaml").name
    trials = pd.read_parquet(tmp_path / name / "trials.parquet")
    assert len(trials) == 2 and set(trials.status) == {"completed"} and (trials.iterations == 2).all()
