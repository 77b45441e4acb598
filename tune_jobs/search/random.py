"""``random``: independent draws from the space, no configuration twice while an undrawn one is
likely to remain; ``grid`` keys are crossed with every draw as in Ray (Ray's variant generator)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from tune_jobs.search.base import SEARCHES, NoOptions, SearchSpec, config_key, draw_untried
from tune_jobs.space import Grid, Param


class RandomDraws:
    """Each key drawn with one seeded generator, with the draws Ray's samplers make. A
    configuration already drawn is drawn again (up to ``base.REDRAWS`` times), so a small discrete
    space is covered before anything repeats."""

    def __init__(self, space: dict[str, Param], seed: int | None = None) -> None:
        self.space = space
        self.rng = np.random.RandomState(seed)
        self.drawn: set[str] = set()

    def ask(self, trial_id: str) -> dict[str, Any] | None:
        config, _ = draw_untried(self.space, self.rng, self.drawn)
        self.drawn.add(config_key(config))
        return config

    def observe(self, trial_id: str, iteration: int, value: float) -> None:
        pass

    def tell(self, trial_id: str, value: Any, violations: list[float] | None = None) -> None:
        pass


@SEARCHES.register("random")
class RandomSearch(SearchSpec):
    algorithm: Literal["random"] = "random"
    options: NoOptions = NoOptions()
    multi_objective: ClassVar[bool] = True

    def draws_with_ray(self, space: dict[str, Param]) -> bool:
        return any(isinstance(param, Grid) for param in space.values())

    def build(self, space: dict[str, Param], metric: str, mode: str, rungs: list[int] | None = None) -> RandomDraws:
        return RandomDraws(space, self.seed)

    def build_multi(self, space: dict[str, Param], directions: list[str], constraints: int) -> RandomDraws:
        return RandomDraws(space, self.seed)

