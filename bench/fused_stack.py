"""One fused stack's training speed and how busy it keeps the device: ``digits_mlp`` stacks of
16 / 64 / 256 / 1,024 members (``lr``, ``weight_decay``, ``dropout`` drawn per member; data
shared, as in a job), each trained a warm-up epoch and then timed epochs, beside one member
trained alone by the plain loop in the same run.

Per member count: samples/s (members x training rows x epochs / seconds), the ratio to the plain
loop's samples/s and to the 116k samples/s a 256-member stack reached on an H200 before the stack
drew its masks on the device (issue 26), and, on CUDA, the device's busy share of one profiled
epoch (the CUDA kernels' summed time over the epoch's wall time; overlapping kernels could push it
above 100%, which one stream does not do) with the device operations (kernels, copies) per
training step: the profiled epoch's, its evaluation included, over its steps.

    python bench/fused_stack.py [--members 16 64 256 1024] [--epochs 3] [--device cuda]
    python bench/fused_stack.py --device cpu --members 4 16 --epochs 1   # checks the script
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fused import classifier, member_configs  # noqa: E402

BEFORE_SAMPLES_PER_S = 116_000  # 256 members, digits_mlp, H200, project main @212a936 (issue 26)


def plain_samples_per_s(config: dict[str, Any], epochs: int) -> float:
    from trainables.api import Recorder
    from trainables.loop.fit import fit_classifier

    recorder = Recorder()
    fit_classifier(classifier("digits_mlp", {**config, "epochs": epochs + 1}), recorder)
    rows = recorder.rows[1:]  # the first epoch warms up
    return sum(row["samples_per_s"] for row in rows) / len(rows)


def stack_figures(configs: list[dict[str, Any]], epochs: int, device: str) -> dict[str, float]:
    import torch

    from trainables.fused.members import Member, train_epoch

    members = [Member.start(str(index), classifier("digits_mlp", {**config, "epochs": epochs + 2}))
               for index, config in enumerate(configs)]
    rows = len(members[0].classifier.train)
    train_epoch(members)  # warm-up: kernels chosen, memory allocated
    started = time.perf_counter()
    for _ in range(epochs):
        outcomes = train_epoch(members)
    seconds = time.perf_counter() - started
    found = {"samples_per_s": len(members) * rows * epochs / seconds, "epoch_s": seconds / epochs,
             "best_val_accuracy": max(metrics["val_accuracy"] for metrics, _ in outcomes)}
    if device == "cuda":
        from torch.profiler import ProfilerActivity, profile

        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as profiler:
            profiled = time.perf_counter()
            outcomes = train_epoch(members)
            torch.cuda.synchronize()
            wall = time.perf_counter() - profiled
        kernels = [event for event in profiler.events() if event.device_type == torch.autograd.DeviceType.CUDA]
        busy = sum(event.time_range.elapsed_us() for event in kernels) / 1e6
        steps = -(-rows // members[0].settings.batch_size)
        found.update(busy_share=busy / wall, kernels_per_step=len(kernels) / steps,
                     gpu_mem_peak_mb=outcomes[0][0].get("gpu_mem_peak_mb", float("nan")))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, nargs="+", default=[16, 64, 256, 1024])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = parser.parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device visible: run on a GPU machine, or --device cpu to check the script")
    configs = member_configs(max(args.members), args.epochs, args.device)
    for config in configs:
        config["share_data"] = True
    plain = plain_samples_per_s(configs[0], args.epochs)
    print(f"digits_mlp (hidden 128, 2 layers), {args.epochs} timed epochs after one warm-up, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else ""))
    print(f"plain loop, one trial: {plain:,.0f} samples/s")
    print(f"{'members':>8}{'epoch s':>9}{'samples/s':>12}{'vs plain':>10}{'vs 116k':>9}{'GPU busy':>10}"
          f"{'kernels/step':>14}{'peak MB':>9}{'best val_acc':>14}")
    for count in args.members:
        found = stack_figures(configs[:count], args.epochs, args.device)
        busy = f"{found['busy_share']:.0%}" if "busy_share" in found else "-"
        kernels = f"{found['kernels_per_step']:.0f}" if "kernels_per_step" in found else "-"
        peak = f"{found['gpu_mem_peak_mb']:.0f}" if "gpu_mem_peak_mb" in found else "-"
        print(f"{count:>8}{found['epoch_s']:>9.3f}{found['samples_per_s']:>12,.0f}{found['samples_per_s'] / plain:>9.1f}x"
              f"{found['samples_per_s'] / BEFORE_SAMPLES_PER_S:>8.2f}x{busy:>10}{kernels:>14}{peak:>9}"
              f"{found['best_val_accuracy']:>14.4f}", flush=True)
    print("targets (issue 26, 256 members on a GPU): >= 10x the 116k samples/s, the GPU busy >= half the epoch")


if __name__ == "__main__":
    main()
