"""``resources.gpu: auto`` against a whole GPU per trial, on a job that mixes small and large
models: ``image_cnn`` on the bundled digits, ``channels`` searched over 8 to 256 and
``batch_size`` over 32 to 1,024 (memory per trial differs by two orders of magnitude), the same
configurations both ways (random search, one seed). Prints the job's wall time, the speed-up,
trials completed and lost, the shares trials ran with and the out-of-memory retries.

    python bench/gpu_auto.py [--trials 16] [--epochs 3]        # on a machine with a GPU
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


def run(gpu: float | str, trials: int, epochs: int, storage: str) -> tuple[float, object]:
    import pandas as pd
    from rich.console import Console

    from tune_jobs.runner import run_job
    from tune_jobs.spec import validate_spec

    spec = validate_spec({
        "name": f"gpu-{gpu}", "trainable": "image_cnn", "metric": "val_accuracy",
        "config": {"dataset": "digits", "epochs": epochs, "depth": 3},
        "space": {"channels": {"choice": [8, 32, 128, 256]}, "batch_size": {"choice": [32, 128, 512, 1024]},
                  "lr": {"loguniform": [1e-4, 1e-2]}},
        "search": {"algorithm": "random", "num_samples": trials, "seed": 0},
        "resources": {"cpu": 1, "gpu": gpu}, "failure": {"max_failures": 3}, "storage": storage, "tensorboard": False,
    })
    with open(os.devnull, "w") as quiet:
        started = time.perf_counter()
        run_job(spec, console=Console(file=quiet))
        wall = time.perf_counter() - started
    return wall, pd.read_parquet(Path(spec.results_dir) / "trials.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    import ray
    import torch

    if not torch.cuda.is_available():
        sys.exit("no CUDA device visible: gpu: auto is the CPU default without one (tests/test_gpu_auto.py covers the decisions)")
    ray.init(address="local", num_cpus=args.cpus, num_gpus=1, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR")
    with tempfile.TemporaryDirectory() as storage:
        found = {gpu: run(gpu, args.trials, args.epochs, storage) for gpu in (1, "auto")}
    ray.shutdown()
    print(f"image_cnn on digits, {args.trials} trials x {args.epochs} epochs, channels 8-256, batch 32-1,024, 1 GPU "
          f"({torch.cuda.get_device_name()}), {args.cpus} CPUs")
    print(f"{'resources.gpu':>14}{'job s':>9}{'speed-up':>10}{'completed':>11}{'failed':>8}{'shares':>28}{'oom retries':>13}")
    base = found[1][0]
    for gpu, (wall, trials) in found.items():
        shares = ", ".join(f"{share:g} x{count}" for share, count in trials.gpu.value_counts().sort_index().items())
        retries = int(trials.oom_retries.sum()) if "oom_retries" in trials else 0
        print(f"{gpu!s:>14}{wall:>9.1f}{base / wall:>9.2f}x{int((trials.status == 'completed').sum()):>11}"
              f"{int((trials.status == 'failed').sum()):>8}{shares:>28}{retries:>13}")


if __name__ == "__main__":
    main()
