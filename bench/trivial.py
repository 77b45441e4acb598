"""A trainable that does no work: three reports, for measuring per-trial overhead."""


def train(config, report):
    for step in range(3):
        report({"score": config["x"] + step})
