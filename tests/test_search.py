"""Search algorithms: one conformance suite for every model-based searcher, then BayesOpt's rules."""

import math
import pickle
import warnings
from typing import Any

import numpy as np
import pytest

pytest.importorskip("ray")
from ray import cloudpickle  # noqa: E402

from tests.spaces import MIXED  # noqa: E402
from tune_jobs.errors import SpecError  # noqa: E402
from tune_jobs.ray_tune.searcher import RaySearcher  # noqa: E402
from tune_jobs.ray_tune.space import param_space  # noqa: E402
from tune_jobs.results.sink import COMPLETED, FAILED, STOPPED, ParquetSink  # noqa: E402
from tune_jobs.search import SEARCHES  # noqa: E402
from tune_jobs.search.bayesopt.model import BayesOpt  # noqa: E402
from tune_jobs.search.bayesopt.options import BayesOptOptions  # noqa: E402
from tune_jobs.space import Choice, LogUniform, Ordinal, RandInt, Uniform  # noqa: E402
from tune_jobs.spec import validate_spec  # noqa: E402

MODEL_BASED = [name for name in SEARCHES.names() if name not in ("random", "grid")]


class ThroughRay(RaySearcher):
    """A search algorithm under Ray's Searcher calls, as a job runs it, with its internals in reach."""

    def __getattr__(self, name):
        search = self.__dict__.get("search")
        if search is None:
            raise AttributeError(name)
        return getattr(search, name)


class BayesOptSearcher(ThroughRay):
    def __init__(self, space, metric, mode, options=None, seed=None, trials=None, rungs=None):
        super().__init__(BayesOpt(space, mode, options, seed=seed, trials=trials, rungs=rungs), metric, mode)


def through_ray(spec, space, metric="score", mode="max"):
    return ThroughRay(spec.build(space, metric, mode), metric, mode)


def objective(config):
    return -((math.log10(config["lr"]) + 2) ** 2) - config["dropout"] + 0.1 * config["layers"] \
        + (0.2 if config["optimizer"] == "adam" else 0.0) - abs(math.log2(config["width"]) - 6) / 10


def make_searcher(name, seed=0):
    spec = SEARCHES.get(name).model_validate({"algorithm": name, "seed": seed})
    searcher = through_ray(spec, MIXED)
    searcher.set_search_properties("score", "max", param_space({}, {} if spec.owns_space else MIXED))
    return searcher


def assert_in_space(config):
    assert set(config) == set(MIXED)
    assert 1e-4 <= config["lr"] <= 1e-1 and 0.0 <= config["dropout"] <= 0.5
    assert isinstance(config["layers"], int) and 1 <= config["layers"] <= 4
    assert isinstance(config["width"], int) and 16 <= config["width"] <= 256
    assert config["optimizer"] in ("sgd", "adam", "adamw")


@pytest.mark.parametrize("name", MODEL_BASED)
def test_conformance_suggest_result_complete_pickle(name):
    searcher = make_searcher(name)
    for i in range(14):
        trial = f"t{i}"
        config = searcher.suggest(trial)
        assert_in_space(config)
        score = objective(config)
        searcher.on_trial_result(trial, {"score": score, "training_iteration": 1})
        searcher.on_trial_complete(trial, {"score": score, "training_iteration": 1})
        if i == 7:  # a pickle round trip mid-search, then carry on with the copy
            searcher = cloudpickle.loads(cloudpickle.dumps(searcher))
    assert_in_space(searcher.suggest("last"))


@pytest.mark.parametrize("name", MODEL_BASED)
def test_conformance_save_and_restore_continue_identically(name, tmp_path):
    searcher = make_searcher(name, seed=3)
    for i in range(12):
        config = searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"score": objective(config)})
    searcher.save(str(tmp_path / "state"))
    restored = make_searcher(name, seed=99)
    restored.restore(str(tmp_path / "state"))
    again, first = restored.suggest("next"), searcher.suggest("next")
    # Floats agree to rounding: BLAS results may differ in the last bit between two copies in memory.
    assert {k: v for k, v in again.items() if isinstance(v, float)} == pytest.approx(
        {k: v for k, v in first.items() if isinstance(v, float)}, rel=1e-6)
    assert {k: v for k, v in again.items() if not isinstance(v, float)} == {k: v for k, v in first.items() if not isinstance(v, float)}


def observed(searcher):
    return len(searcher.optimizer.space)


def test_pending_trials_get_distinct_configs_in_the_model_phase():
    searcher = BayesOptSearcher(MIXED, "score", "max", BayesOptOptions(initial_points=5), seed=0)
    for i in range(10):
        config = searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"score": objective(config)})
    pending = [searcher.suggest(f"p{i}") for i in range(4)]  # four workers free at once
    keys = {tuple(sorted(c.items())) for c in pending}
    assert len(keys) == 4
    assert len({round(c["lr"], 6) for c in pending}) == 4  # the lie pushes them apart, not only dedup


def test_failed_nan_and_errored_trials_are_not_observations():
    searcher = BayesOptSearcher(MIXED, "score", "max", seed=0)
    for trial in ("a", "b", "c", "d"):
        searcher.suggest(trial)
    searcher.on_trial_complete("a", error=True)
    searcher.on_trial_complete("b", {"score": float("nan")})
    searcher.on_trial_complete("c", {"score": 0.5, "tune_jobs_error": "score reported as nan"})
    assert observed(searcher) == 0 and searcher.pending.keys() == {"d"}
    searcher.on_trial_complete("d", {"score": 0.25})
    assert observed(searcher) == 1


def test_min_mode_is_negated_for_bayes_opt_maximisation():
    searcher = BayesOptSearcher(MIXED, "loss", "min", seed=0)
    searcher.suggest("a")
    searcher.on_trial_complete("a", {"loss": 0.3})
    assert searcher.optimizer.space.target.tolist() == [-0.3]


def test_an_early_stopped_trial_registers_its_last_reported_value():
    searcher = BayesOptSearcher(MIXED, "score", "max", seed=0)
    searcher.suggest("a")
    searcher.on_trial_result("a", {"score": 0.4})
    searcher.on_trial_complete("a", None)  # Ray may hand over no result for a removed trial
    assert searcher.optimizer.space.target.tolist() == [0.4]


def test_log_ranges_are_searched_in_log_space():
    searcher = BayesOptSearcher({"lr": LogUniform(loguniform=(1e-4, 1.0))}, "s", "max", seed=0)
    draws = [searcher.suggest(str(i))["lr"] for i in range(5)]  # initial random points
    for i in range(5):
        searcher.on_trial_complete(str(i), None, error=True)
    lows = [searcher._decode(np.array([u]))["lr"] for u in (0.0, 0.5, 1.0)]
    assert lows == pytest.approx([1e-4, 1e-2, 1.0])
    assert all(1e-4 <= d <= 1 for d in draws)


def test_duplicate_suggestions_are_avoided_in_a_small_discrete_space():
    space = {"a": Choice(choice=[1, 2, 3]), "b": RandInt(randint=(0, 1))}
    searcher = BayesOptSearcher(space, "s", "max", BayesOptOptions(initial_points=2), seed=0)
    seen = []
    for i in range(6):
        config = searcher.suggest(str(i))
        seen.append(tuple(sorted(config.items())))
        searcher.on_trial_complete(str(i), {"s": config["a"] + config["b"]})
    assert len(set(seen)) == 6  # all six combinations, none twice


def test_domain_reduction_shrinks_the_bounds():
    space = {"x": Uniform(uniform=(-5.0, 5.0)), "y": Uniform(uniform=(-5.0, 5.0))}
    searcher = BayesOptSearcher(space, "s", "max", BayesOptOptions(initial_points=4, domain_reduction=True), seed=0)
    for i in range(12):
        c = searcher.suggest(str(i))
        searcher.on_trial_complete(str(i), {"s": -(c["x"] - 1) ** 2 - (c["y"] + 2) ** 2})
    bounds = searcher.optimizer.space.bounds
    assert (bounds[:, 1] - bounds[:, 0] < 0.999).all()


def test_warm_start_registers_earlier_trials_that_fit_the_space(tmp_path):
    sink = ParquetSink(tmp_path, "score", "max", flush_interval_s=0)
    rows = [
        ("a", {"lr": 0.01, "dropout": 0.1, "layers": 2, "width": 64, "optimizer": "adam"}, 0.9, COMPLETED),
        ("b", {"lr": 0.001, "dropout": 0.3, "layers": 3, "width": 32, "optimizer": "sgd"}, 0.5, STOPPED),
        ("c", {"lr": 0.5, "dropout": 0.1, "layers": 2, "width": 64, "optimizer": "adam"}, 0.7, COMPLETED),  # lr out
        ("d", {"lr": 0.01, "dropout": 0.1, "layers": 2, "width": 64, "optimizer": "nadam"}, 0.8, COMPLETED),  # choice
        ("e", {"lr": 0.01, "dropout": 0.1, "layers": 2, "width": 64, "optimizer": "adam"}, 0.2, FAILED),
    ]
    for trial, config, score, status in rows:
        sink.trial_started(trial, config)
        sink.trial_result(trial, {"training_iteration": 1, "score": score})
        sink.trial_ended(trial, status)
    sink.flush(force=True)
    spec = SEARCHES.get("bayesopt").model_validate({"algorithm": "bayesopt", "options": {"warm_start": str(tmp_path)}})
    searcher = through_ray(spec, MIXED)
    assert sorted(searcher.optimizer.space.target.tolist()) == [0.5, 0.9]


def test_warm_start_observations_count_towards_the_random_initial_points():
    """Warm-started from enough points, the first suggestion already comes from the GP."""
    space = {"x": Uniform(uniform=(0.0, 10.0))}
    cold = BayesOptSearcher(space, "s", "max", BayesOptOptions(initial_points=5), seed=3)
    warm = BayesOptSearcher(space, "s", "max", BayesOptOptions(initial_points=5), seed=3)
    for x in (0.5, 1.5, 2.5, 3.0, 3.5, 4.5, 6.0, 8.0):
        warm.register_config({"x": x}, -((x - 3.2) ** 2))
    assert abs(warm.suggest("t1")["x"] - 3.2) < 0.5
    assert cold.suggest("t1")["x"] != warm.suggest("t2")["x"]
    firsts = [BayesOptSearcher(space, "s", "max", BayesOptOptions(initial_points=5), seed=s).suggest("t")["x"] for s in range(8)]
    assert sum(abs(x - 3.2) < 0.5 for x in firsts) <= 2  # cold starts are random over [0, 10]


BASE = {"name": "s", "trainable": "digits_mlp", "metric": "val_accuracy",
        "space": {"lr": {"loguniform": [1e-4, 1e-1]}, "optimizer": {"choice": ["sgd", "adam"]}}}


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ({"algorithm": "bayesopt", "options": {"kappa": 2.0}},
         "search.options: kappa is a ucb parameter; acquisition is ei"),
        ({"algorithm": "bayesopt", "options": {"acquisition": "ucb", "xi": 0.1}},
         "search.options: xi is an ei/poi parameter; acquisition is ucb"),
        ({"algorithm": "bayesopt", "options": {"acquisition": "thompson"}},
         "search.options.acquisition: input should be 'ucb', 'ei', 'poi' or 'gp_hedge', got 'thompson'"),
        ({"algorithm": "bayesopt", "options": {"init_points": 3}},
         "search.options.init_points: unknown key; did you mean 'initial_points'? valid keys: initial_points, acquisition, kappa, xi, "
         "domain_reduction, warm_start, refit_every, max_fit_points, max_gp_points, output_transform, noise, pending, numeric_choices"),
        ({"algorithm": "bayesopt", "options": {"warm_start": "/nonexistent/job"}},
         "search.options.warm_start: no trials.parquet in /nonexistent/job; give an earlier job's results directory"),
        ({"algorithm": "tpe", "options": {"gamma": 0.1}},
         "search.options.gamma: unknown key; valid keys: initial_points, multivariate"),
    ],
)
def test_search_option_errors(search, expected):
    with pytest.raises(SpecError) as info:
        validate_spec({**BASE, "search": search})
    assert info.value.problems == [expected]


@pytest.mark.parametrize("algorithm", ["bayesopt", "tpe", "optuna_gp"])
def test_grid_with_a_model_based_search_says_why(algorithm):
    with pytest.raises(SpecError) as info:
        validate_spec({**BASE, "space": {"lr": {"grid": [0.1, 0.01]}}, "search": {"algorithm": algorithm}})
    assert info.value.problems[0].startswith(f"space.lr: grid is not supported with {algorithm}")


def test_pickling_keeps_the_observations():
    searcher = BayesOptSearcher(MIXED, "score", "max", seed=0)
    config = searcher.suggest("a")
    searcher.on_trial_complete("a", {"score": objective(config)})
    copy = pickle.loads(cloudpickle.dumps(searcher))
    assert observed(copy) == 1


def test_a_category_effect_seen_in_one_region_carries_to_the_others():
    # "b" is better by 1 everywhere but was only tried at small x; the kernel's additive category
    # term must carry that over to large x, where only "a" was tried.
    space = {"x": Uniform(uniform=(0.0, 1.0)), "c": Choice(choice=["a", "b"])}
    searcher = BayesOptSearcher(space, "s", "max", seed=0)
    shape = lambda x: math.sin(8 * x)  # noqa: E731
    points = [(x, "a") for x in np.linspace(0, 1, 13)] + [(x, "b") for x in np.linspace(0, 0.25, 3)]
    for x, c in points:
        searcher.register_config({"x": x, "c": c}, shape(x) + (1.0 if c == "b" else 0.0))
    gp = searcher.optimizer._gp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn: a length scale at its bound (the category one, as it should)
        gp.fit(searcher.optimizer.space.params, searcher.optimizer.space.target)
    at = [searcher._encode({"x": 0.8, "c": c}) for c in ("a", "b")]
    mean_a, mean_b = gp.predict(np.array(at))
    assert mean_b - mean_a == pytest.approx(1.0, abs=0.1)  # one isotropic kernel: 0.48


def test_a_two_option_choice_is_a_categorical_not_a_float_range():
    # bayes_opt reads a two-element numeric list as (low, high) float bounds; the second option
    # would then (almost) never be drawn.
    searcher = BayesOptSearcher({"optimizer": Choice(choice=["sgd", "adam"]), "x": Uniform(uniform=(0, 1))},
                                "s", "max", seed=0)
    drawn = {searcher.suggest(str(i))["optimizer"] for i in range(8)}
    assert drawn == {"sgd", "adam"}


# -- ordered lists ----------------------------------------------------------------------------
ORDINAL_MIXED = {
    "batch_size": Ordinal(ordinal=[16, 32, 64, 128, 256]),
    "dropout": Choice(choice=[0.0, 0.25, 0.5]),
    "activation": Choice(choice=["relu", "tanh", "gelu"]),
}


def ordinal_objective(config):
    return -abs(math.log2(config["batch_size"]) - 6) - 2 * abs(config["dropout"] - 0.25) \
        + (0.5 if config["activation"] == "gelu" else 0.0)


def drive(name, seed, trials, concurrency):
    """``trials`` suggestions with up to ``concurrency`` pending, completed oldest first."""
    spec = SEARCHES.get(name).model_validate({"algorithm": name, "seed": seed, "num_samples": trials})
    searcher = through_ray(spec, ORDINAL_MIXED)
    searcher.set_search_properties("score", "max", param_space({}, {} if spec.owns_space else ORDINAL_MIXED))
    running, configs = [], []
    for i in range(trials):
        config = searcher.suggest(f"t{i}")
        configs.append(config)
        running.append((f"t{i}", config))
        if len(running) == concurrency:
            trial, done = running.pop(0)
            result = {"score": ordinal_objective(done), "training_iteration": 1}
            searcher.on_trial_result(trial, result)
            searcher.on_trial_complete(trial, result)
    return configs


@pytest.mark.parametrize("name", MODEL_BASED)
@pytest.mark.parametrize("concurrency", [1, 4])
def test_conformance_on_an_ordinal_and_categorical_space(name, concurrency):
    configs = drive(name, seed=5, trials=20, concurrency=concurrency)
    for config in configs:
        assert config["batch_size"] in (16, 32, 64, 128, 256) and config["dropout"] in (0.0, 0.25, 0.5)
        assert config["activation"] in ("relu", "tanh", "gelu")
    assert configs == drive(name, seed=5, trials=20, concurrency=concurrency)  # seeded: the same again
    if name == "bayesopt":  # 45 configurations: none tried twice, pending ones included
        assert len({tuple(sorted(c.items())) for c in configs}) == len(configs)


def test_bayesopt_finds_the_best_of_an_ordinal_space_with_few_trials():
    best = {"batch_size": 64, "dropout": 0.25, "activation": "gelu"}
    found = sum(best in drive("bayesopt", seed, trials=20, concurrency=1) for seed in range(5))
    assert found >= 4  # 20 of 45 configurations: random finds it in fewer than half the seeds


def test_numeric_choices_are_ordered_for_the_gp_unless_the_spec_says_otherwise():
    ordered = BayesOptSearcher({"width": Choice(choice=[64, 16, 256])}, "s", "max", seed=0)
    assert ordered.optimizer.space.dim == 1  # one axis, on a log scale: 16 -> 0, 64 -> 0.5, 256 -> 1
    assert [ordered.encodings["width"].encode(v) for v in (16, 64, 256)] == pytest.approx([0.0, 0.5, 1.0])
    assert ordered._decode(np.array([0.3]))["width"] == 64
    unordered = BayesOptSearcher({"width": Choice(choice=[64, 16, 256])}, "s", "max",
                                 BayesOptOptions(numeric_choices="categorical"), seed=0)
    assert unordered.optimizer.space.dim == 3  # one-hot
    linear = BayesOptSearcher({"p": Ordinal(ordinal=[0.0, 0.1, 0.5])}, "s", "max", seed=0)
    assert [linear.encodings["p"].encode(v) for v in (0.0, 0.1, 0.5)] == pytest.approx([0.0, 0.2, 1.0])


def test_heavy_tailed_losses_do_not_flatten_the_model():
    """One huge loss among small ones: on raw values the GP sees a flat surface elsewhere; on
    ranks it still prefers the neighbourhood of the best value."""
    from tune_jobs.search.bayesopt.model import transform_targets

    y = np.array([-1e7, -0.3, -0.2, -0.1, -0.05])
    z = transform_targets(y, "rank")
    assert list(np.argsort(z)) == [0, 1, 2, 3, 4] and np.ptp(z) < 4
    assert transform_targets(y, "none").tolist() == y.tolist()
    assert transform_targets(y, "auto").tolist() == z.tolist()  # a diverged run: ranks, even among 5 results
    smooth = np.array([3.1, 0.4, 0.35, 0.3, 0.2, 0.1])  # targets are maximised: one far *better*, kept at full size
    assert transform_targets(smooth, "auto").tolist() == smooth.tolist()


def test_under_rungs_the_gp_learns_from_the_highest_rung_with_enough_results():
    """BOHB's rule: the model sees one fidelity, the highest that enough trials reached."""
    space = {"x": Uniform(uniform=(0.0, 1.0))}
    searcher = BayesOptSearcher(space, "s", "max", BayesOptOptions(initial_points=3), seed=0, rungs=[1, 3, 9])
    configs = {f"t{i}": searcher.suggest(f"t{i}") for i in range(6)}
    for trial, config in configs.items():
        searcher.on_trial_result(trial, {"s": config["x"], "training_iteration": 1})
    assert searcher._rung_observations()[1].tolist() == [c["x"] for c in configs.values()]  # rung 1: all six
    for trial in list(configs)[:3]:
        searcher.on_trial_result(trial, {"s": 10 + configs[trial]["x"], "training_iteration": 3})
    x, values, trials = searcher._rung_observations()
    assert len(values) == 6 and trials == set(configs)  # three at rung 3 are too few: still rung 1
    for trial in list(configs)[3:]:
        searcher.on_trial_result(trial, {"s": 10 + configs[trial]["x"], "training_iteration": 3})
    assert searcher._rung_observations()[1].min() >= 10  # rung 3, now that all six reached it


def test_under_rungs_tpe_ranks_finished_trials_above_stopped_ones_and_those_by_rung():
    """A trial stopped at an early rung is told to Optuna as pruned (with its rung values), not as
    if its epoch-1 value were final."""
    import optuna

    study = SEARCHES.get("tpe").model_validate({"algorithm": "tpe", "seed": 0}).build(
        {"x": Uniform(uniform=(0.0, 1.0))}, "s", "max", rungs=[1, 3, 9])
    for trial, values in (("stopped", {1: 0.9}), ("further", {1: 0.5, 3: 0.6}), ("finished", {1: 0.1, 3: 0.2, 9: 0.3})):
        study.ask(trial)
        for iteration, value in values.items():
            study.observe(trial, iteration, value)
        study.observe(trial, 2, 0.99)  # not a rung: not reported
        study.tell(trial, list(values.values())[-1])
    states = [(t.state, t.intermediate_values) for t in study.study.trials]
    assert states == [(optuna.trial.TrialState.PRUNED, {1: 0.9}), (optuna.trial.TrialState.PRUNED, {1: 0.5, 3: 0.6}),
                      (optuna.trial.TrialState.COMPLETE, {1: 0.1, 3: 0.2, 9: 0.3})]


@pytest.mark.parametrize(("changes", "chosen"), [
    ({}, "random"),  # the default 10 trials: too few for a model to pay
    ({"search": {"num_samples": 30}}, "bayesopt"),
    ({"search": {"num_samples": 30, "algorithm": "auto"}, "space": {**BASE["space"], "wd": {"grid": [0.0, 0.1]}}}, "random"),
    ({"search": {"num_samples": 30}, "scheduler": {"type": "pbt"}}, "random"),
    ({"search": {"num_samples": 30}, "space": {"optimizer": {"choice": ["sgd", "adam"]}, "schedule": {"choice": ["constant", "cosine"]}}},
     "optuna_gp"),  # nothing but unordered categories
    ({"search": {"num_samples": 301}, "space": {"optimizer": {"choice": ["sgd", "adam"]}, "schedule": {"choice": ["constant", "cosine"]}}},
     "bayesopt"),  # too many trials for a GP refitted on every one
    ({"search": {"num_samples": 30}, "space": {"optimizer": {"choice": ["sgd", "adam"]}, "hidden": {"choice": [32, 64]}}},
     "bayesopt"),  # a list of numbers is ordered
])
def test_auto_picks_a_gp_from_30_trials_and_random_otherwise(changes, chosen):
    data = {**BASE, **changes}
    if "wd" in data["space"]:
        data["trainable"], data["metric"], data["mode"] = "tests.user_trainables:quadratic", "score", "max"
    spec = validate_spec(data)
    assert spec.plan.search.algorithm == chosen and spec.search_label == f"auto: {chosen}"
    assert validate_spec(spec.resolved()).search.algorithm == chosen  # job.json records what ran


def test_the_gp_models_at_most_max_gp_points_results_the_best_among_them():
    """A suggestion's cost must not grow with the job: past max_gp_points the GP keeps the best
    half and a random rest (a 10,000-trial job spent 1.4 s a suggestion at 2,700 results)."""
    from tune_jobs.search.bayesopt.compat import gp_of

    space = {"x": Uniform(uniform=(0.0, 1.0)), "y": Uniform(uniform=(0.0, 1.0))}
    searcher = BayesOptSearcher(space, "s", "max", BayesOptOptions(initial_points=40, max_gp_points=16), seed=0)
    configs = {f"t{i}": searcher.suggest(f"t{i}") for i in range(40)}
    for trial, config in configs.items():
        searcher.on_trial_complete(trial, {"s": config["x"] + config["y"]})
    config = searcher.suggest("t40")
    modelled = gp_of(searcher.optimizer).X_train_
    assert len(modelled) == 16 and 0 <= config["x"] <= 1
    best = max(configs.values(), key=lambda c: c["x"] + c["y"])
    assert any(np.allclose(row, [best["x"], best["y"]]) for row in modelled)


def test_parallel_workers_get_untried_points_until_the_initial_results_are_in():
    """The GP starts on `initial_points` results, not on a few results and many pending guesses."""
    space = {"x": Uniform(uniform=(0.0, 1.0)), "y": Uniform(uniform=(0.0, 1.0))}
    searcher = BayesOptSearcher(space, "s", "max", BayesOptOptions(initial_points=4), seed=0)
    first = {f"t{i}": searcher.suggest(f"t{i}") for i in range(4)}  # four workers start together
    for trial in ("t0", "t1"):
        searcher.on_trial_complete(trial, {"s": first[trial]["x"]})
    searcher.suggest("t4"), searcher.suggest("t5")  # two results in, four trials running
    assert searcher.kernel is None  # no model fitted yet
    for trial in ("t2", "t3"):
        searcher.on_trial_complete(trial, {"s": first[trial]["x"]})
    searcher.suggest("t6")
    assert searcher.kernel is not None


def test_the_gp_fits_a_rung_with_fewer_results_than_the_job_has():
    """A 400-trial bayesopt+ASHA job crashed once more than max_fit_points trials had results:
    the kernel's fitting subset was drawn by the job's result count from a rung's fewer rows."""
    space = {"x": Uniform(uniform=(0.0, 1.0)), "y": Uniform(uniform=(0.0, 1.0))}
    searcher = BayesOptSearcher(space, "s", "max", BayesOptOptions(initial_points=3, max_fit_points=16), seed=0,
                                rungs=[1, 3])
    configs = {f"t{i}": searcher.suggest(f"t{i}") for i in range(30)}
    for trial, config in configs.items():
        searcher.on_trial_result(trial, {"s": config["x"], "training_iteration": 1})
    promoted = list(configs)[:6]
    for trial in promoted:
        searcher.on_trial_result(trial, {"s": 1 + configs[trial]["y"], "training_iteration": 3})
    for trial in list(configs)[6:]:
        searcher.on_trial_complete(trial, {"s": configs[trial]["x"]})  # stopped at rung 1
    assert len(searcher.optimizer.space) == 24 > 16 and len(searcher._rung_observations()[1]) == 6
    config = searcher.suggest("t30")
    assert 0 <= config["x"] <= 1 and 0 <= config["y"] <= 1


def _forest(space: dict, mode: str = "max", rungs: list[int] | None = None, **options: Any) -> Any:
    spec = SEARCHES.get("forest").model_validate({"algorithm": "forest", "seed": 0, "options": options})
    return spec.build(space, "s", mode, rungs=rungs)


@pytest.mark.parametrize("mode", ["max", "min"])
def test_under_rungs_the_forest_ranks_trials_by_the_highest_rung_reached_then_by_their_value(mode):
    """One scale for every trial: promoted further ranks above stopped earlier, whatever the values."""
    sign = 1 if mode == "max" else -1
    forest = _forest({"x": Uniform(uniform=(0.0, 1.0))}, mode, rungs=[1, 3, 9])
    runs = {"stopped_low": {1: 0.1}, "stopped_high": {1: 0.9}, "stopped_mid": {1: 0.5}, "further": {1: 0.6, 3: 0.2},
            "finished": {1: 0.2, 3: 0.3, 9: 0.05}}
    for trial, values in runs.items():
        forest.ask(trial)
        for iteration, value in values.items():
            forest.observe(trial, iteration, sign * value)
        forest.observe(trial, 2, sign * 99.0)  # not a rung: not a score
        forest.tell(trial, sign * list(values.values())[-1])
    forest.ask("failed")
    forest.tell("failed", None)
    scores = forest._scores()
    assert sorted(scores, key=scores.get) == ["failed", "stopped_low", "stopped_mid", "stopped_high", "further", "finished"]
    assert scores["failed"] == 0.0 and scores["finished"] < 1.0


def test_the_forest_learns_where_the_good_region_is_from_trials_stopped_at_the_first_rung():
    """Every trial stops at rung 1, as most do under ASHA: the model still steers to where rung 1 was best."""
    space = {"x": Uniform(uniform=(0.0, 1.0)), "kind": Choice(choice=["a", "b"])}

    def rung_one(config: dict[str, Any]) -> float:
        return -((config["x"] - 0.8) ** 2) - (0.2 if config["kind"] == "a" else 0.0)

    forest = _forest(space, rungs=[1, 3, 9], initial_points=10)
    suggested = []
    for i in range(40):
        config = forest.ask(f"t{i}")
        suggested.append(config)
        forest.observe(f"t{i}", 1, rung_one(config))
        forest.tell(f"t{i}", rung_one(config))
    later = suggested[20:]
    assert np.median([abs(c["x"] - 0.8) for c in later]) < 0.1  # random draws: about 0.3
    assert sum(c["kind"] == "b" for c in later) >= 16


def test_the_forest_without_rungs_models_final_values_and_refits_as_trials_grow():
    forest = _forest({"x": Uniform(uniform=(0.0, 1.0))}, "min", initial_points=5)
    for i in range(60):
        config = forest.ask(f"t{i}")
        forest.tell(f"t{i}", (config["x"] - 0.3) ** 2)
    assert forest.fitted_on < 60  # past the first trials the forest is refitted as they grow by 3%, not each time
    assert abs(forest.ask("next")["x"] - 0.3) < 0.1


def test_the_result_ray_stops_a_trial_on_reaches_the_algorithm_through_on_trial_complete_only():
    """Ray skips ``on_trial_result`` for the result a scheduler stops a trial on, and ASHA stops every
    trial at ``max_t``: the adapter observes that result at completion, so TPE is told a finished trial
    as finished (not as pruned at rung 3) and a stopped one with its value at the rung it was stopped on."""
    import optuna

    space = {"x": Uniform(uniform=(0.0, 1.0))}
    spec = SEARCHES.get("tpe").model_validate({"algorithm": "tpe", "seed": 0})
    searcher = RaySearcher(spec.build(space, "s", "max", rungs=[1, 3, 9]), "s", "max")
    for trial, last in (("finished", 9), ("stopped", 3)):
        searcher.suggest(trial)
        for iteration in (1, 3, 9)[:(1, 3, 9).index(last)]:
            searcher.on_trial_result(trial, {"s": iteration / 10, "training_iteration": iteration})
        searcher.on_trial_complete(trial, {"s": last / 10, "training_iteration": last})
    finished, stopped = searcher.search.study.trials
    assert finished.state == optuna.trial.TrialState.COMPLETE and finished.intermediate_values == {1: 0.1, 3: 0.3, 9: 0.9}
    assert stopped.state == optuna.trial.TrialState.PRUNED and stopped.intermediate_values == {1: 0.1, 3: 0.3}
