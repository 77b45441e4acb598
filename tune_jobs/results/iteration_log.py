"""``iterations.parquet`` that costs what is new: while a job runs, each flush writes only the rows
reported since the last one, as a part file under ``iterations/``; at the end the parts are
compacted into ``iterations.parquet``, one file, sorted by trial and iteration.

Small parts are merged as they pile up, but never more than ``MERGE_ROWS`` rows at once, so no
flush rewrites the job's history. A row reported again (a retried or resumed trial going over an
iteration a second time) is written again; readers (``read_iterations``) see one table at any
moment: the compacted file and the parts, columns unified, each (trial, iteration) once, its
latest version. A kill between writing the compacted file and removing the parts leaves both;
readers keep one copy of each row, and the next compaction removes the rest.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from tune_jobs.results.files import ITERATIONS_FILE
from tune_jobs.results.schema import ITERATION_COLUMNS, TRIAL_ID
from tune_jobs.results.store import ResultsStore

PARTS_DIR = "iterations"
MERGE_ROWS = 10_000  # the most rows one merge of small parts rewrites
MERGE_PARTS = 8  # merge when this many small parts have piled up
ITERATION = "training_iteration"


def _part_name(number: int, merged: bool = False) -> str:
    return f"{PARTS_DIR}/part-{number:08d}{'-merged' if merged else ''}.parquet"


def _part_number(name: str) -> int:
    found = re.search(r"part-(\d+)", name)
    return int(found.group(1)) if found else -1


def _concat(tables: list[pa.Table]) -> pa.Table:
    """One table from tables whose columns differ (new metrics) or disagree on a type."""
    from tune_jobs.results.sink import arrow_table

    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pa.table({})
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return arrow_table([row for t in tables for row in t.to_pylist()], ITERATION_COLUMNS)


def _latest_each(table: pa.Table) -> pa.Table:
    """Each (trial, iteration) once, the last written copy, sorted."""
    if not table.num_rows:
        return table
    keys = table.select([TRIAL_ID, ITERATION]).to_pandas()
    keep = ~keys.duplicated(keep="last")
    if not keep.all():
        table = table.filter(pa.array(keep.to_numpy()))
    return table.sort_by([(TRIAL_ID, "ascending"), (ITERATION, "ascending")])


def _parts(store: ResultsStore) -> list[str]:
    return sorted(f"{PARTS_DIR}/{name}" for name in store.list(PARTS_DIR) if name.endswith(".parquet"))


def read_iterations(store: ResultsStore) -> pa.Table:
    """Every reported iteration of a job, running or finished, as one table."""
    tables = [store.read_table(ITERATIONS_FILE)] if store.exists(ITERATIONS_FILE) else []
    tables += [store.read_table(name) for name in _parts(store)]
    return _latest_each(_concat(tables))


class IterationLog:
    def __init__(self, store: ResultsStore) -> None:
        self.store = store
        self.pending: dict[tuple[str, int], dict[str, Any]] = {}
        self.small: list[tuple[str, int]] = []  # parts below MERGE_ROWS rows: (name, rows)
        self.next_part = 0

    def add(self, trial_id: str, row: dict[str, Any]) -> None:
        """A reported row; the same (trial, iteration) again replaces it."""
        self.pending[(trial_id, int(row[ITERATION]))] = {TRIAL_ID: trial_id, **row}

    def flush(self) -> None:
        if not self.pending:
            return
        from tune_jobs.results.sink import arrow_table

        rows = [self.pending[key] for key in sorted(self.pending)]
        name = _part_name(self.next_part)
        self.store.write_table(name, arrow_table(rows, ITERATION_COLUMNS))
        self.next_part += 1
        self.pending.clear()
        self.small.append((name, len(rows)))
        self._merge_small_parts()

    def _merge_small_parts(self) -> None:
        if len(self.small) < MERGE_PARTS:
            return
        chosen: list[str] = []
        total = 0
        for name, rows in self.small:
            if total + rows > MERGE_ROWS and chosen:
                break
            chosen.append(name)
            total += rows
        if len(chosen) < 2:
            self.small = [(n, r) for n, r in self.small if n not in chosen]  # too big to merge further
            return
        merged = _concat([self.store.read_table(name) for name in chosen])
        # Named after the newest part it holds, so parts written since still sort after it and a
        # row reported again there stays the latest copy.
        name = _part_name(_part_number(chosen[-1]), merged=True)
        self.store.write_table(name, merged)  # the new part first: a kill now leaves duplicates, not gaps
        for old in chosen:
            self.store.remove(old)
        self.small = [(n, r) for n, r in self.small if n not in chosen]
        if total < MERGE_ROWS:
            self.small.insert(0, (name, total))

    def compact(self) -> None:
        """All rows into ``iterations.parquet``, the parts removed (at the end of a job)."""
        self.flush()
        if not _parts(self.store):
            return
        self.store.write_table(ITERATIONS_FILE, read_iterations(self.store))
        self.store.remove(PARTS_DIR)
        self.small.clear()

    def load(self) -> pa.Table:
        """The rows of an earlier run of the job (resume); new parts are numbered after its parts."""
        table = read_iterations(self.store)
        parts = _parts(self.store)
        self.next_part = max((_part_number(p) for p in parts), default=-1) + 1
        return table
