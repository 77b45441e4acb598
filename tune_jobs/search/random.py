"""``random``: independent draws from the space, no configuration twice while an undrawn one is
likely to remain; ``grid`` keys are crossed with every draw as in Ray (Ray's variant generator)."""

from __future__ import annotations

from typing import Any, Literal

from tune_jobs.search.base import SEARCHES, NoOptions, SearchSpec
from tune_jobs.space import Grid, Param


@SEARCHES.register("random")
class RandomSearch(SearchSpec):
    algorithm: Literal["random"] = "random"
    options: NoOptions = NoOptions()

    def build_searcher(self, space: dict[str, Param], metric: str, mode: str, rungs: list[int] | None = None) -> Any:
        if any(isinstance(param, Grid) for param in space.values()):
            return self.variant_generator()
        from tune_jobs.search.random_searcher import RandomSearcher

        return RandomSearcher(self.seed, metric, mode)

    def variant_generator(self) -> Any:
        from ray.tune.search.basic_variant import BasicVariantGenerator

        return BasicVariantGenerator(random_state=self.seed, max_concurrent=self.max_concurrent or 0)
