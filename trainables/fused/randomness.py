"""Every member's dropout masks, drawn for the whole stack in a fixed number of operations on its
device.

A mask element is a hash of (the member's seed and epoch, the step, the layer, the element's
index): counter-based, as Philox is. So one batched call draws for every member, nothing is drawn
on the host or copied to the device per step, and a member's masks do not depend on which members
share its stack: with 3 others or 1,023, or resumed alone in another stack, it draws the same.
They are not the masks the plain loop draws (``nn.Dropout`` uses torch's generator), so a member
with dropout matches itself run alone in distribution, not bit for bit; with dropout off the two
are still the same (tests hold both).

The hash is PCG's output permutation ("Hash Functions for GPU Rendering", Jarzynski and Olano,
2020), in int64 arithmetic that cannot overflow: 32-bit values times constants below 2**31.
The same function hashes Python ints (what is known on the host) and tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeVar

import torch

MASK32 = 0xFFFFFFFF
UNIFORM_BITS = 24  # float32 holds 24 bits exactly: uniforms on a grid of 2**-24 in [0, 1)

Hashable = TypeVar("Hashable", int, torch.Tensor)


def pcg_hash(value: Hashable) -> Hashable:
    """A 32-bit value -> a 32-bit hash (elementwise for a tensor)."""
    state = (value * 747796405 + 2891336453) & MASK32
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & MASK32
    return (word >> 22) ^ word


def member_key(epoch_seed: int) -> int:
    """A member's 32-bit key for one epoch, from the loop's ``epoch_seed`` (which may exceed 32 bits)."""
    return pcg_hash((pcg_hash(epoch_seed & MASK32) + (epoch_seed >> 32)) & MASK32)


@dataclass(frozen=True)
class MemberDraws:
    """What a stacked step needs to draw every member's dropout masks at once."""

    keys: torch.Tensor  # (members,) int64: each member's ``member_key``
    keep: list[torch.Tensor]  # per Dropout layer, (members,): 1 - rate
    step: int = 0

    @classmethod
    def for_epoch(cls, epoch_seeds: list[int], rates: list[list[float]], device: torch.device) -> MemberDraws:
        """``rates[m]``: member m's rate per Dropout layer of the model."""
        keys = torch.tensor([member_key(seed) for seed in epoch_seeds], dtype=torch.int64, device=device)
        layers = len(rates[0]) if rates else 0
        keep = [torch.tensor([1.0 - member[layer] for member in rates], device=device) for layer in range(layers)]
        return cls(keys, keep)

    def at(self, step: int) -> MemberDraws:
        return replace(self, step=step)

    def scale(self, layer: int, like: torch.Tensor) -> torch.Tensor:
        """Layer ``layer``'s inverted-dropout factors for ``like`` (members, ...): 0 where dropped,
        ``1 / (1 - rate)`` where kept, as ``nn.Dropout`` scales."""
        counter = pcg_hash((pcg_hash(self.step & MASK32) + layer) & MASK32)
        per_member = like[0].numel()
        elements = pcg_hash(torch.arange(per_member, device=like.device, dtype=torch.int64) ^ counter)
        bits = pcg_hash((elements.unsqueeze(0) + self.keys.unsqueeze(1)) & MASK32)
        uniform = (bits >> (32 - UNIFORM_BITS)).to(torch.float32) * 2.0**-UNIFORM_BITS
        keep = self.keep[layer].unsqueeze(1)
        factors = torch.where(uniform < keep, 1.0 / keep, 0.0)
        return factors.reshape(like.shape).to(like.dtype)
