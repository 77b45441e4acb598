"""One epoch for a set of members trained as one stacked model.

A member enters with the plain loop's state (its freshly built model, or a checkpoint the plain
loop or an earlier stack saved) and leaves each epoch with its own metrics and a checkpoint in
that same format, so stopping, pausing, retrying or resuming a member never touches the others,
and a member can continue alone. The stack is rebuilt from the members every epoch (a copy of the
parameters, small next to an epoch of training), so members may join and leave between epochs
and may be at different epochs: each follows its own learning-rate schedule, data order and
early stopping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from trainables.fused.flat import FlatLayout
from trainables.fused.optim import STATE_KEYS, MemberHyperparameters, StackedOptimizer
from trainables.fused.stack import architecture, dropout_rates, stacked_forward
from trainables.loop.config import LoopConfig
from trainables.loop.fit import Classifier, EarlyStopping, Split, autocast_for, pick_device
from trainables.loop.schedules import lr_factor
from trainables.loop.state import epoch_seed

EVAL_CHUNK = 512  # validation rows per forward pass, as the plain loop's evaluation
FLAT = "flat"  # the optimizer's one tensor: every parameter of every member (``FlatLayout``)


@dataclass
class Member:
    """One trial inside a stack: its model, optimizer state and progress."""

    trial_id: str
    classifier: Classifier
    epoch: int = 0  # epochs finished
    optimizer_state: dict[str, Any] | None = None  # torch.optim's state_dict format
    stopping: EarlyStopping | None = None
    generator: torch.Generator = field(default_factory=torch.Generator)  # its dropout masks

    @classmethod
    def start(cls, trial_id: str, classifier: Classifier, checkpoint: dict[str, Any] | None = None) -> Member:
        """A member as the plain loop would start (or resume) it: same weights, same dropout stream."""
        settings = classifier.settings
        member = cls(trial_id, classifier, stopping=EarlyStopping(settings.patience, settings.patience_metric),
                     generator=torch.Generator().manual_seed(settings.seed))
        if checkpoint is not None:
            classifier.model.load_state_dict(checkpoint["model"])
            member.epoch = int(checkpoint["epoch"])
            member.optimizer_state = checkpoint["optimizer"]
            member.stopping = EarlyStopping(settings.patience, settings.patience_metric, checkpoint.get("early_stopping"))
        return member

    @property
    def settings(self) -> LoopConfig:
        return self.classifier.settings

    @property
    def finished(self) -> bool:
        return self.epoch >= self.settings.epochs

    def checkpoint(self) -> dict[str, Any]:
        assert self.stopping is not None
        return {"model": self.classifier.model.state_dict(), "optimizer": self.optimizer_state, "epoch": self.epoch,
                "early_stopping": self.stopping.state()}


def stack_key(member: Member) -> tuple[Any, ...] | str:
    """Members with equal keys can share a stack; a string says why this one cannot be fused."""
    shape = architecture(member.classifier.model)
    if isinstance(shape, str):
        return shape
    s = member.settings
    train = member.classifier.train
    return (type(s).__name__, shape, tuple(train.inputs.shape), s.batch_size, s.optimizer, s.nesterov, s.device)


def train_epoch(members: list[Member]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Train every member one epoch (its next one); (metrics, checkpoint) per member, in order."""
    keys = {repr(stack_key(m)) for m in members}
    if len(keys) != 1 or isinstance(stack_key(members[0]), str):
        raise ValueError(f"members cannot share a stack: {sorted(keys)}")
    first = members[0]
    _check_same_data(members)
    device = pick_device(first.settings.device)
    train, val = first.classifier.train.to(device), first.classifier.val.to(device)
    template = first.classifier.model
    layout = FlatLayout.of(template)
    names = list(layout.names)
    flat = layout.flatten([torch.stack([m.classifier.model.get_parameter(name).detach() for m in members])
                           for name in names]).to(device).requires_grad_()
    buffers = {name: torch.stack([m.classifier.model.get_buffer(name).detach() for m in members]).to(device)
               for name, _ in template.named_buffers()}  # BatchNorm's running statistics, per member
    kind = first.settings.optimizer
    optimizer = StackedOptimizer(
        kind, first.settings.nesterov, {FLAT: flat},
        MemberHyperparameters(_tensor([m.settings.weight_decay for m in members], device),
                              _tensor([m.settings.momentum for m in members], device)),
        {FLAT: _flat_buffers([_buffers(m, kind, names) for m in members], layout, kind, device)})
    epochs = [m.epoch + 1 for m in members]
    lrs = [m.settings.lr * lr_factor(e, m.settings.epochs, m.settings.schedule, m.settings.warmup_epochs,
                                      m.settings.step_size, m.settings.gamma) for m, e in zip(members, epochs, strict=True)]
    started = time.perf_counter()
    loss_sum, correct = _train_pass(members, template, layout, flat, buffers, optimizer, train, epochs,
                                    _tensor(lrs, device), device)
    train_time = time.perf_counter() - started
    params = layout.views(flat.detach())
    val_loss, val_accuracy = _evaluate(template, {**params, **buffers}, val, max(first.settings.batch_size, EVAL_CHUNK),
                                       device)
    epoch_time = time.perf_counter() - started
    optimizer_state = {key: layout.views(value) if key != "step" else value
                       for key, value in optimizer.state[FLAT].items()}
    outcomes = []
    for index, member in enumerate(members):
        for name in names:
            member.classifier.model.get_parameter(name).data.copy_(params[name][index].to("cpu"))
        for name, stacked in buffers.items():
            member.classifier.model.get_buffer(name).copy_(stacked[index].to("cpu"))
        member.optimizer_state = _optimizer_state(member, optimizer_state, names, index)
        member.epoch = epochs[index]
        metrics = {
            "epoch": member.epoch,
            "train_loss": float(loss_sum[index]) / len(train),
            "train_accuracy": int(correct[index]) / len(train),
            "val_loss": float(val_loss[index]),
            "val_accuracy": float(val_accuracy[index]),
            "lr": lrs[index],
            "epoch_time_s": epoch_time,
            "samples_per_s": len(train) / train_time if train_time > 0 else float("nan"),
            "data_time_s": member.classifier.data_time_s,
            "fused_members": len(members),
        }
        assert member.stopping is not None
        metrics["early_stopped"] = int(member.stopping.update(metrics))
        outcomes.append((metrics, member.checkpoint()))
    return outcomes


def _train_pass(members: list[Member], template: nn.Module, layout: FlatLayout, flat: torch.Tensor,
                buffers: dict[str, torch.Tensor], optimizer: StackedOptimizer, train: Split, epochs: list[int],
                lrs: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    batch_size = members[0].settings.batch_size
    orders = torch.stack([_order(m, e, len(train)) for m, e in zip(members, epochs, strict=True)]).to(device)
    smoothing = _tensor([m.settings.label_smoothing for m in members], device)
    clipped = any(m.settings.grad_clip for m in members)  # known before the epoch: no per-step check on the device
    clip = _tensor([m.settings.grad_clip or float("inf") for m in members], device)
    dropout = [dropout_rates(m.classifier.model) for m in members]
    for member, epoch in zip(members, epochs, strict=True):  # the plain loop reseeds its dropout stream each epoch
        member.generator.manual_seed(epoch_seed(member.settings.seed, epoch))
    # A model mapped whole draws its masks from vmap's randomness, i.e. torch's generator: seeded
    # per epoch too, so a resumed stack draws what an uninterrupted one would.
    torch.manual_seed(epoch_seed(members[0].settings.seed, epochs[0]))
    generators = [m.generator for m in members]
    loss_sum = torch.zeros(len(members), device=device)
    correct = torch.zeros(len(members), device=device, dtype=torch.long)
    template.train()  # BatchNorm: batch statistics, running statistics updated
    for start in range(0, len(train), batch_size):
        index = orders[:, start : start + batch_size]
        x, y = train.inputs[index], train.targets[index]
        with autocast_for(device):
            logits = stacked_forward(template, {**layout.views(flat), **buffers}, x, dropout, generators).float()
        losses = _member_losses(logits, y, smoothing)
        (grad,) = torch.autograd.grad(losses.sum(), [flat])
        optimizer.step({FLAT: _clip(grad, layout, clip) if clipped else grad}, lrs)
        loss_sum += losses.detach() * y.shape[1]
        correct += (logits.argmax(-1) == y).sum(1)
    return loss_sum.cpu(), correct.cpu()


def _member_losses(logits: torch.Tensor, targets: torch.Tensor, smoothing: torch.Tensor) -> torch.Tensor:
    """Each member's mean cross-entropy with its own label smoothing (``nn.CrossEntropyLoss``'s
    formula: (1 - e) * nll + e * mean over classes of -log p)."""
    log_p = torch.log_softmax(logits, dim=-1)
    nll = -log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1).mean(1)
    uniform = -log_p.mean(-1).mean(1)
    return (1 - smoothing) * nll + smoothing * uniform


def _clip(grad: torch.Tensor, layout: FlatLayout, max_norm: torch.Tensor) -> torch.Tensor:
    """``clip_grad_norm_`` per member: each member's global norm (the norm of its parameters'
    norms, as torch computes it) over its row of the flat gradient; no bound (inf) leaves it as it is."""
    norms = torch.stack([part.norm(dim=1) for part in grad.split(layout.sizes, dim=1)]).norm(dim=0)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    return grad * scale.unsqueeze(1)


@torch.no_grad()
def _evaluate(template: nn.Module, params: dict[str, torch.Tensor], split: Split, chunk: int,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    members = next(iter(params.values())).shape[0]
    template.eval()  # BatchNorm: running statistics
    loss_sum = torch.zeros(members, device=device)
    correct = torch.zeros(members, device=device, dtype=torch.long)
    for start in range(0, len(split), chunk):
        x, y = split.inputs[start : start + chunk], split.targets[start : start + chunk]
        with autocast_for(device):
            logits = stacked_forward(template, params, x.expand(members, *x.shape)).float()
        flat = logits.reshape(-1, logits.shape[-1])
        loss_sum += nn.functional.cross_entropy(flat, y.repeat(members), reduction="none").reshape(members, -1).sum(1)
        correct += (logits.argmax(-1) == y).sum(1)
    return (loss_sum / len(split)).cpu(), (correct.double() / len(split)).cpu()


def _order(member: Member, epoch: int, size: int) -> torch.Tensor:
    """The plain loop's batch order for this member and epoch."""
    generator = torch.Generator().manual_seed(epoch_seed(member.settings.seed, epoch))
    return torch.randperm(size, generator=generator)


def _buffers(member: Member, kind: str, names: list[str]) -> list[dict[str, torch.Tensor]]:
    """The member's optimizer buffers per parameter (fresh ones where it has none yet)."""
    saved = (member.optimizer_state or {}).get("state", {})
    found = []
    for index, name in enumerate(names):
        param = member.classifier.model.get_parameter(name).detach()
        buffers = StackedOptimizer.empty_state(kind, param)
        for key, value in saved.get(index, {}).items():
            if key in buffers and value is not None:
                buffers[key] = torch.as_tensor(value, dtype=torch.float32).detach().cpu().clone().reshape(buffers[key].shape)
        found.append(buffers)
    return found


def _flat_buffers(per_member: list[list[dict[str, torch.Tensor]]], layout: FlatLayout, kind: str,
                  device: torch.device) -> dict[str, torch.Tensor]:
    """Each optimizer buffer as ``(members, total)``, laid out as the parameters; ``step``, which
    torch.optim keeps per parameter but advances for all of a member's at once, as ``(members,)``."""
    found = {}
    for key in STATE_KEYS[kind]:
        if key == "step":
            found[key] = torch.stack([buffers[0][key] for buffers in per_member]).to(device)
        else:
            found[key] = layout.flatten([torch.stack([buffers[i][key] for buffers in per_member])
                                         for i in range(len(layout.names))]).to(device)
    return found


def _optimizer_state(member: Member, state_by_name: dict[str, Any], names: list[str], index: int) -> dict[str, Any]:
    """The member's slice as the state_dict of the plain loop's optimizer, less ``param_groups``
    (which ``restore_optimizer`` takes from the optimizer it loads into: making a torch.optim
    optimizer here would cost the first one's import of torch._dynamo, seconds, for nothing).
    ``state_by_name``: each buffer by parameter name (``step``: one per member)."""
    per_parameter: dict[int, dict[str, Any]] = {}
    momentum_used = member.settings.momentum > 0
    for position, name in enumerate(names):
        buffers = {key: (value if key == "step" else value[name])[index].detach().cpu().clone()
                   for key, value in state_by_name.items()}
        if "momentum_buffer" in buffers and not momentum_used:
            if member.settings.optimizer == "sgd":
                buffers["momentum_buffer"] = None  # type: ignore[assignment]
            else:
                del buffers["momentum_buffer"]
        per_parameter[position] = buffers
    return {"state": per_parameter, "param_groups": None}


def _check_same_data(members: list[Member]) -> None:
    first = members[0].classifier
    for member in members[1:]:
        other = member.classifier
        for a, b in ((first.train, other.train), (first.val, other.val)):
            if a.inputs is not b.inputs and not (torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)):
                raise ValueError(f"member {member.trial_id} trains on other data than {members[0].trial_id}")


def _tensor(values: list[float], device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device)
