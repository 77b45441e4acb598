"""The GP kernel over a search space: one length scale for the numeric dimensions (all on
[0, 1]), and, when there are categoricals, a separate kernel on their one-hot columns.

A single isotropic kernel over numeric and one-hot columns together let BayesOpt lock onto the
first good category (bench/bayesopt_quality.py, mixed: regret 0.40 at 30 evaluations, stuck on the
wrong optimizer in 5 of 10 seeds). ``k_num * k_cat + c * k_cat`` (as in CoCaBO, Ru et al. 2020)
keeps interactions and also learns each category's overall offset from every observation
(regret 0.013).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.gaussian_process.kernels import ConstantKernel, Exponentiation, Kernel, Matern, WhiteKernel

LENGTH_SCALE_BOUNDS = (0.01, 100.0)
NOISE_BOUNDS = (1e-6, 1.0)  # of the standardised targets' variance


class OnColumns(Exponentiation):
    """``kernel`` applied to some columns only (Exponentiation with exponent 1 already delegates
    the hyperparameters under ``kernel__``)."""

    def __init__(self, kernel: Kernel, columns: tuple[int, ...]) -> None:
        self.kernel = kernel
        self.columns = columns  # as given: sklearn's clone() checks that parameters are kept as is
        self.exponent = 1

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params: dict[str, Any] = {"kernel": self.kernel, "columns": self.columns}
        if deep:
            params.update(("kernel__" + key, value) for key, value in self.kernel.get_params().items())
        return params

    def __call__(self, X: Any, Y: Any = None, eval_gradient: bool = False) -> Any:  # noqa: N803 (sklearn's names)
        cols = list(self.columns)
        return self.kernel(np.asarray(X)[:, cols], None if Y is None else np.asarray(Y)[:, cols],
                           eval_gradient=eval_gradient)

    def diag(self, X: Any) -> Any:  # noqa: N803
        return self.kernel.diag(np.asarray(X)[:, list(self.columns)])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OnColumns) and self.kernel == other.kernel and self.columns == other.columns

    def __hash__(self) -> int:
        return hash((type(self), self.columns))

    def __repr__(self) -> str:
        return f"{self.kernel}[columns {list(self.columns)}]"


def _matern() -> Matern:
    return Matern(length_scale=1.0, length_scale_bounds=LENGTH_SCALE_BOUNDS, nu=2.5)


def space_kernel(categorical_columns: np.ndarray, noise: bool = True) -> Kernel:
    """The kernel for a space whose one-hot categorical columns are marked True; with ``noise``, a
    fitted white-noise term (trainings with the same configuration rarely give the same result)."""
    mask = np.asarray(categorical_columns, dtype=bool)
    categorical = tuple(int(c) for c in np.flatnonzero(mask))
    numeric = tuple(int(c) for c in np.flatnonzero(~mask))
    if not categorical or not numeric:
        kernel: Kernel = _matern()
    else:
        on_categories = OnColumns(_matern(), categorical)
        kernel = OnColumns(_matern(), numeric) * on_categories + ConstantKernel(1.0, (1e-3, 1e2)) * OnColumns(_matern(), categorical)
    return kernel + WhiteKernel(1e-2, NOISE_BOUNDS) if noise else kernel
