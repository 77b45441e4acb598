"""``nsga2``: Optuna's NSGA-II sampler, the evolutionary standard for several objectives: a
population bred by crossover and mutation, survivors chosen by non-dominated sorting and crowding
(with constraints, feasible trials first). One objective works too, but TPE does that better."""

from __future__ import annotations

import functools
import threading
from typing import Any, ClassVar, Literal

from pydantic import Field

from tune_jobs.core.model import StrictModel
from tune_jobs.search.base import SEARCHES, SearchSpec
from tune_jobs.search.optuna_study import OptunaStudy
from tune_jobs.space import Param


@functools.cache
def _picklable_sampler() -> Any:
    """Optuna's sampler, made picklable: Ray pickles the searcher with the experiment, and the
    sampler holds a lock (made anew when it is unpickled). Defined on first use, so validating a
    spec does not import Optuna."""
    import optuna

    class PicklableNSGAIISampler(optuna.samplers.NSGAIISampler):  # type: ignore[misc]
        def __getstate__(self) -> dict[str, Any]:
            state = dict(self.__dict__)
            state.pop("_thread_lock", None)
            return state

        def __setstate__(self, state: dict[str, Any]) -> None:
            self.__dict__.update(state)
            self._thread_lock = threading.Lock()

    return PicklableNSGAIISampler


class NSGA2Options(StrictModel):
    population_size: int | None = Field(None, ge=2, description="trials per generation; default: a quarter of the "
                                        "trials, 4 to 50")


@SEARCHES.register("nsga2")
class NSGA2Search(SearchSpec):
    algorithm: Literal["nsga2"] = "nsga2"
    options: NSGA2Options = NSGA2Options()
    multi_objective: ClassVar[bool] = True

    @property
    def population_size(self) -> int:
        return self.options.population_size or max(4, min(50, self.trials // 4))

    def check_space(self, space: dict[str, Param]) -> list[str]:
        problems = self.refuse_grid(space)
        if not space:
            problems.append("space: nsga2 needs at least one searched key")
        return problems

    def _study(self, space: dict[str, Param], directions: list[str], constraints: int) -> OptunaStudy:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = _picklable_sampler()(seed=self.seed, population_size=self.population_size)
        return OptunaStudy(sampler, space, directions[0], self.seed, directions=directions)

    def build(self, space: dict[str, Param], metric: str, mode: str, rungs: list[int] | None = None) -> OptunaStudy:
        return self._study(space, [mode], 0)

    def build_multi(self, space: dict[str, Param], directions: list[str], constraints: int) -> OptunaStudy:
        return self._study(space, directions, constraints)
