"""``digits_mlp``: an MLP on scikit-learn's bundled 8x8 digits (1,797 images), fully offline."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from trainables.data.splits import TEST_FRACTION
from trainables.loop.config import LoopConfig, parse_config
from trainables.loop.register import register_classifier
from trainables.shared_data import shared


class DigitsMLPConfig(LoopConfig):
    hidden: int = Field(128, ge=1)
    layers: int = Field(2, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    val_fraction: float = Field(0.25, gt=0, lt=1)
    test_fraction: float = TEST_FRACTION


def load_digits_splits(val_fraction: float, seed: int, test_fraction: float = 0.0) -> tuple[Any, Any, Any]:
    """Standardised digits: train, validation and (with ``test_fraction``) test splits, fixed by ``seed``."""
    import torch
    from sklearn.datasets import load_digits

    from trainables.data.splits import three_way_split
    from trainables.loop.fit import Split

    digits = load_digits()
    scale = 16.0  # pixel values are 0..16
    parts = three_way_split(digits.data, digits.target, val_fraction, test_fraction, seed)
    train, val, test = (None if part is None else Split(torch.tensor(part[0] / scale, dtype=torch.float32),
                                                        torch.tensor(part[1])) for part in parts)
    return train, val, test


def digits_data(settings: Any) -> tuple[tuple[Any, Any, Any], float]:
    """((train, val, test or None), seconds): the splits, shared between the trials of a job."""
    return shared(f"digits:{settings.val_fraction}:{settings.test_fraction}",
                  lambda: load_digits_splits(settings.val_fraction, seed=0, test_fraction=settings.test_fraction),
                  settings.share_data)


def classifier(config: dict[str, Any]) -> Any:
    import torch

    from trainables.loop.fit import Classifier
    from trainables.models.mlp import build_mlp

    settings = parse_config(DigitsMLPConfig, config)
    (train_split, val_split, test_split), data_time = digits_data(settings)
    torch.manual_seed(settings.seed)
    model = build_mlp(64, 10, settings.hidden, settings.layers, settings.dropout)
    return Classifier(model, train_split, val_split, settings, data_time, test_split)


train = register_classifier(
    "digits_mlp", config=DigitsMLPConfig, classifier=classifier, fusable=True,
    description="MLP classifier of 8x8 handwritten digits (scikit-learn, bundled, offline).")
