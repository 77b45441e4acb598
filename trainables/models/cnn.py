"""A small CNN for small images: ``depth`` conv blocks (conv-BN-ReLU, then 2x2 max-pool while the
map is larger than 2x2), global average pooling, dropout and a linear head."""

from __future__ import annotations

from torch import nn


def build_cnn(in_channels: int, classes: int, size: int, channels: int, depth: int, dropout: float) -> nn.Module:
    blocks: list[nn.Module] = []
    width = in_channels
    for block in range(depth):
        out = channels * 2 ** min(block, 3)  # doubles per block, capped so deep nets stay small
        blocks += [nn.Conv2d(width, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
        if size > 2:
            blocks.append(nn.MaxPool2d(2))
            size //= 2
        width = out
    blocks += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, classes)]
    return nn.Sequential(*blocks)
