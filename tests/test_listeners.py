"""Outputs as listeners: a throwaway output registered here is picked up by a real job and gets
each trial's rows once and its ending, as the Parquet files record them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

import tune_jobs
from tune_jobs.results.listeners import LISTENERS, ListenerContext, Listeners
from tune_jobs.results.store import ResultsStore


class Recorder:
    def __init__(self) -> None:
        self.rows: list[tuple[str, int]] = []
        self.ended: dict[str, str] = {}
        self.closed = False

    def trial_result(self, trial_id: str, config: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        self.rows.append((trial_id, int(metrics["training_iteration"])))

    def trial_ended(self, trial_id: str, status: str) -> None:
        self.ended[trial_id] = status

    def close(self, status: str) -> None:
        self.closed = status


@pytest.fixture
def recorders():
    made: list[Recorder] = []

    def factory(context: ListenerContext) -> Recorder | None:
        if context.settings.get("name") == "off":
            return None
        made.append(Recorder())
        return made[-1]

    LISTENERS.register("test-recorder")(factory)
    yield made
    LISTENERS.remove("test-recorder")


def test_a_row_reported_again_reaches_the_outputs_once(recorders, tmp_path):
    listeners = Listeners(ListenerContext(ResultsStore(str(tmp_path)), "score", "max", {"name": "job"}, {"a": 2}))
    recorder = recorders[-1]
    for trial_id, step in [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("b", 1), ("b", 2), ("b", 3)]:
        listeners.trial_result(trial_id, {}, {"training_iteration": step, "score": 0.0})
    listeners.trial_ended("b", "completed")
    listeners.close("interrupted")
    assert recorder.rows == [("a", 3), ("b", 1), ("b", 2), ("b", 3)]  # a's first two came in an earlier run
    assert recorder.ended == {"b": "completed"} and recorder.closed == "interrupted"


def test_a_factory_that_returns_none_leaves_its_output_off(recorders, tmp_path):
    Listeners(ListenerContext(ResultsStore(str(tmp_path)), "score", "max", {"name": "off"}))
    assert recorders == []


def test_a_registered_output_gets_every_row_of_a_real_job_once(ray_session, recorders, tmp_path):
    def peak(config, report):
        for step in range(1, 4):
            report({"score": -((config["x"] - 1.0) ** 2) + 0.01 * step})

    result = tune_jobs.run({"name": "listened", "trainable": peak, "metric": "score", "mode": "max",
                            "space": {"x": {"uniform": [0.0, 2.0]}}, "search": {"num_samples": 3, "seed": 0},
                            "storage": str(tmp_path), "tensorboard": False})
    recorder = recorders[-1]
    recorded = sorted(zip(result.iterations.trial_id, result.iterations.training_iteration.astype(int), strict=True))
    assert sorted(recorder.rows) == recorded and len(recorded) == 9
    assert recorder.ended == dict(zip(result.trials.trial_id, result.trials.status, strict=True)) and recorder.closed == "finished"
