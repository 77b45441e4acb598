"""How the GP sees a spec parameter: numbers on [0, 1] (log ranges through their logs), a
categorical as bayes_opt's categorical over its indices; snapping a coordinate to a value that can
run, and the single-key moves the local search makes."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tune_jobs.space import Choice, LogRandInt, LogUniform, Ordinal, Param, RandInt, Uniform, numeric_positions

FLOAT_STEPS = (0.02, 0.08, 0.25)  # single-key moves of a float, as a share of its range


class Encoding:
    """One spec parameter <-> its bayes_opt bound and value. Numeric dimensions live on [0, 1]
    (log ranges through their logs); a categorical is a bayes_opt categorical over its indices."""

    def __init__(self, param: Param, numbers_ordered: bool = True) -> None:
        self.param = param
        self.bound: Any
        self.decode: Callable[[Any], Any]
        self.encode: Callable[[Any], Any]
        self.places: np.ndarray | None = None  # every valid value on [0, 1], for lists and small int ranges
        self.is_float = False
        if isinstance(param, (Uniform, LogUniform)):
            log = isinstance(param, LogUniform)
            low, high = (math.log(b) for b in param.bounds) if log else map(float, param.bounds)
            span = high - low
            raw = param.bounds

            def decode(x: Any) -> float:
                value = low + float(x) * span
                return float(min(max(math.exp(value) if log else value, raw[0]), raw[1]))

            self.decode = decode
            self.encode = lambda v: ((math.log(v) if log else float(v)) - low) / span
            self.is_float = True
        elif isinstance(param, (RandInt, LogRandInt)):
            low, high = param.bounds
            log = isinstance(param, LogRandInt)
            to_axis = math.log if log else float
            axis_low, axis_span = to_axis(low), (to_axis(high) - to_axis(low)) or 1.0
            from_axis = math.exp if log else float
            self.decode = lambda x: int(min(max(round(from_axis(axis_low + float(x) * axis_span)), low), high))
            self.encode = lambda v: (to_axis(int(v)) - axis_low) / axis_span
            if high - low <= 4096:
                self.places = np.array([self.encode(v) for v in range(low, high + 1)])
        elif isinstance(param, Ordinal) or (numbers_ordered and isinstance(param, Choice) and param.all_numbers):
            # Ordered numbers: one dimension along the list's own (log) scale, so the GP sees
            # neighbours as neighbours; a point decodes to the nearest listed value.
            ordered = sorted(param.options)
            places = np.asarray(numeric_positions(ordered, param.log if isinstance(param, Ordinal) else None)[0])
            self.places = places
            self.decode = lambda x: ordered[int(np.argmin(np.abs(places - float(x))))]
            self.encode = lambda v: float(places[ordered.index(v)])
        elif isinstance(param, Choice):
            options = param.options
            # Labels, not ints: bayes_opt reads a two-element numeric list as float bounds.
            self.bound = [str(i) for i in range(len(options))]
            self.decode = lambda i: options[int(i)]
            self.encode = lambda v: str(options.index(v))
            return
        else:
            raise TypeError(f"bayesopt cannot search {param.kind}")
        self.bound = (0.0, 1.0)

    @property
    def is_categorical(self) -> bool:
        return isinstance(self.bound, list)

    def snap(self, u: np.ndarray) -> np.ndarray:
        """Numeric coordinates -> the coordinates of the values they decode to."""
        u = np.clip(u, 0.0, 1.0)
        if self.places is not None:
            return self.places[np.argmin(np.abs(u[:, None] - self.places[None, :]), axis=1)]
        if self.is_float:
            return u
        return np.array([self.encode(self.decode(x)) for x in u])

    def neighbours(self, u: float) -> list[float]:
        """The coordinates one step away: the next value of a list or int range, or a float nudged."""
        if self.places is not None:
            index = int(np.argmin(np.abs(self.places - u)))
            return [float(self.places[i]) for i in (index - 1, index + 1) if 0 <= i < len(self.places)]
        if self.is_float:
            return [min(max(u + sign * step, 0.0), 1.0) for step in FLOAT_STEPS for sign in (-1, 1)]
        value = self.decode(u)
        return [self.encode(v) for v in (value - 1, value + 1) if self.param.bounds[0] <= v <= self.param.bounds[1]]  # type: ignore[attr-defined]
