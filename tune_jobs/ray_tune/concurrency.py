"""``search.max_concurrent`` for any Ray ``Searcher``: at most that many trials running at once.

Ray's ``ConcurrencyLimiter`` counts a trial from its suggestion to its completion, so a trial
that a scheduler paused (holding no CPU or GPU while it waits for promotion) would still block a
new one, and with enough paused trials the job would stall. Here a paused trial does not count.
It stays a ``ConcurrencyLimiter`` because Ray lets that many trials wait to start at once (for
any other searcher only one, which starts trials one by one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ray.tune.search import ConcurrencyLimiter, Searcher


class ConcurrencyLimit(ConcurrencyLimiter):
    def __init__(self, searcher: Searcher, max_concurrent: int, paused: Callable[[], set[str]]) -> None:
        self.paused = paused
        super().__init__(searcher, max_concurrent)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self._limit_concurrency and len(self.live_trials - self.paused()) >= self.max_concurrent:
            return None
        suggestion = self.searcher.suggest(trial_id)
        if suggestion not in (None, Searcher.FINISHED):
            self.live_trials.add(trial_id)
            self.num_unfinished_live_trials += 1
        return suggestion


def trials_that_fit(cluster: dict[str, float], cpu: float, gpu: float) -> int:
    """How many trials the cluster's CPUs and GPUs hold at once (the default ``max_concurrent``)."""
    fits = [cluster.get("CPU", 1.0) / cpu]
    if gpu > 0:
        fits.append(cluster.get("GPU", 0.0) / gpu)
    return max(1, math.floor(min(fits) + 1e-9))
