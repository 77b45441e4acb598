"""A LightningModule and LightningDataModule as users write them, tuned by tune-jobs unchanged
(examples/lightning_digits.yaml). Data: scikit-learn's bundled digits, offline and CPU-sized.
Set ``crash_once`` to a file path to make the trial die once after its second epoch (tests)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class DigitsData(pl.LightningDataModule):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.batch_size = int(config.get("batch_size", 64))

    def setup(self, stage: str | None = None) -> None:
        from sklearn.datasets import load_digits

        images, labels = load_digits(return_X_y=True)
        inputs = torch.tensor(images / 16.0, dtype=torch.float32)
        targets = torch.tensor(labels)
        order = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(0))
        cut = int(0.8 * len(order))
        self.train_set = TensorDataset(inputs[order[:cut]], targets[order[:cut]])
        self.val_set = TensorDataset(inputs[order[cut:]], targets[order[cut:]])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=256)


class DigitsClassifier(pl.LightningModule):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.lr = float(config.get("lr", 1e-3))
        self.crash_once = config.get("crash_once")
        hidden = int(config.get("hidden", 64))
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(float(config.get("dropout", 0.1))),
                                 nn.Linear(hidden, 10))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        loss = nn.functional.cross_entropy(self.net(inputs), targets)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        inputs, targets = batch
        logits = self.net(inputs)
        self.log("val_loss", nn.functional.cross_entropy(logits, targets))
        self.log("val_accuracy", (logits.argmax(1) == targets).float().mean())
        self.log("lr_in_effect", self.optimizers().param_groups[0]["lr"])

    def on_train_epoch_end(self) -> None:
        if self.crash_once and self.current_epoch == 1 and not Path(self.crash_once).exists():
            Path(self.crash_once).write_text("crashed")
            os._exit(1)  # the worker dies: the trial is retried from its last checkpoint

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)
