"""Does a short search improve translation? ``examples/seq2seq_numbers.yaml`` (TPE + ASHA, 16
trials) against the trainable's default configuration, same epochs, in one run on one local Ray.

The search's best validation BLEU is optimistic (the maximum over the trials), so both the best
configuration and the default are then trained again with fresh seeds and scored on the held-out
test pairs, which neither the search nor the ranking ever saw. Printed side by side, as a ratio.

    python bench/seq2seq_search.py [--seeds 3] [--trials 16] [--cpus 2] [--epochs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

SPEC = ROOT / "examples" / "seq2seq_numbers.yaml"
SCORES = ("val_bleu", "test_bleu", "test_chrf", "test_exact")


def trained_scores(config: dict) -> dict[str, float]:
    """Train ``config`` to its last epoch; its last validation BLEU and its test-pair scores."""
    import torch

    from trainables.api import Recorder
    from trainables.builtin.translation import held_out_scores, train

    torch.set_num_threads(1)
    recorder = Recorder()
    train(config, recorder)
    return {"val_bleu": recorder.rows[-1]["val_bleu"], **held_out_scores(config, recorder.checkpoint)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3, help="fresh seeds each configuration is trained again with")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--epochs", type=int, help="instead of the example's 12 (a quick look)")
    args = parser.parse_args()
    import ray
    from rich.console import Console

    from tune_jobs.api import load
    from tune_jobs.runner import run_job
    from tune_jobs.spec import load_spec

    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR")
    with tempfile.TemporaryDirectory() as storage:
        overrides = [f"storage={storage}", f"search.num_samples={args.trials}"]
        spec = load_spec(SPEC, overrides + ([f"config.epochs={args.epochs}"] if args.epochs else []))
        with open(os.devnull, "w") as quiet:
            run_job(spec, console=Console(file=quiet))
        result = load(spec.results_dir)
        best = result.best
        assert best is not None, "no trial of the search finished"
        searched_best = best.value
    fixed = dict(spec.config)
    configs = {"default": fixed, "best of search": {**fixed, **best.config}}
    print(f"best configuration: {best.config}", file=sys.stderr)
    remote = ray.remote(num_cpus=1)(trained_scores)
    pending = {(name, seed): remote.remote({**config, "seed": seed}) for name, config in configs.items()
               for seed in range(1, args.seeds + 1)}
    scores = {key: ray.get(ref) for key, ref in pending.items()}
    ray.shutdown()
    epochs = fixed.get("epochs")
    print(f"\nseq2seq_transformer on numbers (en -> fr), {epochs} epochs; search: {spec.search.algorithm} + "
          f"{spec.scheduler.type}, {args.trials} trials, best val_bleu {searched_best:.1f}; then each configuration "
          f"trained again with seeds 1-{args.seeds}, mean over the seeds:")
    means = {name: {score: statistics.fmean(scores[(name, seed)][score] for seed in range(1, args.seeds + 1))
                    for score in SCORES} for name in configs}
    print(f"{'configuration':<16}" + "".join(f"{score:>12}" for score in SCORES))
    for name in configs:
        print(f"{name:<16}" + "".join(f"{means[name][score]:>12.3f}" for score in SCORES))
    ratio = means["best of search"]["test_bleu"] / max(means["default"]["test_bleu"], 1e-9)
    per_seed = ", ".join(f"{scores[('default', seed)]['test_bleu']:.1f} -> {scores[('best of search', seed)]['test_bleu']:.1f}"
                         for seed in range(1, args.seeds + 1))
    print(f"test BLEU, best of search / default: {ratio:.2f}x (per seed, default -> best of search: {per_seed})")


if __name__ == "__main__":
    main()
