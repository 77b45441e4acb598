"""What a model costs besides its error, reported with every epoch so a job can trade them off
(``objectives: {val_accuracy: max, latency_ms: min}``): its size, its inference latency, its
memory and its training time so far."""

from __future__ import annotations

import resource
import statistics
import sys
import time

import torch
from torch import nn

LATENCY_REPEATS = 5


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def inference_latency_ms(model: nn.Module, inputs: torch.Tensor, batch_size: int, device: torch.device) -> float:
    """Milliseconds per sample for a forward pass over one validation batch of ``batch_size``, on
    the trial's device: the median of ``LATENCY_REPEATS`` passes after one warm-up (GPU work is
    waited for), divided by the rows in the batch."""
    rows = inputs[: max(1, min(batch_size, len(inputs)))]
    was_training = model.training
    model.eval()
    times = []
    with torch.no_grad():
        for repeat in range(LATENCY_REPEATS + 1):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started = time.perf_counter()
            model(rows)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if repeat:  # the first pass warms caches and kernels up
                times.append(time.perf_counter() - started)
    model.train(was_training)
    return statistics.median(times) * 1000.0 / len(rows)


def peak_memory_mb(device: torch.device) -> float:
    """On a GPU the trial's peak of allocated device memory; on the CPU the worker process's peak
    resident memory (a reused worker's peak includes what earlier trials in it took)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
