"""SIGINT and SIGTERM end a job the way Ctrl-C is documented to: exit 130, ``job.json`` status
``interrupted``, and a rerun of the same command resumes.

The first signal asks Ray Tune to stop the way its own Ctrl-C handler does (it saves the
experiment one last time and leaves unfinished trials resumable from their checkpoints); a second
signal ends at once. Files stay whole either way: every results file is replaced atomically.

Ray installs its own SIGTERM handler in ``ray.init`` (``sys.exit``), so ``install`` runs after Ray
has started; Tune's SIGINT handler is turned off (``TUNE_DISABLE_SIGINT_HANDLER``) so that it
cannot print its ``Tuner.restore(...)`` hint over ours.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

# Tune's stop request (ray/tune/tune.py ``_setup_signal_catching``) is bound to SIGUSR1 too, and
# that binding is always installed while ``Tuner.fit`` runs: calling it is Tune's graceful stop.
_TUNE_STOP_SIGNAL = getattr(signal, "SIGUSR1", None)

# What Tune logs about an interrupt, replaced by our own one-line hint.
_TUNE_INTERRUPT_MESSAGES = ("Stop signal received", "has been interrupted", "Trials did not complete")


class _DropTuneInterruptLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in _TUNE_INTERRUPT_MESSAGES)


class Interrupts:
    """Counts SIGINT/SIGTERM while a job runs; ``requested`` tells the runner how the job ended."""

    def __init__(self) -> None:
        self.received = 0
        self._in_tune = False
        self._depth = 0

    @property
    def requested(self) -> bool:
        return self.received > 0

    @contextlib.contextmanager
    def catching(self) -> Iterator[None]:
        """Our handlers inside, the previous ones restored after. Nested uses install again (Ray's
        ``init`` may have replaced ours in between) and keep the count of the outermost."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only; its own handlers apply
            return
        if self._depth == 0:
            self.received = 0
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
        logger = logging.getLogger("ray.tune.tune")
        if not any(isinstance(f, _DropTuneInterruptLines) for f in logger.filters):
            logger.addFilter(_DropTuneInterruptLines())
        previous = {signum: signal.signal(signum, self._handle) for signum in (signal.SIGINT, signal.SIGTERM)}
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @contextlib.contextmanager
    def tune_running(self) -> Iterator[None]:
        """While Tune's loop runs, a first signal is passed to Tune's graceful stop."""
        self._in_tune = True
        try:
            yield
        finally:
            self._in_tune = False

    def _handle(self, signum: int, frame: Any) -> None:
        self.received += 1
        if self.received == 1 and self._in_tune and _TUNE_STOP_SIGNAL is not None:
            tune_stop = signal.getsignal(_TUNE_STOP_SIGNAL)
            if callable(tune_stop):
                tune_stop(signum, frame)
                return
        raise KeyboardInterrupt


INTERRUPTS = Interrupts()
