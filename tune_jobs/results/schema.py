"""The results schema in one place: trial statuses, column names and their order.
Pure Python: the spec, the CLI and the analysis import it without PyArrow or Ray.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Statuses written to trials.parquet.
RUNNING, PAUSED, COMPLETED, STOPPED, FAILED = "running", "paused", "completed", "stopped", "failed"
SUCCEEDED = (COMPLETED, STOPPED)  # a trial with a result a user may pick
STATUSES = (RUNNING, PAUSED, COMPLETED, STOPPED, FAILED)

TRIAL_ID, STATUS, ERROR, ITERATIONS, TRACEBACK = "trial_id", "status", "error", "iterations", "traceback"
TRIAL_COLUMNS = (TRIAL_ID, STATUS, ERROR, ITERATIONS, "time_total_s", "retries", "retried_after", TRACEBACK)
ITERATION_COLUMNS = (TRIAL_ID, "training_iteration", "time_total_s", "timestamp")
CONFIG_PREFIX = "config/"


def config_column(key: str) -> str:
    return CONFIG_PREFIX + key


def config_of(row: dict[str, Any]) -> dict[str, Any]:
    """The config keys of a trials.parquet row, without their column prefix."""
    return {k.removeprefix(CONFIG_PREFIX): v for k, v in row.items() if k.startswith(CONFIG_PREFIX)}


def searched_part(config: dict[str, Any], searched: Iterable[str]) -> dict[str, Any]:
    """The searched keys of a trial's config, which tell trials apart (all of it when none was searched)."""
    keys = set(searched)
    return {k: v for k, v in config.items() if k in keys} or config


def best_column(metric: str) -> str:
    return f"best_{metric}"
