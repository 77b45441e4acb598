"""The Ray-free stopping rules (``tune_jobs.schedulers.rules``) decide from what they saw."""

import math

from tune_jobs.schedulers.rules import CurveForecast, ProgressiveRungs, RungCutoffs, rung_milestones


def test_top_k_cutoffs_keep_only_trials_above_the_share_seen_before_them():
    rule = RungCutoffs([1], keep=0.5)
    assert rule.on_result("a", 1, 0.5) is False  # nothing to compare with yet
    assert rule.on_result("b", 1, 0.2) is True
    assert rule.on_result("c", 1, 0.9) is False
    assert rule.on_result("c", 2, 0.1) is False  # judged once, at the rung
    assert rule.on_result("d", 1, math.nan) is True  # a diverged trial is below every cutoff


def test_rungs_rise_by_the_reduction_factor_and_end_at_max_t():
    assert rung_milestones(1, 3, 27) == [1, 3, 9, 27]
    assert rung_milestones(2, 2, 10) == [2, 4, 8, 10]


def test_pasha_ends_trials_at_its_top_rung_until_the_top_two_rungs_disagree():
    rule = ProgressiveRungs(grace_period=1, reduction_factor=2, max_t=8)
    assert rule.milestones == [1, 2, 4, 8] and rule.top == 1
    for trial, value in {"a": 0.1, "b": 0.2}.items():
        assert rule.on_result(trial, 1, value) is False  # the first judged, b above it
        assert rule.on_result(trial, 2, value) is True  # ended at the top rung
    assert rule.top == 1  # both rungs rank b above a: no reason to train further
    rule.on_result("c", 1, 0.9)
    assert rule.on_result("c", 2, 0.05) is False  # c was best at rung 1, worst at rung 2: the top rung rises
    assert rule.top == 2
    assert rule.on_result("c", 4, 0.3) is True  # and c now ends at the new top rung


def test_curve_forecast_stops_a_curve_whose_optimistic_end_cannot_beat_the_best_finished_one():
    rule = CurveForecast(max_t=3, fallback=RungCutoffs([], keep=0.5), min_curves=2, neighbours=2, quantile=1.0)
    for trial, curve in {"a": [0.5, 0.6, 0.7], "b": [0.3, 0.4, 0.5]}.items():
        for epoch, value in enumerate(curve, start=1):
            assert rule.on_result(trial, epoch, value) is False
        rule.on_complete(trial)
    assert rule.forecast(1, 0.45) == 0.45 + 0.2
    assert rule.on_result("c", 1, 0.45) is True  # at best 0.65, below a's 0.7
    assert rule.on_result("d", 1, 0.55) is False  # may reach 0.75
    assert rule.on_result("d", 3, 0.6) is False  # the last epoch is never cut
