"""A trainable with a fixed cost per step that checkpoints every step, for fault benchmarks."""

import time


def train(config, report, checkpoint=None):
    start = checkpoint["step"] if checkpoint else 0
    for step in range(start + 1, int(config["steps"]) + 1):
        time.sleep(float(config["sleep"]))
        report({"score": config["x"] + step * 1e-3, "step": step}, checkpoint={"step": step})
