import math

import pytest

from trainables.api import Recorder
from trainables.builtin.digits_mlp import train
from trainables.loop.state import CLASSIFIER_METRICS as METRICS
from trainables.registry import TRAINABLES, UnknownNameError, resolve_trainable


def test_digits_mlp_reports_every_declared_metric_each_epoch():
    recorder = Recorder()
    train({"epochs": 3, "hidden": 32}, recorder)
    assert [row["epoch"] for row in recorder.rows] == [1, 2, 3]
    for row in recorder.rows:
        assert set(METRICS) <= set(row) and all(math.isfinite(row[m]) for m in METRICS)
    assert recorder.rows[-1]["val_accuracy"] > 0.8  # it learns
    assert recorder.checkpoint["epoch"] == 3


def test_resume_from_a_checkpoint_matches_an_uninterrupted_run():
    config = {"epochs": 4, "hidden": 32, "dropout": 0.0}
    whole = Recorder()
    train(config, whole)
    first_half = Recorder()
    train({**config, "epochs": 2}, first_half)
    second_half = Recorder()
    train(config, second_half, checkpoint=first_half.checkpoint)
    assert [r["epoch"] for r in second_half.rows] == [3, 4]
    assert second_half.rows[-1]["val_loss"] == pytest.approx(whole.rows[-1]["val_loss"], rel=1e-5)


def test_registry_lists_valid_names_for_unknown_ones():
    with pytest.raises(UnknownNameError) as info:
        resolve_trainable("nope")
    assert str(info.value) == ("unknown trainable 'nope'; valid: custom_model, digits_cnn, digits_mlp, image_cnn, lightning, resnet18, "
                               "seq2seq_transformer, tabular_mlp, text_rnn, text_transformer, vgg11_bn")
    assert "digits_mlp" in TRAINABLES.names()
    assert TRAINABLES.get("digits_mlp").accepts_checkpoint


def test_report_values_become_plain_numbers_or_name_the_key_that_cannot():
    import numpy as np
    import torch

    from trainables.ray_adapter import plain_metrics

    row, problem = plain_metrics({"loss": torch.tensor(0.25), "acc": np.float64(0.5), "n": np.int64(3), "name": "a",
                                  "ok": True, "none": None, "arr": np.array(2.0)})
    assert row == {"loss": 0.25, "acc": 0.5, "n": 3, "name": "a", "ok": True, "none": None, "arr": 2.0} and problem is None
    assert all(type(row[k]) in (float, int) for k in ("loss", "acc", "n", "arr"))
    _, problem = plain_metrics({"loss": 0.1, "logits": torch.zeros(2, 3)})
    assert problem == "metric 'logits' reported as a Tensor of shape (2, 3), not a number or a string"


def test_a_mapping_of_metrics_is_converted_key_by_key():
    """A fused stack reports its members' metrics as {trial_id: metrics}."""
    import torch

    from trainables.ray_adapter import plain_metrics

    row, problem = plain_metrics({"acc": 0.5, "members": {"t1": {"acc": torch.tensor(0.25), "epoch": 1}}})
    assert row == {"acc": 0.5, "members": {"t1": {"acc": 0.25, "epoch": 1}}} and problem is None
    _, problem = plain_metrics({"members": {"t1": {"probs": [0.1, 0.9]}}})
    assert problem == "metric 'members.t1.probs' reported as a list, not a number or a string"
