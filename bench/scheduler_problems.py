"""Trainables of ``bench/schedulers.py``: every report carries its wall-clock time.

- ``digits``: the digits MLP (real training); ``digits_cnn``: the digits CNN (real training).
- ``curve``: a synthetic learning curve with a known optimum: each epoch the score moves a share
  ``rate`` of the way to its ceiling ``f``; a high learning rate learns fast but to a lower
  ceiling, so curves cross and early results mislead. Sleeps ``epoch_s`` per epoch, as training
  would. Stateful (the score is checkpointed), so PBT can copy it and go on with a mutated rate.
- ``replay``: one of ``candidates`` (configs chosen by an earlier stage), picked by ``pick``.
- ``table``: the trainable of a curve table (``bench/curve_tables.py``, named by ``table``) with
  the table's fixed settings: the real training the simulated backend replays.
"""

from __future__ import annotations

import math
import time
from typing import Any

CURVE_OPTIMUM = 0.95


def _timed(report: Any) -> Any:
    def timed(metrics: dict[str, Any], checkpoint: Any = None) -> None:
        report({**metrics, "wall_clock": time.time()}, checkpoint=checkpoint)

    return timed


def digits(config: dict[str, Any], report: Any, checkpoint: Any = None) -> None:
    from trainables.builtin.digits_mlp import train

    train(config, _timed(report), checkpoint)


def digits_cnn(config: dict[str, Any], report: Any, checkpoint: Any = None) -> None:
    from trainables.builtin.digits_cnn import train

    train(config, _timed(report), checkpoint)


def ceiling(config: dict[str, Any]) -> float:
    return (CURVE_OPTIMUM - 0.08 * (math.log10(config["lr"]) + 2.3) ** 2 - 0.5 * (config["dropout"] - 0.2) ** 2
            - (0.03 if config["optimizer"] == "sgd" else 0.0) - 0.01 * abs(math.log2(config["width"] / 128)))


def curve(config: dict[str, Any], report: Any, checkpoint: Any = None) -> None:
    score, start = (checkpoint["score"], checkpoint["epoch"]) if checkpoint else (0.1, 0)
    timed = _timed(report)
    for epoch in range(start + 1, int(config["epochs"]) + 1):
        time.sleep(float(config.get("epoch_s", 0.25)))
        rate = min(0.6, max(0.02, 0.06 * math.sqrt(config["lr"] / 1e-3)))
        score += rate * (ceiling(config) - score)
        timed({"val_accuracy": score, "epoch": epoch}, checkpoint={"score": score, "epoch": epoch})


def table(config: dict[str, Any], report: Any, checkpoint: Any = None) -> None:
    from bench.curve_tables import TABLES
    from trainables.registry import TRAINABLES

    setup = TABLES[config["table"]]
    chosen = {**setup.fixed, **{k: v for k, v in config.items() if k != "table"}}
    TRAINABLES.get(setup.trainable).function(chosen, _timed(report), checkpoint)


REPLAY_KEYS = ("problem", "candidates", "pick")


def replay(config: dict[str, Any], report: Any, checkpoint: Any = None) -> None:
    chosen = {k: v for k, v in config.items() if k not in REPLAY_KEYS} | config["candidates"][int(config["pick"])]
    {"digits": digits, "digits_cnn": digits_cnn, "curve": curve}[config["problem"]](chosen, report, checkpoint)
