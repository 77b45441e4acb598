"""Schedulers and searchers compared on the simulated backend (``tune_jobs.simulation``): the same
algorithms a job runs, on a simulated clock, over many seeds, on the curve tables of real trainings
(``bench/curves``, made by ``bench/curve_tables.py``) and on MF-Hartmann6.

Per benchmark and method: the median over seeds of the simulated time until a trial's expected
value (its configuration's mean curve over the table's 3 runs, so a lucky seed does not count)
reaches the target, with seeds that never reach it counted at the budget; and the median regret at
a quarter, half and all of the budget. Target: the 99th percentile (1st for a loss) of the
configurations' best mean value at any epoch (MF-Hartmann6: of 10,000 random configurations' final
values). Budget: the simulated time in which the workers could train every configuration of the
table twice (MF-Hartmann6: 1,500 s). Each method beside random+fifo and random+asha in the same run,
as ratios of times (higher is better: 2.00x means the target twice as soon); the summary gives the
median ratio over benchmarks and the worst one. Spread: each time's interquartile range over seeds,
and a 90% bootstrap interval of each ratio over random+asha (and of its median over benchmarks),
resampling the seeds, paired (a seed replays the same runs of the table for every method): at 20
seeds one table's ratio moves by a few tenths between two draws of the seeds, so a method is ahead
only where its interval is.

    .venv/bin/python -m bench.simulated_schedulers --seeds 20
    .venv/bin/python -m bench.simulated_schedulers --benchmark digits_mlp --method random+top_k --seeds 5
    .venv/bin/python -m bench.simulated_schedulers --method "tpe[options.initial_points=5]+asha[reduction_factor=4]"
    .venv/bin/python -m bench.simulated_schedulers --budget-share 0.3 --seeds 10 --method forest+asha   # a quick screen
    .venv/bin/python -m bench.simulated_schedulers --seeds 20 --budget-share 0.5 --method forest+pasha_promotion \
        --method "forest+pasha_promotion[eager=false]" --method random+asha_promotion   # pausing schedulers too
    .venv/bin/python -m bench.simulated_schedulers --benchmark digits_mlp --workers 2 --trials 96 --startup-s 0.5

``--budget-share`` simulates part of the budget (a screen: model-based searchers' own time grows
with their trials, and most methods reach the target early); ``--trials`` caps the trials as a real
job's ``num_samples`` does, and ``--startup-s`` charges each trial a real job's start-up, to set a
simulated figure beside a real run of the same table's training (``bench/schedulers.py
--problems digits_mlp_table``).
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from tune_jobs.schedulers import SCHEDULERS
from tune_jobs.search import SEARCHES
from tune_jobs.simulation import CurveTable, MFHartmann6, simulate

CURVES = Path(__file__).parent / "curves"
METHODS = ["random+fifo", "random+asha", "random+hyperband", "random+top_k", "random+pasha", "random+curve_stop",
           "tpe+asha", "tpe+top_k"]
BASELINES = ("random+fifo", "random+asha")
SHARES = (0.25, 0.5, 1.0)


@functools.cache
def benchmarks() -> dict[str, Any]:
    found: dict[str, Any] = {path.stem: CurveTable.from_parquet(path) for path in sorted(CURVES.glob("*.parquet"))}
    found["mf_hartmann6"] = MFHartmann6()
    return found


def target_and_optimum(benchmark: Any) -> tuple[float, float]:
    if isinstance(benchmark, CurveTable):
        peaks = [p for p in benchmark.peaks() if math.isfinite(p)]
        best = max(peaks) if benchmark.mode == "max" else min(peaks)
        return float(np.percentile(peaks, 99 if benchmark.mode == "max" else 1)), best
    rng = np.random.RandomState(12345)
    finals = [benchmark.curve({k: p.sample(rng) for k, p in benchmark.space.items()}, 0)[-1][0] for _ in range(10_000)]
    return float(np.percentile(finals, 99)), benchmark.best_final()


def budget_s(benchmark: Any, workers: int, startup_s: float = 0.0) -> float:
    """Time to train every configuration twice, start-ups included; MF-Hartmann6: 1,500 s (about 56
    full trainings of 27 s) plus a start-up for each of those."""
    if isinstance(benchmark, CurveTable):
        return 2 * len(benchmark.configs) * (benchmark.mean_training_s() + startup_s) / workers
    return 1500.0 * (1 + startup_s / benchmark.mean_training_s())


def _part(text: str) -> tuple[str, dict[str, Any]]:
    """``tpe`` or ``tpe[options.initial_points=5]``: a name and spec fields (values as YAML)."""
    import yaml

    name, _, rest = text.partition("[")
    fields: dict[str, Any] = {}
    for item in filter(None, rest.rstrip("]").split(",")):
        path, _, value = item.partition("=")
        *parents, leaf = path.split(".")
        node = fields
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = yaml.safe_load(value)
    return name, fields


def ratio_interval(baselines: list[list[float]], methods: list[list[float]]) -> tuple[float, float]:
    """90% bootstrap interval of the median, over benchmarks, of median(baseline) / median(method)
    per benchmark; the seeds are resampled together (paired) across methods and benchmarks."""
    from scipy.stats import bootstrap

    def statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        ratios = [np.median(b, axis=axis) / np.median(m, axis=axis) for b, m in zip(samples[::2], samples[1::2], strict=True)]
        return np.median(np.stack(ratios), axis=0)

    data = [np.asarray(times) for pair in zip(baselines, methods, strict=True) for times in pair]
    found = bootstrap(data, statistic, paired=True, vectorized=True, confidence_level=0.9, n_resamples=2000,
                      method="percentile", rng=np.random.default_rng(0))
    return float(found.confidence_interval.low), float(found.confidence_interval.high)


def run_one(job: tuple[str, str, int, int, float, int | None, float, float, float]) -> tuple[str, str, float, list[float], float]:
    """One (benchmark, method, seed): the time to target and the regrets at each budget share."""
    name, method, seed, workers, startup, trials, budget, target, optimum = job
    benchmark = benchmarks()[name]
    (search, search_options), (scheduler, scheduler_options) = (_part(part) for part in method.split("+"))
    started = time.process_time()
    result = simulate(benchmark, SEARCHES.get(search).model_validate({"algorithm": search, "seed": seed,
                                                                         "num_samples": 100_000, **search_options}),
                      SCHEDULERS.get(scheduler).model_validate({"type": scheduler, **scheduler_options}),
                      workers=workers, trials=trials, budget_s=budget, seed=seed, startup_s=startup)
    at = min(result.time_to(target, column="expected"), budget)
    regrets = []
    for share in SHARES:
        best = result.best_by(budget * share, column="expected")
        regrets.append(abs(optimum - best) if math.isfinite(best) else math.inf)
    return name, method, at, regrets, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1 (a "
                        "second draw of seeds checks a figure)")
    parser.add_argument("--workers", type=int, default=4, help="simulated workers (trials at once)")
    parser.add_argument("--benchmark", action="append", help="default: every curve table and mf_hartmann6")
    parser.add_argument("--method", action="append", help=f"search+scheduler (default: {', '.join(METHODS)})")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--startup-s", type=float, default=0.0,
                        help="simulated seconds each trial costs before its first epoch (a real job's start-up)")
    parser.add_argument("--trials", type=int, help="trials at most, as a real job's num_samples (default: "
                        "as many as the budget allows)")
    parser.add_argument("--budget-share", type=float, default=1.0,
                        help="simulate this share of the budget: a quicker screen of time to target (slow searchers' "
                             "time grows with their trials); seeds past it count at the cut, regrets are of the cut")
    args = parser.parse_args()
    found = benchmarks()
    names = args.benchmark or list(found)
    methods = list(dict.fromkeys([*BASELINES, *(args.method or METHODS)]))
    setups = {name: (args.budget_share * budget_s(found[name], args.workers, args.startup_s),
                     *target_and_optimum(found[name]))
              for name in names}
    jobs = [(name, method, seed, args.workers, args.startup_s, args.trials, *setups[name]) for name in names for method in methods
            for seed in range(args.first_seed, args.first_seed + args.seeds)]
    times: dict[tuple[str, str], list[float]] = {}
    regrets: dict[tuple[str, str], list[list[float]]] = {}
    cpu: dict[tuple[str, str], float] = {}
    with ProcessPoolExecutor(args.processes) as pool:
        for name, method, at, regret, spent in pool.map(run_one, jobs, chunksize=2):
            times.setdefault((name, method), []).append(at)
            regrets.setdefault((name, method), []).append(regret)
            cpu[(name, method)] = cpu.get((name, method), 0.0) + spent
    ratios: dict[str, dict[str, tuple[float, float]]] = {}
    width = max(20, *(len(m) + 2 for m in methods))
    for name in names:
        budget, target, optimum = setups[name]
        benchmark = found[name]
        print(f"\n{name}: {benchmark.metric} ({benchmark.mode}), {benchmark.epochs} epochs, {args.workers} workers, "
              f"budget {budget:.0f} simulated s, {args.seeds} seeds; target {target:.4f}, best {optimum:.4f}")
        print(f"{'method':<{width}}{'median s to target':>19}{'IQR':>14}{'reached':>9}{'vs random+fifo':>16}{'vs random+asha':>16}"
              f"{'90% interval':>14}{'regret @1/4':>13}{'@1/2':>8}{'@all':>8}{'cpu s':>7}")
        fifo, asha = (statistics.median(times[(name, b)]) for b in BASELINES)
        for method in methods:
            median = statistics.median(times[(name, method)])
            reached = sum(t < budget for t in times[(name, method)])
            regret = [statistics.median(r[i] for r in regrets[(name, method)]) for i in range(len(SHARES))]
            ratios.setdefault(method, {})[name] = (fifo / median, asha / median)
            q1, q3 = np.percentile(times[(name, method)], [25, 75])
            low, high = ratio_interval([times[(name, BASELINES[1])]], [times[(name, method)]])
            print(f"{method:<{width}}{median:>19.1f}{f'{q1:.1f}-{q3:.1f}':>14}{f'{reached}/{args.seeds}':>9}{fifo / median:>15.2f}x"
                  f"{asha / median:>15.2f}x{f'{low:.2f}-{high:.2f}':>14}"
                  f"{regret[0]:>13.4f}{regret[1]:>8.4f}{regret[2]:>8.4f}{cpu[(name, method)]:>7.0f}")
    print(f"\nSummary over {len(names)} benchmarks (speed-up in time to target; higher is better)")
    print(f"{'method':<{width}}{'median vs fifo':>16}{'median vs asha':>16}{'90% interval':>14}{'worst vs asha':>15}")
    for method in methods:
        by_fifo = [r[0] for r in ratios[method].values()]
        by_asha = [r[1] for r in ratios[method].values()]
        low, high = ratio_interval([times[(name, BASELINES[1])] for name in names], [times[(name, method)] for name in names])
        print(f"{method:<{width}}{statistics.median(by_fifo):>15.2f}x{statistics.median(by_asha):>15.2f}x"
              f"{f'{low:.2f}-{high:.2f}':>14}{min(by_asha):>14.2f}x")


if __name__ == "__main__":
    main()
