"""Rows of dicts as Arrow tables, the one way every results file is written: columns in a stable
order, and one type per column even when trials disagree (mixed choices become strings)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa


def arrow_table(rows: list[dict[str, Any]], first: tuple[str, ...] = ()) -> pa.Table:
    """Rows as a table: the ``first`` columns first, then every other key in order of appearance."""
    columns: dict[str, None] = dict.fromkeys(first)
    for row in rows:
        columns.update(dict.fromkeys(row))
    return pa.table({name: _arrow_column([row.get(name) for row in rows]) for name in columns})


def _arrow_column(values: list[Any]) -> pa.Array:
    """Native types where the values agree on one; strings where they do not (mixed choices)."""
    try:
        array = pa.array(values)
        # An all-null column (no trial failed yet) is still typed, so readers see one schema.
        return array.cast(pa.string()) if pa.types.is_null(array.type) else array
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
