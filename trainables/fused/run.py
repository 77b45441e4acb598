"""A stack as one trainable: the members' configurations in, one report per epoch out with every
member's metrics, and one checkpoint holding every member's own (the plain loop's format).

No Ray here. The runner hands the stack its members (``MEMBERS``: trial id and searched values
each; the rest of the config is shared) and, when a scheduler decides per member, ``decide``:
given the members' metrics of an epoch, the ids to stop. A member leaves the stack when it has
trained its epochs, stopped itself early, diverged, or was stopped; the others go on unchanged.
Members whose ``stack_key`` differs (a different dropout on a model with several dropout layers,
say) train as separate stacked models inside the stack, one after the other, each epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from trainables.api import Report
from trainables.registry import TrainableDef

MEMBERS = "tune_jobs_members"  # config: [{"trial_id", "config"}]; report: {trial_id: metrics}
ENDED = "tune_jobs_ended"  # report: {trial_id: how it ended}, for members that left this epoch
FINISHED, STOPPED_BY_SCHEDULER = "finished", "stopped"  # a DIVERGED reason carries its message
DIVERGED = "diverged: "

Decide = Callable[[dict[str, dict[str, Any]]], set[str]]


def member_id(stack_id: str, index: int) -> str:
    """A member's trial id: its stack's (a Ray trial id, which has no '-') and its place in it."""
    return f"{stack_id}-{index}"


def stack_of(trial_id: str) -> str | None:
    """The stack a member's trial id belongs to (None for a trial that was not fused)."""
    return trial_id.rsplit("-", 1)[0] if "-" in trial_id else None


def member_configs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each member's whole config: the shared keys and its own."""
    shared = {key: value for key, value in config.items() if key != MEMBERS}
    return {member["trial_id"]: {**shared, **member["config"]} for member in config[MEMBERS]}


def stack_trainable(trainable: TrainableDef, metric: str, mode: str, decide: Decide | None = None) -> Callable[..., None]:
    """``train(config, report, checkpoint=None)`` training the members of ``config[MEMBERS]`` fused."""
    assert trainable.classifier is not None, "only classifiers are fused"
    build = trainable.classifier

    def train_stack(config: dict[str, Any], report: Report, checkpoint: dict[str, Any] | None = None) -> None:
        from trainables.fused.members import Member, stack_key, train_epoch

        saved = checkpoint or {"members": {}, "ended": {}}
        ended: dict[str, str] = dict(saved["ended"])
        members = [Member.start(trial_id, build(member_config), saved["members"].get(trial_id))
                   for trial_id, member_config in member_configs(config).items() if trial_id not in ended]
        states: dict[str, Any] = dict(saved["members"])
        while members:
            stacked_models: dict[str, list[Any]] = {}  # stack_key -> the members trained as one model
            for member in members:
                key = stack_key(member)
                if isinstance(key, str):
                    raise ValueError(f"trial {member.trial_id} cannot be fused: {key}")
                stacked_models.setdefault(repr(key), []).append(member)
            results: dict[str, dict[str, Any]] = {}
            for sharing in stacked_models.values():
                for member, (metrics, state) in zip(sharing, train_epoch(sharing), strict=True):
                    results[member.trial_id] = metrics
                    states[member.trial_id] = state
            leaving = _left_by_themselves(results, metric, members)
            if decide is not None:
                running = {trial_id: metrics for trial_id, metrics in results.items() if trial_id not in leaving}
                leaving.update({trial_id: STOPPED_BY_SCHEDULER for trial_id in decide(running)})
            ended.update(leaving)
            members = [member for member in members if member.trial_id not in leaving]
            values = [m[metric] for m in results.values() if isinstance(m.get(metric), (int, float)) and math.isfinite(m[metric])]
            best = (max if mode == "max" else min)(values) if values else math.nan
            report({metric: best, MEMBERS: results, ENDED: leaving},
                   checkpoint={"members": states, "ended": ended})

    return train_stack


def _left_by_themselves(results: dict[str, dict[str, Any]], metric: str, members: list[Any]) -> dict[str, str]:
    by_id = {member.trial_id: member for member in members}
    leaving = {}
    for trial_id, metrics in results.items():
        value = metrics.get(metric)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            leaving[trial_id] = f"{DIVERGED}{metric} reported as {value!r}, not a finite number"
        elif metrics.get("early_stopped") or by_id[trial_id].finished:
            leaving[trial_id] = FINISHED
    return leaving
