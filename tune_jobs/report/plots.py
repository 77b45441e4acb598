"""The report's charts, each a matplotlib figure returned as an embeddable PNG data URI."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tune_jobs.analysis.job_results import CONFIG_PREFIX, JobResults  # noqa: E402
from tune_jobs.schedulers import Rung  # noqa: E402
from tune_jobs.space import Param  # noqa: E402

TOP_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
FADED = "#b8b8b8"
plt.rcParams.update({
    "figure.dpi": 100, "savefig.dpi": 110, "font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.alpha": 0.25, "axes.titlesize": 11, "axes.titleweight": "bold",
})


def to_data_uri(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def learning_curves(results: JobResults, top: Sequence[str]) -> str:
    """The metric per iteration: every trial faded, the top trials in colour."""
    figure, axis = plt.subplots(figsize=(9, 4.2))
    for trial_id, history in results.iterations.groupby("trial_id"):
        if trial_id not in top:
            axis.plot(history["training_iteration"], history[results.metric], color=FADED, alpha=0.45, lw=0.9)
    for rank, trial_id in enumerate(top):
        history = results.history(trial_id)
        axis.plot(history["training_iteration"], history[results.metric], color=TOP_COLORS[rank % len(TOP_COLORS)],
                  lw=2, label=f"#{rank + 1} {trial_id}")
    axis.set_xlabel("iteration (epoch)")
    axis.set_ylabel(results.metric)
    _focus(axis, results.iterations[results.metric], results.mode)
    axis.legend(loc="lower right" if results.mode == "max" else "upper right", fontsize=8, frameon=False)
    return to_data_uri(figure)


def _focus(axis: Any, values: pd.Series, mode: str) -> None:
    """Zoom on where good trials are: a few diverged trials should not flatten every other curve."""
    finite = values[np.isfinite(values.astype(float))]
    if len(finite) < 4:
        return
    low, high = np.percentile(finite, [5, 100]) if mode == "max" else np.percentile(finite, [0, 95])
    pad = 0.05 * ((high - low) or 1.0)
    axis.set_ylim(low - pad, high + pad)


def _values(results: JobResults, frame: pd.DataFrame, key: str) -> pd.Series:
    return frame[CONFIG_PREFIX + key]


def metric_vs_parameters(results: JobResults, params: dict[str, Param], top: Sequence[str]) -> str:
    """One panel per searched key: each trial's best metric against its value (log axes for log ranges)."""
    scored = results.scored()
    columns = min(3, len(params))
    rows = math.ceil(len(params) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.8 * rows), squeeze=False, sharey=True)
    colours = [TOP_COLORS[list(top).index(t)] if t in top else "#4c72b0" for t in scored["trial_id"]]
    sizes = [50 if t in top else 22 for t in scored["trial_id"]]
    for axis, (key, param) in zip(axes.flat, params.items(), strict=False):
        values, metric = _values(results, scored, key), scored[results.best_column]
        if param.is_numeric:
            axis.scatter(values.astype(float), metric, c=colours, s=sizes, alpha=0.8, edgecolors="white", linewidths=0.5)
            if param.log_scale:
                axis.set_xscale("log")
                axis.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
                axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        else:
            labels = [str(v) for v in param.values()]
            positions = values.astype(str).map({label: i for i, label in enumerate(labels)})
            jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(positions))
            axis.scatter(positions + jitter, metric, c=colours, s=sizes, alpha=0.8, edgecolors="white", linewidths=0.5)
            axis.set_xticks(range(len(labels)), labels)
        axis.set_xlabel(key)
    for axis in axes[:, 0]:
        axis.set_ylabel(f"best {results.metric}")
    for axis in list(axes.flat)[len(params):]:
        axis.set_visible(False)
    _focus(axes[0, 0], scored[results.best_column], results.mode)
    figure.tight_layout()
    return to_data_uri(figure)


def parallel_coordinates(results: JobResults, params: dict[str, Param], top: Sequence[str]) -> str:
    """Every trial as a line across the searched keys (scaled to their ranges), coloured by its metric."""
    scored = results.scored()
    keys = list(params)
    scaled = np.column_stack([_unit(_values(results, scored, k), params[k]) for k in keys] +
                             [_unit_metric(scored[results.best_column])])
    figure, axis = plt.subplots(figsize=(max(7.0, 1.4 * (len(keys) + 1)), 4.2))
    colour_map = plt.get_cmap("viridis")
    order = np.argsort(scaled[:, -1] if results.mode == "max" else -scaled[:, -1])  # best drawn last, on top
    xs = list(range(len(keys) + 1))
    for index in order:
        is_top = scored["trial_id"].iloc[index] in top
        axis.plot(xs, scaled[index], color=colour_map(scaled[index, -1]), alpha=0.95 if is_top else 0.45,
                  lw=2.4 if is_top else 1.0)
    for x in xs:
        axis.axvline(x, color="#444", lw=0.8)
    labels = [*keys, f"best {results.metric}"]
    axis.set_xticks(xs, labels, rotation=20, ha="right")
    axis.set_yticks([0, 1], ["low", "high"])
    axis.grid(False)
    for x, key in enumerate(keys):
        low, high = _ends(params[key])
        axis.annotate(low, (x, 0), xytext=(3, -12), textcoords="offset points", fontsize=7, color="#555")
        axis.annotate(high, (x, 1), xytext=(3, 4), textcoords="offset points", fontsize=7, color="#555")
    metric = scored[results.best_column].astype(float)
    axis.annotate(f"{metric.min():.4g}", (len(keys), 0), xytext=(3, -12), textcoords="offset points", fontsize=7)
    axis.annotate(f"{metric.max():.4g}", (len(keys), 1), xytext=(3, 4), textcoords="offset points", fontsize=7)
    scalar = plt.cm.ScalarMappable(cmap=colour_map, norm=plt.Normalize(metric.min(), metric.max()))
    figure.colorbar(scalar, ax=axis, fraction=0.03, pad=0.04, label=f"best {results.metric}")
    return to_data_uri(figure)


def _unit(values: pd.Series, param: Param) -> np.ndarray:
    if not param.is_numeric:
        labels = [str(v) for v in param.values()]
        spread = max(len(labels) - 1, 1)
        return values.astype(str).map({label: i / spread for i, label in enumerate(labels)}).to_numpy(dtype=float)
    low, high = (float(b) for b in param.bounds)  # type: ignore[attr-defined]
    x = values.astype(float).to_numpy()
    if param.log_scale:
        x, low, high = np.log(x), math.log(low), math.log(high)
    return (x - low) / ((high - low) or 1.0)


def _unit_metric(values: pd.Series) -> np.ndarray:
    x = values.astype(float).to_numpy()
    span = (x.max() - x.min()) or 1.0
    return (x - x.min()) / span


def _ends(param: Param) -> tuple[str, str]:
    if param.is_numeric:
        low, high = param.bounds  # type: ignore[attr-defined]
        return f"{low:g}", f"{high:g}"
    values = param.values()
    return str(values[0]), str(values[-1])


def importance_bars(shares: dict[str, float]) -> str:
    keys = list(shares)[::-1]
    figure, axis = plt.subplots(figsize=(6.5, 0.45 * len(keys) + 0.8))
    bars = axis.barh(keys, [shares[k] for k in keys], color="#4c72b0")
    axis.bar_label(bars, labels=[f"{shares[k]:.0%}" for k in keys], padding=3, fontsize=9)
    axis.set_xlim(0, max(shares.values()) * 1.18 or 1)
    axis.set_xlabel("share of explained variance")
    axis.grid(axis="y", visible=False)
    return to_data_uri(figure)


def rung_bars(rungs: Sequence[Rung]) -> str:
    figure, axis = plt.subplots(figsize=(6.5, 3))
    labels = [f"iter {r.iteration}" for r in rungs]
    bars = axis.bar(labels, [r.reached for r in rungs], color="#55a868")
    axis.bar_label(bars, labels=[f"{r.reached} ({r.fraction:.0%})" for r in rungs], padding=2, fontsize=9)
    axis.set_ylabel("trials reaching it")
    axis.set_ylim(0, rungs[0].of * 1.15)
    axis.grid(axis="x", visible=False)
    return to_data_uri(figure)


def train_val_curves(history: pd.DataFrame) -> str | None:
    """A small train/val loss chart for the diagnosis cards; None when the trial reports no losses."""
    pairs = [(c, s) for c, s in (("train_loss", "-"), ("val_loss", "-")) if c in history and history[c].notna().any()]
    if not pairs:
        return None
    figure, axis = plt.subplots(figsize=(4.2, 2.4))
    for (column, style), colour in zip(pairs, ("#4c72b0", "#dd8452"), strict=False):
        axis.plot(history["training_iteration"], history[column], style, color=colour, lw=1.8, label=column)
    axis.set_xlabel("iteration")
    axis.set_ylabel("loss")
    axis.legend(fontsize=8, frameon=False)
    return to_data_uri(figure)


def lineage(results: JobResults) -> str:
    """Each trial's curve, with an arrow from the donor's point to the trial at every copy."""
    figure, axis = plt.subplots(figsize=(8, 4))
    for index, (trial_id, rows) in enumerate(results.iterations.groupby("trial_id")):
        rows = rows.sort_values("training_iteration")
        axis.plot(rows["training_iteration"], rows[results.metric], color=TOP_COLORS[index % len(TOP_COLORS)],
                  linewidth=1.2, alpha=0.8, label=str(trial_id)[-8:])
    values = results.iterations.set_index(["trial_id", "training_iteration"])[results.metric]
    for event in results.events[results.events["event"] == "exploited"].to_dict("records"):
        start = (event["copied_from"], event["copied_iteration"])
        if start in values.index:
            axis.annotate("", xy=(event["copied_iteration"] + 1, values[start]), xytext=(start[1], values[start]),
                          arrowprops={"arrowstyle": "->", "color": "#333333", "linewidth": 0.8})
    axis.set_xlabel("iteration")
    axis.set_ylabel(results.metric)
    if results.iterations["trial_id"].nunique() <= 12:
        axis.legend(fontsize=7, frameon=False, ncol=2)
    return to_data_uri(figure)


def pareto_front(points: pd.DataFrame, objectives: dict[str, str], front: set[str]) -> str:
    """Every trial on the first two objectives: the Pareto set joined, the dominated and the
    infeasible (those breaking a constraint) apart."""
    first, second = list(objectives)[:2]
    figure, axis = plt.subplots(figsize=(6.5, 4))
    on = points[points["trial_id"].isin(front)].sort_values(first)
    dominated = points[points["feasible"].astype(bool) & ~points["trial_id"].isin(front)]
    infeasible = points[~points["feasible"].astype(bool)]
    axis.scatter(dominated[first], dominated[second], s=18, color="#9aa3b2", label="dominated")
    if len(infeasible):
        axis.scatter(infeasible[first], infeasible[second], s=22, marker="x", color="#c98a00", label="infeasible")
    axis.plot(on[first], on[second], "o-", color="#c44e52", markersize=6, drawstyle="steps-post", label="Pareto set")
    axis.set_xlabel(f"{first} ({objectives[first]})")
    axis.set_ylabel(f"{second} ({objectives[second]})")
    axis.legend(fontsize=8, frameon=False)
    return to_data_uri(figure)
