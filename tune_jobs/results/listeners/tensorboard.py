"""Per-trial TensorBoard event files, so ``tensorboard --logdir <results dir>`` shows every curve.

Written by the driver as results arrive (one ``tensorboard/<trial_id>/`` run per trial), not by
the trials: nothing extra runs on workers, and the files sit beside the Parquet results. A
listener (``listeners.base``): it gets each step once, so curves never double back. On unless the
spec says ``tensorboard: false``; local results directories only: TensorBoard reads object stores
through its own plugins, and the Parquet files hold the same numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tune_jobs.results.listeners.base import LISTENERS, ListenerContext

TENSORBOARD_DIR = "tensorboard"
_NOT_PLOTTED = frozenset({"training_iteration", "timestamp", "time_total_s", "epoch"})


class TensorBoardWriter:
    def __init__(self, directory: str, written: Mapping[str, int] | None = None, flush_interval_s: float = 2.0) -> None:
        """``written``: the last step already on disk per trial (from an earlier run of the job):
        those trials have their config written already."""
        # tensorboardX imports torch (1-3 s): paid here, before Tune starts, not in the callback
        # of the first result, where Ray would warn that the callback is a bottleneck.
        import tensorboardX.summary  # noqa: F401

        self.root = Path(directory) / TENSORBOARD_DIR
        self.written = frozenset(written or {})
        self.flush_interval_s = flush_interval_s
        self._writers: dict[str, Any] = {}
        self._last_flush = time.monotonic()

    def _writer(self, trial_id: str, config: Mapping[str, Any]) -> Any:
        writer = self._writers.get(trial_id)
        if writer is None:
            # tensorboardX's synchronous writer: SummaryWriter's queue and thread per trial cost more
            # than the writing itself, and the driver writes a handful of scalars per result.
            from tensorboardX.event_file_writer import EventsWriter
            from tensorboardX.summary import text

            (self.root / trial_id).mkdir(parents=True, exist_ok=True)
            writer = self._writers[trial_id] = EventsWriter(str(self.root / trial_id / "events"))
            if trial_id not in self.written:  # the config once per trial, shown in TensorBoard's text tab
                shown = "  \n".join(f"{k} = {v}" for k, v in config.items())
                writer.write_event(_event(0, text("config", shown)))
        return writer

    def trial_result(self, trial_id: str, config: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        from tensorboardX.summary import scalar

        step = int(metrics["training_iteration"])
        writer = self._writer(trial_id, config)
        for key, value in metrics.items():
            if key not in _NOT_PLOTTED and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                writer.write_event(_event(step, scalar(key, value)))
        now = time.monotonic()
        if now - self._last_flush >= self.flush_interval_s:  # a running job's curves show within seconds
            for open_writer in self._writers.values():
                open_writer.flush()
            self._last_flush = now

    def trial_ended(self, trial_id: str, status: str = "") -> None:
        writer = self._writers.pop(trial_id, None)
        if writer is not None:
            writer.close()

    def close(self, status: str = "") -> None:
        for trial_id in list(self._writers):
            self.trial_ended(trial_id)


@LISTENERS.register("tensorboard")
def tensorboard_listener(context: ListenerContext) -> TensorBoardWriter | None:
    if not context.settings.get("tensorboard", True) or not context.store.local:
        return None
    return TensorBoardWriter(context.store.path, context.written)


def _event(step: int, summary: Any) -> Any:
    from tensorboardX.proto.event_pb2 import Event

    return Event(wall_time=time.time(), step=step, summary=summary)
