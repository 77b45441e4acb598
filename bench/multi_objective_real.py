"""Several objectives on a real training: digits_cnn's validation accuracy against its inference
latency per sample (as the trainable measures it), each method a real ``tune_jobs`` job on a local
Ray (``--cpus`` trials at once) of ``--trials`` trials of ``--epochs`` epochs (with ``mo_asha``,
``--stopping-trials``: it stops most of them early, so it has time for more), ``--seeds`` seeds;
beside them Optuna's TPE sampler driving the same training directly (one trial at a time, no Ray).

Scoring: a trial's point is its best validation accuracy and its latency; both scaled to [0, 1]
between the median and the best of every trial of every run (the reference point at the median),
hypervolume as a share of the front of all of them. Figures, median over seeds:
1. the hypervolume at the end of the job, as a ratio to random search with FIFO;
2. the wall seconds until a job's hypervolume reaches random+FIFO's final one (median over seeds;
   a run that never does counts as never), as a speed-up over random+FIFO's own time.
The latency of a trial is measured while the other trial trains, as it is in any job here.

    .venv/bin/python -m bench.multi_objective_real --seeds 5 --trials 30 --stopping-trials 90
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from typing import Any

import numpy as np
import pandas as pd

from bench.multi_objective import hypervolume_2d, scaled

OBJECTIVES = {"val_accuracy": "max", "latency_ms": "min"}
SPACE = {"lr": {"loguniform": [1e-4, 0.3]}, "batch_size": {"choice": [16, 32, 64, 128]},
         "optimizer": {"choice": ["sgd", "adam"]}, "weight_decay": {"loguniform": [1e-6, 1e-2]},
         "dropout": {"uniform": [0.0, 0.5]}, "channels": {"choice": [4, 8, 16, 32]}, "depth": {"choice": [1, 2]}}
METHODS = {"random+fifo": ("random", "fifo"), "tpe+fifo": ("tpe", "fifo"), "nsga2+fifo": ("nsga2", "fifo"),
           "random+mo_asha": ("random", "mo_asha"), "tpe+mo_asha": ("tpe", "mo_asha")}
PEER = "optuna TPE (direct)"
BASELINE = "random+fifo"

# one run: per reported epoch, (seconds since the start, trial id, val_accuracy, latency_ms), in time order
Run = pd.DataFrame


def run_job(method: str, seed: int, trials: int, epochs: int, storage: str) -> Run:
    from rich.console import Console

    from tune_jobs.runner import run_job as run_spec
    from tune_jobs.spec import validate_spec

    search, scheduler = METHODS[method]
    spec = validate_spec({
        "name": f"mo-{method.replace('+', '-')}-{seed}", "trainable": "digits_cnn", "objectives": OBJECTIVES,
        "config": {"epochs": epochs}, "space": SPACE, "resources": {"cpu": 1}, "storage": storage, "tensorboard": False,
        "search": {"algorithm": search, "num_samples": trials, "seed": seed},
        "scheduler": {"type": scheduler, **({"grace_period": 1, "reduction_factor": 3} if scheduler == "mo_asha" else {})}})
    started = time.time()
    with open(os.devnull, "w") as quiet:
        run_spec(spec, restart=True, console=Console(file=quiet))
    rows = pd.read_parquet(os.path.join(spec.results_dir, "iterations.parquet"))
    # Ray stamps each result with whole seconds: fine for jobs of minutes
    return pd.DataFrame({"seconds": rows.timestamp - started, "trial_id": rows.trial_id,
                         "val_accuracy": rows.val_accuracy, "latency_ms": rows.latency_ms}).sort_values("seconds")


def run_optuna(seed: int, trials: int, epochs: int) -> Run:
    import optuna

    from bench.curve_tables import TABLES, _rows

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), directions=["maximize", "minimize"])
    distributions = {key: _optuna_distribution(param) for key, param in SPACE.items()}
    assert TABLES["digits_cnn"].fixed == {}, "the direct runs train the table's trainable as it is"
    started, found = time.time(), []
    for index in range(trials):
        trial = study.ask(distributions)
        reported = _rows("digits_cnn", dict(trial.params), seed, epochs)
        for row in reported:
            found.append((time.time() - started, f"t{index}", float(row["val_accuracy"]), float(row["latency_ms"])))
        study.tell(trial, [max(float(r["val_accuracy"]) for r in reported), float(reported[0]["latency_ms"])])
    return pd.DataFrame(found, columns=["seconds", "trial_id", "val_accuracy", "latency_ms"])


def _optuna_distribution(param: dict[str, Any]) -> Any:
    import optuna

    (kind, values), = param.items()
    if kind == "choice":
        return optuna.distributions.CategoricalDistribution(values)
    return optuna.distributions.FloatDistribution(values[0], values[1], log=kind == "loguniform")


def points(run: Run) -> np.ndarray:
    """Each trial's best accuracy and its latency, both higher-is-better (latency negated)."""
    by_trial = run.groupby("trial_id").agg(acc=("val_accuracy", "max"), latency=("latency_ms", "first"))
    return np.column_stack([by_trial.acc.to_numpy(), -by_trial.latency.to_numpy()])


class Scale:
    def __init__(self, runs: list[Run]) -> None:
        pooled = np.vstack([points(run) for run in runs])
        pooled = pooled[np.isfinite(pooled).all(axis=1)]
        self.low, self.high = np.median(pooled, axis=0), pooled.max(axis=0)
        self.best = hypervolume_2d(self.scaled(pooled))

    def scaled(self, found: np.ndarray) -> np.ndarray:
        found = np.where(np.isfinite(found), found, self.low)
        return scaled(found, self.low, self.high)

    def volume(self, run: Run, until: float = np.inf) -> float:
        seen = run[run.seconds <= until]
        return hypervolume_2d(self.scaled(points(seen))) / self.best if len(seen) else 0.0

    def time_to(self, run: Run, target: float) -> float:
        """The first report after which the run's hypervolume reaches ``target`` (inf if never)."""
        for seconds in run.seconds.unique():
            if self.volume(run, seconds) >= target:
                return float(seconds)
        return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--stopping-trials", type=int, default=90, help="trials of the mo_asha jobs")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    import ray

    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR")
    runs: dict[str, list[Run]] = {method: [] for method in [*METHODS, PEER]}
    with tempfile.TemporaryDirectory() as storage:
        for seed in range(args.seeds):
            for method in METHODS:
                trials = args.stopping_trials if METHODS[method][1] == "mo_asha" else args.trials
                runs[method].append(run_job(method, seed, trials, args.epochs, storage))
                print(f"  seed {seed} {method:<22} {runs[method][-1].seconds.max():6.1f} s, "
                      f"{runs[method][-1].trial_id.nunique()} trials", flush=True)
            runs[PEER].append(run_optuna(seed, args.trials, args.epochs))
            print(f"  seed {seed} {PEER:<22} {runs[PEER][-1].seconds.max():6.1f} s", flush=True)
    ray.shutdown()
    scale = Scale([run for found in runs.values() for run in found])
    target = statistics.median(scale.volume(run) for run in runs[BASELINE])
    base_volume = target
    base_time = statistics.median(scale.time_to(run, target) for run in runs[BASELINE])
    print(f"\ndigits_cnn: val_accuracy (max) vs latency_ms (min), {args.trials} trials x {args.epochs} epochs, "
          f"({args.stopping_trials} with mo_asha), {args.cpus} at once, {args.seeds} seeds; random+fifo's median final "
          f"hypervolume {target:.4f}")
    print(f"{'method':<24}{'hv (median)':>12}{'worst':>8}{'vs random+fifo':>16}{'s to its hv':>13}{'reached':>9}"
          f"{'speed-up':>10}{'job s':>8}")
    for method, found in runs.items():
        volumes = [scale.volume(run) for run in found]
        times = [scale.time_to(run, target) for run in found]
        reach = statistics.median(times)
        print(f"{method:<24}{statistics.median(volumes):>12.4f}{min(volumes):>8.4f}"
              f"{statistics.median(volumes) / base_volume:>15.2f}x{reach:>13.1f}"
              f"{f'{sum(t < math.inf for t in times)}/{len(times)}':>9}"
              f"{base_time / reach:>9.2f}x{statistics.median(run.seconds.max() for run in found):>8.1f}")


if __name__ == "__main__":
    main()
