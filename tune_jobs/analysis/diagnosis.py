"""What a trial's learning curves say: diverged, overfitting, underfitting, still improving.

Rules of thumb over the per-epoch history, each reported with the numbers that triggered it so a
reader can judge. Curves that a trainable does not report (no ``train_loss``, say) skip the rules
that need them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tune_jobs.analysis.job_results import JobResults
from tune_jobs.analysis.rungs import job_scheduler
from tune_jobs.results.schema import config_column

DIVERGED, OVERFITTING, UNDERFITTING, IMPROVING, STOPPED_EARLY, HEALTHY = (
    "diverged", "overfitting", "underfitting", "still improving", "stopped early", "healthy")
# From the training-dynamics metrics (``dynamics: true``, trainables.loop.dynamics), when reported.
EXPLODING, VANISHING, DEAD_UNITS, LARGE_UPDATES, SMALL_UPDATES = (
    "exploding gradients", "vanishing gradients", "dead units", "updates too large", "updates too small")
GRADIENT_SPIKE = 10.0  # a step's gradient norm this many times the first epoch's mean (and above 10)
VANISHING_DEPTH = 1e-3  # the first layer's gradient norm / the last layer's, below this at the end
DEAD_SHARE = 0.5
UPDATE_BAND = (1e-5, 1e-1)  # per-step ||update|| / ||weights||; healthy around 1e-3 (SGD) to 1e-2 (Adam)
TAIL = 0.3  # the last 30% of epochs (at least 3) are "the end" of a curve


@dataclass(frozen=True)
class Finding:
    kind: str
    detail: str


def _finite(values: pd.Series) -> np.ndarray:
    return np.asarray([v for v in values if isinstance(v, (int, float)) and math.isfinite(v)], dtype=float)


def _tail(n: int) -> int:
    return max(3, math.ceil(n * TAIL))


def _slope(values: np.ndarray) -> float:
    """Least-squares change per epoch."""
    return float(np.polyfit(np.arange(len(values)), values, 1)[0]) if len(values) >= 2 else 0.0


def diagnose(history: pd.DataFrame, metric: str, mode: str, job_best: float | None = None,
             max_t: int | None = None) -> list[Finding]:
    """Findings for one trial's history (rows by ``training_iteration``); ``healthy`` when none.
    ``job_best``, the best value of ``metric`` in the job, is the yardstick for underfitting."""
    findings: list[Finding] = []
    n = len(history)
    exploding = _exploding(history)
    for column in ("train_loss", "val_loss", metric):
        if column in history and any(isinstance(v, float) and not math.isfinite(v) for v in history[column]):
            epoch = next(i + 1 for i, v in enumerate(history[column]) if isinstance(v, float) and not math.isfinite(v))
            return [Finding(DIVERGED, f"{column} became NaN or infinite at iteration {epoch}"), *exploding]
    if "train_loss" in history and n >= 2:
        train = _finite(history["train_loss"])
        if len(train) >= 2 and train[-1] > 1.5 * train[0]:
            return [Finding(DIVERGED, f"train_loss rose from {train[0]:.3g} to {train[-1]:.3g}: the learning rate is likely too high"),
                    *exploding]
    findings += exploding + _dynamics(history)
    if {"train_loss", "val_loss"} <= set(history) and n >= 4:
        findings += _overfitting(_finite(history["train_loss"]), _finite(history["val_loss"]))
    if "train_accuracy" in history and job_best is not None and mode == "max" and metric.endswith("accuracy") and n >= 2:
        # Dropout lowers train accuracy by itself: underfitting needs the trial's own metric to lag too.
        train_accuracy = _finite(history["train_accuracy"])
        own = _finite(history[metric]) if metric in history else np.array([])
        if len(train_accuracy) and len(own) and train_accuracy[-1] < job_best - 0.05 and own.max() < job_best - 0.02:
            findings.append(Finding(UNDERFITTING, f"train_accuracy ends at {train_accuracy[-1]:.3f}, below the job's best "
                                    f"{metric} {job_best:.3f}: too little capacity, learning rate or training"))
    if metric in history and n >= 3:
        findings += _still_improving(_finite(history[metric]), metric, mode)
    if max_t is not None and n < max_t:
        stopped_by = "its own early stopping" if history.get("early_stopped", pd.Series([0])).iloc[-1] else "the scheduler"
        findings.append(Finding(STOPPED_EARLY, f"ran {n} of {max_t} iterations, stopped by {stopped_by}"))
    return findings or [Finding(HEALTHY, "no problem found in the curves")]


def _exploding(history: pd.DataFrame) -> list[Finding]:
    if not {"grad_norm", "grad_norm_max"} <= set(history):
        return []
    first = _finite(history["grad_norm"][:1])
    peaks = [float(v) for v in history["grad_norm_max"] if isinstance(v, (int, float))]
    if not len(first) or not peaks:
        return []
    worst = max(range(len(peaks)), key=lambda i: peaks[i] if not math.isnan(peaks[i]) else math.inf)
    peak = peaks[worst]
    if math.isfinite(peak) and (peak <= GRADIENT_SPIKE * first[0] or peak <= 10):
        return []
    return [Finding(EXPLODING, f"the gradient norm reached {peak:.3g} in iteration {worst + 1} (the first iteration's "
                    f"mean: {first[0]:.3g}): lower the learning rate, or set grad_clip (around {max(first[0], 0.1):.2g})")]


def _dynamics(history: pd.DataFrame) -> list[Finding]:
    """Vanishing gradients, dead ReLUs and steps far from the usual size, at the end of the curve."""
    found = []
    if "grad_depth_ratio" in history:
        depth = _finite(history["grad_depth_ratio"])
        if len(depth) and depth[-1] < VANISHING_DEPTH:
            found.append(Finding(VANISHING, f"the first layer's gradient is {depth[-1]:.1e} of the last layer's at the end: "
                                 "the gradient fades through the layers; use fewer layers, relu/gelu activations, "
                                 "normalisation or a better initialisation"))
    if "dead_unit_fraction" in history:
        dead = _finite(history["dead_unit_fraction"])
        if len(dead) and dead[-1] >= DEAD_SHARE:
            found.append(Finding(DEAD_UNITS, f"{dead[-1]:.0%} of the ReLU units output zero for every probe example at the "
                                 "end: lower the learning rate, or use a gelu/silu activation"))
    if "update_ratio" in history:
        ratios = _finite(history["update_ratio"])
        if len(ratios):
            end = float(np.median(ratios[-_tail(len(ratios)):]))
            low, high = UPDATE_BAND
            if end > high:
                found.append(Finding(LARGE_UPDATES, f"a step moves the weights by {end:.1e} of their norm (healthy: about "
                                     "1e-3, up to 1e-2 with adam): lower the learning rate"))
            elif end < low:
                found.append(Finding(SMALL_UPDATES, f"a step moves the weights by {end:.1e} of their norm (healthy: about "
                                     "1e-3, up to 1e-2 with adam): raise the learning rate"))
    return found


def _overfitting(train: np.ndarray, val: np.ndarray) -> list[Finding]:
    """The validation loss bottomed out before the last stretch of epochs and has risen since,
    while the train/val gap widened: a trend, not one noisy epoch."""
    if len(train) != len(val) or len(val) < 6:
        return []
    smooth = np.convolve(val, np.ones(3) / 3, mode="valid")  # epoch i+1's value is the mean of epochs i..i+2
    tail = _tail(len(val))
    best_epoch = int(np.argmin(smooth))
    rise = smooth[-1] - smooth[best_epoch]
    widening = _slope((val - train)[-tail:])
    if best_epoch < len(smooth) - tail and rise > 0.05 * abs(smooth[best_epoch]) and widening > 0:
        return [Finding(OVERFITTING, f"val_loss bottomed out around iteration {best_epoch + 2} ({smooth[best_epoch]:.3g}) "
                        f"and ends {rise:.3g} higher while the train/val gap widens ({widening:+.3g} per iteration): "
                        "more regularisation (dropout, weight decay) or fewer epochs")]
    return []


def _still_improving(values: np.ndarray, metric: str, mode: str) -> list[Finding]:
    tail = _tail(len(values))
    if len(values) <= tail:
        return []
    sign = 1.0 if mode == "max" else -1.0
    gain = sign * (values[-1] - values[-tail - 1])
    span = float(values.max() - values.min()) or 1.0
    if gain > 0.02 * span and sign * _slope(values[-tail:]) > 0 and sign * (values[-1] - _best(values, mode)) >= -0.02 * span:
        return [Finding(IMPROVING, f"{metric} gained {gain:.3g} over the last {tail} iterations and was still rising: "
                        "more epochs would likely help")]
    return []


def _best(values: np.ndarray, mode: str) -> float:
    return float(values.max() if mode == "max" else values.min())


def diagnose_trial(results: JobResults, trial_id: str) -> list[Finding]:
    scored = results.scored()
    job_best = float(scored[results.best_column].iloc[0]) if len(scored) else None
    scheduler = job_scheduler(results)
    epochs = results.trials.loc[results.trials["trial_id"] == trial_id].get(config_column("epochs"))
    max_t = scheduler.max_iterations if scheduler is not None else None
    if max_t is None and epochs is not None and len(epochs):
        max_t = int(epochs.iloc[0])
    return diagnose(results.history(trial_id), results.metric, results.mode, job_best, max_t)
