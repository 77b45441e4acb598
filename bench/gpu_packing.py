"""Fractional-GPU packing: aggregate training throughput of k concurrent trials through tune-jobs
(``resources.gpu: 1/k``) vs k plain PyTorch processes on the same GPU, in one run.

Two figures per case: steady state (samples/s while all k run together) and end to end (all
samples / time from the first start to the last end, start-up included). Cases from the issue:
ResNet-18 32x32 batch 256 bf16 SGD, 1500 steps, k=8; MLP 64-256-256-10 batch 128, 3000 steps,
k=16; and the same with short trials (200 steps).

    python bench/gpu_packing.py                      # on a machine with one NVIDIA GPU
    python bench/gpu_packing.py --device cpu --smoke # checks the script itself without a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CASES = [("resnet18", 8, 1500), ("mlp", 16, 3000), ("resnet18", 8, 200), ("mlp", 16, 200)]
SMOKE = [("mlp", 2, 40), ("resnet18", 2, 3)]


def throughput(curves: list[list[tuple[int, float]]]) -> tuple[float, float]:
    """(steady-state samples/s while all trials run, end-to-end samples/s)."""
    starts, ends = [c[0][1] for c in curves], [c[-1][1] for c in curves]
    together_from, together_to = max(starts), min(ends)
    total = sum(c[-1][0] for c in curves)
    end_to_end = total / (max(ends) - min(starts))
    if together_to <= together_from:
        return float("nan"), end_to_end
    done = 0.0
    for curve in curves:  # samples each trial finished inside the window, interpolated at its edges
        stamps = [t for _, t in curve]
        samples = [s for s, _ in curve]
        import numpy as np

        done += float(np.interp(together_to, stamps, samples) - np.interp(together_from, stamps, samples))
    return done / (together_to - together_from), end_to_end


def plain_processes(model: str, k: int, steps: int, every: int, device: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"{i}.json" for i in range(k)]
        procs = [subprocess.Popen([sys.executable, str(ROOT / "bench" / "gpu_work.py"), model, str(steps), str(every),
                                   device, str(out)], env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
                 for out in outs]  # one CPU thread each, as Ray gives a 1-CPU trial
        if any(p.wait() != 0 for p in procs):
            raise RuntimeError("a plain process failed")
        return throughput([json.loads(out.read_text()) for out in outs])


def tune_jobs_trials(model: str, k: int, steps: int, every: int, device: str) -> tuple[float, float]:
    import pandas as pd
    from rich.console import Console

    from tune_jobs.runner import run_job
    from tune_jobs.spec import validate_spec

    with tempfile.TemporaryDirectory() as tmp:
        gpu = {"gpu": 1 / k} if device == "cuda" else {}
        spec = validate_spec({
            "name": f"pack-{model}-{k}-{steps}", "trainable": "bench.gpu_work:train", "metric": "score", "mode": "max",
            "config": {"model": model, "steps": steps, "report_every": every, "device": device},
            "space": {"replica": {"grid": list(range(k))}}, "search": {"algorithm": "grid"},
            "resources": {"cpu": 1, **gpu}, "storage": tmp,
        })
        with open(os.devnull, "w") as quiet:
            run_job(spec, console=Console(file=quiet))
        rows = pd.read_parquet(Path(spec.results_dir) / "iterations.parquet")
        curves = [[(int(r.samples), float(r.wall)) for r in group.sort_values("training_iteration").itertuples()]
                  for _, group in rows.groupby("trial_id")]
        return throughput(curves)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--smoke", action="store_true", help="tiny cases, to check the script")
    parser.add_argument("--report-every", type=int, default=50)
    args = parser.parse_args()
    import ray

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            sys.exit("no CUDA device visible: run on a GPU machine, or --device cpu --smoke to check the script")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    cases = SMOKE if args.smoke else CASES
    every = 10 if args.smoke else args.report_every
    ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             logging_level="ERROR", num_cpus=max(k for _, k, _ in cases) + 1)
    print(f"{'case':<28}{'plain steady':>14}{'tune-jobs steady':>18}{'ratio':>8}{'plain e2e':>12}{'tune-jobs e2e':>15}{'ratio':>8}")
    for model, k, steps in cases:
        started = time.time()
        plain = plain_processes(model, k, steps, every, args.device)
        ours = tune_jobs_trials(model, k, steps, every, args.device)
        label = f"{model} k={k} {steps} steps"
        print(f"{label:<28}{plain[0]:>14.0f}{ours[0]:>18.0f}{ours[0] / plain[0]:>7.3f}x{plain[1]:>12.0f}{ours[1]:>15.0f}"
              f"{ours[1] / plain[1]:>7.3f}x   ({time.time() - started:.0f} s)", flush=True)
    ray.shutdown()
    print("\nsamples/s summed over the k concurrent trials; targets: ResNet-18 k=8 >= 0.98x, MLP k=16 >= 0.95x steady")


if __name__ == "__main__":
    main()
