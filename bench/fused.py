"""Fused training vs the plain loop, in one process: the same ``digits_mlp`` configurations
(fixed architecture; ``lr``, ``weight_decay``, ``dropout`` drawn per member, seeds 0..k-1),
trained one after the other by the loop and together as one stack by ``trainables.fused``.
Prints wall time, samples/s and the best validation accuracy of each, side by side with the ratio,
so that speed does not hide a quality loss (the members train exactly as alone: same metrics).

    python bench/fused.py [--members 4 16 64] [--epochs 10] [--threads 1] [--device cpu] [--trainable digits_cnn]

This measures the training itself. A tune-jobs job adds Ray's start (about 7 s here) and a
report and checkpoint per trial and epoch, fused or not.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def member_configs(count: int, epochs: int, device: str) -> list[dict[str, Any]]:
    rng = random.Random(0)
    return [{"epochs": epochs, "share_data": True, "device": device, "seed": index, "lr": 10 ** rng.uniform(-4, -1.5),
             "weight_decay": 10 ** rng.uniform(-6, -2), "dropout": rng.uniform(0.0, 0.5)} for index in range(count)]


def classifier(trainable: str, config: dict[str, Any]) -> Any:
    from trainables.registry import resolve_trainable

    build = resolve_trainable(trainable).classifier
    assert build is not None
    return build(config)


def one_after_another(trainable: str, configs: list[dict[str, Any]]) -> tuple[float, float]:
    from trainables.api import Recorder
    from trainables.loop import fit_classifier

    started, best = time.perf_counter(), 0.0
    for config in configs:
        recorder = Recorder()
        fit_classifier(classifier(trainable, config), recorder)
        best = max(best, max(row["val_accuracy"] for row in recorder.rows))
    return time.perf_counter() - started, best


def fused(trainable: str, configs: list[dict[str, Any]]) -> tuple[float, float]:
    from trainables.fused.group import Member, train_epoch

    started, best = time.perf_counter(), 0.0
    members = [Member.start(str(index), classifier(trainable, config)) for index, config in enumerate(configs)]
    while members:
        outcomes = train_epoch(members)
        best = max(best, *(metrics["val_accuracy"] for metrics, _ in outcomes))
        members = [m for m in members if not m.finished]
    return time.perf_counter() - started, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--trainable", default="digits_mlp", choices=["digits_mlp", "digits_cnn"],
                        help="digits_cnn: its defaults (conv-BatchNorm-ReLU blocks)")
    args = parser.parse_args()
    import torch

    from trainables.digits_mlp import load_digits_splits

    torch.set_num_threads(args.threads)
    train_rows = len(load_digits_splits(0.25, seed=0)[0])
    shape = "hidden 128, 2 layers" if args.trainable == "digits_mlp" else "its default channels and depth"
    print(f"{args.trainable} ({shape}), {args.epochs} epochs, {train_rows} training rows, device {args.device}, "
          f"{args.threads} thread(s)")
    print(f"{'members':>8} {'one by one s':>13} {'fused s':>9} {'speed-up':>9} {'samples/s one by one':>21} "
          f"{'samples/s fused':>16} {'best val_acc one by one':>24} {'fused':>7}")
    fused(args.trainable, [member_configs(1, 1, args.device)[0]])  # warm-up: imports, first allocations
    for count in args.members:
        configs = member_configs(count, args.epochs, args.device)
        alone_s, alone_best = one_after_another(args.trainable, configs)
        fused_s, fused_best = fused(args.trainable, configs)
        samples = count * args.epochs * train_rows
        print(f"{count:>8} {alone_s:>13.2f} {fused_s:>9.2f} {alone_s / fused_s:>8.2f}x {samples / alone_s:>21,.0f} "
              f"{samples / fused_s:>16,.0f} {alone_best:>24.4f} {fused_best:>7.4f}")


if __name__ == "__main__":
    main()
