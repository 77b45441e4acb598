"""The one place a trainable meets Ray: ``report`` becomes ``tune.report``, checkpoints become
Ray checkpoints, and bad reports become clear trial failures.

- A report without the job's metric fails the trial at once, naming what was reported.
- A non-finite metric is recorded (the row reaches the results with ``tune_jobs_error``) and the
  trial ends there: retrying a diverged trial from its checkpoint would only diverge again.
- Metrics that are 0-d tensors or numpy scalars (``report({"loss": loss})`` in a PyTorch loop)
  are reported as plain numbers; any other value that is not a number or a string ends the trial
  with one line naming the key and its type (deterministic: not retried).
- A trainable that returns without any report fails with that reason.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trainables.api import TRIAL_LOG_DIR
from trainables.registry import TrainableDef

ERROR_KEY = "tune_jobs_error"
STATE_FILE = "state.pt"  # in each Ray checkpoint directory (tune-jobs ensemble reads it too)


class MetricNotReportedError(RuntimeError):
    pass


class _Diverged(Exception):
    pass


def plain_metrics(metrics: Mapping[str, Any], prefix: str = "") -> tuple[dict[str, Any], str | None]:
    """The metrics as numbers and strings, and the first problem (a value that is neither). A
    mapping is converted the same way, key by key (a fused stack reports its members' metrics so)."""
    row: dict[str, Any] = {}
    problem = None
    for key, value in metrics.items():
        if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # numpy scalars (np.float64 too), 0-d arrays, tensors
            row[key] = value.item()
        elif value is None or isinstance(value, (bool, int, float, str)):
            row[key] = value
        elif isinstance(value, Mapping):
            row[key], inner = plain_metrics(value, f"{prefix}{key}.")
            problem = problem or inner
        elif problem is None:
            shape = getattr(value, "shape", None)
            shown = type(value).__name__ + (f" of shape {tuple(shape)}" if shape is not None else "")
            problem = f"metric {prefix + key!r} reported as a {shown}, not a number or a string"
    return row, problem


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
        row, problem = plain_metrics(metrics)
        value = row.get(self.metric)
        diverged = not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)
        if problem is not None:
            row = {**row, self.metric: math.nan, ERROR_KEY: problem}  # ends as a diverged trial does
            diverged, checkpoint = True, None
        elif diverged:
            row[ERROR_KEY] = f"{self.metric} reported as {value!r}, not a finite number"
            checkpoint = None
        self.reports += 1
        if checkpoint is None:
            tune.report(row)
        else:
            import torch  # only trainables that checkpoint pay for importing torch

            with tempfile.TemporaryDirectory(prefix="tune-jobs-ckpt-") as directory:
                torch.save(checkpoint, Path(directory) / STATE_FILE)
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
        return torch.load(Path(directory) / STATE_FILE, weights_only=False)


# -- data shared through the object store --------------------------------------------------

def shared_data_index_class() -> Any:
    """An actor mapping data keys to object refs, one per job (named, owned by the driver): the index
    through which trials find the data another trial of the job already loaded."""
    import ray

    @ray.remote(num_cpus=0)
    class SharedDataIndex:
        def __init__(self) -> None:
            self.ready: dict[str, list[Any]] = {}
            self.loading: set[str] = set()

        def get_or_claim(self, key: str) -> tuple[str, list[Any] | None]:
            if key in self.ready:
                return "ready", self.ready[key]
            if key in self.loading:
                return "pending", None
            self.loading.add(key)
            return "claimed", None

        def publish(self, key: str, value: Any) -> None:
            self.ready[key] = [ray.put(value)]  # in a list, so callers get the ref, not the value
            self.loading.discard(key)

        def release(self, key: str) -> None:
            self.loading.discard(key)

    return SharedDataIndex


def _to_store(value: Any) -> Any:
    """Tensors as numpy arrays (read zero-copy from the object store), structure kept."""
    import torch

    from trainables.loop.fit import Split

    if isinstance(value, torch.Tensor):
        return ("__tensor__", value.numpy())
    if isinstance(value, Split):
        return ("__split__", _to_store(value.inputs), _to_store(value.targets))
    if isinstance(value, (tuple, list)):
        return type(value)(_to_store(v) for v in value)
    return value


def _tagged(value: Any, tag: str) -> bool:
    # A plain tuple may start with an array, whose == is elementwise: compare strings only.
    return isinstance(value, tuple) and bool(value) and isinstance(value[0], str) and value[0] == tag


def _from_store(value: Any) -> Any:
    import torch

    from trainables.loop.fit import Split

    if _tagged(value, "__tensor__"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # read-only arrays: the loop never writes its data in place
            return torch.from_numpy(value[1])
    if _tagged(value, "__split__"):
        return Split(_from_store(value[1]), _from_store(value[2]))
    if isinstance(value, (tuple, list)):
        return type(value)(_from_store(v) for v in value)
    return value


class ObjectStoreData:
    def __init__(self, index_name: str) -> None:
        self.index_name = index_name

    def __call__(self, key: str, load: Callable[[], Any]) -> Any:
        import ray

        index = ray.get_actor(self.index_name)
        while True:
            answer: Any = ray.get(index.get_or_claim.remote(key))
            state, ref = answer
            if state == "ready":
                assert ref is not None
                try:
                    return _from_store(ray.get(ref[0]))
                except ray.exceptions.RayError:  # lost with its node: load it here rather than fail
                    return load()
            if state == "claimed":
                try:
                    value = load()
                    # The index stores it itself, so that it owns the object: the data must outlive
                    # this trial's worker, which Ray may stop as soon as the trial ends.
                    ray.get(index.publish.remote(key, _to_store(value)))
                except BaseException:
                    ray.get(index.release.remote(key))
                    raise
                return value
            time.sleep(0.1)  # another trial is loading it right now


def ray_trainable(trainable: TrainableDef, metric: str, cpus: float, data_index: str | None = None,
                  log_root: str | None = None) -> Callable[[dict[str, Any]], None]:
    """A Ray Tune function trainable running ``trainable`` and reporting ``metric``. ``log_root``:
    where trainables that keep their own logs (Lightning) write them, one folder per trial."""
    function, accepts_checkpoint = trainable.function, trainable.accepts_checkpoint

    def run_trial(config: dict[str, Any]) -> None:
        from trainables import shared_data

        if log_root is not None:
            from ray import tune

            os.environ[TRIAL_LOG_DIR] = str(Path(log_root) / tune.get_context().get_trial_id())
        else:
            os.environ.pop(TRIAL_LOG_DIR, None)

        # Ray sets OMP_NUM_THREADS from the trial's CPUs; torch, once imported, follows it.
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(max(1, int(cpus)))
        shared_data.install(ObjectStoreData(data_index) if data_index else None)
        report = RayReport(metric)
        restored = _restored_state() if accepts_checkpoint else None
        try:
            if accepts_checkpoint:
                function(config, report, checkpoint=restored)
            else:
                function(config, report)
        except _Diverged:
            return
        # Resumed from a checkpoint of a finished run (PBT copied one at its last epoch): nothing
        # was left to report, and the reports before the checkpoint stand.
        if report.reports == 0 and restored is None:
            raise MetricNotReportedError("the trainable returned without reporting any result")

    run_trial.__name__ = f"trial_{trainable.name.replace(':', '_').replace('.', '_')}"
    return run_trial
