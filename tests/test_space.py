"""Spec parameters become Ray samplers with the spec's (inclusive) bounds."""

import math
import random

import pytest

pytest.importorskip("ray")
from ray.tune.search.sample import Domain  # noqa: E402

from tune_jobs.ray_tune.space import param_space, to_ray  # noqa: E402
from tune_jobs.space import Choice, Grid, LogRandInt, LogUniform, RandInt, Uniform  # noqa: E402


def draws(domain: Domain, n: int = 4000) -> list:
    random.seed(0)
    import numpy as np

    return list(domain.sample(size=n, random_state=np.random.default_rng(0)))


def test_integer_bounds_are_inclusive():
    values = draws(to_ray(RandInt(randint=(1, 3))))
    assert set(values) == {1, 2, 3}
    values = draws(to_ray(LogRandInt(lograndint=(1, 4))))
    assert set(values) == {1, 2, 3, 4}


def test_log_uniform_is_uniform_in_log_space():
    values = draws(to_ray(LogUniform(loguniform=(1e-4, 1e-0))))
    assert all(1e-4 <= v <= 1 for v in values)
    below = sum(v < 1e-2 for v in values) / len(values)
    assert math.isclose(below, 0.5, abs_tol=0.05)  # half the draws below the geometric middle


def test_uniform_and_choice():
    assert all(0.2 <= v <= 0.4 for v in draws(to_ray(Uniform(uniform=(0.2, 0.4)))))
    assert set(draws(to_ray(Choice(choice=["sgd", "adam"])))) == {"sgd", "adam"}


def test_grid_and_choices_as_grid():
    assert to_ray(Grid(grid=[1, 2])) == {"grid_search": [1, 2]}
    assert to_ray(Choice(choice=[1, 2]), choices_as_grid=True) == {"grid_search": [1, 2]}
    space = param_space({"epochs": 3}, {"lr": Uniform(uniform=(0.1, 0.2))})
    assert space["epochs"] == 3 and isinstance(space["lr"], Domain)


def test_ordinal_values_are_sorted_checked_and_drawn_from_the_list():
    from pydantic import ValidationError

    from tune_jobs.space import Ordinal

    param = Ordinal(ordinal=[64, 16, 32])
    assert param.options == [16, 32, 64] and param.bounds == (16, 64) and param.is_int and not param.log_scale
    assert Ordinal(ordinal=[16, 256]).log_scale and not Ordinal(ordinal=[16, 256], log=False).log_scale
    assert Ordinal(ordinal=[1, 2], log=True).written() == {"ordinal": [1, 2], "log": True}
    assert set(draws(to_ray(param))) == {16, 32, 64}
    assert to_ray(param, choices_as_grid=True) == {"grid_search": [16, 32, 64]}
    for bad, message in (([], "at least one value"), ([1, 1], "lists 1 twice"), ([True, 2], "valid integer"),
                         (["a"], "valid integer"), ([0, 1], "values > 0")):
        with pytest.raises(ValidationError, match=message):
            Ordinal(ordinal=bad, log=True if message == "values > 0" else None)


def test_a_parameter_draws_what_ray_drew_from_the_same_generator():
    """Random search draws without Ray now; a seeded job still gets the configurations it got."""
    import numpy as np

    from tune_jobs.space import Ordinal

    params = [Uniform(uniform=(-1.0, 3.0)), LogUniform(loguniform=(1e-5, 1e-1)), RandInt(randint=(2, 9)),
              LogRandInt(lograndint=(16, 512)), Choice(choice=["sgd", "adam", 3]), Ordinal(ordinal=[8, 16, 32])]
    ours, rays = np.random.RandomState(4), np.random.RandomState(4)
    for _ in range(200):
        for param in params:
            drawn, expected = param.sample(ours), to_ray(param).sample(random_state=rays)
            assert drawn == expected and type(drawn) is type(expected), (param.kind, drawn, expected)
