"""The simulated backend: a real job and its simulation make the same decisions; schedulers and
searchers run off a clock in milliseconds; tables of curves answer the nearest configuration."""

from __future__ import annotations

import pandas as pd
import pytest

import tune_jobs
from tune_jobs.schedulers import SCHEDULERS
from tune_jobs.search import SEARCHES
from tune_jobs.simulation import CurveTable, MFHartmann6, simulate
from tune_jobs.space import Choice, LogUniform


def search(name: str, seed: int, trials: int, **options):
    return SEARCHES.get(name).model_validate({"algorithm": name, "seed": seed, "num_samples": trials,
                                              **({"options": options} if options else {})})


def scheduler(name: str, **options):
    return SCHEDULERS.get(name).model_validate({"type": name, **options})


@pytest.mark.parametrize(("algorithm", "options", "rule"), [
    ("random", {}, "asha"), ("forest", {"initial_points": 4}, "asha"), ("tpe", {"initial_points": 4}, "asha"),
    ("random", {}, "asha_promotion"), ("random", {}, "pasha_promotion")])
def test_a_simulated_job_stops_the_trials_a_real_job_stops(algorithm, options, rule, ray_session, in_repo, tmp_path):
    """One trial at a time, so the order of results (all the scheduler and the search see) is the same;
    the models learn from each trial's rung values, the one it was stopped on included (Ray gives
    that one to the searcher's ``on_trial_complete`` only), in the job as in the simulation; a
    pausing scheduler resumes the same trials from the same rungs."""
    benchmark = MFHartmann6(epochs=9)
    space = {f"x{i}": {"uniform": [0.0, 1.0]} for i in range(1, 7)}
    real = tune_jobs.run({"name": f"replayed-{algorithm}-{rule}", "trainable": "tests.user_trainables:mf_hartmann6",
                          "metric": "score", "mode": "max", "config": {"epochs": 9}, "space": space,
                          "search": {"algorithm": algorithm, "seed": 3, "num_samples": 12, "max_concurrent": 1,
                                     **({"options": options} if options else {})},
                          "scheduler": {"type": rule, "max_t": 9, "grace_period": 1, "reduction_factor": 3},
                          "storage": str(tmp_path), "tensorboard": False})
    simulated = simulate(benchmark, search(algorithm, 3, 12, **options),
                         scheduler(rule, max_t=9, grace_period=1, reduction_factor=3), workers=1, seed=3)
    ran = real.trials  # in the order the trials started
    ended = simulated.trials.sort_values("trial_id")  # in the order they ended: the same order they started
    assert [round(x, 9) for x in ran["config/x1"]] == [round(c["x1"], 9) for c in ended.config]
    assert ran.iterations.tolist() == ended.epochs.tolist()
    assert (ended.status == "stopped").any()  # the scheduler did decide something
    assert (ended.status == "completed").any() == (rule != "pasha_promotion")  # PASHA's top rung stayed at 3
    if rule == "asha_promotion":  # and some trials went on after a pause (eager PASHA let these go on at once)
        assert (simulated.results.groupby("trial_id").time.diff() > 1.0).any()


def test_schedulers_and_searchers_run_off_a_simulated_clock_reproducibly():
    benchmark = MFHartmann6()
    runs = {name: [simulate(benchmark, search("random", seed, 100), scheduler(name), workers=4, seed=seed)
                   for seed in range(3)] for name in ("fifo", "asha", "hyperband")}
    for fifo, asha, hyperband in zip(runs["fifo"], runs["asha"], runs["hyperband"], strict=True):
        assert len(fifo.trials) == len(asha.trials) == len(hyperband.trials) == 100
        assert fifo.epochs_run == 100 * 27 and asha.epochs_run < hyperband.epochs_run < fifo.epochs_run
        assert asha.elapsed_s < fifo.elapsed_s / 3  # 4 workers, a simulated second per epoch
    again = simulate(benchmark, search("random", 2, 100), scheduler("hyperband"), workers=4, seed=2)
    assert again.results.equals(runs["hyperband"][2].results)
    model = [simulate(benchmark, search("bayesopt", 0, 30), scheduler("asha"), workers=2, seed=0) for _ in range(2)]
    assert len(model[0].trials) == 30 and model[0].results.equals(model[1].results)  # a model-based search too


def test_a_pausing_scheduler_resumes_trials_it_paused_and_ends_every_trial_it_started():
    """Promotion ASHA and PASHA on its base: a trial paused at a rung goes on later (its next epoch
    comes after a gap), a resumed trial pays the start-up again, and once no new trial will come the
    paused ones are promoted or stopped, so the job ends with every trial ended."""
    benchmark = MFHartmann6(epochs=9)
    runs = {rule: simulate(benchmark, search("random", 1, 40), scheduler(rule), workers=3, seed=1, startup_s=0.5)
            for rule in ("asha_promotion", "pasha_promotion")}
    for result in runs.values():
        assert len(result.trials) == 40 and set(result.trials.status) <= {"completed", "stopped"}
        gaps = result.results.groupby("trial_id").time.diff().dropna()
        assert (gaps > 1.5).any() and gaps.min() == pytest.approx(1.0)  # resumed: start-up plus waiting
    promoted, progressive = runs["asha_promotion"].trials, runs["pasha_promotion"].trials
    assert (promoted.epochs == 9).sum() >= 3 and (promoted.epochs == 1).sum() >= 20
    # this function ranks trials at 3 epochs as at 9, so PASHA's top rung stayed at 3
    assert progressive.epochs.max() == 3 and set(progressive.status) == {"stopped"}
    assert runs["pasha_promotion"].best_by(1e9) >= 0.9 * runs["asha_promotion"].best_by(1e9)


def test_a_time_budget_ends_the_simulation_at_that_time():
    result = simulate(MFHartmann6(), search("random", 0, 1000), scheduler("fifo"), workers=2, budget_s=100)
    assert result.elapsed_s == 100 and result.results.time.max() <= 100 and len(result.trials) < 1000
    assert result.time_to(-1.0) == result.results.time.min() and result.time_to(99.0) == float("inf")


def test_each_trial_pays_its_start_up_before_its_first_epoch():
    """One worker, FIFO: 5 trials of 9 one-second epochs end at 5 x (9 + start-up)."""
    plain, started = (simulate(MFHartmann6(epochs=9), search("random", 0, 5), scheduler("fifo"), workers=1, seed=0,
                               startup_s=startup) for startup in (0.0, 2.5))
    assert plain.elapsed_s == 45 and started.elapsed_s == 5 * 11.5
    assert started.results.time.min() == 3.5 and started.trials.config.equals(plain.trials.config)


def test_schedulers_that_clone_trials_are_refused():
    with pytest.raises(ValueError, match="^scheduler.type: pbt clones trials"):
        simulate(MFHartmann6(), search("random", 0, 4), scheduler("pbt"), workers=2)


def test_a_curve_table_answers_the_nearest_configuration_of_each_listed_key_first(tmp_path):
    rows = []
    for lr, optimizer, best in ((1e-3, "sgd", 0.5), (1e-2, "adam", 0.9), (1e-1, "adam", 0.7)):
        for seed in (0, 1):
            for epoch in (1, 2, 3):
                rows.append({"config/lr": lr, "config/optimizer": optimizer, "epoch": epoch, "seed": seed,
                             "val_accuracy": best * epoch / 3 + 0.01 * seed, "seconds": 2.0})
    rows.append({"config/lr": 0.5, "config/optimizer": "sgd", "epoch": 1, "seed": 0, "val_accuracy": 0.1, "seconds": 2.0})
    path = tmp_path / "curves.parquet"
    pd.DataFrame(rows).to_parquet(path)
    space = {"lr": LogUniform(loguniform=(1e-4, 1.0)), "optimizer": Choice(choice=["sgd", "adam"])}
    table = CurveTable.from_parquet(str(path), space, "val_accuracy", "max")
    assert table.epochs == 3 and len(table.configs) == 3  # the curve with one epoch is left out
    assert table.curve({"lr": 2e-2, "optimizer": "adam"}, seed=0)[-1] == (0.9, 2.0)
    assert table.curve({"lr": 2e-2, "optimizer": "sgd"}, seed=1)[-1] == pytest.approx((0.51, 2.0))  # sgd's only row
    assert table.best_final() == pytest.approx(0.905)
    result = simulate(table, search("random", 0, 12), scheduler("asha", grace_period=1, reduction_factor=3), workers=2)
    assert len(result.trials) == 12 and result.best_by(1e9) == pytest.approx(0.91)
    # each row runs once before any runs again: a searcher that converges does not rerun its best row
    firsts = simulate(table, search("tpe", 0, 5), scheduler("fifo"), workers=1).trials.config.tolist()
    assert sorted(map(str, firsts[:3])) == sorted(map(str, table.configs)) and firsts[3] in table.configs
    with pytest.raises(ValueError, match="no column seconds"):
        CurveTable("bad", pd.DataFrame(rows).drop(columns="seconds"), space, "val_accuracy", "max")


def test_a_curve_table_keeps_its_space_in_its_parquet_and_scores_on_mean_curves(tmp_path):
    rows = [{"config/lr": lr, "epoch": epoch, "seed": seed, "val_loss": value, "seconds": 1.0}
            for lr, curves in ((0.01, ([0.9, 0.5], [0.7, 0.3])), (0.1, ([0.8, float("nan")], [0.6, 0.4])))
            for seed, curve in enumerate(curves) for epoch, value in enumerate(curve, start=1)]
    space = {"lr": LogUniform(loguniform=(1e-3, 1.0))}
    CurveTable("t", pd.DataFrame(rows), space, "val_loss", "min").to_parquet(tmp_path / "t.parquet", trainable="x")
    table = CurveTable.from_parquet(tmp_path / "t.parquet")
    assert (table.name, table.space, table.metric, table.mode) == ("t", space, "val_loss", "min")
    assert table.expected({"lr": 0.01}) == pytest.approx([0.8, 0.4])
    assert table.peaks() == pytest.approx([0.4, 0.7])  # the diverged run's epoch is left out, not the configuration
    assert table.best_final() == pytest.approx(0.4) and table.mean_training_s() == 2.0
    result = simulate(table, search("random", 0, 6), scheduler("top_k"), workers=2)
    assert set(result.results.columns) >= {"value", "expected"}
    assert result.best_by(1e9, column="expected") >= 0.4
