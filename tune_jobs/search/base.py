"""Search algorithms: a registry of spec models, one per algorithm, keyed by ``algorithm``.

Call order: the spec is validated (``options`` by the algorithm's own model, ``check_space`` for
space rules), then ``build(space, metric, mode, rungs)`` makes the algorithm itself, an ``AskTell``:
no Ray, no executor (Optuna's samplers are the model), so it can be tested and benchmarked on its
own. ``tune_jobs.ray_tune.searcher`` is the one adapter that runs any of them under Ray Tune.
Adding an algorithm is one module and its registration.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Protocol

from pydantic import Field

from tune_jobs.core.model import StrictModel
from tune_jobs.core.registry import Registry
from tune_jobs.space import Grid, Param

SEARCHES: Registry[type[SearchSpec]] = Registry("search algorithm")

REDRAWS = 100


def config_key(config: dict[str, Any]) -> str:
    """A configuration as a set member, to tell one already tried or running."""
    return repr(sorted(config.items()))


def draw_untried(space: dict[str, Param], rng: Any, taken: set[str]) -> tuple[dict[str, Any], bool]:
    """The first of up to ``REDRAWS`` random configurations not in ``taken``, and True; else the last
    one drawn, and False (a small discrete space may be exhausted)."""
    for _ in range(REDRAWS):
        config = {key: param.sample(rng) for key, param in space.items()}
        if config_key(config) not in taken:
            return config, True
    return config, False


class AskTell(Protocol):
    """A search algorithm without an executor. Values are the job's metric as reported; the
    algorithm was built knowing whether the job maximises or minimises it. It pickles whole
    (cloudpickle: observations, pending trials, fitted models, random state) to survive a restart."""

    def ask(self, trial_id: str) -> dict[str, Any] | None:
        """A configuration of the searched keys for a new trial (running ones are pending)."""

    def observe(self, trial_id: str, iteration: int, value: float) -> None:
        """An intermediate result (a finite value), for algorithms that learn at fidelities."""

    def tell(self, trial_id: str, value: float | None) -> None:
        """The trial ended: its final value, or None when it failed or left no usable value."""


class MultiAskTell(Protocol):
    """A search algorithm for several objectives: told each trial's value of every objective
    (None: it failed or left one out) and how far it broke each constraint (0: it held)."""

    def ask(self, trial_id: str) -> dict[str, Any] | None: ...

    def tell(self, trial_id: str, value: list[float] | None, violations: list[float] | None = None) -> None: ...


class NoOptions(StrictModel):
    """An algorithm with nothing to set under ``options``."""


class SearchSpec(StrictModel):
    algorithm: str
    num_samples: int | None = Field(None, ge=1, description="trials to run (grid: repetitions of the grid)")
    seed: int | None = None
    max_concurrent: int | None = Field(None, ge=1)
    options: Any = None

    default_num_samples: ClassVar[int] = 10
    variant_generated: ClassVar[bool] = False  # Ray's variant generator draws every trial, no Searcher
    multi_objective: ClassVar[bool] = False  # ``build_multi`` makes an algorithm for several objectives

    @property
    def trials(self) -> int:
        """Samples drawn (Ray's ``num_samples``); grid keys multiply them, see ``planned_trials``."""
        return self.num_samples if self.num_samples is not None else self.default_num_samples

    def planned_trials(self, space: dict[str, Param]) -> int:
        """Trials that will run: each sample crossed with every combination of the grid keys."""
        return self.trials * math.prod(len(param.options) for param in space.values() if isinstance(param, Grid))

    @property
    def owns_space(self) -> bool:
        """True when the searcher takes the space itself (Ray then gets only the fixed config)."""
        return False

    def resolve(self, space: dict[str, Param], model_based: bool = True, objectives: int = 1) -> SearchSpec:
        """The algorithm that runs for this space (``auto`` picks one; the others are themselves);
        ``model_based`` False when the scheduler accepts only Ray's own variant generation;
        ``objectives``: how many metrics the job optimises at once."""
        return self

    def check_space(self, space: dict[str, Param]) -> list[str]:
        """Problems with this space for this algorithm, one ``space.key: ...`` line each."""
        return []

    def refuse_grid(self, space: dict[str, Param], why: str = "") -> list[str]:
        """For algorithms that choose every value themselves: each ``grid`` key is a problem."""
        return [
            f"space.{key}: grid is not supported with {self.algorithm}{why}; use choice, or search.algorithm random/grid"
            for key, param in space.items()
            if isinstance(param, Grid)
        ]

    def draws_with_ray(self, space: dict[str, Param]) -> bool:
        """True when Ray's variant generator draws the trials (grid search, ``grid`` keys), not
        ``build``'s algorithm."""
        return self.variant_generated

    def build(self, space: dict[str, Param], metric: str, mode: str, rungs: list[int] | None = None) -> AskTell:
        """The algorithm for this space. ``rungs``: the iterations at which the scheduler compares
        trials, for searches that learn from results at one fidelity."""
        raise NotImplementedError(f"{self.algorithm} search has no ask/tell algorithm")

    def build_multi(self, space: dict[str, Param], directions: list[str], constraints: int) -> MultiAskTell:
        """The algorithm for several objectives (``directions``: max or min each) and
        ``constraints`` constraints, for algorithms with ``multi_objective``."""
        raise NotImplementedError(f"{self.algorithm} search optimises one metric")
