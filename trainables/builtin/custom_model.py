"""``custom_model``: your own model and data on the shared loop and its knobs.

``model_factory`` and ``data_factory`` name functions (``package.module:function``, imported from
the working directory). Both receive the trial's whole config, so your own keys (``width``, ...)
can be fixed or searched next to the loop's. ``data_factory(config)`` returns
``(train_inputs, train_targets, val_inputs, val_targets)`` tensors (targets: class indices);
``model_factory(config)`` returns an ``nn.Module`` mapping a batch of inputs to class logits.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import ConfigDict, Field

from trainables.loop.config import ConfigError, LoopConfig, parse_config
from trainables.loop.register import register_classifier
from trainables.registry import REFERENCE_PATTERN, import_function


class CustomModelConfig(LoopConfig):
    model_config = ConfigDict(extra="allow")  # the user's own keys, passed to the factories

    model_factory: str = Field("examples.custom_model:build_model", pattern=REFERENCE_PATTERN)
    data_factory: str = Field("examples.custom_model:load_data", pattern=REFERENCE_PATTERN)


def load_function(reference: str, key: str) -> Any:
    try:
        return import_function(reference)
    except ValueError as error:
        raise ConfigError(f"config.{key}: {error}") from None


def classifier(config: dict[str, Any]) -> Any:
    import torch

    from trainables.loop.fit import Classifier, Split

    settings = parse_config(CustomModelConfig, config)
    everything = settings.model_dump()
    started = time.perf_counter()
    data = load_function(settings.data_factory, "data_factory")(everything)  # the user's own: not shared
    if not (isinstance(data, (tuple, list)) and len(data) == 4):
        raise ConfigError("config.data_factory: must return (train_inputs, train_targets, val_inputs, val_targets)")
    tensors = [torch.as_tensor(part) for part in data]
    torch.manual_seed(settings.seed)
    model = load_function(settings.model_factory, "model_factory")(everything)
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"config.model_factory: must return a torch.nn.Module, got {type(model).__name__}")
    return Classifier(model, Split(tensors[0], tensors[1].long()), Split(tensors[2], tensors[3].long()), settings,
                      time.perf_counter() - started)


train = register_classifier(
    "custom_model", config=CustomModelConfig, classifier=classifier,
    description="Your model_factory and data_factory on the shared training loop and its knobs.")
