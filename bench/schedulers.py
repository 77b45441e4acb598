"""Schedulers side by side on the same trial budget and resources: wall time until any trial
first reaches a target, the best value at the end, the job's wall time; medians over seeds, all in
one run on one local Ray, methods interleaved per seed so drift in machine load hits all alike.

    python bench/schedulers.py [--problems curve digits digits_cnn] [--seeds 3] [--trials 27]
    python bench/schedulers.py --problems digits_mlp_table text_transformer_table --trials 96 --methods forest+ASHA

Methods: random+FIFO (the baseline), random+ASHA (stopping), random+ASHA promotion (pausing),
random+Hyperband (3 brackets), BayesOpt+Hyperband (the GP learns from the highest rung with
enough results), TPE+ASHA (stopped trials told to Optuna as pruned at their rung), forest+ASHA (a
random forest fitted on every trial by the highest rung it reached), forest+ASHA promotion (the
same forest, trials paused rather than stopped), forest+PASHA promotion, PBT, and the
baseline of Egele et al. (arXiv 2307.15422): train every trial for one epoch, then the top ninth
to the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

from tune_jobs.core.values import plain  # noqa: E402  (after the path above, as a script)

EPOCHS = 27  # rungs 1, 3, 9, 27
RUNGS = {"grace_period": 1, "reduction_factor": 3}
PROBLEMS: dict[str, dict[str, Any]] = {
    "curve": {"trainable": "bench.scheduler_problems:curve", "target": 0.92, "optimum": 0.95, "config": {"epoch_s": 0.25},
              "space": {"lr": {"loguniform": [1e-4, 1.0]}, "dropout": {"uniform": [0.0, 0.6]},
                        "width": {"ordinal": [16, 32, 64, 128, 256, 512]}, "optimizer": {"choice": ["sgd", "adam"]}}},
    "digits": {"trainable": "bench.scheduler_problems:digits", "target": 0.98, "config": {},
               "space": {"lr": {"loguniform": [1e-4, 3e-1]}, "hidden": {"lograndint": [16, 512]},
                         "dropout": {"uniform": [0.0, 0.6]}, "batch_size": {"choice": [32, 64, 128, 256]},
                         "weight_decay": {"loguniform": [1e-6, 1e-2]}, "optimizer": {"choice": ["sgd", "adam"]}}},
    "digits_cnn": {"trainable": "bench.scheduler_problems:digits_cnn", "target": 0.997, "config": {},
                   "space": {"lr": {"loguniform": [1e-4, 3e-1]}, "channels": {"lograndint": [8, 64]},
                             "depth": {"randint": [1, 3]}, "dropout": {"uniform": [0.0, 0.5]},
                             "batch_size": {"choice": [32, 64, 128]}, "optimizer": {"choice": ["sgd", "adam"]}}},
}


def _table_problem(name: str) -> dict[str, Any]:
    """A curve table's training run for real: its trainable, space and epochs, and the target the
    simulated backend uses for it (bench/simulated_schedulers.py), so the two can be set side by side."""
    from bench.curve_tables import TABLES
    from bench.simulated_schedulers import benchmarks, target_and_optimum

    setup = TABLES[name]
    assert (setup.metric, setup.mode) == ("val_accuracy", "max"), "this benchmark compares val_accuracy"
    target, optimum = target_and_optimum(benchmarks()[name])
    return {"trainable": "bench.scheduler_problems:table", "target": round(target, 4), "epochs": setup.epochs,
            "config": {"table": name}, "space": setup.space}


TABLE_PROBLEMS = ("digits_mlp", "text_transformer")
METHODS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "random+FIFO": ({"algorithm": "random"}, {"type": "fifo"}),
    "random+ASHA": ({"algorithm": "random"}, {"type": "asha", **RUNGS}),
    "random+ASHA promotion": ({"algorithm": "random"}, {"type": "asha_promotion", **RUNGS}),
    "random+Hyperband": ({"algorithm": "random"}, {"type": "hyperband", **RUNGS}),
    "BayesOpt+Hyperband": ({"algorithm": "bayesopt"}, {"type": "hyperband", **RUNGS}),
    "TPE+ASHA": ({"algorithm": "tpe"}, {"type": "asha", **RUNGS}),
    "forest+ASHA": ({"algorithm": "forest"}, {"type": "asha", **RUNGS}),
    "forest+ASHA promotion": ({"algorithm": "forest"}, {"type": "asha_promotion", **RUNGS}),
    "forest+PASHA promotion": ({"algorithm": "forest"}, {"type": "pasha_promotion", **RUNGS}),
    "PBT": ({"algorithm": "random"}, {"type": "pbt", "perturbation_interval": 3, "hyperparams": ["lr", "dropout"]}),
    "1 epoch, then top 1/9": ({}, {}),
}


def _run(spec_data: dict[str, Any]) -> Any:
    import pandas as pd
    from rich.console import Console

    from tune_jobs.runner import run_job
    from tune_jobs.spec import validate_spec

    spec = validate_spec(spec_data)
    with open(os.devnull, "w") as quiet:
        run_job(spec, restart=True, console=Console(file=quiet))
    return pd.read_parquet(Path(spec.results_dir) / "iterations.parquet"), pd.read_parquet(
        Path(spec.results_dir) / "trials.parquet")


Run = tuple[float, float, float, list[tuple[float, float]]]


def run_method(problem: str, method: str, seed: int, trials: int, storage: str) -> Run:
    """(seconds until a trial first reached the target, or inf; best value; job seconds; the best
    value so far after each report, by seconds since the start)."""
    import pandas as pd

    setup = problem_setup(problem)
    base = {"name": f"{problem}-{method}-{seed}".lower().replace("+", "-").replace(" ", "-").replace(",", "").replace("/", ""),
            "trainable": setup["trainable"], "metric": "val_accuracy", "mode": "max",
            "config": {"epochs": setup.get("epochs", EPOCHS), **setup["config"]}, "space": setup["space"], "resources": {"cpu": 1},
            "storage": storage, "tensorboard": False, "failure": {"max_failures": 0}}
    started = time.time()
    if method.startswith("1 epoch"):
        first, first_trials = _run({**base, "config": {**base["config"], "epochs": 1},
                                    "search": {"algorithm": "random", "num_samples": trials, "seed": seed}})
        keep = max(2, trials // 9)
        top = first_trials.sort_values("best_val_accuracy", ascending=False).head(keep)
        candidates = [{k.removeprefix("config/"): plain(row[k]) for k in top.columns
                       if k.startswith("config/") and k.removeprefix("config/") in setup["space"]} for _, row in top.iterrows()]
        second, _ = _run({**base, "name": base["name"] + "-top", "trainable": "bench.scheduler_problems:replay",
                          "config": {**base["config"], "problem": problem, "candidates": candidates},
                          "space": {"pick": {"grid": list(range(keep))}}, "search": {"algorithm": "grid"}})
        iterations = pd.concat([first, second])
    else:
        search, scheduler = METHODS[method]
        iterations, _ = _run({**base, "search": {**search, "num_samples": trials, "seed": seed}, "scheduler": scheduler})
    total = time.time() - started
    hits = iterations[iterations.val_accuracy >= setup["target"]]
    reached = float(hits.wall_clock.min() - started) if len(hits) else float("inf")
    ordered = iterations.sort_values("wall_clock")
    curve = list(zip((ordered.wall_clock - started).tolist(), ordered.val_accuracy.cummax().tolist(), strict=True))
    return reached, float(iterations.val_accuracy.max()), total, curve


def problem_setup(problem: str) -> dict[str, Any]:
    return _table_problem(problem.removesuffix("_table")) if problem.endswith("_table") else PROBLEMS[problem]


def best_at(curve: list[tuple[float, float]], seconds: float) -> float:
    return max((value for t, value in curve if t <= seconds), default=float("nan"))


def censored_median(rows: list[Run]) -> tuple[float, bool]:
    """Median time to target, a run that never reached it counted at its job time (a lower bound);
    True when the median itself is such a bound."""
    times = sorted((r[0], False) if r[0] < float("inf") else (r[2], True) for r in rows)
    return times[(len(times) - 1) // 2] if len(times) % 2 else times[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS),
                        help=f"also a curve table's own training: {', '.join(t + '_table' for t in TABLE_PROBLEMS)}")
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1 (more seeds "
                        "of an earlier run, whose per-run lines can then be pooled)")
    parser.add_argument("--trials", type=int, default=27)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    import ray

    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR")
    for problem in args.problems:
        results: dict[str, list[Run]] = {m: [] for m in args.methods}
        with tempfile.TemporaryDirectory() as storage:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                for method in args.methods:
                    results[method].append(run_method(problem, method, seed, args.trials, storage))
                    reached, best, total, _ = results[method][-1]
                    print(f"  {problem} seed {seed} {method:<24} reached {reached:7.1f} s  best {best:.4f}  "
                          f"job {total:6.1f} s", file=sys.stderr, flush=True)
        report(problem, results, args)
    ray.shutdown()


def report(problem: str, results: dict[str, list[Run]], args: Any) -> None:
    setup = problem_setup(problem)
    target = setup["target"]
    base_job = statistics.median(r[2] for r in results.get("random+FIFO", next(iter(results.values()))))
    budgets = [round(base_job * share, 1) for share in (0.25, 0.5, 1.0)]
    print(f"\n{problem}: {args.trials} trials x {setup.get('epochs', EPOCHS)} epochs, {args.cpus} CPUs, target val_accuracy >= {target}, "
          f"{args.seeds} seeds (medians)")
    optimum = setup.get("optimum")
    at = "regret" if optimum else "best"
    print(f"{'method':<26}{'s to target':>12}{'reached':>9}{'job s':>8}{'best':>8}{'vs FIFO':>9}{'vs ASHA':>9}"
          + "".join(f"{f'{at} @{b:g}s':>14}" for b in budgets))
    medians = {method: censored_median(rows) for method, rows in results.items()}

    def speedup(method: str, baseline: str) -> str:
        if baseline not in medians:
            return "-"
        (value, censored), (base, base_censored) = medians[method], medians[baseline]
        if censored:
            return "n/a"
        return f"{'>=' if base_censored else ''}{base / value:.2f}x"

    for method, rows in results.items():
        value, censored = medians[method]
        reached = sum(r[0] < float("inf") for r in rows)
        at_budgets = [statistics.median(best_at(r[3], b) for r in rows) for b in budgets]
        shown_budgets = "".join(f"{(optimum - v if optimum else v):>14.4f}" for v in at_budgets)
        print(f"{method:<26}{('>' if censored else '') + f'{value:.1f}':>12}{reached:>6}/{len(rows):<2}"
              f"{statistics.median(r[2] for r in rows):>8.1f}{statistics.median(r[1] for r in rows):>8.4f}"
              f"{speedup(method, 'random+FIFO'):>9}{speedup(method, 'random+ASHA'):>9}{shown_budgets}")
    print("A run that never reached the target counts at its whole job time, a lower bound ('>'); a speed-up over\n"
          "such a baseline is a lower bound too ('>='); 'n/a' when the method's own median never reached it.\n"
          "@Ns: the best value (or regret to the known optimum) reached within N seconds: a quarter, half and all\n"
          "of random+FIFO's median job time.")


if __name__ == "__main__":
    main()
