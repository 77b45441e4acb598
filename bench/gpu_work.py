"""The unit of work for bench/gpu_packing.py: a model trained for a fixed number of steps on
synthetic data already on the device, with a wall-clock stamp at each report. Used both as a
tune-jobs trainable and by the plain-process baseline, so both run exactly the same loop."""

from __future__ import annotations

import time
from typing import Any


def build(model: str, device: Any) -> tuple[Any, Any, Any, int]:
    import torch
    from torch import nn

    if model == "resnet18":
        from trainables.models.vision import resnet18_small

        net, batch = resnet18_small(3, 10), 256
        x = torch.randn(batch, 3, 32, 32, device=device)
    else:
        net, batch = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)), 128
        x = torch.randn(batch, 64, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    return net.to(device), x, y, batch


def steps(config: dict[str, Any], on_report: Any) -> None:
    """``config``: model, steps, report_every, device. Calls ``on_report(samples, wall_time)``."""
    import torch
    from torch import nn

    device = torch.device(config.get("device", "cuda"))
    torch.backends.cudnn.benchmark = True
    net, x, y, batch = build(config["model"], device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    on_report(0, time.time())
    for step in range(1, int(config["steps"]) + 1):
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = nn.functional.cross_entropy(net(x).float(), y)
        loss.backward()
        optimizer.step()
        if step % int(config["report_every"]) == 0 or step == int(config["steps"]):
            if device.type == "cuda":
                torch.cuda.synchronize()
            on_report(step * batch, time.time())


def train(config: dict[str, Any], report: Any) -> None:
    """The tune-jobs trainable: one report per ``report_every`` steps."""
    steps(config, lambda samples, stamp: report({"samples": samples, "wall": stamp, "score": float(samples)}))


if __name__ == "__main__":  # the plain-process baseline: python bench/gpu_work.py MODEL STEPS EVERY DEVICE OUT
    import json
    import sys

    model, count, every, device, out = sys.argv[1:6]
    rows: list[tuple[int, float]] = []
    steps({"model": model, "steps": count, "report_every": every, "device": device}, lambda s, t: rows.append((s, t)))
    with open(out, "w") as handle:
        json.dump(rows, handle)
