"""suggest() latency with 100 / 500 / 1000 observations: tune-jobs bayesopt vs the stock
bayes_opt loop, on a 6-D continuous space and a mixed space (2 float, 2 int, 1 categorical).

Ours refits the kernel hyperparameters only as the data grows, so the figure is the mean over
``--steps`` consecutive suggest+register steps (refits included), next to the slowest step.

    python bench/bayesopt_latency.py [--sizes 100 500 1000] [--steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.functions import PROBLEMS  # noqa: E402
from bench.searchers import RandomSearch, StockBayesOpt, TuneJobsBayesOpt  # noqa: E402
from tune_jobs.space import Choice, RandInt, Uniform  # noqa: E402

SPACES = {
    "6-D continuous": (PROBLEMS[1].space, PROBLEMS[1].function),
    "mixed (2 float, 2 int, 1 cat)": (
        {"a": Uniform(uniform=(0.0, 1.0)), "b": Uniform(uniform=(-2.0, 2.0)), "c": RandInt(randint=(1, 8)),
         "d": RandInt(randint=(16, 256)), "e": Choice(choice=["x", "y", "z"])},
        lambda c: (c["a"] - 0.3) ** 2 + c["b"] ** 2 + 0.1 * (c["c"] - 3) ** 2 + ((c["d"] - 96) / 64) ** 2
        + {"x": 0.5, "y": 0.0, "z": 0.2}[c["e"]],
    ),
}


def timed_steps(method: type, space, function, observations: int, steps: int) -> list[float]:
    search = method(space, 0)
    if isinstance(search, TuneJobsBayesOpt):
        search.searcher.options = search.searcher.options.model_copy(update={"initial_points": observations})
    sampler = RandomSearch(space, 1)
    for i in range(observations):  # history: random points, registered through the method itself
        config = search.ask(i) if isinstance(search, TuneJobsBayesOpt) else sampler.ask(i)
        if isinstance(search, StockBayesOpt):
            search.raw[i] = search.optimizer.space.array_to_params(_stock_array(search, config))
        search.tell(i, config, function(config))
    times = []
    for i in range(observations, observations + steps):
        started = time.perf_counter()
        if isinstance(search, StockBayesOpt):
            search.asked = search.initial_points  # past the random phase
        config = search.ask(i)
        times.append(time.perf_counter() - started)
        search.tell(i, config, function(config))
    return times


def _stock_array(search: StockBayesOpt, config):
    return search.optimizer.space.params_to_array(config)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--stock-steps", type=int, default=3, help="the stock loop is slow: fewer steps")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"{'space':<32}{'obs':>6}{'ours mean s':>13}{'ours max s':>12}{'stock mean s':>14}{'speed-up':>10}")
    for name, (space, function) in SPACES.items():
        for size in args.sizes:
            ours = timed_steps(TuneJobsBayesOpt, space, function, size, args.steps)
            stock = timed_steps(StockBayesOpt, space, function, size, args.stock_steps)
            ours_mean, stock_mean = statistics.mean(ours), statistics.mean(stock)
            print(f"{name:<32}{size:>6}{ours_mean:>13.4f}{max(ours):>12.4f}{stock_mean:>14.4f}{stock_mean / ours_mean:>9.1f}x",
                  flush=True)
    print("\ntargets at 500 observations: <= 0.1 s continuous, <= 0.5 s mixed")


if __name__ == "__main__":
    main()
