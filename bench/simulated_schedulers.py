"""Schedulers and searchers compared on the simulated backend (``tune_jobs.simulation``): the
same algorithms a job runs, on a simulated clock, over many seeds.

For each method: the median over seeds of the simulated time until a reported value reaches the
target (the 99th percentile of the final values of 10,000 random configurations, i.e. a top-1%
configuration), with the seeds that never reached it counted at the budget, and the median
regret at a quarter, half and all of the budget; each beside random+fifo and random+asha in the
same run, as ratios (lower is better).

    .venv/bin/python bench/simulated_schedulers.py --seeds 20 --workers 4 --budget 1500
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from tune_jobs.schedulers import SCHEDULERS
from tune_jobs.search import SEARCHES
from tune_jobs.simulation import MFHartmann6, simulate

METHODS = [("random", "fifo"), ("random", "asha"), ("random", "hyperband"), ("tpe", "asha"), ("tpe", "hyperband"),
           ("bayesopt", "asha"), ("bayesopt", "hyperband")]


def top_percentile_target(benchmark, draws: int = 10_000, percentile: float = 99.0) -> float:
    rng = np.random.RandomState(12345)
    finals = [benchmark.curve({key: param.sample(rng) for key, param in benchmark.space.items()}, 0)[-1][0]
              for _ in range(draws)]
    return float(np.percentile(finals, percentile if benchmark.mode == "max" else 100 - percentile))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--budget", type=float, default=1500.0, help="simulated seconds (MF-Hartmann6: 1 s per epoch)")
    parser.add_argument("--trials", type=int, default=10_000, help="at most this many trials (the budget ends first)")
    args = parser.parse_args()
    benchmark = MFHartmann6()
    target = top_percentile_target(benchmark)
    optimum = benchmark.best_final()
    print(f"MF-Hartmann6 (27 epochs, 1 simulated s each), {args.workers} workers, budget {args.budget:.0f} s, "
          f"{args.seeds} seeds; target {target:.4f} (top 1% of random configurations), optimum {optimum}")
    rows = {}
    for search, scheduler in METHODS:
        started = time.time()
        times, regrets = [], {share: [] for share in (0.25, 0.5, 1.0)}
        reached = 0
        for seed in range(args.seeds):
            result = simulate(benchmark, SEARCHES.get(search).model_validate({"algorithm": search, "seed": seed,
                                                                                 "num_samples": args.trials}),
                              SCHEDULERS.get(scheduler).model_validate({"type": scheduler}),
                              workers=args.workers, budget_s=args.budget, seed=seed)
            at = result.time_to(target)
            reached += math.isfinite(at)
            times.append(min(at, args.budget))
            for share in regrets:
                best = result.best_by(args.budget * share)
                regrets[share].append(optimum - best if math.isfinite(best) else optimum)
        rows[(search, scheduler)] = (statistics.median(times), reached, {s: statistics.median(v) for s, v in regrets.items()},
                                     time.time() - started)
    fifo, asha = rows[("random", "fifo")][0], rows[("random", "asha")][0]
    print(f"{'search':<10}{'scheduler':<11}{'median s to target':>19}{'reached':>9}{'vs random+fifo':>16}"
          f"{'vs random+asha':>16}{'regret @1/4':>13}{'@1/2':>8}{'@all':>8}{'cpu s':>7}")
    for (search, scheduler), (median, reached, regret, spent) in rows.items():
        print(f"{search:<10}{scheduler:<11}{median:>19.0f}{f'{reached}/{args.seeds}':>9}{median / fifo:>15.2f}x"
              f"{median / asha:>15.2f}x{regret[0.25]:>13.3f}{regret[0.5]:>8.3f}{regret[1.0]:>8.3f}{spent:>7.0f}")


if __name__ == "__main__":
    main()
