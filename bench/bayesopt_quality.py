"""Search quality: median simple regret over seeds after 30 and 60 evaluations, for tune-jobs
bayesopt, random search, Optuna TPE and the stock bayes_opt loop, on Branin, Hartmann6 and a
mixed (log float, float, two ints, categorical) function; printed side by side with ratios.

    python bench/bayesopt_quality.py [--seeds 10] [--budget 60] [--skip-stock]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.functions import PROBLEMS  # noqa: E402
from bench.searchers import METHODS, StockBayesOpt  # noqa: E402

CHECKPOINTS = (30, 60)


def regret_curve(method: type, problem, seed: int, budget: int) -> list[float]:
    search = method(problem.space, seed)
    best, curve = np.inf, []
    for i in range(budget):
        config = search.ask(i)
        y = problem.function(config)
        search.tell(i, config, y)
        best = min(best, y)
        curve.append(best - problem.minimum)
    return curve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--skip-stock", action="store_true", help="leave out the (slow) stock bayes_opt loop")
    args = parser.parse_args()
    methods = [m for m in METHODS if not (args.skip_stock and m is StockBayesOpt)]
    checkpoints = [c for c in CHECKPOINTS if c <= args.budget]
    print(f"median simple regret over {args.seeds} seeds (lower is better)\n")
    verdicts = []
    for problem in PROBLEMS:
        medians: dict[str, dict[int, float]] = {}
        for method in methods:
            started = time.perf_counter()
            curves = np.array([regret_curve(method, problem, seed, args.budget) for seed in range(args.seeds)])
            medians[method.name] = {c: float(np.median(curves[:, c - 1])) for c in checkpoints}
            print(f"  {problem.name:<10} {method.name:<20} done in {time.perf_counter() - started:6.1f} s", file=sys.stderr)
        ours = medians["tune-jobs bayesopt"]
        print(f"{problem.name}")
        header = "".join(f"{'@' + str(c):>11}{'ratio':>8}" for c in checkpoints)
        print(f"  {'method':<22}{header}")
        for name, values in medians.items():
            cells = "".join(f"{values[c]:>11.4g}{ours[c] / values[c] if values[c] > 0 else float('inf'):>7.2f}x"
                            for c in checkpoints)
            print(f"  {name:<22}{cells}")
        for c in checkpoints:
            vs_random = ours[c] / medians["random search"][c]
            vs_tpe = ours[c] / medians["Optuna TPE"][c] if medians["Optuna TPE"][c] > 0 else float("inf")
            verdicts.append(f"{problem.name} @{c}: ours/random = {vs_random:.2f}x (target <= 0.3x), "
                            f"ours/TPE = {vs_tpe:.2f}x (target <= 1x)")
        print()
    print("ratio column: tune-jobs bayesopt regret / that method's regret")
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
