"""Per-trial overhead: 100 trivial trials (3 reports each, no work) through tune-jobs (Parquet and
TensorBoard writing included, and without TensorBoard) vs plain Ray Tune with its defaults vs plain
Ray Tune with reuse_actors=True, on one local Ray in the same run.

    python bench/overhead.py [--trials 100] [--cpus 2]
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


LOGGERS_OFF = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"


def plain_ray_tune(trials: int, storage: str, reuse_actors: bool, loggers: bool = True) -> float:
    """``loggers``: Ray's default result loggers (JSON, CSV, TensorBoard per trial), as a user of
    plain Ray Tune gets them; False turns them off (its leanest). tune-jobs turns them off in its
    own driver (it writes Parquet instead), so a plain run after a tune-jobs run in the same process
    would silently inherit that: the variable is set for this call either way."""
    from ray import tune

    from bench.trivial import train

    def trainable(config):
        train(config, lambda metrics: tune.report(metrics))

    saved = os.environ.get(LOGGERS_OFF)
    os.environ[LOGGERS_OFF] = "0" if loggers else "1"
    try:
        started = time.perf_counter()
        tune.Tuner(
            trainable,
            param_space={"x": tune.uniform(0, 1)},
            tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=trials, reuse_actors=reuse_actors),
            run_config=tune.RunConfig(storage_path=storage, name=f"plain-{reuse_actors}-{loggers}", verbose=0),
        ).fit()
        return time.perf_counter() - started
    finally:
        if saved is None:
            os.environ.pop(LOGGERS_OFF, None)
        else:
            os.environ[LOGGERS_OFF] = saved


def through_tune_jobs(trials: int, storage: str, tensorboard: bool = True, algorithm: str | None = None) -> float:
    """``algorithm`` None: the spec's default (``auto``, which is bayesopt on this space)."""
    from rich.console import Console

    from tune_jobs.runner import run_job
    from tune_jobs.spec import validate_spec

    spec = validate_spec({
        "name": f"overhead-{tensorboard}".lower(), "tensorboard": tensorboard,
        "trainable": "bench.trivial:train", "metric": "score", "mode": "max",
        "space": {"x": {"uniform": [0, 1]}}, "search": {"num_samples": trials, "seed": 0,
                   **({"algorithm": algorithm} if algorithm else {})},
        "failure": {"max_failures": 0}, "storage": storage,
    })
    with open(os.devnull, "w") as quiet:
        started = time.perf_counter()
        outcome = run_job(spec, console=Console(file=quiet))
        elapsed = time.perf_counter() - started
    assert outcome.counts["completed"] == trials, outcome.counts
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=6, help="runs of each fast setting (median reported)")
    args = parser.parse_args()
    import ray

    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR")
    with tempfile.TemporaryDirectory() as storage:
        through_tune_jobs(4, storage + "/warmup")  # first-use costs (imports, worker start) out of the way
        runs = {"plain Ray Tune (defaults, reuse_actors=False)": plain_ray_tune(args.trials, storage, reuse_actors=False)}
        repeated: dict[str, list[float]] = {}
        settings = [
            ("plain Ray Tune (reuse_actors=True)", lambda where: plain_ray_tune(args.trials, where, reuse_actors=True)),
            ("plain Ray Tune (reuse_actors=True, no loggers)",
             lambda where: plain_ray_tune(args.trials, where, reuse_actors=True, loggers=False)),
            ("tune-jobs (Parquet + TensorBoard, default)", lambda where: through_tune_jobs(args.trials, where)),
            ("tune-jobs (Parquet, tensorboard: false)", lambda where: through_tune_jobs(args.trials, where, tensorboard=False)),
        ]
        for repeat in range(args.repeats):
            # Single runs vary by +-20% here, and by position after another run: the order rotates
            # each repeat and each setting reports its median.
            turn = repeat % len(settings)
            for name, run in settings[turn:] + settings[:turn]:
                repeated.setdefault(name, []).append(run(f"{storage}/{repeat}"))
        runs.update({name: statistics.median(values) for name, values in repeated.items()})
    ray.shutdown()
    best_plain = min(v for k, v in runs.items() if k.startswith("plain"))
    print(f"\n{args.trials} trivial trials, {args.cpus} CPUs, one local Ray (fast settings: median of {args.repeats} runs)")
    print(f"{'setting':<48}{'total s':>9}{'s/trial':>10}{'vs best plain':>15}")
    for name, seconds in runs.items():
        print(f"{name:<48}{seconds:>9.2f}{seconds / args.trials:>10.4f}{seconds / best_plain:>14.2f}x")
    ratio = runs["tune-jobs (Parquet + TensorBoard, default)"] / best_plain
    print(f"\ntune-jobs / best plain Ray Tune = {ratio:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
