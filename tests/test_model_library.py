"""The model library: each family trains through `tune-jobs run` on the CPU at tiny sizes, and
bad config is one clear line, from the spec check or from the trial."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from trainables.api import Recorder
from trainables.loop.config import ConfigError
from tune_jobs.cli import app
from tune_jobs.errors import SpecError
from tune_jobs.spec import validate_spec

TINY = {"epochs": 2, "device": "cpu", "lr": 1e-3}
FAMILIES = {
    "image_cnn": {**TINY, "train_subset": 300, "augment": True},
    "resnet18": {**TINY, "train_subset": 200, "batch_size": 64},
    "vgg11_bn": {**TINY, "train_subset": 200, "batch_size": 64},
    "text_rnn": {**TINY, "synthetic_samples": 300, "cell": "gru", "max_length": 32},
    "text_transformer": {**TINY, "synthetic_samples": 300, "max_length": 32, "d_model": 32, "nhead": 4},
    "tabular_mlp": {**TINY, "data": "wine"},
    "custom_model": {**TINY, "width": 16},
}


@pytest.mark.integration
@pytest.mark.parametrize("trainable", FAMILIES)
def test_each_family_trains_through_the_cli(trainable, ray_session, in_repo, tmp_path):
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "family", "trainable": trainable, "metric": "val_accuracy", "config": FAMILIES[trainable],
        "space": {"seed": {"grid": [0, 1]}}, "search": {"algorithm": "grid"}, "storage": str(tmp_path),
    }))
    result = CliRunner().invoke(app, ["run", str(spec)])
    assert result.exit_code == 0, result.output
    trials = pd.read_parquet(tmp_path / "family" / "trials.parquet")
    assert len(trials) == 2 and set(trials.status) == {"completed"} and (trials.iterations == 2).all()
    assert trials.best_val_accuracy.notna().all()


@pytest.mark.parametrize("trainable, config, message", [
    ("text_transformer", {"d_model": 64, "nhead": 3}, "config: nhead (3) must divide d_model (64)"),
    ("digits_cnn", {"epochs": 4, "warmup_epochs": 4}, "config: warmup_epochs (4) must be less than epochs (4)"),
    ("tabular_mlp", {"data": "table.xlsx"}, "config: data must be one of breast_cancer, wine, iris, digits or a .csv"),
    ("tabular_mlp", {"data": "table.csv"}, "config: target (the label column) is needed with a data file (table.csv)"),
    ("image_cnn", {"dataset": "imagenet"}, "config.dataset: 'imagenet' not accepted: input should be 'digits', 'mnist'"),
    ("custom_model", {"model_factory": "not a reference"}, "config.model_factory: 'not a reference' not accepted"),
])
def test_bad_fixed_config_fails_the_spec_check_in_one_line(trainable, config, message):
    with pytest.raises(SpecError) as error:
        validate_spec({"name": "j", "trainable": trainable, "metric": "val_accuracy", "config": config})
    assert error.value.problems[0].startswith(message), error.value.problems


def test_a_searched_conflict_fails_the_trial_in_one_line():
    from trainables.builtin.text_classifiers import train_transformer

    with pytest.raises(ConfigError, match=r"^config: nhead \(3\) must divide d_model \(64\)$"):
        train_transformer({"d_model": 64, "nhead": 3}, Recorder())
    # and the spec does not refuse it up front when nhead is searched
    validate_spec({"name": "j", "trainable": "text_transformer", "metric": "val_accuracy",
                   "config": {"d_model": 64}, "space": {"nhead": {"choice": [2, 3, 4]}}})


def test_missing_files_and_columns_are_one_line(tmp_path, monkeypatch):
    from trainables.builtin.image_classifiers import train_cnn
    from trainables.builtin.tabular import train as tabular
    from trainables.builtin.text_classifiers import train_rnn

    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"text": ["a b", "c d"] * 10, "y": [0, 1] * 10}).to_csv("reviews.csv", index=False)
    cases = [
        (tabular, {"data": "missing.csv", "target": "y"}, r"^config.data: no file missing.csv"),
        (tabular, {"data": "reviews.csv", "target": "label"}, r"^config.target: column 'label' not in reviews.csv; columns: text, y$"),
        (train_rnn, {"data": "reviews.csv"}, r"^config.label_column: column 'label' not in reviews.csv"),
        (train_cnn, {"dataset": "cifar10", "data_dir": "nowhere"},
         r"^config.data_dir: cifar10 not found in .*nowhere \(looked for .*cifar-10-batches-py\); set download: true"),
        (__import__("trainables.builtin.custom_model", fromlist=["train"]).train, {"model_factory": "nomodule:build"},
         r"^config.model_factory: cannot import 'nomodule'"),
    ]
    for function, config, pattern in cases:
        with pytest.raises(ConfigError, match=pattern):
            function({**config, "epochs": 1, "device": "cpu"}, Recorder())


def test_a_user_csv_of_texts_trains(tmp_path):
    from trainables.builtin.text_classifiers import train_rnn
    from trainables.data.text import synthetic_texts

    texts, labels = synthetic_texts(300, seed=3)
    path = tmp_path / "reviews.parquet"
    pd.DataFrame({"body": texts, "stars": [f"s{label}" for label in labels]}).to_parquet(path)
    recorder = Recorder()
    train_rnn({"data": str(path), "text_column": "body", "label_column": "stars", "epochs": 3, "device": "cpu",
               "max_length": 32, "lr": 3e-3}, recorder)
    assert len(recorder.rows) == 3 and recorder.rows[-1]["val_accuracy"] > 0.3  # 4 classes: chance is 0.25
