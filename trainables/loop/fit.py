"""The one training loop every built-in classifier uses: an epoch, a report, a checkpoint.

Knobs come from ``LoopConfig``: optimizer (sgd with momentum/nesterov, adam, adamw, rmsprop),
weight decay, per-epoch LR schedule with linear warmup, gradient clipping, label smoothing,
early stopping on a validation metric, device (CUDA with bf16 autocast when visible).

Resumes from a checkpoint (model, optimizer, epoch and early-stopping state; the LR schedule is
a function of the epoch), so Ray's retries and ASHA's pauses lose at most the epoch in progress,
and a resumed run reports what an uninterrupted one would have. ``cv_folds`` cross-validates
inside the trial (k models, one per fold, reported as their mean and spread).
"""

from __future__ import annotations

import contextlib
import copy
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trainables.api import TRIAL_LOG_DIR, Report
from trainables.loop.config import ConfigError, LoopConfig
from trainables.loop.costs import inference_latency_ms, parameter_count, peak_memory_mb
from trainables.loop.dynamics import DynamicsProbe
from trainables.loop.schedules import lr_factor
from trainables.loop.state import epoch_seed


@dataclass(frozen=True)
class Split:
    inputs: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return len(self.targets)

    def to(self, device: torch.device) -> Split:
        return Split(self.inputs.to(device), self.targets.to(device))


@dataclass(frozen=True)
class Classifier:
    """What a built-in trainable sets up before training: enough to train it, or to rebuild it
    from a checkpoint and predict (``tune-jobs ensemble``)."""

    model: nn.Module
    train: Split
    val: Split
    settings: LoopConfig
    data_time_s: float = 0.0
    test: Split | None = None  # held out for ``tune-jobs evaluate`` (``test_fraction``); never trained on


def fit_classifier(classifier: Classifier, report: Report, checkpoint: dict[str, Any] | None = None) -> None:
    fit(classifier.model, classifier.train, classifier.val, classifier.settings, report, checkpoint, classifier.data_time_s)


def make_optimizer(settings: LoopConfig, parameters: Any) -> torch.optim.Optimizer:
    if settings.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=settings.lr, momentum=settings.momentum, nesterov=settings.nesterov,
                               weight_decay=settings.weight_decay)
    if settings.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=settings.lr, momentum=settings.momentum,
                                   weight_decay=settings.weight_decay)
    if settings.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=settings.lr, weight_decay=settings.weight_decay)
    return torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=settings.weight_decay)


def restore_optimizer(optimizer: torch.optim.Optimizer, state: dict[str, Any], settings: LoopConfig) -> None:
    """Load the optimizer's state, then put back this trial's own hyperparameters: a trial that
    resumes from another trial's checkpoint (population based training) runs with its mutated
    values, not the ones saved in the state (the bug behind ray#36660). The rate is set per epoch. A fused
    member's state has its buffers per parameter and no ``param_groups``: this optimizer's own are
    the ones it would have saved."""
    if state.get("param_groups") is None:
        state = {**state, "param_groups": optimizer.state_dict()["param_groups"]}
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:
        group["weight_decay"] = settings.weight_decay
        if "momentum" in group:
            group["momentum"] = settings.momentum


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("device: cuda asked for, but no CUDA device is visible to this trial "
                               "(give the trial a GPU: resources.gpu)")
        return torch.device("cuda")
    return torch.device("cpu")


def gpu_memory(device: torch.device) -> dict[str, float]:
    """The process's peak on the device since the last reset: what its tensors took (allocated)
    and what torch's caching allocator held (reserved, which is what other processes could not
    have), with the device's size: what ``resources.gpu: auto`` sizes trials from."""
    return {"gpu_mem_peak_mb": torch.cuda.max_memory_allocated(device) / 2**20,
            "gpu_mem_reserved_mb": torch.cuda.max_memory_reserved(device) / 2**20,
            "gpu_mem_total_mb": torch.cuda.get_device_properties(device).total_memory / 2**20}


def autocast_for(device: torch.device) -> Any:
    """bf16 autocast on GPU (no loss scaling needed, unlike fp16); full precision on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def evaluate(model: nn.Module, split: Split, batch_size: int, device: torch.device) -> tuple[float, float]:
    model.eval()
    loss_sum, correct = 0.0, 0
    size = max(batch_size, 512)
    with torch.no_grad(), autocast_for(device):
        for start in range(0, len(split), size):
            x, y = split.inputs[start : start + size], split.targets[start : start + size]
            logits = model(x).float()
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += int((logits.argmax(1) == y).sum())
    return loss_sum / len(split), correct / len(split)


class EarlyStopping:
    def __init__(self, patience: int | None, metric: str, state: dict[str, Any] | None = None) -> None:
        self.patience, self.metric = patience, metric
        self.best: float | None = (state or {}).get("best")
        self.bad_epochs: int = (state or {}).get("bad_epochs", 0)

    def update(self, metrics: dict[str, float]) -> bool:
        """Record an epoch; True when the trial should stop."""
        value = metrics[self.metric]
        better = self.best is None or (value < self.best if self.metric == "val_loss" else value > self.best)
        if better:
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        return self.patience is not None and self.bad_epochs >= self.patience

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "bad_epochs": self.bad_epochs}


class ModelRun:
    """One model trained epoch by epoch on one train/validation split (a trial, or one fold of it)."""

    def __init__(self, model: nn.Module, train: Split, val: Split, settings: LoopConfig, device: torch.device,
                 state: dict[str, Any] | None = None, histogram_dir: str | None = None) -> None:
        self.model, self.settings, self.device = model.to(device), settings, device
        self.train, self.val = train.to(device), val.to(device)
        self.optimizer = make_optimizer(settings, model.parameters())
        if state is not None:
            model.load_state_dict(state["model"])
            restore_optimizer(self.optimizer, state["optimizer"], settings)
        self.loss_function = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
        self.probe = DynamicsProbe(model, self.val.inputs, histogram_dir) if settings.dynamics else None
        self.generator = torch.Generator().manual_seed(settings.seed)

    def run_epoch(self, epoch: int, lr: float) -> dict[str, float]:
        settings, device, model, train = self.settings, self.device, self.model, self.train
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        # Same batch order, dropout masks and augmentation on a resumed run as on an uninterrupted one.
        self.generator.manual_seed(epoch_seed(settings.seed, epoch))
        torch.manual_seed(epoch_seed(settings.seed, epoch))
        started = time.perf_counter()
        if self.probe is not None:
            self.probe.start_epoch()
        model.train()
        order = torch.randperm(len(train), generator=self.generator).to(device)
        loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)
        for start in range(0, len(train), settings.batch_size):
            index = order[start : start + settings.batch_size]
            x, y = train.inputs[index], train.targets[index]
            self.optimizer.zero_grad(set_to_none=True)
            with autocast_for(device):
                logits = model(x)
                loss = self.loss_function(logits.float(), y)
            loss.backward()
            clipped = None
            if settings.grad_clip is not None:
                clipped = nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            if self.probe is not None:
                self.probe.gradients_ready(clipped)
                if start + settings.batch_size >= len(train):
                    self.probe.before_last_step()
            self.optimizer.step()
            loss_sum += loss.detach() * len(y)  # on the device: no sync per step
            correct += (logits.argmax(1) == y).sum()
        train_loss, train_correct = float(loss_sum), int(correct)
        train_time = time.perf_counter() - started
        val_loss, val_accuracy = evaluate(model, self.val, settings.batch_size, device)
        dynamics = self.probe.epoch_metrics(autocast_for(device), epoch) if self.probe is not None else {}
        return {"train_loss": train_loss / len(train), "train_accuracy": train_correct / len(train), "val_loss": val_loss,
                "val_accuracy": val_accuracy, "train_time_s": train_time, **dynamics}

    def state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}


def cross_validation_folds(train: Split, val: Split, folds: int) -> list[tuple[Split, Split]]:
    """The train and validation rows pooled and cut into ``folds`` stratified folds (fixed seed):
    fold i validates on part i and trains on the rest."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    inputs, targets = torch.cat([train.inputs, val.inputs]), torch.cat([train.targets, val.targets])
    smallest = int(torch.bincount(targets).min()) if len(targets) else 0
    if smallest < folds:
        raise ConfigError(f"config.cv_folds: {folds} folds need at least {folds} rows of every class; the smallest "
                          f"class has {smallest}")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    return [(Split(inputs[fit_rows], targets[fit_rows]), Split(inputs[held_rows], targets[held_rows]))
            for fit_rows, held_rows in splitter.split(np.zeros(len(targets)), targets.cpu().numpy())]


def histogram_dir(settings: LoopConfig) -> str | None:
    """Where ``dynamics_histograms`` go: ``dynamics/`` in the trial's TensorBoard folder, when the
    trial has one (under tune-jobs); None without histograms or outside a job."""
    folder = os.environ.get(TRIAL_LOG_DIR)
    if not (settings.dynamics and settings.dynamics_histograms) or not folder:
        return None
    return os.path.join(folder, "dynamics")


def fit(
    model: nn.Module,
    train: Split,
    val: Split,
    settings: LoopConfig,
    report: Report,
    checkpoint: dict[str, Any] | None = None,
    data_time_s: float = 0.0,
) -> None:
    """Train ``model``; ``data_time_s`` (what getting the data cost this trial) is reported with every epoch.

    With ``cv_folds: k`` a copy of ``model`` is trained on each of k folds of the pooled train and
    validation rows, epoch by epoch; the report holds the mean over the folds (what schedulers and
    searchers see) and the spread (``val_loss_std``, ``val_accuracy_std``)."""
    torch.manual_seed(settings.seed)
    device = pick_device(settings.device)
    first_epoch = 1
    stopping = EarlyStopping(settings.patience, settings.patience_metric)
    if checkpoint is not None:
        first_epoch = int(checkpoint["epoch"]) + 1
        stopping = EarlyStopping(settings.patience, settings.patience_metric, checkpoint.get("early_stopping"))
    if settings.cv_folds:
        folds = cross_validation_folds(train, val, settings.cv_folds)
        saved = checkpoint["folds"] if checkpoint is not None else [None] * len(folds)
        runs = [ModelRun(copy.deepcopy(model), fold_train, fold_val, settings, device, state,
                         histogram_dir(settings) if fold == 0 else None)
                for fold, ((fold_train, fold_val), state) in enumerate(zip(folds, saved, strict=True))]
    else:
        runs = [ModelRun(model, train, val, settings, device, checkpoint, histogram_dir(settings))]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    costs = {"params": parameter_count(runs[0].model),
             "latency_ms": inference_latency_ms(runs[0].model, runs[0].val.inputs, settings.batch_size, device)}
    trained_s = float(checkpoint.get("trained_s", 0.0)) if checkpoint is not None else 0.0
    for epoch in range(first_epoch, settings.epochs + 1):
        lr = settings.lr * lr_factor(epoch, settings.epochs, settings.schedule, settings.warmup_epochs,
                                     settings.step_size, settings.gamma)
        started = time.perf_counter()
        per_run = [run.run_epoch(epoch, lr) for run in runs]
        train_time = sum(found.pop("train_time_s") for found in per_run)
        trained_s += train_time
        measured = {key: statistics.fmean(found[key] for found in per_run) for key in per_run[0]}
        samples = sum(len(run.train) for run in runs)
        metrics = {
            "epoch": epoch,
            **{key: measured.pop(key) for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")},
            "lr": lr,
            "epoch_time_s": time.perf_counter() - started,
            "samples_per_s": samples / train_time if train_time > 0 else float("nan"),
            "data_time_s": data_time_s,
            **costs,
            "peak_memory_mb": peak_memory_mb(device),
            "train_time_s": trained_s,
            **measured,
        }
        if len(runs) > 1:
            metrics["val_loss_std"] = statistics.stdev(found["val_loss"] for found in per_run)
            metrics["val_accuracy_std"] = statistics.stdev(found["val_accuracy"] for found in per_run)
        if device.type == "cuda":
            metrics.update(gpu_memory(device))
        stop = stopping.update(metrics)
        metrics["early_stopped"] = int(stop)
        states = [run.state() for run in runs]
        state = {**(states[0] if not settings.cv_folds else {"folds": states}), "epoch": epoch,
                 "early_stopping": stopping.state(), "trained_s": trained_s}
        report(metrics, checkpoint=state)
        if stop:
            return
