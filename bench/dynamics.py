"""What the training-dynamics metrics (``dynamics: true``) cost per epoch: the same trainings with
them off and on, side by side, median epoch time over the epochs after the first, as a ratio.

    python bench/dynamics.py [--epochs 8] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TRAININGS = {
    "digits_mlp": {"hidden": 128, "layers": 2},
    "digits_mlp (hidden 1024, 4 layers)": {"hidden": 1024, "layers": 4},
    "digits_cnn": {},
    "tabular_mlp (breast_cancer)": {"data": "breast_cancer"},
}


def epoch_times(name: str, config: dict[str, Any], dynamics: bool, epochs: int) -> list[float]:
    from trainables.api import Recorder
    from trainables.loop import fit_classifier
    from trainables.registry import resolve_trainable

    trainable = resolve_trainable(name.split(" ")[0])
    assert trainable.classifier is not None
    recorder = Recorder()
    fit_classifier(trainable.classifier({**config, "epochs": epochs, "dynamics": dynamics, "device": "cpu"}), recorder)
    return [row["epoch_time_s"] for row in recorder.rows[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"median epoch time over epochs 2..{args.epochs}, {args.repeats} repeats alternating, "
          f"{args.threads} thread(s), CPU")
    print(f"{'training':32s} {'off s':>9} {'on s':>9} {'on / off':>9}")
    for name, config in TRAININGS.items():
        off: list[float] = []
        on: list[float] = []
        for _ in range(args.repeats):  # alternate, so drifts in machine load hit both
            off += epoch_times(name, config, False, args.epochs)
            on += epoch_times(name, config, True, args.epochs)
        off_s, on_s = statistics.median(off), statistics.median(on)
        print(f"{name:32s} {off_s:>9.4f} {on_s:>9.4f} {on_s / off_s:>8.3f}x")


if __name__ == "__main__":
    main()
