"""The contract between a trainable and whoever runs it; no Ray here.

``train(config, report, checkpoint=None)``:
  - ``config``: a dict of the fixed and sampled values;
  - ``report(metrics)`` records one iteration (an epoch); ``report(metrics, checkpoint=state)``
    also saves ``state`` (any picklable object, e.g. torch state dicts) for retries and resume;
  - ``checkpoint``: the last saved ``state`` when resuming, else ``None`` (only passed to
    functions that declare the parameter).
A unit test runs a trainable with a ``Recorder`` instead of Ray. Trainables that keep logs of their
own (Lightning's TensorBoard files) write them under ``$TUNE_JOBS_TRIAL_LOG_DIR`` when it is set:
the trial's folder in the job's ``tensorboard/``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

TRIAL_LOG_DIR = "TUNE_JOBS_TRIAL_LOG_DIR"


class Report(Protocol):
    def __call__(self, metrics: Mapping[str, Any], checkpoint: Any = None) -> None: ...


@dataclass
class Recorder:
    """Keeps every reported row and the last checkpoint in memory."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: Any = None

    def __call__(self, metrics: Mapping[str, Any], checkpoint: Any = None) -> None:
        self.rows.append(dict(metrics))
        if checkpoint is not None:  # a copy, as a real report serialises it: state dicts alias live tensors
            self.checkpoint = copy.deepcopy(checkpoint)
