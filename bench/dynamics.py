"""What the training-dynamics metrics (``dynamics: true``) cost: the same trainings with them off
and on, side by side, total time of the epochs after the first (the first is always measured, the
later ones within the 3% budget), median over repeats, as a ratio; the share of epochs measured,
and the measurements' own time as a share of the epochs' (run-to-run noise does not touch it).

    python bench/dynamics.py [--epochs 30] [--repeats 5] [--threads 1]
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


def epoch_times(name: str, config: dict[str, Any], dynamics: bool, epochs: int) -> tuple[float, float, float]:
    """(seconds of epochs 2.., share of those epochs with dynamics figures, seconds the measurements
    themselves took by their own clock)."""
    from trainables.api import Recorder
    from trainables.loop.fit import fit_classifier
    from trainables.registry import resolve_trainable

    trainable = resolve_trainable(name.split(" ")[0])
    assert trainable.classifier is not None
    recorder = Recorder()
    fit_classifier(trainable.classifier({**config, "epochs": epochs, "dynamics": dynamics, "device": "cpu"}), recorder)
    later = recorder.rows[1:]
    return (sum(row["epoch_time_s"] for row in later), sum("weight_norm" in row for row in later) / len(later),
            sum(row.get("dynamics_time_s", 0.0) for row in later))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"time of epochs 2..{args.epochs}, median of {args.repeats} repeats alternating off/on, "
          f"{args.threads} thread(s), CPU")
    print(f"{'training':36s} {'epoch s':>9} {'off s':>9} {'on s':>9} {'on / off':>9} {'measured':>9} {'own clock':>10}")
    for name, config in TRAININGS.items():
        off: list[float] = []
        on: list[float] = []
        measured: list[float] = []
        own: list[float] = []
        for _ in range(args.repeats):  # alternate, so drifts in machine load hit both
            off.append(epoch_times(name, config, False, args.epochs)[0])
            seconds, share, spent = epoch_times(name, config, True, args.epochs)
            on.append(seconds)
            measured.append(share)
            own.append(spent / seconds)
        off_s, on_s = statistics.median(off), statistics.median(on)
        print(f"{name:36s} {off_s / (args.epochs - 1):>9.4f} {off_s:>9.3f} {on_s:>9.3f} {on_s / off_s:>8.3f}x "
              f"{statistics.median(measured):>8.0%} {statistics.median(own):>9.1%}")
    print("measured: the share of epochs with dynamics figures; own clock: the measurements' time / the epochs' time, "
          "timed where they run (on/off differences below a few percent are within this machine's run-to-run noise)")


if __name__ == "__main__":
    main()
