"""``resources.gpu: auto``: trials sized from the memory trials measure, and an out-of-memory trial
retried with twice its share. The decisions on their own, then a real job on a Ray that declares
one GPU (Ray schedules by the count it is given; the trials run on the CPU and report what a GPU
trial reports)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tune_jobs.gpu_sizing import CUDA_CONTEXT_MB, GpuSizer, is_out_of_memory
from tune_jobs.spec import SpecError, validate_spec

ROOT = Path(__file__).resolve().parents[1]
MEASURED = {"gpu_mem_reserved_mb": 1500.0, "gpu_mem_total_mb": 10000.0}


def test_a_whole_gpu_until_measured_then_as_many_as_fit_in_the_memory_target() -> None:
    sizer = GpuSizer(memory_target=0.9, max_per_gpu=16)
    assert sizer.fraction() == 1.0
    assert not sizer.observe({"score": 1.0})  # a CPU trial reports no GPU memory
    assert sizer.observe(MEASURED)
    assert sizer.need_mb == 1500.0 + CUDA_CONTEXT_MB
    assert sizer.per_gpu() == 4 and sizer.fraction() == 0.25  # 9,000 MB / 2,000 MB
    assert not sizer.observe({**MEASURED, "gpu_mem_reserved_mb": 1000.0})  # a smaller trial changes nothing
    assert sizer.observe({**MEASURED, "gpu_mem_reserved_mb": 2500.0}) and sizer.fraction() == 0.3333  # the largest sizes
    assert GpuSizer(max_per_gpu=2).observe(MEASURED)
    tiny = GpuSizer(max_per_gpu=8)
    tiny.observe({"gpu_mem_peak_mb": 10.0, "gpu_mem_total_mb": 80000.0})  # allocated, where reserved is not reported
    assert tiny.per_gpu() == 8
    huge = GpuSizer()
    huge.observe({**MEASURED, "gpu_mem_reserved_mb": 20000.0})
    assert huge.fraction() == 1.0


def test_out_of_memory_doubles_the_share_up_to_a_whole_gpu() -> None:
    assert [GpuSizer.after_out_of_memory(share) for share in (0.125, 0.25, 0.5, 0.75, 1.0, 2.0)] == [0.25, 0.5, 1.0, 1.0, 1.0, 2.0]
    assert is_out_of_memory("OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
    assert not is_out_of_memory("ValueError: boom") and not is_out_of_memory(None)


@pytest.mark.parametrize("resources, message", [
    ({"gpu": "half"}, "resources.gpu: must be a number of GPUs or auto, got 'half'"),
    ({"gpu": -1}, "resources.gpu: must be auto or >= 0, got -1"),
    ({"gpu": "auto", "gpu_memory_target": 1.5}, "resources.gpu_memory_target: input should be less than or equal to 1"),
])
def test_bad_gpu_resources_are_one_line(resources: dict, message: str) -> None:
    with pytest.raises(SpecError) as error:
        validate_spec({"name": "x", "trainable": "tests.user_trainables:trivial", "metric": "score",
                       "space": {"x": {"uniform": [0, 1]}}, "resources": resources})
    assert str(error.value).startswith(message)


@pytest.mark.integration
def test_later_trials_share_the_gpu_and_an_out_of_memory_trial_is_retried_with_twice_its_share(tmp_path) -> None:
    """The out-of-memory trial fails the same way twice, which for any other error stops its
    retries (tune_jobs.ray_tune.callback): here each retry has more memory, so it goes on."""
    starts = tmp_path / "starts"
    starts.mkdir()
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({
        "name": "sized", "trainable": "tests.user_trainables:gpu_measured", "metric": "score", "mode": "max",
        "config": {"starts": str(starts)}, "space": {"x": {"uniform": [0.0, 1.0]}},
        "search": {"algorithm": "random", "num_samples": 5, "seed": 0},
        "resources": {"cpu": 0.5, "gpu": "auto"}, "failure": {"max_failures": 2},
        "storage": str(tmp_path / "results"), "tensorboard": False,
    }))
    done = subprocess.run([sys.executable, "-m", "tune_jobs", "run", str(spec), "--num-cpus", "2", "--num-gpus", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gpu auto: trials from now on get 0.25 of a GPU (4 per GPU, 2,000 MB needed of 10,000 MB)" in done.stderr
    trials = pd.read_parquet(tmp_path / "results" / "sized" / "trials.parquet")  # in the order trials started
    assert set(trials.status) == {"completed"} and (trials.iterations == 3).all()
    assert trials.gpu.iloc[0] == 1.0  # the first trial measures, on a whole GPU
    retried = trials[trials.oom_retries > 0]
    assert len(retried) == 1 and retried.oom_retries.iloc[0] == 2 and retried.retries.iloc[0] == 2
    assert retried.gpu.iloc[0] == 1.0  # 0.25, then 0.5, then a whole GPU
    assert sorted(trials[trials.oom_retries == 0].gpu.tolist()) == [0.25, 0.25, 0.25, 1.0]
    iterations = pd.read_parquet(tmp_path / "results" / "sized" / "iterations.parquet")
    assert len(iterations) == 15 and not iterations.duplicated(["trial_id", "training_iteration"]).any()
