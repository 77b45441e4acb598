"""A user trainable: a plain function of (config, report), no Ray import.

Run it with `tune-jobs run examples/my_trainable.yaml` from the repository root.
"""


def train(config, report):
    for step in range(1, config["steps"] + 1):
        loss = (config["x"] - 2.0) ** 2 / step + 0.01 * config["noise"]
        report({"loss": loss, "step": step})  # one call = one iteration
