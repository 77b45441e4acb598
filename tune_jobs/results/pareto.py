"""Several objectives: constraints as written in a spec (``latency_ms <= 5``) and the Pareto set of
a job's trials. Pure Python and pandas: the spec checks the constraints' syntax with it, the
driver records the set in job.json, and ``tune-jobs results --pareto`` and the tests compute the
same set from the Parquet files.

A trial's point is its best value of each objective over its reported iterations (as the job's
single metric uses ``best_<metric>``), and a constraint holds when the trial's most favourable
value of that metric satisfies it (for the usual constraints, latency, size, memory, the value
does not change between epochs). Trials that failed, or reported no value of some objective, have
no point.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tune_jobs.core.values import is_better, is_finite_number

OPERATORS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w./-]*)\s*(<=|>=|<|>|==|=|!=|=<|=>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str
    bound: float

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.bound)

    def violation(self, value: float) -> float:
        """How far ``value`` is on the wrong side (0 when it holds): what a sampler steers by."""
        if self.holds(value):
            return 0.0
        return abs(value - self.bound) or 1e-12

    @property
    def favourable(self) -> str:
        """Which of a trial's values counts for the constraint: its smallest for an upper bound."""
        return "min" if self.op in ("<=", "<") else "max"

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


def parse_constraint(text: str) -> Constraint:
    """``ValueError`` with the problem in one phrase for anything but ``metric <op> number``."""
    found = _CONSTRAINT.match(text) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"write it as 'metric <= number' (or <, >=, >), got {text!r}")
    metric, op, bound = found.groups()
    if op not in OPERATORS:
        raise ValueError(f"operator {op!r} is not one of <=, >=, <, > in {text!r}")
    try:
        value = float(bound)
    except ValueError:
        raise ValueError(f"the bound {bound!r} is not a number in {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"the bound must be a finite number in {text!r}")
    return Constraint(metric, op, value)


@dataclass
class TrialBests:
    """Each running trial's most favourable value of each objective and constrained metric: the
    point a multi-objective searcher is told when the trial ends, as the Pareto set counts it
    (a constraint is judged on the trial's most favourable value of its metric)."""

    objectives: dict[str, str]
    constraints: list[Constraint]
    seen: dict[str, dict[str, float]] = field(default_factory=dict)

    def _direction(self, key: str) -> str:
        if key in self.objectives:
            return self.objectives[key]
        return next(c.favourable for c in self.constraints if c.metric == key)

    def update(self, trial_id: str, result: Mapping[str, Any]) -> None:
        seen = self.seen.setdefault(trial_id, {})
        for key in {*self.objectives, *(c.metric for c in self.constraints)}:
            value = result.get(key)
            if is_finite_number(value) and is_better(float(value), seen.get(key), self._direction(key)):
                seen[key] = float(value)

    def finish(self, trial_id: str) -> tuple[list[float], list[float] | None] | None:
        """The ended trial's point and its constraints' violations (None without constraints);
        None when it never reported one of the objectives (a failed trial, to a sampler)."""
        seen = self.seen.pop(trial_id, {})
        if any(key not in seen for key in self.objectives):
            return None
        violations = [c.violation(seen[c.metric]) if c.metric in seen else 1.0 for c in self.constraints]
        return [seen[key] for key in self.objectives], violations if self.constraints else None


def objectives_of(spec: Mapping[str, Any]) -> tuple[dict[str, str], list[Constraint]]:
    """A resolved spec's objectives (its metric alone for a single-objective job) and constraints."""
    objectives = dict(spec.get("objectives") or {spec["metric"]: spec["mode"]})
    return objectives, [parse_constraint(text) for text in spec.get("constraints") or []]


def trial_points(iterations: pd.DataFrame, objectives: Mapping[str, str], constraints: list[Constraint],
                 failed: set[str] | None = None) -> pd.DataFrame:
    """Per trial with a value of every objective: its best of each, and whether it is feasible."""
    needed = list(dict.fromkeys([*objectives, *(c.metric for c in constraints)]))
    if iterations.empty or any(metric not in iterations for metric in objectives):
        return pd.DataFrame(columns=["trial_id", *objectives, "feasible"])
    rows = []
    for trial_id, history in iterations.groupby("trial_id"):
        if failed and trial_id in failed:
            continue
        values = {m: pd.to_numeric(history[m], errors="coerce").dropna() if m in history else pd.Series(dtype=float)
                  for m in needed}
        if any(values[m].empty for m in objectives):
            continue
        row: dict[str, Any] = {"trial_id": str(trial_id)}
        for metric, direction in objectives.items():
            row[metric] = float(values[metric].max() if direction == "max" else values[metric].min())
        row["feasible"] = all(not values[c.metric].empty and c.holds(float(
            values[c.metric].min() if c.favourable == "min" else values[c.metric].max())) for c in constraints)
        rows.append(row)
    return pd.DataFrame(rows, columns=["trial_id", *objectives, "feasible"])


def pareto_set(iterations: pd.DataFrame, objectives: Mapping[str, str], constraints: list[Constraint],
               failed: set[str] | None = None) -> list[dict[str, Any]]:
    """The feasible, non-dominated trials, by trial id: ``{"trial_id", "values": {objective: best}}``."""
    return pareto_of(trial_points(iterations, objectives, constraints, failed), objectives)


def pareto_of(points: pd.DataFrame, objectives: Mapping[str, str]) -> list[dict[str, Any]]:
    """``pareto_set`` from the points ``trial_points`` gave (for callers that show both)."""
    points = points[points["feasible"].astype(bool)].sort_values("trial_id").reset_index(drop=True)
    signs = [1.0 if direction == "max" else -1.0 for direction in objectives.values()]
    front = first_front(points[list(objectives)].to_numpy(dtype=float) * np.array(signs)) if len(points) else []
    return [{"trial_id": str(points.at[i, "trial_id"]), "values": {m: float(points.at[i, m]) for m in objectives}} for i in front]


def first_front(points: np.ndarray) -> list[int]:
    """Indices of the rows no other row dominates (every column maximised). A dominating row has a
    larger sum and a dominated dominator leaves a front member that dominates too, so rows are
    taken by decreasing sum and compared with the front found so far: n x front, not n x n."""
    front: list[int] = []
    for i in np.argsort(-points.sum(axis=1), kind="stable"):
        kept = points[front]
        if not (np.all(kept >= points[i], axis=1) & np.any(kept > points[i], axis=1)).any():
            front.append(int(i))
    return sorted(front)
