"""``iterations.parquet`` that costs what is new, and that a reader can read while it grows.

While a job runs, each flush writes only the rows reported since the last one, as a part file
under ``iterations/``; small parts are merged as they pile up (never more than ``MERGE_ROWS`` rows
at once, so no flush rewrites the job's history); at the end everything is compacted into
``iterations.parquet``, one file sorted by trial and iteration.

Readers of a running job see a consistent snapshot through a manifest (``MANIFEST_FILE``), which
the writer replaces atomically (a rename on disk, a PUT on an object store) after the files it
names are written, and which lists, in write order, every file that holds live rows. A reader
reads the manifest, then the files it names. Files a merge or the final compaction superseded
leave the manifest at once but are deleted only ``RETIRE_AFTER_S`` later, so a reader that has
just read the manifest still finds them; one slower than that finds a file gone, reads the newer
manifest and starts again. Listing the directory instead raced the writer (a part merged away
between listing and reading it; a read between compaction and removal seeing neither), and a
listing on disk is not atomic. Because the manifest only ever grows in rows, no read returns
fewer rows than an earlier one.

A row reported again (a retried or resumed trial going over an iteration a second time) is
written again; readers keep each (trial, iteration) once, its latest version. A killed writer
may leave a part the manifest does not name yet, or superseded parts not yet deleted: the next
writer of the job (``IterationLog.load``) adopts every file on storage, as before manifests
existed, and results written before them are read the same way.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from tune_jobs.results.files import ITERATIONS_FILE
from tune_jobs.results.schema import ITERATION_COLUMNS, TRIAL_ID
from tune_jobs.results.store import ResultsStore

PARTS_DIR = "iterations"
MANIFEST_FILE = "iterations.manifest.json"
MERGE_ROWS = 10_000  # the most rows one merge of small parts rewrites
MERGE_PARTS = 8  # merge when this many small parts have piled up
RETIRE_AFTER_S = 30.0  # how long a superseded file outlives the manifest that dropped it
READ_ATTEMPTS = 20  # reads restarted from a newer manifest before a reader gives up
ITERATION = "training_iteration"


def _part_name(number: int, merged: bool = False) -> str:
    return f"{PARTS_DIR}/part-{number:08d}{'-merged' if merged else ''}.parquet"


def _part_number(name: str) -> int:
    found = re.search(r"part-(\d+)", name)
    return int(found.group(1)) if found else -1


def _concat(tables: list[pa.Table]) -> pa.Table:
    """One table from tables whose columns differ (new metrics) or disagree on a type."""
    from tune_jobs.results.tables import arrow_table

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


def _files_on_storage(store: ResultsStore) -> list[str]:
    """Every file that may hold rows, oldest first: what a writer adopts, and how results written
    before manifests are read (parts listed before the compacted file is looked for, so a read
    racing the final compaction finds one or the other)."""
    parts = _parts(store)
    return ([ITERATIONS_FILE] if store.exists(ITERATIONS_FILE) else []) + parts


def _snapshot(store: ResultsStore) -> list[str]:
    if store.exists(MANIFEST_FILE):
        try:
            return [str(name) for name in store.read_json(MANIFEST_FILE)["files"]]
        except FileNotFoundError:
            pass  # removed with its job between the two calls: read what is there
    return _files_on_storage(store)


def read_iterations(store: ResultsStore) -> pa.Table:
    """Every reported iteration of a job, running or finished, as one table (see the module's
    docstring for why a read never fails or goes backwards while the writer moves files)."""
    for attempt in range(READ_ATTEMPTS):
        names = _snapshot(store)
        try:
            return _latest_each(_concat([store.read_table(name) for name in names]))
        except (OSError, pa.ArrowInvalid):
            # A file superseded more than RETIRE_AFTER_S ago and deleted, or one replaced while it
            # was read on an object store: start again from a newer snapshot. A file that is there
            # and unreadable, with the snapshot unchanged, is a real error.
            settled = _snapshot(store) == names and all(store.exists(name) for name in names)
            if settled or attempt == READ_ATTEMPTS - 1:
                raise
            time.sleep(min(0.02 * 2**attempt, 0.5))
    raise AssertionError("unreachable")


class IterationLog:
    """The writer (the driver's only): ``add`` rows, ``flush`` them as a part, ``compact`` at the
    end; ``load`` first when resuming."""

    def __init__(self, store: ResultsStore) -> None:
        self.store = store
        self.pending: dict[tuple[str, int], dict[str, Any]] = {}
        self.small: list[tuple[str, int]] = []  # parts below MERGE_ROWS rows: (name, rows)
        self.files: list[str] = []  # what the manifest lists: the compacted file, then parts by name
        self.retired: list[tuple[str, float]] = []  # superseded files and when they left the manifest
        self.next_part = 0

    def add(self, trial_id: str, row: dict[str, Any]) -> None:
        """A reported row; the same (trial, iteration) again replaces it."""
        self.pending[(trial_id, int(row[ITERATION]))] = {TRIAL_ID: trial_id, **row}

    def flush(self) -> None:
        if not self.pending:
            return
        from tune_jobs.results.tables import arrow_table

        rows = [self.pending[key] for key in sorted(self.pending)]
        name = _part_name(self.next_part)
        self.store.write_table(name, arrow_table(rows, ITERATION_COLUMNS))
        self.next_part += 1
        self.pending.clear()
        self.small.append((name, len(rows)))
        self._list(added=[name])
        self._merge_small_parts()
        self._write_manifest()
        self._delete_retired(older_than_s=RETIRE_AFTER_S)

    def _list(self, added: Sequence[str] = (), removed: Sequence[str] = ()) -> None:
        parts = sorted({f for f in self.files if f != ITERATIONS_FILE} - set(removed) | set(added))
        self.files = ([ITERATIONS_FILE] if ITERATIONS_FILE in self.files else []) + parts
        now = time.monotonic()
        self.retired += [(name, now) for name in removed]

    def _write_manifest(self) -> None:
        self.store.write_json(MANIFEST_FILE, {"files": self.files})

    def _delete_retired(self, older_than_s: float) -> None:
        now = time.monotonic()
        due = {name for name, since in self.retired if now - since >= older_than_s}
        for name in due:
            self.store.remove(name)
        self.retired = [(name, since) for name, since in self.retired if name not in due]

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
        self._list(added=[name], removed=chosen)
        self.small = [(n, r) for n, r in self.small if n not in chosen]
        if total < MERGE_ROWS:
            self.small.insert(0, (name, total))

    def compact(self) -> None:
        """All rows into ``iterations.parquet``, the parts removed (at the end of a job)."""
        self.flush()
        if not _parts(self.store):
            return
        self.store.write_table(ITERATIONS_FILE, read_iterations(self.store))
        self.files, self.retired = [ITERATIONS_FILE], []
        self._write_manifest()  # readers of the old manifest find its parts gone and read this one
        self.store.remove(PARTS_DIR)
        self.small.clear()

    def load(self) -> pa.Table:
        """The rows of an earlier run of the job (resume); new parts are numbered after its parts.
        Every file on storage is adopted, also one a killed writer wrote but did not list."""
        self.files = _files_on_storage(self.store)
        table = _latest_each(_concat([self.store.read_table(name) for name in self.files]))
        if self.files:
            self._write_manifest()
        self.next_part = max((_part_number(p) for p in self.files), default=-1) + 1
        return table
