"""Data time of 16 trials, shared through Ray's object store vs loaded by every trial, in one run.

The job is tabular_mlp on a generated CSV (the user's-own-file case: pandas parses it, then
one-hot encoding and scaling); each trial trains one short epoch, so the data dominates as it
does for a fast sweep on a big table.

    python bench/data_sharing.py [--rows 200000] [--columns 30] [--trials 16] [--cpus 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_table(path: Path, rows: int, columns: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, columns)).astype("float32"), columns=[f"f{i}" for i in range(columns)])
    frame["segment"] = rng.choice(["a", "b", "c", "d"], size=rows)
    frame["label"] = (frame.f0 + frame.f1 > 0).map({True: "yes", False: "no"})
    frame.to_csv(path, index=False)


def run(share: bool, table: Path, args: argparse.Namespace, storage: str) -> tuple[float, float, float]:
    """(job wall s, summed data s over trials, max data s of one trial)."""
    import pandas as pd
    from rich.console import Console

    from tune_jobs.runner import run_job
    from tune_jobs.spec import validate_spec

    name = "shared" if share else "per-trial"
    spec = validate_spec({
        "name": name, "trainable": "tabular_mlp", "metric": "val_accuracy",
        "config": {"data": str(table), "target": "label", "epochs": 1, "batch_size": 4096, "share_data": share,
                   "device": "cpu"},
        "space": {"lr": {"loguniform": [1e-3, 1e-1]}}, "search": {"num_samples": args.trials, "seed": 0},
        "resources": {"cpu": 1}, "storage": storage,
    })
    with open(os.devnull, "w") as quiet:
        started = time.perf_counter()
        run_job(spec, console=Console(file=quiet))
        wall = time.perf_counter() - started
    trials = pd.read_parquet(Path(spec.results_dir) / "trials.parquet")
    return wall, float(trials.data_time_s.sum()), float(trials.data_time_s.max())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    import ray

    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR")
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "table.csv"
        write_table(table, args.rows, args.columns)
        size = table.stat().st_size / 2**20
        results = {}
        for share in (False, True):  # per-trial first: the page cache is warm for both by then
            results[share] = run(share, table, args, tmp)
            print(f"  {'shared' if share else 'per-trial':<10} done", file=sys.stderr, flush=True)
    ray.shutdown()
    print(f"\ntabular_mlp, {args.trials} trials, CSV {args.rows} rows x {args.columns + 2} columns ({size:.0f} MiB), "
          f"{args.cpus} CPUs")
    print(f"{'data':<12}{'data s (sum of trials)':>24}{'max one trial':>15}{'job wall s':>12}")
    for share in (False, True):
        wall, total, worst = results[share]
        print(f"{'shared' if share else 'per-trial':<12}{total:>24.1f}{worst:>15.2f}{wall:>12.1f}")
    base, ours = results[False], results[True]
    print(f"\nshared / per-trial: data time {ours[1] / base[1]:.3f}x, job wall time {ours[0] / base[0]:.2f}x")


if __name__ == "__main__":
    main()
