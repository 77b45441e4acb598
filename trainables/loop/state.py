"""What every training loop (plain, fused, seq2seq) agrees on, so that a resumed or fused trial
matches the same trial run plainly: the metrics a classifier reports and each epoch's seed."""

CLASSIFIER_METRICS = {"train_loss": "min", "train_accuracy": "max", "val_loss": "min", "val_accuracy": "max",
                      # what the model costs, for several objectives (trainables/loop/costs.py)
                      "params": "min", "latency_ms": "min", "peak_memory_mb": "min", "train_time_s": "min"}

SEED_STRIDE = 100_003  # a prime: seeds of neighbouring trials' epochs never coincide in practice


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of ``epoch``'s data order and dropout masks, from the trial's ``seed``: the same
    on a resumed run (it goes on from its checkpoint's epoch) and for a fused member."""
    return seed * SEED_STRIDE + epoch
