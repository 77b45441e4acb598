"""A trainable that does no work: three reports, for measuring per-trial overhead."""


def train(config, report):
    for step in range(3):
        report({"score": config["x"] + step})


def many_reports(config, report):
    """``reports`` reports, no work: a job that is all bookkeeping (bench/scale.py's readers)."""
    for step in range(int(config["reports"])):
        report({"score": config["x"] + step * 1e-6})
