"""Training dynamics (``dynamics: true``): the metrics, and the diagnosis naming each problem on a
small constructed case trained for real on the CPU."""

from __future__ import annotations

import math
import struct

import pandas as pd
import pytest
import torch
from pydantic import ValidationError
from torch import nn

from tests.test_loop import blobs, config
from trainables.api import TRIAL_LOG_DIR, Recorder
from trainables.loop import dynamics
from trainables.loop.fit import fit
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


@pytest.fixture(autouse=True)
def every_epoch(monkeypatch):
    """These trainings take milliseconds an epoch: without a budget every epoch is measured."""
    monkeypatch.setattr(dynamics, "BUDGET", math.inf)


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


def test_measurements_over_the_budget_skip_the_next_epochs(monkeypatch) -> None:
    monkeypatch.setattr(dynamics, "BUDGET", 0.0)  # any cost is over it: only the first epoch is measured
    history, _, _ = train(mlp())
    assert history.loc[0, sorted(COLUMNS)].notna().all()
    assert history.loc[1:, sorted(COLUMNS)].isna().all().all()
    assert len(history) == 6 and history["val_accuracy"].notna().all()


def histograms(directory) -> dict[str, list[int]]:
    """tag -> steps of the histograms in tensorboardX event files (TFRecord frames of Event protos)."""
    from tensorboardX.proto.event_pb2 import Event

    found: dict[str, list[int]] = {}
    for path in directory.glob("events.out.tfevents.*"):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                if value.HasField("histo"):
                    found.setdefault(value.tag, []).append(event.step)
    return found


def test_histograms_of_weights_gradients_and_activations_in_the_trial_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(TRIAL_LOG_DIR, str(tmp_path))
    train(mlp(), dynamics_histograms=True, epochs=3)
    found = histograms(tmp_path / "dynamics")
    assert set(found) == {"weights/0.weight", "weights/0.bias", "weights/2.weight", "weights/2.bias", "gradients/0.weight",
                          "gradients/0.bias", "gradients/2.weight", "gradients/2.bias", "activations/1"}
    assert all(steps == [1, 2, 3] for steps in found.values())


def test_no_histograms_unless_asked(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(TRIAL_LOG_DIR, str(tmp_path))
    train(mlp(), epochs=2)
    assert not (tmp_path / "dynamics").exists()
    with pytest.raises(ValidationError, match="dynamics_histograms: needs dynamics: true"):
        config(dynamics_histograms=True)
