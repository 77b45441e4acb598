"""One call registers a built-in classifier: its set-up function and config, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from trainables.loop.state import CLASSIFIER_METRICS
from trainables.registry import TrainFunction, register_trainable


def register_classifier(
    name: str, *, config: type[BaseModel], classifier: Callable[[dict[str, Any]], Any], description: str,
    fusable: bool = False, fusion_blocker: Callable[[dict[str, Any]], str | None] | None = None,
) -> TrainFunction:
    """A built-in classifier in one call: ``classifier(config)`` sets up the model and its data, and
    the shared loop (``trainables.loop.fit``) trains it; the train function every classifier had
    spelt out by hand is made here, so a new model is its set-up and nothing else."""
    def train(config: dict[str, Any], report: Any, checkpoint: dict[str, Any] | None = None) -> None:
        from trainables.loop.fit import fit_classifier

        fit_classifier(classifier(config), report, checkpoint)

    train.__doc__ = description
    train.__qualname__ = train.__name__ = f"train_{name}"
    train.__module__ = classifier.__module__
    register_trainable(name, config=config, metrics=CLASSIFIER_METRICS, description=description,  # type: ignore[arg-type]
                       classifier=classifier, fusable=fusable, fusion_blocker=fusion_blocker)(train)
    return train
