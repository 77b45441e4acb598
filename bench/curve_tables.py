"""Tables of real learning curves for the simulated backend (``tune_jobs.simulation.CurveTable``):
configurations drawn at random from each table's space, every one trained for all its epochs with
3 seeds by the built-in trainable itself (no Ray: ``trainables.api.Recorder``), one row per epoch
with the metric, the epoch's seconds and what the model costs (``params``, ``latency_ms``: the
trainable measures both once, before its first epoch, so they are a second objective a simulated
job can trade off). Written to ``bench/curves/<table>.parquet`` with the space, metric and mode in
the file's metadata, so a table reloads alone.

Rerun one table (about 2 to 6 minutes each on 2 cores):

    .venv/bin/python -m bench.curve_tables --table digits_mlp

Add the cost columns to tables built before they were recorded (each configuration and seed is
trained for one epoch, which measures the same costs; the curves are kept as they are):

    .venv/bin/python -m bench.curve_tables --add-costs
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import TypeAdapter

from tune_jobs.simulation import CurveTable
from tune_jobs.space import Param, SpaceParam

CURVES = Path(__file__).parent / "curves"
SEEDS = 3
COSTS = ("params", "latency_ms")  # measured by the trainable before its first epoch (trainables/loop/costs.py)


@dataclass(frozen=True)
class TableDef:
    trainable: str
    metric: str
    mode: str
    configs: int
    epochs: int
    space: dict[str, Any]  # as a job spec writes it
    fixed: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Param]:
        return TypeAdapter(dict[str, SpaceParam]).validate_python(self.space)


_OPTIMISER = {"lr": {"loguniform": [1e-4, 0.3]}, "batch_size": {"choice": [16, 32, 64, 128]},
              "optimizer": {"choice": ["sgd", "adam"]}, "weight_decay": {"loguniform": [1e-6, 1e-2]},
              "dropout": {"uniform": [0.0, 0.5]}}

TABLES: dict[str, TableDef] = {
    "digits_mlp": TableDef("digits_mlp", "val_accuracy", "max", 160, 20,
                           {**_OPTIMISER, "hidden": {"choice": [16, 32, 64, 128, 256]}, "layers": {"choice": [1, 2, 3]}}),
    "digits_cnn": TableDef("digits_cnn", "val_accuracy", "max", 120, 15,
                           {**_OPTIMISER, "channels": {"choice": [4, 8, 16, 32]}, "depth": {"choice": [1, 2]}}),
    "breast_cancer_mlp": TableDef("tabular_mlp", "val_loss", "min", 200, 30,
                                  {**_OPTIMISER, "hidden": {"choice": [8, 32, 128]}, "layers": {"choice": [1, 2, 3]}},
                                  {"data": "breast_cancer"}),
    "text_transformer": TableDef("text_transformer", "val_accuracy", "max", 64, 10,
                                 {"lr": {"loguniform": [1e-4, 3e-2]}, "batch_size": {"choice": [32, 64]},
                                  "optimizer": {"choice": ["sgd", "adamw"]}, "dropout": {"uniform": [0.0, 0.4]},
                                  "d_model": {"choice": [16, 32, 64]}, "layers": {"choice": [1, 2]}},
                                 {"synthetic_samples": 800, "max_length": 24, "nhead": 2, "dim_feedforward": 64}),
}


def _rows(name: str, config: dict[str, Any], seed: int, epochs: int) -> list[dict[str, Any]]:
    """What the table's trainable reports for ``config`` trained ``epochs`` epochs with ``seed``."""
    import torch

    import trainables  # noqa: F401  (registers the built-ins)
    from trainables.api import Recorder
    from trainables.registry import TRAINABLES

    torch.set_num_threads(1)
    table = TABLES[name]
    recorder = Recorder()
    TRAINABLES.get(table.trainable).function({**table.fixed, **config, "epochs": epochs, "seed": seed,
                                              "share_data": False}, recorder)
    return recorder.rows


def _train(job: tuple[str, int, dict[str, Any], int]) -> list[dict[str, Any]]:
    """One configuration x one seed: a row per epoch."""
    name, index, config, seed = job
    table = TABLES[name]
    return [{**{f"config/{k}": v for k, v in config.items()}, "config_id": index, "seed": seed, "epoch": epoch,
             table.metric: float(row[table.metric]), "seconds": float(row["epoch_time_s"]),
             **{cost: float(row[cost]) for cost in COSTS}}
            for epoch, row in enumerate(_rows(name, config, seed, table.epochs), start=1)]


def _costs(job: tuple[str, int, dict[str, Any], int]) -> dict[str, Any]:
    """One configuration x one seed's costs, from a one-epoch training (they are measured before it)."""
    name, index, config, seed = job
    row = _rows(name, config, seed, 1)[0]
    return {"config_id": index, "seed": seed, **{cost: float(row[cost]) for cost in COSTS}}


def _configs(name: str) -> list[dict[str, Any]]:
    """The table's configurations: drawn with a fixed seed, so a rebuild draws the same ones."""
    table = TABLES[name]
    params = table.params()
    rng = np.random.RandomState(2026)
    return [{key: param.sample(rng) for key, param in params.items()} for _ in range(table.configs)]


def build(name: str, processes: int) -> CurveTable:
    table = TABLES[name]
    params = table.params()
    jobs = [(name, i, config, seed) for i, config in enumerate(_configs(name)) for seed in range(SEEDS)]
    started, rows = time.time(), []
    with ProcessPoolExecutor(processes) as pool:
        for done, found in enumerate(pool.map(_train, jobs, chunksize=4), start=1):
            rows.extend(found)
            if done % 60 == 0 or done == len(jobs):
                print(f"  {name}: {done}/{len(jobs)} trainings, {time.time() - started:.0f} s", flush=True)
    curves = CurveTable(name, pd.DataFrame(rows), params, table.metric, table.mode)
    CURVES.mkdir(exist_ok=True)
    curves.to_parquet(CURVES / f"{name}.parquet", trainable=table.trainable, fixed=table.fixed)
    return curves


def add_costs(name: str, processes: int) -> CurveTable:
    """The table at ``bench/curves/<name>.parquet`` with ``COSTS`` columns joined on (config_id, seed)."""
    path = CURVES / f"{name}.parquet"
    curves = CurveTable.from_parquet(path)
    rows = curves.rows.drop(columns=[c for c in COSTS if c in curves.rows.columns])
    jobs = [(name, i, config, seed) for i, config in enumerate(_configs(name)) for seed in range(SEEDS)]
    with ProcessPoolExecutor(processes) as pool:
        costs = pd.DataFrame(list(pool.map(_costs, jobs, chunksize=8)))
    joined = rows.merge(costs, on=["config_id", "seed"], how="left", validate="many_to_one")
    if joined[list(COSTS)].isna().any().any():
        raise ValueError(f"{name}: some rows have no costs; is the table built from TABLES['{name}']?")
    table = TABLES[name]
    updated = CurveTable(name, joined, curves.space, curves.metric, curves.mode)
    updated.to_parquet(path, trainable=table.trainable, fixed=table.fixed)
    return updated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=sorted(TABLES), action="append", help="default: every table")
    parser.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--add-costs", action="store_true", help="add params and latency_ms to built tables")
    args = parser.parse_args()
    for name in args.table or list(TABLES):
        if args.add_costs:
            started = time.time()
            updated = add_costs(name, args.processes)
            latency = updated.rows.latency_ms
            print(f"{name}: costs added in {time.time() - started:.0f} s; latency_ms {latency.min():.4f} to "
                  f"{latency.max():.4f}, params {int(updated.rows.params.min())} to {int(updated.rows.params.max())}")
            continue
        curves = build(name, args.processes)
        print(f"{name}: {len(curves.configs)} configurations x {SEEDS} seeds x {curves.epochs} epochs; best mean final "
              f"{curves.metric} {curves.best_final():.4f}")


if __name__ == "__main__":
    main()
