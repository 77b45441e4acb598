"""``digits_cnn``: a small CNN on scikit-learn's bundled 8x8 digits, fully offline."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from trainables.builtin.digits_mlp import digits_data
from trainables.data.splits import TEST_FRACTION
from trainables.loop.config import LoopConfig, parse_config
from trainables.loop.register import register_classifier


class DigitsCNNConfig(LoopConfig):
    channels: int = Field(16, ge=1, le=512, description="channels of the first block; doubled per block")
    depth: int = Field(2, ge=1, le=6, description="conv blocks")
    dropout: float = Field(0.1, ge=0, lt=1)
    val_fraction: float = Field(0.25, gt=0, lt=1)
    test_fraction: float = TEST_FRACTION


def classifier(config: dict[str, Any]) -> Any:
    import torch

    from trainables.loop.fit import Classifier, Split
    from trainables.models.cnn import build_cnn

    settings = parse_config(DigitsCNNConfig, config)
    (train_rows, val_rows, test_rows), data_time = digits_data(settings)

    def as_images(split: Split) -> Split:
        return Split(split.inputs.reshape(-1, 1, 8, 8), split.targets)

    train, val, test = as_images(train_rows), as_images(val_rows), None if test_rows is None else as_images(test_rows)
    torch.manual_seed(settings.seed)
    model = build_cnn(1, 10, 8, settings.channels, settings.depth, settings.dropout)
    return Classifier(model, train, val, settings, data_time, test)


train = register_classifier(
    "digits_cnn", config=DigitsCNNConfig, classifier=classifier, fusable=True,
    description="Small CNN classifier of 8x8 handwritten digits (scikit-learn, bundled, offline).")
