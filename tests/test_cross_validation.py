"""``cv_folds``: k-fold cross-validation inside a trial, on the CPU, and under ASHA + BayesOpt."""

from __future__ import annotations

import copy
import json
import statistics

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tests.test_loop import blobs, config, model
from trainables.api import Recorder
from trainables.loop.config import ConfigError
from trainables.loop.fit import cross_validation_folds, fit
from tune_jobs.cli import app


def test_the_metric_is_the_mean_over_folds_and_the_spread_is_reported() -> None:
    settings = config(cv_folds=3, epochs=3)
    recorder = Recorder()
    fit(model(), blobs(), blobs(128, seed=1), settings, recorder)
    folds = cross_validation_folds(blobs(), blobs(128, seed=1), 3)
    alone = []
    for fold_train, fold_val in folds:  # each fold trained by itself, from the same initial weights
        single = Recorder()
        fit(model(), fold_train, fold_val, config(epochs=3), single)
        alone.append(single.rows)
    for epoch, row in enumerate(recorder.rows):
        accuracies = [rows[epoch]["val_accuracy"] for rows in alone]
        assert row["val_accuracy"] == pytest.approx(statistics.fmean(accuracies))
        assert row["val_accuracy_std"] == pytest.approx(statistics.stdev(accuracies))
        assert row["val_loss"] == pytest.approx(statistics.fmean(rows[epoch]["val_loss"] for rows in alone))
    sizes = [len(v) for _, v in folds]
    assert sum(sizes) == 256 + 128 and max(sizes) - min(sizes) <= 1
    held = torch.cat([v.inputs for _, v in folds])
    assert len({bytes(r.numpy().tobytes()) for r in held}) == 384  # every row validated exactly once


def test_a_cross_validated_trial_resumes_as_if_never_stopped() -> None:
    settings = config(cv_folds=2, epochs=4)
    whole = Recorder()
    fit(model(), blobs(), blobs(128, seed=1), settings, whole)
    first = Recorder()
    fit(model(), blobs(), blobs(128, seed=1), settings.model_copy(update={"epochs": 2}), first)
    rest = Recorder()
    fit(model(), blobs(), blobs(128, seed=1), settings, rest, copy.deepcopy(first.checkpoint))
    assert len(first.checkpoint["folds"]) == 2
    for mine, theirs in zip(first.rows + rest.rows, whole.rows, strict=True):
        assert mine["epoch"] == theirs["epoch"]
        assert mine["val_loss"] == pytest.approx(theirs["val_loss"], abs=1e-6)


def test_too_few_rows_of_a_class_for_the_folds_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^config.cv_folds: 20 folds need at least 20 rows of every class; the smallest"):
        fit(model(), blobs(24), blobs(8, seed=1), config(cv_folds=20), Recorder())


@pytest.mark.integration
def test_asha_and_bayesopt_rank_trials_by_the_fold_mean(ray_session, tmp_path) -> None:
    spec = tmp_path / "cv.yaml"
    spec.write_text(json.dumps({
        "name": "cv", "trainable": "tabular_mlp", "metric": "val_accuracy",
        "config": {"data": "iris", "epochs": 4, "cv_folds": 3, "hidden": 16},
        "space": {"lr": {"loguniform": [1e-5, 1.0]}},
        "search": {"algorithm": "bayesopt", "num_samples": 6, "seed": 0, "max_concurrent": 1,
                   "options": {"initial_points": 3}},
        "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2}, "storage": str(tmp_path)}))
    result = CliRunner().invoke(app, ["run", str(spec)])
    assert result.exit_code == 0, result.output
    iterations = pd.read_parquet(tmp_path / "cv" / "iterations.parquet")
    trials = pd.read_parquet(tmp_path / "cv" / "trials.parquet")
    assert iterations["val_accuracy_std"].notna().all() and (iterations["val_accuracy_std"] >= 0).all()
    assert len(trials) == 6 and (trials.status == "stopped").any()  # ASHA stopped some on the fold mean
    best = trials.best_val_accuracy.max()
    assert best == iterations.val_accuracy.max()
    report = CliRunner().invoke(app, ["report", str(tmp_path / "cv")])
    assert report.exit_code == 0, report.output
    assert "± across folds" in (tmp_path / "cv" / "report.html").read_text()
    refused = CliRunner().invoke(app, ["ensemble", str(tmp_path / "cv")])
    assert refused.exit_code == 2 and "was cross-validated (cv_folds)" in refused.output
