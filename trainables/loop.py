"""The one training loop every built-in classifier uses: an epoch, a report, a checkpoint.

Resumes from a checkpoint (model, optimizer and epoch), so Ray's retries and ASHA's pauses lose
at most the epoch in progress.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from trainables.api import Report

Optimizer = Literal["sgd", "adam", "adamw"]


@dataclass(frozen=True)
class LoopSettings:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-2
    optimizer: Optimizer = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class Split:
    inputs: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return len(self.targets)


def make_optimizer(settings: LoopSettings, parameters: Any) -> torch.optim.Optimizer:
    if settings.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=settings.lr, momentum=settings.momentum,
                               weight_decay=settings.weight_decay)
    if settings.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=settings.lr, weight_decay=settings.weight_decay)
    return torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=settings.weight_decay)


def _evaluate(model: nn.Module, split: Split, batch_size: int) -> tuple[float, float]:
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(split), max(batch_size, 512)):
            x = split.inputs[start : start + max(batch_size, 512)]
            y = split.targets[start : start + max(batch_size, 512)]
            logits = model(x)
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += int((logits.argmax(1) == y).sum())
    return loss_sum / len(split), correct / len(split)


def fit(
    model: nn.Module,
    train: Split,
    val: Split,
    settings: LoopSettings,
    report: Report,
    checkpoint: dict[str, Any] | None = None,
) -> None:
    torch.manual_seed(settings.seed)
    optimizer = make_optimizer(settings, model.parameters())
    first_epoch = 1
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        first_epoch = int(checkpoint["epoch"]) + 1
    generator = torch.Generator().manual_seed(settings.seed)
    for epoch in range(first_epoch, settings.epochs + 1):
        # Same batch order on a resumed run as on an uninterrupted one.
        generator.manual_seed(settings.seed * 100_003 + epoch)
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train), generator=generator)
        loss_sum, correct = 0.0, 0
        for start in range(0, len(train), settings.batch_size):
            index = order[start : start + settings.batch_size]
            x, y = train.inputs[index], train.targets[index]
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
        train_time = time.perf_counter() - started
        val_loss, val_accuracy = _evaluate(model, val, settings.batch_size)
        metrics = {
            "epoch": epoch,
            "train_loss": loss_sum / len(train),
            "train_accuracy": correct / len(train),
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "lr": optimizer.param_groups[0]["lr"],
            "epoch_time_s": time.perf_counter() - started,
            "samples_per_s": len(train) / train_time if train_time > 0 else float("nan"),
        }
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
        report(metrics, checkpoint=state)
