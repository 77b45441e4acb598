"""User trainables for the tests: plain functions of (config, report), no Ray, no torch."""

from __future__ import annotations

import time


def quadratic(config, report):
    """Peaks at x = 1; improves a little each step so ASHA has curves to compare."""
    for step in range(1, int(config.get("steps", 3)) + 1):
        report({"score": -((config["x"] - 1.0) ** 2) + 0.01 * step, "step": step})
        time.sleep(float(config.get("sleep", 0.0)))


def raises(config, report):
    report({"score": 1.0})
    raise ValueError("boom on purpose")


def nan_metric(config, report):
    report({"score": 0.5})
    report({"score": float("nan")})
    report({"score": 0.7})  # never reached: the trial ends at the NaN


def wrong_metric(config, report):
    report({"loss": 1.0})


def silent(config, report):
    return None


def trivial(config, report):
    for _ in range(3):
        report({"score": 1.0})


def counting(config, report, checkpoint=None):
    """Reports step = 1..steps, checkpointing each, so a resumed trial continues where it was."""
    start = checkpoint["step"] if checkpoint else 0
    for step in range(start + 1, int(config["steps"]) + 1):
        time.sleep(float(config.get("sleep", 0.0)))
        report({"score": float(step) + config.get("x", 0.0), "step": step}, checkpoint={"step": step})


def killed_once(config, report, checkpoint=None):
    """Like ``counting``, but the process dies by SIGKILL (as the OOM killer does) at step 2 of
    the first attempt of the trial whose ``x`` is above 0.5: no exception, no cleanup."""
    import os
    import signal

    start = checkpoint["step"] if checkpoint else 0
    for step in range(start + 1, int(config["steps"]) + 1):
        if step == 2 and checkpoint is None and config["x"] > 0.5:
            os.kill(os.getpid(), signal.SIGKILL)
        report({"score": float(step) + config["x"], "step": step}, checkpoint={"step": step})


def shared_loader(config, report):
    """Loads its "data" through ``shared``; every real load appends a line to ``config['log']``."""
    from trainables.shared_data import shared

    def load():
        with open(config["log"], "a") as log:
            log.write("loaded\n")
        time.sleep(0.5)
        return list(range(1000))

    data, seconds = shared("user-data", load, enabled=config.get("share", True))
    report({"score": float(sum(data)) + config["x"], "data_time_s": seconds})


def tensor_metrics(config, report):
    """What a PyTorch loop reports naturally: a 0-d tensor and a numpy scalar."""
    import numpy as np
    import torch

    for step in range(1, 3):
        report({"score": torch.tensor(config["x"] * step), "loss": np.float32(1.0 / step)})


def list_metric(config, report):
    report({"score": 0.5})
    report({"score": 0.6, "per_class": [0.1, 0.2]})


def misspelt_key(config, report):
    """The first-hour mistake: a key the config does not have, before any report."""
    for step in range(config["stepz"]):
        report({"score": step})


def mf_hartmann6(config, report):
    """The simulator's MF-Hartmann6 curve, trained for real: one report per epoch."""
    from tune_jobs.simulation import MFHartmann6

    for value, _ in MFHartmann6(epochs=int(config["epochs"])).curve(config, seed=0):
        report({"score": value})


def gpu_measured(config, report, checkpoint=None):
    """Reports the memory a GPU trial reports (``resources.gpu: auto`` sizes trials from it); the
    trial that starts second runs out of CUDA memory on its first two attempts, after its first
    checkpoint."""
    import os
    import time
    from pathlib import Path

    import torch

    victim = os.path.join(config["starts"], "victim")
    if checkpoint is None and _claim(config["starts"], "start") == 2:
        with open(victim, "w") as out:
            out.write(repr(config["x"]))
    is_victim = os.path.exists(victim) and Path(victim).read_text() == repr(config["x"])
    first = checkpoint["step"] + 1 if checkpoint else 1
    for step in range(first, 4):
        time.sleep(0.3)
        report({"score": config["x"] + step, "gpu_mem_reserved_mb": 1500.0, "gpu_mem_total_mb": 10000.0},
               checkpoint={"step": step})
        if is_victim and _claim(config["starts"], "oom") <= 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def _claim(directory, kind):
    """The next number of ``kind`` (1, 2, ...), claimed atomically: one file each."""
    import os

    number = 0
    while True:
        number += 1
        try:
            os.close(os.open(os.path.join(directory, f"{kind}-{number}"), os.O_CREAT | os.O_EXCL))
            return number
        except FileExistsError:
            continue
