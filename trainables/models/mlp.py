"""A plain multi-layer perceptron classifier."""

from __future__ import annotations

from torch import nn


def build_mlp(inputs: int, classes: int, hidden: int, layers: int, dropout: float) -> nn.Module:
    blocks: list[nn.Module] = []
    width = inputs
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    blocks.append(nn.Linear(width, classes))
    return nn.Sequential(*blocks)
