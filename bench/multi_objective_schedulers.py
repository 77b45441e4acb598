"""Early stopping with several objectives, on the simulated backend: how soon MO-ASHA (and the
multi-objective searchers over it) finds the front that random search with FIFO finds in a fixed
time, on the curve tables of real trainings (``bench/curves``: accuracy or loss per epoch, and each
configuration's ``latency_ms`` and ``params`` as the trainable measured them).

Problems: each table's metric against latency per sample, and against parameter count. Scoring as
``bench.multi_objective``: both objectives scaled to [0, 1] between the table's median and best
configuration (the metric's best mean value at any epoch, the cost's mean), reference point at the
median; a trial's point is its configuration's best expected metric reported so far (the mean over
the table's 3 runs, so a lucky run does not count) and its expected cost.

Figure: random+FIFO runs for a budget (the time ``--workers`` need to train ``--share`` of the
table's configurations fully); its final hypervolume, median over seeds, is the target. Per method,
the median over seeds of the simulated time until its hypervolume reaches the target (seeds that
never reach it within twice the budget count at twice the budget), as a speed-up over random+FIFO's
own median time (higher is better: 2.00x is the target in half the time).

    .venv/bin/python -m bench.multi_objective_schedulers --seeds 20
"""

from __future__ import annotations

import argparse
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from bench.multi_objective import hypervolume_2d, scaled
from bench.simulated_schedulers import _part, benchmarks
from tune_jobs.schedulers import SCHEDULERS
from tune_jobs.search import SEARCHES
from tune_jobs.simulation import CurveTable, SimulationResult, simulate

COSTS = ("latency_ms", "params")
METHODS = ["random+fifo", "random+mo_asha", "tpe+fifo", "tpe+mo_asha", "nsga2+mo_asha",
           "random+mo_asha[reduction_factor=4]", "tpe+mo_asha[reduction_factor=4]"]
BASELINE = "random+fifo"


@dataclass(frozen=True)
class Scale:
    """Higher-is-better values scaled to [0, 1] between the table's median and best configuration."""

    signs: tuple[float, float]
    low: tuple[float, float]
    high: tuple[float, float]

    @classmethod
    def of(cls, table: CurveTable, cost: str) -> Scale:
        peaks = np.array(table.peaks())
        costs = np.array([table.expected_reported(config)[0][cost] for config in table.configs])
        signs = (1.0 if table.mode == "max" else -1.0, -1.0)
        oriented = [np.nan_to_num(peaks * signs[0], nan=-np.inf), costs * signs[1]]
        low = tuple(float(np.median(o[np.isfinite(o)])) for o in oriented)
        high = tuple(float(np.max(o[np.isfinite(o)])) for o in oriented)
        return cls(signs, low, high)  # type: ignore[arg-type]

    def points(self, metric: np.ndarray, cost: np.ndarray) -> np.ndarray:
        columns = []
        for values, sign, low, high in zip((metric, cost), self.signs, self.low, self.high, strict=True):
            oriented = np.nan_to_num(values * sign, nan=low)
            columns.append(scaled(oriented, low, high))
        return np.column_stack(columns)


def volume_by(result: SimulationResult, cost: str, scale: Scale, time_s: float) -> float:
    seen = result.results[result.results.time <= time_s]
    if seen.empty:
        return 0.0
    by_trial = seen.groupby("trial_id")
    metric = by_trial["expected"].max() if result.mode == "max" else by_trial["expected"].min()
    costs = by_trial[f"expected:{cost}"].last()
    return hypervolume_2d(scale.points(metric.to_numpy(), costs.loc[metric.index].to_numpy()))


def time_to_volume(result: SimulationResult, cost: str, scale: Scale, target: float, horizon: float) -> float:
    """The first result time at which the hypervolume reaches ``target`` (it never falls), else ``horizon``."""
    times = np.unique(result.results.time[result.results.time <= horizon].to_numpy())
    if not len(times) or volume_by(result, cost, scale, times[-1]) < target:
        return horizon
    low, high = 0, len(times) - 1
    while low < high:
        middle = (low + high) // 2
        if volume_by(result, cost, scale, times[middle]) >= target:
            high = middle
        else:
            low = middle + 1
    return float(times[low])


def run_one(job: tuple[str, str, str, int, int, float]) -> tuple[str, str, str, int, SimulationResult]:
    name, cost, method, seed, workers, horizon = job
    table = benchmarks()[name]
    (search, search_options), (scheduler, scheduler_options) = (_part(part) for part in method.split("+"))
    result = simulate(table, SEARCHES.get(search).model_validate({"algorithm": search, "seed": seed,
                                                                    "num_samples": 100_000, **search_options}),
                      SCHEDULERS.get(scheduler).model_validate({"type": scheduler, **scheduler_options}),
                      workers=workers, budget_s=horizon, seed=seed,
                      objectives={table.metric: table.mode, cost: "min"})
    return name, cost, method, seed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--share", type=float, default=0.5,
                        help="random+FIFO's budget: the time to train this share of the table's configurations")
    parser.add_argument("--method", action="append", help=f"search+scheduler (default: {', '.join(METHODS)})")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    tables = {name: table for name, table in benchmarks().items() if isinstance(table, CurveTable)
              and all(cost in table.other_metrics for cost in COSTS)}
    methods = list(dict.fromkeys([BASELINE, *(args.method or METHODS)]))
    budgets = {name: args.share * len(table.configs) * table.mean_training_s() / args.workers for name, table in tables.items()}
    jobs = [(name, cost, method, seed, args.workers, 2 * budgets[name]) for name in tables for cost in COSTS
            for method in methods for seed in range(args.seeds)]
    results: dict[tuple[str, str, str], list[SimulationResult]] = {}
    with ProcessPoolExecutor(args.processes) as pool:
        for name, cost, method, _, result in pool.map(run_one, jobs, chunksize=4):
            results.setdefault((name, cost, method), []).append(result)
    speedups: dict[str, list[float]] = {method: [] for method in methods}
    for name, table in tables.items():
        for cost in COSTS:
            scale, budget = Scale.of(table, cost), budgets[name]
            target = statistics.median(volume_by(r, cost, scale, budget) for r in results[(name, cost, BASELINE)])
            print(f"\n{name}: {table.metric} ({table.mode}) vs {cost} (min), {args.workers} workers, {args.seeds} seeds; "
                  f"random+fifo's budget {budget:.0f} simulated s, its median final hypervolume {target:.4f}")
            print(f"{'method':<36}{'median s to it':>15}{'reached':>9}{'vs random+fifo':>16}{'hv @budget':>12}"
                  f"{'trials @budget':>16}")
            times: dict[str, float] = {}
            for method in methods:
                found = results[(name, cost, method)]
                reach = [time_to_volume(r, cost, scale, target, 2 * budget) for r in found]
                times[method] = statistics.median(reach)
                speedups[method].append(times[BASELINE] / times[method])
                volume = statistics.median(volume_by(r, cost, scale, budget) for r in found)
                started = statistics.median(r.results[r.results.time <= budget].trial_id.nunique() for r in found)
                print(f"{method:<36}{times[method]:>15.1f}{f'{sum(t < 2 * budget for t in reach)}/{len(reach)}':>9}"
                      f"{times[BASELINE] / times[method]:>15.2f}x{volume:>12.4f}{started:>16.0f}")
    print(f"\nSummary over {len(tables) * len(COSTS)} problems: speed-up to random+FIFO's final hypervolume")
    print(f"{'method':<36}{'median':>10}{'worst':>10}")
    for method in methods:
        print(f"{method:<36}{statistics.median(speedups[method]):>9.2f}x{min(speedups[method]):>9.2f}x")


if __name__ == "__main__":
    main()
