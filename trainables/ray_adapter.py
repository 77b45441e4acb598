"""The one place a trainable meets Ray: ``report`` becomes ``tune.report``, checkpoints become
Ray checkpoints, and bad reports become clear trial failures.

- A report without the job's metric fails the trial at once, naming what was reported.
- A non-finite metric is recorded (the row reaches the results with ``tune_jobs_error``) and the
  trial ends there: retrying a diverged trial from its checkpoint would only diverge again.
- A trainable that returns without any report fails with that reason.
"""

from __future__ import annotations

import math
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trainables.registry import TrainableDef

ERROR_KEY = "tune_jobs_error"
_STATE_FILE = "state.pt"


class MetricNotReportedError(RuntimeError):
    pass


class _Diverged(Exception):
    pass


class RayReport:
    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.reports = 0

    def __call__(self, metrics: Mapping[str, Any], checkpoint: Any = None) -> None:
        from ray import tune

        if self.metric not in metrics:
            raise MetricNotReportedError(
                f"the job's metric {self.metric!r} is not in the report; reported: {', '.join(sorted(metrics)) or 'nothing'}"
            )
        row = dict(metrics)
        value = row[self.metric]
        diverged = not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)
        if diverged:
            row[ERROR_KEY] = f"{self.metric} reported as {value!r}, not a finite number"
            checkpoint = None
        self.reports += 1
        if checkpoint is None:
            tune.report(row)
        else:
            import torch  # only trainables that checkpoint pay for importing torch

            with tempfile.TemporaryDirectory(prefix="tune-jobs-ckpt-") as directory:
                torch.save(checkpoint, Path(directory) / _STATE_FILE)
                tune.report(row, checkpoint=tune.Checkpoint.from_directory(directory))
        if diverged:
            raise _Diverged


def _restored_state() -> Any:
    import torch
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as directory:
        return torch.load(Path(directory) / _STATE_FILE, weights_only=False)


def ray_trainable(trainable: TrainableDef, metric: str, cpus: float) -> Callable[[dict[str, Any]], None]:
    """A Ray Tune function trainable running ``trainable`` and reporting ``metric``."""
    function, accepts_checkpoint = trainable.function, trainable.accepts_checkpoint

    def run_trial(config: dict[str, Any]) -> None:
        # Ray sets OMP_NUM_THREADS from the trial's CPUs; torch, once imported, follows it.
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(max(1, int(cpus)))
        report = RayReport(metric)
        try:
            if accepts_checkpoint:
                function(config, report, checkpoint=_restored_state())
            else:
                function(config, report)
        except _Diverged:
            return
        if report.reports == 0:
            raise MetricNotReportedError("the trainable returned without reporting any result")

    run_trial.__name__ = f"trial_{trainable.name.replace(':', '_').replace('.', '_')}"
    return run_trial
