"""Per-trial TensorBoard event files, so ``tensorboard --logdir <results dir>`` shows every curve.

Written by the driver as results arrive (one ``tensorboard/<trial_id>/`` run per trial), not by
the trials: nothing extra runs on workers, and the files sit beside the Parquet results. A step
already written (a retried trial re-reporting from its checkpoint, a resumed job) is skipped, so
curves never double back. Local results directories only: TensorBoard reads object stores
through its own plugins, and the Parquet files hold the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TENSORBOARD_DIR = "tensorboard"
_NOT_PLOTTED = frozenset({"training_iteration", "timestamp", "time_total_s", "epoch"})


class TensorBoardWriter:
    def __init__(self, directory: str, written: Mapping[str, int] | None = None) -> None:
        """``written``: the last step already on disk per trial (from an earlier run of the job)."""
        self.root = Path(directory) / TENSORBOARD_DIR
        self.written: dict[str, int] = dict(written or {})
        self._writers: dict[str, Any] = {}

    def _writer(self, trial_id: str, config: Mapping[str, Any]) -> Any:
        writer = self._writers.get(trial_id)
        if writer is None:
            from tensorboardX import SummaryWriter

            writer = self._writers[trial_id] = SummaryWriter(logdir=str(self.root / trial_id), flush_secs=5)
            if trial_id not in self.written:  # the config once per trial, shown in TensorBoard's text tab
                writer.add_text("config", "  \n".join(f"{k} = {v}" for k, v in config.items()), 0)
        return writer

    def trial_result(self, trial_id: str, config: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        step = int(metrics["training_iteration"])
        if step <= self.written.get(trial_id, 0):
            return
        writer = self._writer(trial_id, config)
        for key, value in metrics.items():
            if key not in _NOT_PLOTTED and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                writer.add_scalar(key, value, step)
        self.written[trial_id] = step

    def trial_ended(self, trial_id: str) -> None:
        writer = self._writers.pop(trial_id, None)
        if writer is not None:
            writer.close()

    def close(self) -> None:
        for trial_id in list(self._writers):
            self.trial_ended(trial_id)
