"""digits_mlp with the wall-clock time of each report added, for time-to-target measurements."""

import time

from trainables.builtin.digits_mlp import train as digits_train


def train(config, report, checkpoint=None):
    def timed(metrics, checkpoint=None):
        report({**metrics, "wall_clock": time.time()}, checkpoint=checkpoint)

    digits_train(config, timed, checkpoint)
