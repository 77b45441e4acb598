"""``grid``: every combination of the ``grid`` and ``choice`` keys, each ``num_samples`` times."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from tune_jobs.search.base import SEARCHES, NoOptions, SearchSpec
from tune_jobs.space import Choice, Grid, Ordinal, Param


@SEARCHES.register("grid")
class GridSearch(SearchSpec):
    algorithm: Literal["grid"] = "grid"
    options: NoOptions = NoOptions()
    default_num_samples: ClassVar[int] = 1
    variant_generated: ClassVar[bool] = True
    multi_objective: ClassVar[bool] = True  # draws every combination whatever is optimised

    def planned_trials(self, space: dict[str, Param]) -> int:
        """Every combination of the grid, choice and ordinal keys, ``num_samples`` times."""
        return self.trials * math.prod(len(p.options) for p in space.values() if isinstance(p, (Grid, Choice, Ordinal)))

    def check_space(self, space: dict[str, Param]) -> list[str]:
        return [
            f"space.{key}: grid search needs listed values, got {param.kind}; use grid, choice or ordinal, "
            "or search.algorithm random"
            for key, param in space.items()
            if not isinstance(param, (Grid, Choice, Ordinal))
        ]

