"""Each knob of the shared training loop takes effect: real PyTorch on the CPU, tiny data."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trainables.api import Recorder
from trainables.loop.config import ConfigError, LoopConfig, parse_config
from trainables.loop.fit import Split, fit
from trainables.loop.schedules import lr_factor


def blobs(n=256, seed=0):
    """Three separable Gaussian blobs in 8-D: learnable in a few epochs."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 8, generator=g) * 0.5 + nn.functional.one_hot(y, 8).float() * 2
    return Split(x, y)


def model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def run(settings, net=None, checkpoint=None):
    net = net or model()
    recorder = Recorder()
    fit(net, blobs(), blobs(128, seed=1), settings, recorder, checkpoint)
    return recorder, net


def config(**changes):
    return LoopConfig(**{"epochs": 6, "batch_size": 32, "lr": 0.05, "device": "cpu", **changes})


@pytest.mark.parametrize("schedule, expected", [
    ("constant", [1, 1, 1, 1, 1, 1]),
    ("step", [1, 1, 0.5, 0.5, 0.25, 0.25]),
    ("exponential", [1, 0.5, 0.25, 0.125, 0.0625, 0.03125]),
    ("cosine", [0.5 * (1 + math.cos(math.pi * t / 6)) for t in range(6)]),
])
def test_schedules_give_the_documented_factor_per_epoch(schedule, expected):
    factors = [lr_factor(e, 6, schedule, 0, step_size=2, gamma=0.5) for e in range(1, 7)]
    assert factors == pytest.approx(expected)


def test_the_reported_lr_follows_warmup_then_the_schedule():
    recorder, _ = run(config(schedule="step", step_size=2, gamma=0.5, warmup_epochs=2))
    assert [row["lr"] for row in recorder.rows] == pytest.approx([0.05 / 3, 0.1 / 3, 0.05, 0.05, 0.025, 0.025])


def test_weight_decay_shrinks_the_weights():
    norms = {}
    for decay in (0.0, 0.5):
        _, net = run(config(optimizer="sgd", weight_decay=decay))
        norms[decay] = float(sum(p.detach().norm() ** 2 for p in net.parameters()))
    assert norms[0.5] < 0.7 * norms[0.0]


def test_gradient_clipping_bounds_each_step():
    data = blobs()
    settings = config(epochs=1, batch_size=len(data), optimizer="sgd", momentum=0.0, lr=1.0, grad_clip=0.01)
    net = model()
    before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
    fit(net, data, blobs(64, seed=1), settings, Recorder())
    after = torch.cat([p.detach().flatten() for p in net.parameters()])
    assert float((after - before).norm()) == pytest.approx(0.01, rel=1e-3)  # one step of lr x clipped norm


def test_label_smoothing_makes_predictions_less_confident():
    confidence = {}
    for smoothing in (0.0, 0.4):
        _, net = run(config(label_smoothing=smoothing, epochs=8))
        with torch.no_grad():
            confidence[smoothing] = float(net(blobs(128, seed=1).inputs).softmax(1).max(1).values.mean())
    assert confidence[0.4] < confidence[0.0] - 0.05


def test_patience_ends_the_trial_when_the_metric_stops_improving():
    # lr so small nothing improves after the first epoch: patience 2 stops at epoch 3 of 20
    recorder, _ = run(config(epochs=20, lr=1e-12, optimizer="sgd", momentum=0.0, patience=2,
                             patience_metric="val_accuracy"))
    assert len(recorder.rows) == 3 and recorder.rows[-1]["early_stopped"] == 1
    assert [row["early_stopped"] for row in recorder.rows[:-1]] == [0, 0]


@pytest.mark.parametrize("optimizer, extra", [("sgd", {"nesterov": True}), ("rmsprop", {}), ("adamw", {})])
def test_every_optimizer_learns_the_blobs(optimizer, extra):
    recorder, _ = run(config(optimizer=optimizer, lr=0.02, **extra))
    assert recorder.rows[-1]["val_accuracy"] > 0.9


def test_resuming_mid_schedule_with_patience_matches_an_uninterrupted_run():
    settings = config(schedule="cosine", warmup_epochs=1, patience=10, grad_clip=1.0, label_smoothing=0.1)
    whole, _ = run(settings)
    first = Recorder()
    with pytest.raises(_Crash):  # the trial dies during epoch 4
        fit(model(), blobs(), blobs(128, seed=1), settings, _StopAfter(first, 3))
    resumed, _ = run(settings, checkpoint=first.checkpoint)
    for key in ("lr", "val_loss", "train_loss"):
        assert [r[key] for r in first.rows[:3] + resumed.rows] == pytest.approx([r[key] for r in whole.rows])


class _StopAfter:
    """A report that raises after ``n`` epochs, as a crash would."""

    def __init__(self, recorder: Recorder, n: int) -> None:
        self.recorder, self.n = recorder, n

    def __call__(self, metrics, checkpoint=None):
        if len(self.recorder.rows) == self.n:
            raise _Crash
        self.recorder(metrics, checkpoint)


class _Crash(Exception):
    pass


@pytest.mark.parametrize("changes, message", [
    ({"warmup_epochs": 6}, "config: warmup_epochs (6) must be less than epochs (6)"),
    ({"optimizer": "adam", "nesterov": True}, "config: nesterov needs optimizer sgd with momentum > 0"),
    ({"schedule": "linear"}, "config.schedule: Input should be 'constant', 'step', 'exponential' or 'cosine'"),
    ({"label_smoothing": 1.0}, "config.label_smoothing: Input should be less than 1"),
])
def test_bad_config_is_one_line_naming_the_key(changes, message):
    with pytest.raises(ConfigError) as error:
        parse_config(LoopConfig, {"epochs": 6, **changes})
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_a_restored_optimizer_keeps_this_trials_own_hyperparameters():
    """PBT copies another trial's checkpoint and mutates the config: the mutated weight decay and
    momentum must win over the ones saved in the optimizer state (ray#36660)."""
    from trainables.loop.fit import make_optimizer, restore_optimizer

    model = nn.Linear(3, 2)
    donor = parse_config(LoopConfig, {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 0.1})
    saved = make_optimizer(donor, model.parameters()).state_dict()
    mutated = parse_config(LoopConfig, {"optimizer": "sgd", "momentum": 0.5, "weight_decay": 0.01})
    optimizer = make_optimizer(mutated, model.parameters())
    restore_optimizer(optimizer, saved, mutated)
    assert [(g["momentum"], g["weight_decay"]) for g in optimizer.param_groups] == [(0.5, 0.01)]
