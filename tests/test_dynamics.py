"""Training dynamics (``dynamics: true``): the metrics, and the diagnosis naming each problem on a
small constructed case trained for real on the CPU."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from tests.test_loop import blobs, config
from trainables.api import Recorder
from trainables.loop import fit
from tune_jobs.analysis.diagnosis import (
    DEAD_UNITS,
    DIVERGED,
    EXPLODING,
    LARGE_UPDATES,
    SMALL_UPDATES,
    VANISHING,
    diagnose,
)

DYNAMICS_FINDINGS = {EXPLODING, VANISHING, DEAD_UNITS, LARGE_UPDATES, SMALL_UPDATES}
COLUMNS = {"grad_norm", "grad_norm_max", "grad_depth_ratio", "weight_norm", "update_ratio", "update_ratio_min",
           "update_ratio_max", "activation_std_min", "dead_unit_fraction"}


def mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def train(net: nn.Module, **changes: object) -> tuple[pd.DataFrame, set[str], list]:
    recorder = Recorder()
    fit(net, blobs(), blobs(128, seed=1), config(dynamics=True, **changes), recorder)
    history = pd.DataFrame(recorder.rows)
    findings = diagnose(history, "val_accuracy", "max")
    return history, {f.kind for f in findings}, findings


def test_off_by_default_and_every_figure_when_on() -> None:
    recorder = Recorder()
    fit(mlp(), blobs(), blobs(128, seed=1), config(), recorder)
    assert not COLUMNS & set(recorder.rows[-1])
    history, kinds, _ = train(mlp())
    assert set(history.columns) >= COLUMNS
    assert history[sorted(COLUMNS)].notna().all().all()
    assert not kinds & DYNAMICS_FINDINGS  # a healthy run: none of the dynamics problems
    assert 1e-4 < history["update_ratio"].iloc[-1] < 1e-1
    assert history["update_ratio_min"].iloc[-1] <= history["update_ratio"].iloc[-1] <= history["update_ratio_max"].iloc[-1]


def test_the_gradient_norm_is_measured_before_clipping() -> None:
    history, _, _ = train(mlp(), grad_clip=1e-3)
    assert history["grad_norm"].min() > 1e-3


def test_dead_relus_are_named() -> None:
    net = mlp()
    nn.init.constant_(net[0].bias, -100.0)  # every hidden unit below zero for every input
    history, kinds, findings = train(net)
    assert history["dead_unit_fraction"].iloc[-1] == 1.0
    assert DEAD_UNITS in kinds
    assert "gelu" in next(f.detail for f in findings if f.kind == DEAD_UNITS)


def test_vanishing_gradients_are_named() -> None:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for index in range(10):
        layers += [nn.Linear(16 if index else 8, 16), nn.Tanh()]
    net = nn.Sequential(*layers, nn.Linear(16, 3))
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.weight.mul_(0.05)  # each layer shrinks the signal (and the gradient) twentyfold
    history, kinds, _ = train(net, optimizer="sgd", lr=0.01)
    assert history["grad_depth_ratio"].iloc[-1] < 1e-3
    assert VANISHING in kinds


def test_tiny_steps_are_named() -> None:
    _, kinds, findings = train(mlp(), lr=1e-8)
    assert SMALL_UPDATES in kinds
    assert "raise the learning rate" in next(f.detail for f in findings if f.kind == SMALL_UPDATES)


def test_exploding_gradients_are_named_with_the_divergence() -> None:
    history, kinds, findings = train(mlp(), optimizer="sgd", lr=20.0, momentum=0.9)
    assert {DIVERGED, EXPLODING} <= kinds
    assert "grad_clip" in next(f.detail for f in findings if f.kind == EXPLODING)
    assert history["grad_norm_max"].max() > 10 * history["grad_norm"].iloc[0]


@pytest.mark.parametrize(("ratio", "kind"), [(0.5, LARGE_UPDATES), (1e-7, SMALL_UPDATES), (3e-3, None)])
def test_steps_far_from_the_usual_size(ratio: float, kind: str | None) -> None:
    history = pd.DataFrame({"training_iteration": range(1, 6), "val_accuracy": [0.5, 0.6, 0.6, 0.6, 0.6],
                            "update_ratio": [ratio] * 5})
    kinds = {f.kind for f in diagnose(history, "val_accuracy", "max")}
    assert kinds & DYNAMICS_FINDINGS == ({kind} if kind else set())
