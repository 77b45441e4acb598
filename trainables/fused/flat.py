"""Every member's parameters as one row of a ``(members, total)`` tensor.

Small models have many small tensors, and a stacked step over each of them costs a handful of
kernel launches per tensor and per operation (the gradient, the clip, every optimizer update).
Kept flat, the stack has one gradient, one clip and one optimizer update per step, whatever the
number of layers; the model sees each parameter as a view of its slice of the row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FlatLayout:
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]  # one member's shape of each parameter

    @classmethod
    def of(cls, model: torch.nn.Module) -> FlatLayout:
        named = list(model.named_parameters())
        return cls(tuple(name for name, _ in named), tuple(tuple(p.shape) for _, p in named))

    @property
    def sizes(self) -> list[int]:
        return [math.prod(shape) for shape in self.shapes]

    def flatten(self, stacked: Sequence[torch.Tensor]) -> torch.Tensor:
        """Stacked tensors ``(members, *shape)``, one per name in order -> ``(members, total)``."""
        return torch.cat([tensor.reshape(tensor.shape[0], -1) for tensor in stacked], dim=1)

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each parameter as a view ``(members, *shape)`` of ``flat`` (gradients flow back to it)."""
        members = flat.shape[0]
        return {name: part.view(members, *shape)
                for name, shape, part in zip(self.names, self.shapes, flat.split(self.sizes, dim=1), strict=True)}

    def row_views(self, row: torch.Tensor) -> dict[str, torch.Tensor]:
        """One member's row ``(total,)`` as each parameter's view, shaped as in its model."""
        return {name: part.view(shape)
                for name, shape, part in zip(self.names, self.shapes, row.split(self.sizes), strict=True)}
