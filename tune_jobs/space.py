"""Search-space parameters of the job spec, each a one-key mapping such as ``{loguniform: [a, b]}``.

Each class checks its own invariants and names the value that broke them. Integer bounds are
inclusive. Nothing here imports Ray: ``tune_jobs.ray_tune.space`` turns these into Ray samplers.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictFloat, StrictInt, Tag, model_validator

from tune_jobs.core.values import is_finite_number, show


class Param(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    kind: str = ""  # set by each subclass; the YAML key

    @property
    def is_numeric(self) -> bool:
        return False

    @property
    def log_scale(self) -> bool:
        """Numeric parameters searched and shown on a log axis."""
        return False

    @property
    def is_int(self) -> bool:
        return False

    def values(self) -> list[Any]:
        """Every value this parameter can take that a trainable config must accept."""
        raise NotImplementedError

    def written(self) -> dict[str, Any]:
        """The parameter as a job spec writes it (``{loguniform: [a, b]}``)."""
        return {self.kind: list(self.values())}

    def sample(self, rng: np.random.RandomState) -> Any:
        """One value drawn at random, with the draws Ray Tune's sampler for this parameter makes
        from the same generator (so a seeded random search draws what it drew through Ray)."""
        raise NotImplementedError(f"{self.kind} is not drawn at random")


class _Range(Param):
    """A numeric range ``[low, high]``; subclasses set the bound type and extra rules."""

    @property
    def bounds(self) -> tuple[Any, Any]:
        return getattr(self, self.kind)

    @property
    def is_numeric(self) -> bool:
        return True

    @property
    def log_scale(self) -> bool:
        return self.kind.startswith("log")

    @property
    def is_int(self) -> bool:
        return self.kind.endswith("randint")

    def values(self) -> list[Any]:
        return list(self.bounds)

    @model_validator(mode="before")
    @classmethod
    def _two_bounds(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) == 1:
            kind, value = next(iter(data.items()))
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise ValueError(f"{kind} needs [low, high], got {show(value)}")
        return data

    @model_validator(mode="after")
    def _check_bounds(self) -> _Range:
        low, high = self.bounds
        if self.log_scale and low <= 0:
            raise ValueError(f"{self.kind} lower bound must be > 0, got {show(low)}")
        if self.is_int and low > high:
            raise ValueError(f"{self.kind} lower bound {show(low)} is above upper bound {show(high)}")
        if not self.is_int and low >= high:
            raise ValueError(f"{self.kind} lower bound {show(low)} must be below upper bound {show(high)}")
        if not self.is_int and not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"{self.kind} bounds must be finite, got [{show(low)}, {show(high)}]")
        return self


# YAML gives a list; its elements are numbers and never booleans (models are strict).
FloatBounds = Annotated[tuple[StrictFloat, StrictFloat], Field(strict=False)]
IntBounds = Annotated[tuple[StrictInt, StrictInt], Field(strict=False)]


class Uniform(_Range):
    kind: str = "uniform"
    uniform: FloatBounds

    def sample(self, rng: np.random.RandomState) -> Any:
        return float(rng.uniform(*self.bounds, size=1)[0])


class LogUniform(_Range):
    kind: str = "loguniform"
    loguniform: FloatBounds

    def sample(self, rng: np.random.RandomState) -> Any:
        low, high = self.bounds
        return float(np.exp(rng.uniform(np.log(low), np.log(high), size=1))[0])


class RandInt(_Range):
    kind: str = "randint"
    randint: IntBounds

    def sample(self, rng: np.random.RandomState) -> Any:
        low, high = self.bounds
        return int(rng.randint(low, high + 1, size=1)[0])


class LogRandInt(_Range):
    kind: str = "lograndint"
    lograndint: IntBounds

    def sample(self, rng: np.random.RandomState) -> Any:
        low, high = self.bounds
        return int(np.floor(np.exp(rng.uniform(np.log(low), np.log(high + 1), size=1)))[0])


class _Categorical(Param):
    @property
    def options(self) -> list[Any]:
        return list(getattr(self, self.kind))

    def values(self) -> list[Any]:
        return self.options

    def sample(self, rng: np.random.RandomState) -> Any:
        return self.options[rng.choice(np.arange(0, len(self.options)), size=1)[0]]

    @model_validator(mode="after")
    def _check_options(self) -> _Categorical:
        options = self.options
        if not options:
            raise ValueError(f"{self.kind} needs at least one value, got []")
        seen: list[Any] = []
        for option in options:
            if option in seen:
                raise ValueError(f"{self.kind} lists {show(option)} twice")
            seen.append(option)
        return self


class Choice(_Categorical):
    """One value drawn per trial. Model-based searches treat a list of numbers as ordered (see
    ``Ordinal``) unless their options say otherwise; any other list is a categorical."""

    kind: str = "choice"
    choice: list[Any]

    @property
    def all_numbers(self) -> bool:
        return len(self.options) >= 2 and all(is_finite_number(v) for v in self.options)


def numeric_positions(values: list[float], log: bool | None) -> tuple[list[float], bool]:
    """Each value's place on [0, 1] along its own (log) scale, and whether the scale is log: by
    default when the values are positive and spread over more than a factor of 10."""
    low, high = min(values), max(values)
    if log is None:
        log = low > 0 and high / low > 10
    to_axis = math.log if log else float
    span = (to_axis(high) - to_axis(low)) or 1.0
    return [(to_axis(v) - to_axis(low)) / span for v in values], log


class Ordinal(Param):
    """Ordered numbers (``ordinal: [16, 32, 64, 128]``): a trial takes one of them, and model-based
    searches see neighbours as neighbours, on a log scale when the values are positive and spread
    over more than a factor of 10 (or ``log: true``). Kept in increasing order."""

    kind: str = "ordinal"
    ordinal: list[StrictInt | StrictFloat]
    log: bool | None = None

    @property
    def options(self) -> list[int | float]:
        return list(self.ordinal)

    @property
    def is_numeric(self) -> bool:
        return True

    @property
    def is_int(self) -> bool:
        return all(isinstance(v, int) for v in self.ordinal)

    @property
    def bounds(self) -> tuple[int | float, int | float]:
        return self.ordinal[0], self.ordinal[-1]

    @property
    def log_scale(self) -> bool:
        return numeric_positions(self.ordinal, self.log)[1]

    @property
    def positions(self) -> list[float]:
        return numeric_positions(self.ordinal, self.log)[0]

    def values(self) -> list[Any]:
        return self.options

    def written(self) -> dict[str, Any]:
        return {self.kind: self.options, **({"log": self.log} if self.log is not None else {})}

    def sample(self, rng: np.random.RandomState) -> Any:
        return self.options[rng.choice(np.arange(0, len(self.options)), size=1)[0]]

    @model_validator(mode="after")
    def _check_values(self) -> Ordinal:
        values = self.ordinal
        if not values:
            raise ValueError("ordinal needs at least one value, got []")
        for value in values:
            if not math.isfinite(value):
                raise ValueError(f"ordinal values must be finite, got {show(value)}")
            if values.count(value) > 1:
                raise ValueError(f"ordinal lists {show(value)} twice")
        if self.log and min(values) <= 0:
            raise ValueError(f"ordinal with log: true needs values > 0, got {show(min(values))}")
        object.__setattr__(self, "ordinal", sorted(values))
        return self


class Grid(_Categorical):
    """Every value is tried, crossed with the other grid keys (Ray ``grid_search`` semantics)."""

    kind: str = "grid"
    grid: list[Any]


PARAM_TYPES: dict[str, type[Param]] = {
    cls.model_fields["kind"].default: cls
    for cls in (Uniform, LogUniform, RandInt, LogRandInt, Choice, Grid, Ordinal)
}


def _param_tag(value: Any) -> str | None:
    if isinstance(value, Param):
        return value.kind
    if isinstance(value, dict) and value:
        key = next(iter(value))  # the type comes first; later keys are its settings (ordinal's log)
        return key if key in PARAM_TYPES else None
    return None


SpaceParam: Any = Annotated[
    Union[tuple(Annotated[cls, Tag(name)] for name, cls in PARAM_TYPES.items())],  # type: ignore[valid-type]
    Discriminator(
        _param_tag,
        custom_error_type="space_param",
        custom_error_message=f"expected one of {{{', '.join(PARAM_TYPES)}}} with its values",
    ),
]
