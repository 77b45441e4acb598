"""``random``: independent draws from the space; ``grid`` keys are crossed as in Ray."""

from __future__ import annotations

from typing import Any, Literal

from tune_jobs.search.base import SEARCHES, NoOptions, SearchSpec
from tune_jobs.space import Param


@SEARCHES.register("random")
class RandomSearch(SearchSpec):
    algorithm: Literal["random"] = "random"
    options: NoOptions = NoOptions()

    def build_searcher(self, space: dict[str, Param], metric: str, mode: str) -> Any:
        from ray.tune.search.basic_variant import BasicVariantGenerator

        return BasicVariantGenerator(random_state=self.seed, max_concurrent=self.max_concurrent or 0)
