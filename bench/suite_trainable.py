"""The trainable of ``bench/search_suite.py --engine run``: one query of a tabular benchmark, as a
user trainable (no Ray), sleeping a scaled-down training time so trials finish in a realistic order."""

from __future__ import annotations

import time
import zlib
from typing import Any

import numpy as np

from bench.tabular_problems import tabular_problem

TIME_SCALE = 0.002  # seconds slept per second of recorded training


def evaluate(config: dict[str, Any], report: Any) -> None:
    problem = tabular_problem(config["family"], config["dataset"])
    keys = sorted(problem.values)
    # The training seed a query sees is drawn from the job's seed and the configuration.
    rng = np.random.default_rng([int(config["noise_seed"]), zlib.crc32(repr([config[k] for k in keys]).encode())])
    value, seconds = problem.observe(config, rng)
    time.sleep(min(seconds * TIME_SCALE, 2.0))
    report({problem.metric: value, "train_time": seconds})
