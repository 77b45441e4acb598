"""Importance, diagnosis, rungs and narrowing on in-memory results: no Ray, real computations."""

import math

import numpy as np
import pandas as pd
import pytest

from tune_jobs.analysis.diagnosis import DIVERGED, HEALTHY, IMPROVING, OVERFITTING, STOPPED_EARLY, UNDERFITTING, diagnose
from tune_jobs.analysis.importance import hyperparameter_importance
from tune_jobs.analysis.job_results import JobResults
from tune_jobs.analysis.narrow import NarrowOptions, narrow_space
from tune_jobs.analysis.rungs import rung_survival
from tune_jobs.errors import UserError
from tune_jobs.schedulers.asha import rung_milestones


def make_results(n=40, seed=0, scheduler=None):
    """A job where accuracy depends strongly on lr (best near 1e-2), a little on the optimizer, not on dropout."""
    rng = np.random.default_rng(seed)
    trials, iterations = [], []
    for i in range(n):
        lr, dropout, optimizer = 10 ** rng.uniform(-4, 0), rng.uniform(0, 0.5), ["sgd", "adam"][i % 2]
        best = 0.95 - 0.1 * (math.log10(lr) + 2) ** 2 + (0.02 if optimizer == "adam" else 0) + rng.normal(0, 0.002)
        trial_id = f"t{i:02d}"
        trials.append({"trial_id": trial_id, "status": "completed", "iterations": 4, "config/lr": lr,
                       "config/dropout": dropout, "config/optimizer": optimizer, "config/epochs": 4, "best_acc": best})
        iterations += [{"trial_id": trial_id, "training_iteration": k, "acc": best - 0.1 * (4 - k)} for k in range(1, 5)]
    spec = {"name": "synthetic", "metric": "acc", "mode": "max", "config": {"epochs": 4},
            "space": {"lr": {"loguniform": [1e-4, 1.0]}, "dropout": {"uniform": [0.0, 0.5]},
                      "optimizer": {"choice": ["sgd", "adam"]}},
            "search": {"algorithm": "random", "seed": 0}, "scheduler": scheduler or {"type": "fifo"}}
    return JobResults("/results/synthetic", {"spec": spec}, pd.DataFrame(trials), pd.DataFrame(iterations))


def test_importance_ranks_the_key_that_drives_the_metric_first():
    importance = hyperparameter_importance(make_results())
    assert list(importance.shares)[0] == "lr" and importance.shares["lr"] > 0.6
    assert importance.shares["dropout"] < 0.1
    assert math.isclose(sum(importance.shares.values()), 1.0, rel_tol=1e-6)
    assert "functional ANOVA" in importance.method


def test_importance_is_not_estimated_from_too_few_trials():
    importance = hyperparameter_importance(make_results(n=5))
    assert importance.shares == {} and "at least 8" in importance.note
    one_key = make_results()
    one_key.record["spec"]["space"] = {"lr": one_key.spec["space"]["lr"]}
    assert "two or more searched keys" in hyperparameter_importance(one_key).note


def test_rung_milestones_match_ray_asha():
    from ray.tune.schedulers.async_hyperband import _Bracket

    for grace, factor, max_t in ((1, 3, 9), (2, 3, 20), (1, 2, 100), (5, 4, 100)):
        for brackets in (1, 3):
            ray_rungs = {int(t) for s in range(brackets)
                         for t, _ in _Bracket(min_t=grace, max_t=max_t, reduction_factor=factor, s=s)._rungs}
            assert rung_milestones(grace, factor, max_t, brackets) == sorted({*ray_rungs, max_t})


def test_rung_survival_counts_trials_reaching_each_rung():
    results = make_results(n=9, scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 3, "max_t": 4})
    stopped = results.iterations["trial_id"].isin([f"t{i:02d}" for i in range(6)]) & (results.iterations["training_iteration"] > 1)
    results.iterations = results.iterations[~stopped]
    assert [(r.iteration, r.reached) for r in rung_survival(results).rungs] == [(1, 9), (3, 3), (4, 3)]
    assert rung_survival(make_results(n=9)) is None


def history(**columns):
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"training_iteration": range(1, n + 1), **columns})


def kinds(findings):
    return {f.kind for f in findings}


def test_diagnosis_finds_divergence_from_nan_or_rising_loss():
    nan = history(train_loss=[2.0, 1.0, float("nan")], val_accuracy=[0.3, 0.5, 0.1])
    assert kinds(diagnose(nan, "val_accuracy", "max")) == {DIVERGED}
    rising = history(train_loss=[1.0, 2.0, 5.0, 9.0], val_accuracy=[0.3, 0.2, 0.1, 0.1])
    assert kinds(diagnose(rising, "val_accuracy", "max")) == {DIVERGED}


def test_diagnosis_finds_overfitting_from_a_rising_val_loss_and_widening_gap():
    epochs = np.arange(1, 13)
    train = 1.0 / epochs
    val = np.r_[1.0 / epochs[:5] + 0.1, 0.3 + 0.05 * np.arange(7)]
    findings = diagnose(history(train_loss=train, val_loss=val, val_accuracy=1 - val / 2), "val_accuracy", "max")
    assert OVERFITTING in kinds(findings)
    one_noisy_epoch = np.r_[1.0 / epochs[:11] + 0.1, 0.3]
    assert OVERFITTING not in kinds(diagnose(history(train_loss=train, val_loss=one_noisy_epoch), "val_accuracy", "max"))


def test_diagnosis_finds_underfitting_and_still_improving():
    slow = history(train_accuracy=[0.3, 0.4, 0.5, 0.6, 0.7, 0.75], val_accuracy=[0.3, 0.4, 0.5, 0.6, 0.7, 0.76])
    found = kinds(diagnose(slow, "val_accuracy", "max", job_best=0.97))
    assert found == {UNDERFITTING, IMPROVING}
    plateau = history(train_accuracy=[0.9, 0.97, 0.98, 0.98, 0.98, 0.98], val_accuracy=[0.9, 0.96, 0.97, 0.97, 0.97, 0.97])
    assert kinds(diagnose(plateau, "val_accuracy", "max", job_best=0.97)) == {HEALTHY}
    loss_falling = history(val_loss=[1.0, 0.8, 0.6, 0.45, 0.3, 0.2])
    assert kinds(diagnose(loss_falling, "val_loss", "min")) == {IMPROVING}


def test_diagnosis_says_when_a_trial_was_stopped_early():
    short = history(val_accuracy=[0.5, 0.6])
    assert STOPPED_EARLY in kinds(diagnose(short, "val_accuracy", "max", max_t=20))


def test_narrowing_shrinks_around_the_best_and_fixes_what_does_not_matter():
    results = make_results(n=40)
    narrowed = narrow_space(results, NarrowOptions(top_fraction=0.2, min_importance=0.05))
    low, high = narrowed.space["lr"]["loguniform"]
    top_lrs = results.scored().head(8)["config/lr"]
    assert 1e-4 <= low <= top_lrs.min() and top_lrs.max() <= high <= 1.0
    assert math.log10(high) - math.log10(low) < 0.6 * 4  # well inside the original four decades
    assert narrowed.fixed["dropout"] == results.config_of(results.scored().iloc[0])["dropout"]
    assert "importance" in narrowed.why["dropout"]
    assert "lr" not in narrowed.fixed


def test_narrowing_keeps_the_most_important_key_and_needs_two_good_trials():
    results = make_results(n=40)
    narrowed = narrow_space(results, NarrowOptions(min_importance=0.99))
    assert list(narrowed.space) == ["lr"]
    results.trials.loc[1:, "status"] = "failed"
    with pytest.raises(UserError, match="narrowing needs at least 2"):
        narrow_space(results)


def test_report_page_from_in_memory_results_names_failures_and_min_mode():
    from tune_jobs.report.build import build_report

    results = make_results(n=12)
    results.trials.loc[3, ["status", "error"]] = ["failed", "RuntimeError: CUDA out of memory"]
    page = build_report(results)
    assert "1 trial(s) failed, most often with <code>RuntimeError: CUDA out of memory</code>" in page
    assert "functional ANOVA" in page and "Parallel coordinates" in page and "ASHA rung survival" not in page
    results.record["spec"] = {**results.spec, "mode": "min"}  # a loss: smaller is better, still renders
    assert "Best trials" in build_report(results)


def test_importance_of_a_log_range_matches_its_share_of_the_variance():
    """(log10 lr + 2)^2 over lr in [1e-5, 1] has 65% of the variance, ((width - 96) / 64)^2 the rest:
    Optuna's fANOVA given log=True put lr at 31%."""
    rng = np.random.default_rng(0)
    lrs, widths = 10 ** rng.uniform(-5, 0, 200), rng.integers(16, 257, 200)
    values = (np.log10(lrs) + 2) ** 2 + ((widths - 96) / 64) ** 2
    trials = pd.DataFrame({"trial_id": [f"t{i}" for i in range(200)], "status": "completed", "config/lr": lrs,
                           "config/width": widths, "best_regret": values})
    spec = {"name": "m", "metric": "regret", "mode": "min",
            "space": {"lr": {"loguniform": [1e-5, 1.0]}, "width": {"randint": [16, 256]}}}
    shares = hyperparameter_importance(JobResults("/r", {"spec": spec}, trials, pd.DataFrame())).shares
    assert 0.55 < shares["lr"] < 0.75, shares


def test_narrowing_fixes_nothing_by_importance_without_enough_trials_per_key():
    narrowed = narrow_space(make_results(n=14), NarrowOptions(min_importance=0.5))  # 14 < 5 x 3 keys
    assert not narrowed.fixing and "dropout" in narrowed.space
    assert narrow_space(make_results(n=15), NarrowOptions(min_importance=0.5)).fixing


def test_narrowing_an_ordinal_keeps_the_listed_values_near_the_top_trials():
    results = make_results(n=40)
    widths = [16, 32, 64, 128, 256, 512, 1024]
    # The best trials (high accuracy) used the middle widths, the rest anything.
    order = results.trials["best_acc"].rank(ascending=False).astype(int).tolist()
    results.trials["config/width"] = [64 if rank <= 4 else 128 if rank <= 8 else widths[rank % 7] for rank in order]
    results.record["spec"]["space"]["width"] = {"ordinal": widths}
    narrowed = narrow_space(results, NarrowOptions(top_fraction=0.2, min_importance=0.0))
    kept = narrowed.space["width"]["ordinal"]
    assert kept == [32, 64, 128, 256]  # 64..128 plus a tenth of the list's (log) span each side
    assert "dropped 16, 512, 1024" in narrowed.why["width"]


def test_narrowing_keeps_every_range_and_warns_when_too_few_top_trials():
    """`narrow` fixed the optimizer and shrank lr 35x from the top 2 of 8 trials, silently."""
    results = make_results(n=8)
    narrowed = narrow_space(results)  # the top quarter: 2 trials
    assert narrowed.fixed == {} and narrowed.space == results.spec["space"]
    assert narrowed.warnings == ["only 2 top trial(s) of 8 successful: too few to narrow on (at least 3); every key keeps "
                                 "its range. Run more trials, or raise --top-fraction"]
    assert not narrow_space(make_results(n=12)).warnings  # the top 3 of 12 are enough
