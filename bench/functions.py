"""Test functions for search quality, with their spaces in the job-spec form and known minima."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tune_jobs.space import Choice, LogUniform, Param, RandInt, Uniform


@dataclass(frozen=True)
class Problem:
    name: str
    space: dict[str, Param]
    function: Callable[[dict[str, Any]], float]
    minimum: float


def branin(c: dict[str, Any]) -> float:
    x1, x2 = c["x1"], c["x2"]
    b, cc, r, s, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 6, 10, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + cc * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


_H_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(c: dict[str, Any]) -> float:
    x = np.array([c[f"x{i}"] for i in range(1, 7)])
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1))))


def mixed(c: dict[str, Any]) -> float:
    """A tuning-like surface: log learning rate, a float, two ints and a categorical.

    Minimum 0 at lr = 1e-2, dropout = 0.2, layers = 3, width = 96, optimizer = adam.
    """
    offset = {"sgd": 0.6, "adam": 0.0, "rmsprop": 0.3}[c["optimizer"]]
    return float(
        (math.log10(c["lr"]) + 2) ** 2
        + 4 * (c["dropout"] - 0.2) ** 2
        + 0.15 * (c["layers"] - 3) ** 2
        + ((c["width"] - 96) / 64) ** 2
        + offset
    )


PROBLEMS = [
    Problem("branin", {"x1": Uniform(uniform=(-5.0, 10.0)), "x2": Uniform(uniform=(0.0, 15.0))}, branin, 0.397887),
    Problem("hartmann6", {f"x{i}": Uniform(uniform=(0.0, 1.0)) for i in range(1, 7)}, hartmann6, -3.32237),
    Problem("mixed", {
        "lr": LogUniform(loguniform=(1e-5, 1.0)),
        "dropout": Uniform(uniform=(0.0, 0.6)),
        "layers": RandInt(randint=(1, 8)),
        "width": RandInt(randint=(16, 256)),
        "optimizer": Choice(choice=["sgd", "adam", "rmsprop"]),
    }, mixed, 0.0),
]
