"""One driver per job: a lease in the job's results directory, taken before Ray starts.

``lease.json`` names its holder (host, pid, since) and a heartbeat the holder renews every
``HEARTBEAT_S``. A second ``tune-jobs run`` of the same job finds a live lease and refuses in one
line. A lease whose holder died is taken over: on the same host when its process is gone, on any
host when its heartbeat is older than ``STALE_S`` (shared filesystems and object stores, where
the process cannot be checked). Object stores have no compare-and-swap, so two drivers starting
within the same moment could both take it; anything later is refused.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from tune_jobs.errors import UserError
from tune_jobs.results.store import ResultsStore

LEASE_FILE = "lease.json"
HEARTBEAT_S = 10.0
STALE_S = 60.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def live_holder(store: ResultsStore) -> dict[str, Any] | None:
    """The lease of the driver running the job, or None when no driver holds one or its holder
    died (its process gone on this host, or no heartbeat for ``STALE_S``)."""
    if not store.exists(LEASE_FILE):
        return None
    try:
        lease = dict(store.read_json(LEASE_FILE))
    except (OSError, ValueError):
        return None  # half-written by a driver that died while writing: nobody holds it
    if lease.get("host") == socket.gethostname() and not _alive(int(lease.get("pid", -1))):
        return None
    if time.time() - float(lease.get("heartbeat", 0)) > STALE_S:
        return None
    return lease


class JobLease:
    def __init__(self, store: ResultsStore, job_name: str) -> None:
        self.store, self.job_name = store, job_name
        self.token = uuid.uuid4().hex
        self.holder = {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since = time.time()

    def _held_by_someone_else(self) -> dict[str, Any] | None:
        lease = live_holder(self.store)
        return None if lease is None or lease.get("token") == self.token else lease

    def acquire(self) -> None:
        """Take the lease, or raise ``UserError`` naming who holds it and since when."""
        held = self._held_by_someone_else()
        if held is not None:
            age = time.time() - float(held.get("heartbeat", 0))
            raise UserError([f"storage: job {self.job_name!r} is already running in {self.store} (pid {held.get('pid')} "
                             f"on {held.get('host')} since {_clock(float(held.get('since', 0)))}, last heartbeat "
                             f"{age:.0f} s ago); wait for it to end, or stop it, then run again to resume"])
        self.store.make()
        self._since = time.time()
        self._write()
        self._thread = threading.Thread(target=self._beat, name="tune-jobs-lease", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        self.store.write_json(LEASE_FILE, {**self.holder, "since": self._since, "heartbeat": time.time()})

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):  # a storage hiccup; the next beat tries again
                self._write()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(OSError, ValueError):
            if self.store.exists(LEASE_FILE) and self.store.read_json(LEASE_FILE).get("token") == self.token:
                self.store.remove(LEASE_FILE)
