"""Wall time until any trial of the digits job first reaches a validation accuracy, for
bayesopt+ASHA, bayesopt+FIFO, random+ASHA and random+FIFO: same space, same trial budget, same
resources, several seeds, all in one run on one local Ray. Printed as ratios to random+FIFO.

    python bench/digits_time_to_target.py [--seeds 3] [--trials 24] [--target 0.975]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

EPOCHS = 30
SPACE = {
    "lr": {"loguniform": [1e-4, 3e-1]},
    "hidden": {"lograndint": [16, 512]},
    "layers": {"randint": [1, 3]},
    "dropout": {"uniform": [0.0, 0.6]},
    "batch_size": {"choice": [32, 64, 128, 256]},
    "weight_decay": {"loguniform": [1e-6, 1e-2]},
    "optimizer": {"choice": ["sgd", "adam"]},
}
METHODS = {
    "random+FIFO": ({"algorithm": "random"}, {"type": "fifo"}),
    "random+ASHA": ({"algorithm": "random"}, {"type": "asha", "grace_period": 2, "reduction_factor": 3}),
    "bayesopt+FIFO": ({"algorithm": "bayesopt"}, {"type": "fifo"}),
    "bayesopt+ASHA": ({"algorithm": "bayesopt"}, {"type": "asha", "grace_period": 2, "reduction_factor": 3}),
}


def time_to_target(method: str, seed: int, trials: int, target: float, storage: str) -> tuple[float, float, float]:
    """(seconds to first reach ``target`` or inf, best accuracy, total job seconds)."""
    import pandas as pd
    from rich.console import Console

    from tune_jobs.runner import run_job
    from tune_jobs.spec import validate_spec

    search, scheduler = METHODS[method]
    spec = validate_spec({
        "name": f"{method.lower().replace('+', '-')}-{seed}", "trainable": "bench.digits_timed:train",
        "metric": "val_accuracy", "mode": "max", "config": {"epochs": EPOCHS}, "space": SPACE,
        "search": {**search, "num_samples": trials, "seed": seed}, "scheduler": scheduler,
        "resources": {"cpu": 1}, "storage": storage,
    })
    with open(os.devnull, "w") as quiet:
        started = time.time()
        run_job(spec, console=Console(file=quiet))
        total = time.time() - started
    iterations = pd.read_parquet(Path(spec.results_dir) / "iterations.parquet")
    hits = iterations[iterations.val_accuracy >= target]
    reached = float(hits.wall_clock.min() - started) if len(hits) else float("inf")
    return reached, float(iterations.val_accuracy.max()), total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--target", type=float, default=0.975)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    import ray

    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR")
    results: dict[str, list[tuple[float, float, float]]] = {m: [] for m in METHODS}
    with tempfile.TemporaryDirectory() as storage:
        for seed in range(args.seeds):
            for method in METHODS:  # interleaved, so drift in machine load hits every method alike
                results[method].append(time_to_target(method, seed, args.trials, args.target, storage))
                reached, best, total = results[method][-1]
                print(f"  seed {seed} {method:<15} reached {reached:7.1f} s  best {best:.4f}  job {total:6.1f} s",
                      file=sys.stderr, flush=True)
    ray.shutdown()
    print(f"\ndigits_mlp, {args.trials} trials x {EPOCHS} epochs, {args.cpus} CPUs, target val_accuracy >= {args.target}, "
          f"{args.seeds} seeds")
    print(f"{'method':<16}{'median s to target':>20}{'reached':>9}{'median job s':>14}{'median best':>13}{'speed-up':>10}")
    medians = {method: censored_median(rows) for method, rows in results.items()}
    base, base_censored = medians["random+FIFO"]
    for method, rows in results.items():
        value, censored = medians[method]
        reached = sum(r[0] < float("inf") for r in rows)
        if censored:  # the method's own median run never got there: no upper bound on its speed
            speedup = "n/a"
        else:
            speedup = f"{'>=' if base_censored else ''}{base / value:.2f}x"
        shown = f"{'>' if censored else ''}{value:.1f}"
        print(f"{method:<16}{shown:>20}{reached:>6}/{len(rows):<2}{statistics.median(r[2] for r in rows):>14.1f}"
              f"{statistics.median(r[1] for r in rows):>13.4f}{speedup:>10}")
    print("\nA run that never reached the target counts as its whole job time, a lower bound ('>'); a speed-up over\n"
          "such a baseline is a lower bound too ('>='). speed-up: random+FIFO's median time to target / the\n"
          "method's (target: bayesopt+ASHA >= 2x).")


def censored_median(rows: list[tuple[float, float, float]]) -> tuple[float, bool]:
    """Median time to target, a run that never reached it counted at its job time (a lower bound);
    True when the median itself is such a bound."""
    times = sorted((r[0], False) if r[0] < float("inf") else (r[2], True) for r in rows)
    value, censored = times[(len(times) - 1) // 2] if len(times) % 2 else times[len(times) // 2]
    return value, censored

if __name__ == "__main__":
    main()
