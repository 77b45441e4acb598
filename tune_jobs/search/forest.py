"""``forest``: Bayesian optimisation with a random forest (SMAC's model, scikit-learn's forest) fitted
on what the scheduler's rungs learned about every trial, not only on the trials that finished.

Under a rung-based scheduler most trials stop at the first rung, and a model fitted on finished
trials alone (or on the highest rung that enough trials reached, BOHB's rule) sees a few of them.
Here every trial counts, placed on one scale by the highest rung it reached and its value there:
a trial promoted further ranks above every trial stopped before it (as the scheduler judged), and
those stopped at the same rung rank by their value at that rung (Optuna's order for pruned
trials, as numbers the forest can fit: each trial's share of the trials it ranks above). The forest's
trees give a mean and a spread at each candidate; the next trial is the candidate with the
highest expected improvement over the best score, among random draws and moves around the best
trials. Without rungs (``fifo``) each trial's score is its final value's rank.

Measured (README, "Schedulers on a simulated clock"): under ASHA on the curve tables, 1.27x
random+ASHA on the median benchmark over seeds 0-19, as TPE, but 0.99x over seeds 20-39; ahead of
ASHA on text in both draws (1.77x, 1.43x), behind it on a smooth function (MF-Hartmann6: a forest
is piecewise constant). Under ``pasha_promotion`` (trials paused at PASHA's top rung until it rises):
1.52x and 1.57x random+ASHA on the median benchmark over the two draws, behind ASHA on digits CNN in
the second (0.65x).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from tune_jobs.core.model import StrictModel
from tune_jobs.search.base import SEARCHES, SearchSpec, config_key, draw_untried
from tune_jobs.space import Choice, LogRandInt, LogUniform, Ordinal, Param, RandInt, Uniform, numeric_positions

REFIT_GROWTH = 1.03  # the forest is refitted once the scored trials grew by 3% (each suggestion while few)
LOCAL_STARTS = 5  # the best trials, around which a tenth of the candidates each are moves
MOVE_SHARE = 0.3  # the share of a move's keys that change
CHECKED = 64  # the best candidates decoded, in turn, until one has not run yet


class ForestOptions(StrictModel):
    initial_points: int = Field(10, ge=1, description="random trials before the forest models the space")
    trees: int = Field(24, ge=2, description="trees in the forest (their spread is the model's uncertainty)")
    candidates: int = Field(512, ge=16, description="random configurations scored at each suggestion, beside "
                            "moves around the best trials")


class _Axis:
    """One parameter as a coordinate: a number on [0, 1] (log ranges through their logs), or the
    index of a listed value. The forest sees a coordinate as one column (a listed number by its
    place on its own scale) or, for a list of labels, one column per label."""

    def __init__(self, param: Param) -> None:
        self.param = param
        self.options: list[Any] | None = None
        self.places: np.ndarray | None = None  # a listed number's place on [0, 1]; None for labels
        self.log = isinstance(param, (LogUniform, LogRandInt))
        if isinstance(param, Ordinal) or (isinstance(param, Choice) and param.all_numbers):
            self.options = sorted(param.options)
            self.places = np.array(numeric_positions(self.options, param.log if isinstance(param, Ordinal) else None)[0])
        elif isinstance(param, Choice):
            self.options = list(param.options)
        elif isinstance(param, (Uniform, LogUniform, RandInt, LogRandInt)):
            low, high = (float(b) for b in param.bounds)
            self.low, self.high = (math.log(low), math.log(high)) if self.log else (low, high)
        else:
            raise TypeError(f"forest cannot search {param.kind}")

    def draw(self, rng: np.random.RandomState, n: int) -> np.ndarray:
        if self.options is not None:
            return rng.randint(0, len(self.options), n).astype(float)
        return rng.uniform(0.0, 1.0, n)

    def move(self, at: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
        """Neighbours: a number nudged along its axis, a listed value redrawn."""
        if self.options is not None:
            return self.draw(rng, len(at))
        return np.clip(at + rng.normal(0.0, 0.1, len(at)), 0.0, 1.0)

    def columns(self, at: np.ndarray) -> np.ndarray:
        if self.options is None:
            return at[:, None]
        index = at.astype(int)
        if self.places is not None:
            return self.places[index][:, None]
        return np.eye(len(self.options))[index]

    def value(self, at: float) -> Any:
        if self.options is not None:
            return self.options[int(at)]
        raw = self.low + float(at) * (self.high - self.low)
        raw = math.exp(raw) if self.log else raw
        low, high = self.param.bounds  # type: ignore[attr-defined]
        if isinstance(self.param, (RandInt, LogRandInt)):
            return int(min(max(round(raw), low), high))
        return float(min(max(raw, low), high))

    def coordinate(self, value: Any) -> float:
        if self.options is not None:
            return float(self.options.index(value))
        at = math.log(value) if self.log else float(value)
        return (at - self.low) / ((self.high - self.low) or 1.0)


class RungForest:
    """The ``AskTell`` algorithm; values are oriented so that higher is better inside."""

    def __init__(self, space: dict[str, Param], mode: str, options: ForestOptions, seed: int | None = None,
                 rungs: list[int] | None = None) -> None:
        self.space, self.options = space, options
        self.sign = 1.0 if mode == "max" else -1.0
        self.axes = [_Axis(param) for param in space.values()]
        self.rng = np.random.RandomState(seed)
        self.rungs = sorted(set(rungs or []))
        self.configs: dict[str, dict[str, Any]] = {}  # every trial asked, running or ended
        self.coordinates: dict[str, list[float]] = {}  # the same, as the forest's axes see them
        self.at_rungs: dict[str, dict[int, float]] = {}  # trial -> rung -> value (higher is better)
        self.failed: set[str] = set()
        self.taken: set[str] = set()
        self.fit: tuple[np.ndarray, np.ndarray, int] | None = None  # what the forest was grown on, and its seed
        self.forest: Any = None

    def ask(self, trial_id: str) -> dict[str, Any] | None:
        if trial_id in self.configs:
            return dict(self.configs[trial_id])
        scores = self._scores()
        config = self._suggest(scores) if len(scores) >= self.options.initial_points else None
        if config is None:
            config, _ = draw_untried(self.space, self.rng, self.taken)
        self.configs[trial_id] = config
        self.coordinates[trial_id] = self._coordinates(config)
        self.taken.add(config_key(config))
        return dict(config)

    def observe(self, trial_id: str, iteration: int, value: float) -> None:
        if iteration in self.rungs and trial_id in self.configs:
            self.at_rungs.setdefault(trial_id, {})[iteration] = self.sign * float(value)

    def tell(self, trial_id: str, value: float | None) -> None:
        if trial_id not in self.configs:
            return
        if value is None and not self.at_rungs.get(trial_id):
            self.failed.add(trial_id)
        elif not self.rungs and value is not None:
            self.at_rungs[trial_id] = {0: self.sign * float(value)}

    # -- the model ---------------------------------------------------------------------------
    def _scores(self) -> dict[str, float]:
        """Each trial with a result on one scale from 0 to 1 (best): the trials whose highest rung is
        k fill the band of the scale below those that went further, as wide as their share of all
        trials, ordered in it by their value at k; failed trials score 0."""
        highest: dict[int, list[str]] = {}
        for trial, values in self.at_rungs.items():
            highest.setdefault(max(values), []).append(trial)
        total = len(self.at_rungs)
        scores = {trial: 0.0 for trial in self.failed}
        above = 0  # trials that went further than the rung in hand
        for rung in sorted(highest, reverse=True):
            band = highest[rung]
            at_rung = np.array([self.at_rungs[t][rung] for t in band])
            ordered = np.sort(at_rung)
            below = (np.searchsorted(ordered, at_rung, side="left") + np.searchsorted(ordered, at_rung, side="right")) / 2
            for trial, under in zip(band, below, strict=True):
                scores[trial] = 1.0 - (above + len(band) - under) / total
            above += len(band)
        return scores

    def _columns(self, coordinates: np.ndarray) -> np.ndarray:
        return np.hstack([axis.columns(coordinates[:, i]) for i, axis in enumerate(self.axes)])

    def _coordinates(self, config: dict[str, Any]) -> list[float]:
        return [axis.coordinate(config[key]) for key, axis in zip(self.space, self.axes, strict=True)]

    def _suggest(self, scores: dict[str, float]) -> dict[str, Any] | None:
        trials = list(scores)
        known = np.array([self.coordinates[t] for t in trials])
        y = np.array([scores[t] for t in trials])
        if self.fit is None or len(trials) >= self.fitted_on * REFIT_GROWTH:
            self.fit = (self._columns(known), y, int(self.rng.randint(0, 2**31 - 1)))
            self.forest = None
        if self.forest is None:
            self.forest = self._grow(*self.fit)
        n = self.options.candidates
        drawn = np.column_stack([axis.draw(self.rng, n) for axis in self.axes])
        best = known[np.argsort(-y)[:LOCAL_STARTS]]
        around = np.repeat(best, n // 10, axis=0)
        moves = self.rng.rand(*around.shape) < MOVE_SHARE
        moved = np.column_stack([axis.move(around[:, i], self.rng) for i, axis in enumerate(self.axes)])
        around = np.where(moves, moved, around)
        candidates = np.vstack([drawn, around])
        columns = self._columns(candidates)
        per_tree = np.stack([tree.predict(columns) for tree in self.forest.estimators_])
        gain = _expected_improvement(per_tree.mean(axis=0), per_tree.std(axis=0), float(y.max()))
        for index in np.argsort(-gain)[:CHECKED]:
            config = {key: axis.value(at) for key, axis, at in zip(self.space, self.axes, candidates[index], strict=True)}
            if config_key(config) not in self.taken:
                return config
        return None

    @property
    def fitted_on(self) -> int:
        """Trials with a score when the forest was last grown."""
        return 0 if self.fit is None else len(self.fit[1])

    def _grow(self, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        forest = RandomForestRegressor(n_estimators=self.options.trees, min_samples_leaf=2, max_features=5 / 6,
                                       random_state=seed)
        return forest.fit(x, y)

    def __getstate__(self) -> dict[str, Any]:
        """Saved without the trees (megabytes at thousands of trials): they are grown again, the same,
        from what they were grown on."""
        return {**self.__dict__, "forest": None}


def _expected_improvement(mean: np.ndarray, spread: np.ndarray, best: float) -> np.ndarray:
    from scipy.stats import norm

    spread = np.maximum(spread, 1e-9)
    z = (mean - best) / spread
    return (mean - best) * norm.cdf(z) + spread * norm.pdf(z)


@SEARCHES.register("forest")
class ForestSearch(SearchSpec):
    algorithm: Literal["forest"] = "forest"
    options: ForestOptions = ForestOptions()
    default_num_samples: ClassVar[int] = 10

    def check_space(self, space: dict[str, Param]) -> list[str]:
        return self.refuse_grid(space, why=" (the forest chooses every value)")

    def build(self, space: dict[str, Param], metric: str, mode: str, rungs: list[int] | None = None) -> RungForest:
        return RungForest(space, mode, self.options, self.seed, rungs)
