"""Multi-fidelity test functions of the literature as trainables that report every epoch at no
cost: each epoch is a fidelity, so schedulers and model-based searches run at job sizes of
thousands of trials in minutes.

- ``mf_hartmann6``: the 6-D Hartmann function with its coefficients lowered by ``0.1 * (1 - z)``
  at fidelity ``z`` = epoch / epochs (Kandasamy et al., BOCA, 2017), negated so that higher is
  better (optimum 3.32237 at the last epoch).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.functions import _H_A, _H_ALPHA, _H_P

HARTMANN6_OPTIMUM = 3.32237


def mf_hartmann6_value(x: np.ndarray, fidelity: float) -> float:
    alpha = _H_ALPHA - 0.1 * (1.0 - fidelity)
    return float(np.sum(alpha * np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1))))


def mf_hartmann6(config: dict[str, Any], report: Any) -> None:
    """Config ``x1``..``x6`` in [0, 1] and ``epochs``; reports ``score`` every epoch."""
    x = np.array([config[f"x{i}"] for i in range(1, 7)])
    epochs = int(config.get("epochs", 27))
    for epoch in range(1, epochs + 1):
        report({"score": mf_hartmann6_value(x, epoch / epochs)})


def space() -> dict[str, Any]:
    return {f"x{i}": {"uniform": [0.0, 1.0]} for i in range(1, 7)}
