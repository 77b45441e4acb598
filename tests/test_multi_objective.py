"""Several objectives: the spec's objectives and constraints checked in one line each, the
Pareto set, and real jobs with random, TPE and NSGA-II whose job.json Pareto set is the one the
Parquet files give."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tune_jobs
from tune_jobs.dashboard.views import JobViews
from tune_jobs.errors import SpecError, UserError
from tune_jobs.results.pareto import first_front, pareto_set, parse_constraint
from tune_jobs.schedulers import SCHEDULERS
from tune_jobs.schedulers.rules import ParetoRungCutoffs, front_ranks
from tune_jobs.search import SEARCHES
from tune_jobs.simulation import CurveTable, simulate
from tune_jobs.space import Uniform

ROOT = Path(__file__).resolve().parents[1]


def brute_force_front(points: np.ndarray) -> list[int]:
    return [i for i, p in enumerate(points)
            if not any((q >= p).all() and (q > p).any() for j, q in enumerate(points) if j != i)]


def brute_force_ranks(points: np.ndarray) -> list[int]:
    """Fronts peeled one by one: each the first front of what the earlier ones left."""
    ranks, left, front = [-1] * len(points), list(range(len(points))), 0
    while left:
        for i in brute_force_front(points[left]):
            ranks[left[i]] = front
        left, front = [i for i in left if ranks[i] < 0], front + 1
    return ranks


def test_the_fronts_are_what_comparing_every_pair_gives():
    for seed in range(60):
        rng = np.random.RandomState(seed)
        points = rng.randint(0, 6, size=(rng.randint(1, 80), 2 + seed % 2)).astype(float)  # ties and repeats
        assert first_front(points) == brute_force_front(points)
        assert front_ranks(points).tolist() == brute_force_ranks(points), seed
    points = np.array([[1.0, 2.0], [np.nan, 9.0], [2.0, 1.0], [0.0, 0.0]])
    assert front_ranks(points).tolist() == [0, 2, 0, 1]  # a missing objective: after every complete row


def test_mo_asha_ranks_a_rung_of_10000_trials_in_milliseconds():
    import time

    points = np.random.RandomState(0).rand(10_000, 2)
    started = time.perf_counter()
    kept = ParetoRungCutoffs([1, 9], keep=1 / 3).kept(points)
    assert time.perf_counter() - started < 1.0  # the dominance matrix took 200 MB and seconds here
    ranks = front_ranks(points)
    assert len(kept) == 3334 and max(ranks[kept]) <= min(np.delete(ranks, kept))


def test_mo_asha_keeps_the_front_spread_along_it_and_stops_the_dominated():
    rule = ParetoRungCutoffs([1, 9], keep=1 / 2)
    assert rule.on_result("first", 1, (0.0, 0.0)) is False  # the first at a rung goes on, as in ASHA
    front = [(1.0, 9.0), (5.0, 5.0), (9.0, 1.0)]
    assert [rule.on_result(f"f{i}", 1, p) for i, p in enumerate(front)] == [False, False, False]
    assert rule.on_result("dominated", 1, (0.5, 0.5)) is True
    assert rule.on_result("nan", 1, (float("nan"), 10.0)) is True  # a missing objective ranks last
    points = np.array([*front, (4.0, 4.0), (4.5, 4.5), (0.1, 0.1)])
    assert ParetoRungCutoffs([1, 9], keep=1 / 3).kept(points) == [0, 2]  # a third of six: the front's ends first (crowding)
    assert rule.on_result("late", 9, (0.0, 0.0)) is False  # at max_t a trial has ended, not been stopped


def test_constraints_parse_or_say_why_in_one_phrase():
    assert str(parse_constraint("latency_ms <= 5")) == "latency_ms <= 5"
    assert parse_constraint("params<2e6").holds(1.9e6) and not parse_constraint("params<2e6").holds(2e6)
    assert parse_constraint("acc >= 0.9").violation(0.85) == pytest.approx(0.05)
    for text, problem in [("x == 3", "operator '==' is not one of"), ("x <= fast", "the bound 'fast' is not a number"),
                          ("<= 3", "write it as 'metric <= number'"), ("x <= inf", "finite number")]:
        with pytest.raises(ValueError, match=problem):
            parse_constraint(text)


def test_the_pareto_set_uses_best_values_and_leaves_out_infeasible_and_failed_trials():
    rows = [("a", 1, 0.5, 3.0), ("a", 2, 0.9, 3.0),  # best acc 0.9 at cost 3
            ("b", 1, 0.8, 1.0),  # non-dominated: cheaper
            ("c", 1, 0.95, 9.0),  # best acc, but breaks cost <= 5
            ("d", 1, 0.7, 2.0),  # dominated by b
            ("e", 1, 0.99, 0.5)]  # would dominate everything, but failed
    iterations = pd.DataFrame(rows, columns=["trial_id", "training_iteration", "acc", "cost"])
    found = pareto_set(iterations, {"acc": "max", "cost": "min"}, [parse_constraint("cost <= 5")], failed={"e"})
    assert found == [{"trial_id": "a", "values": {"acc": 0.9, "cost": 3.0}}, {"trial_id": "b", "values": {"acc": 0.8, "cost": 1.0}}]


BASE = {"name": "mo", "trainable": "digits_mlp", "metric": "val_accuracy", "space": {"lr": {"loguniform": [1e-3, 1e-1]}}}


@pytest.mark.parametrize("changes, expected", [
    ({"objectives": {"val_accuracy": "max", "latency": "min"}},
     "objectives.latency: digits_mlp does not report 'latency'; did you mean 'latency_ms'?"),
    ({"objectives": {"val_accuracy": "max", "params": "min"}, "execution": {"fuse": 4}},
     "execution.fuse: a stack's members do not report params (one model each) yet; set fuse: 1"),
    ({"objectives": {"val_accuracy": "max", "val_loss": "min"}, "constraints": ["val_los <= 1"]},
     "constraints[0]: digits_mlp does not report 'val_los'; did you mean 'val_loss'?"),
    ({"objectives": {"val_accuracy": "max", "val_loss": "min"}, "constraints": ["val_loss =< 1"]},
     "constraints: [0]: operator '=<' is not one of <=, >=, <, >"),
    ({"objectives": {"val_accuracy": "max", "val_loss": "middle"}}, "objectives.val_loss: "),
    ({"objectives": {"val_loss": "min", "val_accuracy": "max"}},
     "metric: with objectives the job's metric is the first objective (val_loss), got 'val_accuracy'"),
    ({"objectives": {"val_accuracy": "max", "val_loss": "min"}, "search": {"algorithm": "bayesopt"}},
     "search.algorithm: bayesopt optimises one metric; with 2 objectives use tpe, nsga2 or random"),
    ({"objectives": {"val_accuracy": "max", "val_loss": "min"}, "scheduler": {"type": "asha"}},
     "scheduler.type: asha compares trials on one metric; with 2 objectives use mo_asha or fifo"),
    ({"objectives": {"val_accuracy": "max", "val_loss": "min"}, "search": {"algorithm": "tpe"},
      "stages": [{"name": "coarse", "trials": 8}, {"name": "fine", "trials": 8}]},
     "stages: later stages narrow around the best trials of one metric; a job with several objectives"),
])
def test_each_bad_objective_or_constraint_is_one_line(changes, expected, tmp_path):
    spec = {**BASE, "storage": str(tmp_path), **changes}
    with pytest.raises(SpecError) as raised:
        tune_jobs.validate(spec)
    assert len(raised.value.problems) == 1 and raised.value.problems[0].startswith(expected), raised.value.problems


def test_objectives_name_the_metric_and_auto_picks_a_search_for_several(tmp_path):
    spec = tune_jobs.validate({"name": "mo", "trainable": "digits_mlp", "storage": str(tmp_path),
                               "objectives": {"val_accuracy": "max", "val_loss": "min"},
                               "space": {"lr": {"loguniform": [1e-3, 1e-1]}}, "search": {"num_samples": 40}})
    assert (spec.metric, spec.plan.mode, spec.plan.search.algorithm) == ("val_accuracy", "max", "tpe")
    assert spec.resolved()["objectives"] == {"val_accuracy": "max", "val_loss": "min"}
    single = tune_jobs.validate({**BASE, "storage": str(tmp_path)})
    assert "objectives" not in single.resolved() and "constraints" not in single.resolved()  # identity as before


def formula_rows(x: float, y: float) -> list[dict[str, float]]:
    return [{"acc": x * step / 3 - 0.1 * y, "cost": x ** 2 + 0.2 * y} for step in range(1, 4)]


def two_objectives(config, report):
    for row in formula_rows(config["x"], config["y"]):
        report(row)


@pytest.mark.integration
@pytest.mark.parametrize("search", [{"algorithm": "random"}, {"algorithm": "tpe", "options": {"initial_points": 4}},
                                    {"algorithm": "nsga2", "options": {"population_size": 4}}])
def test_a_job_with_two_objectives_and_a_constraint_records_the_pareto_set_of_its_files(ray_session, tmp_path, search):
    result = tune_jobs.run({"name": "mo", "trainable": two_objectives, "objectives": {"acc": "max", "cost": "min"},
                            "constraints": ["cost <= 0.6"], "space": {"x": {"uniform": [0.0, 1.0]}, "y": {"uniform": [0.0, 1.0]}},
                            "search": {**search, "num_samples": 12, "seed": 0}, "storage": str(tmp_path), "tensorboard": False})
    record = json.loads((Path(result.directory) / "job.json").read_text())
    iterations = pd.read_parquet(Path(result.directory) / "iterations.parquet")
    best = iterations.groupby("trial_id").agg(acc=("acc", "max"), cost=("cost", "min"))
    feasible = best[best.cost <= 0.6]
    points = np.column_stack([feasible.acc, -feasible.cost])
    expected = sorted(feasible.index[i] for i in brute_force_front(points))
    assert expected and [m["trial_id"] for m in record["pareto"]] == expected
    for member in record["pareto"]:
        trial_id = member["trial_id"]
        assert member["values"] == {"acc": pytest.approx(best.acc[trial_id]), "cost": pytest.approx(best.cost[trial_id])}
        assert set(member["config"]) >= {"x", "y"}
    assert len(best) == 12 and len(best[best.cost > 0.6]) >= 1  # the constraint was tested, not vacuous
    drawn = JobViews().job(result.directory)["pareto"]["points"]  # the dashboard's front is the same set
    assert sorted(p["trial_id"] for p in drawn if p["front"]) == expected and len(drawn) == 12
    assert {p["trial_id"] for p in drawn if not p["feasible"]} == set(best[best.cost > 0.6].index)
    shown = subprocess.run([sys.executable, "-m", "tune_jobs", "results", result.directory, "--pareto"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert f"Pareto set of {len(expected)} by acc (max), cost (min)" in " ".join(shown.stdout.split())
    assert all(trial_id in shown.stdout for trial_id in expected)
    if search["algorithm"] == "random":
        check_narrowing_asks_for_an_objective(result.directory, best, tmp_path)


def check_narrowing_asks_for_an_objective(directory: str, best: pd.DataFrame, tmp_path: Path) -> None:
    """A job with several objectives has no single best: narrow says so and ranks by the one named."""
    from tune_jobs.analysis.job_results import load_results

    asked = subprocess.run([sys.executable, "-m", "tune_jobs", "narrow", directory, "-o", str(tmp_path / "n.yaml")],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert asked.returncode == 2 and not (tmp_path / "n.yaml").exists()
    assert " ".join(asked.stderr.split()) == \
        "--objective: the job has several objectives (acc (max), cost (min)); say which one ranks the trials"
    by_cost = load_results(directory).ranked_by("cost")
    assert (by_cost.metric, by_cost.mode) == ("cost", "min") and "objectives" not in by_cost.spec
    ranked = by_cost.scored()
    assert ranked.trial_id.tolist() == best.sort_values("cost", kind="stable").index.tolist()
    assert ranked["best_cost"].tolist() == pytest.approx(sorted(best.cost))
    with pytest.raises(UserError, match="--objective: latency is not one of the job's objectives \\(acc, cost\\)"):
        load_results(directory).ranked_by("latency")
    narrowed = tune_jobs.load(directory).narrow(objective="cost", name="mo-cheap")
    assert (narrowed["metric"], narrowed["mode"]) == ("cost", "min") and "objectives" not in narrowed
    cheapest = best.cost.idxmin()
    x = float(load_results(directory).trials.set_index("trial_id").loc[cheapest, "config/x"])
    low, high = narrowed["space"]["x"]["uniform"] if "x" in narrowed["space"] else (narrowed["config"]["x"],) * 2
    assert low <= x <= high  # the new ranges hold the cheapest trial


@pytest.mark.integration
def test_built_in_trainables_report_what_a_model_costs(ray_session, tmp_path):
    result = tune_jobs.run({"name": "costs", "trainable": "digits_mlp", "objectives": {"val_accuracy": "max", "latency_ms": "min"},
                            "constraints": ["params <= 5000"], "config": {"epochs": 3},
                            "space": {"hidden": {"choice": [8, 128]}, "lr": {"loguniform": [1e-2, 1e-1]}},
                            "search": {"algorithm": "random", "num_samples": 4, "seed": 1}, "storage": str(tmp_path),
                            "tensorboard": False})
    rows = result.iterations.merge(result.trials[["trial_id", "config/hidden"]], on="trial_id")
    for _, history in rows.groupby("trial_id"):
        assert history.params.nunique() == 1 and history.latency_ms.gt(0).all() and history.peak_memory_mb.gt(0).all()
        assert history.sort_values("training_iteration").train_time_s.is_monotonic_increasing
    params = rows.groupby("config/hidden").params.first()
    assert 0 < params[8] <= 5000 < params[128]
    record = json.loads((Path(result.directory) / "job.json").read_text())
    assert record["pareto"] and all(m["config"]["hidden"] == 8 for m in record["pareto"])  # 128 breaks params <= 5000


@pytest.mark.integration
def test_mo_asha_in_a_real_job_stops_what_its_rule_stops(ray_session, tmp_path):
    result = tune_jobs.run({"name": "mo-asha", "trainable": two_objectives, "objectives": {"acc": "max", "cost": "min"},
                            "constraints": ["cost <= 0.6"], "space": {"x": {"uniform": [0.0, 1.0]}, "y": {"uniform": [0.0, 1.0]}},
                            "scheduler": {"type": "mo_asha", "max_t": 3, "grace_period": 1, "reduction_factor": 2},
                            "search": {"algorithm": "random", "num_samples": 10, "seed": 0, "max_concurrent": 1},
                            "storage": str(tmp_path), "tensorboard": False})
    trials = result.trials  # one at a time: rows in the order the trials ran
    statuses = trials.set_index("trial_id").status
    assert (statuses == "stopped").sum() >= 3 and (statuses == "completed").sum() >= 2
    rule, expected = ParetoRungCutoffs([1, 2, 3], keep=1 / 2), {}
    for trial_id in trials.trial_id:  # the rule replayed on the reported values, cost negated (minimised)
        expected[trial_id] = "completed"
        for row in result.history(trial_id).to_dict("records"):
            if rule.on_result(trial_id, int(row["training_iteration"]), (row["acc"], -row["cost"])):
                expected[trial_id] = "stopped"
                break
    assert statuses.to_dict() == expected
    record = json.loads((Path(result.directory) / "job.json").read_text())
    best = result.iterations.groupby("trial_id").agg(acc=("acc", "max"), cost=("cost", "min"))
    feasible = best[best.cost <= 0.6]
    front = sorted(feasible.index[i] for i in brute_force_front(np.column_stack([feasible.acc, -feasible.cost])))
    assert front and [m["trial_id"] for m in record["pareto"]] == front and len(feasible) < len(best)
    # the simulated backend replays the same curves (the formula's, every epoch) to the same decisions
    curves = pd.DataFrame([{"config/x": row["config/x"], "config/y": row["config/y"], "epoch": step + 1, "seconds": 1.0,
                            **reported} for row in trials.to_dict("records")
                           for step, reported in enumerate(formula_rows(row["config/x"], row["config/y"]))])
    table = CurveTable("two_objectives", curves, {"x": Uniform(uniform=(0.0, 1.0)), "y": Uniform(uniform=(0.0, 1.0))},
                       "acc", "max")
    simulated = simulate(table, SEARCHES.get("random").model_validate({"algorithm": "random", "seed": 0, "num_samples": 10}),
                         SCHEDULERS.get("mo_asha").model_validate({"type": "mo_asha", "grace_period": 1, "reduction_factor": 2}),
                         workers=1, seed=0, objectives={"acc": "max", "cost": "min"})
    assert simulated.trials.status.tolist() == [statuses[t] for t in trials.trial_id]
    assert simulated.trials.epochs.tolist() == trials.iterations.tolist()
    assert simulated.results["cost"].tolist() == pytest.approx(simulated.results["expected:cost"].tolist())
    from tune_jobs.analysis.job_results import load_results
    from tune_jobs.report.build import build_report

    page = build_report(load_results(result.directory))
    assert '<section id="pareto">' in page and 'alt="Pareto front" src="data:image/png;base64,' in page
