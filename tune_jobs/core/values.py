"""How values are shown and compared everywhere: as a user wrote them, in a table cell, and the
two questions every reader and writer asks ("is this a usable number?", "is this better under the
job's mode?"). Pure Python, at the bottom of the import graph."""

from __future__ import annotations

import math
from typing import Any, TypeGuard


def show(value: Any) -> str:
    """A value as a user wrote it: ``0`` not ``0.0``, strings quoted, ``true`` as YAML writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def cell(value: Any) -> str:
    """A value in a table of results: four significant digits, ``-`` when missing or NaN."""
    if value is None or value != value:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def is_finite_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def plain(value: Any) -> Any:
    """numpy scalars -> Python values (for JSON, YAML, searchers and trackers)."""
    return value.item() if hasattr(value, "item") else value


def is_better(value: float, than: float | None, mode: str) -> bool:
    """Is ``value`` better than ``than`` (None: nothing yet) when the job maximises or minimises?"""
    return than is None or (value > than if mode == "max" else value < than)


def best_of(values: list[float], mode: str) -> float:
    return max(values) if mode == "max" else min(values)
