"""The same tune-jobs job fused and not: ``digits_mlp`` (fixed architecture; ``lr``,
``weight_decay``, ``dropout`` searched by random search, same seed, so the same configurations),
with ``execution.fuse`` 1 (a process per trial) and the stack sizes given, on one local Ray, in
one run. Prints the job's wall time, the time inside its trials, and the best validation accuracy,
side by side, as ratios to fuse 1; repeated and interleaved, medians.

    python bench/fused_job.py [--trials 16] [--fuse 4 8 16] [--epochs 10] [--repeats 3] [--cpus 2]

On a GPU machine, ``--gpu-shares 1 0.0625`` runs the unfused job once per share (``resources.gpu``
per trial: 1 -> one trial at a time on the GPU, 0.0625 -> 16 at once) and each fused size with a
whole GPU per stack; the first share is the baseline of the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def run(fuse: int, trials: int, epochs: int, storage: str, tag: str, gpu: float = 0.0) -> tuple[float, float, float]:
    """(job wall seconds, seconds the trials trained summed, best validation accuracy)."""
    import pandas as pd
    from rich.console import Console

    from tune_jobs.runner import run_job
    from tune_jobs.spec import validate_spec

    spec = validate_spec({
        "name": f"fuse-{fuse}-gpu-{gpu:g}-{tag}", "trainable": "digits_mlp", "metric": "val_accuracy",
        "config": {"epochs": epochs, "hidden": 128, "layers": 2},
        "space": {"lr": {"loguniform": [1e-4, 3e-2]}, "weight_decay": {"loguniform": [1e-6, 1e-2]},
                  "dropout": {"uniform": [0.0, 0.5]}},
        "search": {"algorithm": "random", "num_samples": trials, "seed": 0}, "execution": {"fuse": fuse},
        "resources": {"cpu": 1, "gpu": gpu}, "storage": storage, "tensorboard": False,
    })
    with open(os.devnull, "w") as quiet:
        started = time.perf_counter()
        run_job(spec, console=Console(file=quiet))
        wall = time.perf_counter() - started
    iterations = pd.read_parquet(Path(spec.results_dir) / "iterations.parquet")
    trials_frame = pd.read_parquet(Path(spec.results_dir) / "trials.parquet")
    assert len(trials_frame) == trials, trials_frame
    # Stacks report each epoch once for all members: count each stack epoch once.
    per_epoch = iterations.drop_duplicates(["timestamp", "epoch_time_s"]) if fuse > 1 else iterations
    return wall, float(per_epoch.epoch_time_s.sum()), float(iterations.val_accuracy.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--fuse", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--gpu-shares", type=float, nargs="*", default=[],
                        help="GPU per unfused trial, one job each (fused stacks get a whole GPU); none: CPU only")
    args = parser.parse_args()
    import ray

    ray.init(address="local", num_cpus=args.cpus, num_gpus=1 if args.gpu_shares else 0, include_dashboard=False,
             _node_ip_address="127.0.0.1", log_to_driver=False, logging_level="ERROR")
    # (fuse, GPU per trial or stack) of each variant; the first is the baseline.
    variants = ([(1, share) for share in args.gpu_shares] + [(size, 1.0) for size in args.fuse] if args.gpu_shares
                else [(1, 0.0)] + [(size, 0.0) for size in args.fuse])
    found: dict[tuple[int, float], list[tuple[float, float, float]]] = {variant: [] for variant in variants}
    with tempfile.TemporaryDirectory() as storage:
        for repeat in range(args.repeats):
            for fuse, gpu in variants:  # interleaved, so drifts in machine load hit every variant alike
                found[fuse, gpu].append(run(fuse, args.trials, args.epochs, storage, str(repeat), gpu))
                wall, trained, best = found[fuse, gpu][-1]
                print(f"  repeat {repeat} fuse {fuse:>3} gpu {gpu:g}: job {wall:6.1f} s, training {trained:6.1f} s, "
                      f"best {best:.4f}", file=sys.stderr, flush=True)
    ray.shutdown()
    print(f"\ndigits_mlp job, {args.trials} trials x {args.epochs} epochs, random search (seed 0), {args.cpus} CPUs"
          f"{', 1 GPU' if args.gpu_shares else ''}, one local Ray started once; median of {args.repeats}")
    print(f"{'fuse':>6}{'gpu':>8}{'job s':>9}{'job speed-up':>14}{'training s':>12}{'training speed-up':>19}"
          f"{'best val acc':>14}")
    base_wall = statistics.median(r[0] for r in found[variants[0]])
    base_trained = statistics.median(r[1] for r in found[variants[0]])
    for fuse, gpu in variants:
        wall = statistics.median(r[0] for r in found[fuse, gpu])
        trained = statistics.median(r[1] for r in found[fuse, gpu])
        best = statistics.median(r[2] for r in found[fuse, gpu])
        print(f"{fuse:>6}{gpu:>8g}{wall:>9.1f}{base_wall / wall:>13.2f}x{trained:>12.1f}{base_trained / trained:>18.2f}x"
              f"{best:>14.4f}")
    print("job s: run_job's wall time, Ray already started (Ray's own start, about 4 s here, is in neither); "
          "training s: the epochs' time summed over the processes (a stack's epoch counted once)")


if __name__ == "__main__":
    main()
