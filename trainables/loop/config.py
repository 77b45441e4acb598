"""The knobs of the shared training loop, as one pydantic model every built-in trainable extends.

No torch import here: the job spec checks these before anything starts.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Optimizer = Literal["sgd", "adam", "adamw", "rmsprop"]
Schedule = Literal["constant", "step", "exponential", "cosine"]


class LoopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lr: float = Field(1e-2, gt=0)
    batch_size: int = Field(64, ge=1)
    epochs: int = Field(10, ge=1)
    optimizer: Optimizer = "adam"
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd and rmsprop")
    nesterov: bool = Field(False, description="sgd with momentum > 0")
    weight_decay: float = Field(0.0, ge=0)
    schedule: Schedule = "constant"
    step_size: int = Field(10, ge=1, description="step: epochs between decays")
    gamma: float = Field(0.1, gt=0, le=1, description="step/exponential: decay factor")
    warmup_epochs: int = Field(0, ge=0, description="linear warmup before the schedule")
    grad_clip: float | None = Field(None, gt=0, description="max global gradient norm")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    patience: int | None = Field(None, ge=1, description="stop after this many epochs without improvement")
    patience_metric: Literal["val_loss", "val_accuracy"] = "val_loss"
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when visible (bf16 autocast)")
    seed: int = 0
    cv_folds: int | None = Field(None, ge=2, le=20, description="k-fold cross-validation inside each trial over the "
                                 "pooled train and validation rows: k times the compute; the mean is the metric")
    dynamics: bool = Field(False, description="per-epoch gradient/weight norms, update ratios and activation statistics "
                           "(trainables.loop.dynamics)")
    dynamics_histograms: bool = Field(False, description="with dynamics: TensorBoard histograms of weights, gradients "
                                      "and activations per measured epoch (tensorboard/<trial>/dynamics)")
    share_data: bool = Field(True, description="load the data once and share it between trials (Ray object store)")

    @model_validator(mode="after")
    def _consistent(self) -> LoopConfig:
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be less than epochs ({self.epochs})")
        if self.dynamics_histograms and not self.dynamics:
            raise ValueError("dynamics_histograms: needs dynamics: true")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError(f"nesterov needs optimizer sgd with momentum > 0, got {self.optimizer} "
                             f"with momentum {self.momentum:g}")
        return self


ConfigT = TypeVar("ConfigT", bound=BaseModel)


class ConfigError(ValueError):
    """A trial's config is invalid; the message is one line, naming the key."""


def parse_config(model: type[ConfigT], config: dict) -> ConfigT:
    """``model(**config)``, with pydantic's multi-line report turned into one line."""
    try:
        return model.model_validate(config)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"config.{where}: {message}" if first["loc"] else rule_error(model, message)) from None


def rule_error(model: type[BaseModel], message: str) -> str:
    """A rule across keys, as the one line a user sees: ``config.data: ...`` when the message
    starts with the key it is about (``data: must be ...``), else ``config: ...``."""
    key, separator, rest = message.partition(": ")
    return f"config.{key}: {rest}" if separator and key in model.model_fields else f"config: {message}"
