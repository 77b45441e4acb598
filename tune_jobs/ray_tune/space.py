"""Spec parameters -> Ray Tune samplers (integer bounds are inclusive in the spec, exclusive in Ray)."""

from __future__ import annotations

from typing import Any

from ray import tune

from tune_jobs.space import Choice, Grid, LogRandInt, LogUniform, Ordinal, Param, RandInt, Uniform


def to_ray(param: Param, *, choices_as_grid: bool = False) -> Any:
    if isinstance(param, Uniform):
        return tune.uniform(*param.bounds)
    if isinstance(param, LogUniform):
        return tune.loguniform(*param.bounds)
    if isinstance(param, RandInt):
        low, high = param.bounds
        return tune.randint(low, high + 1)
    if isinstance(param, LogRandInt):
        low, high = param.bounds
        return tune.lograndint(low, high + 1)
    if isinstance(param, Grid) or (choices_as_grid and isinstance(param, (Choice, Ordinal))):
        return tune.grid_search(param.options)
    if isinstance(param, (Choice, Ordinal)):  # random and TPE draw from the list; the GP orders ordinals itself
        return tune.choice(param.options)
    raise TypeError(f"no Ray sampler for {type(param).__name__}")


def param_space(config: dict[str, Any], space: dict[str, Param], *, choices_as_grid: bool = False) -> dict[str, Any]:
    """Fixed values as they are, searched values as Ray samplers."""
    return {**config, **{key: to_ray(p, choices_as_grid=choices_as_grid) for key, p in space.items()}}
