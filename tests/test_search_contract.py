"""Every registered search algorithm through the ask/tell contract, without Ray: configurations in
the space, reproducible with a seed, no repeats while untried ones remain (pending ones count),
failures and a pickle round trip mid-search. A throwaway algorithm registered here is held to the
same contract and then run by Ray through the one adapter."""

from __future__ import annotations

import math
import sys
from typing import Any, ClassVar, Literal

import cloudpickle
import pytest

from tests.spaces import MIXED
from tune_jobs.search import SEARCHES
from tune_jobs.search.base import NoOptions, SearchSpec
from tune_jobs.space import Choice, Ordinal, Param

SMALL = {"optimizer": Choice(choice=["sgd", "adam"]), "batch": Ordinal(ordinal=[16, 32, 64])}  # 6 configurations


def objective(config: dict[str, Any]) -> float:
    return -((math.log10(config["lr"]) + 2) ** 2) - config["dropout"] + 0.1 * config["layers"] \
        + (0.2 if config["optimizer"] == "adam" else 0.0) - abs(math.log2(config["width"]) - 6) / 10


def small_objective(config: dict[str, Any]) -> float:
    return (config["optimizer"] == "adam") + math.log2(config["batch"]) / 10


def build(name: str, space: dict[str, Param], seed: int = 0, trials: int = 40) -> Any:
    spec = SEARCHES.get(name).model_validate({"algorithm": name, "seed": seed, "num_samples": trials})
    if spec.draws_with_ray(space):
        pytest.skip(f"{name}: Ray's variant generator draws the trials")
    return spec.build(space, "score", "max")


def in_space(config: dict[str, Any], space: dict[str, Param]) -> bool:
    def fits(value: Any, param: Param) -> bool:
        if isinstance(param, (Choice, Ordinal)):
            return value in param.options
        low, high = param.bounds
        return low <= value <= high and (isinstance(value, int) == param.is_int)

    return set(config) == set(space) and all(fits(config[key], param) for key, param in space.items())


def run_sequentially(search: Any, space: dict[str, Param], function: Any, trials: int) -> list[dict[str, Any]]:
    configs = []
    for i in range(trials):
        config = search.ask(f"t{i}")
        configs.append(config)
        search.observe(f"t{i}", 1, function(config))
        search.tell(f"t{i}", function(config) if i % 5 != 3 else None)  # every fifth trial fails
    return configs


def same_config(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Floats equal to rounding (BLAS may differ in the last bit between two copies), the rest exactly."""
    floats = {k for k, v in a.items() if isinstance(v, float)}
    return a.keys() == b.keys() and all(b[k] == pytest.approx(a[k], rel=1e-6) for k in floats) and \
        all(a[k] == b[k] for k in a.keys() - floats)


def check_contract(name: str) -> None:
    configs = run_sequentially(build(name, MIXED, seed=7), MIXED, objective, 12)
    assert all(in_space(config, MIXED) for config in configs), configs
    again = run_sequentially(build(name, MIXED, seed=7), MIXED, objective, 12)
    assert all(same_config(a, b) for a, b in zip(configs, again, strict=True))  # reproducible with a seed
    small = run_sequentially(build(name, SMALL), SMALL, small_objective, 6)
    assert len({repr(sorted(c.items())) for c in small}) == 6, small  # every configuration once
    pending = build(name, SMALL)
    asked = [pending.ask(f"p{i}") for i in range(6)]  # six workers free at once, nothing told yet
    assert len({repr(sorted(c.items())) for c in asked}) == 6, asked
    search = build(name, MIXED, seed=3)
    run_sequentially(search, MIXED, objective, 8)
    copy = cloudpickle.loads(cloudpickle.dumps(search))
    assert same_config(search.ask("next"), copy.ask("next"))  # a restored copy goes on identically


@pytest.mark.parametrize("name", SEARCHES.names())
def test_every_registered_algorithm_keeps_the_contract_without_ray(name):
    check_contract(name)


def test_the_search_package_imports_no_ray():
    import subprocess

    code = "import sys, tune_jobs.search, tune_jobs.search.bayesopt.model, tune_jobs.search.optuna_study; " \
           "print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


class FirstUntried:
    """A throwaway algorithm: random configurations, none asked twice while others are likely left."""

    def __init__(self, space: dict[str, Param], seed: int | None) -> None:
        import numpy as np

        self.space, self.rng, self.asked = space, np.random.RandomState(seed), set()

    def ask(self, trial_id: str) -> dict[str, Any] | None:
        for _ in range(100):
            config = {key: param.sample(self.rng) for key, param in self.space.items()}
            if repr(sorted(config.items())) not in self.asked:
                break
        self.asked.add(repr(sorted(config.items())))
        return config

    def observe(self, trial_id: str, iteration: int, value: float) -> None:
        pass

    def tell(self, trial_id: str, value: float | None) -> None:
        pass


@pytest.fixture
def throwaway():
    @SEARCHES.register("first_untried")
    class FirstUntriedSearch(SearchSpec):
        algorithm: Literal["first_untried"] = "first_untried"
        options: NoOptions = NoOptions()
        default_num_samples: ClassVar[int] = 4

        def build(self, space: dict[str, Param], metric: str, mode: str, rungs: list[int] | None = None) -> Any:
            return FirstUntried(space, self.seed)

    yield "first_untried"
    SEARCHES.remove("first_untried")


def test_a_new_algorithm_is_one_class_held_to_the_contract_and_run_by_a_job(throwaway, ray_session, tmp_path):
    """Registered after import, as a plugin would be: a job spec names it and a real job runs it."""
    import tune_jobs

    assert throwaway in SEARCHES.names()
    check_contract(throwaway)

    def trainable(config, report):
        report({"score": small_objective(config)})

    space = {"optimizer": {"choice": ["sgd", "adam"]}, "batch": {"ordinal": [16, 32, 64]}}  # SMALL, as a spec writes it
    result = tune_jobs.run({"name": "first-untried", "trainable": trainable, "metric": "score", "mode": "max",
                            "space": space, "search": {"algorithm": throwaway, "num_samples": 6, "seed": 0},
                            "storage": str(tmp_path), "tensorboard": False})
    assert result.spec["search"]["algorithm"] == throwaway
    configs = set(zip(result.trials["config/optimizer"], result.trials["config/batch"], strict=True))
    assert len(result.trials) == 6 and len(configs) == 6 and (result.trials.status == "completed").all()
