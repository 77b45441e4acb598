"""Learning-rate factor per epoch: linear warmup, then constant, step, exponential or cosine.

A pure function of the epoch, so a resumed trial gets exactly the rate it would have had (the
schedule's only state is the epoch, which the checkpoint holds).
"""

from __future__ import annotations

import math


def lr_factor(epoch: int, epochs: int, schedule: str, warmup_epochs: int = 0, step_size: int = 10,
              gamma: float = 0.1) -> float:
    """Multiplier of the base rate during ``epoch`` (1-based). Warmup climbs linearly to the base
    rate (epoch ``w`` of ``w`` runs at ``w/(w+1)``); the schedule starts after it at factor 1."""
    if epoch <= warmup_epochs:
        return epoch / (warmup_epochs + 1)
    t = epoch - warmup_epochs - 1  # epochs since warmup, from 0
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return gamma ** (t // step_size)
    if schedule == "exponential":
        return gamma**t
    if schedule == "cosine":
        span = epochs - warmup_epochs
        return 0.5 * (1.0 + math.cos(math.pi * t / span))
    raise ValueError(f"unknown schedule {schedule!r}")


def inverse_sqrt_factor(step: int, warmup_steps: int) -> float:
    """Multiplier of the base rate at optimizer step ``step`` (1-based): linear warmup to 1 over
    ``warmup_steps``, then ``sqrt(warmup_steps / step)``, the schedule Transformers are trained with
    ("Attention is all you need", with the peak rate as the knob instead of d_model)."""
    return min(step / warmup_steps, math.sqrt(warmup_steps / step))
