"""``resources.gpu: auto``: how much of a GPU a trial gets, decided from what trials measured.

Users otherwise guess: too much leaves the GPU idle, too little crashes trials with CUDA out of
memory (Ray leaves both to them: ray#15570, ray#20563). Here the first trials of a job get a whole
GPU each, so they run with room to measure; each epoch a trial on a GPU reports the memory its
process held at its peak (``gpu_mem_reserved_mb``: what torch's caching allocator took, which is
what the next process cannot have) and the device's size. A trial created later gets ``1 / k`` of
a GPU, k the most trials of the largest measured need (plus a CUDA context each) that fit in
``memory_target`` of the device, at most ``max_per_gpu``. A trial that still runs out of memory is
retried from its last checkpoint with twice its share, up to a whole GPU.

The largest need so far sizes every later trial: a job that mixes small and large models packs
by its large ones (an out-of-memory retry covers one larger than any measured yet). No Ray here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CUDA_CONTEXT_MB = 500.0  # a process's CUDA context and kernels, outside torch's allocator
RESOLUTION = 10_000  # Ray counts GPU fractions to 4 decimal places
NEED_KEYS = ("gpu_mem_reserved_mb", "gpu_mem_peak_mb")  # reserved when reported, else allocated
OOM_MARKERS = ("OutOfMemoryError", "CUDA out of memory")


@dataclass
class GpuSizer:
    memory_target: float = 0.9
    max_per_gpu: int = 16
    need_mb: float | None = None  # the largest measured need of a trial, its CUDA context included
    device_mb: float | None = None  # the device's memory, as a trial saw it

    def observe(self, metrics: Mapping[str, Any]) -> bool:
        """Take a trial's report into account; True if later trials get another share."""
        used = next((float(metrics[key]) for key in NEED_KEYS if _number(metrics.get(key))), None)
        device = metrics.get("gpu_mem_total_mb")
        if used is None or device is None or not _number(device):
            return False
        before = self.fraction()
        need = used + CUDA_CONTEXT_MB
        self.need_mb = need if self.need_mb is None else max(self.need_mb, need)
        self.device_mb = float(device)
        return self.fraction() != before

    def per_gpu(self) -> int:
        """Trials that share one GPU (1 until a trial has measured its need)."""
        if self.need_mb is None or self.device_mb is None:
            return 1
        return max(1, min(self.max_per_gpu, math.floor(self.device_mb * self.memory_target / self.need_mb)))

    def fraction(self) -> float:
        return math.floor(RESOLUTION / self.per_gpu()) / RESOLUTION

    @staticmethod
    def after_out_of_memory(fraction: float) -> float:
        """A trial's share for its retry after CUDA ran out of memory: twice as much, at most one GPU
        (a trial of whole GPUs keeps them: there is no larger share to give)."""
        return fraction if fraction >= 1 else min(1.0, 2 * fraction)


def is_out_of_memory(error: str | None) -> bool:
    return bool(error) and any(marker in str(error) for marker in OOM_MARKERS)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
