"""The Ray ``Searcher`` of ``random`` search (without grid keys): each key drawn from its Ray
sampler with one seeded generator. A configuration already drawn is drawn again (up to
``REDRAWS`` times), so a small discrete space is covered before anything repeats."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune.search import Searcher
from ray.tune.search.sample import Domain

REDRAWS = 100


class RandomSearcher(Searcher):
    def __init__(self, seed: int | None = None, metric: str | None = None, mode: str | None = None) -> None:
        super().__init__(metric=metric, mode=mode)
        self.rng = np.random.RandomState(seed)
        self.domains: dict[str, Domain] = {}
        self.drawn: set[str] = set()

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        self._metric, self._mode = metric or self._metric, mode or self._mode
        self.domains = {key: value for key, value in config.items() if isinstance(value, Domain)}
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        for _ in range(REDRAWS):
            config = {key: _plain(domain.sample(random_state=self.rng)) for key, domain in self.domains.items()}
            key = repr(sorted(config.items()))
            if key not in self.drawn:
                break
        self.drawn.add(key)
        return config

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_bytes(pickle.dumps((self.rng, self.drawn)))

    def restore(self, checkpoint_path: str) -> None:
        self.rng, self.drawn = pickle.loads(Path(checkpoint_path).read_bytes())


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, as a user's config shows them."""
    return value.item() if isinstance(value, np.generic) else value
