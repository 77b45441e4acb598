"""The one training loop every built-in classifier runs: fit (the epoch loop), config (the knobs
it exposes), state (checkpoint format, epoch seeds, metric names), schedules, dynamics."""
