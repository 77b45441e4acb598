"""Held-out test rows (``test_fraction``) and ``tune-jobs evaluate`` on a small real job."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from typer.testing import CliRunner

from trainables.builtin import digits_mlp, tabular
from trainables.builtin import image_classifiers as vision
from trainables.builtin import text_classifiers as text
from tune_jobs.cli import app

TRIALS, EPOCHS = 4, 4


def rows(split) -> set[bytes]:
    return {bytes(r.numpy().tobytes()) for r in split.inputs}


def test_without_a_test_fraction_the_splits_are_what_they_were() -> None:
    train, val, test = digits_mlp.load_digits_splits(0.25, seed=0)
    digits = load_digits()
    x_train, x_val, _, _ = train_test_split(digits.data, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
    assert test is None
    assert torch.equal(train.inputs, torch.tensor(x_train / 16.0, dtype=torch.float32))
    assert torch.equal(val.inputs, torch.tensor(x_val / 16.0, dtype=torch.float32))


@pytest.mark.parametrize("classifier", [digits_mlp.classifier, tabular.classifier, text.rnn_classifier, vision.cnn_classifier],
                         ids=["digits", "tabular", "text", "image digits"])
def test_test_rows_are_held_out_fixed_and_never_trained_on(classifier) -> None:
    config = {"test_fraction": 0.2, "share_data": False}
    first, again = classifier(config), classifier({**config, "seed": 7, "lr": 0.5})
    assert first.test is not None and again.test is not None
    total = len(first.train) + len(first.val) + len(first.test)
    assert abs(len(first.test) - 0.2 * total) <= 1
    assert not rows(first.test) & (rows(first.train) | rows(first.val))
    assert torch.equal(first.test.inputs, again.test.inputs)  # fixed by the data seed, not the trial's seed
    assert np.bincount(first.test.targets.numpy()).min() > 0  # stratified: every class is there


def write_mnist(root, train: int, test: int) -> None:
    """A small MNIST in torchvision's raw layout (idx files), random pixels, labels cycling 0-9."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", train), ("t10k", test)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(np.array([2051, count, 28, 28], ">i4").tobytes() + images.tobytes())
        labels = (np.arange(count) % 10).astype(np.uint8)
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(np.array([2049, count], ">i4").tobytes() + labels.tobytes())


def test_a_torchvision_dataset_holds_out_part_of_its_official_test_images(tmp_path) -> None:
    write_mnist(tmp_path, train=60, test=100)
    config = {"dataset": "mnist", "data_dir": str(tmp_path), "share_data": False}
    unchanged = vision.cnn_classifier(config)
    assert unchanged.test is None and len(unchanged.train) == 60 and len(unchanged.val) == 100  # validation: official test
    held = vision.cnn_classifier({**config, "test_fraction": 0.3})
    assert len(held.train) == 60 and len(held.val) == 70 and held.test is not None and len(held.test) == 30
    assert rows(held.val) | rows(held.test) == rows(unchanged.val) and not rows(held.val) & rows(held.test)
    assert torch.equal(held.train.inputs, unchanged.train.inputs)


@pytest.fixture(scope="module")
def held_out_job(ray_session, tmp_path_factory):
    storage = tmp_path_factory.mktemp("evaluate")
    spec = storage / "job.yaml"
    spec.write_text(json.dumps({
        "name": "held-out", "trainable": "digits_mlp", "metric": "val_accuracy",
        "config": {"epochs": EPOCHS, "test_fraction": 0.2, "hidden": 32},
        "space": {"lr": {"loguniform": [1e-3, 3e-2]}}, "search": {"algorithm": "random", "num_samples": TRIALS, "seed": 0},
        "storage": str(storage)}))
    result = CliRunner().invoke(app, ["run", str(spec)])
    assert result.exit_code == 0, result.output
    return storage / "held-out"


@pytest.mark.integration
def test_evaluate_measures_the_chosen_models_on_rows_nobody_ranked(held_out_job) -> None:
    import pandas as pd

    result = CliRunner().invoke(app, ["evaluate", str(held_out_job), "--top", "3"])
    assert result.exit_code == 0, result.output
    found = json.loads((held_out_job / "evaluation.json").read_text())
    assert found["samples"] == {"train": 1077, "validation": 360, "test": 360}
    trials = pd.read_parquet(held_out_job / "trials.parquet").sort_values("best_val_accuracy", ascending=False)
    best = found["best"]
    assert best["name"] == trials.trial_id.iloc[0]
    # The validation figure is the one the job ranked by (the best epoch's checkpoint); test is new.
    assert best["scores"]["validation"]["accuracy"] == pytest.approx(trials.best_val_accuracy.iloc[0], abs=1e-6)
    assert found["ensemble"]["name"] == "ensemble of 3"
    assert found["ensemble"]["members"] == trials.trial_id.iloc[:3].tolist()  # named, best first
    for model in (best, found["ensemble"]):
        assert set(model["scores"]) == {"train", "validation", "test"}
        assert all(0.5 < s["accuracy"] <= 1 and s["loss"] > 0 for s in model["scores"].values())
    assert found["reading"][0].startswith("errors (1 - accuracy): train ")
    assert found["figures"] == ["accuracy", "loss"]
    assert "ensemble of 3" in result.output and "test" in result.output
    report = CliRunner().invoke(app, ["report", str(held_out_job)])
    assert report.exit_code == 0, report.output
    assert "Held-out test rows" in (held_out_job / "report.html").read_text()
