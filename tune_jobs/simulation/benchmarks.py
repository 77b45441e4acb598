"""What a simulation replays: for a configuration, its learning curve, each epoch's metric and
the seconds the epoch took. ``CurveTable``: curves measured by real trainings (Parquet), a
suggested configuration answered by the table's nearest one not yet run in this simulation (as
Syne Tune replays tabulated benchmarks, ``allow_duplicates=False``: a searcher that converges
would otherwise rerun one row, which a real job never does since its suggestions differ);
``MFHartmann6``: the multi-fidelity function of the literature, each epoch a fidelity."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from tune_jobs.space import LogRandInt, LogUniform, Param, Uniform

CONFIG_PREFIX = "config/"
_META_KEY = "tune_jobs.curve_table"


class Benchmark(Protocol):
    name: str
    space: dict[str, Param]
    metric: str
    mode: str  # "max" or "min"
    epochs: int

    def place(self, config: dict[str, Any], taken: set[int]) -> dict[str, Any]:
        """The configuration that runs for the suggested ``config``: for a table, its nearest row
        whose index is not in ``taken`` (any row once all are taken), whose index is added to
        ``taken``; a formula runs ``config`` itself."""

    def curve(self, config: dict[str, Any], seed: int) -> list[tuple[float, float]]:
        """(metric, seconds) for epochs 1..``epochs`` of a training with ``config``; ``seed``
        picks one of the table's repeated runs where it has them."""

    def expected(self, config: dict[str, Any]) -> list[float]:
        """The metric per epoch averaged over the repeated runs: what a method is scored on, so
        that a lucky seed of a poor configuration does not count as finding a good one."""


@dataclass
class CurveTable:
    """Learning curves as rows of ``config/<key>``, ``epoch`` (1..), the metric, ``seconds`` (of
    that epoch) and, for repeated runs of a configuration, ``seed``. Any other numeric column
    (``params``, ``latency_ms``: a second objective) is replayed beside the metric (``reported``)."""

    name: str
    rows: pd.DataFrame
    space: dict[str, Param]
    metric: str
    mode: str
    epochs: int = field(init=False)

    def __post_init__(self) -> None:
        missing = [c for c in (*(CONFIG_PREFIX + k for k in self.space), "epoch", self.metric, "seconds")
                   if c not in self.rows.columns]
        if missing:
            raise ValueError(f"{self.name}: the table has no column {', '.join(missing)}")
        self.epochs = int(self.rows["epoch"].max())
        keys = [CONFIG_PREFIX + k for k in self.space]
        seeds = "seed" in self.rows.columns
        self.other_metrics = tuple(c for c in self.rows.columns
                                   if c not in {*keys, "epoch", "seed", "config_id", self.metric, "seconds"}
                                   and pd.api.types.is_numeric_dtype(self.rows[c]))
        self._curves: list[dict[int, list[tuple[float, float]]]] = []
        self._others: list[dict[int, np.ndarray]] = []  # per configuration and seed: epochs x other_metrics
        configs = []
        for values, group in self.rows.groupby(keys, sort=True):
            by_seed: dict[int, list[tuple[float, float]]] = {}
            others: dict[int, np.ndarray] = {}
            for seed, runs in (group.groupby("seed") if seeds else [(0, group)]):
                ordered = runs.sort_values("epoch")
                if len(ordered) != self.epochs:
                    continue  # a curve with missing epochs cannot be replayed to the end
                by_seed[int(seed)] = list(zip(ordered[self.metric].astype(float), ordered["seconds"].astype(float), strict=True))
                others[int(seed)] = ordered[list(self.other_metrics)].to_numpy(dtype=float)
            if by_seed:
                configs.append(dict(zip(self.space, values if isinstance(values, tuple) else (values,), strict=True)))
                self._curves.append(by_seed)
                self._others.append(others)
        if not configs:
            raise ValueError(f"{self.name}: no configuration has all {self.epochs} epochs")
        self.configs = configs
        # each configuration's mean curve; nan at an epoch where a run diverged (a non-finite value)
        self._means = [np.mean([[v for v, _ in run] for run in runs.values()], axis=0).tolist() for runs in self._curves]
        self._encoded = np.array([self._encode(c) for c in configs])

    def _encode(self, config: dict[str, Any]) -> list[float]:
        """Each ranged key on [0, 1] (log ranges through their logs); a listed one by its position
        times 1,000, so the nearest configuration matches the listed keys first."""
        encoded = []
        for key, param in self.space.items():
            value, bounds = config[key], getattr(param, "bounds", None)
            if bounds is not None:
                low, high, at = float(bounds[0]), float(bounds[1]), float(value)
                if isinstance(param, (LogUniform, LogRandInt)):
                    low, high, at = math.log(low), math.log(high), math.log(at)
                encoded.append((at - low) / ((high - low) or 1.0))
            else:
                options = param.values()
                encoded.append(1000.0 * options.index(value) if value in options else 1e9)
        return encoded

    def nearest(self, config: dict[str, Any], exclude: set[int] | None = None) -> int:
        distances = np.abs(self._encoded - np.array(self._encode(config))).sum(axis=1)
        if exclude and len(exclude) < len(distances):
            distances[list(exclude)] = np.inf
        return int(np.argmin(distances))

    def place(self, config: dict[str, Any], taken: set[int]) -> dict[str, Any]:
        index = self.nearest(config, taken)
        taken.add(index)
        return dict(self.configs[index])

    def curve(self, config: dict[str, Any], seed: int) -> list[tuple[float, float]]:
        runs = self._curves[self.nearest(config)]
        return runs[sorted(runs)[seed % len(runs)]]

    def expected(self, config: dict[str, Any]) -> list[float]:
        return self._means[self.nearest(config)]

    def reported(self, config: dict[str, Any], seed: int) -> list[dict[str, float]]:
        """Per epoch, the table's other metrics of the run ``curve`` replays for the same ``seed``."""
        runs = self._others[self.nearest(config)]
        return [dict(zip(self.other_metrics, row, strict=True)) for row in runs[sorted(runs)[seed % len(runs)]].tolist()]

    def expected_reported(self, config: dict[str, Any]) -> list[dict[str, float]]:
        """``reported`` averaged over the configuration's repeated runs."""
        means = np.mean(list(self._others[self.nearest(config)].values()), axis=0)
        return [dict(zip(self.other_metrics, row, strict=True)) for row in means.tolist()]

    def peaks(self) -> list[float]:
        """Per configuration, the best value of its mean curve at any epoch (nan for none finite)."""
        best = np.nanmax if self.mode == "max" else np.nanmin
        return [float(best(curve)) if np.isfinite(curve).any() else math.nan for curve in map(np.array, self._means)]

    def best_final(self) -> float:
        """The best final value any configuration of the table reaches (mean over its seeds)."""
        finals = np.array([curve[-1] for curve in self._means])
        return float(np.nanmax(finals) if self.mode == "max" else np.nanmin(finals))

    def mean_training_s(self) -> float:
        """Seconds a full training takes, on average over the table's runs."""
        return float(np.mean([sum(s for _, s in run) for runs in self._curves for run in runs.values()]))

    def to_parquet(self, path: str | Path, **about: Any) -> None:
        """The rows, with the space, metric and mode (and ``about``) in the file's metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.rows, preserve_index=False)
        meta = {"space": {k: p.written() for k, p in self.space.items()}, "metric": self.metric, "mode": self.mode, **about}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()})
        pq.write_table(table, str(path))

    @classmethod
    def from_parquet(cls, path: str | Path, space: dict[str, Param] | None = None, metric: str | None = None,
                     mode: str | None = None) -> CurveTable:
        """A table from Parquet; what is not given is read from the file's metadata (``to_parquet``)."""
        import pyarrow.parquet as pq
        from pydantic import TypeAdapter

        from tune_jobs.space import SpaceParam

        stored = pq.read_schema(str(path)).metadata or {}
        meta = json.loads(stored[_META_KEY.encode()]) if _META_KEY.encode() in stored else {}
        if space is None:
            space = TypeAdapter(dict[str, SpaceParam]).validate_python(meta.get("space", {}))
        metric, mode = metric or meta.get("metric"), mode or meta.get("mode")
        if not metric or mode not in ("max", "min"):
            raise ValueError(f"{path}: give the metric and mode; the file does not say them")
        return cls(Path(path).stem, pd.read_parquet(path), space, metric, mode)


_H_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
HARTMANN6_OPTIMUM = 3.32237


@dataclass
class MFHartmann6:
    """The 6-D Hartmann function with its coefficients lowered by ``0.1 * (1 - z)`` at fidelity
    ``z`` = epoch / epochs (Kandasamy et al., BOCA, 2017), negated so that higher is better
    (optimum 3.32237 at the last epoch); each epoch takes ``seconds_per_epoch``."""

    epochs: int = 27
    seconds_per_epoch: float = 1.0
    name: str = "mf_hartmann6"
    metric: str = "score"
    mode: str = "max"
    space: dict[str, Param] = field(default_factory=lambda: {f"x{i}": Uniform(uniform=(0.0, 1.0)) for i in range(1, 7)})

    def place(self, config: dict[str, Any], taken: set[int]) -> dict[str, Any]:
        return config

    def value(self, x: np.ndarray, fidelity: float) -> float:
        alpha = _H_ALPHA - 0.1 * (1.0 - fidelity)
        return float(np.sum(alpha * np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1))))

    def curve(self, config: dict[str, Any], seed: int) -> list[tuple[float, float]]:
        x = np.array([config[f"x{i}"] for i in range(1, 7)])
        return [(self.value(x, epoch / self.epochs), self.seconds_per_epoch) for epoch in range(1, self.epochs + 1)]

    def expected(self, config: dict[str, Any]) -> list[float]:
        return [value for value, _ in self.curve(config, 0)]

    def mean_training_s(self) -> float:
        return self.epochs * self.seconds_per_epoch

    def best_final(self) -> float:
        return HARTMANN6_OPTIMUM
