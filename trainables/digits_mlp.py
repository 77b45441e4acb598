"""``digits_mlp``: an MLP on scikit-learn's bundled 8x8 digits (1,797 images), fully offline."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from trainables.api import Report
from trainables.loop_config import LoopConfig, parse_config
from trainables.registry import register_trainable
from trainables.shared_data import shared


class DigitsMLPConfig(LoopConfig):
    hidden: int = Field(128, ge=1)
    layers: int = Field(2, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    val_fraction: float = Field(0.25, gt=0, lt=1)


METRICS = {"train_loss": "min", "train_accuracy": "max", "val_loss": "min", "val_accuracy": "max"}


def load_digits_splits(val_fraction: float, seed: int) -> tuple[Any, Any]:
    """Standardised digits, split into train and validation with a fixed seed."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from trainables.loop import Split

    digits = load_digits()
    x_train, x_val, y_train, y_val = train_test_split(
        digits.data, digits.target, test_size=val_fraction, random_state=seed, stratify=digits.target
    )
    scale = 16.0  # pixel values are 0..16
    return (
        Split(torch.tensor(x_train / scale, dtype=torch.float32), torch.tensor(y_train)),
        Split(torch.tensor(x_val / scale, dtype=torch.float32), torch.tensor(y_val)),
    )


def digits_data(settings: Any) -> tuple[tuple[Any, Any], float]:
    """((train, val), seconds): the splits, shared between the trials of a job."""
    return shared(f"digits:{settings.val_fraction}", lambda: load_digits_splits(settings.val_fraction, seed=0),
                  settings.share_data)


def classifier(config: dict[str, Any]) -> Any:
    import torch

    from trainables.loop import Classifier
    from trainables.models.mlp import build_mlp

    settings = parse_config(DigitsMLPConfig, config)
    (train_split, val_split), data_time = digits_data(settings)
    torch.manual_seed(settings.seed)
    model = build_mlp(64, 10, settings.hidden, settings.layers, settings.dropout)
    return Classifier(model, train_split, val_split, settings, data_time)


@register_trainable("digits_mlp", config=DigitsMLPConfig, metrics=METRICS, classifier=classifier)  # type: ignore[arg-type]
def train(config: dict[str, Any], report: Report, checkpoint: dict[str, Any] | None = None) -> None:
    """MLP classifier of 8x8 handwritten digits (scikit-learn, bundled, offline)."""
    from trainables.loop import fit_classifier

    fit_classifier(classifier(config), report, checkpoint)
