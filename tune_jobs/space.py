"""Search-space parameters of the job spec, each a one-key mapping such as ``{loguniform: [a, b]}``.

Each class checks its own invariants and names the value that broke them. Integer bounds are
inclusive. Nothing here imports Ray: ``tune_jobs.ray_space`` turns these into Ray samplers.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, StrictInt, Tag, model_validator


def show(value: Any) -> str:
    """A value as a user wrote it: ``0`` not ``0.0``, strings quoted."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def cell(value: Any) -> str:
    """A value in a table of results: four significant digits, ``-`` when missing or NaN."""
    if value is None or value != value:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class Param(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str = ""  # set by each subclass; the YAML key

    @property
    def is_numeric(self) -> bool:
        return False

    def values(self) -> list[Any]:
        """Every value this parameter can take that a trainable config must accept."""
        raise NotImplementedError


class _Range(Param):
    """A numeric range ``[low, high]``; subclasses set the bound type and extra rules."""

    @property
    def bounds(self) -> tuple[Any, Any]:
        return getattr(self, self.kind)

    @property
    def is_numeric(self) -> bool:
        return True

    @property
    def log(self) -> bool:
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
        if self.log and low <= 0:
            raise ValueError(f"{self.kind} lower bound must be > 0, got {show(low)}")
        if self.is_int and low > high:
            raise ValueError(f"{self.kind} lower bound {show(low)} is above upper bound {show(high)}")
        if not self.is_int and low >= high:
            raise ValueError(f"{self.kind} lower bound {show(low)} must be below upper bound {show(high)}")
        if not self.is_int and not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"{self.kind} bounds must be finite, got [{show(low)}, {show(high)}]")
        return self


class Uniform(_Range):
    kind: str = "uniform"
    uniform: tuple[float, float]


class LogUniform(_Range):
    kind: str = "loguniform"
    loguniform: tuple[float, float]


class RandInt(_Range):
    kind: str = "randint"
    randint: tuple[StrictInt, StrictInt]


class LogRandInt(_Range):
    kind: str = "lograndint"
    lograndint: tuple[StrictInt, StrictInt]


class _Categorical(Param):
    @property
    def options(self) -> list[Any]:
        return list(getattr(self, self.kind))

    def values(self) -> list[Any]:
        return self.options

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
    """One value drawn per trial (categorical for model-based searches)."""

    kind: str = "choice"
    choice: list[Any]


class Grid(_Categorical):
    """Every value is tried, crossed with the other grid keys (Ray ``grid_search`` semantics)."""

    kind: str = "grid"
    grid: list[Any]


PARAM_TYPES: dict[str, type[Param]] = {
    cls.model_fields["kind"].default: cls
    for cls in (Uniform, LogUniform, RandInt, LogRandInt, Choice, Grid)
}


def _param_tag(value: Any) -> str | None:
    if isinstance(value, Param):
        return value.kind
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
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
