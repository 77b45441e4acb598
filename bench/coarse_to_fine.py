"""One-stage vs two-stage (coarse-to-fine) search at the same total trial budget, several seeds,
on synthetic functions and on the digits job, all in one run on one local Ray.

Arms, each with N trials in all:
  random      one stage of random search (N)
  bayesopt    one stage of BayesOpt (N)
  two-stage   ``stages:``: random (N/2; ``--coarse bayesopt`` for BayesOpt), then BayesOpt on the narrowed
              space warm-started from it (N/2)

Printed: the median best value per arm and the ratios two-stage / one-stage of the regret (synthetic:
f - f*) or of the validation error (digits: 1 - accuracy). Below 1 means two-stage is better.

    python bench/coarse_to_fine.py [--seeds 5] [--trials 40] [--digits-seeds 3] [--digits-trials 24]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

ARMS = ("random", "bayesopt", "two-stage")


def synthetic(config: dict[str, Any], report: Any) -> None:
    """A trainable that reports one test function's value once."""
    from bench.functions import PROBLEMS

    problem = next(p for p in PROBLEMS if p.name == config["function"])
    report({"regret": problem.function(config) - problem.minimum})


def _space(problem: Any) -> dict[str, Any]:
    return {key: {param.kind: list(param.values())} for key, param in problem.space.items()}


def job_spec(arm: str, name: str, base: dict[str, Any], trials: int, seed: int, coarse: str = "random") -> dict[str, Any]:
    spec = {**base, "name": name}
    if arm == "two-stage":
        first = trials // 2
        spec["search"] = {"algorithm": coarse, "seed": seed}
        spec["stages"] = [{"name": "coarse", "trials": first}, {"name": "fine", "trials": trials - first}]
    else:
        spec["search"] = {"algorithm": arm, "num_samples": trials, "seed": seed}
    return spec


def best_of(arm: str, data: dict[str, Any]) -> float:
    """The best value of the job's metric over every trial of every stage."""
    import pandas as pd
    from rich.console import Console

    from tune_jobs.runner import run_job, run_stages
    from tune_jobs.spec import validate_spec

    spec = validate_spec(data)
    with open(os.devnull, "w") as quiet:
        console = Console(file=quiet)
        done = run_stages(spec, console=console) if spec.stages else [(spec, run_job(spec, console=console))]
    values = pd.concat([pd.read_parquet(Path(job.results_dir) / "trials.parquet")[f"best_{spec.metric}"] for job, _ in done])
    return float(values.max() if spec.mode == "max" else values.min())


def ratio_line(label: str, medians: dict[str, float]) -> str:
    return (f"{label:<12}" + "".join(f"{medians[a]:>12.4g}" for a in ARMS)
            + f"{medians['two-stage'] / medians['random']:>12.2f}x{medians['two-stage'] / medians['bayesopt']:>13.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--digits-seeds", type=int, default=3)
    parser.add_argument("--digits-trials", type=int, default=24)
    parser.add_argument("--functions", default="hartmann6,mixed")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--coarse", choices=("random", "bayesopt"), default="random", help="the first stage's search")
    args = parser.parse_args()
    import ray

    from bench.functions import PROBLEMS

    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR")
    table: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as storage:
        for name in args.functions.split(","):
            problem = next(p for p in PROBLEMS if p.name == name)
            base = {"trainable": "bench.coarse_to_fine:synthetic", "metric": "regret", "mode": "min",
                    "config": {"function": name}, "space": _space(problem), "storage": storage,
                    "resources": {"cpu": 1}, "tensorboard": False}
            runs: dict[str, list[float]] = {arm: [] for arm in ARMS}
            for seed in range(args.seeds):
                for arm in ARMS:  # interleaved, so drift in machine load hits every arm alike
                    runs[arm].append(best_of(arm, job_spec(arm, f"{name}-{arm}-{seed}", base, args.trials, seed, args.coarse)))
                print(f"  {name} seed {seed}: " + ", ".join(f"{a} {runs[a][-1]:.4g}" for a in ARMS), file=sys.stderr, flush=True)
            table[name] = {arm: statistics.median(values) for arm, values in runs.items()}
        digits = {"trainable": "digits_mlp", "metric": "val_accuracy", "config": {"epochs": 20},
                  "space": {"lr": {"loguniform": [1e-4, 1e-1]}, "hidden": {"lograndint": [16, 512]},
                            "layers": {"randint": [1, 3]}, "dropout": {"uniform": [0.0, 0.5]},
                            "batch_size": {"choice": [32, 64, 128]}, "weight_decay": {"loguniform": [1e-6, 1e-2]},
                            "optimizer": {"choice": ["sgd", "adam"]}},
                  "scheduler": {"type": "asha", "grace_period": 2, "reduction_factor": 3},
                  "storage": storage, "resources": {"cpu": 1}, "tensorboard": False}
        errors: dict[str, list[float]] = {arm: [] for arm in ARMS}
        for seed in range(args.digits_seeds):
            for arm in ARMS:
                errors[arm].append(1 - best_of(arm, job_spec(arm, f"digits-{arm}-{seed}", digits, args.digits_trials, seed, args.coarse)))
            print(f"  digits seed {seed}: " + ", ".join(f"{a} {errors[a][-1]:.4f}" for a in ARMS), file=sys.stderr, flush=True)
        if args.digits_seeds:
            table["digits error"] = {arm: statistics.median(values) for arm, values in errors.items()}
    ray.shutdown()
    print(f"\nmedian best over seeds ({args.seeds} synthetic x {args.trials} trials; {args.digits_seeds} digits x "
          f"{args.digits_trials} trials, ASHA), {args.cpus} CPUs; lower is better")
    print(f"{'problem':<12}" + "".join(f"{a:>12}" for a in ARMS) + f"{'2s/random':>13}{'2s/bayesopt':>14}")
    for label, medians in table.items():
        print(ratio_line(label, medians))
    print("\nsynthetic rows: simple regret f - f*; digits: validation error 1 - accuracy.\n"
          f"two-stage: {args.coarse} on half the budget, then stages' narrowing (top 25%, fANOVA < 5% fixed) and\n"
          "BayesOpt warm-started from it on the other half.")


if __name__ == "__main__":
    main()
