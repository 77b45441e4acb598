"""Stopping rules without Ray: each sees one trial's result at a time and says whether to stop it.

Values arrive already oriented so that higher is better (``rule_ray`` flips a ``min`` metric), and
a rule keeps only what it saw, so the same object serves a real job (through ``rule_ray``), a fused
stack's members one by one, and the simulator. Three rules:

- ``RungCutoffs``: one rung per milestone; a trial reaching a rung is stopped when below the top
  ``keep`` share of the values recorded there before it (asynchronous successive halving; with one
  rung at epoch 1 and ``keep`` 0.1 it is "train one epoch, keep the top 10%", Egele et al. 2023).
- ``ProgressiveRungs`` (PASHA, Bohdal et al. 2023, stopping variant): successive halving whose top
  rung starts low and rises one rung each time the two highest rungs rank their common trials
  differently; a trial reaching the current top rung ends there as if completed.
- ``CurveForecast``: learning-curve forecasting from the finished curves: a trial at epoch t with
  value v is forecast to end near ``v + gain`` where the gains from epoch t to the end are those of
  the finished trials whose value at t was closest to v; it is stopped when even an optimistic
  quantile of that forecast cannot beat the best finished trial. Until enough curves have finished
  it falls back to rung cutoffs, so the first trials are not all run to the end.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class StoppingRule(Protocol):
    def on_result(self, trial_id: str, iteration: int, value: float) -> bool:
        """True: stop the trial now. ``value`` is higher-is-better."""

    def on_complete(self, trial_id: str) -> None:
        """The trial ended (completed, stopped or failed)."""


@dataclass
class RungCutoffs:
    milestones: list[int]
    keep: float  # the share of a rung that goes on

    recorded: dict[int, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))

    def on_result(self, trial_id: str, iteration: int, value: float) -> bool:
        for milestone in sorted(self.milestones, reverse=True):
            rung = self.recorded[milestone]
            if iteration < milestone or trial_id in rung:
                continue
            cutoff = self.cutoff(milestone)
            rung[trial_id] = value
            return cutoff is not None and not value >= cutoff  # nan is below every cutoff
        return False

    def cutoff(self, milestone: int) -> float | None:
        return rung_cutoff(self.recorded[milestone].values(), self.keep)

    def on_complete(self, trial_id: str) -> None:
        pass


def rung_cutoff(values: Iterable[float], keep: float) -> float | None:
    """The value a trial must reach at a rung to be in the top ``keep`` share of the finite
    ``values`` recorded there before it (None: none yet, so it goes on); nan reaches no cutoff."""
    seen = [v for v in values if math.isfinite(v)]
    return float(np.percentile(seen, 100 * (1 - keep))) if seen else None


def rung_milestones(grace_period: int, reduction_factor: float, max_t: int, brackets: int = 1) -> list[int]:
    """Ray's AsyncHyperBand rungs: bracket s starts at ``grace * rf**s``; each rises by ``rf``
    while below ``max_t``; ``max_t`` ends them all. The union over the brackets, lowest first."""
    found = {max_t}
    for bracket in range(brackets):
        t = float(grace_period) * reduction_factor**bracket
        while t < max_t:
            found.add(int(t))
            t *= reduction_factor
    return sorted(found)


@dataclass
class ProgressiveRungs:
    grace_period: int
    reduction_factor: float
    max_t: int

    top: int = field(init=False)  # index of the current top rung in ``milestones``
    milestones: list[int] = field(init=False)
    recorded: dict[int, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))

    def __post_init__(self) -> None:
        self.milestones = rung_milestones(self.grace_period, self.reduction_factor, self.max_t)
        self.top = min(1, len(self.milestones) - 1)

    def on_result(self, trial_id: str, iteration: int, value: float) -> bool:
        for index in range(self.top, -1, -1):
            milestone = self.milestones[index]
            rung = self.recorded[milestone]
            if iteration < milestone or trial_id in rung:
                continue
            cutoff = rung_cutoff(rung.values(), 1 / self.reduction_factor)
            rung[trial_id] = value
            if index == self.top:
                self._grow_if_unstable()
                return index == self.top and self.milestones[index] < self.max_t  # ended at the top rung
            return cutoff is not None and not value >= cutoff
        return False

    def _grow_if_unstable(self) -> None:
        """Raise the top rung when the two highest rungs order their common trials differently."""
        if self.top == len(self.milestones) - 1 or self.top == 0:
            return
        upper, lower = self.recorded[self.milestones[self.top]], self.recorded[self.milestones[self.top - 1]]
        if ranks_disagree(upper, lower, self.reduction_factor):
            self.top += 1

    def on_complete(self, trial_id: str) -> None:
        pass


def ranks_disagree(upper: dict[str, float], lower: dict[str, float], reduction_factor: float) -> bool:
    """PASHA's test: the trials at both rungs (values higher is better) have a different top
    1/``reduction_factor`` by the upper rung than by the lower one."""
    common = [t for t in upper if t in lower]
    if len(common) < 2:
        return False
    share = max(1, len(common) // int(reduction_factor))
    by_upper = sorted(common, key=lambda t: -_finite(upper[t]))[:share]
    by_lower = sorted(common, key=lambda t: -_finite(lower[t]))[:share]
    return set(by_upper) != set(by_lower)


def _finite(value: float) -> float:
    return value if math.isfinite(value) else -math.inf


@dataclass
class CurveForecast:
    max_t: int
    fallback: RungCutoffs
    min_curves: int = 5  # finished curves before forecasting replaces the fallback
    neighbours: int = 10  # finished curves a forecast is drawn from
    quantile: float = 0.9  # how optimistic: the quantile of the neighbours' gains a trial must fail to beat

    curves: dict[str, dict[int, float]] = field(default_factory=lambda: defaultdict(dict))
    finished: list[dict[int, float]] = field(default_factory=list)

    def on_result(self, trial_id: str, iteration: int, value: float) -> bool:
        self.curves[trial_id][iteration] = value
        if iteration >= self.max_t:
            return False
        if len(self.finished) < self.min_curves:
            return self.fallback.on_result(trial_id, iteration, value)
        if not math.isfinite(value):
            return True
        best = max(curve[self.max_t] for curve in self.finished)
        return self.forecast(iteration, value) < best

    def forecast(self, iteration: int, value: float) -> float:
        """The optimistic end of a curve that stands at ``value`` after ``iteration`` epochs."""
        known = [(abs(curve[iteration] - value), curve[self.max_t] - curve[iteration])
                 for curve in self.finished if math.isfinite(curve.get(iteration, math.nan))]
        known.sort()
        gains = [gain for _, gain in known[: self.neighbours]]
        return value + float(np.quantile(gains, self.quantile)) if gains else math.inf

    def on_complete(self, trial_id: str) -> None:
        curve = self.curves.pop(trial_id, {})
        if math.isfinite(curve.get(self.max_t, math.nan)):
            self.finished.append(curve)


def front_ranks(points: np.ndarray) -> np.ndarray:
    """Each row's non-dominated front (0 best; every column higher-is-better). A row missing a
    value (nan) is in a front after every complete row: a trial that did not report an objective
    is not on the front by its other ones. Two objectives (the common case) are sorted in
    O(n log n), so a rung of 10,000 trials costs milliseconds per result; more use one vectorised
    dominance matrix (O(n^2) memory)."""
    complete = np.isfinite(points).all(axis=1)
    ranks = np.full(len(points), -1)
    index = np.flatnonzero(complete)
    found = points[index]
    ranks[index] = _ranks_2d(found) if points.shape[1] == 2 else _ranks_by_matrix(found)
    ranks[~complete] = ranks[index].max() + 1 if len(index) else 0
    return ranks


def _ranks_2d(points: np.ndarray) -> np.ndarray:
    """Fronts of distinct points taken by the first objective, then the second, both descending:
    a point is dominated by an earlier one exactly when that one's second value is at least its
    own, so it joins the first front whose latest point has a smaller second value; those latest
    values fall from front to front, so a binary search finds it (Jensen 2003)."""
    if not len(points):
        return np.zeros(0, dtype=int)
    distinct, inverse = np.unique(points, axis=0, return_inverse=True)
    ranks = np.empty(len(distinct), dtype=int)
    latest: list[float] = []  # per front, minus the second value of its latest point (ascending)
    for row in np.lexsort((-distinct[:, 1], -distinct[:, 0])):
        minus_y = -float(distinct[row, 1])
        front = bisect.bisect_right(latest, minus_y)
        if front == len(latest):
            latest.append(minus_y)
        else:
            latest[front] = minus_y
        ranks[row] = front
    return ranks[np.asarray(inverse).reshape(-1)]


def _ranks_by_matrix(points: np.ndarray) -> np.ndarray:
    ranks = np.zeros(len(points), dtype=int)
    dominates = np.logical_and((points[:, None, :] >= points[None, :, :]).all(axis=2),
                               (points[:, None, :] > points[None, :, :]).any(axis=2))
    left = np.ones(len(points), dtype=bool)
    front = 0
    while left.any():
        open_rows = np.flatnonzero(left)
        current = open_rows[~dominates[np.ix_(open_rows, open_rows)].any(axis=0)]
        ranks[current] = front
        left[current] = False
        front += 1
    return ranks


def crowding(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance within one front: larger is more isolated (the ends infinite)."""
    distance = np.zeros(len(points))
    if len(points) <= 2:
        return np.full(len(points), np.inf)
    for column in points.T:
        order = np.argsort(column, kind="stable")
        spread = column[order[-1]] - column[order[0]]
        distance[order[0]] = distance[order[-1]] = np.inf
        if spread > 0 and np.isfinite(spread):
            distance[order[1:-1]] += (column[order[2:]] - column[order[:-2]]) / spread
    return distance


@dataclass
class ParetoRungCutoffs:
    """Successive halving on several objectives (MO-ASHA, Schmucker et al. 2021): at each rung a
    trial goes on when it ranks in the top ``keep`` share of the trials recorded there, itself
    included, ordered by non-dominated front and, within a front, by crowding distance (the
    isolated points first, so the kept ones spread along the front). Values are higher-is-better
    vectors; the first trial at a rung always goes on, as in ASHA."""

    milestones: list[int]
    keep: float

    recorded: dict[int, dict[str, tuple[float, ...]]] = field(default_factory=lambda: defaultdict(dict))

    def on_result(self, trial_id: str, iteration: int, values: tuple[float, ...]) -> bool:
        for milestone in sorted(self.milestones, reverse=True):
            rung = self.recorded[milestone]
            if iteration < milestone or trial_id in rung:
                continue
            rung[trial_id] = values
            if len(rung) == 1 or milestone == max(self.milestones):
                return False
            ids = list(rung)
            return ids.index(trial_id) not in set(self.kept(np.array([rung[t] for t in ids], dtype=float)))
        return False

    def kept(self, points: np.ndarray) -> list[int]:
        """The indices of the top ``keep`` share (at least one) by front, then crowding (needed
        only in the front the cut falls in)."""
        ranks = front_ranks(points)
        wanted = max(1, math.ceil(self.keep * len(points)))
        sizes = np.bincount(ranks)
        cut = int(np.searchsorted(np.cumsum(sizes), wanted))  # the front the cut falls in
        above = np.flatnonzero(ranks < cut).tolist()
        members = np.flatnonzero(ranks == cut)
        spread = crowding(np.where(np.isfinite(points[members]), points[members], -1e300))
        order = sorted(range(len(members)), key=lambda i: (-spread[i], members[i]))
        return sorted(above) + [int(members[i]) for i in order[:wanted - len(above)]]

    def on_complete(self, trial_id: str) -> None:
        pass
