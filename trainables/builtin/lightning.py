"""``lightning``: your ``LightningModule`` (and ``LightningDataModule``) tuned as they are.

``module`` and ``datamodule`` name classes or factory functions (``package.module:Name``) called
with the trial's whole config, so your own keys (``lr``, ``hidden``, ...) are fixed or searched
next to the Trainer's. tune-jobs builds the Trainer: every validation epoch's logged metrics are
one report, with Lightning's own checkpoint of that moment, so retries, resume, ASHA and PBT
restore through ``Trainer.fit(ckpt_path=...)``. After a restore the config's ``lr`` (when it has
one) is set on every optimizer: PBT's mutated value is the one in effect, not the checkpoint's.
Lightning's own TensorBoard logs go to the trial's folder of the job's ``tensorboard/``. Uses
``lightning.pytorch`` (Lightning 2.x), or ``pytorch_lightning`` when that is what your
module subclasses: never the two mixed.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainables.api import TRIAL_LOG_DIR, Report
from trainables.builtin.custom_model import load_function
from trainables.loop.config import ConfigError, parse_config
from trainables.registry import REFERENCE_PATTERN, register_trainable

CHECKPOINT_KEY = "lightning_checkpoint"


def lightning_installed() -> bool:
    return any(importlib.util.find_spec(name) is not None for name in ("lightning", "pytorch_lightning"))


class LightningConfig(BaseModel):
    model_config = ConfigDict(extra="allow")  # the user's own keys, passed to the module and datamodule

    module: str = Field("", pattern=REFERENCE_PATTERN,
                        description="the LightningModule: package.module:Class (or a factory function)")
    datamodule: str | None = Field(None, pattern=REFERENCE_PATTERN, description="the LightningDataModule, likewise")
    epochs: int = Field(10, ge=1, description="Trainer max_epochs")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: the GPU when the trial has one")
    precision: str | None = Field(None, description="Trainer precision, e.g. bf16-mixed, 16-mixed, 32-true")
    gradient_clip_val: float | None = Field(None, gt=0)
    accumulate_grad_batches: int = Field(1, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _module_given_and_lightning_installed(self) -> LightningConfig:
        if not self.module:
            raise ValueError("module is required: the LightningModule as 'package.module:Class'")
        if not lightning_installed():
            raise ValueError("the lightning trainable needs Lightning: pip install 'tune-jobs[lightning]'")
        return self


def _lightning_for(module: Any) -> Any:
    """The package the user's module subclasses; Lightning rejects a module of the other one."""
    if any(base.__module__.split(".")[0] == "pytorch_lightning" for base in type(module).__mro__):
        import pytorch_lightning

        return pytorch_lightning
    import lightning.pytorch

    return lightning.pytorch


def _reporter(pl: Any, report: Report, folder: Path, lr: float | None) -> Any:
    class ReportEachValidation(pl.Callback):  # type: ignore[misc]
        def on_train_start(self, trainer: Any, module: Any) -> None:
            if lr is not None:  # after optimizer states were restored from a checkpoint
                for optimizer in trainer.optimizers:
                    for group in optimizer.param_groups:
                        group["lr"] = lr

        def on_validation_end(self, trainer: Any, module: Any) -> None:
            if trainer.sanity_checking:
                return
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 1)() == 1}
            metrics["epoch"] = trainer.current_epoch + 1
            path = folder / "last.ckpt"
            trainer.save_checkpoint(path)  # Lightning's own: module, optimizers, schedulers, loops
            report(metrics, checkpoint={CHECKPOINT_KEY: path.read_bytes()})

    return ReportEachValidation()


def _tensorboard_logger(pl: Any) -> Any:
    """Lightning's own TensorBoard logs in the trial's folder of the job's ``tensorboard/`` (next to
    the event files tune-jobs writes there); none when the job keeps no TensorBoard files."""
    folder = os.environ.get(TRIAL_LOG_DIR)
    if not folder:
        return False
    return pl.loggers.TensorBoardLogger(save_dir=folder, name="", version="lightning", default_hp_metric=False)


@register_trainable("lightning", config=LightningConfig, metrics={},  # type: ignore[arg-type]
                    description="your LightningModule and LightningDataModule; metrics: what validation logs")
def train(config: dict[str, Any], report: Report, checkpoint: dict[str, Any] | None = None) -> None:
    import torch

    settings = parse_config(LightningConfig, config)
    everything = settings.model_dump()
    torch.manual_seed(settings.seed)
    module = load_function(settings.module, "module")(everything)
    pl = _lightning_for(module)
    if not isinstance(module, pl.LightningModule):
        raise ConfigError(f"config.module: {settings.module} must give a LightningModule, got {type(module).__name__}")
    datamodule = load_function(settings.datamodule, "datamodule")(everything) if settings.datamodule else None
    pl.seed_everything(settings.seed, workers=True, verbose=False)
    use_gpu = settings.device == "cuda" or (settings.device == "auto" and torch.cuda.is_available())
    with tempfile.TemporaryDirectory(prefix="tune-jobs-lightning-") as temp:
        folder = Path(temp)
        trainer = pl.Trainer(
            max_epochs=settings.epochs, accelerator="gpu" if use_gpu else "cpu", devices=1,
            precision=settings.precision, gradient_clip_val=settings.gradient_clip_val,
            accumulate_grad_batches=settings.accumulate_grad_batches,
            callbacks=[_reporter(pl, report, folder, everything.get("lr"))],
            logger=_tensorboard_logger(pl), enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, default_root_dir=temp,
        )
        restore = None
        if checkpoint is not None and CHECKPOINT_KEY in checkpoint:
            restore = folder / "restore.ckpt"
            restore.write_bytes(checkpoint[CHECKPOINT_KEY])
        trainer.fit(module, datamodule=datamodule, ckpt_path=restore)
