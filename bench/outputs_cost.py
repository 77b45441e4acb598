"""What each output costs the driver per reported iteration, at the size of a long job: rows of
``--trials`` trials x ``--epochs`` iterations fed through the same ``Listeners`` a job uses, with
no output, with TensorBoard (on by default), and with MLflow on an SQLite store; then what a
resumed job's start costs MLflow (reading back every trial's run). Each side beside no output,
as a ratio.

    .venv/bin/python -m bench.outputs_cost --trials 1000 --epochs 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from tune_jobs.results.job_record import now_iso
from tune_jobs.results.listeners import ListenerContext, Listeners
from tune_jobs.results.store import ResultsStore


def feed(directory: Path, settings: dict[str, Any], trials: int, epochs: int, written: dict[str, int] | None = None,
         start_time: str = "") -> tuple[float, float]:
    """Seconds the driver's loop spent handing rows over (opening included), and seconds ``close``
    took (an output that writes in the background drains its backlog there)."""
    store = ResultsStore(str(directory))
    store.write_json("job.json", {"spec": settings, "start_time": start_time or now_iso()})
    started = time.perf_counter()
    outputs = Listeners(ListenerContext(store, "val_accuracy", "max", settings, written or {}))
    for trial in range(trials):
        trial_id = f"t{trial:05d}"
        config = {"lr": 10 ** (-4 + 3 * trial / trials), "batch_size": 64, "optimizer": "adam"}
        for epoch in range(1, epochs + 1):
            outputs.trial_result(trial_id, config, {"training_iteration": epoch, "val_accuracy": 0.5 + epoch / (2 * epochs),
                                                    "val_loss": 1.0 / epoch, "train_loss": 1.2 / epoch, "time_total_s": epoch * 0.4,
                                                    "timestamp": time.time()})
        outputs.trial_ended(trial_id, "completed")
    handed = time.perf_counter()
    outputs.close("finished")
    return handed - started, time.perf_counter() - handed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    rows = args.trials * args.epochs
    base = {"name": "cost", "metric": "val_accuracy", "mode": "max", "space": {"lr": {"loguniform": [1e-4, 1e-1]}},
            "scheduler": {"type": "fifo"}}
    import mlflow.tracking  # noqa: F401  (imports are paid once per driver, not per row: out of the timing)
    import tensorboardX.summary  # noqa: F401

    start_time = now_iso()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        sides = {
            "no output": {**base, "tensorboard": False},
            "tensorboard": {**base, "tensorboard": True},
            "mlflow (sqlite)": {**base, "tensorboard": False,
                                "outputs": {"mlflow": {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "experiment": "cost"}}},
        }
        seconds = {name: feed(root / name.split()[0], settings, args.trials, args.epochs, start_time=start_time)
                   for name, settings in sides.items()}
        resumed = feed(root / "mlflow", sides["mlflow (sqlite)"], args.trials, args.epochs,
                       written={f"t{t:05d}": args.epochs for t in range(args.trials)}, start_time=start_time)
    print(f"{args.trials} trials x {args.epochs} iterations = {rows:,} rows through the job's listeners")
    print(f"{'output':<18}{'in the loop s':>14}{'us per row':>12}{'vs no output':>14}{'close s':>9}")
    for name, (loop, close) in seconds.items():
        print(f"{name:<18}{loop:>14.3f}{loop / rows * 1e6:>12.1f}{loop / seconds['no output'][0]:>13.1f}x{close:>9.2f}")
    print(f"mlflow, a resumed job with every run already there (reads them back, logs nothing): "
          f"{resumed[0]:.3f} s in the loop, {resumed[1]:.2f} s at close")


if __name__ == "__main__":
    main()
