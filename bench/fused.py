"""Fused training vs the plain loop, in one process: the same ``digits_mlp`` configurations
(fixed architecture; ``lr``, ``weight_decay``, ``dropout`` drawn per member, seeds 0..k-1),
trained one after the other by the loop and together as one stack by ``trainables.fused``.
Prints wall time, samples/s and the best validation accuracy of each, side by side with the ratio,
so that speed does not hide a quality loss (the members train as alone: the same metrics without
dropout; with it, their own masks, so other samples of the same configurations).

    python bench/fused.py [--members 4 16 64] [--epochs 10] [--threads 1] [--device cpu]
                          [--trainable digits_mlp|digits_cnn|text_transformer]

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


# Models mapped whole share their dropout rate within a stack (members with other rates train as
# separate groups), so for them the rate is fixed and only lr and weight_decay are drawn.
WHOLE_MODEL_CONFIG = {"text_transformer": {"data": "synthetic", "d_model": 32, "nhead": 4, "dim_feedforward": 64, "layers": 2,
                                           "max_length": 32, "optimizer": "adamw", "dropout": 0.1}}


def member_configs(count: int, epochs: int, device: str, trainable: str = "digits_mlp") -> list[dict[str, Any]]:
    rng = random.Random(0)
    fixed = WHOLE_MODEL_CONFIG.get(trainable, {})
    configs = []
    for index in range(count):
        lr, weight_decay, dropout = 10 ** rng.uniform(-4, -1.5), 10 ** rng.uniform(-6, -2), rng.uniform(0.0, 0.5)
        configs.append({"epochs": epochs, "share_data": True, "device": device, "seed": index, "lr": lr,
                        "weight_decay": weight_decay, "dropout": dropout, **fixed})
    return configs


def classifier(trainable: str, config: dict[str, Any]) -> Any:
    from trainables.registry import resolve_trainable

    build = resolve_trainable(trainable).classifier
    assert build is not None
    return build(config)


def one_after_another(trainable: str, configs: list[dict[str, Any]]) -> tuple[float, float]:
    from trainables.api import Recorder
    from trainables.loop.fit import fit_classifier

    started, best = time.perf_counter(), 0.0
    for config in configs:
        recorder = Recorder()
        fit_classifier(classifier(trainable, config), recorder)
        best = max(best, max(row["val_accuracy"] for row in recorder.rows))
    return time.perf_counter() - started, best


def fused(trainable: str, configs: list[dict[str, Any]]) -> tuple[float, float]:
    from trainables.fused.members import Member, train_epoch

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
    parser.add_argument("--trainable", default="digits_mlp", choices=["digits_mlp", "digits_cnn", "text_transformer"],
                        help="digits_cnn: its defaults (conv-BatchNorm-ReLU blocks); text_transformer: d_model 32, "
                             "2 layers, synthetic texts, dropout 0.1 for every member")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    train_rows = len(classifier(args.trainable, member_configs(1, 1, args.device, args.trainable)[0]).train)
    shape = {"digits_mlp": "hidden 128, 2 layers", "digits_cnn": "its default channels and depth",
             "text_transformer": "d_model 32, 2 layers"}[args.trainable]
    print(f"{args.trainable} ({shape}), {args.epochs} epochs, {train_rows} training rows, device {args.device}, "
          f"{args.threads} thread(s)")
    print(f"{'members':>8} {'one by one s':>13} {'fused s':>9} {'speed-up':>9} {'samples/s one by one':>21} "
          f"{'samples/s fused':>16} {'best val_acc one by one':>24} {'fused':>7}")
    warm_up = member_configs(1, 1, args.device, args.trainable)  # imports (torch.optim's first one imports dynamo), first allocations
    one_after_another(args.trainable, warm_up)
    fused(args.trainable, warm_up)
    for count in args.members:
        configs = member_configs(count, args.epochs, args.device, args.trainable)
        alone_s, alone_best = one_after_another(args.trainable, configs)
        fused_s, fused_best = fused(args.trainable, configs)
        samples = count * args.epochs * train_rows
        print(f"{count:>8} {alone_s:>13.2f} {fused_s:>9.2f} {alone_s / fused_s:>8.2f}x {samples / alone_s:>21,.0f} "
              f"{samples / fused_s:>16,.0f} {alone_best:>24.4f} {fused_best:>7.4f}")


if __name__ == "__main__":
    main()
