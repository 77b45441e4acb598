"""The cheap parts of bench/scale.py: the bookkeeping that broke past toy sizes, at a size where
it shows (more trials with results than bayesopt fits its kernel to, under rung schedulers)."""

import pytest

import tune_jobs

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def fidelity_curve(config, report):
    for epoch in range(1, 10):
        report({"score": -(config["x"] - 0.3) ** 2 - (config["y"] - 0.6) ** 2 + 0.01 * epoch})


@pytest.mark.parametrize("scheduler", [{"type": "asha", "max_t": 9}, {"type": "hyperband", "max_t": 9}])
def test_bayesopt_with_a_rung_scheduler_runs_past_its_kernel_fitting_subset(ray_session, tmp_path, scheduler):
    result = tune_jobs.run({
        "name": f"past-fit-points-{scheduler['type']}", "trainable": fidelity_curve, "metric": "score", "mode": "max",
        "space": {"x": {"uniform": [0.0, 1.0]}, "y": {"uniform": [0.0, 1.0]}},
        "search": {"algorithm": "bayesopt", "num_samples": 48, "seed": 2, "max_concurrent": 2,
                   "options": {"max_fit_points": 16, "initial_points": 4}},
        "scheduler": scheduler, "storage": str(tmp_path), "tensorboard": False,
    })
    assert result.status == "finished"
    assert len(result.trials) == 48 and set(result.trials.status) <= {"completed", "stopped"}
    assert (result.trials.status == "stopped").sum() > 16  # most of the results the GP saw were rung results
