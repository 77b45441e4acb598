"""Every use of a private bayes_opt internal, in one place (tested against bayesian-optimization
3.x; pyproject pins the range). When an upgrade breaks one, this is the list to check."""

from __future__ import annotations

from typing import Any

import numpy as np


def gp_of(optimizer: Any) -> Any:
    """The scikit-learn GP a ``BayesianOptimization`` holds, which the model fits itself (on a
    subset, with its kernel refit only now and then) instead of letting bayes_opt refit it."""
    return optimizer._gp


def hedge_update(acquisition: Any, gp: Any) -> None:
    """GP-Hedge: credit each base acquisition with how its last proposal scores on the refit GP."""
    acquisition._update_gains(gp)


def hedge_pick(acquisition: Any, proposals: list[Any], rng: np.random.RandomState) -> Any:
    """GP-Hedge: one base acquisition's proposal, drawn by the softmax of their gains."""
    return proposals[acquisition._sample_idx_from_softmax_gains(random_state=rng)]
